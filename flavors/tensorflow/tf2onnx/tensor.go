package tf2onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/mlship/mlship/internal/onnxpb"
	"github.com/mlship/mlship/internal/tfpb"
)

// Tensor is a constant value: a variable's saved value or a Const node's.
// Data holds the elements in little-endian row-major order; string
// tensors use Strings instead.
type Tensor struct {
	DType   tfpb.DataType
	Shape   []int64
	Data    []byte
	Strings [][]byte
}

// maxConstElements bounds a constant's element count, and maxFillBytes
// what a constant given in TensorFlow's compact form (fewer values than
// elements, the last repeated) may expand to: graphs keep large
// constants in tensor_content, so these only stop malformed files.
const (
	maxConstElements = 1 << 34
	maxFillBytes     = 1 << 26
	// maxTotalFillBytes bounds what all of one conversion's compact
	// constants expand to: each node is small in the file, so without it a
	// few hundred bytes of graph could ask for gigabytes.
	maxTotalFillBytes = 1 << 28
)

// numElements is the product of the dimensions (1 for a scalar).
func numElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// dtypeInfo maps a TensorFlow element type to ONNX's and gives its size in
// bytes (0 for strings).
type dtypeInfo struct {
	onnx onnxpb.TensorProto_DataType
	size int
}

var dtypes = map[tfpb.DataType]dtypeInfo{
	tfpb.DataType_DT_FLOAT:    {onnxpb.TensorProto_FLOAT, 4},
	tfpb.DataType_DT_DOUBLE:   {onnxpb.TensorProto_DOUBLE, 8},
	tfpb.DataType_DT_INT32:    {onnxpb.TensorProto_INT32, 4},
	tfpb.DataType_DT_UINT8:    {onnxpb.TensorProto_UINT8, 1},
	tfpb.DataType_DT_INT16:    {onnxpb.TensorProto_INT16, 2},
	tfpb.DataType_DT_INT8:     {onnxpb.TensorProto_INT8, 1},
	tfpb.DataType_DT_STRING:   {onnxpb.TensorProto_STRING, 0},
	tfpb.DataType_DT_INT64:    {onnxpb.TensorProto_INT64, 8},
	tfpb.DataType_DT_BOOL:     {onnxpb.TensorProto_BOOL, 1},
	tfpb.DataType_DT_UINT16:   {onnxpb.TensorProto_UINT16, 2},
	tfpb.DataType_DT_HALF:     {onnxpb.TensorProto_FLOAT16, 2},
	tfpb.DataType_DT_BFLOAT16: {onnxpb.TensorProto_BFLOAT16, 2},
	tfpb.DataType_DT_UINT32:   {onnxpb.TensorProto_UINT32, 4},
	tfpb.DataType_DT_UINT64:   {onnxpb.TensorProto_UINT64, 8},
}

// baseType strips the _REF variant TF1 reference variables carry.
func baseType(t tfpb.DataType) tfpb.DataType {
	if t > 100 {
		return t - 100
	}
	return t
}

// onnxType is the ONNX element type of t, or an error naming it.
func onnxType(t tfpb.DataType) (onnxpb.TensorProto_DataType, error) {
	info, ok := dtypes[baseType(t)]
	if !ok {
		return 0, fmt.Errorf("element type %s has no ONNX equivalent", baseType(t))
	}
	return info.onnx, nil
}

