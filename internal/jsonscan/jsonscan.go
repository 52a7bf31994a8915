// Package jsonscan is a small pull scanner over a JSON document held in
// memory. Request decoders use it to read values straight into Arrow
// builders, without building a tree of interface values first: a 100 MiB
// request of numbers costs its Arrow arrays, not ten times that in boxed
// numbers.
//
// It accepts what Python's json.loads accepts, which is what MLflow's
// scoring server parses requests with: standard JSON plus the NaN, Infinity
// and -Infinity number tokens. Strings must be valid UTF-8 without raw
// control characters. Nesting is limited to MaxDepth levels so that hostile
// input cannot exhaust the stack.
package jsonscan

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// MaxDepth bounds array/object nesting (Python's json module stops near its
// recursion limit of 1000 too).
const MaxDepth = 1000

// Kind is the type of the next value.
type Kind byte

const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

func (k Kind) String() string {
	return [...]string{"invalid", "null", "boolean", "number", "string", "list", "object"}[k]
}

// SyntaxError is malformed JSON at byte Offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s at offset %d", e.Msg, e.Offset)
}

// Scanner reads one JSON document.
type Scanner struct {
	buf   []byte
	pos   int
	depth int
}

// New returns a scanner over b. b must not change while scanning.
func New(b []byte) *Scanner { return &Scanner{buf: b} }

// Offset is the current byte position.
func (s *Scanner) Offset() int { return s.pos }

func (s *Scanner) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: s.pos, Msg: fmt.Sprintf(format, args...)}
}

func (s *Scanner) ws() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// Peek returns the kind of the next value without consuming it.
func (s *Scanner) Peek() Kind {
	s.ws()
	if s.pos >= len(s.buf) {
		return Invalid
	}
	switch c := s.buf[s.pos]; {
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == '"':
		return String
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '-' || (c >= '0' && c <= '9') || c == 'N' || c == 'I':
		return Number
	}
	return Invalid
}

// End checks that nothing but whitespace follows.
func (s *Scanner) End() error {
	s.ws()
	if s.pos != len(s.buf) {
		return s.errorf("extra data after the JSON value")
	}
	return nil
}

func (s *Scanner) lit(word string) bool {
	if len(s.buf)-s.pos >= len(word) && string(s.buf[s.pos:s.pos+len(word)]) == word {
		s.pos += len(word)
		return true
	}
	return false
}

// Null consumes a null.
func (s *Scanner) Null() error {
	s.ws()
	if !s.lit("null") {
		return s.errorf("expected null")
	}
	return nil
}

// Bool consumes true or false.
func (s *Scanner) Bool() (bool, error) {
	s.ws()
	switch {
	case s.lit("true"):
		return true, nil
	case s.lit("false"):
		return false, nil
	}
	return false, s.errorf("expected true or false")
}

// Num is a number token.
type Num struct {
	Raw   []byte
	IsInt bool // no fraction, exponent, NaN or Infinity
}

