package projects

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/pyenv"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/projects/mlproject"
	"github.com/mlship/mlship/tracking"
)

// TestPythonEnvProject builds the python_env project's virtualenv through
// internal/pyenv (offline: no dependencies), runs in it, reuses it on the
// second run, and shares it with a model directory holding the same
// python_env.yaml.
func TestPythonEnvProject(t *testing.T) {
	if out, err := exec.Command("/usr/bin/python3", "-c", "import venv, ensurepip").CombinedOutput(); err != nil {
		testenv.Missing(t, "/usr/bin/python3 -m venv needs ensurepip (apt-get install python3-venv): "+strings.TrimSpace(string(out)))
	}
	ts := newTrackingServer(t)
	dir := example(t, "pyenv")
	cache := t.TempDir()
	var prefix string
	for i := range 2 {
		o, stdout, stderr := ts.options(t, dir, "greeting=bonjour")
		o.CacheDir = cache
		res, err := Run(context.Background(), o)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, stderr)
		}
		r := ts.run(t, res.RunID)
		p := r.tags["python.prefix"]
		if !strings.HasPrefix(p, filepath.Join(cache, "envs")+string(filepath.Separator)) || r.tags["python.virtual_env"] == "" {
			t.Errorf("run %d ran in %q (VIRTUAL_ENV %q), want a virtualenv under %s", i, p, r.tags["python.virtual_env"], cache)
		}
		if r.tags[TagEnv] != "virtualenv" || r.params["greeting"] != "bonjour" || r.tags["greeting"] != "bonjour" || r.Info.Status != tracking.StatusFinished {
			t.Errorf("run %d: %v %v %s", i, r.tags, r.params, r.Info.Status)
		}
		if !strings.Contains(stdout.String(), "bonjour from "+p) {
			t.Errorf("stdout %q", stdout.String())
		}
		if i == 1 && p != prefix {
			t.Errorf("second run used %s, first %s: the environment was not reused", p, prefix)
		}
		prefix = p
	}
	// A model directory with the same python_env.yaml gets the same
	// environment from pyenv: one cache for projects and models.
	model := t.TempDir()
	data, err := os.ReadFile(filepath.Join(dir, "python_env.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, "python_env.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := pyenv.Prepare(context.Background(), pyenv.Options{Manager: pyenv.Virtualenv, ModelDir: model, CacheDir: cache, Getenv: getenvOf(testEnviron())})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := filepath.EvalSymlinks(env.Dir); got != mustEval(t, prefix) {
		t.Errorf("the model's environment %s (%s) is not the project's %s", env.Dir, got, prefix)
	}
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	got, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestEnvManagerErrors: managers whose tool is absent, and combinations
// MLflow refuses, fail before a run exists.
func TestEnvManagerErrors(t *testing.T) {
	ts := newTrackingServer(t)
	id, err := ts.client.CreateExperiment(context.Background(), "env-errors", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir() // a PATH with no uv, conda or docker
	for _, tc := range []struct {
		name, project, manager, path, want string
		sentinel                           error
	}{
		{"uv absent", "pyenv", "uv", empty, "uv not found on PATH", pyenv.ErrToolNotFound},
		{"conda on python_env", "pyenv", "conda", "", "python_env project cannot be executed using conda", nil},
		{"virtualenv without a spec", "typed", "virtualenv", "", "names no environment file", nil},
		{"unknown manager", "typed", "pip", "", "--env-manager must be", nil},
		{"docker without docker", "docker", "", empty, "needs a Docker engine: the docker CLI is not on PATH", nil},
		{"docker env to copy unset", "docker", "", "unset HOME", "expects the HOME, MODE environment variables to be set on the machine running the project, but HOME was not set", nil},
		{"docker with a manager", "docker", "virtualenv", "", "run in their image", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _, _ := ts.options(t, example(t, tc.project), "alpha=1")
			o.ExperimentID = id
			o.EnvManager = tc.manager
			switch {
			case tc.path == "unset HOME":
				var env []string
				for _, kv := range o.Environ {
					if !strings.HasPrefix(kv, "HOME=") {
						env = append(env, kv)
					}
				}
				o.Environ, o.Getenv = env, getenvOf(env)
			case tc.path != "":
				env := append(testEnviron(), "PATH="+tc.path)
				o.Environ, o.Getenv = env, getenvOf(env)
			}
			_, err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) || tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("Run = %v, want %q", err, tc.want)
			}
		})
	}
	// --build-image: docker projects only, and it needs an engine too.
	for _, tc := range []struct{ project, path, want string }{
		{"typed", "", "--build-image applies to docker_env projects only"},
		{"docker", empty, "needs a Docker engine"},
	} {
		o, _, _ := ts.options(t, example(t, tc.project), "alpha=1")
		o.ExperimentID, o.BuildImage = id, true
		if tc.path != "" {
			env := append(testEnviron(), "PATH="+tc.path)
			o.Environ, o.Getenv = env, getenvOf(env)
		}
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--build-image on %s: %v, want %q", tc.project, err, tc.want)
		}
	}
	// conda: a conda.yaml project where conda is absent.
	dir := t.TempDir()
	for name, body := range map[string]string{"MLproject": "name: c\nconda_env: env.yaml\nentry_points:\n  main:\n    command: echo hi\n", "env.yaml": "dependencies: [python=3.11]\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o, _, _ := ts.options(t, dir)
	o.ExperimentID = id
	env := append(testEnviron(), "PATH="+empty)
	o.Environ, o.Getenv = env, getenvOf(env)
	if _, err := Run(context.Background(), o); !errors.Is(err, pyenv.ErrToolNotFound) || !strings.Contains(err.Error(), "conda not found") {
		t.Errorf("conda absent: %v", err)
	}
	// A Docker CLI without an engine (this machine's case when docker is
	// installed): refused too, and mlship starts none.
	if _, err := exec.LookPath("docker"); err == nil {
		if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
			o, _, _ := ts.options(t, example(t, "docker"))
			o.ExperimentID = id
			if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "none answers") {
				t.Errorf("docker without an engine: %v (docker said %s)", err, out)
			}
		}
	}
	if runs := ts.runs(t, id); len(runs) != 0 {
		t.Errorf("environment errors left %d runs", len(runs))
	}
}

