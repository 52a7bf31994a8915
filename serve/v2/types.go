package v2

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Datatype is a V2 tensor element type name.
type Datatype string

const (
	BOOL   Datatype = "BOOL"
	UINT8  Datatype = "UINT8"
	UINT16 Datatype = "UINT16"
	UINT32 Datatype = "UINT32"
	UINT64 Datatype = "UINT64"
	INT8   Datatype = "INT8"
	INT16  Datatype = "INT16"
	INT32  Datatype = "INT32"
	INT64  Datatype = "INT64"
	FP16   Datatype = "FP16"
	BF16   Datatype = "BF16"
	FP32   Datatype = "FP32"
	FP64   Datatype = "FP64"
	BYTES  Datatype = "BYTES"
)

// Size is the element size in the binary extension (0 for BYTES).
func (d Datatype) Size() int {
	switch d {
	case BOOL, UINT8, INT8:
		return 1
	case UINT16, INT16, FP16, BF16:
		return 2
	case UINT32, INT32, FP32:
		return 4
	case UINT64, INT64, FP64:
		return 8
	}
	return 0
}

// ParseDatatype validates a datatype name (case-sensitive, as the spec's).
func ParseDatatype(s string) (Datatype, error) {
	d := Datatype(s)
	switch d {
	case BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, BF16, FP32, FP64, BYTES:
		return d, nil
	}
	if u := Datatype(strings.ToUpper(s)); u.Size() > 0 || u == BYTES {
		return "", fmt.Errorf("invalid datatype %q (datatypes are upper case: %s)", s, u)
	}
	return "", fmt.Errorf("invalid datatype %q", s)
}

// arrowType is the Arrow type a datatype decodes into. BF16 has no Arrow
// type; it is widened to float32.
func (d Datatype) arrowType() arrow.DataType {
	switch d {
	case BOOL:
		return arrow.FixedWidthTypes.Boolean
	case UINT8:
		return arrow.PrimitiveTypes.Uint8
	case UINT16:
		return arrow.PrimitiveTypes.Uint16
	case UINT32:
		return arrow.PrimitiveTypes.Uint32
	case UINT64:
		return arrow.PrimitiveTypes.Uint64
	case INT8:
		return arrow.PrimitiveTypes.Int8
	case INT16:
		return arrow.PrimitiveTypes.Int16
	case INT32:
		return arrow.PrimitiveTypes.Int32
	case INT64:
		return arrow.PrimitiveTypes.Int64
	case FP16:
		return arrow.FixedWidthTypes.Float16
	case FP32, BF16:
		return arrow.PrimitiveTypes.Float32
	case FP64:
		return arrow.PrimitiveTypes.Float64
	}
	return arrow.BinaryTypes.String
}

// FromArrow names the datatype for an Arrow element type.
func FromArrow(dt arrow.DataType) (Datatype, bool) {
	switch dt.ID() {
	case arrow.BOOL:
		return BOOL, true
	case arrow.UINT8:
		return UINT8, true
	case arrow.UINT16:
		return UINT16, true
	case arrow.UINT32:
		return UINT32, true
	case arrow.UINT64:
		return UINT64, true
	case arrow.INT8:
		return INT8, true
	case arrow.INT16:
		return INT16, true
	case arrow.INT32:
		return INT32, true
	case arrow.INT64:
		return INT64, true
	case arrow.FLOAT16:
		return FP16, true
	case arrow.FLOAT32:
		return FP32, true
	case arrow.FLOAT64:
		return FP64, true
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		return BYTES, true
	}
	return "", false
}

// FromNumpy names the datatype for a TensorSpec's numpy dtype.
func FromNumpy(dtype string) Datatype {
	switch dtype {
	case "bool":
		return BOOL
	case "uint8":
		return UINT8
	case "uint16":
		return UINT16
	case "uint32":
		return UINT32
	case "uint64":
		return UINT64
	case "int8":
		return INT8
	case "int16":
		return INT16
	case "int32":
		return INT32
	case "int64":
		return INT64
	case "float16":
		return FP16
	case "float32":
		return FP32
	case "float64":
		return FP64
	}
	return BYTES
}

// FromKind names the datatype for a ColSpec scalar type.
func FromKind(kind string) Datatype {
	switch kind {
	case "boolean":
		return BOOL
	case "integer":
		return INT32
	case "long":
		return INT64
	case "float":
		return FP32
	case "double":
		return FP64
	}
	return BYTES // string, binary, datetime (ISO text), composite (JSON text)
}

// Error is a V2 protocol error: a status and a message sent as
// {"error": "..."}.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func badRequest(format string, args ...any) *Error {
	return &Error{Status: 400, Message: fmt.Sprintf(format, args...)}
}
