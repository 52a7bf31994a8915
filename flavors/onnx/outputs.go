package onnx

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlship/mlship/columnar"
)

// collectOutputs turns ONNX Runtime outputs into a record batch: one column
// per output, batched when every output shares its first dimension (the
// usual [N, ...] outputs), otherwise each column holds its whole tensor.
func (p *predictor) collectOutputs(outs []ort.Value) (columnar.Batch, error) {
	type out struct {
		name   string
		shape  []int64 // tensors
		values arrow.Array
		seq    arrow.Array // sequences/maps: already a column
	}
	res := make([]out, len(outs))
	defer func() {
		for _, r := range res {
			if r.values != nil {
				r.values.Release()
			}
			if r.seq != nil {
				r.seq.Release()
			}
		}
	}()
	for i, v := range outs {
		name := p.outputs[i].Name
		res[i].name = name
		switch x := v.(type) {
		case *ort.Sequence:
			col, err := sequenceToArrow(x)
			if err != nil {
				return nil, fmt.Errorf("output %q: %w", name, err)
			}
			res[i].seq = col
		case *ort.Map:
			col, err := mapsToArrow([]*ort.Map{x})
			if err != nil {
				return nil, fmt.Errorf("output %q: %w", name, err)
			}
			res[i].seq = col
		default:
			shape, vals, err := tensorToArrow(v)
			if err != nil {
				return nil, fmt.Errorf("output %q: %w", name, err)
			}
			res[i].shape, res[i].values = shape, vals
		}
	}
	batched, rows := true, int64(-1)
	for _, r := range res {
		n := int64(-1)
		switch {
		case r.seq != nil:
			n = int64(r.seq.Len())
		case len(r.shape) > 0:
			n = r.shape[0]
		}
		if n < 0 || (rows >= 0 && n != rows) {
			batched = false
			break
		}
		rows = n
	}
	fields := make([]arrow.Field, len(res))
	cols := make([]arrow.Array, len(res))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, r := range res {
		if r.seq != nil {
			if !batched && r.seq.Len() != 1 {
				return nil, fmt.Errorf("output %q is a sequence of %d items but other outputs do not share that length; mlship cannot return them together", r.name, r.seq.Len())
			}
			fields[i] = arrow.Field{Name: r.name, Type: r.seq.DataType(), Nullable: true}
			if !batched {
				fields[i].Metadata = arrow.NewMetadata([]string{columnar.MetaUnbatched}, []string{"true"})
			}
			r.seq.Retain()
			cols[i] = r.seq
			continue
		}
		f, c, err := columnar.NewTensorColumn(r.name, r.shape, r.values, batched)
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", r.name, err)
		}
		fields[i], cols[i] = f, c
	}
	if !batched {
		rows = 1
	}
	if len(res) == 0 {
		rows = 0
	}
	return array.NewRecordBatch(p.schemas.Schema(fields, nil), cols, rows), nil
}

// destroyAll frees ONNX Runtime values. onnxruntime_go leaves a typed nil
// in an output slot whose conversion failed, so nil pointers inside the
// interface are skipped too.
func destroyAll(vals []ort.Value) {
	for _, v := range vals {
		if v == nil {
			continue
		}
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			continue
		}
		v.Destroy()
	}
}

