package onnx

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	ort "github.com/yalue/onnxruntime_go"
)

// elem describes an ONNX tensor element type on the Arrow side.
type elem struct {
	arrow arrow.DataType
	size  int // bytes per element in a dense buffer; 0 for strings and bools
	numpy string
}

var elems = map[ort.TensorElementDataType]elem{
	ort.TensorElementDataTypeFloat:   {arrow.PrimitiveTypes.Float32, 4, "float32"},
	ort.TensorElementDataTypeDouble:  {arrow.PrimitiveTypes.Float64, 8, "float64"},
	ort.TensorElementDataTypeFloat16: {arrow.FixedWidthTypes.Float16, 2, "float16"},
	ort.TensorElementDataTypeInt8:    {arrow.PrimitiveTypes.Int8, 1, "int8"},
	ort.TensorElementDataTypeInt16:   {arrow.PrimitiveTypes.Int16, 2, "int16"},
	ort.TensorElementDataTypeInt32:   {arrow.PrimitiveTypes.Int32, 4, "int32"},
	ort.TensorElementDataTypeInt64:   {arrow.PrimitiveTypes.Int64, 8, "int64"},
	ort.TensorElementDataTypeUint8:   {arrow.PrimitiveTypes.Uint8, 1, "uint8"},
	ort.TensorElementDataTypeUint16:  {arrow.PrimitiveTypes.Uint16, 2, "uint16"},
	ort.TensorElementDataTypeUint32:  {arrow.PrimitiveTypes.Uint32, 4, "uint32"},
	ort.TensorElementDataTypeUint64:  {arrow.PrimitiveTypes.Uint64, 8, "uint64"},
	ort.TensorElementDataTypeBool:    {arrow.FixedWidthTypes.Boolean, 0, "bool"},
	ort.TensorElementDataTypeString:  {arrow.BinaryTypes.String, 0, "str"},
}

func dtypeName(t ort.TensorElementDataType) string {
	if e, ok := elems[t]; ok {
		return e.numpy
	}
	return "object"
}

func ortTypeName(t ort.TensorElementDataType) string {
	if e, ok := elems[t]; ok {
		return e.numpy
	}
	return fmt.Sprintf("ONNX element type %d", int(t))
}

// rawBytes returns the bytes of a fixed-width array's values, honouring
// its offset: the memory ONNX Runtime reads in place.
func rawBytes(a arrow.Array, size int) []byte {
	buf := a.Data().Buffers()[1]
	if buf == nil {
		return nil
	}
	b := buf.Bytes()
	start := a.Data().Offset() * size
	return b[start : start+a.Len()*size]
}

// toORT makes an ONNX Runtime tensor of type want and shape from flat
// values. When the Arrow type already matches and there are no nulls, the
// Arrow buffer itself backs the tensor: no copy.
func toORT(values arrow.Array, shape []int64, want ort.TensorElementDataType) (ort.Value, error) {
	e, ok := elems[want]
	if !ok {
		return nil, fmt.Errorf("the model wants %s, which mlship cannot feed", ortTypeName(want))
	}
	if e.size > 0 && arrow.TypeEqual(values.DataType(), e.arrow) && values.NullN() == 0 && values.Len() > 0 && len(shape) > 0 {
		return asValue(ort.NewCustomDataTensor(ort.Shape(append([]int64{}, shape...)), rawBytes(values, e.size), want))
	}
	switch want {
	case ort.TensorElementDataTypeFloat:
		return floatTensor[float32](values, shape)
	case ort.TensorElementDataTypeDouble:
		return floatTensor[float64](values, shape)
	case ort.TensorElementDataTypeFloat16:
		f, err := toFloats[float32](values)
		if err != nil {
			return nil, err
		}
		if len(shape) == 0 {
			return nil, errScalarInput(want)
		}
		// At least one byte: onnxruntime_go refuses an empty buffer even
		// for a tensor with a zero dimension.
		raw := make([]byte, max(2*len(f), 2))
		for i, v := range f {
			h := float16.New(v).Uint16()
			raw[2*i], raw[2*i+1] = byte(h), byte(h>>8)
		}
		return asValue(ort.NewCustomDataTensor(ort.Shape(append([]int64{}, shape...)), raw, want))
	case ort.TensorElementDataTypeInt8:
		return intTensor[int8](values, shape, math.MinInt8, math.MaxInt8)
	case ort.TensorElementDataTypeInt16:
		return intTensor[int16](values, shape, math.MinInt16, math.MaxInt16)
	case ort.TensorElementDataTypeInt32:
		return intTensor[int32](values, shape, math.MinInt32, math.MaxInt32)
	case ort.TensorElementDataTypeInt64:
		return intTensor[int64](values, shape, math.MinInt64, math.MaxInt64)
	case ort.TensorElementDataTypeUint8:
		return intTensor[uint8](values, shape, 0, math.MaxUint8)
	case ort.TensorElementDataTypeUint16:
		return intTensor[uint16](values, shape, 0, math.MaxUint16)
	case ort.TensorElementDataTypeUint32:
		return intTensor[uint32](values, shape, 0, math.MaxUint32)
	case ort.TensorElementDataTypeUint64:
		return uint64Tensor(values, shape)
	case ort.TensorElementDataTypeBool:
		data, err := toBools(values)
		if err != nil {
			return nil, err
		}
		return newTensor(shape, data)
	case ort.TensorElementDataTypeString:
		strs, err := toStrings(values)
		if err != nil {
			return nil, err
		}
		if len(shape) == 0 {
			return nil, errScalarInput(want)
		}
		t, err := ort.NewStringTensor(ort.Shape(append([]int64{}, shape...)))
		if err != nil {
			return nil, err
		}
		if err := t.SetContents(strs); err != nil {
			t.Destroy()
			return nil, err
		}
		return t, nil
	}
	return nil, fmt.Errorf("the model wants %s, which mlship cannot feed", ortTypeName(want))
}

