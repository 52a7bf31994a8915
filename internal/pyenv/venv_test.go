package pyenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/testenv"
)

const (
	testDist   = "mlship_testpkg"
	testModule = "mlship_testpkg"
)

// offlineFixture is a model whose requirements are one tiny wheel in a
// find-links directory, built on the system python with its numpy.
type offlineFixture struct {
	python, version string
	wheels          string // find-links directory
	wheelName       string
	model           string
}

func newOfflineFixture(t *testing.T, requirements string) *offlineFixture {
	t.Helper()
	py, version := systemPython(t)
	requireVenv(t, py)
	f := &offlineFixture{python: py, version: version, wheels: t.TempDir()}
	f.wheelName = writeWheel(t, f.wheels, testDist, testModule, "VALUE = 42\n")
	f.model = writeFiles(t, map[string]string{
		"python_env.yaml":  "python: " + version + "\nbuild_dependencies:\n  - pip\ndependencies:\n  - -r requirements.txt\n",
		"requirements.txt": requirements,
		"constraints.txt":  "mlship-testpkg==1.0\n",
	})
	return f
}

func (f *offlineFixture) options(t *testing.T, cache string) Options {
	log, _ := testLogger(t)
	return Options{
		Manager: Virtualenv, ModelDir: f.model, CacheDir: cache, PipFindLinks: []string{f.wheels},
		SystemSitePackages: true, Require: []string{"numpy", "pandas"}, Getenv: testGetenv, Logger: log,
	}
}

// assertNoEnv checks that nothing under cache looks like a finished
// environment.
func assertNoEnv(t *testing.T, cache string) {
	t.Helper()
	markers, _ := filepath.Glob(filepath.Join(cache, "envs", "*", markerFile))
	if len(markers) > 0 {
		t.Errorf("environment markers left behind: %v", markers)
	}
	entries, _ := os.ReadDir(filepath.Join(cache, "envs"))
	for _, e := range entries {
		if e.Type()&os.ModeSymlink != 0 {
			t.Errorf("published environment %s left behind", e.Name())
		}
	}
}

// buildDirs lists the environment directories (published or not).
func buildDirs(t *testing.T, cache string) []string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(cache, "envs", "*.d-*"))
	return dirs
}

func TestVirtualenvOffline(t *testing.T) {
	t.Parallel()
	f := newOfflineFixture(t, "-c constraints.txt\nmlship-testpkg\n")
	cache := t.TempDir()
	ctx := context.Background()

	o := f.options(t, cache)
	var log1 testenv.SyncBuffer
	o.Logger = loggerTo(&log1)
	env, err := Prepare(ctx, o)
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log1.String())
	}
	if env.Manager != Virtualenv || env.Version != f.version || filepath.Dir(env.Dir) != filepath.Join(cache, "envs") {
		t.Errorf("Env = %+v, want a virtualenv of Python %s under %s/envs", env, f.version, cache)
	}
	if env.Python != filepath.Join(env.Dir, "bin", "python") {
		t.Errorf("Python = %s, want the env's bin/python", env.Python)
	}
	wantContains(t, "reason", env.Reason, "created virtualenv", "python_env.yaml", f.python)
	wantContains(t, "log", log1.String(), "creating environment", "cmd=pip")
	if !fileExists(filepath.Join(env.Dir, markerFile)) {
		t.Errorf("no marker in %s", env.Dir)
	}
	out, err := exec.Command(env.Python, "-c", "import "+testModule+", numpy, pandas; print("+testModule+".VALUE)").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "42" {
		t.Errorf("importing the wheel and numpy in the env: %v: %s", err, out)
	}

	// The same model again: the environment is reused, pip never runs.
	var log2 testenv.SyncBuffer
	o.Logger = loggerTo(&log2)
	start := time.Now()
	again, err := Prepare(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reuse took %v", time.Since(start))
	if again.Dir != env.Dir || again.Python != env.Python {
		t.Errorf("second Prepare = %+v, want the same env as %+v", again, env)
	}
	wantContains(t, "reason", again.Reason, "cached virtualenv")
	wantContains(t, "log", log2.String(), "reusing environment")
	if s := log2.String(); strings.Contains(s, "cmd=pip") || strings.Contains(s, "creating environment") {
		t.Errorf("second Prepare ran pip:\n%s", s)
	}

}

func loggerTo(w *testenv.SyncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestVirtualenvConcurrentProcesses races two OS processes for one
// environment: one builds it, the other waits on the lock and reuses it.
func TestVirtualenvConcurrentProcesses(t *testing.T) {
	t.Parallel()
	f := newOfflineFixture(t, "mlship-testpkg\n")
	ho := helperOptions{Manager: Virtualenv, ModelDir: f.model, CacheDir: t.TempDir(), PipFindLinks: []string{f.wheels},
		SystemSitePackages: true, Require: []string{"numpy"}}
	type result struct {
		env    Env
		stderr string
		err    error
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i := range results {
		cmd, stdout, stderr := helperCmd(t, ho)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			err := cmd.Wait()
			results[i].stderr = stderr.String()
			if err == nil {
				err = json.Unmarshal(stdout.Bytes(), &results[i].env)
			}
			results[i].err = err
		})
	}
	wg.Wait()
	creates, reuses := 0, 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("helper %d: %v\n%s", i, r.err, r.stderr)
		}
		creates += strings.Count(r.stderr, `"msg":"creating environment"`)
		reuses += strings.Count(r.stderr, `"msg":"reusing environment`)
	}
	if creates != 1 || reuses != 1 {
		t.Errorf("%d builds and %d reuses, want 1 and 1\n--- helper 0:\n%s\n--- helper 1:\n%s", creates, reuses, results[0].stderr, results[1].stderr)
	}
	if results[0].env.Dir == "" || results[0].env.Dir != results[1].env.Dir {
		t.Errorf("helpers got %q and %q, want one environment", results[0].env.Dir, results[1].env.Dir)
	}
	if dirs := buildDirs(t, ho.CacheDir); len(dirs) != 1 {
		t.Errorf("environment directories %v, want exactly one", dirs)
	}
}

