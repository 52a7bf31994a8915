package v2

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/pyjson"
)

// Response describes an inference response's envelope.
type Response struct {
	ModelName    string
	ModelVersion string // omitted when empty
	ID           string // echoed from the request
}

// Encode writes the response for out: the JSON header and, when any output
// is sent as binary data, the bytes that follow it (the caller sets
// Inference-Header-Content-Length to len(header)). bin is nil exactly when
// no output is binary; it may be empty but non-nil when the binary outputs
// have no elements. Outputs are flat arrays in row-major order. Requested
// outputs that the model does not produce are an error; without "outputs"
// every output is returned.
func Encode(out columnar.Batch, req *Request, resp Response) (header, bin []byte, err error) {
	type sel struct {
		idx    int
		binary bool
	}
	schema := out.Schema()
	var picks []sel
	if req.Outputs == nil {
		for i := range schema.Fields() {
			picks = append(picks, sel{i, req.BinaryOutput})
		}
	} else {
		for _, o := range req.Outputs {
			idx := schema.FieldIndices(o.Name)
			if len(idx) == 0 {
				return nil, nil, badRequest("unexpected inference output '%s' for model '%s'", o.Name, resp.ModelName)
			}
			b := req.BinaryOutput
			if o.Binary != nil {
				b = *o.Binary
			}
			picks = append(picks, sel{idx[0], b})
		}
	}
	h := make([]byte, 0, 256)
	h = append(h, `{"model_name":`...)
	h = pyjson.AppendString(h, resp.ModelName)
	if resp.ModelVersion != "" {
		h = append(h, `,"model_version":`...)
		h = pyjson.AppendString(h, resp.ModelVersion)
	}
	if resp.ID != "" {
		h = append(h, `,"id":`...)
		h = pyjson.AppendString(h, resp.ID)
	}
	h = append(h, `,"outputs":[`...)
	for n, p := range picks {
		if n > 0 {
			h = append(h, ',')
		}
		f, col := schema.Field(p.idx), out.Column(p.idx)
		dt, shape, vals, release, err := outputTensor(f, col)
		if err != nil {
			return nil, nil, &Error{Status: 500, Message: "output '" + f.Name + "': " + err.Error()}
		}
		if vals.NullN() > 0 && dt != BYTES && !isFloat(vals) {
			// Missing floats are NaN and missing strings are null in JSON
			// (and empty in binary), but an integer or boolean tensor has
			// no way to say "missing": JSON null there breaks clients
			// (numpy cannot make an int array of it), and binary data
			// would carry whatever the slot holds.
			release()
			return nil, nil, &Error{Status: 500, Message: "output '" + f.Name + "': the model returned missing values, which a " + string(dt) + " tensor cannot carry"}
		}
		h = append(h, `{"name":`...)
		h = pyjson.AppendString(h, f.Name)
		h = append(h, `,"datatype":"`...)
		h = append(h, dt...)
		h = append(h, `","shape":[`...)
		for i, d := range shape {
			if i > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, d, 10)
		}
		h = append(h, ']')
		if p.binary {
			if bin == nil {
				// Non-nil even when every binary output is empty (a batch of
				// zero rows), so the caller still sends the header that
				// tells clients where the (empty) binary part starts.
				bin = []byte{}
			}
			before := len(bin)
			bin = appendBinary(bin, dt, vals)
			h = append(h, `,"parameters":{"binary_data_size":`...)
			h = strconv.AppendInt(h, int64(len(bin)-before), 10)
			h = append(h, '}')
		} else {
			h = append(h, `,"data":[`...)
			h = appendJSONData(h, vals)
			h = append(h, ']')
		}
		h = append(h, '}')
		release()
	}
	h = append(h, "]}"...)
	return h, bin, nil
}

