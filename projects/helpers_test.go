package projects

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/projects/mlproject"
	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
	"github.com/mlship/mlship/tracking/client"
	"github.com/mlship/mlship/tracking/server"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// trackingServer is a real `mlship server` (tracking/server over a SQLite
// store in a temporary directory, proxying artifacts) on 127.0.0.1, and a
// client of it.
type trackingServer struct {
	url    string
	client *client.Client
}

func newTrackingServer(t *testing.T) *trackingServer {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlstore.Open(context.Background(), "sqlite:///"+filepath.Join(dir, "mlflow.db"), sqlstore.Options{DefaultArtifactRoot: "mlflow-artifacts:/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv, err := server.New(store, server.Options{
		ServeArtifacts: true, ArtifactsDestination: artifacts.NewLocal(filepath.Join(dir, "mlartifacts")),
		DefaultArtifactRoot: "mlflow-artifacts:/", Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler()) // listens on 127.0.0.1
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &trackingServer{url: ts.URL, client: c}
}

// testEnviron is the process environment without proxies (the scripts
// talk to 127.0.0.1, and urllib honours http_proxy) or MLflow variables
// of the developer's shell.
func testEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.Contains(strings.ToLower(k), "proxy") || strings.HasPrefix(k, "MLFLOW_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func getenvOf(env []string) func(string) string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

// options are Run options against ts with output captured.
func (ts *trackingServer) options(t *testing.T, uri string, params ...string) (Options, *testenv.SyncBuffer, *testenv.SyncBuffer) {
	t.Helper()
	env := testEnviron()
	var stdout, stderr testenv.SyncBuffer
	o := Options{
		URI: uri, Params: kvs(t, params...), Tracker: ts.client, TrackingURI: ts.url,
		Environ: env, Getenv: getenvOf(env), CacheDir: t.TempDir(), User: "tester",
		Stdout: &stdout, Stderr: &stderr, StorageDir: t.TempDir(),
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	})
	return o, &stdout, &stderr
}

func kvs(t *testing.T, params ...string) []mlproject.KV {
	t.Helper()
	var out []mlproject.KV
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			t.Fatalf("bad param %q", p)
		}
		out = append(out, mlproject.KV{Key: k, Value: v})
	}
	return out
}

// example copies examples/projects/<name> to a temporary directory (not a
// git repository), keeping modes.
func example(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(t), "examples", "projects", name)
	dst := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// requirePython skips (fails under CI) without a python on PATH.
func requirePython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python"); err != nil {
		testenv.Missing(t, "python is not on PATH")
	}
}

// getRun fetches a run and indexes its params, tags and metrics.
type runView struct {
	*tracking.Run
	params, tags map[string]string
	metrics      map[string]float64
}

func (ts *trackingServer) run(t *testing.T, id string) runView {
	t.Helper()
	r, err := ts.client.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	v := runView{Run: r, params: map[string]string{}, tags: map[string]string{}, metrics: map[string]float64{}}
	for _, p := range r.Data.Params {
		v.params[p.Key] = p.Value
	}
	for _, tg := range r.Data.Tags {
		v.tags[tg.Key] = tg.Value
	}
	for _, m := range r.Data.Metrics {
		v.metrics[m.Key] = m.Value
	}
	return v
}

// runs lists every run of an experiment.
func (ts *trackingServer) runs(t *testing.T, expID string) []tracking.Run {
	t.Helper()
	var out []tracking.Run
	for r, err := range ts.client.Runs(context.Background(), tracking.RunQuery{ExperimentIDs: []string{expID}, ViewType: tracking.All}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func wantMap(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s %s = %q, want %q", what, k, got[k], v)
		}
	}
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }
