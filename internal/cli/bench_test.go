package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/loadgen"
	"github.com/mlship/mlship/internal/testenv"
)

// runCLI runs mlship with args and an environment that finds the
// provisioned ONNX Runtime; it returns stdout and the error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	getenv, cache := testenv.ONNXRuntime(t)
	env := func(k string) string {
		if k == "MLSHIP_CACHE_DIR" {
			return cache
		}
		return getenv(k)
	}
	var stdout, stderr bytes.Buffer
	cmd := New(&stdout, &stderr, env)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

func example(t *testing.T, name string) string {
	return filepath.Join(testenv.RepoRoot(t), "examples", name, "model")
}

// TestBenchInProcess is the command end to end: the iris model served
// in-process, a two-level sweep, JSON out, with numbers that make sense.
func TestBenchInProcess(t *testing.T) {
	// --threads 1 keeps ONNX Runtime's spinning thread pool from fighting
	// the concurrent Predict calls of the raw phase on a small machine.
	out, stderr, err := runCLI(t, "bench", example(t, "iris-onnx"), "--duration", "1s", "--warmup", "200ms", "--concurrency", "1,4", "--threads", "1", "--json")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	var r loadgen.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not a JSON report: %v\n%s", err, out)
	}
	if r.Flavor != "onnx" || r.Protocol != loadgen.MLflowJSON || r.URL != "/invocations" || r.Values != "input example" || r.BodyBytes == 0 {
		t.Errorf("report header: flavor %q, protocol %q, url %q, values %q, body %d B", r.Flavor, r.Protocol, r.URL, r.Values, r.BodyBytes)
	}
	if !slices.Contains(r.Server, loadgen.Setting{Name: "--threads", Value: "1"}) || !slices.Contains(r.Server, loadgen.Setting{Name: "--max-batch-rows", Value: "64"}) {
		t.Errorf("server settings %v: want the flags given and the defaults", r.Server)
	}
	if len(r.Levels) != 2 || r.Levels[0].Concurrency != 1 || r.Levels[1].Concurrency != 4 {
		t.Fatalf("levels: %+v", r.Levels)
	}
	for _, l := range r.Levels {
		s := l.Server
		if s.Requests == 0 || s.OK != s.Requests || len(s.Errors) != 0 {
			t.Errorf("c=%d: %d requests, %d ok, errors %v (%s)", l.Concurrency, s.Requests, s.OK, s.Errors, s.FirstError)
		}
		if lat := s.Latency; !(lat.P50 > 0 && lat.P50 <= lat.P90 && lat.P90 <= lat.P99 && lat.P99 <= lat.Max) {
			t.Errorf("c=%d: latency quantiles out of order: %+v", l.Concurrency, lat)
		}
		// Throughput is successful requests over the measured time, which
		// runs 1 s plus the requests in flight at its end.
		if want := float64(s.OK) / s.Seconds; math.Abs(s.Throughput-want) > 0.01*want || s.Seconds < 1 || s.Seconds > 5 {
			t.Errorf("c=%d: throughput %.1f over %.3fs, but %d ok requests", l.Concurrency, s.Throughput, s.Seconds, s.OK)
		}
		if l.Raw == nil {
			t.Fatalf("c=%d: no raw measurement for a model directory", l.Concurrency)
		}
		// Predict without HTTP, decoding and encoding is the limit: the
		// server must not beat it with 1-row requests.
		if l.Raw.Throughput <= s.Throughput || l.RawRatio <= 0 || l.RawRatio >= 1 {
			t.Errorf("c=%d: raw %.0f/s vs server %.0f/s (ratio %v): raw must be faster", l.Concurrency, l.Raw.Throughput, s.Throughput, l.RawRatio)
		}
		if l.MeanBatchRows < 1 || l.MeanBatchRequests < 1 {
			t.Errorf("c=%d: mean batch %v rows, %v requests; want ≥ 1 (read from /metrics)", l.Concurrency, l.MeanBatchRows, l.MeanBatchRequests)
		}
	}
}

// startForTest serves a model in-process as bench does, with bench's
// default serving flags, for tests that need a server URL.
func startForTest(t *testing.T, dir string) *benchTarget {
	t.Helper()
	getenv, cache := testenv.ONNXRuntime(t)
	var level, format string
	d := &deps{stdout: io.Discard, stderr: io.Discard, registry: flavors.Default, logLevel: &level, logFormat: &format,
		env: func(k string) string {
			if k == "MLSHIP_CACHE_DIR" {
				return cache
			}
			return getenv(k)
		}}
	o := &benchOptions{}
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	o.AddFlags(fs, d)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	tg, err := startInProcess(context.Background(), d, o, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tg.stop(); err != nil {
			t.Errorf("stopping the server: %v", err)
		}
	})
	return tg
}

