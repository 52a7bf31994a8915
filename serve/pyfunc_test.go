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
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/pyfunc"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve"
)

// expectedFile is flavors/pyfunc/testdata/expected/<model>.json: what
// MLflow 2.17's scoring path answers for each request (computed by
// mlflow_reference.py, independent of mlship).
type expectedFile struct {
	Load struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"load"`
	Cases []struct {
		Name            string          `json:"name"`
		Request         json.RawMessage `json:"request"`
		Status          int             `json:"status"`
		Response        string          `json:"response"`
		Predictions     json.RawMessage `json:"predictions"`
		StrictJSON      *bool           `json:"strict_json"`
		ErrorCode       string          `json:"error_code"`
		MessageContains string          `json:"message_contains"`
		StackContains   string          `json:"stack_trace_contains"`
		HasStackTrace   bool            `json:"has_stack_trace"`
		MinSeconds      float64         `json:"min_seconds"`
	} `json:"cases"`
}

// TestPyfuncModelsAgainstMLflow serves every python_function test model
// through real Python workers and checks each request against MLflow's
// answer: status, error code, and the exact response body.
func TestPyfuncModelsAgainstMLflow(t *testing.T) {
	py := testenv.Python(t)
	root := filepath.Join(testenv.RepoRoot(t), "flavors", "pyfunc", "testdata")
	entries, err := os.ReadDir(filepath.Join(root, "models"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 8 {
		t.Fatalf("only %d test models", len(entries))
	}
	for _, e := range entries {
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			var exp expectedFile
			b, err := os.ReadFile(filepath.Join(root, "expected", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &exp); err != nil {
				t.Fatal(err)
			}
			m, err := mlmodel.Load(filepath.Join(root, "models", name))
			if err != nil {
				t.Fatal(err)
			}
			p, err := pyfunc.Flavor{}.Load(context.Background(), m, flavors.LoadOptions{
				CacheDir: t.TempDir(),
				Python:   flavors.PythonOptions{Interpreter: py, Workers: 1, StartTimeout: time.Minute},
			})
			if !exp.Load.OK {
				if err == nil {
					p.(interface{ Close() error }).Close()
					t.Fatalf("loaded; MLflow fails with %s", exp.Load.Error)
				}
				// MLflow's own exception text ("UnpicklingError: pickle data
				// was truncated") appears in ours.
				if want := exp.Load.Error[strings.Index(exp.Load.Error, ": ")+2:]; !strings.Contains(err.Error(), want) {
					t.Errorf("load error %q does not contain MLflow's %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.(interface{ Close() error }).Close()
			ts := httptest.NewServer(serve.New(p, serve.Config{Model: m}))
			defer ts.Close()
			for _, c := range exp.Cases {
				t.Run(c.Name, func(t *testing.T) {
					start := time.Now()
					resp, err := http.Post(ts.URL+"/invocations", "application/json", strings.NewReader(string(c.Request)))
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != c.Status {
						t.Fatalf("status %d, MLflow %d: %s", resp.StatusCode, c.Status, body)
					}
					if c.MinSeconds > 0 && time.Since(start).Seconds() < c.MinSeconds {
						t.Errorf("answered in %v, the model sleeps %vs", time.Since(start), c.MinSeconds)
					}
					if c.Status != 200 {
						var e struct {
							Code, Message, StackTrace string
						}
						var raw map[string]string
						_ = json.Unmarshal(body, &raw)
						e.Code, e.Message, e.StackTrace = raw["error_code"], raw["message"], raw["stack_trace"]
						if e.Code != c.ErrorCode {
							t.Errorf("error_code %q, MLflow %q: %s", e.Code, c.ErrorCode, body)
						}
						if c.MessageContains != "" && !strings.Contains(e.Message, c.MessageContains) {
							t.Errorf("message %q lacks MLflow's %q", e.Message, c.MessageContains)
						}
						if c.StackContains != "" && !strings.Contains(e.StackTrace, c.StackContains) {
							t.Errorf("stack_trace lacks %q:\n%s", c.StackContains, e.StackTrace)
						}
						if c.HasStackTrace && e.StackTrace == "" {
							t.Error("no stack_trace")
						}
						return
					}
					if string(body) == c.Response {
						return // byte for byte
					}
					// Not byte-identical: the parsed predictions must agree.
					var got struct{ Predictions any }
					if err := json.Unmarshal(body, &got); err != nil || c.Predictions == nil {
						t.Fatalf("response differs from MLflow's:\n got %s\nwant %s", body, c.Response)
					}
					var want any
					_ = json.Unmarshal(c.Predictions, &want)
					if !close(got.Predictions, want) {
						t.Errorf("predictions differ:\n got %s\nwant %s", body, c.Response)
					} else {
						t.Logf("same predictions, other bytes:\n got %s\nwant %s", body, c.Response)
					}
				})
			}
		})
	}
}

// close compares decoded JSON with a tolerance for floats.
func close(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(y)))
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !close(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !close(x[k], y[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// TestPyfuncV2Params: the signature's params schema holds on the Open
// Inference Protocol as on /invocations (defaults, conversion, rejection),
// and a column-based pyfunc model answers V2 requests.
func TestPyfuncV2Params(t *testing.T) {
	py := testenv.Python(t)
	m, err := mlmodel.Load(filepath.Join(testenv.RepoRoot(t), "flavors", "pyfunc", "testdata", "models", "pyfunc_custom"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pyfunc.Flavor{}.Load(context.Background(), m, flavors.LoadOptions{
		CacheDir: t.TempDir(),
		Python:   flavors.PythonOptions{Interpreter: py, Workers: 1, StartTimeout: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.(interface{ Close() error }).Close()
	ts := httptest.NewServer(serve.New(p, serve.Config{Model: m, ModelName: "custom"}))
	defer ts.Close()

	const inputs = `"inputs": [{"name": "word", "datatype": "BYTES", "shape": [2], "data": ["apple", "banana"]},
		{"name": "x", "datatype": "FP64", "shape": [2], "data": [2.0, 1.0]}]`
	cases := []struct {
		name, params string
		status       int
		want         string // the score output's data, or a piece of the error
	}{
		{"defaults", ``, 200, `[1,1.5]`},
		{"int for a double", `"parameters": {"scale": 3},`, 200, `[3,4.5]`},
		{"unknown ignored", `"parameters": {"nope": true},`, 200, `[1,1.5]`},
		{"bad type", `"parameters": {"scale": "big"},`, 400, `Invalid parameters found: {'scale': 'Failed to convert value ` + "`big`" + ` from type ` + "`str`" + ` to ` + "`double`" + `'}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Post(ts.URL+"/v2/models/custom/infer", "application/json", strings.NewReader(`{`+c.params+inputs+`}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.status != 200 {
				var e struct{ Error string }
				if err := json.Unmarshal(body, &e); err != nil || e.Error != c.want {
					t.Fatalf("error %q, want %q", body, c.want)
				}
				return
			}
			var out struct {
				Outputs []struct {
					Name string
					Data json.RawMessage
				}
			}
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Outputs {
				if o.Name == "score" {
					if string(o.Data) != c.want {
						t.Fatalf("score %s, want %s (%s)", o.Data, c.want, body)
					}
					return
				}
			}
			t.Fatalf("no score output: %s", body)
		})
	}
}
