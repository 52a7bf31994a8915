package pyenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestManagerErrors(t *testing.T) {
	sys, version := systemPython(t)
	model := writeFiles(t, map[string]string{
		"python_env.yaml":  "python: 3.99.1\ndependencies: [-r requirements.txt]\n",
		"conda.yaml":       "dependencies: [python=3.99.1]\n",
		"requirements.txt": "numpy\n",
	})
	noTools := envWith("PATH", t.TempDir(), "HOME", t.TempDir())
	withSystem := envWith("PATH", filepath.Dir(sys), "HOME", t.TempDir())
	tests := []struct {
		name   string
		opts   Options
		is     error
		want   []string
		noEnvs bool
	}{
		{
			name: "unknown manager",
			opts: Options{Manager: "pyenv"},
			want: []string{`unknown environment manager "pyenv"`, "local, virtualenv, uv or conda"},
		},
		{
			name: "uv not installed",
			opts: Options{Manager: UV, ModelDir: model, CacheDir: t.TempDir(), Getenv: noTools},
			is:   ErrToolNotFound,
			want: []string{"uv not found on PATH; install uv or use --env-manager virtualenv|local"},
		},
		{
			name: "conda not installed",
			opts: Options{Manager: Conda, ModelDir: model, CacheDir: t.TempDir(), Getenv: noTools},
			is:   ErrToolNotFound,
			want: []string{"conda not found on PATH", "micromamba", "--env-manager virtualenv|local"},
		},
		{
			name: "no cache directory",
			opts: Options{Manager: Virtualenv, ModelDir: model},
			want: []string{"no cache directory"},
		},
		{
			name:   "no interpreter of the model's version",
			opts:   Options{Manager: Virtualenv, ModelDir: model, CacheDir: t.TempDir(), Getenv: withSystem},
			is:     ErrNoInterpreter,
			want:   []string{"no Python 3.99 interpreter", "python: 3.99.1", sys + " (Python " + version + ")", "pyenv install 3.99.1", "--env-manager local"},
			noEnvs: true,
		},
		{
			name: "explicit base of another version",
			opts: Options{Manager: Virtualenv, Python: sys, ModelDir: model, CacheDir: t.TempDir(), Getenv: withSystem},
			is:   ErrNoInterpreter,
			want: []string{sys, "is Python " + version, "python_env.yaml asks for Python 3.99.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, _ := testLogger(t)
			tt.opts.Logger = log
			env, err := Prepare(context.Background(), tt.opts)
			if err == nil {
				t.Fatalf("Prepare = %+v, want an error", env)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			wantContains(t, "error", err.Error(), tt.want...)
			if tt.noEnvs {
				assertNoEnv(t, tt.opts.CacheDir)
				if dirs := buildDirs(t, tt.opts.CacheDir); len(dirs) != 0 {
					t.Errorf("left %v", dirs)
				}
			}
		})
	}
}

// fakeTool writes an executable script named name into a new directory
// and returns the directory. The fakes stand in for conda and uv, which
// are not installed here: they record their arguments and lay out an
// environment whose bin/python is the system interpreter.
func fakeTool(t *testing.T, name, script string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\nset -e\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCondaWithFakeTool runs the conda manager against a stand-in conda:
// the command line, the find-links hand-over to pip, publication, reuse.
func TestCondaWithFakeTool(t *testing.T) {
	sys, version := systemPython(t)
	// conda env create --prefix DIR --file FILE
	bin := fakeTool(t, "conda", `prefix=$4
mkdir -p "$prefix/bin"
ln -s `+sys+` "$prefix/bin/python"
{ echo "args: $*"; echo "cwd: $(pwd)"; echo "PIP_FIND_LINKS=$PIP_FIND_LINKS PIP_NO_INDEX=$PIP_NO_INDEX"; } > "$prefix/conda-args"
echo "created $prefix"
`)
	model := writeFiles(t, map[string]string{"conda.yaml": "dependencies:\n  - python=" + version + "\n  - pip:\n    - -r requirements.txt\n", "requirements.txt": "numpy\n"})
	cache, links := t.TempDir(), t.TempDir()
	log, buf := testLogger(t)
	o := Options{Manager: Conda, ModelDir: model, CacheDir: cache, PipFindLinks: []string{links}, Require: []string{"numpy"},
		Getenv: envWith("PATH", bin+":/usr/bin:/bin"), Logger: log}
	env, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if env.Manager != Conda || env.Version != version || env.Python != filepath.Join(env.Dir, "bin", "python") {
		t.Errorf("Env = %+v", env)
	}
	wantContains(t, "reason", env.Reason, "created conda environment", "conda.yaml")
	args, err := os.ReadFile(filepath.Join(env.Dir, "conda-args"))
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "conda invocation", string(args), "args: env create --prefix "+cache+"/envs/", "--file "+model+"/conda.yaml",
		"cwd: "+model, "PIP_FIND_LINKS="+links+" PIP_NO_INDEX=1")
	wantContains(t, "log", buf.String(), "cmd=conda", "created")

	again, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Dir != env.Dir || !strings.Contains(again.Reason, "cached conda environment") {
		t.Errorf("second Prepare = %+v, want a reuse of %s", again, env.Dir)
	}

	// An environment whose interpreter vanished (its base uninstalled) is
	// rebuilt, and the broken copy removed.
	oldTarget, _ := filepath.EvalSymlinks(env.Dir)
	if err := os.Remove(filepath.Join(env.Dir, "bin", "python")); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	newTarget, _ := filepath.EvalSymlinks(rebuilt.Dir)
	if rebuilt.Dir != env.Dir || newTarget == oldTarget || !strings.Contains(rebuilt.Reason, "created") {
		t.Errorf("after losing its interpreter: %+v (dir %s, was %s), want a rebuild in place", rebuilt, newTarget, oldTarget)
	}
	if _, err := os.Stat(oldTarget); err == nil {
		t.Errorf("broken environment %s left behind", oldTarget)
	}
	wantContains(t, "log", buf.String(), "lost its interpreter")

	// A different conda.yaml is a different environment.
	if err := os.WriteFile(filepath.Join(model, "requirements.txt"), []byte("numpy\npandas\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if third.Dir == env.Dir {
		t.Errorf("a changed requirements.txt (included from conda.yaml) reused %s", env.Dir)
	}
}

// TestUVWithFakeTool runs the uv manager against a stand-in uv.
func TestUVWithFakeTool(t *testing.T) {
	sys, version := systemPython(t)
	// uv venv --python PY [--system-site-packages] DIR
	// uv pip install --python DIR/bin/python ARGS...
	bin := fakeTool(t, "uv", `case "$1" in
venv)
	eval "dir=\${$#}"
	mkdir -p "$dir/bin"
	ln -s "$3" "$dir/bin/python"
	echo "venv: $*" > "$dir/uv-args" ;;
pip)
	dir=$(dirname "$(dirname "$4")")
	echo "pip: $* (cwd $(pwd))" >> "$dir/uv-args" ;;
esac
`)
	model := writeFiles(t, map[string]string{
		"python_env.yaml":  "python: " + version + "\nbuild_dependencies: [pip]\ndependencies: [-r requirements.txt]\n",
		"requirements.txt": "numpy\n",
	})
	links := t.TempDir()
	log, _ := testLogger(t)
	env, err := Prepare(context.Background(), Options{Manager: UV, ModelDir: model, CacheDir: t.TempDir(),
		PipFindLinks: []string{links}, SystemSitePackages: true, Require: []string{"numpy"},
		Getenv: envWith("PATH", bin+":"+filepath.Dir(sys)+":/bin"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if env.Manager != UV || env.Version != version {
		t.Errorf("Env = %+v", env)
	}
	args, err := os.ReadFile(filepath.Join(env.Dir, "uv-args"))
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "uv invocations", string(args),
		"venv: venv --python "+filepath.Dir(sys)+"/python", "--system-site-packages",
		"pip: pip install --python "+env.Dir, "--find-links "+links+" --no-index pip (cwd "+model+")",
		"--find-links "+links+" --no-index -r requirements.txt (cwd "+model+")")
}
