package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/mlship/mlship/internal/pyjson"
)

// MLflow's messages and checks are Python's: a value is described by
// Python's str() and type name of what json.loads made of it, and numbers
// in strings are read as int() and float() (and protobuf's json_format)
// read them. These helpers reproduce those readings for decoded JSON
// (json.Number keeps the spelling, which tells Python's int from float).

// isIntLiteral reports whether a JSON number has no fraction or exponent
// (Python's json.loads makes it an int).
func isIntLiteral(s string) bool { return !strings.ContainsAny(s, ".eE") }

// pyIntString reports whether Python's int() accepts s: optional
// whitespace and sign, decimal digits with single underscores between them.
func pyIntString(s string) bool {
	s = strings.TrimSpace(s)
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return pyDigits(s)
}

func pyDigits(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			if s[i-1] == '_' {
				return false
			}
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// pyFloatString parses s as Python's float() does.
func pyFloatString(s string) (float64, bool) {
	t := strings.TrimSpace(s)
	body := t
	neg := false
	if body != "" && (body[0] == '+' || body[0] == '-') {
		neg = body[0] == '-'
		body = body[1:]
	}
	sign := 1.0
	if neg {
		sign = -1
	}
	switch strings.ToLower(body) {
	case "inf", "infinity":
		return math.Inf(int(sign)), true
	case "nan":
		return math.NaN(), true
	}
	// Decimal digits, '.', an exponent; underscores only between digits.
	mant, exp, hasExp := strings.Cut(strings.ToLower(body), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" {
		return 0, false
	}
	if (intPart != "" && !pyDigits(intPart)) || (frac != "" && !pyDigits(frac)) {
		return 0, false
	}
	if hasExp {
		e := exp
		if e != "" && (e[0] == '+' || e[0] == '-') {
			e = e[1:]
		}
		if !pyDigits(e) {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(t, "_", ""), 64)
	if err != nil && !isRangeErr(err) {
		return 0, false
	}
	return f, true
}

func isRangeErr(err error) bool {
	var ne *strconv.NumError
	return errors.As(err, &ne) && ne.Err == strconv.ErrRange
}

// pyType is the Python type name json.loads gives v.
func pyType(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case string:
		return "str"
	case json.Number:
		if isIntLiteral(string(x)) {
			return "int"
		}
		return "float"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// pyStr is Python's str() of v as json.loads gives it.
func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

// pyRepr is Python's repr() of v as json.loads gives it. Object keys come
// out sorted: Go's maps do not keep the order the client sent.
func pyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return pyQuote(x)
	case json.Number:
		s := string(x)
		if isIntLiteral(s) {
			if n, ok := new(big.Int).SetString(s, 10); ok {
				return n.String()
			}
			return s
		}
		f, err := strconv.ParseFloat(s, 64)
		switch {
		case err != nil && !isRangeErr(err):
			return s
		case math.IsInf(f, 1):
			return "inf"
		case math.IsInf(f, -1):
			return "-inf"
		}
		return string(pyjson.AppendFloat(nil, f))
	case []any:
		var b strings.Builder
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyRepr(e))
		}
		b.WriteByte(']')
		return b.String()
	case map[string]any:
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyQuote(k))
			b.WriteString(": ")
			b.WriteString(pyRepr(x[k]))
		}
		b.WriteByte('}')
		return b.String()
	}
	return fmt.Sprint(v)
}

// pyQuote is Python's repr() of a str: single quotes unless the text has a
// single quote and no double quote.
func pyQuote(s string) string {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// toInt64 converts an int64 field's JSON value as json_format does: an
// integer, an integral float, or a string holding an integer.
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, true
		}
		f, err := x.Float64()
		if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return 0, false
		}
		return int64(f), true
	case string:
		if strings.ContainsRune(x, ' ') || !pyIntString(x) {
			return 0, false
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(x), "_", ""), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// toFloat converts a double field's JSON value as json_format does: a
// number, "NaN", "Infinity", "-Infinity", or a string Python's float()
// reads (except "nan", which json_format refuses).
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) {
			return 0, false // json.loads gives inf, which json_format refuses
		}
		return f, true
	case string:
		switch x {
		case "NaN":
			return math.NaN(), true
		case "Infinity":
			return math.Inf(1), true
		case "-Infinity":
			return math.Inf(-1), true
		case "nan":
			return 0, false
		}
		return pyFloatString(x)
	}
	return 0, false
}
