package jsonarrow

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/internal/jsonscan"
)

// TestSinks: every typed sink keeps exactly the values its type can hold
// and names the first one it cannot.
func TestSinks(t *testing.T) {
	cases := []struct {
		name, json string
		dt         arrow.DataType
		want       string // the built array's String(), when no error
		err        string
	}{
		{"uint64 max", `[0, 18446744073709551615]`, arrow.PrimitiveTypes.Uint64, "[0 18446744073709551615]", ""},
		{"uint64 overflow", `[18446744073709551616]`, arrow.PrimitiveTypes.Uint64, "", "does not fit uint64"},
		{"uint64 negative", `[-1]`, arrow.PrimitiveTypes.Uint64, "", "does not fit uint64"},
		{"uint64 integral float", `[2.0]`, arrow.PrimitiveTypes.Uint64, "[2]", ""},
		{"uint64 fraction", `[2.5]`, arrow.PrimitiveTypes.Uint64, "", "would lose data"},
		{"int64 min", `[-9223372036854775808]`, arrow.PrimitiveTypes.Int64, "[-9223372036854775808]", ""},
		{"int64 below min", `[-9223372036854775809]`, arrow.PrimitiveTypes.Int64, "", "does not fit int64"},
		{"int8 overflow", `[127, 128]`, arrow.PrimitiveTypes.Int8, "", "128 does not fit int8"},
		{"int null", `[1, null]`, arrow.PrimitiveTypes.Int32, "", "missing value"},
		{"int from string", `["1"]`, arrow.PrimitiveTypes.Int32, "", "a string"},
		{"float null", `[1.5, null]`, arrow.PrimitiveTypes.Float64, "[1.5 (null)]", ""},
		{"bool", `[true, false]`, arrow.FixedWidthTypes.Boolean, "[true false]", ""},
		{"bool from number", `[1]`, arrow.FixedWidthTypes.Boolean, "", "the number 1"},
		{"string", `["a", null]`, arrow.BinaryTypes.String, `["a" (null)]`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := strings.ToLower(c.dt.String())
			s := NewSink(memory.DefaultAllocator, c.dt, name)
			defer s.Release()
			_, err := ParseNested(jsonscan.New([]byte(c.json)), s)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error = %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			arr := s.Build()
			defer arr.Release()
			if got := arr.String(); got != c.want {
				t.Fatalf("built %s, want %s", got, c.want)
			}
		})
	}
}