func TestDockerRunArgs(t *testing.T) {
	dir := example(t, "docker")
	o := Options{URI: dir, Tracker: nil, TrackingURI: "http://127.0.0.1:5000", Getenv: getenvOf([]string{"PATH=/usr/bin"})}
	r := &runner{o: o, getenv: o.Getenv}
	p, err := mlproject.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	j := &job{proj: p}
	got := shellJoin(r.dockerRunArgs(j, "python:3.11-slim", "mlflow-artifacts:/0/abc/artifacts", []string{"MLFLOW_RUN_ID=abc"})) + " python train.py"
	want := "docker run --rm --network host -v /tmp/data:/data -e HOME -e MODE=train -e MLFLOW_RUN_ID=abc python:3.11-slim python train.py"
	if !strings.HasSuffix(got, want[len("docker"):]) {
		t.Errorf("docker command\n got %s\nwant …%s", got, want[len("docker"):])
	}
	// A local store: its directory and the run's artifact directory are
	// mounted, and the command is told the store's path in the container.
	r.o.TrackingURI = "sqlite:////srv/track/mlruns.db"
	got = shellJoin(r.dockerRunArgs(j, "python:3.11-slim", "file:///srv/track/mlruns/0/abc/artifacts",
		[]string{"MLFLOW_RUN_ID=abc", "MLFLOW_TRACKING_URI=sqlite:////srv/track/mlruns.db"}))
	want = " run --rm -v /srv/track:/mlflow/tmp/mlruns -v /srv/track/mlruns/0/abc/artifacts:/srv/track/mlruns/0/abc/artifacts" +
		" -v /tmp/data:/data -e HOME -e MODE=train -e MLFLOW_RUN_ID=abc -e MLFLOW_TRACKING_URI=sqlite:////mlflow/tmp/mlruns/mlruns.db python:3.11-slim"
	if !strings.HasSuffix(got, want) {
		t.Errorf("docker command with a local store\n got %s\nwant …%s", got, want)
	}
}

// TestCondaProjectInVirtualenv: a conda_env project runs with
// --env-manager virtualenv in a virtualenv of the conda file's Python (as
// MLflow's _PythonEnv.from_conda_yaml), recorded as virtualenv.
func TestCondaProjectInVirtualenv(t *testing.T) {
	if out, err := exec.Command("/usr/bin/python3", "-c", "import venv, ensurepip").CombinedOutput(); err != nil {
		testenv.Missing(t, "/usr/bin/python3 -m venv needs ensurepip (apt-get install python3-venv): "+strings.TrimSpace(string(out)))
	}
	ver, err := exec.Command("/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])").Output()
	if err != nil {
		t.Fatal(err)
	}
	ts := newTrackingServer(t)
	dir := t.TempDir()
	for name, body := range map[string]string{
		"MLproject":      "name: c\nconda_env: env/conda.yaml\nentry_points:\n  main:\n    command: \"python -c 'import sys; print(sys.prefix)'\"\n",
		"env/conda.yaml": "name: c\ndependencies:\n  - python=" + strings.TrimSpace(string(ver)) + "\n  - pip\n  - pip: []\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o, stdout, _ := ts.options(t, dir)
	o.EnvManager = pyenv.Virtualenv
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if prefix := strings.TrimSpace(stdout.String()); !strings.HasPrefix(prefix, filepath.Join(o.CacheDir, "envs")+string(filepath.Separator)) {
		t.Errorf("ran in %q, want a virtualenv under %s", prefix, o.CacheDir)
	}
	if r := ts.run(t, res.RunID); r.tags[TagEnv] != "virtualenv" || r.Info.Status != tracking.StatusFinished {
		t.Errorf("run %v %s", r.tags, r.Info.Status)
	}
}
