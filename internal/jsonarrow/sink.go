// Package jsonarrow reads JSON values straight into Arrow builders: typed
// sinks that accept only values that convert without loss, an inferring sink
// that types values as numpy and pandas would, and a parser for nested lists
// (tensors). The MLflow and Open Inference Protocol decoders share it.
package jsonarrow

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/internal/jsonscan"
)

// Sink receives the leaf values of one column or tensor, in order.
type Sink interface {
	Num(n jsonscan.Num) error
	Str(b []byte) error
	Bool(v bool) error
	Null() error
	Len() int
	Build() arrow.Array // the sink is spent afterwards
	Release()
	TypeName() string // for messages: the numpy/MLflow name
}

// NewSink returns a sink that builds values of the given Arrow type,
// accepting only JSON values that convert without loss. name is the
// type's name in messages.
func NewSink(mem memory.Allocator, dt arrow.DataType, name string) Sink {
	switch dt.ID() {
	case arrow.FLOAT64:
		return &floatSink[float64]{dt: dt, name: name}
	case arrow.FLOAT32:
		return &floatSink[float32]{dt: dt, name: name}
	case arrow.FLOAT16:
		return &f16Sink{b: array.NewFloat16Builder(mem), name: name}
	case arrow.INT64:
		return &intSink[int64]{dt: dt, name: name, lo: math.MinInt64, hi: math.MaxInt64}
	case arrow.INT32:
		return &intSink[int32]{dt: dt, name: name, lo: math.MinInt32, hi: math.MaxInt32}
	case arrow.INT16:
		return &intSink[int16]{dt: dt, name: name, lo: math.MinInt16, hi: math.MaxInt16}
	case arrow.INT8:
		return &intSink[int8]{dt: dt, name: name, lo: math.MinInt8, hi: math.MaxInt8}
	case arrow.UINT8:
		return &intSink[uint8]{dt: dt, name: name, lo: 0, hi: math.MaxUint8}
	case arrow.UINT16:
		return &intSink[uint16]{dt: dt, name: name, lo: 0, hi: math.MaxUint16}
	case arrow.UINT32:
		return &intSink[uint32]{dt: dt, name: name, lo: 0, hi: math.MaxUint32}
	case arrow.UINT64:
		return &uint64Sink{intSink[uint64]{dt: dt, name: name, lo: 0, hi: math.MaxInt64}}
	case arrow.BOOL:
		return &boolSink{b: array.NewBooleanBuilder(mem)}
	case arrow.BINARY:
		return &binarySink{b: array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary), base64: name == "binary"}
	case arrow.TIMESTAMP:
		return &timeSink{b: array.NewTimestampBuilder(mem, dt.(*arrow.TimestampType))}
	default:
		return &stringSink{b: array.NewStringBuilder(mem), name: name}
	}
}

// ValueError is a value that does not fit the sink's type. Type, when
// set, is that type's name (MLflow's or numpy's).
type ValueError struct {
	Msg  string
	Type string
}

func (e *ValueError) Error() string { return e.Msg }

// Mismatch is the error for a value of the wrong JSON kind.
func Mismatch(want, got string) error {
	return &ValueError{Msg: fmt.Sprintf("expected %s, got %s", want, got)}
}

// Numbers accumulate in plain Go slices that become the Arrow array's
// buffer (no builder, no copy): for the small requests a server sees, the
// builders' bookkeeping was most of the cost of decoding.

type floatSink[T float32 | float64] struct {
	vals  []T
	valid []bool // nil until the first missing value
	dt    arrow.DataType
	name  string
}

func (s *floatSink[T]) Num(n jsonscan.Num) error {
	s.vals = append(s.vals, T(n.Float()))
	if s.valid != nil {
		s.valid = append(s.valid, true)
	}
	return nil
}
func (s *floatSink[T]) Str([]byte) error { return Mismatch(s.name, "a string") }
func (s *floatSink[T]) Bool(bool) error  { return Mismatch(s.name, "a boolean") }

// A missing float is NaN, as pandas stores it.
func (s *floatSink[T]) Null() error {
	s.valid = markNull(s.valid, len(s.vals))
	s.vals = append(s.vals, T(math.NaN()))
	return nil
}
func (s *floatSink[T]) Len() int           { return len(s.vals) }
func (s *floatSink[T]) Build() arrow.Array { return WrapSlice(s.dt, s.vals, s.valid) }
func (s *floatSink[T]) Release()           {}
func (s *floatSink[T]) TypeName() string   { return s.name }