// outputTensor views an output column as a V2 tensor. Columns that are not
// tensors (maps such as sklearn-onnx's ZipMap probabilities, JSON values)
// become BYTES tensors of one JSON text per row.
func outputTensor(f arrow.Field, col arrow.Array) (Datatype, []int64, arrow.Array, func(), error) {
	switch col.DataType().ID() {
	case arrow.MAP, arrow.STRUCT, arrow.LIST, arrow.LARGE_LIST:
		if _, isShape := f.Metadata.GetValue(columnar.MetaShape); !isShape {
			// A builder needs an allocator: with nil it panicked on the
			// first append, so every model with a ZipMap output answered 500.
			b := array.NewStringBuilder(memory.DefaultAllocator)
			defer b.Release()
			var text []byte
			for i := 0; i < col.Len(); i++ {
				text = appendJSONValue(text[:0], col, i)
				b.BinaryBuilder.Append(text)
			}
			vals := b.NewArray()
			shape := []int64{int64(col.Len())}
			if columnar.IsUnbatched(f) {
				shape = []int64{}
			}
			return BYTES, shape, vals, vals.Release, nil
		}
	}
	t, err := columnar.TensorOf(f, col)
	if err != nil {
		return "", nil, nil, nil, err
	}
	dt, ok := FromArrow(t.Values.DataType())
	if !ok {
		t.Values.Release()
		return "", nil, nil, nil, errorf("type %s has no V2 datatype", t.Values.DataType())
	}
	return dt, t.Shape, t.Values, t.Values.Release, nil
}

func errorf(format string, args ...any) error { return badRequest(format, args...) }

// appendJSONData writes the values flat, as JSON.
func appendJSONData(h []byte, vals arrow.Array) []byte {
	for i := 0; i < vals.Len(); i++ {
		if i > 0 {
			h = append(h, ',')
		}
		if vals.IsNull(i) {
			if isFloat(vals) {
				h = append(h, "NaN"...) // a missing float is NaN, as in pandas
			} else {
				h = append(h, "null"...)
			}
			continue
		}
		switch a := vals.(type) {
		case *array.Float32:
			h = appendFloat(h, float64(a.Value(i)), 32)
		case *array.Float64:
			h = appendFloat(h, a.Value(i), 64)
		case *array.Float16:
			h = appendFloat(h, float64(a.Value(i).Float32()), 32)
		case *array.Int8:
			h = strconv.AppendInt(h, int64(a.Value(i)), 10)
		case *array.Int16:
			h = strconv.AppendInt(h, int64(a.Value(i)), 10)
		case *array.Int32:
			h = strconv.AppendInt(h, int64(a.Value(i)), 10)
		case *array.Int64:
			h = strconv.AppendInt(h, a.Value(i), 10)
		case *array.Uint8:
			h = strconv.AppendUint(h, uint64(a.Value(i)), 10)
		case *array.Uint16:
			h = strconv.AppendUint(h, uint64(a.Value(i)), 10)
		case *array.Uint32:
			h = strconv.AppendUint(h, uint64(a.Value(i)), 10)
		case *array.Uint64:
			h = strconv.AppendUint(h, a.Value(i), 10)
		case *array.Boolean:
			h = strconv.AppendBool(h, a.Value(i))
		case *array.String:
			h = pyjson.AppendString(h, a.Value(i))
		case *array.LargeString:
			h = pyjson.AppendString(h, a.Value(i))
		case *array.Binary:
			h = pyjson.AppendString(h, string(a.Value(i)))
		case *array.LargeBinary:
			h = pyjson.AppendString(h, string(a.Value(i)))
		default:
			h = pyjson.AppendString(h, vals.ValueStr(i))
		}
	}
	return h
}