// TestBenchURLTarget: a server known only by URL. Requests come from its
// V2 metadata and its name from /metrics; --requests bounds each level
// exactly; there is nothing to time raw.
func TestBenchURLTarget(t *testing.T) {
	tg := startForTest(t, example(t, "iris-onnx"))
	out, stderr, err := runCLI(t, "bench", tg.base, "--protocol", "v2", "--requests", "300", "--warmup", "0", "--concurrency", "1,3", "--json")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	var r loadgen.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not a JSON report: %v\n%s", err, out)
	}
	if r.URL != "/v2/models/model/infer" || !strings.HasPrefix(r.Values, "made up") || r.Model != "" {
		t.Errorf("url %q, values %q, model %q: want the V2 route of the server's model, made-up values, no model dir", r.URL, r.Values, r.Model)
	}
	for _, l := range r.Levels {
		if l.Server.Requests != 300 || l.Server.OK != 300 || l.Raw != nil {
			t.Errorf("c=%d: %d requests (%d ok), raw %v; want exactly 300 ok and no raw", l.Concurrency, l.Server.Requests, l.Server.OK, l.Raw)
		}
	}

	// The lean client sends the same requests and gets the same answers.
	out, stderr, err = runCLI(t, "bench", tg.base, "--client", "lean", "--requests", "300", "--warmup", "0", "--concurrency", "1,3", "--json")
	if err != nil {
		t.Fatalf("bench --client lean: %v\n%s", err, stderr)
	}
	r = loadgen.Report{}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not a JSON report: %v\n%s", err, out)
	}
	if !strings.Contains(r.Load, "lean client") || len(r.Levels) != 2 {
		t.Errorf("load %q, %d levels: want the lean client named and 2 levels", r.Load, len(r.Levels))
	}
	for _, l := range r.Levels {
		if l.Server.Requests != 300 || l.Server.OK != 300 {
			t.Errorf("lean, c=%d: %d requests (%d ok, errors %v, %s); want exactly 300 ok", l.Concurrency, l.Server.Requests, l.Server.OK, l.Server.Errors, l.Server.FirstError)
		}
	}

	// With --model the example's rows are sent; the markdown report has a
	// row per level and no raw columns.
	out, stderr, err = runCLI(t, "bench", tg.base, "--model", example(t, "iris-onnx"), "--requests", "50", "--warmup", "0", "--concurrency", "2")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "values: input example") || !strings.Contains(out, "\n| 2 | ") || strings.Contains(out, "raw req/s") {
		t.Errorf("markdown report:\n%s", out)
	}
}

// TestMLPExampleAnswersNumpy checks examples/mlp-onnx against the numpy
// evaluation its generator wrote, through the in-process server bench
// uses: the benchmark model computes what its graph says.
func TestMLPExampleAnswersNumpy(t *testing.T) {
	tg := startForTest(t, example(t, "mlp-onnx"))
	if tg.schema == nil || len(tg.schema.Tensors) != 1 || tg.schema.Tensors[0].Shape[1] != 256 {
		t.Fatalf("input schema %+v, want one [-1, 256] tensor", tg.schema)
	}
	body, err := os.ReadFile(filepath.Join(example(t, "mlp-onnx"), "serving_input_example.json"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(tg.base+"/invocations", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Predictions struct{ Output [][]float64 } `json:"predictions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "examples", "mlp-onnx", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct{ Output [][]float64 }
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if len(got.Predictions.Output) != 3 || len(want.Output) != 3 {
		t.Fatalf("rows: got %d, want 3 and 3 expected", len(got.Predictions.Output))
	}
	for r := range want.Output {
		for k, w := range want.Output[r] {
			// float32 sums over 512 terms in another order: 1e-4 is ~1000 ulps
			// at these magnitudes, far below any real error.
			if g := got.Predictions.Output[r][k]; math.Abs(g-w) > 1e-4 {
				t.Errorf("row %d output %d: %v, numpy %v", r, k, g, w)
			}
		}
	}
}

func TestBenchRefuses(t *testing.T) {
	iris := example(t, "iris-onnx")
	for _, tc := range []struct {
		args []string
		want string
	}{
		// The iris input is a [-1, 4] tensor, which CSV cells cannot hold.
		{[]string{"--protocol", "csv"}, "text/csv cannot carry input \"input\""},
		{[]string{"--protocol", "grpc"}, "unknown protocol"},
		{[]string{"--concurrency", "0"}, "levels must be at least 1"},
		{[]string{"--duration", "0"}, "--duration 0 needs --requests"},
		{[]string{"--model", iris}, "--model is for URL targets"},
		{[]string{"--client", "curl"}, "--client must be std or lean"},
	} {
		_, _, err := runCLI(t, append([]string{"bench", iris, "--warmup", "0", "--requests", "1"}, tc.args...)...)
		if tc.args[0] == "--duration" {
			_, _, err = runCLI(t, "bench", iris, "--duration", "0")
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}
