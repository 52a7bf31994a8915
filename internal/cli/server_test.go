package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/testenv"
)

// TestServerCommand runs `mlship server` through the command tree on a
// free port, talks to it over HTTP and stops it as SIGTERM would.
func TestServerCommand(t *testing.T) {
	dir := t.TempDir()
	port := testenv.FreePort(t)
	env := map[string]string{"MLFLOW_PORT": strconv.Itoa(port)} // the port from MLflow's env var
	cmd := New(io.Discard, io.Discard, func(k string) string { return env[k] })
	cmd.SetArgs([]string{"server", "--backend-store-uri", "sqlite:///" + filepath.Join(dir, "mlflow.db"),
		"--artifacts-destination", filepath.Join(dir, "mlartifacts"), "--shutdown-timeout", "5s"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("server exited before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not answer /health: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	call := func(method, path, ct, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := call("GET", "/version", "", ""); code != 200 || body != Version() {
		t.Fatalf("/version: %d %q", code, body)
	}
	if code, body := call("POST", "/api/2.0/mlflow/experiments/create", "application/json", `{"name": "cli"}`); code != 200 || body != `{"experiment_id":"1"}` {
		t.Fatalf("create experiment: %d %s", code, body)
	}
	code, body := call("GET", "/api/2.0/mlflow/experiments/get?experiment_id=1", "", "")
	if code != 200 || !strings.Contains(body, `"artifact_location":"mlflow-artifacts:/1"`) {
		t.Fatalf("experiment with the proxied default root: %d %s", code, body)
	}
	if code, body := call("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/x/artifacts/a.txt", "", "hi"); code != 200 {
		t.Fatalf("upload: %d %s", code, body)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "mlartifacts", "1", "x", "artifacts", "a.txt")); err != nil || string(b) != "hi" {
		t.Fatalf("upload landed as %q, %v", b, err)
	}
	if code, body := call("GET", "/", "", ""); code != 200 || !strings.Contains(body, "<html") {
		t.Fatalf("UI at /: %d %.200s", code, body)
	}
	if code, body := call("GET", "/metrics", "", ""); code != 200 || !strings.Contains(body, "mlship_tracking_requests_total{") || !strings.Contains(body, "process_resident_memory_bytes") {
		t.Fatalf("/metrics: %d %.300s", code, body)
	}
	if code, _ := call("GET", "/api/2.0/mlflow/registered-models/search", "", ""); code != 404 {
		t.Fatalf("registry endpoint: %d, want 404", code)
	}

	cancel() // what SIGTERM does through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
	if _, err := os.Stat(filepath.Join(dir, "mlflow.db")); err != nil {
		t.Fatalf("store file: %v", err)
	}
}

func TestServerCommandRefusesWeakHTPasswd(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(pw, []byte("alice:$apr1$abc$0123456789abcdefghijkl\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := New(io.Discard, io.Discard, func(string) string { return "" })
	cmd.SetArgs([]string{"server", "--port", strconv.Itoa(testenv.FreePort(t)), "--backend-store-uri", "sqlite:///" + filepath.Join(dir, "m.db"),
		"--artifacts-destination", filepath.Join(dir, "art"), "--auth-htpasswd", pw})
	err := cmd.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "unsupported password hash") {
		t.Fatalf("server with an apr1 htpasswd: %v", err)
	}
}

// TestServerCommandStaticPrefix: --static-prefix moves the UI and its
// routes under the prefix, links included; the REST API stays at /api.
func TestServerCommandStaticPrefix(t *testing.T) {
	dir := t.TempDir()
	port := testenv.FreePort(t)
	env := map[string]string{"MLFLOW_STATIC_PREFIX": "/team/mlflow"}
	cmd := New(io.Discard, io.Discard, func(k string) string { return env[k] })
	cmd.SetArgs([]string{"server", "--port", strconv.Itoa(port), "--backend-store-uri", "sqlite:///" + filepath.Join(dir, "mlflow.db"),
		"--artifacts-destination", filepath.Join(dir, "mlartifacts")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with %v", err)
		}
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := get("/team/mlflow/health"); code == 200 {
			break
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("server exited before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not answer /team/mlflow/health")
		}
	}
	resp, err := http.Post(base+"/api/2.0/mlflow/experiments/create", "application/json", strings.NewReader(`{"name": "prefixed"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("REST API at the root: %v %v", resp, err)
	}
	resp.Body.Close()
	if code, body := get("/team/mlflow/"); code != 200 || !strings.Contains(body, `href="/team/mlflow/experiments/1"`) {
		t.Errorf("UI under the prefix: %d %.400s", code, body)
	}
	if code, body := get("/team/mlflow/experiments/1"); code != 200 || !strings.Contains(body, "prefixed") {
		t.Errorf("experiment page: %d %.200s", code, body)
	}
	if code, _ := get("/"); code != 404 {
		t.Errorf("GET / with a prefix: %d, want 404", code)
	}
	if code, _ := get("/health"); code != 404 {
		t.Errorf("GET /health with a prefix: %d, want 404", code)
	}
}

// TestServerCommandStaticPrefixRefused: MLflow's checks and messages.
func TestServerCommandStaticPrefixRefused(t *testing.T) {
	for prefix, want := range map[string]string{"mlflow/": "--static-prefix must begin with a '/'.", "/mlflow/": "--static-prefix should not end with a '/'."} {
		cmd := New(io.Discard, io.Discard, func(string) string { return "" })
		cmd.SetArgs([]string{"server", "--port", strconv.Itoa(testenv.FreePort(t)), "--backend-store-uri", "sqlite:///" + filepath.Join(t.TempDir(), "m.db"),
			"--static-prefix", prefix})
		if err := cmd.ExecuteContext(context.Background()); err == nil || err.Error() != want {
			t.Errorf("--static-prefix %q: %v, want %q", prefix, err, want)
		}
	}
}

// TestServerCommandAcceptsMLflowFlags: flags of `mlflow server` that tune
// its Python process model or its metrics directory are accepted, so
// scripts written for MLflow start mlship unchanged; /metrics is served
// regardless.
func TestServerCommandAcceptsMLflowFlags(t *testing.T) {
	s := startTrackingServer(t, "--expose-prometheus", t.TempDir(), "--gunicorn-opts", "--timeout 120",
		"--waitress-opts", "--threads=4", "--uvicorn-opts", "--loop asyncio", "--dev", "--workers", "4")
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(b), "mlship_tracking_requests_total") {
		t.Fatalf("/metrics: %d %.200s", resp.StatusCode, b)
	}
}

// TestServerCommandArtifactsOnly: --artifacts-only serves the proxy with
// no store (no database file appears) and refuses a backend store URI with
// MLflow's message, its password hidden.
func TestServerCommandArtifactsOnly(t *testing.T) {
	dir := t.TempDir()
	cmd := New(io.Discard, io.Discard, func(string) string { return "" })
	cmd.SetArgs([]string{"server", "--artifacts-only", "--port", strconv.Itoa(testenv.FreePort(t)),
		"--backend-store-uri", "postgresql://u:secret@127.0.0.1:1/db"})
	err := cmd.ExecuteContext(context.Background())
	want := "You are starting a tracking server in `--artifacts-only` mode and have provided a value for `--backend_store_uri`: " +
		"'postgresql://u:xxxxx@127.0.0.1:1/db'. A tracking server in `--artifacts-only` mode cannot have a value set for " +
		"`--backend_store_uri` to properly proxy access to the artifact storage location."
	if err == nil || err.Error() != want {
		t.Errorf("--artifacts-only with a store: %v", err)
	}

	t.Chdir(dir) // the default store, sqlite:///mlflow.db, must not be created
	port := testenv.FreePort(t)
	cmd = New(io.Discard, io.Discard, func(string) string { return "" })
	cmd.SetArgs([]string{"server", "--artifacts-only", "--port", strconv.Itoa(port), "--artifacts-destination", filepath.Join(dir, "art")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitHTTP(t, base+"/health", done)
	req, _ := http.NewRequest("PUT", base+"/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/a.txt", strings.NewReader("A"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("upload: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := http.Get(base + "/api/2.0/mlflow/experiments/get?experiment_id=0"); err != nil || resp.StatusCode != 503 {
		t.Errorf("tracking endpoint: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("server stopped with %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mlflow.db")); !os.IsNotExist(err) {
		t.Errorf("artifacts-only server created mlflow.db: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "art", "0", "r", "artifacts", "a.txt")); err != nil || string(b) != "A" {
		t.Errorf("uploaded file: %q %v", b, err)
	}
}
