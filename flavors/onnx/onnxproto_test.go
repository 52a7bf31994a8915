package onnx_test

// A small reader for the ONNX protobuf messages the operator test suite
// stores (onnx.proto3): TensorProto for inputs and outputs, and the parts of
// ModelProto that say what a graph's inputs and outputs are. Written against
// protowire rather than generated code: the test needs a dozen fields, and
// decoding them by hand keeps the expected values independent of anything
// ONNX Runtime or our flavor does.

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/encoding/protowire"
)

// ONNX TensorProto.DataType values.
const (
	dtFloat    = 1
	dtUint8    = 2
	dtInt8     = 3
	dtUint16   = 4
	dtInt16    = 5
	dtInt32    = 6
	dtInt64    = 7
	dtString   = 8
	dtBool     = 9
	dtFloat16  = 10
	dtDouble   = 11
	dtUint32   = 12
	dtUint64   = 13
	dtBFloat16 = 16
)

var dtypeNames = map[int32]string{
	0: "undefined", dtFloat: "float", dtUint8: "uint8", dtInt8: "int8", dtUint16: "uint16",
	dtInt16: "int16", dtInt32: "int32", dtInt64: "int64", dtString: "string", dtBool: "bool",
	dtFloat16: "float16", dtDouble: "double", dtUint32: "uint32", dtUint64: "uint64",
	14: "complex64", 15: "complex128", dtBFloat16: "bfloat16", 17: "float8e4m3fn",
	18: "float8e4m3fnuz", 19: "float8e5m2", 20: "float8e5m2fnuz", 21: "uint4", 22: "int4",
}

func dtypeString(dt int32) string {
	if s, ok := dtypeNames[dt]; ok {
		return s
	}
	return fmt.Sprintf("data type %d", dt)
}

// tensorProto holds the fields of an ONNX TensorProto the tests use.
type tensorProto struct {
	name    string
	dims    []int64
	dtype   int32
	raw     []byte
	hasRaw  bool
	floats  []float32
	int32s  []int32 // also int8/16, uint8/16, bool, float16 bits
	strings [][]byte
	int64s  []int64
	doubles []float64
	uint64s []uint64 // also uint32
	segment bool
	extern  bool
}

