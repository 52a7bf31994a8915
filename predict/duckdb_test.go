package predict

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve/scoring"
)

// These tests read predict's outputs back with DuckDB, a Parquet and CSV
// implementation that shares no code with arrow-go, which writes them.
// Values come back in @duckdb/node-api's JSON forms (testenv.DuckDBResult):
// BIGINT as a decimal string, DOUBLE and FLOAT as float64, NULL as nil.

var mixedNames = []string{"", "naïve café", "日本語テキスト", "emoji 🚀✨", `comma, "quoted"`, "line\nbreak", "tab\there"}

// mixedTable is n rows the doubler scores (id, x = id/4) with
// pass-through columns of other types, nulls among them: name (unicode,
// empty strings, nulls), flag (bool), count (int64 beyond 2^53, so
// exactness shows) and score (float64 with NaN and infinities). want is
// every row of the scored output as DuckDB returns it.
func mixedTable(t *testing.T, n int) (b columnar.Batch, want []map[string]any) {
	t.Helper()
	mem := memory.DefaultAllocator
	ids, xs := array.NewInt64Builder(mem), array.NewFloat64Builder(mem)
	names, flags := array.NewStringBuilder(mem), array.NewBooleanBuilder(mem)
	counts, scores := array.NewInt64Builder(mem), array.NewFloat64Builder(mem)
	for i := range n {
		x := float64(i) / 4
		row := map[string]any{"id": strconv.Itoa(i), "x": x, "y": 2 * x}
		ids.Append(int64(i))
		xs.Append(x)
		if i%9 == 8 {
			names.AppendNull()
			row["name"] = nil
		} else {
			s := mixedNames[i%len(mixedNames)]
			names.Append(s)
			row["name"] = s
		}
		if i%3 == 2 {
			flags.AppendNull()
			row["flag"] = nil
		} else {
			flags.Append(i%2 == 0)
			row["flag"] = i%2 == 0
		}
		if i%5 == 4 {
			counts.AppendNull()
			row["count"] = nil
		} else {
			c := int64(1)<<53 + int64(i)
			counts.Append(c)
			row["count"] = strconv.FormatInt(c, 10)
		}
		switch i % 11 {
		case 10:
			scores.AppendNull()
			row["score"] = nil
		case 3:
			scores.Append(math.NaN())
			row["score"] = "NaN"
		case 5:
			scores.Append(math.Inf(1))
			row["score"] = "Infinity"
		case 7:
			scores.Append(math.Inf(-1))
			row["score"] = "-Infinity"
		default:
			s := 1 / float64(i+1)
			scores.Append(s)
			row["score"] = s
		}
		want = append(want, row)
	}
	var cols []arrow.Array
	for _, bld := range []array.Builder{ids, xs, names, flags, counts, scores} {
		cols = append(cols, bld.NewArray())
		bld.Release()
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "flag", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "count", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	return array.NewRecordBatch(schema, cols, int64(n)), want
}

// ordered reads a Parquet file with DuckDB, in file order, checking that
// file_row_number counts up from 0, and returns the rows without it.
func ordered(t *testing.T, db *testenv.DuckDB, path, columns string) testenv.DuckDBResult {
	t.Helper()
	if columns == "*" {
		columns = "* EXCLUDE (file_row_number)"
	}
	res := db.Query(t, "SELECT "+columns+", file_row_number FROM read_parquet("+testenv.SQLString(path)+", file_row_number = true) ORDER BY file_row_number")
	for i, row := range res.Rows {
		if row["file_row_number"] != strconv.Itoa(i) {
			t.Fatalf("row %d has file_row_number %v", i, row["file_row_number"])
		}
		delete(row, "file_row_number")
	}
	res.Columns, res.Types = res.Columns[:len(res.Columns)-1], res.Types[:len(res.Types)-1]
	return res
}

// TestDuckDBReadsPassThrough: every pass-through type, nulls, unicode and
// empty strings, and the predictions, row by row as they were scored.
func TestDuckDBReadsPassThrough(t *testing.T) {
	db := testenv.NewDuckDB(t)
	dir := t.TempDir()
	const n = 2000
	b, want := mixedTable(t, n)
	writeParquet(t, filepath.Join(dir, "in.parquet"), 700, b)
	b.Release()
	out := filepath.Join(dir, "out.parquet")
	run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{filepath.Join(dir, "in.parquet")}, Output: out, BatchRows: 128, Parallelism: 4, KeepAll: true})

	got := ordered(t, db, out, "*")
	wantCols := []string{"id", "x", "name", "flag", "count", "score", "y"}
	wantTypes := []string{"BIGINT", "DOUBLE", "VARCHAR", "BOOLEAN", "BIGINT", "DOUBLE", "DOUBLE"}
	if d := cmp.Diff(wantCols, got.Columns); d != "" {
		t.Errorf("columns (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantTypes, got.Types); d != "" {
		t.Errorf("types (-want +got):\n%s", d)
	}
	if len(got.Rows) != n {
		t.Fatalf("DuckDB reads %d rows, want %d", len(got.Rows), n)
	}
	for i := range want {
		if d := cmp.Diff(want[i], got.Rows[i]); d != "" {
			t.Fatalf("row %d (-scored +read back):\n%s", i, d)
		}
	}
}

