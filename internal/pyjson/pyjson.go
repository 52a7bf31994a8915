// Package pyjson writes JSON the way Python's json.dumps does with its
// default settings: ", " and ": " separators, ensure_ascii escaping, floats in
// repr form (1.0, 1e-05, 1.5e+16) and the non-standard NaN / Infinity tokens.
//
// MLflow writes signatures inside MLmodel and scoring responses with
// json.dumps, so producing the same bytes keeps files diff-clean and responses
// byte-identical for clients that compare them. It is a leaf: stdlib only.
package pyjson

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// AppendFloat appends f formatted as Python's repr(float) would, with NaN
// and infinities spelled as json.dumps spells them.
func AppendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	return appendRepr(dst, f, false)
}

// AppendYAMLFloat appends f as PyYAML's representer writes a float:
// repr() lower-cased, with ".0" inserted before an exponent that has no
// fraction ("1.0e-05"), and .nan / .inf / -.inf for the special values.
func AppendYAMLFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, ".nan"...)
	case math.IsInf(f, 1):
		return append(dst, ".inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-.inf"...)
	}
	return appendRepr(dst, f, true)
}

// appendRepr implements CPython's float_repr: the shortest digits that round
// trip, in fixed notation when the decimal exponent is in [-4, 16), otherwise
// in exponent notation with at least two exponent digits.
func appendRepr(dst []byte, f float64, yamlStyle bool) []byte {
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	// 'e' with precision -1 yields the shortest round-trip digits:
	// "-d.ddde±XX".
	var scratch [32]byte
	s := strconv.AppendFloat(scratch[:0], f, 'e', -1, 64)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	epos := 0
	for i, c := range s {
		if c == 'e' {
			epos = i
			break
		}
	}
	mant, exps := s[:epos], s[epos+1:]
	exp, _ := strconv.Atoi(string(exps))
	var digits [24]byte
	nd := 0
	for _, c := range mant {
		if c != '.' {
			digits[nd] = c
			nd++
		}
	}
	decpt := exp + 1 // position of the decimal point relative to the digits
	if neg {
		dst = append(dst, '-')
	}
	if decpt > -4 && decpt <= 16 {
		switch {
		case decpt <= 0:
			dst = append(dst, "0."...)
			for i := 0; i < -decpt; i++ {
				dst = append(dst, '0')
			}
			dst = append(dst, digits[:nd]...)
		case decpt >= nd:
			dst = append(dst, digits[:nd]...)
			for i := nd; i < decpt; i++ {
				dst = append(dst, '0')
			}
			dst = append(dst, ".0"...)
		default:
			dst = append(dst, digits[:decpt]...)
			dst = append(dst, '.')
			dst = append(dst, digits[decpt:nd]...)
		}
		return dst
	}
	dst = append(dst, digits[0])
	if nd > 1 {
		dst = append(dst, '.')
		dst = append(dst, digits[1:nd]...)
	} else if yamlStyle {
		dst = append(dst, ".0"...)
	}
	dst = append(dst, 'e')
	if exp < 0 {
		dst = append(dst, '-')
		exp = -exp
	} else {
		dst = append(dst, '+')
	}
	if exp < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, int64(exp), 10)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string literal with Python's default
// ensure_ascii=True escaping: every non-ASCII code point becomes \uXXXX
// (a surrogate pair above the BMP). Invalid UTF-8 bytes become U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		// Printable ASCII passes; json.dumps escapes DEL (0x7f) too.
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				dst = append(dst, '\\', '"')
			case '\\':
				dst = append(dst, '\\', '\\')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = appendU(dst, rune(c))
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r > 0xFFFF {
			r -= 0x10000
			dst = appendU(dst, 0xD800+(r>>10))
			dst = appendU(dst, 0xDC00+(r&0x3FF))
		} else {
			dst = appendU(dst, r)
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
}