// errScalarInput: onnxruntime_go can make 0-d tensors of the types it has
// Go scalars for, which excludes strings and float16.
func errScalarInput(t ort.TensorElementDataType) error {
	return fmt.Errorf("0-d (scalar) %s inputs cannot be passed through onnxruntime_go; the model must declare this input with at least one dimension", ortTypeName(t))
}

func newTensor[T ort.TensorData](shape []int64, data []T) (ort.Value, error) {
	if len(shape) == 0 {
		if len(data) != 1 {
			return nil, fmt.Errorf("a scalar needs exactly one value, got %d", len(data))
		}
		return asValue(ort.NewScalar(data[0]))
	}
	return asValue(ort.NewTensor(ort.Shape(append([]int64{}, shape...)), data))
}

func floatTensor[D float32 | float64](values arrow.Array, shape []int64) (ort.Value, error) {
	data, err := toFloats[D](values)
	if err != nil {
		return nil, err
	}
	return newTensor(shape, data)
}

// toFloats converts any numeric array to floats, as MLflow's ONNX wrapper
// casts inputs to float32 for tensor(float) inputs. Nulls become NaN, as
// pandas stores a missing float.
func toFloats[D float32 | float64](values arrow.Array) ([]D, error) {
	n := values.Len()
	out := make([]D, n)
	switch a := values.(type) {
	case *array.Float32:
		copyConv(out, a.Float32Values())
	case *array.Float64:
		copyConv(out, a.Float64Values())
	case *array.Float16:
		for i, v := range a.Values() {
			out[i] = D(v.Float32())
		}
	case *array.Int8:
		copyConv(out, a.Int8Values())
	case *array.Int16:
		copyConv(out, a.Int16Values())
	case *array.Int32:
		copyConv(out, a.Int32Values())
	case *array.Int64:
		copyConv(out, a.Int64Values())
	case *array.Uint8:
		copyConv(out, a.Uint8Values())
	case *array.Uint16:
		copyConv(out, a.Uint16Values())
	case *array.Uint32:
		copyConv(out, a.Uint32Values())
	case *array.Uint64:
		copyConv(out, a.Uint64Values())
	default:
		return nil, fmt.Errorf("cannot convert %s values to floating point", values.DataType())
	}
	if values.NullN() > 0 {
		nan := D(math.NaN())
		for i := 0; i < n; i++ {
			if values.IsNull(i) {
				out[i] = nan
			}
		}
	}
	return out, nil
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

func copyConv[D, S number](dst []D, src []S) {
	for i, v := range src {
		dst[i] = D(v)
	}
}

// intTensor converts integer data (or integral floats) to an integer
// tensor, refusing anything that would change a value: out-of-range
// integers, fractional floats, nulls.
func intTensor[D int8 | int16 | int32 | int64 | uint8 | uint16 | uint32](values arrow.Array, shape []int64, lo, hi int64) (ort.Value, error) {
	if values.NullN() > 0 {
		return nil, fmt.Errorf("null values cannot be fed to an integer tensor")
	}
	n := values.Len()
	out := make([]D, n)
	check := func(i int, v int64) error {
		if v < lo || v > hi {
			return fmt.Errorf("value %d at position %d does not fit the model's %T input", v, i, out[0])
		}
		out[i] = D(v)
		return nil
	}
	var err error
	switch a := values.(type) {
	case *array.Int8:
		err = intsInto(a.Int8Values(), check)
	case *array.Int16:
		err = intsInto(a.Int16Values(), check)
	case *array.Int32:
		err = intsInto(a.Int32Values(), check)
	case *array.Int64:
		err = intsInto(a.Int64Values(), check)
	case *array.Uint8:
		err = intsInto(a.Uint8Values(), check)
	case *array.Uint16:
		err = intsInto(a.Uint16Values(), check)
	case *array.Uint32:
		err = intsInto(a.Uint32Values(), check)
	case *array.Uint64:
		for i, v := range a.Uint64Values() {
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("value %d at position %d does not fit the model's %T input", v, i, out[0])
			}
			if err = check(i, int64(v)); err != nil {
				break
			}
		}
	case *array.Float32:
		err = integralInto(a.Float32Values(), check)
	case *array.Float64:
		err = integralInto(a.Float64Values(), check)
	default:
		return nil, fmt.Errorf("cannot convert %s values to integers", values.DataType())
	}
	if err != nil {
		return nil, err
	}
	return newTensor(shape, out)
}

