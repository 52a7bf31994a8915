package loadgen_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/loadgen"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve"
)

// echo is a Predictor answering its input: the server's codecs and
// batcher are real, the model is not needed.
type echo struct{}

func (echo) Predict(_ context.Context, in columnar.Batch, _ map[string]any) (columnar.Batch, error) {
	in.Retain()
	return in, nil
}

var _ flavors.Predictor = echo{}

// startServer runs the real server (with its batcher) on 127.0.0.1:0.
func startServer(t *testing.T, m *mlmodel.Model, cfg serve.Config) string {
	t.Helper()
	cfg.Model = m
	srv := serve.New(echo{}, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	for !srv.Ready() {
		time.Sleep(time.Millisecond)
	}
	return "http://" + ln.Addr().String()
}

// TestAgainstTheRealServer: every protocol's body is answered 200 by
// mlship's handlers; the V2 metadata and /metrics readers understand what
// the server publishes.
func TestAgainstTheRealServer(t *testing.T) {
	m, err := mlmodel.Load(filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model"))
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, m, serve.Config{Batching: "on", Batch: serve.BatchConfig{MaxBatchRows: 64}})
	client := loadgen.NewClient(4)
	ctx := context.Background()

	got, err := loadgen.V2Inputs(ctx, client, base, "model", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m.Signature.Inputs.Tensors, got.Tensors); diff != "" {
		t.Errorf("V2Inputs differs from the signature (-want +got):\n%s", diff)
	}
	if _, err := loadgen.V2Inputs(ctx, client, base, "nope", nil); err == nil {
		t.Error("V2Inputs of an unknown model: no error")
	}

	example, _ := m.InputExample()
	sample, err := loadgen.NewSample(m.Signature.Inputs, example, 2)
	if err != nil {
		t.Fatal(err)
	}
	before, ok, err := loadgen.ScrapeMetrics(ctx, client, base, nil)
	if err != nil || !ok || before.ModelName != "model" {
		t.Fatalf("metrics before: %+v, ok %v, err %v", before, ok, err)
	}
	for _, p := range []loadgen.Protocol{loadgen.MLflowJSON, loadgen.V2, loadgen.Arrow} {
		ctype, body, err := sample.Body(p)
		if err != nil {
			t.Fatal(err)
		}
		req := loadgen.Request{URL: base + p.Path("model"), ContentType: ctype, Body: body}
		if status, answer, err := loadgen.Send(ctx, client, req); err != nil || status != 200 {
			t.Fatalf("%s: status %d, err %v: %s", p, status, err, answer)
		}
		res, err := loadgen.Run(ctx, loadgen.Options{Concurrency: 4, Requests: 200}, loadgen.HTTPCaller(client, req))
		if err != nil {
			t.Fatal(err)
		}
		if res.OK != 200 || res.ErrorCount() != 0 {
			t.Errorf("%s: %d ok, errors %v (%s)", p, res.OK, res.Errors, res.FirstError)
		}
	}
	after, ok, err := loadgen.ScrapeMetrics(ctx, client, base, nil)
	if err != nil || !ok {
		t.Fatalf("metrics after: ok %v, err %v", ok, err)
	}
	// 603 requests of 2 rows each went through the batcher: the counters
	// moved by that many rows and requests, in at most that many calls.
	if rows, reqs, n := after.BatchRows-before.BatchRows, after.BatchRequests-before.BatchRequests, after.Batches-before.Batches; rows != 1206 || reqs != 603 || n < 1 || n > 603 {
		t.Errorf("batch counters moved by %v rows, %v requests, %v calls; want 1206, 603, 1..603", rows, reqs, n)
	}
}

func TestHTTPCallerCountsStatuses(t *testing.T) {
	var n atomic.Int64
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization") + " " + r.Header.Get("Content-Type"))
		if n.Add(1)%4 == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"predictions": [1]}`))
	}))
	defer srv.Close()
	req := loadgen.Request{URL: srv.URL, ContentType: "text/csv", Body: []byte("a\n1\n"), Header: http.Header{"Authorization": {"Bearer t"}}}
	res, err := loadgen.Run(context.Background(), loadgen.Options{Concurrency: 2, Requests: 100}, loadgen.HTTPCaller(loadgen.NewClient(2), req))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 75 || res.Errors["503"] != 25 {
		t.Errorf("ok %d, errors %v; want 75 and 25 503s", res.OK, res.Errors)
	}
	if got := auth.Load(); got != "Bearer t text/csv" {
		t.Errorf("headers sent: %q", got)
	}

	srv.Close() // now nothing answers: transport errors, not statuses
	res, err = loadgen.Run(context.Background(), loadgen.Options{Concurrency: 1, Requests: 3}, loadgen.HTTPCaller(loadgen.NewClient(1), req))
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors["transport"] != 3 || res.FirstError == "" {
		t.Errorf("closed server: errors %v, first %q", res.Errors, res.FirstError)
	}
}

// TestCPUReading: the process's own CPU time shows up between readings
// taken around busy work, and never exceeds the machine's.
func TestCPUReading(t *testing.T) {
	a := loadgen.ReadCPU()
	x := 0
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
		x++
	}
	use := loadgen.CPUBetween(a, loadgen.ReadCPU())
	// Both counters advance in clock ticks (10 ms), read at slightly
	// different moments: over 200 ms of 2+ CPUs a tick or two is ~5 points.
	if use.Process <= 0 || use.Process > use.Machine+6 || use.Machine > 100 {
		t.Errorf("after 200ms of spinning: %+v (x=%d); want process > 0 and ≤ machine (± 2 ticks) ≤ 100", use, x)
	}
	if (loadgen.CPUBetween(loadgen.CPUReading{}, a) != loadgen.CPUUse{}) {
		t.Error("an empty reading gave a use")
	}
}

func TestParseMetrics(t *testing.T) {
	text := []byte(`# HELP mlship_batch_rows Rows in one Predict call.
# TYPE mlship_batch_rows histogram
mlship_batch_rows_bucket{le="1"} 3
mlship_batch_rows_sum 130
mlship_batch_rows_count 4
mlship_batch_requests_sum 70
mlship_model_info{flavor="onnx",model_uuid="u",name="iris",run_id="",version="3"} 1
mlship_model_version_info{name="other"} 1
`)
	m, ok, err := loadgen.ParseMetrics(text)
	if err != nil || !ok {
		t.Fatalf("ok %v, err %v", ok, err)
	}
	if want := (loadgen.Metrics{Batches: 4, BatchRows: 130, BatchRequests: 70, ModelName: "iris"}); m != want {
		t.Errorf("got %+v, want %+v", m, want)
	}
	if _, ok, _ := loadgen.ParseMetrics([]byte("go_goroutines 7\n")); ok {
		t.Error("a page without mlship's batch metrics: ok")
	}
	if _, _, err := loadgen.ParseMetrics([]byte("mlship_batch_rows_count x\n")); err == nil {
		t.Error("malformed value: no error")
	}
}

func TestReport(t *testing.T) {
	server := loadgen.Stats{Requests: 100, OK: 90, Errors: map[string]int64{"503": 10}, Throughput: 900,
		Latency: loadgen.Latency{P50: 100, P90: 150, P99: 300, P999: 400, Max: 500, Mean: 110}}
	raw := loadgen.Stats{Requests: 1000, OK: 1000, Throughput: 3600, Latency: loadgen.Latency{P50: 10, P99: 40}}
	lvl := loadgen.NewLevel(8, server, &raw)
	if lvl.RawRatio != 0.25 || lvl.OverheadP50 != 90 || lvl.OverheadP99 != 260 {
		t.Errorf("ratio %v, overhead p50 %v p99 %v; want 0.25, 90, 260", lvl.RawRatio, lvl.OverheadP50, lvl.OverheadP99)
	}
	r := &loadgen.Report{Target: "x", Protocol: loadgen.V2, Levels: []loadgen.Level{lvl, loadgen.NewLevel(16, server, nil)}}
	var md, js strings.Builder
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| 8 | 900 | 100.0 | 150.0 | 300.0 | 400.0 | 500.0 | 10 (10.0%; 503: 10) | – | 0% / 0% | 3600 | 10.0 | 40.0 | 25.0% | 90.0 |",
		"| 16 | 900 | 100.0 | 150.0 | 300.0 | 400.0 | 500.0 | 10 (10.0%; 503: 10) | – | 0% / 0% | – | – | – | – | – |",
	} {
		if !slices.Contains(strings.Split(md.String(), "\n"), want) {
			t.Errorf("markdown lacks row\n%s\n%s", want, md.String())
		}
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"throughput_ratio_to_raw": 0.25`, `"p99.9": 400`, `"503": 10`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, js.String())
		}
	}
}
