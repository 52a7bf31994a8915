package pyjson

import (
	"math"
	"testing"
)

func TestAppendFloat(t *testing.T) {
	// Expected strings are what CPython 3.11 prints for repr(x) / json.dumps(x).
	tests := []struct {
		in   float64
		json string
		yaml string
	}{
		{0, "0.0", "0.0"},
		{math.Copysign(0, -1), "-0.0", "-0.0"},
		{1, "1.0", "1.0"},
		{-2.5, "-2.5", "-2.5"},
		{0.1, "0.1", "0.1"},
		{0.0001, "0.0001", "0.0001"},
		{0.00001, "1e-05", "1.0e-05"},
		{1.5e-7, "1.5e-07", "1.5e-07"},
		{1e15, "1000000000000000.0", "1000000000000000.0"},
		{1e16, "1e+16", "1.0e+16"},
		{123456789012345678.0, "1.2345678901234568e+17", "1.2345678901234568e+17"},
		{123456.789, "123456.789", "123456.789"},
		{float64(float32(0.1)), "0.10000000149011612", "0.10000000149011612"},
		{1e100, "1e+100", "1.0e+100"},
		{5e-324, "5e-324", "5.0e-324"},
		{math.NaN(), "NaN", ".nan"},
		{math.Inf(1), "Infinity", ".inf"},
		{math.Inf(-1), "-Infinity", "-.inf"},
	}
	for _, tt := range tests {
		if got := string(AppendFloat(nil, tt.in)); got != tt.json {
			t.Errorf("AppendFloat(%v) = %q, want %q", tt.in, got, tt.json)
		}
		if got := string(AppendYAMLFloat(nil, tt.in)); got != tt.yaml {
			t.Errorf("AppendYAMLFloat(%v) = %q, want %q", tt.in, got, tt.yaml)
		}
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"a\nb\tc\r\b\f", `"a\nb\tc\r\b\f"`},
		{"\x01", `"\u0001"`},
		{"\x7f", `"\u007f"`}, // json.dumps escapes DEL
		{"é", `"\u00e9"`},
		{"😀", `"\ud83d\ude00"`},
		{"sepal length (cm)", `"sepal length (cm)"`},
		{"\xff", `"\ufffd"`},
	}
	for _, tt := range tests {
		if got := string(AppendString(nil, tt.in)); got != tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