// markNull extends valid (creating it, all true, on the first null) with a
// false for the value at position n.
func markNull(valid []bool, n int) []bool {
	if valid == nil {
		valid = make([]bool, n, n+8)
		for i := range valid {
			valid[i] = true
		}
	}
	return append(valid, false)
}

// WrapSlice makes an Arrow array of type dt whose value buffer is vals
// itself (no copy). valid, when not nil, marks missing values.
func WrapSlice[T any](dt arrow.DataType, vals []T, valid []bool) arrow.Array {
	var size int
	if len(vals) > 0 {
		size = int(unsafe.Sizeof(vals[0]))
	}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(vals))), len(vals)*size)
	buffers := []*memory.Buffer{nil, memory.NewBufferBytes(raw)}
	nulls := 0
	if valid != nil {
		bm := make([]byte, bitutil.BytesForBits(int64(len(valid))))
		for i, v := range valid {
			if v {
				bitutil.SetBit(bm, i)
			} else {
				nulls++
			}
		}
		if nulls > 0 {
			buffers[0] = memory.NewBufferBytes(bm)
		}
	}
	d := array.NewData(dt, len(vals), buffers, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

type f16Sink struct {
	b    *array.Float16Builder
	name string
}

func (s *f16Sink) Num(n jsonscan.Num) error { s.b.Append(float16.New(float32(n.Float()))); return nil }
func (s *f16Sink) Str([]byte) error         { return Mismatch(s.name, "a string") }
func (s *f16Sink) Bool(bool) error          { return Mismatch(s.name, "a boolean") }
func (s *f16Sink) Null() error              { s.b.AppendNull(); return nil }
func (s *f16Sink) Len() int                 { return s.b.Len() }
func (s *f16Sink) Build() arrow.Array       { return s.b.NewArray() }
func (s *f16Sink) Release()                 { s.b.Release() }
func (s *f16Sink) TypeName() string         { return s.name }

type intSink[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64] struct {
	vals   []T
	dt     arrow.DataType
	name   string
	lo, hi int64
}

func (s *intSink[T]) Num(n jsonscan.Num) error {
	v, ok := n.Integral()
	if !ok {
		if n.IsInt {
			return &ValueError{Msg: fmt.Sprintf("%s does not fit %s", n, s.name)}
		}
		return &ValueError{Msg: fmt.Sprintf("%s is not an integer; converting it to %s would lose data", n, s.name)}
	}
	if v < s.lo || v > s.hi {
		return &ValueError{Msg: fmt.Sprintf("%s does not fit %s", n, s.name)}
	}
	s.vals = append(s.vals, T(v))
	return nil
}
func (s *intSink[T]) Str([]byte) error { return Mismatch(s.name, "a string") }
func (s *intSink[T]) Bool(bool) error  { return Mismatch(s.name, "a boolean") }
func (s *intSink[T]) Null() error {
	return &ValueError{Msg: fmt.Sprintf("missing value (null) in an %s column; integer columns cannot hold missing values", s.name)}
}
func (s *intSink[T]) Len() int           { return len(s.vals) }
func (s *intSink[T]) Build() arrow.Array { return WrapSlice(s.dt, s.vals, nil) }
func (s *intSink[T]) Release()           {}
func (s *intSink[T]) TypeName() string   { return s.name }

// uint64Sink also takes integers above MaxInt64, which an int64 cannot
// carry on the way in.
type uint64Sink struct{ intSink[uint64] }

func (s *uint64Sink) Num(n jsonscan.Num) error {
	if n.IsInt && len(n.Raw) > 0 && n.Raw[0] != '-' {
		if v, err := strconv.ParseUint(string(n.Raw), 10, 64); err == nil {
			s.vals = append(s.vals, v)
			return nil
		}
	}
	return s.intSink.Num(n)
}

type boolSink struct{ b *array.BooleanBuilder }

func (s *boolSink) Num(n jsonscan.Num) error { return Mismatch("boolean", "the number "+n.String()) }
func (s *boolSink) Str([]byte) error         { return Mismatch("boolean", "a string") }
func (s *boolSink) Bool(v bool) error        { s.b.Append(v); return nil }
func (s *boolSink) Null() error {
	return &ValueError{Msg: "missing value (null) in a boolean column"}
}
func (s *boolSink) Len() int           { return s.b.Len() }
func (s *boolSink) Build() arrow.Array { return s.b.NewArray() }
func (s *boolSink) Release()           { s.b.Release() }
func (s *boolSink) TypeName() string   { return "boolean" }

type stringSink struct {
	b    *array.StringBuilder
	name string
}

func (s *stringSink) Num(n jsonscan.Num) error {
	return Mismatch("a string", "the number "+n.String())
}
func (s *stringSink) Str(b []byte) error { s.b.BinaryBuilder.Append(b); return nil }
func (s *stringSink) Bool(bool) error    { return Mismatch("a string", "a boolean") }
func (s *stringSink) Null() error        { s.b.AppendNull(); return nil }
func (s *stringSink) Len() int           { return s.b.Len() }
func (s *stringSink) Build() arrow.Array { return s.b.NewArray() }
func (s *stringSink) Release()           { s.b.Release() }
func (s *stringSink) TypeName() string   { return s.name }

// binarySink takes base64 text for MLflow's `binary` column type (how
// MLflow encodes bytes in JSON), raw UTF-8 bytes for a numpy bytes tensor.
type binarySink struct {
	b      *array.BinaryBuilder
	base64 bool
}

func (s *binarySink) Num(n jsonscan.Num) error {
	return Mismatch("binary (base64 text)", "the number "+n.String())
}
func (s *binarySink) Str(b []byte) error {
	if !s.base64 {
		s.b.Append(b)
		return nil
	}
	// Python's base64.decodebytes accepts embedded newlines; so do we.
	clean := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, string(b))
	out, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return &ValueError{Msg: "binary values must be base64 text: " + err.Error()}
	}
	s.b.Append(out)
	return nil
}
func (s *binarySink) Bool(bool) error    { return Mismatch("binary (base64 text)", "a boolean") }
func (s *binarySink) Null() error        { s.b.AppendNull(); return nil }
func (s *binarySink) Len() int           { return s.b.Len() }
func (s *binarySink) Build() arrow.Array { return s.b.NewArray() }
func (s *binarySink) Release()           { s.b.Release() }
func (s *binarySink) TypeName() string   { return "binary" }

