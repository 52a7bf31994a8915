package scoring

import (
	"math"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/internal/jsonarrow"
	"github.com/mlship/mlship/internal/jsonscan"
	"github.com/mlship/mlship/mlmodel"
)

// csvFloatSeeds are cells of every shape the fast path takes or declines.
var csvFloatSeeds = []string{
	"0", "-0", "+0", "5.885940709131496", "3.6855737308246495", "1e5", "1E-5", "-2.5e+10", ".5", "5.",
	"-.5", "+.5e1", "007", "-007.250", "1e400", "-1e400", "1e-400", "4.9e-324", "1.7976931348623157e308",
	"9007199254740993", "123456789012345678901234567890", "0.1000000000000000055511151231257827",
	"", " 1", "1 ", "1_0", "0x1p3", "inf", "-inf", "Infinity", "nan", "NaN", "NA", "null", "True", "false",
	"1e", "1e+", ".", "-", "+-1", "--1", "1.2.3", "e5", "1,5", "١", "5.e3", ".e3",
}

// TestPlainDecimal: the cells the fast path takes.
func TestPlainDecimal(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"5.885940709131496", true}, {"-1", true}, {"+1", true}, {".5", true}, {"5.", true}, {"1e5", true},
		{"1E-05", true}, {"-0.0e+0", true}, {"007", true},
		{"", false}, {".", false}, {"-", false}, {"e5", false}, {"1e", false}, {"1e+", false}, {"--1", false},
		{"+-1", false}, {" 1", false}, {"1 ", false}, {"inf", false}, {"NaN", false}, {"1_0", false},
		{"0x10", false}, {"1.2.3", false}, {"True", false},
	} {
		if got := plainDecimal(c.s); got != c.want {
			t.Errorf("plainDecimal(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}

// FuzzCSVFloatCells is a differential test of the fast path against the
// general one and strconv: for any cell, a double or float column decodes
// to the same bits (or the same nullness, or an error both ways) whether
// the cell takes the fast path in DecodeCSVRecords or csvCell's way; and
// every plain decimal is a CSV number whose JSON token strconv.ParseFloat
// reads as the same value as the cell itself.
func FuzzCSVFloatCells(f *testing.F) {
	for _, s := range csvFloatSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if plainDecimal(v) {
			if !isCSVNumber(v) {
				t.Fatalf("plain decimal %q is not a CSV number", v)
			}
			direct, _ := strconv.ParseFloat(v, 64)
			viaJSON := jsonscan.Num{Raw: numberToken(v)}.Float()
			if math.Float64bits(direct) != math.Float64bits(viaJSON) {
				t.Fatalf("%q: ParseFloat %v, through its JSON token %q %v", v, direct, numberToken(v), viaJSON)
			}
		}
		for _, kind := range []mlmodel.Kind{mlmodel.Double, mlmodel.Float} {
			compareFloatCell(t, kind, v)
		}
	})
}

func compareFloatCell(t *testing.T, kind mlmodel.Kind, v string) {
	t.Helper()
	in, err := mlmodel.ParseSchema([]byte(`[{"name": "x", "type": "` + string(kind) + `"}]`))
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	d := &Decoder{Inputs: in, Mem: mem}
	// The cell between two plain ones: the fast path is on for the column.
	req, gotErr := d.DecodeCSVRecords([]string{"x"}, [][]string{{"1.5"}, {v}, {"2"}})

	ref := &scalarColumn{sink: jsonarrow.NewSink(mem, KindArrow(kind), string(kind))}
	defer ref.Release()
	refErr := csvCell(ref, v, false)
	if (gotErr != nil) != (refErr != nil) {
		t.Fatalf("%s cell %q: fast path error %v, general path error %v", kind, v, gotErr, refErr)
	}
	if refErr != nil {
		return
	}
	defer req.Release()
	want := ref.sink.Build()
	defer want.Release()
	got := req.Batch.Column(0)
	if got.Len() != 3 || got.DataType().ID() != want.DataType().ID() {
		t.Fatalf("%s cell %q: got %d values of %s, want 3 of %s", kind, v, got.Len(), got.DataType(), want.DataType())
	}
	if got.IsNull(1) != want.IsNull(0) {
		t.Fatalf("%s cell %q: null %v, general path null %v", kind, v, got.IsNull(1), want.IsNull(0))
	}
	g, w := floatBits(got, 1), floatBits(want, 0)
	if g != w && !(got.IsNull(1) && isNaNBits(got.DataType(), g) && isNaNBits(want.DataType(), w)) {
		t.Fatalf("%s cell %q: bits %x, general path %x", kind, v, g, w)
	}
	if floatBits(got, 0) != floatBits(wantOf(kind, 1.5), 0) {
		t.Fatalf("%s: the plain cell before %q decoded wrong", kind, v)
	}
}

func floatBits(a arrow.Array, i int) uint64 {
	switch a := a.(type) {
	case *array.Float64:
		return math.Float64bits(a.Value(i))
	case *array.Float32:
		return uint64(math.Float32bits(a.Value(i)))
	}
	panic("not a float array: " + a.DataType().String())
}

func isNaNBits(dt arrow.DataType, b uint64) bool {
	if dt.ID() == arrow.FLOAT32 {
		return math.IsNaN(float64(math.Float32frombits(uint32(b))))
	}
	return math.IsNaN(math.Float64frombits(b))
}

func wantOf(kind mlmodel.Kind, v float64) arrow.Array {
	if kind == mlmodel.Float {
		b := array.NewFloat32Builder(memory.DefaultAllocator)
		b.Append(float32(v))
		return b.NewArray()
	}
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	b.Append(v)
	return b.NewArray()
}
