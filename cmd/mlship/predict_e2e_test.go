package main_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/testenv"
)

// TestPredictONNX scores the example input with the real ONNX Runtime,
// through MLflow's JSON request and JSON lines, and checks the
// predictions against the ones recorded with the model.
func TestPredictONNX(t *testing.T) {
	bin := buildBinary(t)
	_, cache := testenv.ONNXRuntime(t)
	env := []string{"MLSHIP_CACHE_DIR=" + cache}
	root := testenv.RepoRoot(t)
	model := filepath.Join(root, "examples", "iris-onnx", "model")
	var expected struct {
		Input         [][]float64 `json:"input"`
		Probabilities [][]float64 `json:"probabilities"`
		Label         []int64     `json:"label"`
	}
	data, err := os.ReadFile(filepath.Join(root, "examples", "iris-onnx", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &expected); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var lines []string
	for i, row := range expected.Input {
		b, _ := json.Marshal(map[string]any{"id": i, "input": row})
		lines = append(lines, string(b))
	}
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644)

	out := filepath.Join(dir, "out.jsonl")
	code, _, stderr := run(t, bin, env, "predict", "-m", model, "-i", in, "-o", out, "--keep-columns", "id")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "scored 3 rows from 1 input(s)") {
		t.Errorf("no summary line in %q", stderr)
	}
	got, _ := os.ReadFile(out)
	recs := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(recs) != 3 {
		t.Fatalf("%d output lines: %s", len(recs), got)
	}
	for i, l := range recs {
		var rec struct {
			ID            int       `json:"id"`
			Probabilities []float64 `json:"probabilities"`
			Label         int64     `json:"label"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if rec.ID != i || rec.Label != expected.Label[i] {
			t.Errorf("line %d = %s, want id %d label %d", i, l, i, expected.Label[i])
		}
		for k, p := range rec.Probabilities {
			if math.Abs(p-expected.Probabilities[i][k]) > 1e-6 {
				t.Errorf("row %d probability %d = %g, want %g", i, k, p, expected.Probabilities[i][k])
			}
		}
	}

	// MLflow's spelling: the serving input example in, {"predictions": ...} out.
	code, stdout, stderr := run(t, bin, env, "models", "predict", "-m", model, "-i", filepath.Join(model, "serving_input_example.json"), "-t", "json", "-q")
	if code != 0 {
		t.Fatalf("models predict: exit %d: %s", code, stderr)
	}
	var resp struct {
		Predictions map[string]json.RawMessage `json:"predictions"`
	}
	if err := json.Unmarshal([]byte(stdout), &resp); err != nil {
		t.Fatalf("models predict output %q: %v", stdout, err)
	}
	if _, ok := resp.Predictions["label"]; !ok {
		t.Errorf("models predict output %s has no label", stdout)
	}
}

// TestPredictPythonFunction scores CSV with the sklearn example through
// real Python workers, with MLflow's flags.
func TestPredictPythonFunction(t *testing.T) {
	py := testenv.Python(t)
	bin := buildBinary(t)
	root := testenv.RepoRoot(t)
	model := filepath.Join(root, "examples", "sklearn-iris", "model")
	// scikit-learn's own predictions for all 150 iris rows, recorded with
	// the model.
	var expected struct {
		Columns []string `json:"columns"`
		AllRows struct {
			Data    [][]float64 `json:"data"`
			Predict []int64     `json:"predict"`
		} `json:"all_rows"`
	}
	data, _ := os.ReadFile(filepath.Join(root, "examples", "sklearn-iris", "expected.json"))
	if err := json.Unmarshal(data, &expected); err != nil {
		t.Fatal(err)
	}
	if len(expected.AllRows.Predict) != 150 || len(expected.AllRows.Data) != 150 {
		t.Fatalf("expected.json has %d predictions for %d rows, want 150", len(expected.AllRows.Predict), len(expected.AllRows.Data))
	}
	var csv strings.Builder
	csv.WriteString(`"` + strings.Join(expected.Columns, `","`) + "\"\n")
	for _, row := range expected.AllRows.Data {
		for j, v := range row {
			if j > 0 {
				csv.WriteString(",")
			}
			fmt.Fprint(&csv, v)
		}
		csv.WriteString("\n")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte(csv.String()), 0o644)
	out := filepath.Join(dir, "out.json")
	code, _, stderr := run(t, bin, []string{"MLSHIP_PYTHON=" + py}, "models", "predict", "-m", model, "-i", in, "-t", "csv", "-o", out, "--env-manager", "local", "--workers", "2", "--batch-rows", "40")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(out)
	var resp struct {
		Predictions []int64 `json:"predictions"`
	}
	if err := json.Unmarshal(got, &resp); err != nil {
		t.Fatalf("output %q: %v", got, err)
	}
	if fmt.Sprint(resp.Predictions) != fmt.Sprint(expected.AllRows.Predict) {
		t.Errorf("predictions %v, want %v", resp.Predictions, expected.AllRows.Predict)
	}
}

// TestPredictInterrupted: SIGINT mid-run exits 130 and leaves no output,
// finished-looking or temporary.
func TestPredictInterrupted(t *testing.T) {
	py := testenv.Python(t)
	bin := buildBinary(t)
	model := filepath.Join(testenv.RepoRoot(t), "cmd", "mlship", "testdata", "slow-pyfunc")
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("x\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&csv, "%d\n", i)
	}
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte(csv.String()), 0o644)
	out := filepath.Join(dir, "out.parquet")
	// 100 calls of 20 ms on one worker: about 2 s of work.
	cmd := exec.Command(bin, "predict", "-m", model, "-i", in, "-o", out, "--batch-rows", "50", "--parallelism", "1", "--log-level", "debug")
	cmd.Env = append(os.Environ(), "MLSHIP_PYTHON="+py)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the output's temporary file exists: scoring has begun.
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(dir, ".out.parquet.mlship-tmp-*"))
		if len(m) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no temporary output appeared; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v, want 130; stderr:\n%s", err, stderr.String())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "in.csv" {
			t.Errorf("an interrupted run left %s", e.Name())
		}
	}
}

// TestPredictExamples runs the documented examples' local scripts: the
// sharded run covers the input exactly once, the Spark pipe returns every
// row.
func TestPredictExamples(t *testing.T) {
	_, cache := testenv.ONNXRuntime(t)
	root := testenv.RepoRoot(t)
	for _, script := range []string{"examples/predict-sharded/run-local.sh", "examples/spark-pipe/run-local.sh"} {
		t.Run(filepath.Dir(script), func(t *testing.T) {
			cmd := exec.Command("bash", filepath.Join(root, script))
			cmd.Env = append(os.Environ(), "MLSHIP_CACHE_DIR="+cache)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", script, err, out)
			}
			t.Logf("%s", out)
		})
	}
}
