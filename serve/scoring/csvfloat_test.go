package scoring

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
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
	"9007199254740993", "9007199254740992", "900719925474099.3", "123456789012345678901234567890",
	"1e22", "1e23", "3e-22", "3e-23", "0.000000000000000000000000123", "-0.0", "0e999999999", "1e-99999999999",
	"12345678901234567890e-10", "4.9406564584124654e-324", "2.2250738585072011e-308", "0.1", "0.3", "0.1000000000000000055511151231257827",
	"", " 1", "1 ", "1_0", "0x1p3", "inf", "-inf", "Infinity", "nan", "NaN", "NA", "null", "True", "false",
	"1e", "1e+", ".", "-", "+-1", "--1", "1.2.3", "e5", "1,5", "١", "5.e3", ".e3",
}

// TestParseDecimal: the cells the fast path takes, and their values.
func TestParseDecimal(t *testing.T) {
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
		f, ok := parseDecimal(c.s)
		if ok != c.want {
			t.Errorf("parseDecimal(%q) ok = %v, want %v", c.s, ok, c.want)
		}
		if want, _ := strconv.ParseFloat(c.s, 64); ok && math.Float64bits(f) != math.Float64bits(want) {
			t.Errorf("parseDecimal(%q) = %v, ParseFloat %v", c.s, f, want)
		}
	}
}

// FuzzCSVFloatCells is a differential test of the fast path against the
// general one and strconv: every cell parseDecimal takes is a CSV number,
// and parseDecimal, strconv.ParseFloat and ParseFloat of its JSON token
// give the same bits; and for any cell, a double or float column decodes
// to the same bits (or the same nullness, or an error both ways) in
// DecodeCSVRecords as through csvCell's way alone.
func FuzzCSVFloatCells(f *testing.F) {
	for _, s := range csvFloatSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if f, ok := parseDecimal(v); ok {
			if !isCSVNumber(v) {
				t.Fatalf("plain decimal %q is not a CSV number", v)
			}
			direct, _ := strconv.ParseFloat(v, 64)
			viaJSON := jsonscan.Num{Raw: numberToken(v)}.Float()
			if math.Float64bits(f) != math.Float64bits(direct) || math.Float64bits(direct) != math.Float64bits(viaJSON) {
				t.Fatalf("%q: parseDecimal %v, ParseFloat %v, through its JSON token %q %v", v, f, direct, numberToken(v), viaJSON)
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

// TestParseDecimalRandom: printed doubles of every magnitude and precision
// (as pandas, Go and numpy write them) parse to ParseFloat's bits.
func TestParseDecimalRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300000; n++ {
		var v float64
		switch n % 3 {
		case 0:
			v = rng.Float64() * 8
		case 1:
			v = math.Float64frombits(rng.Uint64())
		default:
			v = (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(60)-30))
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		prec := rng.IntN(20) - 1
		for _, s := range []string{
			strconv.FormatFloat(v, 'g', -1, 64), strconv.FormatFloat(v, 'e', prec, 64),
			strconv.FormatFloat(v, 'f', min(prec+3, 30), 64), strconv.FormatFloat(v, 'g', prec, 32),
		} {
			if strings.Contains(s, "Inf") {
				continue // a float32 out of range
			}
			f, ok := parseDecimal(s)
			want, _ := strconv.ParseFloat(s, 64)
			if !ok || math.Float64bits(f) != math.Float64bits(want) {
				t.Fatalf("parseDecimal(%q) = %v, %v; ParseFloat %v", s, f, ok, want)
			}
		}
	}
}