// timeSink parses ISO-8601 text into naive timestamps (MLflow's datetime
// is datetime64[ns] without a zone; zoned values are rejected as MLflow's
// enforcement rejects tz-aware columns).
type timeSink struct{ b *array.TimestampBuilder }

var timeLayouts = []string{
	"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02",
}

func (s *timeSink) Num(n jsonscan.Num) error {
	return Mismatch("datetime (ISO-8601 text)", "the number "+n.String())
}
func (s *timeSink) Str(b []byte) error {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, string(b)); err == nil {
			ts, err := arrow.TimestampFromTime(t, arrow.Nanosecond)
			if err != nil {
				return &ValueError{Msg: fmt.Sprintf("datetime %q is out of range", b)}
			}
			s.b.Append(ts)
			return nil
		}
	}
	return &ValueError{Msg: fmt.Sprintf("%q is not an ISO-8601 date-time without a time zone", b)}
}
func (s *timeSink) Bool(bool) error    { return Mismatch("datetime (ISO-8601 text)", "a boolean") }
func (s *timeSink) Null() error        { s.b.AppendNull(); return nil }
func (s *timeSink) Len() int           { return s.b.Len() }
func (s *timeSink) Build() arrow.Array { return s.b.NewArray() }
func (s *timeSink) Release()           { s.b.Release() }
func (s *timeSink) TypeName() string   { return "datetime" }

// inferSink types values as numpy/pandas would without a schema: integers
// are int64 until a float (or a missing value) turns the column float64;
// booleans and strings keep their own type; anything mixed is refused.
type inferSink struct {
	mem   memory.Allocator
	kind  jsonscan.Kind // Invalid until the first non-null value
	ints  []int64
	flts  []float64
	isFlt bool
	valid []bool
	nulls int
	strs  *array.StringBuilder
	bools *array.BooleanBuilder
}

