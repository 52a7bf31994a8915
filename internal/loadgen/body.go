package loadgen

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/pyjson"
)

// Protocol is a request format.
type Protocol string

// The protocols a Sample can be sent in.
const (
	// MLflowJSON is MLflow's JSON on /invocations: {"inputs": ...} for
	// tensors, {"dataframe_split": ...} for columns.
	MLflowJSON Protocol = "mlflow"
	// CSV is text/csv on /invocations, as pandas' to_csv writes it.
	CSV Protocol = "csv"
	// V2 is the Open Inference Protocol's JSON on /v2/models/{name}/infer.
	V2 Protocol = "v2"
	// Arrow is an Arrow IPC stream on /invocations.
	Arrow Protocol = "arrow"
)

// ArrowStreamType is the media type of Arrow IPC stream bodies.
const ArrowStreamType = "application/vnd.apache.arrow.stream"

// ParseProtocol checks a protocol name.
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(strings.ToLower(s)); p {
	case MLflowJSON, CSV, V2, Arrow:
		return p, nil
	}
	return "", fmt.Errorf("unknown protocol %q: want mlflow, csv, v2 or arrow", s)
}

// Path is the URL path requests of protocol p go to; model names the
// model in V2 URLs.
func (p Protocol) Path(model string) string {
	if p == V2 {
		return "/v2/models/" + model + "/infer"
	}
	return "/invocations"
}

// Body encodes the sample in protocol p and returns it with its
// Content-Type.
func (s *Sample) Body(p Protocol) (contentType string, body []byte, err error) {
	switch p {
	case MLflowJSON:
		return "application/json", s.mlflowJSON(), nil
	case CSV:
		b, err := s.csv()
		return "text/csv", b, err
	case V2:
		return "application/json", s.v2JSON(), nil
	case Arrow:
		b, err := s.arrowStream()
		return ArrowStreamType, b, err
	}
	return "", nil, fmt.Errorf("unknown protocol %q", p)
}

