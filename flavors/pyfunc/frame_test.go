package pyfunc_test

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/testenv"
)

// probeColumn is one input column for the frame probe: values (NaN for a
// null) of an Arrow type.
type probeColumn struct {
	name string
	typ  arrow.DataType
	vals []float64
	null []bool
}

func probeBatch(t *testing.T, cols []probeColumn) columnar.Batch {
	t.Helper()
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	for j, c := range cols {
		b := array.NewBuilder(memory.DefaultAllocator, c.typ)
		for i, v := range c.vals {
			if c.null != nil && c.null[i] {
				b.AppendNull()
				continue
			}
			switch b := b.(type) {
			case *array.Float64Builder:
				b.Append(v)
			case *array.Float32Builder:
				b.Append(float32(v))
			case *array.Int64Builder:
				b.Append(int64(v))
			default:
				t.Fatalf("probe column type %s", c.typ)
			}
		}
		fields[j] = arrow.Field{Name: c.name, Type: c.typ, Nullable: true}
		arrs[j] = b.NewArray()
		b.Release()
	}
	md := arrow.NewMetadata([]string{"mlship.form"}, []string{"dataframe"})
	return array.NewRecordBatch(arrow.NewSchema(fields, &md), arrs, int64(len(cols[0].vals)))
}

// TestFrameLayouts: whatever way the worker builds the DataFrame — one
// block over the request's own bytes when every column is a plain number
// column of one dtype, column by column otherwise — the model sees the
// same columns, in order, with their values, labels and dtypes.
func TestFrameLayouts(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "flavors", "pyfunc", "testdata", "frame_probe")
	_, p := load(t, dir, options(t, 1))
	f64, f32, i64 := arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Int64
	abc := []float64{1.5, -2, 3.25}
	for _, c := range []struct {
		name   string
		cols   []probeColumn
		slice  [2]int64 // rows [from, to) of the batch, when set
		names  string
		dtypes string
	}{
		{name: "4 doubles (one block)", cols: []probeColumn{{"a", f64, abc, nil}, {"b", f64, []float64{4, 5, 6}, nil}, {"c", f64, []float64{7, 8, 9}, nil}, {"d", f64, []float64{0.5, 0, 1e300}, nil}},
			names: "a|b|c|d", dtypes: "float64|float64|float64|float64"},
		{name: "one double", cols: []probeColumn{{"x", f64, abc, nil}}, names: "x", dtypes: "float64"},
		{name: "float32 (one block)", cols: []probeColumn{{"a", f32, abc, nil}, {"b", f32, []float64{1, 2, 3}, nil}}, names: "a|b", dtypes: "float32|float32"},
		{name: "mixed dtypes", cols: []probeColumn{{"a", f64, abc, nil}, {"n", i64, []float64{1, 2, 3}, nil}, {"b", f64, []float64{4, 5, 6}, nil}},
			names: "a|n|b", dtypes: "float64|int64|float64"},
		{name: "a null", cols: []probeColumn{{"a", f64, abc, nil}, {"b", f64, []float64{4, 5, 6}, []bool{false, true, false}}},
			names: "a|b", dtypes: "float64|float64"},
		{name: "unnamed columns", cols: []probeColumn{{"0", f64, abc, nil}, {"1", f64, []float64{4, 5, 6}, nil}}, names: "0|1", dtypes: "float64|float64"},
		{name: "a slice", cols: []probeColumn{{"a", f64, []float64{9, 1.5, -2, 3.25, 9}, nil}, {"b", f64, []float64{9, 4, 5, 6, 9}, nil}},
			slice: [2]int64{1, 4}, names: "a|b", dtypes: "float64|float64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := probeBatch(t, c.cols)
			defer in.Release()
			from := int64(0)
			if c.slice != [2]int64{} {
				s := in.NewSlice(c.slice[0], c.slice[1])
				defer s.Release()
				in, from = s, c.slice[0]
			}
			out, err := p.Predict(context.Background(), in, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release()
			if out.NumRows() != in.NumRows() {
				t.Fatalf("%d rows back for %d", out.NumRows(), in.NumRows())
			}
			idx := map[string]int{}
			for i, f := range out.Schema().Fields() {
				idx[f.Name] = i
			}
			weighted := out.Column(idx["weighted"]).(*array.Float64)
			names := out.Column(idx["names"]).(*array.String)
			dtypes := out.Column(idx["dtypes"]).(*array.String)
			for r := 0; r < int(out.NumRows()); r++ {
				want := 0.0
				for j, col := range c.cols {
					v := col.vals[from+int64(r)]
					if col.null != nil && col.null[from+int64(r)] {
						v = math.NaN()
					}
					if col.typ == f32 {
						v = float64(float32(v))
					}
					want += float64(j+1) * v
				}
				got := weighted.Value(r)
				if !(got == want || (math.IsNaN(got) && math.IsNaN(want))) {
					t.Errorf("row %d: weighted sum %v, want %v", r, got, want)
				}
				if names.Value(r) != c.names || dtypes.Value(r) != c.dtypes {
					t.Errorf("row %d: columns %q of %q, want %q of %q", r, names.Value(r), dtypes.Value(r), c.names, c.dtypes)
				}
			}
		})
	}
}

// TestBlockFrameIsAView runs the worker's frame building in Python on a
// request laid out as mlship sends it: the DataFrame, and the array
// DataFrame.to_numpy() gives scikit-learn, share the request's memory
// (no copy), and a layout that does not qualify is built the other way.
func TestBlockFrameIsAView(t *testing.T) {
	py := testenv.Python(t)
	script := filepath.Join(testenv.RepoRoot(t), "flavors", "pyfunc", "worker", "mlship_worker.py")
	prog := fmt.Sprintf(`
import importlib.util, json, struct
import numpy as np, pandas as pd
spec = importlib.util.spec_from_file_location("w", %q)
w = importlib.util.module_from_spec(spec); spec.loader.exec_module(w)
rows = 5
cols = [np.arange(rows, dtype="<f8") + 10 * k for k in range(3)]
def request(dtypes):
    metas, body = [], b""
    for k, c in enumerate(cols):
        a = c.astype(dtypes[k])
        metas.append({"name": "c%%d" %% k, "kind": "num", "dtype": a.dtype.str, "shape": [rows], "buffers": [a.nbytes]})
        body += a.tobytes() + b"\0" * (w._align(a.nbytes) - a.nbytes)
    meta = {"form": "dataframe", "rows": rows, "columns": metas}
    js = json.dumps(meta).encode()
    head = struct.pack("<I", len(js)) + js
    pad = b"\0" * (w._align(len(head)) - len(head))
    payload = bytearray(head + pad + body)
    return meta, payload, 4 + len(js)
meta, payload, off = request(["<f8"] * 3)
df = w.decode_input(meta, payload, off, np, pd)
raw = np.frombuffer(payload, dtype=np.uint8)
assert list(df.columns) == ["c0", "c1", "c2"], df.columns
assert (df.to_numpy() == np.column_stack(cols)).all()
assert np.shares_memory(df.to_numpy(), raw), "the frame copied the request"
assert np.shares_memory(df["c1"].to_numpy(), raw)
meta, payload, off = request(["<f8", "<i8", "<f8"])
df = w.decode_input(meta, payload, off, np, pd)
assert list(df.dtypes.astype(str)) == ["float64", "int64", "float64"], df.dtypes
assert (df.to_numpy() == np.column_stack(cols)).all()
print("ok")
`, script)
	out, err := exec.Command(py, "-c", prog).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("%v\n%s", err, out)
	}
}