// NewInferSink returns a sink that infers the type from the values.
func NewInferSink(mem memory.Allocator) Sink { return &inferSink{mem: mem} }

func (s *inferSink) set(k jsonscan.Kind) error {
	if s.kind == jsonscan.Invalid {
		s.kind = k
		switch k {
		case jsonscan.String:
			s.strs = array.NewStringBuilder(s.mem)
			s.strs.AppendNulls(s.nulls)
		case jsonscan.Bool:
			s.bools = array.NewBooleanBuilder(s.mem)
			s.bools.AppendNulls(s.nulls)
		case jsonscan.Number:
			s.ints = make([]int64, s.nulls, s.nulls+16)
			if s.nulls > 0 {
				s.toFloat() // missing values make a numeric column float64
			}
		}
		return nil
	}
	if s.kind != k {
		return &ValueError{Msg: fmt.Sprintf("values mix %ss and %ss; declare the column's type in the model signature", s.kind, k)}
	}
	return nil
}

func (s *inferSink) Num(n jsonscan.Num) error {
	if err := s.set(jsonscan.Number); err != nil {
		return err
	}
	if !s.isFlt {
		if v, ok := n.Int(); ok {
			s.ints = append(s.ints, v)
			s.valid = append(s.valid, true)
			return nil
		}
		if n.IsInt {
			return &ValueError{Msg: fmt.Sprintf("integer %s is out of the int64 range", n)}
		}
		s.toFloat()
	}
	s.flts = append(s.flts, n.Float())
	s.valid = append(s.valid, true)
	return nil
}

func (s *inferSink) toFloat() {
	s.isFlt = true
	s.flts = make([]float64, len(s.ints), cap(s.ints)+1)
	for i, v := range s.ints {
		s.flts[i] = float64(v)
	}
	s.ints = nil
}

func (s *inferSink) Str(b []byte) error {
	if err := s.set(jsonscan.String); err != nil {
		return err
	}
	s.strs.BinaryBuilder.Append(b)
	return nil
}

func (s *inferSink) Bool(v bool) error {
	if err := s.set(jsonscan.Bool); err != nil {
		return err
	}
	s.bools.Append(v)
	return nil
}

func (s *inferSink) Null() error {
	switch s.kind {
	case jsonscan.Invalid:
		s.nulls++
		s.valid = append(s.valid, false)
	case jsonscan.Number:
		// pandas turns an integer column with a missing value into float64.
		if !s.isFlt {
			s.toFloat()
		}
		s.flts = append(s.flts, math.NaN())
		s.valid = append(s.valid, false)
	case jsonscan.String:
		s.strs.AppendNull()
	case jsonscan.Bool:
		s.bools.AppendNull()
	}
	return nil
}

func (s *inferSink) Len() int {
	switch s.kind {
	case jsonscan.String:
		return s.strs.Len()
	case jsonscan.Bool:
		return s.bools.Len()
	}
	return len(s.valid)
}

func (s *inferSink) Build() arrow.Array {
	switch s.kind {
	case jsonscan.String:
		return s.strs.NewArray()
	case jsonscan.Bool:
		return s.bools.NewArray()
	case jsonscan.Number:
		if !s.isFlt {
			b := array.NewInt64Builder(s.mem)
			defer b.Release()
			b.AppendValues(s.ints, s.valid)
			return b.NewArray()
		}
	}
	// Numbers with a float, or only nulls: float64, like numpy/pandas.
	b := array.NewFloat64Builder(s.mem)
	defer b.Release()
	if s.isFlt {
		b.AppendValues(s.flts, s.valid)
	} else {
		b.AppendNulls(s.nulls)
	}
	return b.NewArray()
}

func (s *inferSink) Release() {
	if s.strs != nil {
		s.strs.Release()
	}
	if s.bools != nil {
		s.bools.Release()
	}
}

func (s *inferSink) TypeName() string { return "a value" }

// TakesText reports whether a sink reads JSON strings as its values
// (string, binary and datetime sinks), so a text cell such as a CSV field
// must be passed as a string rather than parsed as a number.
func TakesText(s Sink) bool {
	switch s.(type) {
	case *stringSink, *binarySink, *timeSink:
		return true
	}
	return false
}

// ParseTime parses the ISO-8601 forms MLflow's datetime accepts, without a
// time zone.
func ParseTime(s string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
