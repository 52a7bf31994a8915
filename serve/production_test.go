package serve

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/mlmodel"
)

// running serves s on a loopback port until the test ends.
type running struct {
	url    string
	cancel context.CancelFunc
	done   chan error
}

func serveLoopback(t *testing.T, s *Server) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	waitFor(t, func() bool { return s.Ready() })
	return r
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached")
}

func postJSON(t *testing.T, url, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestQueueFullAnswers503: with the instance busy and the queue full, a
// request is refused at once with 503 and Retry-After, in each protocol's
// error format.
func TestQueueFullAnswers503(t *testing.T) {
	gate := make(chan struct{})
	var calls atomic.Int64
	p := &fakePredictor{fn: func(ctx context.Context, in columnar.Batch) (columnar.Batch, error) {
		calls.Add(1)
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		in.Retain()
		return in, nil
	}}
	s := New(p, Config{NoWarmup: true, Batch: BatchConfig{MaxQueue: 1, Instances: 1}})
	r := serveLoopback(t, s)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ { // one running, one queued
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _, body := postJSON(t, r.url+"/invocations", `{"inputs": [1]}`); code != 200 {
				t.Errorf("admitted request: %d %s", code, body)
			}
		}()
		if i == 0 {
			waitFor(t, func() bool { return calls.Load() == 1 })
		}
	}
	waitFor(t, func() bool { return s.pred.QueueLen() == 1 })
	start := time.Now()
	code, hdr, body := postJSON(t, r.url+"/invocations", `{"inputs": [1]}`)
	if code != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(body, `"error_code": "TEMPORARILY_UNAVAILABLE"`) {
		t.Errorf("MLflow route: %d %v %s", code, hdr, body)
	}
	code, hdr, body = postJSON(t, r.url+"/v2/models/model/infer", `{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}`)
	if code != 503 || hdr.Get("Retry-After") == "" || !strings.HasPrefix(body, `{"error":`) {
		t.Errorf("V2 route: %d %v %s", code, hdr, body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusals took %v; they must be immediate", d)
	}
	// A full queue refuses before reading and parsing the body (the work a
	// refused request does is what accepted ones wait for): even a body
	// that would be a 400 gets the 503.
	if code, _, body := postJSON(t, r.url+"/invocations", `{"inputs": [`); code != 503 {
		t.Errorf("malformed body while the queue is full: %d %s", code, body)
	}
	close(gate)
	wg.Wait()
	_, _, metrics := get(t, r.url+"/metrics")
	if !regexp.MustCompile(`mlship_requests_rejected_total\{reason="queue_full"\} 3`).MatchString(metrics) {
		t.Errorf("rejections not counted:\n%s", grep(metrics, "rejected"))
	}
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func grep(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsMove: the documented metrics exist and move with traffic.
func TestMetricsMove(t *testing.T) {
	p := &fakePredictor{}
	sig, _ := mlmodel.ParseSchema([]byte(`[{"type": "double", "name": "a", "required": true}]`))
	m := &mlmodel.Model{Signature: &mlmodel.Signature{Inputs: sig}, ModelUUID: "abc"}
	s := New(p, Config{Model: m, ModelName: "iris", Flavor: "onnx", Batch: BatchConfig{MaxBatchRows: 8}, LoadTime: 1500 * time.Millisecond})
	r := serveLoopback(t, s)
	for i := 0; i < 5; i++ {
		if code, _, body := postJSON(t, r.url+"/invocations", `{"dataframe_records": [{"a": 1}, {"a": 2}]}`); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	postJSON(t, r.url+"/invocations", `{"dataframe_records": [{"b": 1}]}`) // a 400
	_, _, text := get(t, r.url+"/metrics")
	for _, want := range []string{
		`mlship_http_requests_total{code="200",protocol="mlflow",route="/invocations"} 5`,
		`mlship_http_requests_total{code="400",protocol="mlflow",route="/invocations"} 1`,
		`mlship_http_request_duration_seconds_count{protocol="mlflow",route="/invocations"} 6`,
		`mlship_compute_duration_seconds_count`,
		`mlship_queue_duration_seconds_count`,
		`mlship_queue_depth 0`,
		`mlship_http_requests_in_flight 0`,
		`mlship_ready 1`,
		`mlship_model_load_seconds 1.5`,
		`mlship_model_info{flavor="onnx",model_uuid="abc",name="iris",run_id="",version=""} 1`,
		`process_resident_memory_bytes`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in /metrics", want)
		}
	}
	re := regexp.MustCompile(`mlship_batch_rows_sum (\d+)`)
	if mm := re.FindStringSubmatch(text); mm == nil || atoi(mm[1]) < 10 {
		t.Errorf("batch rows did not move: %v", mm)
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// TestReadyAfterWarmup: the server listens at once but reports ready only
// after the warm-up prediction, and not-ready again while draining.
func TestReadyAfterWarmup(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	p := &fakePredictor{fn: func(ctx context.Context, in columnar.Batch) (columnar.Batch, error) {
		if calls.Add(1) == 1 {
			<-release // the warm-up call
		}
		in.Retain()
		return in, nil
	}}
	sig, _ := mlmodel.ParseSchema([]byte(`[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}, "name": "x"}]`))
	s := New(p, Config{Model: &mlmodel.Model{Signature: &mlmodel.Signature{Inputs: sig}}, DrainGrace: 300 * time.Millisecond})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	waitFor(t, func() bool { return calls.Load() == 1 })
	for _, path := range []string{"/ping", "/v2/health/ready", "/v2/models/model/ready"} {
		if code, _, _ := get(t, url+path); code != 503 {
			t.Errorf("%s during warm-up: %d", path, code)
		}
	}
	if code, _, _ := get(t, url+"/v2/health/live"); code != 200 {
		t.Errorf("live during warm-up: %d", code)
	}
	close(release)
	waitFor(t, s.Ready)
	if code, _, _ := get(t, url+"/ping"); code != 200 {
		t.Errorf("ping after warm-up: %d", code)
	}
	cancel()
	// During the drain grace the server still answers, but not ready.
	waitFor(t, func() bool { return !s.Ready() })
	if code, _, _ := get(t, url+"/ping"); code != 503 {
		t.Errorf("ping while draining: %d", code)
	}
	if code, _, body := postJSON(t, url+"/invocations", `{"inputs": [[1, 2, 3, 4]]}`); code != 200 {
		t.Errorf("inference during the grace: %d %s", code, body)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestDrainUnderLoad: on shutdown under load every request the server
// accepted is answered, and the server stops within the drain timeout.
func TestDrainUnderLoad(t *testing.T) {
	var accepted atomic.Int64
	p := &fakePredictor{fn: func(ctx context.Context, in columnar.Batch) (columnar.Batch, error) {
		accepted.Add(1)
		time.Sleep(2 * time.Millisecond)
		in.Retain()
		return in, nil
	}}
	s := New(p, Config{NoWarmup: true, DrainGrace: 100 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
		Batch: BatchConfig{Instances: 2, MaxQueue: 4096}})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String() + "/invocations"
	waitFor(t, s.Ready)
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Post(url, "application/json", strings.NewReader(`{"inputs": [1]}`))
				if err != nil {
					continue // refused after shutdown: never accepted
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within the drain timeout")
	}
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d requests got an error status during the drain", bad.Load())
	}
	// Every request that reached the model was answered with 200.
	if ok.Load() != accepted.Load() || ok.Load() == 0 {
		t.Errorf("model ran %d requests, clients got %d answers", accepted.Load(), ok.Load())
	}
}

// TestMemoryAdmission: bodies beyond the in-flight byte budget are refused
// at once with 503 instead of being read into memory.
func TestMemoryAdmission(t *testing.T) {
	s := New(&fakePredictor{}, Config{NoWarmup: true, MaxBodyBytes: 1 << 20, MaxInflightBytes: 1 << 20})
	held := s.inflight.TryAcquire(1<<20 - 100) // other requests hold almost everything
	if !held {
		t.Fatal("could not hold the budget")
	}
	r := do(t, s, "POST", "/invocations", "application/json", `{"inputs": [`+strings.Repeat("1,", 200)+`1]}`)
	if r.status != 503 || !strings.Contains(r.body, "too many request bytes in flight") {
		t.Errorf("over budget: %d %s", r.status, r.body)
	}
	s.inflight.Release(1<<20 - 100)
	if r := do(t, s, "POST", "/invocations", "application/json", `{"inputs": [1]}`); r.status != 200 {
		t.Errorf("after release: %d %s", r.status, r.body)
	}
	// The reservation is returned after each request: many sequential
	// requests never exhaust the budget.
	for i := 0; i < 100; i++ {
		if r := do(t, s, "POST", "/invocations", "application/json", `{"inputs": [1]}`); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	if !s.inflight.TryAcquire(1 << 20) {
		t.Fatal("reservations leaked")
	}
}

func TestAuthToken(t *testing.T) {
	s := New(&fakePredictor{}, Config{NoWarmup: true, AuthToken: "s3cret"})
	r := do(t, s, "POST", "/invocations", "application/json", `{"inputs": [1]}`)
	if e := envelope(t, r); r.status != 401 || e.Code != "UNAUTHENTICATED" || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %s", r.status, r.body)
	}
	req := func(path, auth string) int {
		q, _ := http.NewRequest("POST", path, strings.NewReader(`{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}`))
		q.Header.Set("Content-Type", "application/json")
		if auth != "" {
			q.Header.Set("Authorization", auth)
		}
		rec := newRecorder()
		s.ServeHTTP(rec, q)
		return rec.Code
	}
	if c := req("/v2/models/model/infer", ""); c != 401 {
		t.Errorf("V2 without token: %d", c)
	}
	if c := req("/v2/models/model/infer", "Bearer wrong"); c != 401 {
		t.Errorf("V2 with a wrong token: %d", c)
	}
	if c := req("/v2/models/model/infer", "Bearer s3cret"); c != 200 {
		t.Errorf("V2 with the token: %d", c)
	}
	for _, open := range []string{"/ping", "/v2/health/ready", "/metrics", "/v2/models/model"} {
		if r := do(t, s, "GET", open, "", ""); r.status != 200 {
			t.Errorf("%s must stay open: %d", open, r.status)
		}
	}
}

// TestTLS serves HTTPS with a certificate made for the test.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	s := New(&fakePredictor{}, Config{NoWarmup: true, TLSCertFile: certFile, TLSKeyFile: keyFile})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	waitFor(t, s.Ready)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("https ping: %d %v", resp.StatusCode, resp.TLS)
	}
	// Plain HTTP to the TLS port is not served.
	if resp, err := http.Get("http://" + ln.Addr().String() + "/ping"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP answered on the TLS port")
	}
}

func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestRequestID: a client's ID is echoed; otherwise one is made up, unique
// per request.
func TestRequestID(t *testing.T) {
	s := New(&fakePredictor{}, Config{NoWarmup: true})
	q, _ := http.NewRequest("GET", "/ping", nil)
	q.Header.Set(RequestIDHeader, "abc-123")
	rec := newRecorder()
	s.ServeHTTP(rec, q)
	if got := rec.Header().Get(RequestIDHeader); got != "abc-123" {
		t.Errorf("echoed ID = %q", got)
	}
	a := do(t, s, "GET", "/ping", "", "").header.Get(RequestIDHeader)
	b := do(t, s, "GET", "/ping", "", "").header.Get(RequestIDHeader)
	if a == "" || a == b {
		t.Errorf("generated IDs %q %q", a, b)
	}
}

var _ = bytes.NewReader
var _ = errors.New
