package columnar

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Batch is an Arrow record batch: equal-length columns and their schema.
type Batch = arrow.RecordBatch

// MetaUnbatched marks a tensor column that holds one whole tensor in a single
// row instead of one row per first-dimension entry.
const MetaUnbatched = "mlship.unbatched"

// Tensor is a view of a tensor column: its full shape and the flat values
// (primitive, string or binary) in row-major order.
type Tensor struct {
	Shape  []int64
	Values arrow.Array
}

// Size is the number of elements.
func (t Tensor) Size() int64 { return ShapeSize(t.Shape) }

// ShapeSize is the product of the dimensions (1 for a scalar).
func ShapeSize(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// IsUnbatched reports whether a field carries MetaUnbatched.
func IsUnbatched(f arrow.Field) bool {
	if !f.HasMetadata() {
		return false
	}
	v, ok := f.Metadata.GetValue(MetaUnbatched)
	return ok && v == "true"
}

// TensorOf views column col (described by field f) as a tensor. Nulls at a
// list level are rejected: a tensor has no missing rows. Null values in the
// flat array are left for the consumer to handle (NaN for floats, an error
// otherwise).
func TensorOf(f arrow.Field, col arrow.Array) (Tensor, error) {
	unbatched := IsUnbatched(f)
	if unbatched && col.Len() != 1 {
		return Tensor{}, fmt.Errorf("column %q: an unbatched tensor column must have exactly one row, has %d", f.Name, col.Len())
	}
	var shape []int64
	if !unbatched {
		shape = append(shape, int64(col.Len()))
	}
	offset, length := int64(col.Data().Offset()), int64(col.Len())
	data := col.Data()
	for {
		fsl, ok := data.DataType().(*arrow.FixedSizeListType)
		if !ok {
			break
		}
		if data.NullN() > 0 {
			return Tensor{}, fmt.Errorf("column %q: tensor rows may not be null", f.Name)
		}
		n := int64(fsl.Len())
		shape = append(shape, n)
		child := data.Children()[0]
		offset = (offset)*n + int64(child.Offset())
		length *= n
		data = child
	}
	if lt, ok := data.DataType().(*arrow.ListType); ok && f.HasMetadata() {
		// A tensor with a zero-sized inner dimension (see NewTensorColumn).
		inner, err := parseShapeMeta(f)
		if err != nil {
			return Tensor{}, err
		}
		shape = append(shape, inner...)
		empty := array.MakeArrayOfNull(memory.DefaultAllocator, lt.Elem(), 0)
		return Tensor{Shape: shape, Values: empty}, nil
	}
	sd := array.NewSliceData(data, offset-int64(data.Offset()), offset-int64(data.Offset())+length)
	values := array.MakeFromData(sd)
	sd.Release()
	if shape == nil {
		shape = []int64{}
	}
	if dt := values.DataType(); !isTensorElement(dt) {
		values.Release()
		return Tensor{}, fmt.Errorf("column %q: type %s cannot be a tensor element", f.Name, dt)
	}
	return Tensor{Shape: shape, Values: values}, nil
}

func isTensorElement(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY,
		arrow.TIMESTAMP:
		return true
	}
	return false
}

