package scoring

import (
	"encoding/base64"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/internal/jsonscan"
)

// sink receives the leaf values of one column or tensor, in order.
type sink interface {
	num(n jsonscan.Num) error
	str(b []byte) error
	boolean(v bool) error
	null() error
	len() int
	build() arrow.Array // the sink is spent afterwards
	release()
	typeName() string // for messages: the numpy/MLflow name
}

// newSink returns a sink that builds values of the given Arrow type,
// accepting only JSON values that convert without loss. name is the
// type's name in messages.
func newSink(mem memory.Allocator, dt arrow.DataType, name string) sink {
	switch dt.ID() {
	case arrow.FLOAT64:
		return &floatSink[float64]{b: array.NewFloat64Builder(mem), name: name}
	case arrow.FLOAT32:
		return &floatSink[float32]{b: array.NewFloat32Builder(mem), name: name}
	case arrow.FLOAT16:
		return &f16Sink{b: array.NewFloat16Builder(mem), name: name}
	case arrow.INT64:
		return &intSink[int64]{b: array.NewInt64Builder(mem), name: name, lo: math.MinInt64, hi: math.MaxInt64}
	case arrow.INT32:
		return &intSink[int32]{b: array.NewInt32Builder(mem), name: name, lo: math.MinInt32, hi: math.MaxInt32}
	case arrow.INT16:
		return &intSink[int16]{b: array.NewInt16Builder(mem), name: name, lo: math.MinInt16, hi: math.MaxInt16}
	case arrow.INT8:
		return &intSink[int8]{b: array.NewInt8Builder(mem), name: name, lo: math.MinInt8, hi: math.MaxInt8}
	case arrow.UINT8:
		return &intSink[uint8]{b: array.NewUint8Builder(mem), name: name, lo: 0, hi: math.MaxUint8}
	case arrow.UINT16:
		return &intSink[uint16]{b: array.NewUint16Builder(mem), name: name, lo: 0, hi: math.MaxUint16}
	case arrow.UINT32:
		return &intSink[uint32]{b: array.NewUint32Builder(mem), name: name, lo: 0, hi: math.MaxUint32}
	case arrow.UINT64:
		return &intSink[uint64]{b: array.NewUint64Builder(mem), name: name, lo: 0, hi: math.MaxInt64}
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

type valueError struct{ msg string }

func (e *valueError) Error() string { return e.msg }

func mismatch(want, got string) error {
	return &valueError{fmt.Sprintf("expected %s, got %s", want, got)}
}

type appendable[T any] interface {
	Append(T)
	AppendNull()
	Len() int
	NewArray() arrow.Array
	Release()
}

type floatSink[T float32 | float64] struct {
	b    appendable[T]
	name string
}

func (s *floatSink[T]) num(n jsonscan.Num) error { s.b.Append(T(n.Float())); return nil }
func (s *floatSink[T]) str([]byte) error         { return mismatch(s.name, "a string") }
func (s *floatSink[T]) boolean(bool) error       { return mismatch(s.name, "a boolean") }

// A missing float is NaN, as pandas stores it.
func (s *floatSink[T]) null() error        { s.b.AppendNull(); return nil }
func (s *floatSink[T]) len() int           { return s.b.Len() }
func (s *floatSink[T]) build() arrow.Array { return s.b.NewArray() }
func (s *floatSink[T]) release()           { s.b.Release() }
func (s *floatSink[T]) typeName() string   { return s.name }

type f16Sink struct {
	b    *array.Float16Builder
	name string
}

func (s *f16Sink) num(n jsonscan.Num) error { s.b.Append(float16.New(float32(n.Float()))); return nil }
func (s *f16Sink) str([]byte) error         { return mismatch(s.name, "a string") }
func (s *f16Sink) boolean(bool) error       { return mismatch(s.name, "a boolean") }
func (s *f16Sink) null() error              { s.b.AppendNull(); return nil }
func (s *f16Sink) len() int                 { return s.b.Len() }
func (s *f16Sink) build() arrow.Array       { return s.b.NewArray() }
func (s *f16Sink) release()                 { s.b.Release() }
func (s *f16Sink) typeName() string         { return s.name }

type intSink[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64] struct {
	b      appendable[T]
	name   string
	lo, hi int64
}

func (s *intSink[T]) num(n jsonscan.Num) error {
	v, ok := n.Integral()
	if !ok {
		if n.IsInt {
			return &valueError{fmt.Sprintf("%s does not fit %s", n, s.name)}
		}
		return &valueError{fmt.Sprintf("%s is not an integer; converting it to %s would lose data", n, s.name)}
	}
	if v < s.lo || v > s.hi {
		return &valueError{fmt.Sprintf("%s does not fit %s", n, s.name)}
	}
	s.b.Append(T(v))
	return nil
}
func (s *intSink[T]) str([]byte) error   { return mismatch(s.name, "a string") }
func (s *intSink[T]) boolean(bool) error { return mismatch(s.name, "a boolean") }
func (s *intSink[T]) null() error {
	return &valueError{fmt.Sprintf("missing value (null) in an %s column; integer columns cannot hold missing values", s.name)}
}
func (s *intSink[T]) len() int           { return s.b.Len() }
func (s *intSink[T]) build() arrow.Array { return s.b.NewArray() }
func (s *intSink[T]) release()           { s.b.Release() }
func (s *intSink[T]) typeName() string   { return s.name }

type boolSink struct{ b *array.BooleanBuilder }

func (s *boolSink) num(n jsonscan.Num) error { return mismatch("boolean", "the number "+n.String()) }
func (s *boolSink) str([]byte) error         { return mismatch("boolean", "a string") }
func (s *boolSink) boolean(v bool) error     { s.b.Append(v); return nil }
func (s *boolSink) null() error {
	return &valueError{"missing value (null) in a boolean column"}
}
func (s *boolSink) len() int           { return s.b.Len() }
func (s *boolSink) build() arrow.Array { return s.b.NewArray() }
func (s *boolSink) release()           { s.b.Release() }
func (s *boolSink) typeName() string   { return "boolean" }

type stringSink struct {
	b    *array.StringBuilder
	name string
}

func (s *stringSink) num(n jsonscan.Num) error {
	return mismatch("a string", "the number "+n.String())
}
func (s *stringSink) str(b []byte) error { s.b.BinaryBuilder.Append(b); return nil }
func (s *stringSink) boolean(bool) error { return mismatch("a string", "a boolean") }
func (s *stringSink) null() error        { s.b.AppendNull(); return nil }
func (s *stringSink) len() int           { return s.b.Len() }
func (s *stringSink) build() arrow.Array { return s.b.NewArray() }
func (s *stringSink) release()           { s.b.Release() }
func (s *stringSink) typeName() string   { return s.name }

// binarySink takes base64 text for MLflow's `binary` column type (how
// MLflow encodes bytes in JSON), raw UTF-8 bytes for a numpy bytes tensor.
type binarySink struct {
	b      *array.BinaryBuilder
	base64 bool
}

func (s *binarySink) num(n jsonscan.Num) error {
	return mismatch("binary (base64 text)", "the number "+n.String())
}
func (s *binarySink) str(b []byte) error {
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
		return &valueError{"binary values must be base64 text: " + err.Error()}
	}
	s.b.Append(out)
	return nil
}
func (s *binarySink) boolean(bool) error { return mismatch("binary (base64 text)", "a boolean") }
func (s *binarySink) null() error        { s.b.AppendNull(); return nil }
func (s *binarySink) len() int           { return s.b.Len() }
func (s *binarySink) build() arrow.Array { return s.b.NewArray() }
func (s *binarySink) release()           { s.b.Release() }
func (s *binarySink) typeName() string   { return "binary" }

// timeSink parses ISO-8601 text into naive timestamps (MLflow's datetime
// is datetime64[ns] without a zone; zoned values are rejected as MLflow's
// enforcement rejects tz-aware columns).
type timeSink struct{ b *array.TimestampBuilder }

var timeLayouts = []string{
	"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02",
}

func (s *timeSink) num(n jsonscan.Num) error {
	return mismatch("datetime (ISO-8601 text)", "the number "+n.String())
}
func (s *timeSink) str(b []byte) error {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, string(b)); err == nil {
			ts, err := arrow.TimestampFromTime(t, arrow.Nanosecond)
			if err != nil {
				return &valueError{fmt.Sprintf("datetime %q is out of range", b)}
			}
			s.b.Append(ts)
			return nil
		}
	}
	return &valueError{fmt.Sprintf("%q is not an ISO-8601 date-time without a time zone", b)}
}
func (s *timeSink) boolean(bool) error { return mismatch("datetime (ISO-8601 text)", "a boolean") }
func (s *timeSink) null() error        { s.b.AppendNull(); return nil }
func (s *timeSink) len() int           { return s.b.Len() }
func (s *timeSink) build() arrow.Array { return s.b.NewArray() }
func (s *timeSink) release()           { s.b.Release() }
func (s *timeSink) typeName() string   { return "datetime" }

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

