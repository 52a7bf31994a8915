package scoring

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/internal/jsonarrow"
	"github.com/mlship/mlship/mlmodel"
)

// pyShape formats a shape as Python prints a tuple: (3,), (2, 4), ().
func pyShape(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.FormatInt(d, 10)
	}
	if len(parts) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// checkShape applies MLflow's TensorSpec rule: same rank, and every fixed
// dimension equal.
func checkShape(spec mlmodel.TensorSpec, shape []int64) error {
	ok := len(shape) == len(spec.Shape)
	for i := 0; ok && i < len(shape); i++ {
		if spec.Shape[i] != -1 && spec.Shape[i] != shape[i] {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("Shape of input %s does not match expected shape %s.", pyShape(shape), pyShape(spec.Shape))
	}
	return nil
}

// reshapeTo returns shape rearranged to the spec's rank when the element
// count allows it, inferring -1 dimensions as numpy's reshape does (one -1
// at most; a leading -1 is taken from the data's first dimension when
// there are more).
func reshapeTo(shape []int64, spec []int64) ([]int64, bool) {
	total := int64(1)
	for _, d := range shape {
		total *= d
	}
	out := append([]int64{}, spec...)
	unknown := 0
	for _, d := range out {
		if d == -1 {
			unknown++
		}
	}
	if unknown > 1 && out[0] == -1 && len(shape) > 0 {
		out[0] = shape[0]
		unknown--
	}
	if unknown > 1 {
		return nil, false
	}
	known, at := int64(1), -1
	for i, d := range out {
		if d == -1 {
			at = i
		} else {
			known *= d
		}
	}
	if at >= 0 {
		if known == 0 || total%known != 0 {
			return nil, false
		}
		out[at] = total / known
	} else if known != total {
		return nil, false
	}
	return out, true
}

// DTypeArrow maps a TensorSpec's numpy dtype to the Arrow type requests
// are parsed into (and predict types null predictions with).
func DTypeArrow(dtype string) (arrow.DataType, error) {
	switch dtype {
	case "float64":
		return arrow.PrimitiveTypes.Float64, nil
	case "float32":
		return arrow.PrimitiveTypes.Float32, nil
	case "float16":
		return arrow.FixedWidthTypes.Float16, nil
	case "int64":
		return arrow.PrimitiveTypes.Int64, nil
	case "int32":
		return arrow.PrimitiveTypes.Int32, nil
	case "int16":
		return arrow.PrimitiveTypes.Int16, nil
	case "int8":
		return arrow.PrimitiveTypes.Int8, nil
	case "uint64":
		return arrow.PrimitiveTypes.Uint64, nil
	case "uint32":
		return arrow.PrimitiveTypes.Uint32, nil
	case "uint16":
		return arrow.PrimitiveTypes.Uint16, nil
	case "uint8":
		return arrow.PrimitiveTypes.Uint8, nil
	case "bool":
		return arrow.FixedWidthTypes.Boolean, nil
	case "str", "object":
		return arrow.BinaryTypes.String, nil
	case "bytes":
		return arrow.BinaryTypes.Binary, nil
	}
	if strings.HasPrefix(dtype, "datetime64") {
		return &arrow.TimestampType{Unit: arrow.Nanosecond}, nil
	}
	return nil, fmt.Errorf("tensor dtype %q is not supported in requests", dtype)
}

// KindArrow maps a ColSpec scalar type to the Arrow type requests are
// parsed into (pandas' dtype for the column); other kinds are strings.
func KindArrow(k mlmodel.Kind) arrow.DataType {
	switch k {
	case mlmodel.Boolean:
		return arrow.FixedWidthTypes.Boolean
	case mlmodel.Integer:
		return arrow.PrimitiveTypes.Int32
	case mlmodel.Long:
		return arrow.PrimitiveTypes.Int64
	case mlmodel.Float:
		return arrow.PrimitiveTypes.Float32
	case mlmodel.Double:
		return arrow.PrimitiveTypes.Float64
	case mlmodel.Binary:
		return arrow.BinaryTypes.Binary
	case mlmodel.Datetime:
		return &arrow.TimestampType{Unit: arrow.Nanosecond}
	}
	return arrow.BinaryTypes.String
}

// dtypeSink returns a jsonarrow.Sink for a TensorSpec dtype.
func dtypeSink(mem memory.Allocator, dtype string) (jsonarrow.Sink, error) {
	dt, err := DTypeArrow(dtype)
	if err != nil {
		return nil, err
	}
	return jsonarrow.NewSink(mem, dt, dtype), nil
}
