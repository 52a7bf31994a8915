// Package testenv locates what tests need outside the repository: the shared
// test data beside the clone, native runtimes, and DuckDB (an independent
// reader of the files predict writes). Under CI (CI=true) a missing
// requirement fails the test instead of skipping it, so core paths cannot
// silently go untested.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// RepoRoot returns the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot locate source file")
	}
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: go.mod not found above " + file)
		}
		dir = parent
	}
}

// InCI reports whether the tests run under CI.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test with reason, or fails it under CI.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("required under CI=true: %s", reason)
	}
	t.Skip(reason)
}

// SharedTestdata returns ../shared/testdata next to the repository
// (MLSHIP_SHARED_TESTDATA overrides), or skips (fails under CI) when absent.
func SharedTestdata(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("MLSHIP_SHARED_TESTDATA")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "..", "shared", "testdata")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		Missing(t, "shared test data not found at "+dir+" (set MLSHIP_SHARED_TESTDATA)")
	}
	return dir
}

// CopyDir copies a directory tree into a fresh temporary directory so a
// test may modify it; shared test data is read-only.
func CopyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
	return dst
}

// CacheDir is mlship's cache directory as the CLI computes it
// (MLSHIP_CACHE_DIR, else $XDG_CACHE_HOME/mlship, else ~/.cache/mlship).
func CacheDir() string {
	if d := os.Getenv("MLSHIP_CACHE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "mlship")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "mlship")
}

// ONNXRuntime returns the getenv function and cache directory to put in
// flavors.LoadOptions so the onnx flavor finds the ONNX Runtime library,
// or skips (fails under CI) when none is provisioned.
func ONNXRuntime(t testing.TB) (getenv func(string) string, cacheDir string) {
	t.Helper()
	cacheDir = CacheDir()
	if p := os.Getenv("MLSHIP_ONNXRUNTIME_LIB"); p != "" {
		if _, err := os.Stat(p); err != nil {
			Missing(t, "MLSHIP_ONNXRUNTIME_LIB="+p+": "+err.Error())
		}
		return os.Getenv, cacheDir
	}
	lib := filepath.Join(cacheDir, "onnxruntime", "1.30.0", "libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		Missing(t, "ONNX Runtime is not provisioned at "+lib+" (run scripts/provision-onnxruntime.sh or set MLSHIP_ONNXRUNTIME_LIB)")
	}
	return os.Getenv, cacheDir
}

// Python returns an interpreter that can run python_function models
// (numpy, pandas, scikit-learn, cloudpickle): MLSHIP_PYTHON when set, else
// Debian's /usr/bin/python3; it skips (fails under CI) when neither has
// them.
func Python(t testing.TB) string {
	t.Helper()
	py := os.Getenv("MLSHIP_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	out, err := exec.Command(py, "-c", "import numpy, pandas, sklearn, cloudpickle").CombinedOutput()
	if err != nil {
		Missing(t, "a Python with numpy, pandas, scikit-learn and cloudpickle is needed ("+py+": "+strings.TrimSpace(string(out))+"; apt-get install python3-sklearn python3-pandas python3-cloudpickle)")
	}
	return py
}