// Float returns the value as float64.
func (n Num) Float() float64 {
	switch string(n.Raw) {
	case "NaN":
		return math.NaN()
	case "Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	f, _ := strconv.ParseFloat(unsafe.String(unsafe.SliceData(n.Raw), len(n.Raw)), 64)
	return f
}

// Int returns the value as int64 when it is an integer token within range.
func (n Num) Int() (int64, bool) {
	if !n.IsInt {
		return 0, false
	}
	v, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(n.Raw), len(n.Raw)), 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// Integral returns the value as int64 when it is a whole number within
// int64 range: 3, 3.0 and 3e0 all qualify, 3.5 does not. An integer token
// qualifies exactly when it fits int64; any other token is judged by its
// float64 value, as Python's json.loads reads it (so 3.0000000000000000001,
// which is the float 3.0, qualifies).
func (n Num) Integral() (int64, bool) {
	if n.IsInt {
		// Out of range integers must not be rounded into range through
		// float64: -9223372036854775809 is not -9223372036854775808.
		return n.Int()
	}
	f := n.Float()
	if f != math.Trunc(f) || math.IsInf(f, 0) || math.IsNaN(f) || f < -9.223372036854775808e18 || f >= 9.223372036854775808e18 {
		return 0, false
	}
	return int64(f), true
}

func (n Num) String() string { return string(n.Raw) }

// Number consumes a number.
func (s *Scanner) Number() (Num, error) {
	s.ws()
	start := s.pos
	switch {
	case s.lit("NaN"), s.lit("Infinity"), s.lit("-Infinity"):
		return Num{Raw: s.buf[start:s.pos]}, nil
	}
	isInt := true
	if s.pos < len(s.buf) && s.buf[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.buf) && s.buf[s.pos] == '0':
		s.pos++
	case s.pos < len(s.buf) && s.buf[s.pos] >= '1' && s.buf[s.pos] <= '9':
		s.digits()
	default:
		s.pos = start
		return Num{}, s.errorf("invalid number")
	}
	if s.pos < len(s.buf) && s.buf[s.pos] == '.' {
		s.pos++
		isInt = false
		if !s.digits() {
			return Num{}, s.errorf("invalid number: digits expected after '.'")
		}
	}
	if s.pos < len(s.buf) && (s.buf[s.pos] == 'e' || s.buf[s.pos] == 'E') {
		s.pos++
		isInt = false
		if s.pos < len(s.buf) && (s.buf[s.pos] == '+' || s.buf[s.pos] == '-') {
			s.pos++
		}
		if !s.digits() {
			return Num{}, s.errorf("invalid number: digits expected in exponent")
		}
	}
	return Num{Raw: s.buf[start:s.pos], IsInt: isInt}, nil
}

func (s *Scanner) digits() bool {
	start := s.pos
	for s.pos < len(s.buf) && s.buf[s.pos] >= '0' && s.buf[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

// StringBytes consumes a string and returns its decoded bytes. When the
// string has no escapes the result aliases the input buffer.
func (s *Scanner) StringBytes() ([]byte, error) {
	s.ws()
	if s.pos >= len(s.buf) || s.buf[s.pos] != '"' {
		return nil, s.errorf("expected a string")
	}
	s.pos++
	start := s.pos
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		switch {
		case c == '"':
			out := s.buf[start:s.pos]
			s.pos++
			return out, nil
		case c == '\\':
			return s.slowString(start)
		case c < 0x20:
			return nil, s.errorf("invalid control character in string")
		case c < utf8.RuneSelf:
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.buf[s.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, s.errorf("invalid UTF-8 in string")
			}
			s.pos += size
		}
	}
	return nil, s.errorf("unterminated string")
}

// String consumes a string.
func (s *Scanner) String() (string, error) {
	b, err := s.StringBytes()
	return string(b), err
}

func (s *Scanner) slowString(start int) ([]byte, error) {
	out := append([]byte(nil), s.buf[start:s.pos]...)
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		switch {
		case c == '"':
			s.pos++
			return out, nil
		case c == '\\':
			s.pos++
			if s.pos >= len(s.buf) {
				return nil, s.errorf("unterminated string")
			}
			e := s.buf[s.pos]
			s.pos++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					return nil, s.errorf("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					// A high surrogate pairs with a following \uXXXX low
					// surrogate; a lone one becomes U+FFFD (Go's choice;
					// Python keeps it, but it cannot be valid UTF-8).
					save := s.pos
					if s.pos+1 < len(s.buf) && s.buf[s.pos] == '\\' && s.buf[s.pos+1] == 'u' {
						s.pos += 2
						if r2, ok := s.hex4(); ok {
							if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
								out = utf8.AppendRune(out, d)
								continue
							}
						}
					}
					s.pos = save
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
			default:
				return nil, s.errorf("invalid escape \\%c", e)
			}
		case c < 0x20:
			return nil, s.errorf("invalid control character in string")
		case c < utf8.RuneSelf:
			out = append(out, c)
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.buf[s.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, s.errorf("invalid UTF-8 in string")
			}
			out = append(out, s.buf[s.pos:s.pos+size]...)
			s.pos += size
		}
	}
	return nil, s.errorf("unterminated string")
}

