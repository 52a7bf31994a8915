package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/mlmodel"
)

// fakePredictor returns its input as output, or does what the test asks.
type fakePredictor struct {
	fn      func(ctx context.Context, in columnar.Batch) (columnar.Batch, error)
	calls   atomic.Int64
	healthy error
}

func (f *fakePredictor) Predict(ctx context.Context, in columnar.Batch, _ map[string]any) (columnar.Batch, error) {
	f.calls.Add(1)
	if f.fn != nil {
		return f.fn(ctx, in)
	}
	in.Retain()
	return in, nil
}

func (f *fakePredictor) Check(context.Context) error { return f.healthy }

var _ flavors.HealthChecker = (*fakePredictor)(nil)

type response struct {
	status int
	ctype  string
	body   string
	header http.Header
}

func do(t *testing.T, h http.Handler, method, path, ctype, body string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header().Get("Content-Type"), rec.Body.String(), rec.Header()}
}

func envelope(t *testing.T, r response) apierr.Error {
	t.Helper()
	if r.ctype != "application/json" {
		t.Fatalf("content type %q for an error (body %s)", r.ctype, r.body)
	}
	var e struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("error body is not the MLflow envelope: %v: %s", err, r.body)
	}
	return apierr.Error{Code: e.Code, Message: e.Message}
}

func TestHealthAndVersion(t *testing.T) {
	p := &fakePredictor{}
	s := New(p, Config{Version: "1.2.3"})
	for _, path := range []string{"/ping", "/health"} {
		r := do(t, s, "GET", path, "", "")
		// MLflow answers a single newline, typed application/json.
		if r.status != 200 || r.body != "\n" || r.ctype != "application/json" {
			t.Errorf("%s = %d %q %q", path, r.status, r.ctype, r.body)
		}
	}
	if r := do(t, s, "GET", "/version", "", ""); r.status != 200 || r.body != "1.2.3" {
		t.Errorf("/version = %d %q", r.status, r.body)
	}
	p.healthy = errors.New("worker died")
	r := do(t, s, "GET", "/ping", "", "")
	if r.status != 503 || envelope(t, r).Code != apierr.TemporarilyUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("unhealthy /ping = %d %s", r.status, r.body)
	}
}

func TestContentType(t *testing.T) {
	s := New(&fakePredictor{}, Config{})
	tests := []struct {
		ctype, want string
	}{
		{"application/x-www-form-urlencoded", "This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got 'application/x-www-form-urlencoded'."},
		{"application/csv", "Got 'application/csv'."},
		{"", "Got ''."},
		{"application/json; charset=latin-1", "The scoring server only supports UTF-8"},
		{"application/json; format=pandas-split", "Unrecognized content type parameters: format. IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0."},
	}
	for _, tt := range tests {
		r := do(t, s, "POST", "/invocations", tt.ctype, `{"inputs": [1]}`)
		// 415s are plain text in MLflow, not the JSON envelope.
		if r.status != 415 || !strings.HasPrefix(r.ctype, "text/plain") || !strings.Contains(r.body, tt.want) {
			t.Errorf("%q: %d %q %q", tt.ctype, r.status, r.ctype, r.body)
		}
	}
	for _, ok := range []string{"application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8", "Application/JSON"} {
		if r := do(t, s, "POST", "/invocations", ok, `{"inputs": [1]}`); r.status != 200 {
			t.Errorf("%q rejected: %d %s", ok, r.status, r.body)
		}
	}
}

func TestRoutingErrors(t *testing.T) {
	s := New(&fakePredictor{}, Config{})
	r := do(t, s, "GET", "/invocations", "", "")
	if r.status != 405 || envelope(t, r).Code != apierr.BadRequest {
		t.Errorf("GET /invocations = %d %s", r.status, r.body)
	}
	r = do(t, s, "GET", "/v1/models", "", "")
	if r.status != 404 || envelope(t, r).Code != apierr.EndpointNotFound {
		t.Errorf("unknown path = %d %s", r.status, r.body)
	}
}

func TestInvocationsEcho(t *testing.T) {
	p := &fakePredictor{}
	s := New(p, Config{})
	r := do(t, s, "POST", "/invocations", "application/json", `{"dataframe_split": {"columns": ["a"], "data": [[1], [2]]}}`)
	if r.status != 200 || r.body != `{"predictions": [{"a": 1}, {"a": 2}]}` {
		t.Errorf("got %d %s", r.status, r.body)
	}
	r = do(t, s, "POST", "/invocations", "text/csv", "a,b\n1,x\n")
	if r.status != 200 || r.body != `{"predictions": [{"a": 1, "b": "x"}]}` {
		t.Errorf("csv: %d %s", r.status, r.body)
	}
	r = do(t, s, "POST", "/invocations", "application/json", `{"inputs": {"x": [1.5]}}`)
	if r.status != 200 || r.body != `{"predictions": {"x": [1.5]}}` {
		t.Errorf("inputs: %d %s", r.status, r.body)
	}
	r = do(t, s, "POST", "/invocations", "application/json", `{"inputs": [1`)
	if e := envelope(t, r); r.status != 400 || e.Code != apierr.BadRequest {
		t.Errorf("bad json: %d %s", r.status, r.body)
	}
}

