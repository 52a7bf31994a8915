package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// scannerSeeds cover every token kind, the escapes, the non-standard number
// tokens and the places where jsonscan deliberately differs from
// encoding/json.
var scannerSeeds = []string{
	``, ` `, `null`, `true`, `false`, `nul`, `truex`, `0`, `-0`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`,
	`1.5e-7`, `-12.34E+56`, `1e400`, `-1e-400`, `9223372036854775807`, `-9223372036854775809`,
	`123456789012345678901234567890`, `0.000000000000000000000000000001`,
	`NaN`, `Infinity`, `-Infinity`, `-NaN`, `+1`, `Inf`, `[NaN, Infinity, -Infinity]`,
	`""`, `"a"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u20AC"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`,
	`"\ud83d\u0041"`, `"\ud83d\ud83d\ude00"`, `"\ud83dx"`, `"\u12"`, `"\x"`, "\"\x01\"", "\"\x7f\"",
	"\"\xff\"", "\"\xed\xa0\x80\"", "\"é😀\"", `"unterminated`, `"\`,
	`[]`, `[ ]`, `[1,2,3]`, `[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[`, `]`,
	`{}`, `{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":[1,{"c":null}]}}`, `{"a" 1}`, `{"a":1,}`, `{1:2}`, `{"a"}`,
	` {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2.5], [3, NaN]]}} `,
	`{"inputs": [[1.0, 2.0], [3.0, 4.0]], "params": {"k": "v"}}`,
	"\t\n\r [1]\n", `[1] [2]`, `1 2`, "\x00", "[\x00]",
	strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
	strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
}

// FuzzScanner checks the scanner against encoding/json, the reference for
// standard JSON. The documented, deliberate differences are allowed and
// nothing else:
//
//   - jsonscan also accepts the NaN, Infinity and -Infinity number tokens
//     (Python's json.loads does; MLflow clients send them);
//   - jsonscan rejects invalid UTF-8 inside strings (json.Valid accepts it
//     and json.Unmarshal replaces it with U+FFFD);
//   - jsonscan rejects nesting deeper than MaxDepth (encoding/json allows
//     10000 levels).
func FuzzScanner(f *testing.F) {
	for _, s := range scannerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New(data)
		raw, err := s.Skip()
		if err == nil {
			err = s.End()
		}
		checkSyntaxError(t, "Skip", err, len(data))
		accepted := err == nil
		if accepted && !bytes.Equal(raw, bytes.Trim(data, " \t\r\n")) {
			// Skip's raw bytes are what handlers store and re-scan later.
			t.Errorf("Skip returned %q, want the whole document without surrounding whitespace", raw)
		}

		// Value walks the same grammar and must agree with Skip.
		vs := New(data)
		v, verr := vs.Value()
		if verr == nil {
			verr = vs.End()
		}
		checkSyntaxError(t, "Value", verr, len(data))
		if (verr == nil) != accepted {
			t.Fatalf("Skip+End error %v, but Value+End error %v", err, verr)
		}

		// Standard JSON with the Python tokens replaced by 0: json.Valid
		// must accept it whenever jsonscan accepted the original (the
		// tokens only become numbers outside strings, and stay legal text
		// inside them).
		std := replaceNonStandard(data)
		valid := json.Valid(std)
		depth := nestingDepth(std)
		switch {
		case accepted && !valid:
			t.Fatalf("jsonscan accepts %q, encoding/json rejects it (as %q)", data, std)
		case accepted && depth > MaxDepth:
			t.Fatalf("jsonscan accepts nesting of depth %d > MaxDepth", depth)
		case !accepted && valid && bytes.Equal(std, data):
			// The only standard JSON jsonscan may reject: invalid UTF-8
			// (which, in a document json.Valid accepts, can only be inside
			// strings) or nesting beyond MaxDepth.
			if utf8.Valid(data) && depth <= MaxDepth {
				t.Fatalf("jsonscan rejects valid JSON %q: %v", data, err)
			}
		}
		if !accepted || !bytes.Equal(std, data) {
			return
		}

		// Both accept: the decoded values must be the same.
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("json.Decode of a document json.Valid accepted: %v", err)
		}
		if diff := diffValue(v, want, "$"); diff != "" {
			t.Errorf("Value differs from encoding/json for %q: %s", data, diff)
		}
	})
}

// checkSyntaxError: every failure is a *SyntaxError with an offset inside
// the input, so messages point at the problem.
func checkSyntaxError(t *testing.T, what string, err error, n int) {
	t.Helper()
	if err == nil {
		return
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("%s: error %v (%T) is not a *SyntaxError", what, err, err)
	}
	if se.Offset < 0 || se.Offset > n {
		t.Fatalf("%s: error offset %d outside the %d-byte input", what, se.Offset, n)
	}
}

// replaceNonStandard turns -Infinity, Infinity and NaN into 0 everywhere.
func replaceNonStandard(data []byte) []byte {
	for _, tok := range []string{"-Infinity", "Infinity", "NaN"} {
		data = bytes.ReplaceAll(data, []byte(tok), []byte("0"))
	}
	return data
}

