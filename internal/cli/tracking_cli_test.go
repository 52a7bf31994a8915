package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"golang.org/x/crypto/bcrypt"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/pack"
	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/client"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// trackingServer is `mlship server` started through the CLI on a free
// loopback port, over SQLite in a temp dir, proxying artifacts.
type trackingServer struct {
	url  string
	dir  string // holds mlflow.db and mlartifacts/
	stop func()
}

func startTrackingServer(t *testing.T, extra ...string) *trackingServer {
	t.Helper()
	dir := t.TempDir()
	port := testenv.FreePort(t)
	cmd := New(io.Discard, io.Discard, func(string) string { return "" })
	cmd.SetArgs(append([]string{"server", "--port", strconv.Itoa(port), "--no-ui",
		"--backend-store-uri", "sqlite:///" + filepath.Join(dir, "mlflow.db"),
		"--artifacts-destination", filepath.Join(dir, "mlartifacts"), "--shutdown-timeout", "5s"}, extra...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	s := &trackingServer{url: "http://127.0.0.1:" + strconv.Itoa(port), dir: dir}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("tracking server stopped with %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("tracking server did not stop")
			}
		})
	}
	t.Cleanup(s.stop)
	waitHTTP(t, s.url+"/health", done)
	return s
}

// waitHTTP polls url until it answers 200, failing when done reports the
// process ended first.
func waitHTTP(t *testing.T, url string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("%s: exited before answering: %v", url, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mlship runs one CLI command with env and returns its stdout; it fails
// the test when the command fails.
func mlship(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, errOut, err := mlshipErr(t, env, args...)
	if err != nil {
		t.Fatalf("mlship %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func mlshipErr(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := New(&stdout, &stderr, func(k string) string { return env[k] })
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return stdout.String(), stderr.String(), err
}

// The tracking verbs end to end through the CLI against `mlship server`:
// experiments, models log (the uploaded MLmodel names its run, the
// source directory is untouched, the run records the model), runs,
// artifacts, and runs:/ URIs in inspect and serve (downloaded once).
func TestTrackingCLI(t *testing.T) {
	srv := startTrackingServer(t)
	cache := t.TempDir()
	env := map[string]string{"MLFLOW_TRACKING_URI": srv.url, "MLSHIP_CACHE_DIR": cache, "USER": "tester"}
	ctx := context.Background()
	c, err := client.New(srv.url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if out := mlship(t, env, "experiments", "create", "-n", "iris"); out != "Created experiment 'iris' with id 1\n" {
		t.Fatalf("experiments create: %q", out)
	}
	if _, _, err := mlshipErr(t, env, "experiments", "create", "-n", "iris"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate experiment: %v", err)
	}
	if out := mlship(t, env, "experiments", "search"); !strings.Contains(out, "Experiment Id") || !strings.Contains(out, "iris") || !strings.Contains(out, "mlflow-artifacts:/1") {
		t.Fatalf("experiments search:\n%s", out)
	}

	// models log into a new run of the experiment.
	src := filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")
	before, err := os.ReadFile(filepath.Join(src, mlmodel.FileName))
	if err != nil {
		t.Fatal(err)
	}
	out := mlship(t, env, "models", "log", "-m", src, "--experiment-name", "iris", "--run-name", "logged")
	uri := strings.TrimSpace(out)
	runID, ok := strings.CutPrefix(uri, "runs:/")
	runID, ok2 := strings.CutSuffix(runID, "/model")
	if !ok || !ok2 || len(runID) != 32 {
		t.Fatalf("models log printed %q", out)
	}
	if after, _ := os.ReadFile(filepath.Join(src, mlmodel.FileName)); !bytes.Equal(after, before) {
		t.Fatal("models log changed the source MLmodel")
	}
	run, err := c.GetRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != tracking.StatusFinished || run.Info.ExperimentID != "1" || run.Info.RunName != "logged" || run.Info.EndTime == 0 {
		t.Errorf("run info = %+v", run.Info)
	}
	if u, _ := run.Tag("mlflow.user"); u != "tester" {
		t.Errorf("mlflow.user = %q", u)
	}
	hist, ok := run.Tag("mlflow.log-model.history")
	if !ok {
		t.Fatalf("no mlflow.log-model.history tag: %+v", run.Data.Tags)
	}
	var entries []map[string]any
	if err := json.Unmarshal([]byte(hist), &entries); err != nil || len(entries) != 1 {
		t.Fatalf("history %s: %v", hist, err)
	}
	e := entries[0]
	if e["run_id"] != runID || e["artifact_path"] != "model" || e["model_uuid"] != "6a1f0e2b3c4d4e5f8a9b0c1d2e3f4a5b" {
		t.Errorf("history entry = %v", e)
	}
	if fl, _ := e["flavors"].(map[string]any); fl["onnx"] == nil || fl["python_function"] == nil {
		t.Errorf("history flavors = %v", e["flavors"])
	}
	if sig, _ := e["signature"].(map[string]any); sig == nil || !strings.Contains(sig["inputs"].(string), `"float32"`) {
		t.Errorf("history signature = %v", e["signature"])
	}
	// The uploaded MLmodel, read straight from the artifact store.
	stored := filepath.Join(srv.dir, "mlartifacts", "1", runID, "artifacts", "model")
	m, err := mlmodel.Load(stored)
	if err != nil {
		t.Fatal(err)
	}
	if m.RunID != runID || m.ArtifactPath != "model" || m.ModelUUID != "6a1f0e2b3c4d4e5f8a9b0c1d2e3f4a5b" || m.Signature == nil {
		t.Errorf("uploaded MLmodel: run_id %q artifact_path %q uuid %q", m.RunID, m.ArtifactPath, m.ModelUUID)
	}
	for _, f := range []string{"model.onnx", "input_example.json", "serving_input_example.json", "python_env.yaml"} {
		want, _ := os.ReadFile(filepath.Join(src, f))
		if got, err := os.ReadFile(filepath.Join(stored, f)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("uploaded %s differs (%v)", f, err)
		}
	}

	// Logging again to the same (finished) run appends to the history.
	mlship(t, env, "models", "log", "-m", src, "--run-id", runID, "--artifact-path", "again")
	run, _ = c.GetRun(ctx, runID)
	hist, _ = run.Tag("mlflow.log-model.history")
	if err := json.Unmarshal([]byte(hist), &entries); err != nil || len(entries) != 2 || entries[1]["artifact_path"] != "again" {
		t.Errorf("history after a second log: %s", hist)
	}
	if _, _, err := mlshipErr(t, env, "models", "log", "-m", src, "--run-id", runID, "--artifact-path", "../x"); err == nil {
		t.Error("an --artifact-path leaving the run was accepted")
	}

	// runs and artifacts verbs.
	if out := mlship(t, env, "runs", "list", "--experiment-id", "1"); !strings.Contains(out, runID) || !strings.Contains(out, "logged") {
		t.Errorf("runs list:\n%s", out)
	}
	var desc map[string]map[string]any
	if err := json.Unmarshal([]byte(mlship(t, env, "runs", "describe", "--run-id", runID)), &desc); err != nil {
		t.Fatal(err)
	}
	if desc["info"]["status"] != "FINISHED" || desc["info"]["run_id"] != runID {
		t.Errorf("runs describe info = %v", desc["info"])
	}
	var files []map[string]any
	if err := json.Unmarshal([]byte(mlship(t, env, "artifacts", "list", "-r", runID, "-a", "model")), &files); err != nil {
		t.Fatal(err)
	}
	if len(files) != 7 || files[0]["path"] != "model/MLmodel" {
		t.Errorf("artifacts list = %v", files)
	}
	note := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(note, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mlship(t, env, "artifacts", "log-artifact", "-l", note, "-r", runID, "-a", "notes"); !strings.Contains(out, "artifact_path=notes") {
		t.Errorf("log-artifact: %q", out)
	}
	dst := t.TempDir()
	got := strings.TrimSpace(mlship(t, env, "artifacts", "download", "-u", "runs:/"+runID+"/notes/note.txt", "-d", dst))
	if b, err := os.ReadFile(got); err != nil || string(b) != "hello" || got != filepath.Join(dst, "notes", "note.txt") {
		t.Errorf("download %s: %q, %v", got, b, err)
	}
	got = strings.TrimSpace(mlship(t, env, "artifacts", "download", "-r", runID, "-a", "model", "-d", dst))
	if _, err := mlmodel.Load(got); err != nil {
		t.Errorf("downloaded model: %v", err)
	}

	// runs:/ in inspect: downloaded into the cache once.
	var rep inspectReport
	if err := json.Unmarshal([]byte(mlship(t, env, "inspect", "--json", uri)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.RunID != runID || rep.ArtifactPath != "model" || !strings.HasPrefix(rep.Path, filepath.Join(cache, "runs", runID)) || rep.Serving.Flavor != "onnx" {
		t.Errorf("inspect %s: path %s run_id %s serving %+v", uri, rep.Path, rep.RunID, rep.Serving)
	}
	// The cached copy serves later commands without the server's copy.
	if err := os.RemoveAll(stored); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(mlship(t, env, "inspect", "--json", uri)), &rep); err != nil || rep.RunID != runID {
		t.Fatalf("inspect from the cache: %v", err)
	}
	if _, _, err := mlshipErr(t, env, "inspect", "runs:/"+runID+"/nothing"); err == nil {
		t.Error("inspect of a missing runs:/ path succeeded")
	}
	if _, _, err := mlshipErr(t, map[string]string{"MLSHIP_CACHE_DIR": cache}, "inspect", "runs:/0123456789abcdef0123456789abcdef/model"); err == nil || !strings.Contains(err.Error(), "MLFLOW_TRACKING_URI") {
		t.Errorf("runs:/ without a tracking URI: %v", err)
	}

	// Soft delete and restore.
	mlship(t, env, "runs", "delete", "--run-id", runID)
	if r, _ := c.GetRun(ctx, runID); r.Info.LifecycleStage != tracking.StageDeleted {
		t.Errorf("after runs delete: %q", r.Info.LifecycleStage)
	}
	if out := mlship(t, env, "runs", "list", "--experiment-id", "1", "-v", "deleted_only"); !strings.Contains(out, runID) {
		t.Errorf("deleted runs:\n%s", out)
	}
	mlship(t, env, "runs", "restore", "--run-id", runID)
	mlship(t, env, "experiments", "rename", "-x", "1", "--new-name", "iris-2")
	mlship(t, env, "experiments", "delete", "-x", "1")
	if e, err := c.GetExperiment(ctx, "1"); err != nil || e.Name != "iris-2" || e.LifecycleStage != tracking.StageDeleted {
		t.Errorf("experiment after rename and delete: %+v, %v", e, err)
	}
	mlship(t, env, "experiments", "restore", "-x", "1")
	if _, _, err := mlshipErr(t, map[string]string{}, "runs", "list", "--experiment-id", "1"); err == nil || !strings.Contains(err.Error(), "MLFLOW_TRACKING_URI") {
		t.Errorf("no tracking URI: %v", err)
	}
}

// A model logged with `models log` serves and batch-scores from its
// runs:/ URI.
func TestServeRunsURI(t *testing.T) {
	testenv.ONNXRuntime(t)
	lib := os.Getenv("MLSHIP_ONNXRUNTIME_LIB")
	if lib == "" {
		lib = filepath.Join(testenv.CacheDir(), "onnxruntime", "1.30.0", "libonnxruntime.so.1")
	}
	srv := startTrackingServer(t)
	env := map[string]string{"MLFLOW_TRACKING_URI": srv.url, "MLSHIP_CACHE_DIR": t.TempDir(), "MLSHIP_ONNXRUNTIME_LIB": lib}
	src := filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")
	uri := strings.TrimSpace(mlship(t, env, "models", "log", "-m", src))
	if !strings.HasPrefix(uri, "runs:/") {
		t.Fatalf("models log printed %q", uri)
	}

	port := testenv.FreePort(t)
	cmd := New(io.Discard, io.Discard, func(k string) string { return env[k] })
	cmd.SetArgs([]string{"serve", uri, "--port", strconv.Itoa(port)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitHTTP(t, base+"/ping", done)
	body, err := os.ReadFile(filepath.Join(src, "serving_input_example.json"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/invocations", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var pred struct {
		Predictions map[string][]any `json:"predictions"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(out, &pred) != nil || len(pred.Predictions["label"]) != 3 {
		t.Fatalf("/invocations: %d %s", resp.StatusCode, out)
	}
	// The iris example's three rows are one of each class.
	if l := pred.Predictions["label"]; l[0] != 0.0 || l[1] != 1.0 || l[2] != 2.0 {
		t.Errorf("labels = %v", l)
	}

	// Batch scoring from the same URI (the cached copy).
	out = []byte(mlship(t, env, "models", "predict", "-m", uri, "-i", filepath.Join(src, "serving_input_example.json"), "-t", "json", "-q"))
	pred.Predictions = nil
	if err := json.Unmarshal(out, &pred); err != nil || len(pred.Predictions["label"]) != 3 || pred.Predictions["label"][2] != 2.0 {
		t.Errorf("models predict -m %s: %s (%v)", uri, out, err)
	}
}

// build-docker packs a model from its runs:/ URI, and the image's label
// names the run the uploaded MLmodel records.
func TestBuildDockerRunsURI(t *testing.T) {
	srv := startTrackingServer(t)
	env := map[string]string{"MLFLOW_TRACKING_URI": srv.url, "MLSHIP_CACHE_DIR": t.TempDir()}
	src := filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")
	uri := strings.TrimSpace(mlship(t, env, "models", "log", "-m", src))
	runID := strings.TrimSuffix(strings.TrimPrefix(uri, "runs:/"), "/model")
	dir := t.TempDir()
	_, stderr, err := buildDockerCLI(t, env, "build-docker", "-m", uri, "-n", "iris:run", "--oci-layout", filepath.Join(dir, "layout"))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	p, err := layout.FromPath(filepath.Join(dir, "layout"))
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	im, _ := idx.IndexManifest()
	img, _ := idx.Image(im.Manifests[0].Digest)
	cf, _ := img.ConfigFile()
	if got := cf.Config.Labels[pack.LabelRunID]; got != runID {
		t.Errorf("label %s = %q, want %s", pack.LabelRunID, got, runID)
	}
}

// Against a server with basic auth, the verbs authenticate with MLflow's
// MLFLOW_TRACKING_USERNAME/PASSWORD, and say so when they cannot.
func TestTrackingCLIAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(pw, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startTrackingServer(t, "--auth-htpasswd", pw)
	env := map[string]string{"MLFLOW_TRACKING_URI": srv.url}
	if _, _, err := mlshipErr(t, env, "experiments", "search"); err == nil || !strings.Contains(err.Error(), "not authenticated") {
		t.Errorf("without credentials: %v", err)
	}
	env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"] = "alice", "wrong"
	if _, _, err := mlshipErr(t, env, "experiments", "create", "-n", "x"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("with a wrong password: %v", err)
	}
	env["MLFLOW_TRACKING_PASSWORD"] = "s3cret"
	if out := mlship(t, env, "experiments", "create", "-n", "x"); !strings.Contains(out, "with id 1") {
		t.Errorf("with credentials: %q", out)
	}
	src := filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")
	env["MLSHIP_CACHE_DIR"] = t.TempDir()
	uri := strings.TrimSpace(mlship(t, env, "models", "log", "-m", src, "--experiment-name", "x"))
	if out := mlship(t, env, "inspect", uri); !strings.Contains(out, "onnx") {
		t.Errorf("inspect %s through auth:\n%s", uri, out)
	}
}

// When logging fails, the run models log created ends FAILED and the
// error says what to do: here the server does not proxy artifacts and the
// run's root is in S3, which this client does not write to.
func TestModelsLogFailedRun(t *testing.T) {
	srv := startTrackingServer(t, "--no-serve-artifacts", "--default-artifact-root", "s3://bucket/mlruns")
	env := map[string]string{"MLFLOW_TRACKING_URI": srv.url}
	src := filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")
	_, _, err := mlshipErr(t, env, "models", "log", "-m", src)
	if err == nil || !strings.Contains(err.Error(), "--serve-artifacts") {
		t.Fatalf("models log to an S3 root without the proxy: %v", err)
	}
	c, err := client.New(srv.url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	runs, _, err := c.SearchRuns(context.Background(), tracking.RunQuery{ExperimentIDs: []string{"0"}})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %+v, %v", runs, err)
	}
	if r := runs[0]; r.Info.Status != tracking.StatusFailed || r.Info.EndTime == 0 {
		t.Errorf("run after a failed log: %+v", r.Info)
	}
	if _, ok := runs[0].Tag("mlflow.log-model.history"); ok {
		t.Error("a failed log recorded the model")
	}
}

// A store as the tracking URI (sqlite:///...), as MLflow's client allows:
// the verbs open it in-process, artifacts go under ./mlruns, and runs:/
// URIs resolve against it.
func TestTrackingCLILocalStore(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	db := "sqlite:///" + filepath.Join(wd, "mlflow.db")
	env := map[string]string{"MLFLOW_TRACKING_URI": db, "MLSHIP_CACHE_DIR": t.TempDir()}
	if out := mlship(t, env, "experiments", "create", "-n", "local"); out != "Created experiment 'local' with id 1\n" {
		t.Fatalf("experiments create: %q", out)
	}
	src := filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")
	uri := strings.TrimSpace(mlship(t, env, "models", "log", "-m", src, "--experiment-name", "local"))
	runID := strings.TrimSuffix(strings.TrimPrefix(uri, "runs:/"), "/model")
	m, err := mlmodel.Load(filepath.Join(wd, "mlruns", "1", runID, "artifacts", "model"))
	if err != nil || m.RunID != runID {
		t.Fatalf("model under ./mlruns: %v", err)
	}
	var files []map[string]any
	if err := json.Unmarshal([]byte(mlship(t, env, "artifacts", "list", "-r", runID, "-a", "model")), &files); err != nil || len(files) != 7 {
		t.Fatalf("artifacts list: %v %v", files, err)
	}
	var rep inspectReport
	if err := json.Unmarshal([]byte(mlship(t, env, "inspect", "--json", uri)), &rep); err != nil || rep.RunID != runID {
		t.Fatalf("inspect %s: %+v, %v", uri, rep, err)
	}
	// The same store behind `mlship server` holds the run.
	store, err := sqlstore.Open(context.Background(), db, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	run, err := store.GetRun(context.Background(), runID)
	if err != nil || run.Info.Status != tracking.StatusFinished {
		t.Fatalf("stored run = %+v, %v", run, err)
	}
	if _, ok := run.Tag("mlflow.log-model.history"); !ok {
		t.Error("no log-model history in the store")
	}
	for _, bad := range []string{"./mlruns", "file:///tmp/mlruns", "localhost:5000"} {
		if _, _, err := mlshipErr(t, map[string]string{"MLFLOW_TRACKING_URI": bad}, "experiments", "search"); err == nil || !strings.Contains(err.Error(), "sqlite:///") {
			t.Errorf("tracking URI %q: %v", bad, err)
		}
	}
}

// The same SQLite store used by `mlship server` and, at the same time, by
// a command given the store as its tracking URI: a model logged through
// the store into an experiment the server created (an mlflow-artifacts:/
// root) lands in the server's artifacts destination, and the server
// serves it.
func TestTrackingCLIStoreBesideServer(t *testing.T) {
	srv := startTrackingServer(t)
	remote := map[string]string{"MLFLOW_TRACKING_URI": srv.url, "MLSHIP_CACHE_DIR": t.TempDir()}
	mlship(t, remote, "experiments", "create", "-n", "shared")
	local := map[string]string{
		"MLFLOW_TRACKING_URI":          "sqlite:///" + filepath.Join(srv.dir, "mlflow.db"),
		"MLFLOW_ARTIFACTS_DESTINATION": filepath.Join(srv.dir, "mlartifacts"),
	}
	src := filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")
	uri := strings.TrimSpace(mlship(t, local, "models", "log", "-m", src, "--experiment-name", "shared"))
	runID := strings.TrimSuffix(strings.TrimPrefix(uri, "runs:/"), "/model")
	if _, err := os.Stat(filepath.Join(srv.dir, "mlartifacts", "1", runID, "artifacts", "model", "model.onnx")); err != nil {
		t.Fatalf("model not in the server's destination: %v", err)
	}
	var rep inspectReport
	if err := json.Unmarshal([]byte(mlship(t, remote, "inspect", "--json", uri)), &rep); err != nil || rep.RunID != runID {
		t.Fatalf("inspect through the server: %+v, %v", rep, err)
	}
}