// TestDuckDBReadsNullPredictions: with --on-error null, exactly the bad
// rows (a first row that fails before the model has produced anything,
// rows that do not parse, rows the model rejects, a run across a batch
// boundary) have SQL NULL predictions.
func TestDuckDBReadsNullPredictions(t *testing.T) {
	db := testenv.NewDuckDB(t)
	dir := t.TempDir()
	badParse := map[int]bool{17: true, 1234: true}
	badModel := map[int]bool{0: true, 5: true, 6: true, 255: true, 256: true, 257: true, 2999: true}
	const n = 3000
	var csv strings.Builder
	csv.WriteString("id,x\n")
	for i := range n {
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
	if err := os.WriteFile(in, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.parquet")
	sum := run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{in}, Output: out, BatchRows: 256, Parallelism: 3, OnError: OnErrorNull, KeepColumns: []string{"id"}})
	if want := int64(len(badParse) + len(badModel)); sum.Bad != want {
		t.Errorf("summary counts %d bad rows, want %d", sum.Bad, want)
	}

	got := ordered(t, db, out, "id, y")
	if d := cmp.Diff([]string{"BIGINT", "DOUBLE"}, got.Types); d != "" {
		t.Errorf("types (-want +got):\n%s", d)
	}
	if len(got.Rows) != n {
		t.Fatalf("DuckDB reads %d rows, want %d", len(got.Rows), n)
	}
	for i, row := range got.Rows {
		want := map[string]any{"id": strconv.Itoa(i), "y": float64(i) / 2}
		if badParse[i] || badModel[i] {
			want["y"] = nil
		}
		if d := cmp.Diff(want, row); d != "" {
			t.Errorf("row %d (-want +got):\n%s", i, d)
		}
	}
	nulls := db.Query(t, "SELECT list(id ORDER BY id) AS ids FROM read_parquet("+testenv.SQLString(out)+") WHERE y IS NULL")
	var wantIDs []any
	for i := range n {
		if badParse[i] || badModel[i] {
			wantIDs = append(wantIDs, strconv.Itoa(i))
		}
	}
	if d := cmp.Diff(wantIDs, nulls.Rows[0]["ids"]); d != "" {
		t.Errorf("ids WHERE y IS NULL (-want +got):\n%s", d)
	}
}

