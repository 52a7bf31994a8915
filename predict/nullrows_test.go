package predict

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/mlmodel"
)

// tensorer is a model with a column input signature (id long, x double)
// and tensor outputs, built as the flavors build them: probs, a [-1, 3]
// float32 tensor (a fixed-size list of non-nullable elements) holding
// x, 2x, 3x, and label, int64 x rounded down. A negative x is bad input.
type tensorer struct{}

func (tensorer) Predict(_ context.Context, in columnar.Batch, _ map[string]any) (columnar.Batch, error) {
	x := in.Column(in.Schema().FieldIndices("x")[0]).(*array.Float64)
	vals := array.NewFloat32Builder(memory.DefaultAllocator)
	defer vals.Release()
	labels := array.NewInt64Builder(memory.DefaultAllocator)
	defer labels.Release()
	for i := 0; i < x.Len(); i++ {
		v := x.Value(i)
		if v < 0 {
			return nil, flavors.BadInput("x must not be negative, got %g", v)
		}
		vals.AppendValues([]float32{float32(v), float32(2 * v), float32(3 * v)}, nil)
		labels.Append(int64(v))
	}
	flat := vals.NewArray()
	defer flat.Release()
	pf, probs, err := columnar.NewTensorColumn("probs", []int64{int64(x.Len()), 3}, flat, true)
	if err != nil {
		return nil, err
	}
	defer probs.Release()
	lab := labels.NewArray()
	defer lab.Release()
	schema := arrow.NewSchema([]arrow.Field{pf, {Name: "label", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{probs, lab}, int64(x.Len())), nil
}

func tensorerModel(t *testing.T) *mlmodel.Model {
	t.Helper()
	m := doublerModel(t)
	out, err := mlmodel.ParseSchema([]byte(`[{"name": "probs", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}, {"name": "label", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]`))
	if err != nil {
		t.Fatal(err)
	}
	m.Signature.Outputs = out
	return m
}

// TestNullTensorRows: with --on-error null a bad row's tensor prediction
// is a row of null elements, in the run's first batch (typed by the
// signature, before the model has answered) and later (typed by the
// model's answers), and every other row keeps its own values: Parquet
// once wrote the null elements as required values and shifted the rows
// after them.
func TestNullTensorRows(t *testing.T) {
	cases := map[string]map[int]bool{
		"first row bad":  {0: true, 40: true, 41: true, 199: true},
		"later rows bad": {40: true, 41: true, 199: true},
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) { nullTensorRows(t, bad) })
	}
}

func nullTensorRows(t *testing.T, bad map[int]bool) {
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("id,x\n")
	const n = 200
	for i := range n {
		x := float64(i) / 4
		if bad[i] {
			x = -1
		}
		fmt.Fprintf(&csv, "%d,%g\n", i, x)
	}
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"parquet", "arrow"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out."+format)
			sum := run(t, tensorer{}, tensorerModel(t), Options{Inputs: []string{in}, Output: out, BatchRows: 32, Parallelism: 3, OnError: OnErrorNull, KeepColumns: []string{"id"}})
			if sum.Bad != int64(len(bad)) {
				t.Errorf("summary counts %d bad rows, want %d", sum.Bad, len(bad))
			}
			var b columnar.Batch
			if format == "parquet" {
				b = readParquet(t, out)
			} else {
				b = readArrow(t, out)
			}
			defer b.Release()
			ids := int64s(t, b, "id")
			probs := b.Column(b.Schema().FieldIndices("probs")[0]).(*array.FixedSizeList)
			vals := probs.ListValues().(*array.Float32)
			label := b.Column(b.Schema().FieldIndices("label")[0]).(*array.Int64)
			if len(ids) != n {
				t.Fatalf("%d rows, want %d", len(ids), n)
			}
			for i := range n {
				if ids[i] != int64(i) || probs.IsNull(i) {
					t.Fatalf("row %d: id %d, null tensor row %v", i, ids[i], probs.IsNull(i))
				}
				start := (probs.Offset() + i) * 3
				for k := range 3 {
					j := start + k
					switch {
					case bad[i] && !vals.IsNull(j):
						t.Errorf("bad row %d: element %d is %g, want null", i, k, vals.Value(j))
					case !bad[i] && (vals.IsNull(j) || vals.Value(j) != float32(float64(k+1)*float64(i)/4)):
						t.Errorf("row %d: element %d is %v (null %v), want %g", i, k, vals.Value(j), vals.IsNull(j), float64(k+1)*float64(i)/4)
					}
				}
				if label.IsNull(i) != bad[i] || (!bad[i] && label.Value(i) != int64(i/4)) {
					t.Errorf("row %d: label %v (null %v)", i, label.Value(i), label.IsNull(i))
				}
			}
		})
	}
}

