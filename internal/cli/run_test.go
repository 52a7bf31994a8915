package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
	"github.com/mlship/mlship/tracking/server"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// runHelperEnv re-executes the test binary as `mlship` with the JSON
// argument list it holds, through cmd/mlship's own signal handling, so a
// test can interrupt a real `mlship run` process.
const runHelperEnv = "MLSHIP_CLI_TEST_MLSHIP_ARGS"

func init() {
	if args := os.Getenv(runHelperEnv); args != "" {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, argv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
}

// projectServer is a real tracking server (SQLite in a temporary
// directory, artifact proxy) on 127.0.0.1 and its store.
func projectServer(t *testing.T) (string, *sqlstore.Store) {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlstore.Open(context.Background(), "sqlite:///"+filepath.Join(dir, "mlflow.db"), sqlstore.Options{DefaultArtifactRoot: "mlflow-artifacts:/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv, err := server.New(store, server.Options{ServeArtifacts: true, ArtifactsDestination: artifacts.NewLocal(filepath.Join(dir, "art")),
		DefaultArtifactRoot: "mlflow-artifacts:/", Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL, store
}

// projectEnv is what a `mlship run` command needs from the environment.
func projectEnv(extra ...string) map[string]string {
	env := map[string]string{"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"), "USER": "cli-tester", "MLSHIP_CACHE_DIR": os.TempDir()}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

func onlyRun(t *testing.T, store *sqlstore.Store, expName string) *tracking.Run {
	t.Helper()
	ctx := context.Background()
	exp, err := store.GetExperimentByName(ctx, expName)
	if err != nil {
		t.Fatal(err)
	}
	runs, _, err := store.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp.ID}})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs in %s: %d, %v", expName, len(runs), err)
	}
	return &runs[0]
}

func TestRunCommand(t *testing.T) {
	if _, err := exec.LookPath("python"); err != nil {
		testenv.Missing(t, "python is not on PATH")
	}
	url, store := projectServer(t)
	typed := filepath.Join(testenv.RepoRoot(t), "examples", "projects", "typed")
	out, stderr, err := runWithEnv(t, projectEnv("MLFLOW_TRACKING_URI", url, "MLFLOW_EXPERIMENT_NAME", "cli"),
		"run", typed, "-P", "alpha=0.2", "-P", "extra=x y", "--run-name", "cli-run")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	r := onlyRun(t, store, "cli")
	if !strings.Contains(out, `"alpha": 0.2`) || !strings.Contains(out, `"extra": ["--extra", "x y"]`) ||
		!strings.Contains(stderr, "run "+r.Info.RunID+" FINISHED") {
		t.Errorf("stdout %s\nstderr %s", out, stderr)
	}
	if v, _ := r.Tag("mlflow.runName"); v != "cli-run" || r.Info.Status != tracking.StatusFinished {
		t.Errorf("run %+v", r.Info)
	}
	if v, _ := r.Tag("mlflow.user"); v != "cli-tester" {
		t.Errorf("mlflow.user %q", v)
	}

	// MLFLOW_TMP_DIR is --storage-dir's default, as in MLflow: an http(s)
	// path parameter is downloaded into a new directory of it.
	files := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(typed, "data"))))
	defer files.Close()
	tmp := t.TempDir()
	if _, stderr, err := runWithEnv(t, projectEnv("MLFLOW_TRACKING_URI", url, "MLFLOW_TMP_DIR", tmp),
		"run", typed, "-P", "alpha=0.2", "-P", "data="+files.URL+"/train.csv"); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if got, _ := filepath.Glob(filepath.Join(tmp, "*", "param_3", "train.csv")); len(got) != 1 {
		t.Errorf("MLFLOW_TMP_DIR holds %v, want one */param_3/train.csv", got)
	}

	// Usage errors, each before anything runs.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", typed, "-P", "alpha"}, "Invalid format for -P parameter: 'alpha'. Use -P name=value."},
		{[]string{"run", typed, "-P", "alpha=1", "-P", "alpha=2"}, "Repeated parameter: 'alpha'"},
		{[]string{"run", typed, "-P", "alpha=x"}, "Expected float for parameter alpha but got x"},
		{[]string{"run", typed, "-P", "alpha=1", "--experiment-id", "0", "--experiment-name", "e"}, "only one of"},
		{[]string{"run", typed, "-P", "alpha=1", "--tracking-uri", "file:///tmp/mlruns"}, "file store is not supported"},
		{[]string{"run", typed, "-P", "alpha=1", "-b", "databricks"}, `backend "databricks" is not supported`},
	} {
		if _, _, err := runWithEnv(t, projectEnv("MLFLOW_TRACKING_URI", url), tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	// --experiment-id wins over MLFLOW_EXPERIMENT_NAME.
	if _, stderr, err := runWithEnv(t, projectEnv("MLFLOW_TRACKING_URI", url, "MLFLOW_EXPERIMENT_NAME", "ignored"),
		"run", failing(t), "-P", "code=0", "--experiment-id", "0"); err != nil || !strings.Contains(stderr, "in experiment 0") {
		t.Errorf("--experiment-id with MLFLOW_EXPERIMENT_NAME: %v %s", err, stderr)
	}
	// A failing command fails the command.
	if _, _, err := runWithEnv(t, projectEnv("MLFLOW_TRACKING_URI", url, "MLFLOW_EXPERIMENT_NAME", "fails"), "run", failing(t)); err == nil ||
		!strings.Contains(err.Error(), "FAILED") {
		t.Errorf("failing project: %v", err)
	}
	if r := onlyRun(t, store, "fails"); r.Info.Status != tracking.StatusFailed {
		t.Errorf("failing run %s", r.Info.Status)
	}
}

// TestRunDefaultStore: without a tracking URI the run lands in
// ./mlruns.db, and the command is told where.
func TestRunDefaultStore(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	_, stderr, err := runWithEnv(t, projectEnv(), "run", failing(t), "-P", "code=0", "--experiment-name", "local")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	uri := "sqlite:///" + filepath.Join(wd, "mlruns.db")
	if !strings.Contains(stderr, "recording in "+uri) {
		t.Errorf("stderr %s", stderr)
	}
	store, err := sqlstore.Open(context.Background(), uri, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if r := onlyRun(t, store, "local"); r.Info.Status != tracking.StatusFinished {
		t.Errorf("run %+v", r.Info)
	}
	// A relative sqlite URI is made absolute for the command, which runs
	// in the project directory.
	_, stderr, err = runWithEnv(t, projectEnv("MLFLOW_TRACKING_URI", "sqlite:///rel.db"), "run", filepath.Join(testenv.RepoRoot(t), "examples", "projects", "typed"),
		"-e", "report", "--experiment-name", "rel")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(wd, "rel.db")); err != nil {
		t.Error(err)
	}
}

func failing(t *testing.T) string {
	return filepath.Join(testenv.RepoRoot(t), "examples", "projects", "failing")
}

// TestRunInterrupted starts `mlship run` as a process on a project whose
// script leaves a background child (which ignores SIGINT, as background
// jobs of a non-interactive shell do) and sleeps; SIGINT or SIGTERM to
// mlship must reach the script, end the run KILLED and leave no process of
// the group alive.
func TestRunInterrupted(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { testRunInterrupted(t, sig) })
	}
}

