package pyjson

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// FuzzAppendFloat checks every float64 bit pattern against Python's repr
// rules. The input is the raw bits so the fuzzer reaches subnormals, both
// zeros, NaN payloads and the exponent boundaries as easily as "nice"
// numbers.
func FuzzAppendFloat(f *testing.F) {
	for _, x := range []float64{
		0, math.Copysign(0, -1), 1, -2.5, 0.1, 1e-4, 9.999999999999999e-5, 1e-5, 1e15,
		9999999999999998, 1e16, 1.5e16, 123456789012345678, 1e22, 1e100, 5e-324,
		math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64, 2.2250738585072014e-308,
		float64(float32(0.1)), 1.0 / 3, math.Pi, math.Inf(1), math.Inf(-1), math.NaN(),
	} {
		f.Add(math.Float64bits(x))
	}
	f.Add(uint64(0x7ff8000000000001)) // a NaN with a payload
	f.Fuzz(func(t *testing.T, bits uint64) {
		x := math.Float64frombits(bits)
		got := string(AppendFloat(nil, x))
		yml := string(AppendYAMLFloat(nil, x))
		switch {
		case math.IsNaN(x):
			if got != "NaN" || yml != ".nan" {
				t.Fatalf("NaN: got %q / %q, want NaN / .nan", got, yml)
			}
			return
		case math.IsInf(x, 1):
			if got != "Infinity" || yml != ".inf" {
				t.Fatalf("+Inf: got %q / %q, want Infinity / .inf", got, yml)
			}
			return
		case math.IsInf(x, -1):
			if got != "-Infinity" || yml != "-.inf" {
				t.Fatalf("-Inf: got %q / %q, want -Infinity / -.inf", got, yml)
			}
			return
		}

		// It round-trips: the same float64, including the sign of zero.
		back, err := strconv.ParseFloat(got, 64)
		if err != nil || math.Float64bits(back) != bits {
			t.Fatalf("AppendFloat(%v) = %q parses back as %v (%v)", x, got, back, err)
		}
		// repr always shows it is a float: a point or an exponent.
		if !strings.ContainsAny(got, ".e") {
			t.Fatalf("AppendFloat(%v) = %q has neither '.' nor 'e'", x, got)
		}
		// Fixed notation exactly for 1e-4 <= |x| < 1e16 (and zero).
		abs := math.Abs(x)
		fixed := abs == 0 || (abs >= 1e-4 && abs < 1e16)
		if strings.Contains(got, "e") == fixed {
			t.Fatalf("AppendFloat(%v) = %q: exponent form must be used iff |x| < 1e-4 or >= 1e16", x, got)
		}
		// The exact text: Go's shortest round-trip digits in the notation
		// repr picks, which is how CPython's float_repr builds it ("%r"
		// is 'r' mode: shortest digits, two-digit minimum exponent).
		want := strconv.FormatFloat(x, 'e', -1, 64)
		if fixed {
			want = strconv.FormatFloat(x, 'f', -1, 64)
			if !strings.Contains(want, ".") {
				want += ".0"
			}
		}
		if got != want {
			t.Fatalf("AppendFloat(%v) = %q, want %q", x, got, want)
		}
		// PyYAML's representer: repr lower-cased, with ".0" added to an
		// exponent form without a point.
		wantYAML := strings.ToLower(got)
		if !strings.Contains(wantYAML, ".") && strings.Contains(wantYAML, "e") {
			wantYAML = strings.Replace(wantYAML, "e", ".0e", 1)
		}
		if yml != wantYAML {
			t.Fatalf("AppendYAMLFloat(%v) = %q, want %q", x, yml, wantYAML)
		}
		// Appending keeps what dst held.
		if out := string(AppendFloat([]byte("x"), x)); out != "x"+got {
			t.Fatalf("AppendFloat(\"x\", %v) = %q, want %q", x, out, "x"+got)
		}
	})
}

// FuzzAppendString checks that the output is a JSON string literal that
// decodes back to the input, written as Python's json.dumps writes it with
// ensure_ascii=True: printable ASCII only, everything else escaped.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{
		"", "plain", `q"b\`, "a\nb\tc\r\b\f", "\x00\x01\x1f", "\x7f", "é", "€", "😀",
		"\U0010FFFF", "\uFFFD", "\uFEFF", "\u2028\u2029", "\xff", "\xed\xa0\x80", "a\xc3",
		"sepal length (cm)", "</script>", "&<>'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		// ensure_ascii: only printable ASCII (' ' to '~'); json.dumps
		// escapes control characters and DEL as \u00XX.
		for i, c := range out {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("AppendString(%q) = %s: byte %#x at %d is not printable ASCII", s, out, c, i)
			}
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s is not a JSON string: %v", s, out, err)
		}
		// Valid UTF-8 comes back unchanged; each invalid byte becomes
		// U+FFFD, as encoding/json (and Go's range over strings) treats it.
		want := s
		if !utf8.ValidString(s) {
			var b strings.Builder
			for _, r := range s {
				b.WriteRune(r)
			}
			want = b.String()
		}
		if back != want {
			t.Fatalf("AppendString(%q) = %s decodes to %q, want %q", s, out, back, want)
		}
		// The exact escapes Python writes: short forms for the six it
		// has, otherwise lower-case \uXXXX, UTF-16 surrogate pairs above
		// the BMP.
		if ref := pythonEscape(want); string(out) != ref {
			t.Fatalf("AppendString(%q) = %s, want %s", s, out, ref)
		}
	})
}

// pythonEscape is json.encoder.py_encode_basestring_ascii.
func pythonEscape(s string) string {
	short := map[rune]string{'"': `\"`, '\\': `\\`, '\n': `\n`, '\r': `\r`, '\t': `\t`, '\b': `\b`, '\f': `\f`}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if e, ok := short[r]; ok {
			b.WriteString(e)
			continue
		}
		if r >= ' ' && r <= '~' {
			b.WriteRune(r)
			continue
		}
		units := []uint16{uint16(r)}
		if r > 0xFFFF {
			r1, r2 := utf16.EncodeRune(r)
			units = []uint16{uint16(r1), uint16(r2)}
		}
		for _, u := range units {
			b.WriteString(`\u`)
			h := strconv.FormatUint(uint64(u), 16)
			b.WriteString(strings.Repeat("0", 4-len(h)) + h)
		}
	}
	b.WriteByte('"')
	return b.String()
}