// TestDuckDBReadsRowGroups: --row-group-rows gives DuckDB the row groups
// it says, every row once and in order.
func TestDuckDBReadsRowGroups(t *testing.T) {
	db := testenv.NewDuckDB(t)
	dir := t.TempDir()
	const n, groupRows = 1050, 100
	b := table(t, 0, n)
	writeParquet(t, filepath.Join(dir, "in.parquet"), 333, b)
	b.Release()
	out := filepath.Join(dir, "out.parquet")
	run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{filepath.Join(dir, "in.parquet")}, Output: out, BatchRows: 64, Parallelism: 3, RowGroupRows: groupRows, KeepColumns: []string{"id"}})

	file := db.Query(t, "SELECT num_rows, num_row_groups, created_by FROM parquet_file_metadata("+testenv.SQLString(out)+")")
	if d := cmp.Diff([]map[string]any{{"num_rows": strconv.Itoa(n), "num_row_groups": "11", "created_by": "mlship"}}, file.Rows); d != "" {
		t.Errorf("parquet_file_metadata (-want +got):\n%s", d)
	}
	groups := db.Query(t, "SELECT row_group_id, any_value(row_group_num_rows) AS rows, count(*) AS columns FROM parquet_metadata("+testenv.SQLString(out)+") GROUP BY row_group_id ORDER BY row_group_id")
	var want []map[string]any
	for g := 0; g*groupRows < n; g++ {
		want = append(want, map[string]any{"row_group_id": strconv.Itoa(g), "rows": strconv.Itoa(min(groupRows, n-g*groupRows)), "columns": "2"})
	}
	if d := cmp.Diff(want, groups.Rows); d != "" {
		t.Errorf("parquet_metadata row groups (-want +got):\n%s", d)
	}
	rows := ordered(t, db, out, "id, y")
	if len(rows.Rows) != n {
		t.Fatalf("DuckDB reads %d rows, want %d", len(rows.Rows), n)
	}
	for i, row := range rows.Rows {
		if d := cmp.Diff(map[string]any{"id": strconv.Itoa(i), "y": float64(i) / 2}, row); d != "" {
			t.Fatalf("row %d (-want +got):\n%s", i, d)
		}
	}
}

// TestDuckDBReadsEveryCodec: each --compression is one DuckDB decodes, and
// the file says it uses that codec.
func TestDuckDBReadsEveryCodec(t *testing.T) {
	db := testenv.NewDuckDB(t)
	dir := t.TempDir()
	const n = 3000
	b, rows := mixedTable(t, n)
	in := filepath.Join(dir, "in.parquet")
	writeParquet(t, in, 1000, b)
	b.Release()
	codecs := map[string]string{
		"snappy": "SNAPPY", "zstd": "ZSTD", "gzip": "GZIP", "lz4": "LZ4_RAW", "brotli": "BROTLI", "none": "UNCOMPRESSED",
	}
	outs := map[string]string{}
	var paths []string
	for name := range codecs {
		outs[name] = filepath.Join(dir, name+".parquet")
		paths = append(paths, testenv.SQLString(outs[name]))
		run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{in}, Output: outs[name], BatchRows: 500, KeepAll: true, Compression: name, RowGroupRows: 1200})
	}
	// One DuckDB process for every file's footer, one for each file's rows.
	md := db.Query(t, "SELECT file_name, list(DISTINCT compression) AS codecs, count(DISTINCT row_group_id) AS groups FROM parquet_metadata(["+strings.Join(paths, ", ")+"]) GROUP BY file_name")
	footers := map[string]map[string]any{}
	for _, row := range md.Rows {
		footers[row["file_name"].(string)] = row
	}
	for name, parquetName := range codecs {
		t.Run(name, func(t *testing.T) {
			want := map[string]any{"file_name": outs[name], "codecs": []any{parquetName}, "groups": "3"}
			if d := cmp.Diff(want, footers[outs[name]]); d != "" {
				t.Errorf("parquet_metadata (-want +got):\n%s", d)
			}
			got := ordered(t, db, outs[name], "*")
			if len(got.Rows) != n {
				t.Fatalf("DuckDB reads %d rows, want %d", len(got.Rows), n)
			}
			for i := range rows {
				if d := cmp.Diff(rows[i], got.Rows[i]); d != "" {
					t.Fatalf("row %d (-scored +read back):\n%s", i, d)
				}
			}
		})
	}
}

