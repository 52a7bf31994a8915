package pyenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// pythonWithoutNumpy returns a real interpreter that cannot import numpy:
// the python3 first on the real PATH when it lacks numpy (on the
// development machines, a pyenv 3.11.7 that does not see apt's packages),
// else a wrapper running the system python with -S, which hides
// dist-packages.
func pythonWithoutNumpy(t *testing.T, sys string) string {
	t.Helper()
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		c := filepath.Join(d, "python3")
		if !filepath.IsAbs(d) || !isExecutable(c) {
			continue
		}
		if exec.Command(c, "-c", "import sys; assert sys.version_info[0] == 3; import json").Run() == nil &&
			exec.Command(c, "-c", "import numpy").Run() != nil {
			t.Logf("interpreter without numpy: %s (first python3 on PATH)", c)
			return c
		}
		break
	}
	return fakeNoNumpy(t, sys)
}

// fakeNoNumpy writes dir/python3 running sys with -S and returns it.
func fakeNoNumpy(t *testing.T, sys string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "python3")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexec "+sys+" -S \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLocal(t *testing.T) {
	sys, version := systemPython(t)
	noNumpy := pythonWithoutNumpy(t, sys)
	fake := fakeNoNumpy(t, sys)
	sysDir := filepath.Dir(sys)
	// A directory posing as an active virtualenv whose python is the
	// system one.
	venv := t.TempDir()
	if err := os.MkdirAll(filepath.Join(venv, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sys, filepath.Join(venv, "bin", "python")); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	np := []string{"numpy", "pandas"}

	tests := []struct {
		name       string
		opts       Options
		wantPython string
		wantReason []string
		wantErr    []string
	}{
		{
			name:       "explicit python",
			opts:       Options{Python: sys, Require: np},
			wantPython: sys,
			wantReason: []string{"explicit interpreter"},
		},
		{
			name:       "explicit bare name looked up on PATH",
			opts:       Options{Python: "python3", Getenv: envWith("PATH", sysDir)},
			wantPython: filepath.Join(sysDir, "python3"),
			wantReason: []string{"explicit interpreter"},
		},
		{
			name:    "explicit python lacks numpy",
			opts:    Options{Python: noNumpy, Require: np},
			wantErr: []string{noNumpy, "cannot import", "no module numpy", "-m pip install numpy"},
		},
		{
			name:    "explicit python does not exist",
			opts:    Options{Python: filepath.Join(empty, "python3")},
			wantErr: []string{filepath.Join(empty, "python3"), "does not exist"},
		},
		{
			name:       "PATH search skips an interpreter without numpy",
			opts:       Options{Require: np, Getenv: envWith("PATH", filepath.Dir(fake)+":"+sysDir)},
			wantPython: filepath.Join(sysDir, "python3"),
			wantReason: []string{"first python3 on PATH that imports numpy, pandas", "skipped " + fake, "no module numpy"},
		},
		{
			name:       "active virtualenv first",
			opts:       Options{Require: np, Getenv: envWith("VIRTUAL_ENV", venv, "PATH", filepath.Dir(fake))},
			wantPython: filepath.Join(venv, "bin", "python"),
			wantReason: []string{"python of the active virtualenv (VIRTUAL_ENV) that imports numpy, pandas"},
		},
		{
			name: "none imports the required module",
			opts: Options{Require: []string{"mlship_no_such_module"}, Getenv: envWith("PATH", filepath.Dir(fake))},
			wantErr: []string{"no suitable Python interpreter that imports mlship_no_such_module",
				fake + " (Python " + version + ": no module mlship_no_such_module)",
				"apt-get install python3 python3-mlship-no-such-module", "--python"},
		},
	}
	// On the development machines the python3 first on PATH is a pyenv
	// build without numpy: the real PATH must lead to the system python,
	// saying why the first one was passed over.
	if noNumpy != fake {
		tests = append(tests, struct {
			name       string
			opts       Options
			wantPython string
			wantReason []string
			wantErr    []string
		}{
			name:       "real PATH skips the pyenv python3",
			opts:       Options{Require: np, Getenv: testGetenv},
			wantReason: []string{"imports numpy, pandas", "skipped " + noNumpy, "no module numpy"},
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, _ := testLogger(t)
			tt.opts.Logger = log
			env, err := Prepare(context.Background(), tt.opts)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Prepare = %+v, want an error", env)
				}
				if !errors.Is(err, ErrNoInterpreter) {
					t.Errorf("error %v does not wrap ErrNoInterpreter", err)
				}
				wantContains(t, "error", err.Error(), tt.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantPython != "" && env.Python != tt.wantPython {
				t.Errorf("Python = %s, want %s", env.Python, tt.wantPython)
			}
			if env.Manager != Local || env.Dir != "" || env.Version == "" {
				t.Errorf("Env = %+v, want manager local, no dir, a version", env)
			}
			if env.Python == sys || env.Python == filepath.Join(sysDir, "python3") {
				if env.Version != version {
					t.Errorf("Version = %s, want %s", env.Version, version)
				}
			}
			wantContains(t, "reason", env.Reason, tt.wantReason...)
			t.Logf("reason: %s", env.Reason)
		})
	}
}

// TestLocalNoInterpreter covers a machine with no Python at all; the
// fixed system locations exist here, so the search runs without them.
func TestLocalNoInterpreter(t *testing.T) {
	p, err := newPreparer(Options{Require: []string{"numpy", "pandas"}, Getenv: envWith("PATH", t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.localSearch(context.Background(), p.localCandidates(nil))
	if !errors.Is(err, ErrNoInterpreter) {
		t.Fatalf("error = %v, want ErrNoInterpreter", err)
	}
	wantContains(t, "error", err.Error(), "tried nothing", "apt-get install python3 python3-numpy python3-pandas", "--python", "MLSHIP_PYTHON")

	p, _ = newPreparer(Options{})
	_, err = p.localSearch(context.Background(), p.localCandidates([]string{"/nonexistent/bin/python3"}))
	wantContains(t, "error", err.Error(), "/nonexistent/bin/python3 (not found)")
}

// TestProbeHonoursContext: a probe of a hung interpreter ends with ctx.
func TestProbeHonoursContext(t *testing.T) {
	dir := t.TempDir()
	hung := filepath.Join(dir, "python3")
	if err := os.WriteFile(hung, []byte("#!/bin/sh\nsleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Prepare(ctx, Options{Python: hung})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Prepare took %v after its context ended", d)
	}
}