func (s *Scanner) hex4() (rune, bool) {
	if len(s.buf)-s.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.buf[s.pos : s.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	s.pos += 4
	return r, true
}

// Array consumes an array, calling fn for each element; fn must consume
// exactly one value.
func (s *Scanner) Array(fn func(i int) error) error {
	s.ws()
	if s.pos >= len(s.buf) || s.buf[s.pos] != '[' {
		return s.errorf("expected a list")
	}
	s.depth++
	defer func() { s.depth-- }() // also when the limit is hit, or the count stays off by one
	if s.depth > MaxDepth {
		return s.errorf("nesting deeper than %d levels", MaxDepth)
	}
	s.pos++
	s.ws()
	if s.pos < len(s.buf) && s.buf[s.pos] == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		if err := fn(i); err != nil {
			return err
		}
		s.ws()
		if s.pos >= len(s.buf) {
			return s.errorf("unterminated list")
		}
		switch s.buf[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or ']' in list")
		}
	}
}

// Object consumes an object, calling fn with each key; fn must consume
// exactly the member's value.
func (s *Scanner) Object(fn func(key []byte) error) error {
	s.ws()
	if s.pos >= len(s.buf) || s.buf[s.pos] != '{' {
		return s.errorf("expected an object")
	}
	s.depth++
	defer func() { s.depth-- }() // also when the limit is hit, or the count stays off by one
	if s.depth > MaxDepth {
		return s.errorf("nesting deeper than %d levels", MaxDepth)
	}
	s.pos++
	s.ws()
	if s.pos < len(s.buf) && s.buf[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		key, err := s.StringBytes()
		if err != nil {
			return err
		}
		s.ws()
		if s.pos >= len(s.buf) || s.buf[s.pos] != ':' {
			return s.errorf("expected ':' after object key")
		}
		s.pos++
		if err := fn(key); err != nil {
			return err
		}
		s.ws()
		if s.pos >= len(s.buf) {
			return s.errorf("unterminated object")
		}
		switch s.buf[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or '}' in object")
		}
	}
}

// Skip consumes the next value and returns its raw bytes.
func (s *Scanner) Skip() ([]byte, error) {
	s.ws()
	start := s.pos
	var err error
	switch s.Peek() {
	case Null:
		err = s.Null()
	case Bool:
		_, err = s.Bool()
	case Number:
		_, err = s.Number()
	case String:
		_, err = s.StringBytes()
	case Array:
		err = s.Array(func(int) error { _, e := s.Skip(); return e })
	case Object:
		err = s.Object(func([]byte) error { _, e := s.Skip(); return e })
	default:
		if s.pos >= len(s.buf) {
			return nil, s.errorf("unexpected end of input")
		}
		return nil, s.errorf("unexpected character %q", s.buf[s.pos])
	}
	if err != nil {
		return nil, err
	}
	return s.buf[start:s.pos], nil
}

// Value decodes the next value into plain Go values: nil, bool, Num,
// string, []any, map[string]any. Used for small, irregular parts of a
// request (params, composite cells).
func (s *Scanner) Value() (any, error) {
	switch s.Peek() {
	case Null:
		return nil, s.Null()
	case Bool:
		return s.Bool()
	case Number:
		return s.Number()
	case String:
		return s.String()
	case Array:
		out := []any{}
		err := s.Array(func(int) error {
			v, err := s.Value()
			out = append(out, v)
			return err
		})
		return out, err
	case Object:
		out := map[string]any{}
		err := s.Object(func(k []byte) error {
			v, err := s.Value()
			out[string(k)] = v
			return err
		})
		return out, err
	}
	if s.pos >= len(s.buf) {
		return nil, s.errorf("unexpected end of input")
	}
	return nil, s.errorf("unexpected character %q", s.buf[s.pos])
}