// NewTensorColumn builds a tensor column named name from flat values in
// row-major order. With batched, shape[0] is the number of rows; otherwise
// the column has one row holding the whole tensor. The values array is
// referenced, not copied; the caller keeps its own reference.
func NewTensorColumn(name string, shape []int64, values arrow.Array, batched bool) (arrow.Field, arrow.Array, error) {
	if int64(values.Len()) != ShapeSize(shape) {
		return arrow.Field{}, nil, fmt.Errorf("tensor %q: shape %v needs %d values, got %d", name, shape, ShapeSize(shape), values.Len())
	}
	if batched && len(shape) == 0 {
		return arrow.Field{}, nil, fmt.Errorf("tensor %q: a scalar cannot be batched", name)
	}
	for _, d := range shape {
		if d < 0 || d > math.MaxInt32 {
			return arrow.Field{}, nil, fmt.Errorf("tensor %q: invalid dimension %d in shape %v", name, d, shape)
		}
	}
	// An unbatched tensor of shape S is laid out as a batched tensor of
	// shape [1]+S: one row holding everything.
	dims := shape
	if !batched {
		var one [8]int64
		dims = append(append(one[:0], 1), shape...)
	}
	for _, d := range dims[1:] {
		if d == 0 {
			return zeroSizeColumn(name, dims, values.DataType(), batched)
		}
	}
	data := values.Data()
	data.Retain()
	for k := len(dims) - 1; k >= 1; k-- {
		dt := fixedSizeList(int32(dims[k]), data.DataType())
		next := array.NewData(dt, int(ShapeSize(dims[:k])), []*memory.Buffer{nil}, []arrow.ArrayData{data}, 0, 0)
		data.Release()
		data = next
	}
	field := arrow.Field{Name: name, Type: data.DataType(), Nullable: true}
	if !batched {
		field.Metadata = unbatchedMeta
	}
	arr := array.MakeFromData(data)
	data.Release()
	return field, arr, nil
}

// MetaShape carries the inner shape of a tensor column with a zero-sized
// inner dimension, which FixedSizeList cannot express: such a column is a
// List of empty lists plus this JSON-encoded shape.
const MetaShape = "mlship.inner_shape"

func zeroSizeColumn(name string, dims []int64, elem arrow.DataType, batched bool) (arrow.Field, arrow.Array, error) {
	inner, _ := json.Marshal(dims[1:])
	b := array.NewListBuilder(memory.DefaultAllocator, elem)
	defer b.Release()
	for i := int64(0); i < dims[0]; i++ {
		b.Append(true)
	}
	keys, vals := []string{MetaShape}, []string{string(inner)}
	if !batched {
		keys, vals = append(keys, MetaUnbatched), append(vals, "true")
	}
	arr := b.NewArray()
	return arrow.Field{Name: name, Type: arr.DataType(), Nullable: true, Metadata: arrow.NewMetadata(keys, vals)}, arr, nil
}

func parseShapeMeta(f arrow.Field) ([]int64, error) {
	v, ok := f.Metadata.GetValue(MetaShape)
	if !ok {
		return nil, fmt.Errorf("column %q: a list column is not a tensor", f.Name)
	}
	var inner []int64
	if err := json.Unmarshal([]byte(v), &inner); err != nil {
		return nil, fmt.Errorf("column %q: bad %s metadata: %w", f.Name, MetaShape, err)
	}
	return inner, nil
}

// NamedTensor is a tensor with the column name it goes under.
type NamedTensor struct {
	Name   string
	Shape  []int64
	Values arrow.Array
}

// TensorColumnError is NewTensorColumn's error for one of TensorBatch's
// tensors, with the tensor's name for the caller's message.
type TensorColumnError struct {
	Name string
	Err  error
}

func (e *TensorColumnError) Error() string { return e.Err.Error() }
func (e *TensorColumnError) Unwrap() error { return e.Err }

// TensorBatch lays tensors out as one batch, the way every tensor-model
// result and tensor request is laid out: batched when all share a first
// dimension (rows = that dimension), else one row holding each whole
// tensor; no tensors is an empty batch. Values are referenced, not copied.
func TensorBatch(ts []NamedTensor) (Batch, error) {
	batched := len(ts) > 0
	rows := int64(-1)
	for _, t := range ts {
		if len(t.Shape) == 0 || (rows >= 0 && t.Shape[0] != rows) {
			batched = false
			break
		}
		rows = t.Shape[0]
	}
	switch {
	case len(ts) == 0:
		rows = 0
	case !batched:
		rows = 1
	}
	fields := make([]arrow.Field, len(ts))
	cols := make([]arrow.Array, len(ts))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, t := range ts {
		f, c, err := NewTensorColumn(t.Name, t.Shape, t.Values, batched)
		if err != nil {
			return nil, &TensorColumnError{Name: t.Name, Err: err}
		}
		fields[i], cols[i] = f, c
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rows), nil
}