func TestVirtualenvMissingRequirement(t *testing.T) {
	t.Parallel()
	f := newOfflineFixture(t, "mlship-testpkg\nmlship-absent-pkg==1.0\n")
	cache := t.TempDir()
	_, err := Prepare(context.Background(), f.options(t, cache))
	if err == nil {
		t.Fatal("Prepare succeeded without mlship-absent-pkg in the wheel directory")
	}
	wantContains(t, "error", err.Error(), "installing requirements from python_env.yaml", "last output:",
		"mlship-absent-pkg", "No matching distribution", f.wheels, "pip download")
	assertNoEnv(t, cache)
	if dirs := buildDirs(t, cache); len(dirs) != 0 {
		t.Errorf("failed build left %v", dirs)
	}
}

// TestVirtualenvRequireInEnv: an env that cannot import a required module
// is an error that says how to fix it.
func TestVirtualenvRequireInEnv(t *testing.T) {
	t.Parallel()
	f := newOfflineFixture(t, "mlship-testpkg\n")
	o := f.options(t, t.TempDir())
	o.SystemSitePackages = false
	o.Require = []string{"numpy"}
	_, err := Prepare(context.Background(), o)
	if !errors.Is(err, ErrNoInterpreter) {
		t.Fatalf("error = %v, want ErrNoInterpreter", err)
	}
	wantContains(t, "error", err.Error(), "cannot import", "no module numpy", "requirements", "system site packages")
}

// findLinksServer serves the fixture's wheel as a find-links page on
// 127.0.0.1. While blocking is set, the page request hangs until the
// client goes away, which holds pip mid-install for as long as a test
// needs.
type findLinksServer struct {
	*httptest.Server
	blocking atomic.Bool
	hit      chan struct{} // receives when a request starts hanging
}

func newFindLinksServer(t *testing.T, f *offlineFixture) *findLinksServer {
	t.Helper()
	wheel, err := os.ReadFile(filepath.Join(f.wheels, f.wheelName))
	if err != nil {
		t.Fatal(err)
	}
	s := &findLinksServer{hit: make(chan struct{}, 8)}
	release := make(chan struct{})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			if s.blocking.Load() {
				s.hit <- struct{}{}
				select {
				case <-r.Context().Done():
				case <-release:
				}
				http.Error(w, "gone", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, "<html><body><a href=\"/%s\">%s</a></body></html>\n", f.wheelName, f.wheelName)
		case "/" + f.wheelName:
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(wheel)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() {
		close(release) // let orphaned pips fail and exit before Close waits for them
		s.Close()
	})
	return s
}

func (s *findLinksServer) waitHit(t *testing.T) {
	t.Helper()
	select {
	case <-s.hit:
	case <-time.After(2 * time.Minute):
		t.Fatal("pip never requested the find-links page")
	}
}

// TestVirtualenvInterrupted stops a build while pip runs, by cancelling
// ctx and by killing the process outright: neither leaves anything that
// looks finished, and the next Prepare rebuilds.
func TestVirtualenvInterrupted(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"cancel", "kill"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			f := newOfflineFixture(t, "mlship-testpkg\n")
			srv := newFindLinksServer(t, f)
			cache := t.TempDir()
			o := f.options(t, cache)
			o.PipFindLinks = []string{srv.URL + "/"}
			srv.blocking.Store(true)

			switch how {
			case "cancel":
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() {
					_, err := Prepare(ctx, o)
					done <- err
				}()
				srv.waitHit(t)
				cancel()
				select {
				case err := <-done:
					if !errors.Is(err, context.Canceled) {
						t.Fatalf("error = %v, want context.Canceled", err)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("Prepare did not return after cancel")
				}
				if dirs := buildDirs(t, cache); len(dirs) != 0 {
					t.Errorf("cancelled build left %v", dirs)
				}
			case "kill":
				cmd, _, stderr := helperCmd(t, helperOptions{Manager: o.Manager, ModelDir: o.ModelDir, CacheDir: cache,
					PipFindLinks: o.PipFindLinks, SystemSitePackages: o.SystemSitePackages, Require: o.Require})
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				srv.waitHit(t)
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				// The killed builder could not clean up: its directory
				// is there, unpublished.
				if dirs := buildDirs(t, cache); len(dirs) != 1 {
					t.Errorf("killed build left %v, want its one directory\n%s", dirs, stderr.String())
				}
			}
			assertNoEnv(t, cache)

			srv.blocking.Store(false)
			var log testenv.SyncBuffer
			o.Logger = loggerTo(&log)
			env, err := Prepare(context.Background(), o)
			if err != nil {
				t.Fatalf("rebuild: %v\nlog:\n%s", err, log.String())
			}
			wantContains(t, "log", log.String(), "creating environment")
			wantContains(t, "reason", env.Reason, "created virtualenv")
			dirs := buildDirs(t, cache)
			target, _ := filepath.EvalSymlinks(env.Dir)
			if len(dirs) != 1 || dirs[0] != target {
				t.Errorf("environment directories %v, want only the published %s", dirs, target)
			}
		})
	}
}