// TestDuckDBReadsCSV: DuckDB's CSV reader (its own sniffer: delimiter,
// quoting, header, types) reads the CSV output back as the rows scored.
// CSV cannot tell an empty string from a missing one, and writes NaN as
// an empty field, as pandas does: both read back as NULL.
func TestDuckDBReadsCSV(t *testing.T) {
	db := testenv.NewDuckDB(t)
	dir := t.TempDir()
	const n = 1500
	b, want := mixedTable(t, n)
	writeParquet(t, filepath.Join(dir, "in.parquet"), 1000, b)
	b.Release()
	out := filepath.Join(dir, "out.csv")
	run(t, &doubler{}, doublerModel(t), Options{Inputs: []string{filepath.Join(dir, "in.parquet")}, Output: out, BatchRows: 200, Parallelism: 3, KeepAll: true})

	got := db.Query(t, "SELECT * FROM read_csv("+testenv.SQLString(out)+")")
	wantTypes := []string{"BIGINT", "DOUBLE", "VARCHAR", "BOOLEAN", "BIGINT", "DOUBLE", "DOUBLE"}
	if d := cmp.Diff(wantTypes, got.Types); d != "" {
		t.Errorf("types DuckDB detects (-want +got):\n%s\nheader: %v", d, got.Columns)
	}
	if len(got.Rows) != n {
		t.Fatalf("DuckDB reads %d rows, want %d", len(got.Rows), n)
	}
	for i, w := range want {
		if w["name"] == "" {
			w["name"] = nil
		}
		if w["score"] == "NaN" {
			w["score"] = nil
		}
		if d := cmp.Diff(w, got.Rows[i]); d != "" {
			t.Fatalf("row %d (-scored +read back):\n%s", i, d)
		}
	}
}

