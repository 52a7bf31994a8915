package flavortest

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/mlmodel"
)

// InputFromSchema returns a Case.Input for a model signature's inputs:
// one column per entry, named after it, with deterministic values that
// differ from row to row and depend only on the row (so the first rows of
// a batch of n equal those of a batch of m). Supported element types are
// the numeric ones, bool, str and bytes.
//
// Tensor specs are either all batched (first dimension -1: n rows) or all
// fixed, as a model that is not batch-safe has them: each column then holds
// one whole tensor in a single row, whatever n. Other variable dimensions
// become 2.
func InputFromSchema(s *mlmodel.Schema) (func(mem memory.Allocator, n int) columnar.Batch, error) {
	if s.Len() == 0 {
		return nil, errors.New("flavortest: the schema has no inputs")
	}
	type col struct {
		name  string
		dt    arrow.DataType
		shape []int64 // the first dimension is the row count when batched
	}
	var cols []col
	name := func(i int, n string) string {
		if n != "" {
			return n
		}
		return fmt.Sprintf("input_%d", i)
	}
	batched := true
	for i, t := range s.Tensors {
		dt, ok := elementTypes[t.DType]
		if !ok {
			return nil, fmt.Errorf("flavortest: tensor %q: no generator for dtype %q", t.Name, t.DType)
		}
		b := len(t.Shape) > 0 && t.Shape[0] == -1
		if i > 0 && b != batched {
			return nil, fmt.Errorf("flavortest: tensor %q has shape %v: mixing batched (first dimension -1) and fixed tensors, the batch has no row count", t.Name, t.Shape)
		}
		batched = b
		shape := make([]int64, len(t.Shape))
		for j, d := range t.Shape {
			shape[j] = d
			if d < 0 {
				shape[j] = 2
			}
		}
		cols = append(cols, col{name(i, t.Name), dt, shape})
	}
	for i, c := range s.Columns {
		dt, ok := elementTypes[string(c.Type.Kind)]
		if !ok {
			return nil, fmt.Errorf("flavortest: column %q: no generator for type %s", c.Name, c.Type)
		}
		cols = append(cols, col{name(i, c.Name), dt, []int64{-1}})
	}
	return func(mem memory.Allocator, n int) columnar.Batch {
		fields := make([]arrow.Field, len(cols))
		arrs := make([]arrow.Array, len(cols))
		rows := int64(1)
		if batched {
			rows = int64(n)
		}
		for i, c := range cols {
			shape := slices.Clone(c.shape)
			if batched {
				shape[0] = int64(n)
			}
			vals := generate(mem, c.dt, int(columnar.ShapeSize(shape)), i)
			f, a, err := columnar.NewTensorColumn(c.name, shape, vals, batched)
			vals.Release()
			if err != nil {
				panic(err) // shapes were checked above
			}
			fields[i], arrs[i] = f, a
		}
		return newBatch(fields, arrs, rows)
	}, nil
}

// elementTypes maps numpy dtypes and ColSpec kinds to the Arrow type the
// generator builds.
var elementTypes = map[string]arrow.DataType{
	"bool": arrow.FixedWidthTypes.Boolean, "boolean": arrow.FixedWidthTypes.Boolean,
	"int8": arrow.PrimitiveTypes.Int8, "int16": arrow.PrimitiveTypes.Int16,
	"int32": arrow.PrimitiveTypes.Int32, "integer": arrow.PrimitiveTypes.Int32,
	"int64": arrow.PrimitiveTypes.Int64, "long": arrow.PrimitiveTypes.Int64,
	"uint8": arrow.PrimitiveTypes.Uint8, "uint16": arrow.PrimitiveTypes.Uint16,
	"uint32": arrow.PrimitiveTypes.Uint32, "uint64": arrow.PrimitiveTypes.Uint64,
	"float16": arrow.FixedWidthTypes.Float16,
	"float32": arrow.PrimitiveTypes.Float32, "float": arrow.PrimitiveTypes.Float32,
	"float64": arrow.PrimitiveTypes.Float64, "double": arrow.PrimitiveTypes.Float64,
	"str": arrow.BinaryTypes.String, "string": arrow.BinaryTypes.String,
	"bytes": arrow.BinaryTypes.Binary, "binary": arrow.BinaryTypes.Binary,
}

// splitmix64 is a small, well-mixed hash: the generated values look random
// but are a pure function of (column, element index).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// generate builds count values of type dt for column col.
func generate(mem memory.Allocator, dt arrow.DataType, count, col int) arrow.Array {
	b := array.NewBuilder(mem, dt)
	defer b.Release()
	for k := range count {
		h := splitmix64(uint64(col)<<40 ^ uint64(k))
		f := float64(h>>11)/(1<<53)*6 - 3 // [-3, 3)
		small := int64(h%7) - 3           // [-3, 3]: fits every signed type
		switch b := b.(type) {
		case *array.Float64Builder:
			b.Append(f)
		case *array.Float32Builder:
			b.Append(float32(f))
		case *array.Float16Builder:
			b.Append(float16.New(float32(f)))
		case *array.Int8Builder:
			b.Append(int8(small))
		case *array.Int16Builder:
			b.Append(int16(small))
		case *array.Int32Builder:
			b.Append(int32(small))
		case *array.Int64Builder:
			b.Append(small)
		case *array.Uint8Builder:
			b.Append(uint8(h % 7))
		case *array.Uint16Builder:
			b.Append(uint16(h % 7))
		case *array.Uint32Builder:
			b.Append(uint32(h % 7))
		case *array.Uint64Builder:
			b.Append(h % 7)
		case *array.BooleanBuilder:
			b.Append(h&1 == 1)
		case *array.StringBuilder:
			b.Append(fmt.Sprintf("v%d", h%1000))
		case *array.BinaryBuilder:
			b.Append([]byte(fmt.Sprintf("v%d", h%1000)))
		default:
			panic(fmt.Sprintf("flavortest: no generator for %s", dt))
		}
	}
	return b.NewArray()
}