func intsInto[S int8 | int16 | int32 | int64 | uint8 | uint16 | uint32](src []S, set func(int, int64) error) error {
	for i, v := range src {
		if err := set(i, int64(v)); err != nil {
			return err
		}
	}
	return nil
}

func integralInto[S float32 | float64](src []S, set func(int, int64) error) error {
	for i, v := range src {
		f := float64(v)
		if f != math.Trunc(f) || math.IsInf(f, 0) || f < math.MinInt64 || f >= math.MaxInt64 {
			return fmt.Errorf("value %v at position %d is not an integer; the model's input is an integer tensor", f, i)
		}
		if err := set(i, int64(f)); err != nil {
			return err
		}
	}
	return nil
}

func uint64Tensor(values arrow.Array, shape []int64) (ort.Value, error) {
	if values.NullN() > 0 {
		return nil, fmt.Errorf("null values cannot be fed to an integer tensor")
	}
	out := make([]uint64, values.Len())
	set := func(i int, v int64) error {
		if v < 0 {
			return fmt.Errorf("value %d at position %d does not fit the model's uint64 input", v, i)
		}
		out[i] = uint64(v)
		return nil
	}
	var err error
	switch a := values.(type) {
	case *array.Int8:
		err = intsInto(a.Int8Values(), set)
	case *array.Int16:
		err = intsInto(a.Int16Values(), set)
	case *array.Int32:
		err = intsInto(a.Int32Values(), set)
	case *array.Int64:
		err = intsInto(a.Int64Values(), set)
	case *array.Uint8:
		err = intsInto(a.Uint8Values(), set)
	case *array.Uint16:
		err = intsInto(a.Uint16Values(), set)
	case *array.Uint32:
		err = intsInto(a.Uint32Values(), set)
	case *array.Uint64:
		copy(out, a.Uint64Values())
	case *array.Float32:
		err = integralInto(a.Float32Values(), set)
	case *array.Float64:
		err = integralInto(a.Float64Values(), set)
	default:
		return nil, fmt.Errorf("cannot convert %s values to integers", values.DataType())
	}
	if err != nil {
		return nil, err
	}
	return newTensor(shape, out)
}

func toStrings(values arrow.Array) ([]string, error) {
	if values.NullN() > 0 {
		return nil, fmt.Errorf("null values cannot be fed to a string tensor")
	}
	out := make([]string, values.Len())
	switch a := values.(type) {
	case *array.String:
		for i := range out {
			out[i] = a.Value(i)
		}
	case *array.LargeString:
		for i := range out {
			out[i] = a.Value(i)
		}
	case *array.Binary:
		for i := range out {
			out[i] = string(a.Value(i))
		}
	default:
		return nil, fmt.Errorf("the model wants strings, got %s values", values.DataType())
	}
	return out, nil
}

