package native

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mlship/mlship/internal/tfpb"
)

// castInto writes the numeric values of vals into dst as little-endian
// elements of type dt (float → integer truncates, as numpy's astype does).
func castInto(dst []byte, dt tfpb.DataType, vals arrow.Array) error {
	n := vals.Len()
	get := func(i int) (float64, int64, bool) { return 0, 0, false }
	switch v := vals.(type) {
	case *array.Float32:
		get = func(i int) (float64, int64, bool) { return float64(v.Value(i)), 0, true }
	case *array.Float64:
		get = func(i int) (float64, int64, bool) { return v.Value(i), 0, true }
	case *array.Int8:
		get = func(i int) (float64, int64, bool) { return 0, int64(v.Value(i)), false }
	case *array.Int16:
		get = func(i int) (float64, int64, bool) { return 0, int64(v.Value(i)), false }
	case *array.Int32:
		get = func(i int) (float64, int64, bool) { return 0, int64(v.Value(i)), false }
	case *array.Int64:
		get = func(i int) (float64, int64, bool) { return 0, v.Value(i), false }
	case *array.Uint8:
		get = func(i int) (float64, int64, bool) { return 0, int64(v.Value(i)), false }
	case *array.Uint16:
		get = func(i int) (float64, int64, bool) { return 0, int64(v.Value(i)), false }
	case *array.Uint32:
		get = func(i int) (float64, int64, bool) { return 0, int64(v.Value(i)), false }
	default:
		return fmt.Errorf("a %s column cannot feed a %s input", vals.DataType(), dt)
	}
	le := binary.LittleEndian
	for i := 0; i < n; i++ {
		f, k, isFloat := get(i)
		if !isFloat {
			f = float64(k)
		} else {
			k = int64(f)
		}
		switch dt {
		case tfpb.DataType_DT_FLOAT:
			le.PutUint32(dst[4*i:], math.Float32bits(float32(f)))
		case tfpb.DataType_DT_DOUBLE:
			le.PutUint64(dst[8*i:], math.Float64bits(f))
		case tfpb.DataType_DT_INT8, tfpb.DataType_DT_UINT8:
			dst[i] = byte(k)
		case tfpb.DataType_DT_INT16, tfpb.DataType_DT_UINT16:
			le.PutUint16(dst[2*i:], uint16(k))
		case tfpb.DataType_DT_INT32, tfpb.DataType_DT_UINT32:
			le.PutUint32(dst[4*i:], uint32(k))
		case tfpb.DataType_DT_INT64, tfpb.DataType_DT_UINT64:
			le.PutUint64(dst[8*i:], uint64(k))
		default:
			return fmt.Errorf("%w %s", errTensorType, dt)
		}
	}
	return nil
}
