package scoring

import (
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/internal/pyjson"
)

// MetaOutput is schema metadata a predictor may set on its output batch to
// say what the model returned, which fixes the response shape regardless of
// the request form: "list" (an ndarray or a list: {"predictions": [...]}),
// "records" (a DataFrame: a list of row objects), "dict" (a dict of
// arrays), "json" (one string cell holding the JSON text of any other
// value). Without it the request form decides, as it does for MLflow's
// ONNX wrapper: DataFrame in, records out; tensors in, a dict out.
const MetaOutput = "mlship.output"

// EncodePredictions appends {"predictions": ...} for out, formatted as
// MLflow's json.dumps formats it.
func EncodePredictions(dst []byte, out columnar.Batch, form Form) ([]byte, error) {
	dst = append(dst, `{"predictions": `...)
	dst, err := AppendPredictions(dst, out, form)
	if err != nil {
		return nil, err
	}
	return append(dst, '}'), nil
}

// AppendPredictions appends the bare predictions value.
func AppendPredictions(dst []byte, out columnar.Batch, form Form) ([]byte, error) {
	kind := "records"
	if form == FormTensor {
		kind = "dict"
	}
	if md := out.Schema().Metadata(); md.Len() > 0 {
		if v, ok := md.GetValue(MetaOutput); ok {
			kind = v
		}
	}
	views, err := viewsOf(out)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, v := range views {
			v.release()
		}
	}()
	switch kind {
	case "dict":
		dst = append(dst, '{')
		for i, v := range views {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = pyjson.AppendString(dst, v.name)
			dst = append(dst, ": "...)
			dst = v.appendWhole(dst)
		}
		return append(dst, '}'), nil
	case "list":
		if len(views) != 1 {
			return nil, fmt.Errorf("a list output must have one column, has %d", len(views))
		}
		return views[0].appendWhole(dst), nil
	case "records":
		return appendRecords(dst, views)
	case "json":
		// Already the JSON text MLflow's server would write (a flavor that
		// runs the model in Python produced it).
		if len(views) != 1 || views[0].values == nil || views[0].values.Len() != 1 {
			return nil, fmt.Errorf("a json output must be one value")
		}
		return appendValue(dst, views[0].values, 0, true), nil
	}
	return nil, fmt.Errorf("unknown output kind %q", kind)
}