// appendJSONValue writes one value of any Arrow type as JSON text, the way
// json.dumps writes what MLflow's pyfunc returns: maps as objects (keys as
// strings, as json.dumps turns int keys), lists as arrays, structs as
// objects, NaN and infinities as Python spells them. (encoding/json on
// Arrow's GetOneForMarshal gave maps as lists of {"key", "value"} pairs
// and an empty text for any NaN, which it refuses.)
func appendJSONValue(h []byte, a arrow.Array, i int) []byte {
	if a.IsNull(i) {
		return append(h, "null"...)
	}
	switch x := a.(type) {
	case *array.Map:
		start, end := x.ValueOffsets(i)
		keys, items := x.Keys(), x.Items()
		h = append(h, '{')
		for j := int(start); j < int(end); j++ {
			if j > int(start) {
				h = append(h, ',')
			}
			switch k := keys.(type) {
			case *array.String:
				h = pyjson.AppendString(h, k.Value(j))
			default:
				h = pyjson.AppendString(h, string(appendJSONValue(nil, keys, j)))
			}
			h = append(h, ':')
			h = appendJSONValue(h, items, j)
		}
		return append(h, '}')
	case array.ListLike:
		start, end := x.ValueOffsets(i)
		h = append(h, '[')
		for j := start; j < end; j++ {
			if j > start {
				h = append(h, ',')
			}
			h = appendJSONValue(h, x.ListValues(), int(j))
		}
		return append(h, ']')
	case *array.Struct:
		st := x.DataType().(*arrow.StructType)
		h = append(h, '{')
		for j, f := range st.Fields() {
			if j > 0 {
				h = append(h, ',')
			}
			h = pyjson.AppendString(h, f.Name)
			h = append(h, ':')
			h = appendJSONValue(h, x.Field(j), i)
		}
		return append(h, '}')
	}
	s := array.NewSlice(a, int64(i), int64(i+1))
	defer s.Release()
	return appendJSONData(h, s)
}

// appendFloat writes the shortest text that reads back as the same value
// at the tensor's precision; NaN and infinities as Python's json spells
// them (what Python V2 clients parse).
func appendFloat(h []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(h, "NaN"...)
	case math.IsInf(f, 1):
		return append(h, "Infinity"...)
	case math.IsInf(f, -1):
		return append(h, "-Infinity"...)
	}
	return strconv.AppendFloat(h, f, 'g', -1, bits)
}

// appendBinary writes values in the binary extension's encoding.
func appendBinary(bin []byte, dt Datatype, vals arrow.Array) []byte {
	switch a := vals.(type) {
	case *array.Boolean:
		for i := 0; i < a.Len(); i++ {
			if a.Value(i) {
				bin = append(bin, 1)
			} else {
				bin = append(bin, 0)
			}
		}
		return bin
	case *array.String:
		for i := 0; i < a.Len(); i++ {
			bin = appendElement(bin, a.Value(i))
		}
		return bin
	case *array.LargeString:
		for i := 0; i < a.Len(); i++ {
			bin = appendElement(bin, a.Value(i))
		}
		return bin
	case *array.Binary:
		for i := 0; i < a.Len(); i++ {
			bin = appendElement(bin, a.Value(i))
		}
		return bin
	case *array.LargeBinary:
		// FromArrow names large strings and binaries BYTES too; without
		// their own cases they fell through to the fixed-width copy, which
		// has no element size for BYTES and sent zero bytes for them.
		for i := 0; i < a.Len(); i++ {
			bin = appendElement(bin, a.Value(i))
		}
		return bin
	}
	if vals.NullN() > 0 {
		// The value slot of a missing float is undefined (often 0): send
		// NaN, which is what the JSON encoding says for it.
		le := binary.LittleEndian
		for i := 0; i < vals.Len(); i++ {
			switch a := vals.(type) {
			case *array.Float16:
				v := a.Value(i).Uint16()
				if a.IsNull(i) {
					v = 0x7e00
				}
				bin = le.AppendUint16(bin, v)
			case *array.Float32:
				v := a.Value(i)
				if a.IsNull(i) {
					v = float32(math.NaN())
				}
				bin = le.AppendUint32(bin, math.Float32bits(v))
			case *array.Float64:
				v := a.Value(i)
				if a.IsNull(i) {
					v = math.NaN()
				}
				bin = le.AppendUint64(bin, math.Float64bits(v))
			}
		}
		return bin
	}
	size := dt.Size()
	data := vals.Data()
	raw := data.Buffers()[1].Bytes()
	start := data.Offset() * size
	return append(bin, raw[start:start+vals.Len()*size]...)
}

func isFloat(a arrow.Array) bool {
	switch a.DataType().ID() {
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

// appendElement writes one BYTES element: a 4-byte little-endian length,
// then the bytes.
func appendElement[T string | []byte](bin []byte, v T) []byte {
	bin = binary.LittleEndian.AppendUint32(bin, uint32(len(v)))
	return append(bin, v...)
}
