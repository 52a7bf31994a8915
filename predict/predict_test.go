package predict

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/serve/scoring"
)

// TestRoundTripFormats scores the same rows from every input format into
// every output format and reads the predictions back.
func TestRoundTripFormats(t *testing.T) {
	dir := t.TempDir()
	const n = 2500
	b := table(t, 0, n)
	defer b.Release()
	writeParquet(t, filepath.Join(dir, "in.parquet"), 600, b)
	writeArrow(t, filepath.Join(dir, "in.arrow"), true, b)
	writeArrow(t, filepath.Join(dir, "in.arrows"), false, b)
	var csv, jsonl strings.Builder
	csv.WriteString("id,x\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&csv, "%d,%g\n", i, float64(i)/4)
		fmt.Fprintf(&jsonl, "{\"id\": %d, \"x\": %g}\n", i, float64(i)/4)
	}
	os.WriteFile(filepath.Join(dir, "in.csv"), []byte(csv.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte(jsonl.String()), 0o644)
	split := `{"dataframe_split": {"columns": ["id", "x"], "data": [`
	for i := 0; i < n; i++ {
		if i > 0 {
			split += ", "
		}
		split += fmt.Sprintf("[%d, %g]", i, float64(i)/4)
	}
	os.WriteFile(filepath.Join(dir, "in.json"), []byte(split+"]}}"), 0o644)

	inputs := []string{"in.parquet", "in.arrow", "in.arrows", "in.csv", "in.jsonl", "in.json"}
	outputs := []string{"parquet", "arrow", "arrows", "csv", "jsonl", "json"}
	for _, in := range inputs {
		for _, out := range outputs {
			t.Run(in+"->"+out, func(t *testing.T) {
				target := filepath.Join(t.TempDir(), "out."+out)
				keep := []string{"id"}
				if out == "json" {
					keep = nil // MLflow's response has no pass-through
				}
				sum := run(t, &doubler{}, doublerModel(t), Options{
					Inputs: []string{filepath.Join(dir, in)}, Output: target,
					BatchRows: 700, Parallelism: 3, KeepColumns: keep,
				})
				if sum.Rows != n {
					t.Errorf("summary says %d rows, want %d", sum.Rows, n)
				}
				ids, ys := readBack(t, target, out)
				for i := 0; i < n; i++ {
					if ids != nil && ids[i] != int64(i) {
						t.Fatalf("row %d: id %d (order lost)", i, ids[i])
					}
					if ys[i] != float64(i)/2 {
						t.Fatalf("row %d: prediction %g, want %g", i, ys[i], float64(i)/2)
					}
				}
			})
		}
	}
}

// readBack returns the id column (nil for MLflow JSON) and the
// predictions of an output file.
func readBack(t *testing.T, path, format string) ([]int64, []float64) {
	t.Helper()
	switch format {
	case "parquet":
		b := readParquet(t, path)
		defer b.Release()
		return slices.Clone(int64s(t, b, "id")), float64s(t, b, "y")
	case "arrow", "arrows":
		b := readArrow(t, path)
		defer b.Release()
		return slices.Clone(int64s(t, b, "id")), float64s(t, b, "y")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	var ys []float64
	switch format {
	case "csv":
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if lines[0] != "id,y" {
			t.Fatalf("CSV header %q, want id,y", lines[0])
		}
		for _, l := range lines[1:] {
			var id int64
			var y float64
			if _, err := fmt.Sscanf(l, "%d,%g", &id, &y); err != nil {
				t.Fatalf("CSV line %q: %v", l, err)
			}
			ids, ys = append(ids, id), append(ys, y)
		}
	case "jsonl":
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var rec struct {
				ID int64   `json:"id"`
				Y  float64 `json:"y"`
			}
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("JSON line %q: %v", l, err)
			}
			ids, ys = append(ids, rec.ID), append(ys, rec.Y)
		}
	case "json":
		var resp struct {
			Predictions []map[string]float64 `json:"predictions"`
		}
		if err := json.Unmarshal(data, &resp); err != nil {
			t.Fatalf("MLflow JSON output %.200s: %v", data, err)
		}
		for _, p := range resp.Predictions {
			ys = append(ys, p["y"])
		}
		return nil, ys
	}
	return ids, ys
}