// decodeTensorProto parses one serialized TensorProto.
func decodeTensorProto(b []byte) (*tensorProto, error) {
	t := &tensorProto{}
	err := walkFields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		var err error
		switch num {
		case 1: // dims
			err = appendVarints(&t.dims, typ, v, x, func(u uint64) int64 { return int64(u) })
		case 2: // data_type
			t.dtype = int32(x)
		case 3: // segment
			t.segment = true
		case 4: // float_data
			err = appendFixed32(&t.floats, typ, v, x, math.Float32frombits)
		case 5: // int32_data
			err = appendVarints(&t.int32s, typ, v, x, func(u uint64) int32 { return int32(u) })
		case 6: // string_data
			t.strings = append(t.strings, append([]byte(nil), v...))
		case 7: // int64_data
			err = appendVarints(&t.int64s, typ, v, x, func(u uint64) int64 { return int64(u) })
		case 8: // name
			t.name = string(v)
		case 9: // raw_data
			t.raw, t.hasRaw = v, true
		case 10: // double_data
			err = appendFixed64(&t.doubles, typ, v, x, math.Float64frombits)
		case 11: // uint64_data
			err = appendVarints(&t.uint64s, typ, v, x, func(u uint64) uint64 { return u })
		case 13: // external_data
			t.extern = true
		case 14: // data_location
			t.extern = t.extern || x == 1
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if t.segment || t.extern {
		return nil, fmt.Errorf("tensor %q: segmented or external tensors are not supported by this reader", t.name)
	}
	return t, nil
}

// walkFields calls fn for every field of a message: v holds the payload of
// length-delimited fields, x the value of varint and fixed ones.
func walkFields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("protobuf: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var y uint32
			y, n = protowire.ConsumeFixed32(b)
			x = uint64(y)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("protobuf field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// appendVarints reads a repeated varint field, packed or not.
func appendVarints[T any](dst *[]T, typ protowire.Type, v []byte, x uint64, conv func(uint64) T) error {
	if typ == protowire.VarintType {
		*dst = append(*dst, conv(x))
		return nil
	}
	for len(v) > 0 {
		u, n := protowire.ConsumeVarint(v)
		if n < 0 {
			return protowire.ParseError(n)
		}
		*dst = append(*dst, conv(u))
		v = v[n:]
	}
	return nil
}

func appendFixed32[T any](dst *[]T, typ protowire.Type, v []byte, x uint64, conv func(uint32) T) error {
	if typ == protowire.Fixed32Type {
		*dst = append(*dst, conv(uint32(x)))
		return nil
	}
	if len(v)%4 != 0 {
		return fmt.Errorf("packed fixed32 field of %d bytes", len(v))
	}
	for i := 0; i < len(v); i += 4 {
		*dst = append(*dst, conv(binary.LittleEndian.Uint32(v[i:])))
	}
	return nil
}

func appendFixed64[T any](dst *[]T, typ protowire.Type, v []byte, x uint64, conv func(uint64) T) error {
	if typ == protowire.Fixed64Type {
		*dst = append(*dst, conv(x))
		return nil
	}
	if len(v)%8 != 0 {
		return fmt.Errorf("packed fixed64 field of %d bytes", len(v))
	}
	for i := 0; i < len(v); i += 8 {
		*dst = append(*dst, conv(binary.LittleEndian.Uint64(v[i:])))
	}
	return nil
}

// size is the element count the dims describe (1 for a scalar).
func (t *tensorProto) size() int {
	n := 1
	for _, d := range t.dims {
		n *= int(d)
	}
	return n
}

// errUnrepresentable marks element types Arrow (and so mlship) has no
// column type for.
var errUnrepresentable = fmt.Errorf("element type has no Arrow column type")

// arrow returns the tensor's flat values as an Arrow array.
func (t *tensorProto) arrow(mem memory.Allocator) (arrow.Array, error) {
	a, err := t.values(mem, t.size())
	if err != nil {
		return nil, err
	}
	if a.Len() != t.size() {
		a.Release()
		return nil, fmt.Errorf("tensor %q: %d values for shape %v", t.name, a.Len(), t.dims)
	}
	return a, nil
}

func (t *tensorProto) values(mem memory.Allocator, n int) (arrow.Array, error) {
	switch t.dtype {
	case dtFloat:
		return build(array.NewFloat32Builder(mem), fixedValues(t, n, 4, t.floats, func(b []byte) float32 {
			return math.Float32frombits(binary.LittleEndian.Uint32(b))
		}))
	case dtDouble:
		return build(array.NewFloat64Builder(mem), fixedValues(t, n, 8, t.doubles, func(b []byte) float64 {
			return math.Float64frombits(binary.LittleEndian.Uint64(b))
		}))
	case dtInt8:
		return build(array.NewInt8Builder(mem), fixedValues(t, n, 1, narrow[int8](t.int32s), func(b []byte) int8 { return int8(b[0]) }))
	case dtUint8:
		return build(array.NewUint8Builder(mem), fixedValues(t, n, 1, narrow[uint8](t.int32s), func(b []byte) uint8 { return b[0] }))
	case dtInt16:
		return build(array.NewInt16Builder(mem), fixedValues(t, n, 2, narrow[int16](t.int32s), func(b []byte) int16 {
			return int16(binary.LittleEndian.Uint16(b))
		}))
	case dtUint16:
		return build(array.NewUint16Builder(mem), fixedValues(t, n, 2, narrow[uint16](t.int32s), func(b []byte) uint16 {
			return binary.LittleEndian.Uint16(b)
		}))
	case dtInt32:
		return build(array.NewInt32Builder(mem), fixedValues(t, n, 4, t.int32s, func(b []byte) int32 {
			return int32(binary.LittleEndian.Uint32(b))
		}))
	case dtInt64:
		return build(array.NewInt64Builder(mem), fixedValues(t, n, 8, t.int64s, func(b []byte) int64 {
			return int64(binary.LittleEndian.Uint64(b))
		}))
	case dtUint32:
		return build(array.NewUint32Builder(mem), fixedValues(t, n, 4, narrow[uint32](t.uint64s), func(b []byte) uint32 {
			return binary.LittleEndian.Uint32(b)
		}))
	case dtUint64:
		return build(array.NewUint64Builder(mem), fixedValues(t, n, 8, t.uint64s, func(b []byte) uint64 {
			return binary.LittleEndian.Uint64(b)
		}))
	case dtBool:
		return build(array.NewBooleanBuilder(mem), fixedValues(t, n, 1, boolsOf(t.int32s), func(b []byte) bool { return b[0] != 0 }))
	case dtFloat16:
		// float16 travels as its bit pattern: in raw_data, or one per
		// int32_data entry.
		bits := fixedValues(t, n, 2, narrow[uint16](t.int32s), func(b []byte) uint16 { return binary.LittleEndian.Uint16(b) })
		vals := make([]float16.Num, len(bits))
		for i, h := range bits {
			vals[i] = float16.FromBits(h)
		}
		return build(array.NewFloat16Builder(mem), vals)
	case dtString:
		if len(t.strings) != n {
			return nil, fmt.Errorf("tensor %q: %d strings for shape %v", t.name, len(t.strings), t.dims)
		}
		b := array.NewStringBuilder(mem)
		defer b.Release()
		for _, s := range t.strings {
			b.Append(string(s))
		}
		return b.NewArray(), nil
	}
	return nil, fmt.Errorf("tensor %q of %s: %w", t.name, dtypeString(t.dtype), errUnrepresentable)
}

// fixedValues returns n values from raw_data (little-endian, size bytes
// each) when the tensor has it, else from the typed field. A nil result
// with n > 0 means the data is missing, reported by build.
func fixedValues[T any](t *tensorProto, n, size int, typed []T, read func([]byte) T) []T {
	if !t.hasRaw {
		return typed
	}
	if len(t.raw) != n*size {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		out[i] = read(t.raw[i*size:])
	}
	return out
}

func narrow[D, S int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](src []S) []D {
	out := make([]D, len(src))
	for i, v := range src {
		out[i] = D(v)
	}
	return out
}

func boolsOf(src []int32) []bool {
	out := make([]bool, len(src))
	for i, v := range src {
		out[i] = v != 0
	}
	return out
}

// appender is the part of Arrow's typed builders build needs.
type appender[T any] interface {
	array.Builder
	AppendValues([]T, []bool)
}

func build[T any](b appender[T], vals []T) (arrow.Array, error) {
	defer b.Release()
	b.AppendValues(vals, nil)
	return b.NewArray(), nil
}

// valueInfo is a graph input or output: its name and, for tensors, the
// element type and declared shape.
type valueInfo struct {
	name  string
	kind  string // "tensor", "sequence", "map", "optional", "sparse_tensor", "unknown"
	dtype int32
}

// modelIO is what a test needs to know about a model: its real inputs
// (graph inputs that are not initializers, as ONNX Runtime lists them),
// its outputs and its opset.
type modelIO struct {
	inputs  []valueInfo
	outputs []valueInfo
	opset   int64
}

// decodeModelIO reads the graph interface from a serialized ModelProto.
func decodeModelIO(b []byte) (*modelIO, error) {
	m := &modelIO{}
	var graph []byte
	err := walkFields(b, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case 7: // graph
			graph = v
		case 8: // opset_import
			var domain string
			var version int64
			err := walkFields(v, func(n protowire.Number, _ protowire.Type, v []byte, x uint64) error {
				switch n {
				case 1:
					domain = string(v)
				case 2:
					version = int64(x)
				}
				return nil
			})
			if err == nil && (domain == "" || domain == "ai.onnx") {
				m.opset = version
			}
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	inits := map[string]bool{}
	var ins []valueInfo
	err = walkFields(graph, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case 5: // initializer
			return walkFields(v, func(n protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
				if n == 8 {
					inits[string(v)] = true
				}
				return nil
			})
		case 11, 12: // input, output
			vi, err := decodeValueInfo(v)
			if err != nil {
				return err
			}
			if num == 11 {
				ins = append(ins, vi)
			} else {
				m.outputs = append(m.outputs, vi)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		if !inits[in.name] {
			m.inputs = append(m.inputs, in)
		}
	}
	return m, nil
}

func decodeValueInfo(b []byte) (valueInfo, error) {
	vi := valueInfo{kind: "unknown"}
	err := walkFields(b, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		switch num {
		case 1:
			vi.name = string(v)
		case 2: // TypeProto
			return walkFields(v, func(n protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
				switch n {
				case 1:
					vi.kind = "tensor"
					return walkFields(v, func(n protowire.Number, _ protowire.Type, _ []byte, x uint64) error {
						if n == 1 {
							vi.dtype = int32(x)
						}
						return nil
					})
				case 4:
					vi.kind = "sequence"
				case 5:
					vi.kind = "map"
				case 8:
					vi.kind = "sparse_tensor"
				case 9:
					vi.kind = "optional"
				}
				return nil
			})
		}
		return nil
	})
	return vi, err
}