// fromTF decodes a TensorFlow TensorProto: either tensor_content (raw
// little-endian bytes) or the typed value lists, where fewer values than
// elements means the last one repeats (TensorFlow's compact form for
// fills). budget, when not nil, is what compact forms may still expand
// to; the expansion is taken from it.
func fromTF(tp *tfpb.TensorProto, budget *int64) (*Tensor, error) {
	t := &Tensor{DType: tp.GetDtype()}
	if s := tp.GetTensorShape(); s != nil {
		if s.GetUnknownRank() {
			return nil, fmt.Errorf("constant of unknown rank")
		}
		for _, d := range s.GetDim() {
			if d.GetSize() < 0 {
				return nil, fmt.Errorf("constant with unknown dimension")
			}
			t.Shape = append(t.Shape, d.GetSize())
		}
	}
	if t.Shape == nil {
		t.Shape = []int64{}
	}
	n := int64(1)
	for _, d := range t.Shape {
		if d > 0 && n > maxConstElements/d {
			return nil, fmt.Errorf("constant of shape %v is too large", t.Shape)
		}
		n *= d
	}
	if t.DType == tfpb.DataType_DT_STRING {
		vals := tp.GetStringVal()
		if int64(len(vals)) != n {
			return nil, fmt.Errorf("string constant of shape %v has %d values", t.Shape, len(vals))
		}
		t.Strings = vals
		return t, nil
	}
	info, ok := dtypes[t.DType]
	if !ok {
		return nil, fmt.Errorf("constant of type %s is not supported", t.DType)
	}
	if c := tp.GetTensorContent(); len(c) > 0 {
		if int64(len(c)) != n*int64(info.size) {
			return nil, fmt.Errorf("constant of shape %v and type %s has %d bytes of content", t.Shape, t.DType, len(c))
		}
		t.Data = c
		return t, nil
	}
	// Typed lists: encode each value, then repeat the last.
	var one func(i int) []byte
	var count int
	le := binary.LittleEndian
	switch t.DType {
	case tfpb.DataType_DT_FLOAT:
		v := tp.GetFloatVal()
		count = len(v)
		one = func(i int) []byte { return le.AppendUint32(nil, math.Float32bits(v[i])) }
	case tfpb.DataType_DT_DOUBLE:
		v := tp.GetDoubleVal()
		count = len(v)
		one = func(i int) []byte { return le.AppendUint64(nil, math.Float64bits(v[i])) }
	case tfpb.DataType_DT_INT64:
		v := tp.GetInt64Val()
		count = len(v)
		one = func(i int) []byte { return le.AppendUint64(nil, uint64(v[i])) }
	case tfpb.DataType_DT_UINT32:
		v := tp.GetUint32Val()
		count = len(v)
		one = func(i int) []byte { return le.AppendUint32(nil, v[i]) }
	case tfpb.DataType_DT_UINT64:
		v := tp.GetUint64Val()
		count = len(v)
		one = func(i int) []byte { return le.AppendUint64(nil, v[i]) }
	case tfpb.DataType_DT_BOOL:
		v := tp.GetBoolVal()
		count = len(v)
		one = func(i int) []byte {
			if v[i] {
				return []byte{1}
			}
			return []byte{0}
		}
	case tfpb.DataType_DT_HALF, tfpb.DataType_DT_BFLOAT16:
		v := tp.GetHalfVal()
		count = len(v)
		one = func(i int) []byte { return le.AppendUint16(nil, uint16(v[i])) }
	default: // int32 and the narrower integers share int_val
		v := tp.GetIntVal()
		count = len(v)
		one = func(i int) []byte {
			b := le.AppendUint32(nil, uint32(v[i]))
			return b[:info.size]
		}
	}
	if int64(count) > n {
		return nil, fmt.Errorf("constant of shape %v has %d values", t.Shape, count)
	}
	if n*int64(info.size) > maxFillBytes {
		return nil, fmt.Errorf("constant of shape %v filled from %d values would take %d bytes (at most %d)", t.Shape, count, n*int64(info.size), maxFillBytes)
	}
	if budget != nil {
		if n*int64(info.size) > *budget {
			return nil, fmt.Errorf("constant of shape %v: the graph's constants in compact form expand to more than %d bytes", t.Shape, maxTotalFillBytes)
		}
		*budget -= n * int64(info.size)
	}
	t.Data = make([]byte, 0, n*int64(info.size))
	for i := 0; i < count; i++ {
		t.Data = append(t.Data, one(i)...)
	}
	last := make([]byte, info.size)
	if count > 0 {
		last = one(count - 1)
	}
	// The rest repeats the last value: copy what is filled so far, doubling.
	if total := n * int64(info.size); int64(len(t.Data)) < total {
		start := len(t.Data)
		t.Data = append(t.Data, last...)
		for int64(len(t.Data)) < total {
			more := min(int64(len(t.Data)-start), total-int64(len(t.Data)))
			t.Data = append(t.Data, t.Data[start:start+int(more)]...)
		}
	}
	return t, nil
}

// toONNX is t as an ONNX initializer named name.
func toONNX(name string, t *Tensor) (*onnxpb.TensorProto, error) {
	et, err := onnxType(t.DType)
	if err != nil {
		return nil, err
	}
	p := &onnxpb.TensorProto{Name: &name, Dims: append([]int64{}, t.Shape...), DataType: ptr(int32(et))}
	if et == onnxpb.TensorProto_STRING {
		p.StringData = t.Strings
		return p, nil
	}
	if info := dtypes[baseType(t.DType)]; int64(len(t.Data)) != numElements(t.Shape)*int64(info.size) {
		return nil, fmt.Errorf("tensor %q of shape %v has %d bytes, want %d", name, t.Shape, len(t.Data), numElements(t.Shape)*int64(info.size))
	}
	p.RawData = t.Data
	return p, nil
}

// ints reads an integer tensor (int32 or int64) as int64 values.
func (t *Tensor) ints() ([]int64, error) {
	le := binary.LittleEndian
	switch t.DType {
	case tfpb.DataType_DT_INT32:
		out := make([]int64, len(t.Data)/4)
		for i := range out {
			out[i] = int64(int32(le.Uint32(t.Data[4*i:])))
		}
		return out, nil
	case tfpb.DataType_DT_INT64:
		out := make([]int64, len(t.Data)/8)
		for i := range out {
			out[i] = int64(le.Uint64(t.Data[8*i:]))
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected an int32 or int64 constant, got %s", t.DType)
}

func ptr[T any](v T) *T { return &v }