// TestOrderUnderParallelism: batches finish out of order, the output does
// not.
func TestOrderUnderParallelism(t *testing.T) {
	dir := t.TempDir()
	var parts []columnar.Batch
	for i := 0; i < 20; i++ {
		parts = append(parts, table(t, i*97, 97))
	}
	writeArrow(t, filepath.Join(dir, "in.arrows"), false, parts...)
	for _, p := range parts {
		p.Release()
	}
	d := &doubler{jitter: 5 * time.Millisecond}
	out := filepath.Join(dir, "out.parquet")
	run(t, d, doublerModel(t), Options{Inputs: []string{filepath.Join(dir, "in.arrows")}, Output: out, BatchRows: 13, Parallelism: 8, KeepColumns: []string{"id"}})
	b := readParquet(t, out)
	defer b.Release()
	ids := int64s(t, b, "id")
	if len(ids) != 20*97 {
		t.Fatalf("%d rows, want %d", len(ids), 20*97)
	}
	for i, id := range ids {
		if id != int64(i) {
			t.Fatalf("row %d has id %d: order not preserved", i, id)
		}
	}
	if c := d.calls.Load(); c < 150 {
		t.Errorf("%d model calls; with 13-row batches there should be at least 150", c)
	}
}

// TestShardUnion: n sharded runs cover the input exactly once.
func TestShardUnion(t *testing.T) {
	in := t.TempDir()
	total := 0
	for f := 0; f < 3; f++ {
		rows := 1000 + 250*f
		b := table(t, total, rows)
		writeParquet(t, filepath.Join(in, fmt.Sprintf("part-%d.parquet", f)), 300, b)
		b.Release()
		total += rows
	}
	// A CSV file takes part too: whole files are units.
	var csv strings.Builder
	csv.WriteString("id,x\n")
	for i := total; i < total+50; i++ {
		fmt.Fprintf(&csv, "%d,%g\n", i, float64(i)/4)
	}
	os.WriteFile(filepath.Join(in, "extra.csv"), []byte(csv.String()), 0o644)
	total += 50
	os.WriteFile(filepath.Join(in, "_SUCCESS"), nil, 0o644)

	for _, n := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			out := t.TempDir()
			seen := map[int64]int{}
			for i := 0; i < n; i++ {
				run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{in}, Output: out + "/", OutputFormat: Parquet, BatchRows: 128, Shard: Shard{Index: i, Count: n}, KeepColumns: []string{"id"}})
			}
			files, _ := filepath.Glob(filepath.Join(out, "*.parquet"))
			if n > 1 && len(files) < 4 {
				t.Errorf("%d output files for 4 inputs over %d shards", len(files), n)
			}
			for _, f := range files {
				b := readParquet(t, f)
				ids, ys := int64s(t, b, "id"), float64s(t, b, "y")
				for k, id := range ids {
					seen[id]++
					if ys[k] != float64(id)/2 {
						t.Errorf("%s: id %d predicted %g", f, id, ys[k])
					}
				}
				b.Release()
			}
			if len(seen) != total {
				t.Errorf("%d distinct rows scored, want %d", len(seen), total)
			}
			for id, c := range seen {
				if c != 1 {
					t.Errorf("row %d scored %d times", id, c)
				}
			}
		})
	}
}

