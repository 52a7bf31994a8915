package main_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/mlship/mlship/internal/testenv"
)

// tensorflowMLflowDir wraps a shared SavedModel in an MLflow model
// directory with a tensorflow flavor block.
func tensorflowMLflowDir(t *testing.T, savedModel, block string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(testenv.CopyDir(t, filepath.Join(testenv.SharedTestdata(t), "tensorflow", savedModel)), filepath.Join(dir, "tfmodel")); err != nil {
		t.Fatal(err)
	}
	mlmodel := "artifact_path: model\nflavors:\n  tensorflow:\n    code: null\n    saved_model_dir: tfmodel\n" + block + "mlflow_version: 2.9.2\n"
	if err := os.WriteFile(filepath.Join(dir, "MLmodel"), []byte(mlmodel), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPredictTensorFlow scores files with tensorflow-flavor MLflow models,
// converted to ONNX on the way, on a machine without TensorFlow: Parquet
// through TensorFlow Serving's TF1 half_plus_two (y = 0.5x + 2 for every
// row) and CSV through the Keras model of EXPECTED.json.
func TestPredictTensorFlow(t *testing.T) {
	bin := buildBinary(t)
	_, cache := testenv.ONNXRuntime(t)
	env := []string{"MLSHIP_CACHE_DIR=" + cache, "MLSHIP_TENSORFLOW_LIB="}
	work := t.TempDir()

	// Parquet in, JSON lines out, id passed through.
	hp := tensorflowMLflowDir(t, "saved_model_half_plus_two_cpu/00000123",
		"    meta_graph_tags:\n    - serve\n    signature_def_key: serving_default\n    model_type: tf1-estimator\n")
	const n = 2500
	ids, xs := array.NewInt64Builder(memory.DefaultAllocator), array.NewFloat32Builder(memory.DefaultAllocator)
	for i := range n {
		ids.Append(int64(i))
		xs.Append(float32(i%97) - 40)
	}
	idCol, xCol := ids.NewArray(), xs.NewArray()
	batch := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "x", Type: arrow.PrimitiveTypes.Float32}}, nil), []arrow.Array{idCol, xCol}, n)
	in := filepath.Join(work, "in.parquet")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(batch.Schema(), f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(1000)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(batch); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "out.jsonl")
	code, _, stderr := run(t, bin, env, "predict", "-m", hp, "-i", in, "-o", out, "--keep-columns", "id", "--tf-runtime", "onnx")
	if code != 0 || !strings.Contains(stderr, "scored 2,500 rows") {
		t.Fatalf("parquet: exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != n {
		t.Fatalf("%d output lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		var rec struct {
			ID int64     `json:"id"`
			Y  []float64 `json:"y"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		want := 0.5*float64(float32(i%97)-40) + 2
		if rec.ID != int64(i) || len(rec.Y) != 1 || rec.Y[0] != want {
			t.Fatalf("line %d = %s, want id %d y [%v]", i, l, i, want)
		}
	}

	// CSV in (the five columns are the one [-1, 5] input), CSV out.
	keras := tensorflowMLflowDir(t, "rust_keras_single_input", "    model_type: tf2-module\n")
	csvIn := filepath.Join(work, "in.csv")
	if err := os.WriteFile(csvIn, []byte("a,b,c,d,e\n0.1,0.2,0.3,0.4,0.5\n0.1,0.2,0.3,0.4,0.5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	csvOut := filepath.Join(work, "out.csv")
	if code, _, stderr := run(t, bin, env, "predict", "-m", keras, "-i", csvIn, "-o", csvOut); code != 0 {
		t.Fatalf("csv: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(csvOut)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(rows) != 3 || rows[0] != "test_out" {
		t.Fatalf("csv output %q", b)
	}
	for _, r := range rows[1:] {
		var v []float64
		if err := json.Unmarshal([]byte(r), &v); err != nil || len(v) != 1 || math.Abs(v[0]-0.5003078760970772) > 1e-6 {
			t.Errorf("csv row %q, want [0.5003078760970772] (EXPECTED.json)", r)
		}
	}

	// --tf-runtime native on a machine without the TensorFlow C library.
	if code, _, stderr := run(t, bin, env, "predict", "-m", keras, "-i", csvIn, "-o", csvOut, "--tf-runtime", "native"); code == 0 || !strings.Contains(stderr, "MLSHIP_TENSORFLOW_LIB") {
		t.Errorf("native without the library: exit %d: %s", code, stderr)
	}
}