// preallocate returns the value ONNX Runtime should write output o into,
// or nil to let it allocate the output itself. onnxruntime_go cannot take
// over two kinds of tensors ONNX Runtime allocates: 0-d ones (it rejects
// their empty shape) and float16 ones (it copies one byte per element), so
// those are handed in ready-made whenever their shape is known in advance:
// fixed in the model, or made of dimensions named like the inputs' (sizes).
func preallocate(o tensorIO, sizes map[string]int64, all bool) (ort.Value, error) {
	if o.OrtValueType != ort.ONNXTypeTensor || !o.rankKnown {
		return nil, nil
	}
	if len(o.Dimensions) == 0 {
		return newScalar(o.DataType)
	}
	if !all && o.DataType != ort.TensorElementDataTypeFloat16 {
		return nil, nil
	}
	shape := o.Dimensions.Clone()
	for i, d := range shape {
		if d >= 0 {
			continue
		}
		if o.params == nil || o.params[i] == "" {
			return nil, nil // only known after the run
		}
		n, ok := sizes[o.params[i]]
		if !ok {
			return nil, nil
		}
		shape[i] = n
	}
	n := columnar.ShapeSize(shape)
	// Go-backed outputs: ONNX Runtime writes straight into memory that is
	// then wrapped as the Arrow array, with no copy and none of the cgo
	// calls onnxruntime_go makes to take over an output ORT allocated.
	switch o.DataType {
	case ort.TensorElementDataTypeFloat16:
		// onnxruntime_go wants at least one byte even for an empty tensor.
		buf := make([]byte, max(2*n, 2))
		return asValue(ort.NewCustomDataTensor(shape, buf, ort.TensorElementDataTypeFloat16))
	case ort.TensorElementDataTypeFloat:
		return asValue(ort.NewTensor(shape, make([]float32, n)))
	case ort.TensorElementDataTypeDouble:
		return asValue(ort.NewTensor(shape, make([]float64, n)))
	case ort.TensorElementDataTypeInt64:
		return asValue(ort.NewTensor(shape, make([]int64, n)))
	case ort.TensorElementDataTypeInt32:
		return asValue(ort.NewTensor(shape, make([]int32, n)))
	case ort.TensorElementDataTypeInt8:
		return asValue(ort.NewTensor(shape, make([]int8, n)))
	case ort.TensorElementDataTypeUint8:
		return asValue(ort.NewTensor(shape, make([]uint8, n)))
	case ort.TensorElementDataTypeBool:
		return asValue(ort.NewTensor(shape, make([]bool, n)))
	}
	return nil, nil
}

func newScalar(t ort.TensorElementDataType) (ort.Value, error) {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return asValue(ort.NewEmptyScalar[float32]())
	case ort.TensorElementDataTypeDouble:
		return asValue(ort.NewEmptyScalar[float64]())
	case ort.TensorElementDataTypeInt8:
		return asValue(ort.NewEmptyScalar[int8]())
	case ort.TensorElementDataTypeInt16:
		return asValue(ort.NewEmptyScalar[int16]())
	case ort.TensorElementDataTypeInt32:
		return asValue(ort.NewEmptyScalar[int32]())
	case ort.TensorElementDataTypeInt64:
		return asValue(ort.NewEmptyScalar[int64]())
	case ort.TensorElementDataTypeUint8:
		return asValue(ort.NewEmptyScalar[uint8]())
	case ort.TensorElementDataTypeUint16:
		return asValue(ort.NewEmptyScalar[uint16]())
	case ort.TensorElementDataTypeUint32:
		return asValue(ort.NewEmptyScalar[uint32]())
	case ort.TensorElementDataTypeUint64:
		return asValue(ort.NewEmptyScalar[uint64]())
	case ort.TensorElementDataTypeBool:
		return asValue(ort.NewEmptyScalar[bool]())
	}
	return nil, nil
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
		if len(shape) == 0 {
			// GetContents sizes its result from the shape and indexes an
			// empty slice for a 0-d tensor; one element is read instead.
			e, err := x.GetElement(0)
			if err != nil {
				return nil, nil, err
			}
			return []int64{}, stringArray([]string{e}), nil
		}
		s, err := x.GetContents()
		if err != nil {
			return nil, nil, err
		}
		return shape, stringArray(s), nil
	case *ort.CustomDataTensor:
		if ort.TensorElementDataType(x.DataType()) == ort.TensorElementDataTypeFloat16 {
			// The buffer may be longer than the tensor (see preallocate).
			raw := append([]byte(nil), x.GetData()[:2*columnar.ShapeSize(shape)]...)
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