func newInferSink(mem memory.Allocator) *inferSink { return &inferSink{mem: mem} }

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
		return &valueError{fmt.Sprintf("values mix %ss and %ss; declare the column's type in the model signature", s.kind, k)}
	}
	return nil
}

func (s *inferSink) num(n jsonscan.Num) error {
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
			return &valueError{fmt.Sprintf("integer %s is out of the int64 range", n)}
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

func (s *inferSink) str(b []byte) error {
	if err := s.set(jsonscan.String); err != nil {
		return err
	}
	s.strs.BinaryBuilder.Append(b)
	return nil
}

func (s *inferSink) boolean(v bool) error {
	if err := s.set(jsonscan.Bool); err != nil {
		return err
	}
	s.bools.Append(v)
	return nil
}

func (s *inferSink) null() error {
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

func (s *inferSink) len() int {
	switch s.kind {
	case jsonscan.String:
		return s.strs.Len()
	case jsonscan.Bool:
		return s.bools.Len()
	}
	return len(s.valid)
}

func (s *inferSink) build() arrow.Array {
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

func (s *inferSink) release() {
	if s.strs != nil {
		s.strs.Release()
	}
	if s.bools != nil {
		s.bools.Release()
	}
}

func (s *inferSink) typeName() string { return "a value" }