// newBatch builds a record batch; the batch holds its own references to
// arrs, and newBatch releases the caller's.
func newBatch(fields []arrow.Field, arrs []arrow.Array, rows int64) columnar.Batch {
	b := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, rows)
	for _, a := range arrs {
		a.Release()
	}
	return b
}

// replaceColumn returns valid with column name replaced by what build
// makes of it (its field, column and tensor view), or without the column
// when build returns a nil array.
func replaceColumn(valid columnar.Batch, name string, build func(f arrow.Field, t columnar.Tensor) (arrow.Field, arrow.Array)) columnar.Batch {
	idx := valid.Schema().FieldIndices(name)
	if len(idx) != 1 {
		panic(fmt.Sprintf("flavortest: the valid batch has no column %q (it has %v)", name, fieldNames(valid.Schema())))
	}
	var fields []arrow.Field
	var arrs []arrow.Array
	for i, f := range valid.Schema().Fields() {
		col := valid.Column(i)
		if i != idx[0] {
			col.Retain()
			fields, arrs = append(fields, f), append(arrs, col)
			continue
		}
		if build == nil {
			continue
		}
		t, err := columnar.TensorOf(f, col)
		if err != nil {
			panic(fmt.Sprintf("flavortest: column %q is not a tensor column: %v", name, err))
		}
		nf, na := build(f, t)
		t.Values.Release()
		fields, arrs = append(fields, nf), append(arrs, na)
	}
	return newBatch(fields, arrs, valid.NumRows())
}

// WrongType is a bad input whose column name holds values of another type
// (strings, or floats where it held strings or bytes) in the same shape.
func WrongType(name string) BadInput {
	return BadInput{
		Name: fmt.Sprintf("column %q of the wrong type", name),
		Make: func(mem memory.Allocator, valid columnar.Batch) columnar.Batch {
			return replaceColumn(valid, name, func(f arrow.Field, t columnar.Tensor) (arrow.Field, arrow.Array) {
				var dt arrow.DataType = arrow.BinaryTypes.String
				switch t.Values.DataType().ID() {
				case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
					dt = arrow.PrimitiveTypes.Float64
				}
				b := array.NewBuilder(mem, dt)
				defer b.Release()
				for range t.Values.Len() {
					switch b := b.(type) {
					case *array.StringBuilder:
						b.Append("not a number")
					case *array.Float64Builder:
						b.Append(math.Pi)
					}
				}
				return tensorColumn(f, t.Shape, b.NewArray())
			})
		},
	}
}

// WrongShape is a bad input whose column name has one more element in its
// last dimension (a rank-1 column becomes [rows, 2]), with zero values of
// the same type.
func WrongShape(name string) BadInput {
	return BadInput{
		Name: fmt.Sprintf("column %q of the wrong shape", name),
		Make: func(mem memory.Allocator, valid columnar.Batch) columnar.Batch {
			return replaceColumn(valid, name, func(f arrow.Field, t columnar.Tensor) (arrow.Field, arrow.Array) {
				shape := append([]int64{}, t.Shape...)
				switch {
				case len(shape) == 0: // a scalar becomes a vector
					shape = []int64{2}
				case len(shape) == 1 && !columnar.IsUnbatched(f): // a row of scalars becomes a row of pairs
					shape = append(shape, 2)
				default:
					shape[len(shape)-1]++
				}
				b := array.NewBuilder(mem, t.Values.DataType())
				defer b.Release()
				b.AppendEmptyValues(int(columnar.ShapeSize(shape)))
				return tensorColumn(f, shape, b.NewArray())
			})
		},
	}
}

// MissingColumn is a bad input without column name.
func MissingColumn(name string) BadInput {
	return BadInput{
		Name: fmt.Sprintf("column %q missing", name),
		Make: func(mem memory.Allocator, valid columnar.Batch) columnar.Batch {
			return replaceColumn(valid, name, nil)
		},
	}
}

// tensorColumn lays values out in shape as a column like f (batched or
// not), taking over the caller's reference to values.
func tensorColumn(f arrow.Field, shape []int64, values arrow.Array) (arrow.Field, arrow.Array) {
	defer values.Release()
	nf, col, err := columnar.NewTensorColumn(f.Name, shape, values, !columnar.IsUnbatched(f))
	if err != nil {
		panic(fmt.Sprintf("flavortest: %v", err))
	}
	return nf, col
}