func testRunInterrupted(t *testing.T, sig syscall.Signal) {
	url, store := projectServer(t)
	proj := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "pids")
	files := map[string]string{
		"MLproject": "name: interrupt\nentry_points:\n  main:\n    parameters:\n      pid_file: string\n    command: \"bash spawn.sh {pid_file}\"\n",
		"spawn.sh": `trap 'echo INT > "$1.sig"; exit 130' INT
trap 'echo TERM > "$1.sig"; exit 143' TERM
read -r _ _ _ _ pgid _ < /proc/$$/stat
sleep 300 &
echo "$$ $! $pgid" > "$1.tmp" && mv "$1.tmp" "$1"
echo started
sleep 300
echo "not reached"
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(proj, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args, _ := json.Marshal([]string{"run", proj, "-P", "pid_file=" + pidFile, "--tracking-uri", url, "--experiment-name", "interrupt"})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runHelperEnv+"="+string(args))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var pids []int
	deadline := time.Now().Add(30 * time.Second)
	for len(pids) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the script never started\nstdout %s\nstderr %s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
		data, err := os.ReadFile(pidFile)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("pid file %q", data)
			}
			pids = append(pids, n)
		}
	}
	leader, child, pgid := pids[0], pids[1], pids[2]
	if pgid != leader || pgid == cmd.Process.Pid {
		t.Errorf("the command's process group is %d, want its own (leader %d, mlship %d)", pgid, leader, cmd.Process.Pid)
	}
	if r := onlyRun(t, store, "interrupt"); r.Info.Status != tracking.StatusRunning {
		t.Errorf("while running: %s", r.Info.Status)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("mlship exited with %v, want status 130", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("mlship did not exit after SIGINT")
	}
	r := onlyRun(t, store, "interrupt")
	if r.Info.Status != tracking.StatusKilled || r.Info.EndTime == 0 {
		t.Errorf("after %s: %+v", sig, r.Info)
	}
	// The command's shell got the very signal mlship got.
	want := map[syscall.Signal]string{syscall.SIGINT: "INT", syscall.SIGTERM: "TERM"}[sig]
	if got, err := os.ReadFile(pidFile + ".sig"); err != nil || strings.TrimSpace(string(got)) != want {
		t.Errorf("the command's shell trapped %q (%v), want %s", got, err, want)
	}
	if strings.Contains(stdout.String(), "not reached") || !strings.Contains(stderr.String(), "mlship: run "+r.Info.RunID+" KILLED in experiment "+r.Info.ExperimentID+" (interrupted)") {
		t.Errorf("stdout %s\nstderr %s", stdout.String(), stderr.String())
	}
	// No process of the group survives (orphans are reaped by init, so
	// allow a moment for zombies to go).
	for _, check := range []struct {
		what string
		pid  int
	}{{"process group", -pgid}, {"background child", child}, {"leader", leader}} {
		gone := false
		for range 100 {
			if err := syscall.Kill(check.pid, 0); errors.Is(err, syscall.ESRCH) {
				gone = true
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !gone {
			t.Errorf("%s %d survived", check.what, check.pid)
			syscall.Kill(check.pid, syscall.SIGKILL)
		}
	}
}
