package tensorflow

import (
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/testenv"
)

// Environment of the child process TestReadOnlyModelDir starts as an
// unprivileged user when it runs as root.
const (
	envReadOnlyModel = "MLSHIP_TEST_TF_READONLY_MODEL"
	envReadOnlyCache = "MLSHIP_TEST_TF_READONLY_CACHE"
	envReadOnlyORT   = "MLSHIP_TEST_TF_READONLY_ORT"
)

// TestReadOnlyModelDir: a SavedModel in a directory nobody may write to
// loads and predicts, with a cache directory and without one, and its
// files are left as they were. Root ignores write permissions, so as root
// the loads run in a child process as user nobody (65534), with the test
// binary, ONNX Runtime and the model copied where that user can read them.
func TestReadOnlyModelDir(t *testing.T) {
	ort := loadOptions(t).Getenv("MLSHIP_ONNXRUNTIME_LIB")
	base := t.TempDir()
	model := filepath.Join(base, "model")
	if err := os.Rename(testenv.CopyDir(t, sharedModel(t, "saved_model_half_plus_two_tf2_cpu/00000123")), model); err != nil {
		t.Fatal(err)
	}
	before := listFiles(t, model)
	setWritable(t, model, false)
	t.Cleanup(func() { setWritable(t, model, true) })
	cache := filepath.Join(base, "cache")
	if err := os.Mkdir(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		loadReadOnly(t, model, cache, ort)
	} else {
		runAsNobody(t, base, model, cache, ort)
	}
	if after := listFiles(t, model); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("the model directory changed: %v -> %v", before, after)
	}
	if cached, _ := filepath.Glob(filepath.Join(cache, cacheSubdir, "*.onnx")); len(cached) != 1 {
		t.Errorf("the cache holds %v, want one converted model", cached)
	}
}

// TestReadOnlyModelDirChild is the child process of TestReadOnlyModelDir.
func TestReadOnlyModelDirChild(t *testing.T) {
	model := os.Getenv(envReadOnlyModel)
	if model == "" {
		t.Skip("run by TestReadOnlyModelDir")
	}
	loadReadOnly(t, model, os.Getenv(envReadOnlyCache), os.Getenv(envReadOnlyORT))
}

// loadReadOnly checks that model cannot be written, then loads and runs
// it with the cache directory and without one.
func loadReadOnly(t *testing.T, model, cache, ort string) {
	if err := os.WriteFile(filepath.Join(model, "probe"), nil, 0o644); err == nil {
		t.Fatal("the model directory is writable: the test proves nothing")
	}
	for _, dir := range []string{cache, ""} {
		opts := flavors.LoadOptions{CacheDir: dir, Getenv: func(k string) string {
			if k == "MLSHIP_ONNXRUNTIME_LIB" {
				return ort
			}
			return ""
		}}
		p, err := LoadSavedModel(context.Background(), model, &Config{Tags: []string{"serve"}, SignatureKey: "serving_default"}, opts)
		if err != nil {
			t.Fatalf("cache dir %q: %v", dir, err)
		}
		c := halfPlus("serving_default", "x", "y", []int64{1}, []float64{3}, 2)
		out, err := p.Predict(context.Background(), inputBatch(t, c.Inputs), nil)
		if err != nil {
			t.Fatalf("cache dir %q: %v", dir, err)
		}
		compareOutputs(t, out, c.Outputs)
		out.Release()
		p.(io.Closer).Close()
	}
}

// runAsNobody runs TestReadOnlyModelDirChild as user 65534 over copies it
// can read.
func runAsNobody(t *testing.T, base, model, cache, ort string) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "tensorflow.test")
	lib := filepath.Join(base, filepath.Base(ort))
	for _, c := range []struct{ from, to string }{{self, bin}, {ort, lib}} {
		b, err := os.ReadFile(c.from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.to, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// ONNX Runtime keeps files of its own under $HOME (.cache/Microsoft).
	tmp, home := filepath.Join(base, "tmp"), filepath.Join(base, "home")
	for _, d := range []string{tmp, home} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{cache, tmp, home} {
		if err := os.Chown(d, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	// t.TempDir's directories are private to root: open the way down.
	for d := base; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-test.run=^TestReadOnlyModelDirChild$", "-test.v", "-test.count=1")
	cmd.Dir = home
	cmd.Env = []string{envReadOnlyModel + "=" + model, envReadOnlyCache + "=" + cache, envReadOnlyORT + "=" + lib,
		"TMPDIR=" + tmp, "HOME=" + home, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestReadOnlyModelDirChild") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	// (ONNX Runtime's telemetry leaves .ses and mat-debug-*.log there.)
	if left, _ := filepath.Glob(filepath.Join(tmp, "mlship-*")); len(left) != 0 {
		t.Errorf("the load without a cache dir left %v in TMPDIR", left)
	}
}

// setWritable adds or removes every write permission under dir.
func setWritable(t *testing.T, dir string, w bool) {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm() &^ 0o222
		if w {
			mode |= 0o200
		}
		return os.Chmod(p, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
}
