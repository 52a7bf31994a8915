package tensorflow_test

// An MLflow model directory with a `tensorflow` flavor around a real Keras
// SavedModel, served over loopback HTTP by the real server: the MLflow
// scoring protocol (inputs, instances) and the Open Inference Protocol.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/tensorflow"
	"github.com/mlship/mlship/internal/ortlib"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve"
)

// mlflowDir wraps a shared SavedModel in an MLflow model directory, as
// mlflow.tensorflow.save_model lays out a tf.Module export.
func mlflowDir(t *testing.T, savedModel string, withSignature bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	src := testenv.CopyDir(t, filepath.Join(testenv.SharedTestdata(t), "tensorflow", savedModel))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(src, filepath.Join(dir, "tf2model")); err != nil {
		t.Fatal(err)
	}
	m := &mlmodel.Model{Flavors: map[string]mlmodel.FlavorConfig{
		"tensorflow": {"saved_model_dir": "tf2model", "model_type": "tf2-module", "meta_graph_tags": []any{"serve"},
			"signature_def_key": "serving_default", "code": nil},
		"python_function": {"loader_module": "mlflow.tensorflow", "python_version": "3.10.12", "env": map[string]any{"virtualenv": "python_env.yaml"}},
	}}
	if withSignature {
		in, err := mlmodel.ParseSchema([]byte(`[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 5]}, "name": "test_in_input"}]`))
		if err != nil {
			t.Fatal(err)
		}
		out, err := mlmodel.ParseSchema([]byte(`[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 1]}, "name": "test_out"}]`))
		if err != nil {
			t.Fatal(err)
		}
		m.Signature = &mlmodel.Signature{Inputs: in, Outputs: out}
	}
	if err := m.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func serveDir(t *testing.T, dir string) string {
	t.Helper()
	getenv, cache := testenv.ONNXRuntime(t)
	lib, err := ortlib.Find(ortlib.SearchFor(getenv, cache))
	if err != nil {
		testenv.Missing(t, err.Error())
	}
	reg := flavors.NewRegistry()
	reg.Register(tensorflow.Flavor{})
	opts := flavors.LoadOptions{CacheDir: t.TempDir(), Getenv: func(k string) string {
		if k == "MLSHIP_ONNXRUNTIME_LIB" {
			return lib
		}
		return ""
	}}
	loaded, err := reg.Load(context.Background(), dir, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loaded.Close() })
	if loaded.Flavor != "tensorflow" {
		t.Fatalf("served with %q", loaded.Flavor)
	}
	ts := httptest.NewServer(serve.New(loaded.Predictor, serve.Config{Model: loaded.Model, ModelName: "keras", Flavor: loaded.Flavor}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func request(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// EXPECTED.json's rust_keras_single_input case (float64 numpy from the
// checkpoint's weights).
const kerasRow, kerasOut = `[0.1, 0.2, 0.3, 0.4, 0.5]`, 0.5003078760970772

func TestServeMLflowTensorFlowModel(t *testing.T) {
	for _, withSig := range []bool{true, false} {
		name := "signature from MLmodel"
		if !withSig {
			name = "signature from the SavedModel"
		}
		t.Run(name, func(t *testing.T) {
			url := serveDir(t, mlflowDir(t, "rust_keras_single_input", withSig))
			bodies := map[string]string{
				"inputs":      `{"inputs": [` + kerasRow + `, ` + kerasRow + `]}`,
				"inputs dict": `{"inputs": {"test_in_input": [` + kerasRow + `, ` + kerasRow + `]}}`,
				"instances":   `{"instances": [` + kerasRow + `, ` + kerasRow + `]}`,
			}
			for form, body := range bodies {
				status, got := request(t, "POST", url+"/invocations", body)
				if status != 200 {
					t.Fatalf("%s: %d %s", form, status, got)
				}
				var resp struct {
					Predictions json.RawMessage `json:"predictions"`
				}
				if err := json.Unmarshal([]byte(got), &resp); err != nil {
					t.Fatalf("%s: %v: %s", form, err, got)
				}
				// One output: MLflow answers its rows, [[y], [y]].
				var rows [][]float64
				if err := json.Unmarshal(resp.Predictions, &rows); err != nil {
					var named map[string][][]float64
					if err2 := json.Unmarshal(resp.Predictions, &named); err2 != nil {
						t.Fatalf("%s: predictions %s", form, resp.Predictions)
					}
					rows = named["test_out"]
				}
				if len(rows) != 2 || len(rows[0]) != 1 || abs(rows[0][0]-kerasOut) > 1e-5 || abs(rows[1][0]-kerasOut) > 1e-5 {
					t.Errorf("%s: predictions %s, want [[%v], [%v]]", form, resp.Predictions, kerasOut, kerasOut)
				}
			}

			// The Open Inference Protocol: metadata from the signature, then infer.
			status, got := request(t, "GET", url+"/v2/models/keras", "")
			if status != 200 || !strings.Contains(got, `"name":"test_in_input"`) || !strings.Contains(got, `"datatype":"FP32"`) || !strings.Contains(got, `"shape":[-1,5]`) {
				t.Errorf("v2 metadata: %d %s", status, got)
			}
			status, got = request(t, "POST", url+"/v2/models/keras/infer",
				`{"inputs": [{"name": "test_in_input", "shape": [1, 5], "datatype": "FP32", "data": `+kerasRow+`}]}`)
			if status != 200 {
				t.Fatalf("v2 infer: %d %s", status, got)
			}
			var v2 struct {
				Outputs []struct {
					Name     string    `json:"name"`
					Shape    []int64   `json:"shape"`
					Datatype string    `json:"datatype"`
					Data     []float64 `json:"data"`
				} `json:"outputs"`
			}
			if err := json.Unmarshal([]byte(got), &v2); err != nil {
				t.Fatalf("v2 infer: %v: %s", err, got)
			}
			if len(v2.Outputs) != 1 || v2.Outputs[0].Name != "test_out" || v2.Outputs[0].Datatype != "FP32" ||
				len(v2.Outputs[0].Data) != 1 || abs(v2.Outputs[0].Data[0]-kerasOut) > 1e-5 {
				t.Errorf("v2 infer: %s", got)
			}

			// Requests the signature does not allow get MLflow's error
			// envelope (the V2 one on /v2), naming what is wrong: with an
			// MLmodel signature, MLflow's schema enforcement; without one,
			// the SavedModel signature types the request and the runtime
			// refuses the shape, as TensorFlow would under MLflow.
			wrongShape := "does not match expected shape (-1, 5)"
			if !withSig {
				wrongShape = "Got: 4 Expected: 5"
			}
			for _, bad := range []struct{ body, code, msg string }{
				{`{"inputs": [[0.1, 0.2, 0.3, 0.4]]}`, "", wrongShape},
				{`{"inputs": [["a", "b", "c", "d", "e"]]}`, "BAD_REQUEST", "expected float32, got a string"},
				{`{"instances": [[true, false, true, false, true]]}`, "BAD_REQUEST", "expected float32, got a boolean"},
			} {
				status, got := request(t, "POST", url+"/invocations", bad.body)
				var env struct {
					Code    string `json:"error_code"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal([]byte(got), &env); err != nil || status != 400 || env.Code == "" ||
					(bad.code != "" && env.Code != bad.code) || !strings.Contains(env.Message, bad.msg) {
					t.Errorf("%s: %d %s, want 400 %s with %q", bad.body, status, got, bad.code, bad.msg)
				}
			}
			for _, bad := range []struct{ body, msg string }{
				{`{"inputs": [{"name": "test_in_input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}`, "Got: 4 Expected: 5"},
				{`{"inputs": [{"name": "test_in_input", "shape": [1, 5], "datatype": "BYTES", "data": ["a", "b", "c", "d", "e"]}]}`, `"test_in_input": cannot convert utf8`},
			} {
				status, got := request(t, "POST", url+"/v2/models/keras/infer", bad.body)
				var env struct {
					Error string `json:"error"`
				}
				if err := json.Unmarshal([]byte(got), &env); err != nil || status != 400 || !strings.Contains(env.Error, bad.msg) {
					t.Errorf("v2 %s: %d %s, want 400 with %q", bad.body, status, got, bad.msg)
				}
			}
		})
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