func TestSignatureAndSchemaDetails(t *testing.T) {
	sig, err := mlmodel.ParseSchema([]byte(`[{"type": "double", "name": "a", "required": true}]`))
	if err != nil {
		t.Fatal(err)
	}
	m := &mlmodel.Model{Signature: &mlmodel.Signature{Inputs: sig}}
	s := New(&fakePredictor{}, Config{Model: m})
	r := do(t, s, "POST", "/invocations", "application/json", `{"dataframe_split": {"columns": ["b"], "data": [[1]]}}`)
	if e := envelope(t, r); r.status != 400 || e.Code != apierr.InvalidParameterValue || !strings.Contains(e.Message, "Model is missing inputs ['a']") {
		t.Errorf("missing input: %d %s", r.status, r.body)
	}
	s = New(&fakePredictor{}, Config{Model: m, HideSchemaDetails: true})
	r = do(t, s, "POST", "/invocations", "application/json", `{"dataframe_split": {"columns": ["b"], "data": [[1]]}}`)
	if e := envelope(t, r); e.Message != "Failed to enforce model input schema. Please check your input data." {
		t.Errorf("MLFLOW_DISABLE_SCHEMA_DETAILS: %s", r.body)
	}
	// An int for a double column is converted, as MLflow converts it.
	r = do(t, New(&fakePredictor{}, Config{Model: m}), "POST", "/invocations", "application/json", `{"dataframe_records": [{"a": 1}]}`)
	if r.status != 200 || r.body != `{"predictions": [{"a": 1.0}]}` {
		t.Errorf("int into double: %d %s", r.status, r.body)
	}
}

func TestPredictErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{"input error", flavors.BadInput("shape mismatch"), 400, apierr.BadRequest, "Encountered an unexpected error while evaluating the model. Verify that the serialized input Dataframe is compatible with the model for inference. Error: shape mismatch"},
		{"closed", flavors.ErrClosed, 503, apierr.TemporarilyUnavailable, "shutting down"},
		{"internal", errors.New("boom"), 500, apierr.InternalError, "boom"},
		{"api error passes through", apierr.New(apierr.InvalidParameterValue, "bad param"), 400, apierr.InvalidParameterValue, "bad param"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(&fakePredictor{fn: func(context.Context, columnar.Batch) (columnar.Batch, error) { return nil, tt.err }}, Config{})
			r := do(t, s, "POST", "/invocations", "application/json", `{"inputs": [1]}`)
			e := envelope(t, r)
			if r.status != tt.status || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("got %d %s", r.status, r.body)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	p := &fakePredictor{fn: func(ctx context.Context, _ columnar.Batch) (columnar.Batch, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	s := New(p, Config{RequestTimeout: 50 * time.Millisecond})
	start := time.Now()
	r := do(t, s, "POST", "/invocations", "application/json", `{"inputs": [1]}`)
	if e := envelope(t, r); r.status != 504 || e.Code != apierr.DeadlineExceeded || e.Message != "Request processing time exceeded limit" {
		t.Errorf("got %d %s", r.status, r.body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

func TestBodyLimit(t *testing.T) {
	s := New(&fakePredictor{}, Config{MaxBodyBytes: 64})
	body := `{"inputs": [` + strings.Repeat("1,", 100) + `1]}`
	r := do(t, s, "POST", "/invocations", "application/json", body)
	if e := envelope(t, r); r.status != 413 || e.Code != apierr.RequestLimitExceeded || !strings.Contains(e.Message, "64 bytes") {
		t.Errorf("got %d %s", r.status, r.body)
	}
	// Without Content-Length (chunked), the limit still holds.
	req := httptest.NewRequest("POST", "/invocations", io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Errorf("chunked: %d %s", rec.Code, rec.Body)
	}
	if r := do(t, s, "POST", "/invocations", "application/json", `{"inputs": [1]}`); r.status != 200 {
		t.Errorf("small body after a big one: %d %s", r.status, r.body)
	}
}

func TestPanicKeepsServing(t *testing.T) {
	var n atomic.Int64
	p := &fakePredictor{fn: func(_ context.Context, in columnar.Batch) (columnar.Batch, error) {
		if n.Add(1) == 1 {
			panic("model bug")
		}
		in.Retain()
		return in, nil
	}}
	s := New(p, Config{})
	r := do(t, s, "POST", "/invocations", "application/json", `{"inputs": [1]}`)
	if e := envelope(t, r); r.status != 500 || e.Code != apierr.InternalError {
		t.Errorf("panic: %d %s", r.status, r.body)
	}
	if r := do(t, s, "POST", "/invocations", "application/json", `{"inputs": [1]}`); r.status != 200 {
		t.Errorf("after panic: %d %s", r.status, r.body)
	}
}

// TestGracefulShutdown: cancelling Serve's context lets the in-flight
// request finish, then stops accepting.
func TestGracefulShutdown(t *testing.T) {
	started := make(chan struct{})
	p := &fakePredictor{fn: func(_ context.Context, in columnar.Batch) (columnar.Batch, error) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		in.Retain()
		return in, nil
	}}
	s := New(p, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Post(url+"/invocations", "application/json", bytes.NewBufferString(`{"inputs": [7]}`))
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		res <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-started
	cancel()
	r := <-res
	if r.err != nil || r.status != 200 || r.body != `{"predictions": {"": [7]}}` {
		t.Fatalf("in-flight request: %+v", r)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
	if _, err := http.Get(url + "/ping"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