// nestingDepth is the deepest array/object nesting of a JSON text,
// ignoring brackets inside strings.
func nestingDepth(data []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// diffValue compares a jsonscan value with the one encoding/json decoded
// (with UseNumber) and describes the first difference.
func diffValue(got, want any, path string) string {
	switch w := want.(type) {
	case nil:
		if got != nil {
			return fmt.Sprintf("%s: got %#v, want null", path, got)
		}
	case bool:
		if g, ok := got.(bool); !ok || g != w {
			return fmt.Sprintf("%s: got %#v, want %v", path, got, w)
		}
	case string:
		if g, ok := got.(string); !ok || g != w {
			return fmt.Sprintf("%s: got %#v, want %q", path, got, w)
		}
	case json.Number:
		g, ok := got.(Num)
		if !ok {
			return fmt.Sprintf("%s: got %#v, want the number %s", path, got, w)
		}
		if string(g.Raw) != string(w) {
			return fmt.Sprintf("%s: number token %q, want %q", path, g.Raw, w)
		}
		wf, _ := strconv.ParseFloat(string(w), 64) // ±Inf or 0 on range errors, like Python
		if gf := g.Float(); gf != wf || math.Signbit(gf) != math.Signbit(wf) {
			return fmt.Sprintf("%s: Float() = %v, want %v", path, gf, wf)
		}
		wi, werr := w.Int64()
		gi, gok := g.Int()
		if isInt := !strings.ContainsAny(string(w), ".eE"); g.IsInt != isInt {
			return fmt.Sprintf("%s: IsInt = %v for %q", path, g.IsInt, w)
		}
		if g.IsInt && (gok != (werr == nil) || (gok && gi != wi)) {
			return fmt.Sprintf("%s: Int() = %d, %v; want %d, %v", path, gi, gok, wi, werr == nil)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %#v, want a list of %d", path, got, len(w))
		}
		for i := range w {
			if d := diffValue(g[i], w[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %#v, want an object of %d keys", path, got, len(w))
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s: key %q missing", path, k)
			}
			if d := diffValue(gv, wv, fmt.Sprintf("%s[%q]", path, k)); d != "" {
				return d
			}
		}
	default:
		return fmt.Sprintf("%s: unexpected encoding/json value %T", path, want)
	}
	return ""
}

// FuzzNumber checks Num's conversions against strconv for every token
// Number accepts.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{
		"0", "-0", "1", "-1", "3.0", "3e0", "3.5", "1e-7", "0.1", "1e400", "-1e400", "1e-400",
		"9007199254740993", "9007199254740993.0", "9223372036854775807", "9223372036854775808",
		"-9223372036854775808", "-9223372036854775809", "-9223372036854776833",
		"9223372036854775807.0", "-9223372036854775808.0", "-9223372036854775809.0",
		"18446744073709551616", "1" + strings.Repeat("0", 400), "3.0000000000000000001",
		"NaN", "Infinity", "-Infinity", "01", "-", "1.", ".5", "1e", "+1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s := New([]byte(in))
		n, err := s.Number()
		if err != nil || s.End() != nil {
			return // not a single number token
		}
		in = strings.Trim(in, " \t\r\n") // the token, without the whitespace around it
		if n.String() != in {
			t.Fatalf("Raw = %q, want the whole token %q", n.Raw, in)
		}
		special := in == "NaN" || in == "Infinity" || in == "-Infinity"
		if isInt := !special && !strings.ContainsAny(in, ".eE"); n.IsInt != isInt {
			t.Fatalf("IsInt = %v for %q", n.IsInt, in)
		}

		// Float: strconv's nearest float64 (±Inf beyond the range, as
		// Python's float() gives), and Python's values for the tokens.
		got := n.Float()
		var want float64
		switch in {
		case "NaN":
			want = math.NaN()
		case "Infinity":
			want = math.Inf(1)
		case "-Infinity":
			want = math.Inf(-1)
		default:
			var perr error
			want, perr = strconv.ParseFloat(in, 64)
			if perr != nil && !errors.Is(perr, strconv.ErrRange) {
				t.Fatalf("strconv rejects the number token %q: %v", in, perr)
			}
		}
		if math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("Float(%q) = %v, want %v", in, got, want)
		}

		// Int: exactly strconv.ParseInt for integer tokens, nothing else.
		iv, iok := n.Int()
		if n.IsInt {
			w, werr := strconv.ParseInt(in, 10, 64)
			if iok != (werr == nil) || (iok && iv != w) {
				t.Fatalf("Int(%q) = %d, %v; strconv.ParseInt gives %d, %v", in, iv, iok, w, werr)
			}
		} else if iok {
			t.Fatalf("Int(%q) = %d, true for a non-integer token", in, iv)
		}

		// Integral: an integer token is integral exactly when it fits
		// int64 (an out-of-range integer must not be rounded into range);
		// any other token is integral when its float64 value (what
		// Python's json.loads makes of it) is a whole number in int64
		// range.
		gv, gok := n.Integral()
		var wv int64
		var wok bool
		if n.IsInt {
			wv, wok = iv, iok
		} else if !math.IsNaN(want) && !math.IsInf(want, 0) && want == math.Trunc(want) &&
			want >= -(1<<63) && want < 1<<63 {
			wv, wok = int64(want), true
		}
		if gok != wok || (gok && gv != wv) {
			t.Fatalf("Integral(%q) = %d, %v; want %d, %v", in, gv, gok, wv, wok)
		}
	})
}