// TestInterruptedRunLeavesNoOutput: cancelling mid-run removes the
// unfinished file; a run that fails does too.
func TestInterruptedRunLeavesNoOutput(t *testing.T) {
	dir := t.TempDir()
	b := table(t, 0, 5000)
	writeParquet(t, filepath.Join(dir, "in.parquet"), 1000, b)
	b.Release()
	out := filepath.Join(dir, "out.parquet")
	ctx, cancel := context.WithCancel(context.Background())
	d := &doubler{block: true}
	go func() {
		for d.calls.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := Run(ctx, d, doublerModel(t), Options{Inputs: []string{filepath.Join(dir, "in.parquet")}, Output: out, BatchRows: 100, Parallelism: 2, Quiet: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an interrupted run left %s (stat: %v)", out, err)
	}
	noTemps(t, dir)

	bad := 300.0 / 4 // row 300 makes the runtime fail (not a data error)
	_, err = tryRun(t, &doubler{badAt: &bad}, doublerModel(t), Options{Inputs: []string{filepath.Join(dir, "in.parquet")}, Output: out, BatchRows: 100, OnError: OnErrorSkip})
	if err == nil || !strings.Contains(err.Error(), "the runtime failed") {
		t.Fatalf("err = %v, want the runtime's failure (never skipped)", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed run left %s", out)
	}
	noTemps(t, dir)
}

// TestBadRows: the default stops at the first bad row with its place; skip
// and null isolate exactly the bad rows, whether they fail to parse or
// the model rejects them.
func TestBadRows(t *testing.T) {
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("id,x\n")
	badParse := map[int]bool{17: true, 1234: true}
	badModel := map[int]bool{5: true, 6: true, 999: true, 2999: true}
	const n = 3000
	for i := 0; i < n; i++ {
		switch {
		case badParse[i]:
			fmt.Fprintf(&csv, "%d,not-a-number\n", i)
		case badModel[i]:
			fmt.Fprintf(&csv, "%d,-1\n", i)
		default:
			fmt.Fprintf(&csv, "%d,%g\n", i, float64(i)/4)
		}
	}
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte(csv.String()), 0o644)

	_, err := tryRun(t, &doubler{}, doublerModel(t), Options{Inputs: []string{in}, Output: filepath.Join(dir, "fail.parquet"), BatchRows: 500})
	if err == nil {
		t.Fatal("no error for bad rows with --on-error fail")
	}
	// The first bad row is id 5 (model) in the first chunk: row 6, line 7.
	for _, want := range []string{"in.csv", "row 6 (line 7)", "x must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "fail.parquet")); err == nil {
		t.Error("a failed run left its output")
	}

	// A parse error is found as precisely.
	os.WriteFile(filepath.Join(dir, "parse.csv"), []byte("id,x\n1,0.5\n2,oops\n"), 0o644)
	_, err = tryRun(t, &doubler{}, doublerModel(t), Options{Inputs: []string{filepath.Join(dir, "parse.csv")}, Output: filepath.Join(dir, "p.csv")})
	if err == nil || !strings.Contains(err.Error(), "row 2 (line 3)") || !strings.Contains(err.Error(), "column x") {
		t.Errorf("parse error = %v, want row 2 (line 3) and the column", err)
	}

	for _, mode := range []OnError{OnErrorSkip, OnErrorNull} {
		t.Run(string(mode), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.parquet")
			sum := run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{in}, Output: out, BatchRows: 500, Parallelism: 3, OnError: mode, KeepColumns: []string{"id"}})
			if sum.Bad != 6 {
				t.Errorf("summary counts %d bad rows, want 6", sum.Bad)
			}
			if !strings.Contains(sum.String(), "6 bad rows") {
				t.Errorf("summary line %q does not count the bad rows", sum.String())
			}
			b := readParquet(t, out)
			defer b.Release()
			ids, ys := int64s(t, b, "id"), float64s(t, b, "y")
			want := n
			if mode == OnErrorSkip {
				want -= 6
			}
			if len(ids) != want {
				t.Fatalf("%d rows written, want %d", len(ids), want)
			}
			prev := int64(-1)
			for k, id := range ids {
				if id <= prev {
					t.Fatalf("ids out of order at %d", k)
				}
				prev = id
				bad := badParse[int(id)] || badModel[int(id)]
				switch {
				case bad && mode == OnErrorSkip:
					t.Errorf("bad row %d was written", id)
				case bad && ys[k] != -1:
					t.Errorf("bad row %d has prediction %g, want null", id, ys[k])
				case !bad && ys[k] != float64(id)/2:
					t.Errorf("row %d has prediction %g, want %g", id, ys[k], float64(id)/2)
				}
			}
		})
	}
}