// appendRecords writes the records a DataFrame built from the outputs
// would give (pandas.DataFrame.from_dict({name: output.reshape(-1)})).
// When the flattened outputs differ in length, MLflow fails; mlship instead
// answers one record per row with each output's row as a nested list,
// provided all outputs are batched over the same rows.
func appendRecords(dst []byte, views []*view) ([]byte, error) {
	n := -1
	flat := true
	for _, v := range views {
		l := v.flatLen()
		if n >= 0 && l != n {
			flat = false
		}
		n = l
	}
	if !flat {
		n = -1
		for _, v := range views {
			if !v.batched || (n >= 0 && v.rows != n) {
				return nil, apierr.New(apierr.BadRequest, "Encountered an unexpected error while evaluating the model: the model's outputs %s have different lengths and cannot form a DataFrame (All arrays must be of the same length).", outputNames(views))
			}
			n = v.rows
		}
	}
	if n < 0 {
		n = 0
	}
	dst = append(dst, '[')
	for r := 0; r < n; r++ {
		if r > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, '{')
		for i, v := range views {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = pyjson.AppendString(dst, v.name)
			dst = append(dst, ": "...)
			if flat {
				dst = v.appendFlat(dst, r)
			} else {
				dst = v.appendRow(dst, r)
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, ']'), nil
}

func outputNames(views []*view) string {
	names := make([]string, len(views))
	for i, v := range views {
		names[i] = v.name
	}
	return pyList(names)
}

// view is one output column seen as a tensor (or a column of map / JSON
// cells).
type view struct {
	name    string
	batched bool
	rows    int     // rows of a batched column
	shape   []int64 // full tensor shape
	values  arrow.Array
	cells   arrow.Array // non-tensor column (maps, JSON texts, lists)
	json    bool
}

func (v *view) release() {
	if v.values != nil {
		v.values.Release()
	}
}

func viewsOf(b columnar.Batch) ([]*view, error) {
	out := make([]*view, 0, b.NumCols())
	for i, f := range b.Schema().Fields() {
		col := b.Column(i)
		v := &view{name: f.Name, batched: !columnar.IsUnbatched(f), rows: col.Len()}
		if f.HasMetadata() {
			if j, ok := f.Metadata.GetValue(MetaJSON); ok && j == "true" {
				v.json = true
			}
		}
		switch col.DataType().ID() {
		case arrow.MAP, arrow.LIST, arrow.LARGE_LIST, arrow.STRUCT:
			if col.DataType().ID() == arrow.LIST && f.HasMetadata() {
				if _, ok := f.Metadata.GetValue(columnar.MetaShape); ok {
					break // a zero-size tensor column
				}
			}
			v.cells = col
			out = append(out, v)
			continue
		}
		t, err := columnar.TensorOf(f, col)
		if err != nil {
			for _, o := range out {
				o.release()
			}
			return nil, err
		}
		v.shape, v.values = t.Shape, t.Values
		out = append(out, v)
	}
	return out, nil
}

func (v *view) flatLen() int {
	if v.cells != nil {
		return v.cells.Len()
	}
	return v.values.Len()
}

// appendWhole writes the column as ndarray.tolist() would: nested lists of
// the full shape.
func (v *view) appendWhole(dst []byte) []byte {
	if v.cells != nil {
		if !v.batched && v.cells.Len() == 1 {
			return v.appendCell(dst, v.cells, 0)
		}
		dst = append(dst, '[')
		for i := 0; i < v.cells.Len(); i++ {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = v.appendCell(dst, v.cells, i)
		}
		return append(dst, ']')
	}
	dst, _ = v.appendNested(dst, v.shape, 0)
	return dst
}

// appendRow writes row r of a batched column: its inner tensor.
func (v *view) appendRow(dst []byte, r int) []byte {
	if v.cells != nil {
		return v.appendCell(dst, v.cells, r)
	}
	inner := v.shape[1:]
	size := int(columnar.ShapeSize(inner))
	dst, _ = v.appendNested(dst, inner, r*size)
	return dst
}

// appendFlat writes element r of the flattened column.
func (v *view) appendFlat(dst []byte, r int) []byte {
	if v.cells != nil {
		return v.appendCell(dst, v.cells, r)
	}
	return v.appendCell(dst, v.values, r)
}

func (v *view) appendNested(dst []byte, shape []int64, at int) ([]byte, int) {
	if len(shape) == 0 {
		return v.appendCell(dst, v.values, at), at + 1
	}
	dst = append(dst, '[')
	for i := int64(0); i < shape[0]; i++ {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst, at = v.appendNested(dst, shape[1:], at)
	}
	return append(dst, ']'), at
}

func (v *view) appendCell(dst []byte, a arrow.Array, i int) []byte {
	return appendValue(dst, a, i, v.json)
}

// appendValue writes one Arrow value as Python's json.dumps writes the
// numpy/pandas value MLflow would hold.
func appendValue(dst []byte, a arrow.Array, i int, rawJSON bool) []byte {
	if a.IsNull(i) {
		switch a.DataType().ID() {
		case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
			return append(dst, "NaN"...) // pandas holds NaN, json.dumps writes NaN
		}
		return append(dst, "null"...)
	}
	switch x := a.(type) {
	case *array.Float32:
		return pyjson.AppendFloat(dst, float64(x.Value(i)))
	case *array.Float64:
		return pyjson.AppendFloat(dst, x.Value(i))
	case *array.Float16:
		return pyjson.AppendFloat(dst, float64(x.Value(i).Float32()))
	case *array.Int8:
		return strconv.AppendInt(dst, int64(x.Value(i)), 10)
	case *array.Int16:
		return strconv.AppendInt(dst, int64(x.Value(i)), 10)
	case *array.Int32:
		return strconv.AppendInt(dst, int64(x.Value(i)), 10)
	case *array.Int64:
		return strconv.AppendInt(dst, x.Value(i), 10)
	case *array.Uint8:
		return strconv.AppendUint(dst, uint64(x.Value(i)), 10)
	case *array.Uint16:
		return strconv.AppendUint(dst, uint64(x.Value(i)), 10)
	case *array.Uint32:
		return strconv.AppendUint(dst, uint64(x.Value(i)), 10)
	case *array.Uint64:
		return strconv.AppendUint(dst, x.Value(i), 10)
	case *array.Boolean:
		if x.Value(i) {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case *array.String:
		if rawJSON {
			return append(dst, x.Value(i)...)
		}
		return pyjson.AppendString(dst, x.Value(i))
	case *array.LargeString:
		return pyjson.AppendString(dst, x.Value(i))
	case *array.Binary:
		return pyjson.AppendString(dst, encodeBytes(x.Value(i)))
	case *array.Timestamp:
		unit := x.DataType().(*arrow.TimestampType).Unit
		t := x.Value(i).ToTime(unit)
		return pyjson.AppendString(dst, t.Format("2006-01-02T15:04:05.999999999"))
	case *array.Map:
		start, end := x.ValueOffsets(i)
		keys, items := x.Keys(), x.Items()
		dst = append(dst, '{')
		for j := start; j < end; j++ {
			if j > start {
				dst = append(dst, ", "...)
			}
			// json.dumps turns int keys into strings.
			switch k := keys.(type) {
			case *array.String:
				dst = pyjson.AppendString(dst, k.Value(int(j)))
			default:
				dst = append(dst, '"')
				dst = appendValue(dst, keys, int(j), false)
				dst = append(dst, '"')
			}
			dst = append(dst, ": "...)
			dst = appendValue(dst, items, int(j), false)
		}
		return append(dst, '}')
	case *array.List:
		start, end := x.ValueOffsets(i)
		dst = append(dst, '[')
		for j := start; j < end; j++ {
			if j > start {
				dst = append(dst, ", "...)
			}
			dst = appendValue(dst, x.ListValues(), int(j), false)
		}
		return append(dst, ']')
	case *array.FixedSizeList:
		n := int(x.DataType().(*arrow.FixedSizeListType).Len())
		dst = append(dst, '[')
		for j := 0; j < n; j++ {
			if j > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendValue(dst, x.ListValues(), (x.Offset()+i)*n+j, false)
		}
		return append(dst, ']')
	case *array.Struct:
		st := x.DataType().(*arrow.StructType)
		dst = append(dst, '{')
		for j, f := range st.Fields() {
			if j > 0 {
				dst = append(dst, ", "...)
			}
			dst = pyjson.AppendString(dst, f.Name)
			dst = append(dst, ": "...)
			dst = appendValue(dst, x.Field(j), i, false)
		}
		return append(dst, '}')
	}
	return pyjson.AppendString(dst, a.ValueStr(i))
}

// encodeBytes is Python's base64.encodebytes: lines of 76 characters, each
// ending in a newline. MLflow's JSON encoder uses it for bytes.
func encodeBytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	enc := base64.StdEncoding.EncodeToString(b)
	out := make([]byte, 0, len(enc)+len(enc)/76+1)
	for len(enc) > 76 {
		out = append(out, enc[:76]...)
		out = append(out, '\n')
		enc = enc[76:]
	}
	out = append(out, enc...)
	out = append(out, '\n')
	return string(out)
}