// stackToORT lays scalar columns side by side into one row-major
// [rows, columns] tensor of type want, as a DataFrame's .values would be.
// Columns may differ in type; each value is converted with the same checks
// a single column gets.
func stackToORT(cols []arrow.Array, shape []int64, want ort.TensorElementDataType) (ort.Value, error) {
	rows := 0
	if len(cols) > 0 {
		rows = cols[0].Len()
	}
	switch want {
	case ort.TensorElementDataTypeFloat:
		return stackFloats[float32](cols, rows, shape)
	case ort.TensorElementDataTypeDouble:
		return stackFloats[float64](cols, rows, shape)
	case ort.TensorElementDataTypeBool:
		data, err := interleave(cols, rows, toBools)
		if err != nil {
			return nil, err
		}
		return newTensor(shape, data)
	case ort.TensorElementDataTypeString:
		data, err := interleave(cols, rows, toStrings)
		if err != nil {
			return nil, err
		}
		flat := stringArray(data)
		defer flat.Release()
		return toORT(flat, shape, want)
	}
	// Integers and float16: interleave as int64 when every column holds
	// integers, else as float64 (so that 2.0 may feed an integer input but
	// 2.5 may not), then convert like any column.
	var flat arrow.Array
	if allIntegers(cols) {
		data, err := interleave(cols, rows, toInt64s)
		if err != nil {
			return nil, err
		}
		flat = wrap(arrow.PrimitiveTypes.Int64, data)
	} else {
		data, err := interleave(cols, rows, toFloats[float64])
		if err != nil {
			return nil, err
		}
		flat = wrap(arrow.PrimitiveTypes.Float64, data)
	}
	defer flat.Release()
	return toORT(flat, shape, want)
}

func stackFloats[D float32 | float64](cols []arrow.Array, rows int, shape []int64) (ort.Value, error) {
	data, err := interleave(cols, rows, toFloats[D])
	if err != nil {
		return nil, err
	}
	return newTensor(shape, data)
}

// interleave converts each column with conv and lays the results out row
// by row.
func interleave[T any](cols []arrow.Array, rows int, conv func(arrow.Array) ([]T, error)) ([]T, error) {
	n := len(cols)
	out := make([]T, rows*n)
	for j, c := range cols {
		vals, err := conv(c)
		if err != nil {
			return nil, fmt.Errorf("column %d: %w", j, err)
		}
		for r, v := range vals {
			out[r*n+j] = v
		}
	}
	return out, nil
}

func allIntegers(cols []arrow.Array) bool {
	for _, c := range cols {
		if !arrow.IsInteger(c.DataType().ID()) {
			return false
		}
	}
	return true
}

func toInt64s(values arrow.Array) ([]int64, error) {
	if values.NullN() > 0 {
		return nil, fmt.Errorf("null values cannot be fed to an integer tensor")
	}
	out := make([]int64, values.Len())
	switch a := values.(type) {
	case *array.Int8:
		copyConv(out, a.Int8Values())
	case *array.Int16:
		copyConv(out, a.Int16Values())
	case *array.Int32:
		copyConv(out, a.Int32Values())
	case *array.Int64:
		copy(out, a.Int64Values())
	case *array.Uint8:
		copyConv(out, a.Uint8Values())
	case *array.Uint16:
		copyConv(out, a.Uint16Values())
	case *array.Uint32:
		copyConv(out, a.Uint32Values())
	case *array.Uint64:
		for i, v := range a.Uint64Values() {
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("value %d at position %d is too large", v, i)
			}
			out[i] = int64(v)
		}
	default:
		return nil, fmt.Errorf("cannot convert %s values to integers", values.DataType())
	}
	return out, nil
}

func toBools(values arrow.Array) ([]bool, error) {
	b, ok := values.(*array.Boolean)
	if !ok {
		return nil, fmt.Errorf("the model wants bool, got %s values", values.DataType())
	}
	if b.NullN() > 0 {
		return nil, fmt.Errorf("null values cannot be fed to a bool tensor")
	}
	out := make([]bool, b.Len())
	for i := range out {
		out[i] = b.Value(i)
	}
	return out, nil
}

// asValue turns a constructor's result into an ort.Value, keeping a failed
// constructor's nil pointer from becoming a non-nil interface that callers
// would then Destroy.
func asValue[V ort.Value](v V, err error) (ort.Value, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}