// TestDuckDBReadsTensorPredictions: the example ONNX model's probabilities
// (a [-1, 3] float32 tensor) read back as one list of 3 floats per row,
// equal to what the model gives when called directly and to numpy's
// evaluation in examples/iris-onnx/expected.json; its label as BIGINT. With
// --on-error null a bad row's tensor is a list of 3 nulls (it keeps its
// length) and its label NULL.
func TestDuckDBReadsTensorPredictions(t *testing.T) {
	db := testenv.NewDuckDB(t)
	getenv, cache := testenv.ONNXRuntime(t)
	root := testenv.RepoRoot(t)
	m, err := mlmodel.Load(filepath.Join(root, "examples", "iris-onnx", "model"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := onnx.Flavor{}.Load(context.Background(), m, flavors.LoadOptions{Getenv: getenv, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.(interface{ Close() error }).Close() })
	var exp struct {
		Input         [][]float64 `json:"input"`
		Probabilities [][]float64 `json:"probabilities"`
		Label         []int64     `json:"label"`
	}
	data, err := os.ReadFile(filepath.Join(root, "examples", "iris-onnx", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}

	// numpy's three rows, then a spread of iris-like measurements.
	inputs := append([][]float64{}, exp.Input...)
	for i := len(inputs); i < 500; i++ {
		f := float64(i)
		inputs = append(inputs, []float64{4.3 + math.Mod(f*0.37, 3.6), 2 + math.Mod(f*0.23, 2.4), 1 + math.Mod(f*0.61, 5.9), 0.1 + math.Mod(f*0.11, 2.4)})
	}
	var jsonl strings.Builder
	for i, in := range inputs {
		row, _ := json.Marshal(map[string]any{"id": i, "input": in})
		jsonl.Write(row)
		jsonl.WriteByte('\n')
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte(jsonl.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	// What the model gives for all rows in one call.
	body, _ := json.Marshal(map[string]any{"inputs": inputs})
	req, err := (&scoring.Decoder{Inputs: m.Signature.Inputs}).DecodeJSON(body)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := p.Predict(context.Background(), req.Batch, nil)
	req.Release()
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Release()
	probs := direct.Column(direct.Schema().FieldIndices("probabilities")[0]).(*array.FixedSizeList)
	probVals := probs.ListValues().(*array.Float32).Float32Values()
	labels := direct.Column(direct.Schema().FieldIndices("label")[0]).(*array.Int64).Int64Values()

	out := filepath.Join(dir, "out.parquet")
	run(t, p, m, Options{Inputs: []string{filepath.Join(dir, "in.jsonl")}, Output: out, BatchRows: 64, Parallelism: 3, KeepColumns: []string{"id"}})
	got := ordered(t, db, out, "id, probabilities, label, len(probabilities) AS n")
	// Parquet has no fixed-size list: the tensor is a LIST of FLOAT, and
	// n checks every row's length.
	if got.Type("probabilities") != "FLOAT[]" {
		t.Errorf("probabilities is %s in DuckDB, want FLOAT[]", got.Type("probabilities"))
	}
	if got.Type("label") != "BIGINT" {
		t.Errorf("label is %s in DuckDB, want BIGINT", got.Type("label"))
	}
	if len(got.Rows) != len(inputs) {
		t.Fatalf("DuckDB reads %d rows, want %d", len(got.Rows), len(inputs))
	}
	// modelRow is row i as the model gave it, in DuckDB's JSON forms.
	modelRow := func(i int) map[string]any {
		var ps []any
		at := 3 * (probs.Offset() + i)
		for _, v := range probVals[at : at+3] {
			ps = append(ps, float64(v))
		}
		return map[string]any{"id": strconv.Itoa(i), "probabilities": ps, "label": strconv.FormatInt(labels[i], 10), "n": "3"}
	}
	// ONNX Runtime may pick other kernels for other batch sizes: the last
	// bits of a float32 can differ from the one-call run.
	close := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 1e-6 })
	for i, row := range got.Rows {
		if d := cmp.Diff(modelRow(i), row, close); d != "" {
			t.Fatalf("row %d (-model +read back):\n%s", i, d)
		}
		if i < len(exp.Probabilities) {
			for k, v := range row["probabilities"].([]any) {
				if math.Abs(v.(float64)-exp.Probabilities[i][k]) > 1e-5 {
					t.Errorf("row %d: probability %d is %g, numpy says %g", i, k, v, exp.Probabilities[i][k])
				}
			}
			if row["label"] != strconv.FormatInt(exp.Label[i], 10) {
				t.Errorf("row %d: label %v, numpy says %d", i, row["label"], exp.Label[i])
			}
		}
	}

	// Bad rows (3 numbers where the signature wants 4; the first row
	// among them) with --on-error null.
	bad := map[int]bool{0: true, 70: true, 71: true, 499: true}
	jsonl.Reset()
	for i, in := range inputs {
		if bad[i] {
			in = in[:3]
		}
		row, _ := json.Marshal(map[string]any{"id": i, "input": in})
		jsonl.Write(row)
		jsonl.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte(jsonl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	outNull := filepath.Join(dir, "null.parquet")
	sum := run(t, p, m, Options{Inputs: []string{filepath.Join(dir, "bad.jsonl")}, Output: outNull, BatchRows: 64, Parallelism: 3, KeepColumns: []string{"id"}, OnError: OnErrorNull})
	if sum.Bad != int64(len(bad)) {
		t.Errorf("summary counts %d bad rows, want %d", sum.Bad, len(bad))
	}
	withNulls := ordered(t, db, outNull, "id, probabilities, label")
	if len(withNulls.Rows) != len(inputs) {
		t.Fatalf("DuckDB reads %d rows, want %d", len(withNulls.Rows), len(inputs))
	}
	for i, row := range withNulls.Rows {
		want := modelRow(i)
		delete(want, "n")
		if bad[i] {
			want["probabilities"], want["label"] = []any{nil, nil, nil}, nil
		}
		if d := cmp.Diff(want, row, close); d != "" {
			t.Errorf("row %d (-want +got):\n%s", i, d)
		}
	}
	// arrow-go reads it too (a tensor with null elements once made the
	// rows after it lose their alignment).
	readParquet(t, outNull).Release()
}
