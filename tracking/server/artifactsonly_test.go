package server_test

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlship/mlship/tracking/artifacts"
	"github.com/mlship/mlship/tracking/server"
)

// TestArtifactsOnly: as `mlflow server --artifacts-only`, the server needs
// no store, proxies artifacts, and answers every tracking endpoint with
// MLflow's 503.
func TestArtifactsOnly(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "mlartifacts")
	srv, err := server.New(nil, server.Options{ArtifactsOnly: true, ServeArtifacts: true,
		ArtifactsDestination: artifacts.NewLocal(dest), Version: "9.9.9-test", Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	e := &env{t: t, url: ts.URL, dest: dest, srv: srv}
	e.ok(e.do("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a.txt", "application/octet-stream", []byte("A")), `{}`)
	e.ok(e.get("/api/2.0/mlflow-artifacts/artifacts?path=1/r/artifacts"), `{"files": [{"path": "a.txt", "is_dir": false, "file_size": 1}]}`)
	if r := e.get("/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a.txt"); r.status != 200 || string(r.body) != "A" {
		t.Errorf("download: %d %q", r.status, r.body)
	}
	if r := e.get("/health"); r.status != 200 {
		t.Errorf("/health: %d", r.status)
	}
	for _, tc := range []struct{ method, path, rule string }{
		{"POST", "/api/2.0/mlflow/runs/create", "/api/2.0/mlflow/runs/create"},
		{"GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id=0", "/ajax-api/2.0/mlflow/experiments/get"},
		{"GET", "/api/2.0/mlflow/artifacts/list?run_id=x", "/api/2.0/mlflow/artifacts/list"},
		{"GET", "/get-artifact?run_id=x&path=a", "/get-artifact"},
	} {
		var body []byte
		if tc.method == "POST" {
			body = []byte(`{}`)
		}
		r := e.do(tc.method, tc.path, "", body)
		want := "Endpoint: " + tc.rule + " disabled due to the mlflow server running in `--artifacts-only` mode. To enable tracking server functionality, run `mlflow server` without `--artifacts-only`"
		if r.status != 503 || string(r.body) != want {
			t.Errorf("%s %s: %d %q", tc.method, tc.path, r.status, r.body)
		}
	}
	if r := e.get("/api/2.0/mlflow/nothing"); r.status != 404 || !strings.Contains(string(r.body), "ENDPOINT_NOT_FOUND") {
		t.Errorf("unknown endpoint: %d %s", r.status, r.body)
	}
	if _, err := server.New(nil, server.Options{Registry: prometheus.NewRegistry()}); err == nil {
		t.Error("a tracking server without a store started")
	}
}
