package serve_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve"
)

// startONNX serves the model in dir with the real ONNX flavor over real
// loopback HTTP.
func startONNX(t *testing.T, dir string) string {
	t.Helper()
	getenv, cache := testenv.ONNXRuntime(t)
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := onnx.Flavor{}.Load(context.Background(), m, flavors.LoadOptions{Getenv: getenv, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.(interface{ Close() error }).Close() })
	ts := httptest.NewServer(serve.New(p, serve.Config{Model: m}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func post(t *testing.T, url, ctype, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url+"/invocations", ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// expected is examples/iris-onnx/expected.json: numpy's evaluation of the
// example graph, written by the script that made the model.
type expected struct {
	Input         [][]float64 `json:"input"`
	Probabilities [][]float64 `json:"probabilities"`
	Label         []int64     `json:"label"`
}

func loadExpected(t *testing.T) expected {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expected
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestONNXExampleAllForms(t *testing.T) {
	url := startONNX(t, filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model"))
	exp := loadExpected(t)
	rows, _ := json.Marshal(exp.Input)
	var cells []string
	var records []string
	for _, r := range exp.Input {
		b, _ := json.Marshal(r)
		cells = append(cells, "["+string(b)+"]")
		records = append(records, `{"input": `+string(b)+`}`)
	}
	bodies := map[string]string{
		"inputs list":       `{"inputs": ` + string(rows) + `}`,
		"inputs dict":       `{"inputs": {"input": ` + string(rows) + `}}`,
		"instances":         `{"instances": [` + strings.Join(records, ", ") + `]}`,
		"instances list":    `{"instances": ` + string(rows) + `}`,
		"dataframe_split":   `{"dataframe_split": {"columns": ["input"], "data": [` + strings.Join(cells, ", ") + `]}}`,
		"dataframe_records": `{"dataframe_records": [` + strings.Join(records, ", ") + `]}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			status, got := post(t, url, "application/json", body)
			if status != 200 {
				t.Fatalf("%d %s", status, got)
			}
			// A tensor signature makes MLflow's ONNX wrapper return a dict
			// of output name → array, whatever the request form.
			var resp struct {
				Predictions struct {
					Probabilities [][]float64 `json:"probabilities"`
					Label         []int64     `json:"label"`
				} `json:"predictions"`
			}
			if err := json.Unmarshal([]byte(got), &resp); err != nil {
				t.Fatalf("%v: %s", err, got)
			}
			checkIris(t, exp, resp.Predictions.Probabilities, resp.Predictions.Label)
		})
	}
	// The bytes are what MLflow writes: json.dumps spacing, float32 values
	// printed through float64 as numpy's tolist() gives them.
	_, got := post(t, url, "application/json", `{"inputs": [[5.1, 3.5, 1.4, 0.2]]}`)
	if !strings.HasPrefix(got, `{"predictions": {"probabilities": [[0.98158`) || !strings.HasSuffix(got, `]], "label": [0]}}`) {
		t.Errorf("response bytes: %s", got)
	}
	// Shape enforcement from the signature.
	status, got := post(t, url, "application/json", `{"inputs": [[5.1, 3.5, 1.4]]}`)
	if status != 400 || !strings.Contains(got, "Shape of input (1, 3) does not match expected shape (-1, 4).") {
		t.Errorf("wrong shape: %d %s", status, got)
	}
	// CSV rows are scalars: they cannot fill a (-1, 4) tensor.
	status, got = post(t, url, "text/csv", "input\n1\n")
	if status != 400 || !strings.Contains(got, "INVALID_PARAMETER_VALUE") {
		t.Errorf("csv: %d %s", status, got)
	}
	// Bad input never leaves the server unhealthy.
	resp, err := http.Get(url + "/ping")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ping after errors: %v %v", err, resp)
	}
	resp.Body.Close()
}

func checkIris(t *testing.T, exp expected, probs [][]float64, labels []int64) {
	t.Helper()
	if len(probs) != len(exp.Probabilities) || len(labels) != len(exp.Label) {
		t.Fatalf("got %d rows of probabilities and %d labels, want %d", len(probs), len(labels), len(exp.Label))
	}
	for i := range probs {
		if labels[i] != exp.Label[i] {
			t.Errorf("row %d label %d, want %d", i, labels[i], exp.Label[i])
		}
		for j := range probs[i] {
			if d := math.Abs(probs[i][j] - exp.Probabilities[i][j]); d > 1e-6 {
				t.Errorf("row %d prob %d = %v, want %v", i, j, probs[i][j], exp.Probabilities[i][j])
			}
		}
	}
}

// withoutSignature copies a model dir and strips its signature, as models
// logged without one are.
func withoutSignature(t *testing.T, dir string) string {
	t.Helper()
	out := testenv.CopyDir(t, dir)
	m, err := mlmodel.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	m.Signature = nil
	if err := m.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestONNXWithoutSignature follows MLflow's ONNX wrapper: a DataFrame of
// scalar columns feeds a single-input model as one 2-D float32 tensor and
// comes back as records; tensor input comes back as a dict.
func TestONNXWithoutSignature(t *testing.T) {
	url := startONNX(t, withoutSignature(t, filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")))
	exp := loadExpected(t)
	status, got := post(t, url, "application/json", `{"dataframe_split": {"columns": ["sl", "sw", "pl", "pw"], "data": [[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4]]}}`)
	if status != 200 {
		t.Fatalf("%d %s", status, got)
	}
	// Two outputs of different flattened lengths: MLflow fails here, mlship
	// answers one record per row.
	var recs []struct {
		Probabilities []float64 `json:"probabilities"`
		Label         int64     `json:"label"`
	}
	var env struct{ Predictions json.RawMessage }
	if err := json.Unmarshal([]byte(got), &env); err != nil || json.Unmarshal(env.Predictions, &recs) != nil || len(recs) != 2 {
		t.Fatalf("records: %s", got)
	}
	checkIris(t, expected{Probabilities: exp.Probabilities[:2], Label: exp.Label[:2]},
		[][]float64{recs[0].Probabilities, recs[1].Probabilities}, []int64{recs[0].Label, recs[1].Label})
	// CSV is a DataFrame too; integers are cast to float32 as MLflow casts.
	status, got = post(t, url, "text/csv", "a,b,c,d\n5,3,1,0\n")
	if status != 200 || !strings.Contains(got, `"label": 0`) {
		t.Errorf("csv: %d %s", status, got)
	}
	// JSON integers for a float input are typed by the graph's own input.
	status, got = post(t, url, "application/json", `{"inputs": [[6, 3, 6, 2]]}`)
	if status != 200 || !strings.Contains(got, `"label": [2]`) {
		t.Errorf("ints: %d %s", status, got)
	}
	// The model's own input name works as a key too.
	status, got = post(t, url, "application/json", `{"inputs": {"input": [[5.1, 3.5, 1.4, 0.2]]}}`)
	if status != 200 || !strings.Contains(got, `"label": [0]`) {
		t.Errorf("named: %d %s", status, got)
	}
	// A wrong width is caught by ONNX Runtime and answered as MLflow answers
	// model errors.
	status, got = post(t, url, "application/json", `{"inputs": [[1, 2, 3]]}`)
	if status != 400 || !strings.Contains(got, "Encountered an unexpected error while evaluating the model") {
		t.Errorf("wrong width: %d %s", status, got)
	}
}

// TestONNXRealMLflowModels serves the real ONNX files from MLflow's own
// test resources.
func TestONNXRealMLflowModels(t *testing.T) {
	shared := filepath.Join(testenv.SharedTestdata(t), "mlflow")
	wrap := func(t *testing.T, file string) string {
		dir := filepath.Join(t.TempDir(), "model")
		_ = os.MkdirAll(dir, 0o755)
		data, err := os.ReadFile(filepath.Join(shared, "raw_onnx", file))
		if err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(dir, "model.onnx"), data, 0o644)
		m := &mlmodel.Model{Flavors: map[string]mlmodel.FlavorConfig{
			"onnx":            {"data": "model.onnx", "providers": []any{"CUDAExecutionProvider", "CPUExecutionProvider"}},
			"python_function": {"loader_module": "mlflow.onnx", "data": "model.onnx"},
		}}
		if err := m.WriteFile(dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("sklearn zipmap", func(t *testing.T) {
		url := startONNX(t, wrap(t, "sklearn_model.onnx"))
		status, got := post(t, url, "application/json", `{"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}`)
		if status != 200 {
			t.Fatalf("%d %s", status, got)
		}
		var env struct {
			Predictions []struct {
				Label int64              `json:"output_label"`
				Probs map[string]float64 `json:"output_probability"`
			} `json:"predictions"`
		}
		if err := json.Unmarshal([]byte(got), &env); err != nil || len(env.Predictions) != 2 {
			t.Fatalf("%v: %s", err, got)
		}
		for i, p := range env.Predictions {
			sum, best, bestP := 0.0, "", -1.0
			for k, v := range p.Probs {
				sum += v
				if v > bestP {
					best, bestP = k, v
				}
			}
			// ZipMap keys are class labels; the label is the likeliest one.
			if math.Abs(sum-1) > 1e-5 || best != json.Number(itoa(p.Label)).String() {
				t.Errorf("row %d: label %d, probabilities %v", i, p.Label, p.Probs)
			}
		}
	})
	t.Run("multiple inputs", func(t *testing.T) {
		for _, file := range []string{"tf_model_multiple_inputs_float32.onnx", "tf_model_multiple_inputs_float64.onnx"} {
			url := startONNX(t, wrap(t, file))
			a := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
			b := []float64{0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5}
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			status, got := post(t, url, "application/json", `{"inputs": {"first_input:0": `+string(ja)+`, "second_input:0": `+string(jb)+`}}`)
			if status != 200 {
				t.Fatalf("%s: %d %s", file, status, got)
			}
			var env struct {
				Predictions map[string][]float64 `json:"predictions"`
			}
			if err := json.Unmarshal([]byte(got), &env); err != nil {
				t.Fatalf("%v: %s", err, got)
			}
			out := env.Predictions["output:0"]
			if len(out) != 10 {
				t.Fatalf("%s: %s", file, got)
			}
			for i := range a {
				if out[i] != a[i]*b[i] {
					t.Errorf("%s: output[%d] = %v, want %v", file, i, out[i], a[i]*b[i])
				}
			}
		}
	})
	t.Run("onnx_mlp_handmade", func(t *testing.T) {
		url := startONNX(t, filepath.Join(shared, "onnx_mlp_handmade"))
		m, _ := mlmodel.Load(filepath.Join(shared, "onnx_mlp_handmade"))
		body, err := m.ServingInputExample()
		if err != nil {
			t.Fatal(err)
		}
		status, got := post(t, url, "application/json", string(body))
		if status != 200 || !strings.Contains(got, `"label": [0, 1, 2]`) {
			t.Errorf("input example: %d %s", status, got)
		}
	})
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