// TestJSONLinesBadRows: a JSON line that does not decode (a string, an
// object or a list where the signature wants a double) is a bad row like a
// CSV one, not the end of the run; a column nobody keeps may hold lists of
// several lengths; a key missing from every line still stops the run.
func TestJSONLinesBadRows(t *testing.T) {
	dir := t.TempDir()
	bad := map[int]string{3: `"x": "oops"`, 64: `"x": {"a": 1}`, 65: `"x": -1`, 130: `"x": [1]`}
	const n = 150
	var jsonl strings.Builder
	for i := range n {
		x, ok := bad[i]
		if !ok {
			x = fmt.Sprintf(`"x": %g`, float64(i)/4)
		}
		fmt.Fprintf(&jsonl, `{"id": %d, %s, "meta": [%s]}`+"\n", i, x, strings.Repeat("1, ", i%3)+"0")
	}
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(jsonl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []OnError{OnErrorSkip, OnErrorNull} {
		t.Run(string(mode), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.parquet")
			sum := run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{in}, Output: out, BatchRows: 64, Parallelism: 2, OnError: mode, KeepColumns: []string{"id"}})
			if sum.Bad != int64(len(bad)) {
				t.Errorf("summary counts %d bad rows, want %d", sum.Bad, len(bad))
			}
			b := readParquet(t, out)
			defer b.Release()
			ids, ys := int64s(t, b, "id"), float64s(t, b, "y")
			var k int
			for i := range n {
				_, isBad := bad[i]
				if isBad && mode == OnErrorSkip {
					continue
				}
				if k >= len(ids) {
					t.Fatalf("%d rows written, want more", len(ids))
				}
				want := float64(i) / 2
				if isBad {
					want = -1 // null
				}
				if ids[k] != int64(i) || ys[k] != want {
					t.Errorf("output row %d: id %d y %g, want id %d y %g", k, ids[k], ys[k], i, want)
				}
				k++
			}
			if k != len(ids) {
				t.Errorf("%d rows written, want %d", len(ids), k)
			}
		})
	}

	// A whole batch of lines without x between good ones is 64 bad rows,
	// not the end of the run: how batches split must not decide it.
	var gap strings.Builder
	for i := range 3 * 64 {
		if i >= 64 && i < 128 {
			fmt.Fprintf(&gap, `{"id": %d, "z": 1}`+"\n", i)
			continue
		}
		fmt.Fprintf(&gap, `{"id": %d, "x": %d}`+"\n", i, i)
	}
	gapIn := filepath.Join(dir, "gap.jsonl")
	if err := os.WriteFile(gapIn, []byte(gap.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []OnError{OnErrorSkip, OnErrorNull} {
		out := filepath.Join(t.TempDir(), "gap.parquet")
		sum := run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{gapIn}, Output: out, BatchRows: 64, Parallelism: 2, OnError: mode, KeepColumns: []string{"id"}})
		if sum.Bad != 64 {
			t.Errorf("%s: a batch of lines without x: %d bad rows, want 64", mode, sum.Bad)
		}
		b := readParquet(t, out)
		ids, ys := int64s(t, b, "id"), float64s(t, b, "y")
		want := 3 * 64
		if mode == OnErrorSkip {
			want = 2 * 64
		}
		if len(ids) != want {
			t.Errorf("%s: %d rows written, want %d", mode, len(ids), want)
		}
		for k, id := range ids {
			wantY := 2 * float64(id)
			if id >= 64 && id < 128 {
				wantY = -1 // null
			}
			if ys[k] != wantY {
				t.Errorf("%s: row %d (id %d): y %g, want %g", mode, k, id, ys[k], wantY)
				break
			}
		}
		b.Release()
	}
	_, err := tryRun(t, &doubler{}, doublerModel(t), Options{Inputs: []string{gapIn}, Output: filepath.Join(dir, "gap-fail.parquet"), BatchRows: 64, OnError: OnErrorFail})
	if err == nil || !strings.Contains(err.Error(), "line 65") || !strings.Contains(err.Error(), "missing inputs") {
		t.Errorf("--on-error fail: err = %v, want the missing input located at line 65", err)
	}

	none := filepath.Join(dir, "none.jsonl")
	if err := os.WriteFile(none, []byte("{\"id\": 1}\n{\"id\": 2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []OnError{OnErrorSkip, OnErrorNull} {
		out := filepath.Join(dir, "none.parquet")
		_, err = tryRun(t, &doubler{}, doublerModel(t), Options{Inputs: []string{none}, Output: out, BatchRows: 1, OnError: mode})
		if err == nil || !strings.Contains(err.Error(), "no row could be scored; the first bad one: "+none) || !strings.Contains(err.Error(), "line 1") || !strings.Contains(err.Error(), "missing inputs") {
			t.Errorf("%s: no line has x: err = %v, want the run to stop naming line 1's missing input", mode, err)
		}
		if _, statErr := os.Stat(out); statErr == nil {
			t.Errorf("%s: the failed run left %s", mode, out)
		}
	}
}
