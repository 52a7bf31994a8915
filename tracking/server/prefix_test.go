package server_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlship/mlship/tracking/server"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// TestStaticPrefix: with a static prefix, as `mlflow server --static-prefix`,
// the UI, the UI's API (/ajax-api), /health, /version and /get-artifact
// move under the prefix, and the REST API clients call (/api/2.0) and
// /metrics stay where they are.
func TestStaticPrefix(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ui " + r.URL.Path)) })
	e := newEnv(t, func(o *server.Options) { o.StaticPrefix = "/mlflow"; o.UI = ui })
	for path, want := range map[string]string{"/mlflow/health": "OK", "/mlflow/version": "9.9.9-test", "/mlflow/": "ui /mlflow/",
		"/mlflow": "ui /mlflow", "/mlflow/experiments/0": "ui /mlflow/experiments/0"} {
		if r := e.get(path); r.status != 200 || string(r.body) != want {
			t.Errorf("GET %s: %d %q, want %q", path, r.status, r.body, want)
		}
	}
	if r := e.get("/metrics"); r.status != 200 || !strings.Contains(string(r.body), "mlship_tracking_") {
		t.Errorf("GET /metrics: %d", r.status)
	}
	id := str(e.ok(e.post("/api/2.0/mlflow/experiments/create", `{"name": "prefixed"}`), "<any>"), "experiment_id")
	e.ok(e.get("/mlflow/ajax-api/2.0/mlflow/experiments/get?experiment_id="+id), "<any>")
	run := str(e.ok(e.post("/mlflow/ajax-api/2.0/mlflow/runs/create", `{"experiment_id": "`+id+`"}`), "<any>"), "run", "info", "run_id")
	e.ok(e.do("PUT", "/mlflow/ajax-api/2.0/mlflow-artifacts/artifacts/"+id+"/"+run+"/artifacts/a.txt", "application/octet-stream", []byte("A")), `{}`)
	e.ok(e.get("/mlflow/ajax-api/2.0/mlflow-artifacts/artifacts?path="+id+"/"+run+"/artifacts"), `{"files": [{"path": "a.txt", "is_dir": false, "file_size": 1}]}`)
	if r := e.get("/mlflow/get-artifact?run_id=" + run + "&path=a.txt"); r.status != 200 || string(r.body) != "A" {
		t.Errorf("/mlflow/get-artifact: %d %q", r.status, r.body)
	}
	if r := e.get("/api/2.0/mlflow-artifacts/artifacts/" + id + "/" + run + "/artifacts/a.txt"); r.status != 200 || string(r.body) != "A" {
		t.Errorf("REST download: %d %q", r.status, r.body)
	}
	// The unprefixed UI routes are gone; unknown API paths are still JSON 404s.
	for _, path := range []string{"/health", "/version", "/", "/ajax-api/2.0/mlflow/experiments/get?experiment_id=0",
		"/mlflow/ajax-api/2.0/mlflow/nothing", "/get-artifact?run_id=" + run + "&path=a.txt"} {
		r := e.get(path)
		if r.status != 404 || !strings.Contains(string(r.body), "ENDPOINT_NOT_FOUND") {
			t.Errorf("GET %s: %d %q, want a 404 ENDPOINT_NOT_FOUND", path, r.status, r.body)
		}
	}
	e.fails(e.post("/mlflow/ajax-api/2.0/mlflow/runs/get", `{}`), 405, "BAD_REQUEST", "Method POST is not allowed on /mlflow/ajax-api/2.0/mlflow/runs/get.")

	// Requests are counted by endpoint whatever the prefix.
	m := string(e.get("/metrics").body)
	for _, want := range []string{`endpoint="/api/2.0/mlflow/experiments/get",method="GET"`,
		`endpoint="/api/2.0/mlflow-artifacts/artifacts/*",method="PUT"`,
		`endpoint="/health",method="GET"`, `endpoint="ui",method="GET"`} {
		if !strings.Contains(m, `mlship_tracking_requests_total{code="200",`+want+"} ") {
			t.Errorf("/metrics has no %s:\n%s", want, m)
		}
	}
}

func TestStaticPrefixRefused(t *testing.T) {
	store, err := sqlstore.Open(t.Context(), "sqlite:///"+filepath.Join(t.TempDir(), "mlflow.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, p := range []string{"mlflow", "/mlflow/", "/", "/a b", "/a?b", "/a/../b", "/a//b"} {
		if _, err := server.New(store, server.Options{StaticPrefix: p, Registry: prometheus.NewRegistry()}); err == nil {
			t.Errorf("static prefix %q accepted", p)
		}
	}
	if _, err := server.New(store, server.Options{StaticPrefix: "/team-a/mlflow", Registry: prometheus.NewRegistry()}); err != nil {
		t.Errorf("a two-part prefix: %v", err)
	}
}

// TestStaticPrefixAuth: the probe route that needs no credentials is the
// prefixed /health; everything else under the prefix asks for them.
func TestStaticPrefixAuth(t *testing.T) {
	file := htpasswd(t, map[string]string{"alice": "s3cret"})
	e := newEnv(t, func(o *server.Options) { o.StaticPrefix = "/mlflow"; o.AuthHTPasswd = file })
	if r := e.get("/mlflow/health"); r.status != 200 {
		t.Errorf("/mlflow/health without credentials: %d", r.status)
	}
	for _, path := range []string{"/mlflow/version", "/mlflow/ajax-api/2.0/mlflow/experiments/get?experiment_id=0", "/health"} {
		if r := e.get(path); r.status != 401 {
			t.Errorf("%s without credentials: %d, want 401", path, r.status)
		}
	}
	e.user, e.pass = "alice", "s3cret"
	e.ok(e.get("/mlflow/ajax-api/2.0/mlflow/experiments/get?experiment_id=0"), "<any>")
}
