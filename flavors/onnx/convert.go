package onnx

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
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
		return ort.NewCustomDataTensor(ort.Shape(append([]int64{}, shape...)), rawBytes(values, e.size), want)
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
		raw := make([]byte, 2*len(f))
		for i, v := range f {
			h := float16.New(v).Uint16()
			raw[2*i], raw[2*i+1] = byte(h), byte(h>>8)
		}
		if len(raw) == 0 || len(shape) == 0 {
			return nil, fmt.Errorf("empty or scalar float16 tensors are not supported")
		}
		return ort.NewCustomDataTensor(ort.Shape(append([]int64{}, shape...)), raw, want)
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
		b, ok := values.(*array.Boolean)
		if !ok {
			return nil, fmt.Errorf("the model wants bool, got %s values", values.DataType())
		}
		if b.NullN() > 0 {
			return nil, fmt.Errorf("null values cannot be fed to a bool tensor")
		}
		data := make([]bool, b.Len())
		for i := range data {
			data[i] = b.Value(i)
		}
		return newTensor(shape, data)
	case ort.TensorElementDataTypeString:
		strs, err := toStrings(values)
		if err != nil {
			return nil, err
		}
		if len(shape) == 0 {
			return nil, fmt.Errorf("scalar string inputs are not supported; send a 1-element list")
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

func newTensor[T ort.TensorData](shape []int64, data []T) (ort.Value, error) {
	if len(shape) == 0 {
		if len(data) != 1 {
			return nil, fmt.Errorf("a scalar needs exactly one value, got %d", len(data))
		}
		return ort.NewScalar(data[0])
	}
	return ort.NewTensor(ort.Shape(append([]int64{}, shape...)), data)
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
// [rows, columns] tensor of type want.
func stackToORT(cols []arrow.Array, shape []int64, want ort.TensorElementDataType) (ort.Value, error) {
	rows, ncols := 0, len(cols)
	if ncols > 0 {
		rows = cols[0].Len()
	}
	switch want {
	case ort.TensorElementDataTypeFloat:
		return stackFloats[float32](cols, rows, shape)
	case ort.TensorElementDataTypeDouble:
		return stackFloats[float64](cols, rows, shape)
	}
	// Other element types: convert each column, then interleave through a
	// generic path (rarely used: tables feeding integer or string models).
	e, ok := elems[want]
	if !ok || want == ort.TensorElementDataTypeFloat16 {
		return nil, fmt.Errorf("columns cannot be stacked into a %s input", ortTypeName(want))
	}
	b := array.NewBuilder(memory.DefaultAllocator, e.arrow)
	defer b.Release()
	for r := 0; r < rows; r++ {
		for _, c := range cols {
			if err := appendCell(b, c, r); err != nil {
				return nil, err
			}
		}
	}
	flat := b.NewArray()
	defer flat.Release()
	return toORT(flat, shape, want)
}

func stackFloats[D float32 | float64](cols []arrow.Array, rows int, shape []int64) (ort.Value, error) {
	n := len(cols)
	out := make([]D, rows*n)
	for j, c := range cols {
		f, err := toFloats[D](c)
		if err != nil {
			return nil, fmt.Errorf("column %d: %w", j, err)
		}
		for r, v := range f {
			out[r*n+j] = v
		}
	}
	return newTensor(shape, out)
}

// appendCell copies cell r of c into b, converting between integer widths
// and from strings as the builder's type requires.
func appendCell(b array.Builder, c arrow.Array, r int) error {
	if c.IsNull(r) {
		return fmt.Errorf("null values cannot be fed to a %s tensor", b.Type())
	}
	switch bb := b.(type) {
	case *array.StringBuilder:
		switch a := c.(type) {
		case *array.String:
			bb.Append(a.Value(r))
			return nil
		case *array.LargeString:
			bb.Append(a.Value(r))
			return nil
		}
	case *array.BooleanBuilder:
		if a, ok := c.(*array.Boolean); ok {
			bb.Append(a.Value(r))
			return nil
		}
	case *array.Int64Builder:
		if v, ok := intCell(c, r); ok {
			bb.Append(v)
			return nil
		}
	case *array.Int32Builder:
		if v, ok := intCell(c, r); ok && v >= math.MinInt32 && v <= math.MaxInt32 {
			bb.Append(int32(v))
			return nil
		}
	}
	return fmt.Errorf("cannot stack a %s column into a %s tensor", c.DataType(), b.Type())
}

func intCell(c arrow.Array, r int) (int64, bool) {
	switch a := c.(type) {
	case *array.Int64:
		return a.Value(r), true
	case *array.Int32:
		return int64(a.Value(r)), true
	case *array.Int16:
		return int64(a.Value(r)), true
	case *array.Int8:
		return int64(a.Value(r)), true
	case *array.Uint8:
		return int64(a.Value(r)), true
	case *array.Uint16:
		return int64(a.Value(r)), true
	case *array.Uint32:
		return int64(a.Value(r)), true
	}
	return 0, false
}

// newScalar pre-allocates a 0-d output of the given element type.
func newScalar(t ort.TensorElementDataType) (ort.Value, error) {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return ort.NewEmptyScalar[float32]()
	case ort.TensorElementDataTypeDouble:
		return ort.NewEmptyScalar[float64]()
	case ort.TensorElementDataTypeInt8:
		return ort.NewEmptyScalar[int8]()
	case ort.TensorElementDataTypeInt16:
		return ort.NewEmptyScalar[int16]()
	case ort.TensorElementDataTypeInt32:
		return ort.NewEmptyScalar[int32]()
	case ort.TensorElementDataTypeInt64:
		return ort.NewEmptyScalar[int64]()
	case ort.TensorElementDataTypeUint8:
		return ort.NewEmptyScalar[uint8]()
	case ort.TensorElementDataTypeUint16:
		return ort.NewEmptyScalar[uint16]()
	case ort.TensorElementDataTypeUint32:
		return ort.NewEmptyScalar[uint32]()
	case ort.TensorElementDataTypeUint64:
		return ort.NewEmptyScalar[uint64]()
	case ort.TensorElementDataTypeBool:
		return ort.NewEmptyScalar[bool]()
	}
	return nil, fmt.Errorf("no scalar for %s", ortTypeName(t))
}

// wrap exposes a Go slice as an Arrow array without copying: the slice came
// out of ONNX Runtime into Go memory and is owned by nobody else now.
func wrap[T number](dt arrow.DataType, data []T) arrow.Array {
	var size int
	if len(data) > 0 {
		size = int(unsafe.Sizeof(data[0]))
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), len(data)*size)
	d := array.NewData(dt, len(data), []*memory.Buffer{nil, memory.NewBufferBytes(b)}, nil, 0, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

func boolArray(data []bool) arrow.Array {
	b := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(data, nil)
	return b.NewArray()
}

func stringArray(data []string) arrow.Array {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(data, nil)
	return b.NewArray()
}

// tensorToArrow returns an output tensor's shape and flat values.
func tensorToArrow(v ort.Value) ([]int64, arrow.Array, error) {
	shape := []int64(v.GetShape())
	switch x := v.(type) {
	case *ort.Tensor[float32]:
		return shape, wrap(arrow.PrimitiveTypes.Float32, x.GetData()), nil
	case *ort.Tensor[float64]:
		return shape, wrap(arrow.PrimitiveTypes.Float64, x.GetData()), nil
	case *ort.Tensor[int8]:
		return shape, wrap(arrow.PrimitiveTypes.Int8, x.GetData()), nil
	case *ort.Tensor[int16]:
		return shape, wrap(arrow.PrimitiveTypes.Int16, x.GetData()), nil
	case *ort.Tensor[int32]:
		return shape, wrap(arrow.PrimitiveTypes.Int32, x.GetData()), nil
	case *ort.Tensor[int64]:
		return shape, wrap(arrow.PrimitiveTypes.Int64, x.GetData()), nil
	case *ort.Tensor[uint8]:
		return shape, wrap(arrow.PrimitiveTypes.Uint8, x.GetData()), nil
	case *ort.Tensor[uint16]:
		return shape, wrap(arrow.PrimitiveTypes.Uint16, x.GetData()), nil
	case *ort.Tensor[uint32]:
		return shape, wrap(arrow.PrimitiveTypes.Uint32, x.GetData()), nil
	case *ort.Tensor[uint64]:
		return shape, wrap(arrow.PrimitiveTypes.Uint64, x.GetData()), nil
	case *ort.Tensor[bool]:
		return shape, boolArray(x.GetData()), nil
	case *ort.Scalar[float32]:
		return []int64{}, wrap(arrow.PrimitiveTypes.Float32, []float32{x.GetData()}), nil
	case *ort.Scalar[float64]:
		return []int64{}, wrap(arrow.PrimitiveTypes.Float64, []float64{x.GetData()}), nil
	case *ort.Scalar[int8]:
		return []int64{}, wrap(arrow.PrimitiveTypes.Int8, []int8{x.GetData()}), nil
	case *ort.Scalar[int16]:
		return []int64{}, wrap(arrow.PrimitiveTypes.Int16, []int16{x.GetData()}), nil
	case *ort.Scalar[int32]:
		return []int64{}, wrap(arrow.PrimitiveTypes.Int32, []int32{x.GetData()}), nil
	case *ort.Scalar[int64]:
		return []int64{}, wrap(arrow.PrimitiveTypes.Int64, []int64{x.GetData()}), nil
	case *ort.Scalar[uint8]:
		return []int64{}, wrap(arrow.PrimitiveTypes.Uint8, []uint8{x.GetData()}), nil
	case *ort.Scalar[uint16]:
		return []int64{}, wrap(arrow.PrimitiveTypes.Uint16, []uint16{x.GetData()}), nil
	case *ort.Scalar[uint32]:
		return []int64{}, wrap(arrow.PrimitiveTypes.Uint32, []uint32{x.GetData()}), nil
	case *ort.Scalar[uint64]:
		return []int64{}, wrap(arrow.PrimitiveTypes.Uint64, []uint64{x.GetData()}), nil
	case *ort.Scalar[bool]:
		return []int64{}, boolArray([]bool{x.GetData()}), nil
	case *ort.StringTensor:
		s, err := x.GetContents()
		if err != nil {
			return nil, nil, err
		}
		return shape, stringArray(s), nil
	case *ort.CustomDataTensor:
		if ort.TensorElementDataType(x.DataType()) == ort.TensorElementDataTypeFloat16 {
			raw := append([]byte(nil), x.GetData()...)
			d := array.NewData(arrow.FixedWidthTypes.Float16, len(raw)/2, []*memory.Buffer{nil, memory.NewBufferBytes(raw)}, nil, 0, 0)
			defer d.Release()
			return shape, array.MakeFromData(d), nil
		}
		return nil, nil, fmt.Errorf("%s outputs are not supported", ortTypeName(ort.TensorElementDataType(x.DataType())))
	}
	return nil, nil, fmt.Errorf("unsupported output value %T", v)
}

// sequenceToArrow turns a sequence of maps (sklearn-onnx's ZipMap
// probabilities) into a Map column with one row per element.
func sequenceToArrow(s *ort.Sequence) (arrow.Array, error) {
	vals, err := s.GetValues()
	if err != nil {
		return nil, err
	}
	maps := make([]*ort.Map, 0, len(vals))
	for _, v := range vals {
		m, ok := v.(*ort.Map)
		if !ok {
			return nil, fmt.Errorf("sequences of %T are not supported (only sequences of maps)", v)
		}
		maps = append(maps, m)
	}
	if len(maps) == 0 {
		return nil, fmt.Errorf("empty sequence output")
	}
	return mapsToArrow(maps)
}

func mapsToArrow(maps []*ort.Map) (arrow.Array, error) {
	var kt, vt arrow.DataType
	type kv struct{ keys, vals arrow.Array }
	parts := make([]kv, len(maps))
	defer func() {
		for _, p := range parts {
			if p.keys != nil {
				p.keys.Release()
				p.vals.Release()
			}
		}
	}()
	for i, m := range maps {
		k, v, err := m.GetKeysAndValues()
		if err != nil {
			return nil, err
		}
		_, ka, err := tensorToArrow(k)
		if err != nil {
			return nil, fmt.Errorf("map keys: %w", err)
		}
		_, va, err := tensorToArrow(v)
		if err != nil {
			ka.Release()
			return nil, fmt.Errorf("map values: %w", err)
		}
		parts[i] = kv{ka, va}
		if kt == nil {
			kt, vt = ka.DataType(), va.DataType()
		}
	}
	mb := array.NewMapBuilder(memory.DefaultAllocator, kt, vt, false)
	defer mb.Release()
	kb, ib := mb.KeyBuilder(), mb.ItemBuilder()
	for _, p := range parts {
		mb.Append(true)
		for j := 0; j < p.keys.Len(); j++ {
			if err := appendValue(kb, p.keys, j); err != nil {
				return nil, err
			}
			if err := appendValue(ib, p.vals, j); err != nil {
				return nil, err
			}
		}
	}
	return mb.NewArray(), nil
}

func appendValue(b array.Builder, a arrow.Array, i int) error {
	switch bb := b.(type) {
	case *array.Int64Builder:
		bb.Append(a.(*array.Int64).Value(i))
	case *array.StringBuilder:
		bb.Append(a.(*array.String).Value(i))
	case *array.Float32Builder:
		bb.Append(a.(*array.Float32).Value(i))
	case *array.Float64Builder:
		bb.Append(a.(*array.Float64).Value(i))
	default:
		return fmt.Errorf("map of %s is not supported", a.DataType())
	}
	return nil
}