// TestMalformedInputs: broken files name the file and the place.
func TestMalformedInputs(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content string
		want          []string
	}{
		{"stray-quote.csv", "id,x\n1,0.5\n2,\"0.5\n", []string{"stray-quote.csv", "line 3"}},
		{"too-many-fields.csv", "id,x\n1,0.5\n2,0.5,9\n", []string{"line 3", "expected 2 fields, saw 3"}},
		{"missing-column.csv", "id,z\n1,0.5\n", []string{"missing-column.csv", "missing inputs ['x']"}},
		{"empty.csv", "", []string{"empty.csv", "header"}},
		{"not-json.jsonl", "{\"id\": 1, \"x\": 1}\n{\"id\": 2, \"x\":\n", []string{"not-json.jsonl", "line 2", "not valid JSON"}},
		{"array.jsonl", "[1, 2]\n", []string{"line 1", "not a JSON object"}},
		{"bad.json", "{\"dataframe_split\": ", []string{"bad.json", "Invalid"}},
		{"truncated.parquet", "PAR1garbage", []string{"truncated.parquet", "Parquet"}},
		{"garbage.arrow", "this is not arrow", []string{"garbage.arrow", "Arrow IPC"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := filepath.Join(dir, c.name)
			os.WriteFile(in, []byte(c.content), 0o644)
			out := filepath.Join(dir, c.name+".out.parquet")
			_, err := tryRun(t, &doubler{}, doublerModel(t), Options{Inputs: []string{in}, Output: out})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("a failed run left its output")
			}
		})
	}
	noTemps(t, dir)
}

// TestDirectoryAndGlob: a directory output gets one file per input, named
// after it; a glob picks the inputs.
func TestDirectoryAndGlob(t *testing.T) {
	in := t.TempDir()
	for i := 0; i < 3; i++ {
		b := table(t, i*10, 10)
		writeParquet(t, filepath.Join(in, fmt.Sprintf("p%d.parquet", i)), 5, b)
		b.Release()
	}
	os.WriteFile(filepath.Join(in, "notes.txt"), []byte("not data"), 0o644)
	out := filepath.Join(t.TempDir(), "scored") + "/"
	sum := run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{filepath.Join(in, "p*.parquet")}, Output: out, OutputFormat: CSV, KeepColumns: []string{"id"}})
	if sum.Inputs != 3 || sum.Rows != 30 {
		t.Errorf("summary %+v, want 3 inputs and 30 rows", sum)
	}
	for i := 0; i < 3; i++ {
		data, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("p%d.csv", i)))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) != 11 || lines[1] != fmt.Sprintf("%d,%.1f", i*10, float64(i*10)/2) {
			t.Errorf("p%d.csv = %q", i, data)
		}
	}
	if _, err := tryRun(t, &doubler{}, doublerModel(t), Options{Inputs: []string{filepath.Join(in, "nothing*.csv")}, Output: "-"}); err == nil || !strings.Contains(err.Error(), "no input file matches") {
		t.Errorf("unmatched glob: %v", err)
	}
	if _, err := tryRun(t, &doubler{}, doublerModel(t), Options{Inputs: []string{filepath.Join(in, "p0.parquet")}, Output: filepath.Join(in, "p0.parquet")}); err == nil || !strings.Contains(err.Error(), "also an input") {
		t.Errorf("output over its input: %v", err)
	}
}