// appendNum writes one value as JSON, float32 inputs with float32's
// shortest spelling so the server parses back the same bits.
func (in *Input) appendNum(b []byte, k int) []byte {
	if in.isString() {
		return pyjson.AppendString(b, in.Str[k])
	}
	v := in.Num[k]
	switch {
	case in.DType == "bool":
		return strconv.AppendBool(b, v != 0)
	case in.DType == "float32":
		return strconv.AppendFloat(b, v, 'g', -1, 32)
	case in.DType == "float64":
		if math.Trunc(v) == v && math.Abs(v) < 1e15 {
			return strconv.AppendFloat(b, v, 'f', 1, 64) // keep a float a float: 1.0, not 1
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return strconv.AppendInt(b, int64(v), 10)
}

// appendNested writes values [at, at+size(shape)) as nested JSON arrays.
func (in *Input) appendNested(b []byte, shape []int64, at int) ([]byte, int) {
	if len(shape) == 0 {
		return in.appendNum(b, at), at + 1
	}
	b = append(b, '[')
	for i := int64(0); i < shape[0]; i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		b, at = in.appendNested(b, shape[1:], at)
	}
	return append(b, ']'), at
}

// appendRows writes every row of in as one JSON array of rows.
func (s *Sample) appendRows(b []byte, in *Input) []byte {
	b = append(b, '[')
	at := 0
	for r := 0; r < s.Rows; r++ {
		if r > 0 {
			b = append(b, ", "...)
		}
		b, at = in.appendNested(b, in.Cell, at)
	}
	return append(b, ']')
}

func (s *Sample) mlflowJSON() []byte {
	var b []byte
	switch {
	case s.Tensor && !s.Named && len(s.Inputs) == 1:
		b = append(b, `{"inputs": `...)
		b = s.appendRows(b, &s.Inputs[0])
	case s.Tensor:
		b = append(b, `{"inputs": {`...)
		for i := range s.Inputs {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = pyjson.AppendString(b, s.v2Name(i))
			b = append(b, ": "...)
			b = s.appendRows(b, &s.Inputs[i])
		}
		b = append(b, '}')
	default:
		b = append(b, `{"dataframe_split": {`...)
		if s.Named {
			b = append(b, `"columns": [`...)
			for i, in := range s.Inputs {
				if i > 0 {
					b = append(b, ", "...)
				}
				b = pyjson.AppendString(b, in.Name)
			}
			b = append(b, "], "...)
		}
		b = append(b, `"data": [`...)
		for r := 0; r < s.Rows; r++ {
			if r > 0 {
				b = append(b, ", "...)
			}
			b = append(b, '[')
			for i := range s.Inputs {
				if i > 0 {
					b = append(b, ", "...)
				}
				b = s.Inputs[i].appendNum(b, r)
			}
			b = append(b, ']')
		}
		b = append(b, "]}"...)
	}
	return append(b, '}')
}

// csv writes a header row and one line per row, as DataFrame.to_csv does
// without the index. A CSV cell holds one value, so tensor inputs fit only
// when each row of them is one number, or when a single unnamed tensor's
// row is spread over columns (DataFrame.to_numpy() stacks them back).
func (s *Sample) csv() ([]byte, error) {
	type col struct {
		in  *Input
		off int // position within the row's cell
	}
	var header []string
	var cols []col
	for i := range s.Inputs {
		in := &s.Inputs[i]
		size := in.cellSize()
		switch {
		case size == 1:
			name := in.Name
			if !s.Named {
				name = strconv.Itoa(i)
			}
			header, cols = append(header, name), append(cols, col{in, 0})
		case s.Tensor && !s.Named && len(s.Inputs) == 1 && len(in.Cell) == 1:
			for k := 0; k < size; k++ {
				header, cols = append(header, strconv.Itoa(k)), append(cols, col{in, k})
			}
		default:
			return nil, fmt.Errorf("text/csv cannot carry input %q of shape %v: a CSV cell holds one value, and MLflow reads CSV into a DataFrame of scalars; use --protocol mlflow, v2 or arrow", in.Name, append([]int64{-1}, in.Cell...))
		}
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(header)
	rec := make([]string, len(cols))
	for r := 0; r < s.Rows; r++ {
		for j, c := range cols {
			k := r*c.in.cellSize() + c.off
			switch {
			case c.in.isString():
				rec[j] = c.in.Str[k]
			case c.in.DType == "bool":
				rec[j] = map[bool]string{false: "False", true: "True"}[c.in.Num[k] != 0] // pandas' spelling
			default:
				rec[j] = string(c.in.appendNum(nil, k))
			}
		}
		_ = w.Write(rec)
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// v2Name is input i's name in the Open Inference Protocol, where every
// tensor has one: unnamed inputs get pandas' default names, as mlship's V2
// metadata gives them.
func (s *Sample) v2Name(i int) string {
	if s.Inputs[i].Name != "" {
		return s.Inputs[i].Name
	}
	return "input-" + strconv.Itoa(i)
}

// v2Datatype maps a numpy dtype to the protocol's datatype names.
var v2Datatype = map[string]string{
	"bool": "BOOL", "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
	"uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
	"float32": "FP32", "float64": "FP64", "str": "BYTES",
}

func (s *Sample) v2JSON() []byte {
	b := []byte(`{"inputs": [`)
	for i := range s.Inputs {
		in := &s.Inputs[i]
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"name": `...)
		b = pyjson.AppendString(b, s.v2Name(i))
		b = append(b, `, "datatype": "`...)
		b = append(b, v2Datatype[in.DType]...)
		b = append(b, `", "shape": [`...)
		b = strconv.AppendInt(b, int64(s.Rows), 10)
		for _, d := range in.Cell {
			b = append(b, ", "...)
			b = strconv.AppendInt(b, d, 10)
		}
		b = append(b, `], "data": [`...)
		for k, n := 0, s.Rows*in.cellSize(); k < n; k++ {
			if k > 0 {
				b = append(b, ", "...)
			}
			b = in.appendNum(b, k)
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}"...)
}

// arrowType is the Arrow type of a numpy dtype.
var arrowType = map[string]arrow.DataType{
	"bool": arrow.FixedWidthTypes.Boolean,
	"int8": arrow.PrimitiveTypes.Int8, "int16": arrow.PrimitiveTypes.Int16,
	"int32": arrow.PrimitiveTypes.Int32, "int64": arrow.PrimitiveTypes.Int64,
	"uint8": arrow.PrimitiveTypes.Uint8, "uint16": arrow.PrimitiveTypes.Uint16,
	"uint32": arrow.PrimitiveTypes.Uint32, "uint64": arrow.PrimitiveTypes.Uint64,
	"float32": arrow.PrimitiveTypes.Float32, "float64": arrow.PrimitiveTypes.Float64,
	"str": arrow.BinaryTypes.String,
}

// arrowStream writes the sample as one record batch in an Arrow IPC
// stream: a column per input, tensor rows as fixed-size lists (mlship's
// tensor columns).
func (s *Sample) arrowStream() ([]byte, error) {
	mem := memory.DefaultAllocator
	fields := make([]arrow.Field, len(s.Inputs))
	cols := make([]arrow.Array, len(s.Inputs))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range s.Inputs {
		in := &s.Inputs[i]
		bld := array.NewBuilder(mem, arrowType[in.DType])
		for k, n := 0, s.Rows*in.cellSize(); k < n; k++ {
			switch b := bld.(type) {
			case *array.StringBuilder:
				b.Append(in.Str[k])
			case *array.BooleanBuilder:
				b.Append(in.Num[k] != 0)
			case *array.Float32Builder:
				b.Append(float32(in.Num[k]))
			case *array.Float64Builder:
				b.Append(in.Num[k])
			default:
				// Integer builders all take text the same way.
				if err := bld.AppendValueFromString(strconv.FormatInt(int64(in.Num[k]), 10)); err != nil {
					bld.Release()
					return nil, fmt.Errorf("input %q: %w", in.Name, err)
				}
			}
		}
		vals := bld.NewArray()
		bld.Release()
		name := in.Name
		if name == "" {
			name = strconv.Itoa(i) // unnamed inputs bind by position
		}
		shape := append([]int64{int64(s.Rows)}, in.Cell...)
		f, col, err := columnar.NewTensorColumn(name, shape, vals, true)
		vals.Release()
		if err != nil {
			return nil, err
		}
		fields[i], cols[i] = f, col
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(s.Rows))
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem))
	if err := w.Write(rec); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
