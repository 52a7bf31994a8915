package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
	"github.com/mlship/mlship/tracking/client"
	"github.com/mlship/mlship/tracking/server"
	"github.com/mlship/mlship/tracking/sqlstore"
	"github.com/mlship/mlship/tracking/storetest"
)

// testServer is `mlship server` in-process: MLflow's REST API over a real
// SQLite store in a temp dir, proxying artifacts to a local directory, on
// a real loopback listener.
type testServer struct {
	url   string
	store *sqlstore.Store
	dest  string
}

func newServer(t *testing.T, root string, wrap func(http.Handler) http.Handler) *testServer {
	t.Helper()
	dir := t.TempDir()
	if root == "" {
		root = "mlflow-artifacts:/"
	}
	store, err := sqlstore.Open(context.Background(), "sqlite:///"+filepath.Join(dir, "mlflow.db"), sqlstore.Options{DefaultArtifactRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	dest := filepath.Join(dir, "mlartifacts")
	srv, err := server.New(store, server.Options{
		ServeArtifacts:       true,
		ArtifactsDestination: artifacts.NewLocal(dest),
		OpenArtifacts: func(ctx context.Context, uri string) (artifacts.Repository, error) {
			return artifacts.Open(ctx, uri, artifacts.Options{})
		},
		DefaultArtifactRoot: root,
		Registry:            prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &testServer{url: ts.URL, store: store, dest: dest}
}

func newClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The client is a tracking.Store: the store conformance suite, run
// through the client against the REST server over SQLite, checks the whole
// round trip (requests, JSON, error codes and messages, paging).
func TestConformanceThroughREST(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tracking.Store {
		s := newServer(t, "", nil)
		return newClient(t, s.url)
	})
}

func TestRunLifecycle(t *testing.T) {
	s := newServer(t, "", nil)
	c := newClient(t, s.url)
	ctx := context.Background()

	exp, err := c.CreateExperiment(ctx, "client-exp", "", []tracking.Tag{{Key: "team", Value: "ml"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateExperiment(ctx, "client-exp", "", nil); tracking.CodeOf(err) != tracking.ResourceAlreadyExists {
		t.Fatalf("duplicate experiment: %v", err)
	}
	e, err := c.GetExperimentByName(ctx, "client-exp")
	if err != nil || e.ID != exp || e.ArtifactLocation != "mlflow-artifacts:/"+exp || len(e.Tags) != 1 {
		t.Fatalf("experiment = %+v, %v", e, err)
	}
	run, err := c.CreateRun(ctx, tracking.CreateRun{ExperimentID: exp, RunName: "first", Tags: []tracking.Tag{{Key: "k", Value: "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	id := run.Info.RunID
	if run.Info.Status != tracking.StatusRunning || run.Info.RunName != "first" || run.Info.StartTime == 0 {
		t.Fatalf("created run info = %+v", run.Info)
	}
	if err := c.LogParam(ctx, id, "alpha", "0.5"); err != nil {
		t.Fatal(err)
	}
	if err := c.LogParam(ctx, id, "alpha", "0.5"); err != nil {
		t.Fatalf("same param value again: %v", err)
	}
	err = c.LogParam(ctx, id, "alpha", "0.6")
	var te *tracking.Error
	if !errors.As(err, &te) || te.Code != tracking.InvalidParameterValue || !strings.Contains(te.Message, "Changing param values is not allowed") {
		t.Fatalf("changed param: %v", err)
	}
	now := time.Now().UnixMilli()
	for step, v := range []float64{0.9, 0.5, math.NaN(), math.Inf(1)} {
		if err := c.LogMetric(ctx, id, tracking.Metric{Key: "loss", Value: v, Timestamp: now + int64(step), Step: int64(step)}); err != nil {
			t.Fatalf("log-metric %v: %v", v, err)
		}
	}
	if err := c.LogBatch(ctx, id,
		[]tracking.Metric{{Key: "acc", Value: 0.8, Timestamp: now, Step: 1}, {Key: "acc", Value: 0.85, Timestamp: now, Step: 2}},
		[]tracking.Param{{Key: "layers", Value: "3"}},
		[]tracking.Tag{{Key: "stage", Value: "dev"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTag(ctx, id, "note", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTag(ctx, id, "k"); err != nil {
		t.Fatal(err)
	}
	hist, _, err := c.MetricHistory(ctx, id, "loss", tracking.Page{})
	if err != nil || len(hist) != 4 || hist[0].Value != 0.9 || !math.IsNaN(hist[2].Value) || !math.IsInf(hist[3].Value, 1) {
		t.Fatalf("history = %+v, %v", hist, err)
	}
	info, err := c.UpdateRun(ctx, id, tracking.UpdateRun{Status: tracking.StatusFinished, EndTime: now + 10})
	if err != nil || info.Status != tracking.StatusFinished || info.EndTime != now+10 {
		t.Fatalf("update = %+v, %v", info, err)
	}
	got, err := c.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Tag("note"); v != "hello" {
		t.Errorf("tags = %+v", got.Data.Tags)
	}
	if _, ok := got.Tag("k"); ok {
		t.Error("deleted tag still there")
	}
	if len(got.Data.Params) != 2 {
		t.Errorf("params = %+v", got.Data.Params)
	}
	// What the store holds, read without the REST layer.
	direct, err := s.store.GetRun(ctx, id)
	if err != nil || len(direct.Data.Metrics) != 2 || direct.Info.Status != tracking.StatusFinished {
		t.Fatalf("store run = %+v, %v", direct, err)
	}

	// Search with a filter, page by page.
	for i := range 5 {
		r, err := c.CreateRun(ctx, tracking.CreateRun{ExperimentID: exp})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.LogMetric(ctx, r.Info.RunID, tracking.Metric{Key: "acc", Value: float64(i) / 10, Timestamp: now}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for r, err := range c.Runs(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Filter: "metrics.acc >= 0.2", Page: tracking.Page{MaxResults: 2}}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Info.RunID)
	}
	if len(ids) != 4 { // 0.2, 0.3, 0.4 and the first run's 0.85
		t.Errorf("filtered runs = %d, want 4", len(ids))
	}
	_, _, err = c.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Filter: "metrics.acc > 1 or params.x = 'y'"})
	if tracking.CodeOf(err) != tracking.InvalidParameterValue {
		t.Errorf("bad filter: %v", err)
	}
	if _, err := c.GetRun(ctx, "0123456789abcdef0123456789abcdef"); tracking.CodeOf(err) != tracking.ResourceDoesNotExist {
		t.Errorf("missing run: %v", err)
	}

	if err := c.DeleteRun(ctx, id); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.GetRun(ctx, id); r.Info.LifecycleStage != tracking.StageDeleted {
		t.Errorf("deleted run stage %q", r.Info.LifecycleStage)
	}
	if err := c.RestoreRun(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, body := range files {
		f := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Artifacts through the proxy (mlflow-artifacts:/) and through a local
// artifact root the client writes directly.
func TestArtifacts(t *testing.T) {
	files := map[string]string{
		"MLmodel":          "flavors: {}\n",
		"data/weights":     strings.Repeat("w", 100_000),
		"data/sub/a b.txt": "spaces and ünïcode",
		"empty":            "",
	}
	for _, root := range []string{"proxy", "local"} {
		t.Run(root, func(t *testing.T) {
			artifactRoot := ""
			if root == "local" {
				artifactRoot = t.TempDir()
			}
			s := newServer(t, artifactRoot, nil)
			c := newClient(t, s.url)
			ctx := context.Background()
			run, err := c.CreateRun(ctx, tracking.CreateRun{})
			if err != nil {
				t.Fatal(err)
			}
			id := run.Info.RunID
			if root == "proxy" && !strings.HasPrefix(run.Info.ArtifactURI, "mlflow-artifacts:/") {
				t.Fatalf("artifact_uri %q", run.Info.ArtifactURI)
			}
			src := writeTree(t, files)
			if err := c.UploadArtifacts(ctx, id, src, "model"); err != nil {
				t.Fatal(err)
			}
			single := writeTree(t, map[string]string{"notes.txt": "n"})
			if err := c.UploadArtifact(ctx, id, filepath.Join(single, "notes.txt"), ""); err != nil {
				t.Fatal(err)
			}
			top, err := c.ListArtifacts(ctx, id, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(top) != 2 || top[0].Path != "model" || !top[0].IsDir || top[1].Path != "notes.txt" || top[1].Size != 1 {
				t.Fatalf("root listing = %+v", top)
			}
			sub, err := c.ListArtifacts(ctx, id, "model/data")
			if err != nil || len(sub) != 2 || sub[1].Path != "model/data/weights" || sub[1].Size != 100_000 {
				t.Fatalf("model/data listing = %+v, %v", sub, err)
			}

			dst := t.TempDir()
			local, err := c.DownloadArtifacts(ctx, id, "model", dst)
			if err != nil {
				t.Fatal(err)
			}
			if local != filepath.Join(dst, "model") {
				t.Errorf("downloaded to %s", local)
			}
			got := readTree(t, local)
			delete(files, "empty") // an empty file is still a file
			files["empty"] = ""
			if len(got) != len(files) {
				t.Fatalf("downloaded %d files, want %d: %v", len(got), len(files), keys(got))
			}
			for p, want := range files {
				if got[p] != want {
					t.Errorf("%s: %d bytes, want %d", p, len(got[p]), len(want))
				}
			}
			one, err := c.DownloadArtifacts(ctx, id, "model/data/sub/a b.txt", t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(one); string(b) != files["data/sub/a b.txt"] {
				t.Errorf("single file = %q", b)
			}
			if _, err := c.DownloadArtifacts(ctx, id, "model/missing", t.TempDir()); err == nil {
				t.Error("a missing artifact downloaded")
			}
			if _, err := c.DownloadArtifacts(ctx, id, "../../etc/passwd", t.TempDir()); err == nil {
				t.Error("a climbing path was accepted")
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Idempotent calls are retried after 503 and 429 (Retry-After honoured);
// calls that are not idempotent are not; errors without MLflow's envelope
// still come back as *tracking.Error.
func TestRetries(t *testing.T) {
	var failGets, failPosts atomic.Int32
	var gets, posts atomic.Int32
	s := newServer(t, "", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				gets.Add(1)
				if failGets.Add(-1) >= 0 {
					w.Header().Set("Retry-After", "0")
					http.Error(w, "busy", http.StatusServiceUnavailable)
					return
				}
			} else if strings.HasSuffix(r.URL.Path, "/runs/create") {
				posts.Add(1)
				if failPosts.Add(-1) >= 0 {
					http.Error(w, "slow down", http.StatusTooManyRequests)
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	c := newClient(t, s.url, client.WithRetries(3, time.Millisecond))
	ctx := context.Background()

	failGets.Store(2)
	if _, err := c.GetExperiment(ctx, "0"); err != nil {
		t.Fatalf("GET after two 503s: %v", err)
	}
	if n := gets.Load(); n != 3 {
		t.Errorf("%d GETs, want 3", n)
	}

	failGets.Store(10)
	gets.Store(0)
	_, err := c.GetExperiment(ctx, "0")
	if tracking.CodeOf(err) != tracking.TemporarilyUnavailable || gets.Load() != 4 {
		t.Errorf("GET after persistent 503: %v after %d attempts, want TEMPORARILY_UNAVAILABLE after 4", err, gets.Load())
	}
	failGets.Store(0)

	failPosts.Store(1)
	_, err = c.CreateRun(ctx, tracking.CreateRun{})
	if tracking.CodeOf(err) != "REQUEST_LIMIT_EXCEEDED" || posts.Load() != 1 {
		t.Errorf("create-run after 429: %v after %d attempts, want REQUEST_LIMIT_EXCEEDED after 1", err, posts.Load())
	}

	// A server that is not there: a refused connection is retried, then
	// reported; the context bounds the whole call.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dead := newClient(t, "http://"+addr, client.WithRetries(2, time.Millisecond))
	if _, err := dead.CreateRun(ctx, tracking.CreateRun{}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("dead server: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.GetRun(cctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v", err)
	}
}

// Basic auth and bearer tokens reach the server as MLflow's client sends
// them.
func TestAuthHeaders(t *testing.T) {
	var seen atomic.Value
	s := newServer(t, "", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.Store(r.Header.Get("Authorization"))
			h.ServeHTTP(w, r)
		})
	})
	ctx := context.Background()
	env := map[string]string{"MLFLOW_TRACKING_URI": s.url, "MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "s3cret"}
	c := newClient(t, "", client.WithEnv(func(k string) string { return env[k] }))
	if _, err := c.GetExperiment(ctx, "0"); err != nil {
		t.Fatal(err)
	}
	if got := seen.Load(); got != "Basic YWxpY2U6czNjcmV0" {
		t.Errorf("Authorization = %q", got)
	}
	env["MLFLOW_TRACKING_TOKEN"] = "tok"
	c = newClient(t, "", client.WithEnv(func(k string) string { return env[k] }))
	if _, err := c.GetExperiment(ctx, "0"); err != nil {
		t.Fatal(err)
	}
	if got := seen.Load(); got != "Bearer tok" {
		t.Errorf("Authorization = %q", got)
	}
}

// The server's htpasswd auth answers 401 without MLflow's envelope; the
// client reports it as an error a caller can recognise.
func TestUnauthenticated(t *testing.T) {
	var buf bytes.Buffer
	_, _ = io.Copy(&buf, strings.NewReader(""))
	s := newServer(t, "", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, _, ok := r.BasicAuth(); !ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="mlflow"`)
				http.Error(w, "You are not authenticated.", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c := newClient(t, s.url)
	_, err := c.GetExperiment(context.Background(), "0")
	if tracking.CodeOf(err) != "UNAUTHENTICATED" || !strings.Contains(err.Error(), "not authenticated") {
		t.Errorf("err = %v", err)
	}
}

// A local artifact root that exists only on the server's machine: the
// client downloads through the server's /get-artifact route. (The server
// here maps the root, a path this machine does not have, to a directory.)
func TestArtifactsServerLocalRoot(t *testing.T) {
	serverDisk := t.TempDir()
	const remote = "/nonexistent-mlship-srv-only"
	dir := t.TempDir()
	store, err := sqlstore.Open(context.Background(), "sqlite:///"+filepath.Join(dir, "mlflow.db"), sqlstore.Options{DefaultArtifactRoot: remote})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv, err := server.New(store, server.Options{
		OpenArtifacts: func(ctx context.Context, uri string) (artifacts.Repository, error) {
			rest, ok := strings.CutPrefix(uri, remote)
			if !ok {
				return nil, errors.New("unexpected root " + uri)
			}
			return artifacts.NewLocal(filepath.Join(serverDisk, filepath.FromSlash(rest))), nil
		},
		Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	c := newClient(t, ts.URL)
	ctx := context.Background()
	run, err := c.CreateRun(ctx, tracking.CreateRun{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(run.Info.ArtifactURI, remote) {
		t.Fatalf("artifact_uri %q", run.Info.ArtifactURI)
	}
	// The server's machine has the files.
	onServer := filepath.Join(serverDisk, strings.TrimPrefix(run.Info.ArtifactURI, remote), "model")
	if err := os.MkdirAll(onServer, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(onServer, "MLmodel"), []byte("flavors: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	local, err := c.DownloadArtifacts(ctx, run.Info.RunID, "model", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(local, "MLmodel")); err != nil || string(b) != "flavors: {}\n" {
		t.Fatalf("downloaded MLmodel %q, %v", b, err)
	}
}