// TestStdinStdout: "-" both ways, as a Spark pipe uses it.
func TestStdinStdout(t *testing.T) {
	dir := t.TempDir()
	b := table(t, 0, 300)
	writeArrow(t, filepath.Join(dir, "in.arrows"), false, b)
	b.Release()
	f, err := os.Open(filepath.Join(dir, "in.arrows"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	outPath := filepath.Join(dir, "stdout.arrows")
	stdout, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{"-"}, InputFormat: Arrow, Output: "-", Stdin: f, Stdout: stdout, BatchRows: 64, KeepAll: true})
	stdout.Close()
	out := readArrow(t, outPath)
	defer out.Release()
	if got := out.Schema().Field(0).Name + "," + out.Schema().Field(1).Name + "," + out.Schema().Field(2).Name; got != "id,x,y" {
		t.Errorf("columns %s, want id,x,y", got)
	}
	ys := float64s(t, out, "y")
	if len(ys) != 300 || ys[299] != 299.0/2 {
		t.Errorf("%d predictions, last %v", len(ys), ys[len(ys)-1])
	}
}

// TestEmptyInput: no rows gives a valid, empty output.
func TestEmptyInput(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "in.csv"), []byte("id,x\n"), 0o644)
	out := filepath.Join(dir, "out.parquet")
	sum := run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{filepath.Join(dir, "in.csv")}, Output: out})
	if sum.Rows != 0 {
		t.Errorf("%d rows", sum.Rows)
	}
	b := readParquet(t, out)
	defer b.Release()
	if b.NumRows() != 0 || b.Schema().NumFields() != 1 || b.Schema().Field(0).Name != "y" {
		t.Errorf("empty output is %s with %d rows, want the signature's y and no rows", b.Schema(), b.NumRows())
	}
}

// TestParquetProjection: only the signature's and the kept columns are
// read, found by name even behind nested (list) columns.
func TestParquetProjection(t *testing.T) {
	dir := t.TempDir()
	base := table(t, 0, 50)
	defer base.Release()
	lb := array.NewFixedSizeListBuilder(memory.DefaultAllocator, 3, arrow.PrimitiveTypes.Float32)
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	for i := 0; i < 50; i++ {
		lb.Append(true)
		for k := 0; k < 3; k++ {
			lb.ValueBuilder().(*array.Float32Builder).Append(float32(i + k))
		}
		sb.Append(fmt.Sprintf("name-%d", i))
	}
	emb, names := lb.NewArray(), sb.NewArray()
	defer emb.Release()
	defer names.Release()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "emb", Type: emb.DataType()}, {Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "name", Type: arrow.BinaryTypes.String}, {Name: "id", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	b := array.NewRecordBatch(schema, []arrow.Array{emb, base.Column(1), names, base.Column(0)}, 50)
	defer b.Release()
	in := filepath.Join(dir, "in.parquet")
	writeParquet(t, in, 20, b)
	out := filepath.Join(dir, "out.parquet")
	run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{in}, Output: out, KeepColumns: []string{"name"}, BatchRows: 16})
	got := readParquet(t, out)
	defer got.Release()
	if got.Schema().NumFields() != 2 || got.Schema().Field(0).Name != "name" || got.Schema().Field(1).Name != "y" {
		t.Fatalf("output schema %s, want name, y", got.Schema())
	}
	if s := got.Column(0).(*array.String).Value(49); s != "name-49" {
		t.Errorf("last name %q", s)
	}
	if ys := float64s(t, got, "y"); ys[49] != 49.0/2 {
		t.Errorf("last prediction %g", ys[49])
	}
	// The leaves read: x (1), name (2), id (3) — not emb's list leaf (0).
	pf, err := file.OpenParquetFile(in, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	m := doublerModel(t)
	r := &runner{opts: &Options{KeepColumns: []string{"name"}}, dec: &scoring.Decoder{Inputs: m.Signature.Inputs}}
	if cols := r.columnsToRead(pf); fmt.Sprint(cols) != "[1 2 3]" {
		t.Errorf("leaf columns read %v, want [1 2 3]", cols)
	}
}
