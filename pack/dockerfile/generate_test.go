package dockerfile

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fakeFiles are stand-ins for the mlship binary and ONNX Runtime: fixed
// bytes, so golden listings do not depend on the build.
func fakeFiles(t *testing.T) (binary, ort string) {
	t.Helper()
	dir := t.TempDir()
	binary = filepath.Join(dir, "mlship")
	ort = filepath.Join(dir, "libonnxruntime.so.1.30.0")
	if err := os.WriteFile(binary, []byte("not really mlship\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ort, []byte("not really ONNX Runtime\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return binary, ort
}

// wheelModel is a python_function model whose requirements include a
// constraints file, a local wheel, extras and an environment marker.
func wheelModel(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wheel-model")
	files := map[string]string{
		"MLmodel": "flavors:\n  python_function:\n    env:\n      virtualenv: python_env.yaml\n" +
			"    loader_module: mymodel\n    python_version: 3.12.4\nmodel_uuid: 0123abcd\nrun_id: feedbeef\n",
		"python_env.yaml":                     "python: 3.12.4\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n- --extra-index-url https://example.invalid/simple\n",
		"requirements.txt":                    "-c constraints.txt\n./wheels/mymodel-1.0-py3-none-any.whl\nscikit-learn[alldeps]>=1.2 ; python_version >= \"3.9\"\nnumpy  # comment\n",
		"constraints.txt":                     "numpy<2\n",
		"wheels/mymodel-1.0-py3-none-any.whl": "wheel",
		"mymodel.py":                          "def _load_pyfunc(path): ...\n",
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestGenerateGolden(t *testing.T) {
	root := testenv.RepoRoot(t)
	shared := func(name string) func(t *testing.T) string {
		return func(t *testing.T) string {
			return filepath.Join(testenv.SharedTestdata(t), "mlflow", name)
		}
	}
	repo := func(rel string) func(t *testing.T) string {
		return func(*testing.T) string { return filepath.Join(root, filepath.FromSlash(rel)) }
	}
	tests := []struct {
		name  string
		model func(t *testing.T) string
		opts  Options
	}{
		{"sklearn-iris", repo("examples/sklearn-iris/model"), Options{}},
		{"sklearn-iris-custom-base", repo("examples/sklearn-iris/model"),
			Options{BaseImage: "registry.example/py311:bookworm", Python: "/opt/py/bin/python3", EnvManager: "virtualenv"}},
		{"iris-onnx", repo("examples/iris-onnx/model"), Options{}},
		{"iris-onnx-as-python", repo("examples/iris-onnx/model"), Options{Flavor: FlavorPythonFunction}},
		{"mlflow-1x-sklearn", shared("mlflow_1x_sklearn_model"), Options{}},
		{"pyfunc-python-model-2.8.1", shared("pyfunc_python_model_2.8.1"), Options{}},
		{"langchain-2.12", shared("langchain_2.12_model_metadata_only"), Options{}},
		{"onnx-mlp-handmade", shared("onnx_mlp_handmade"), Options{BaseImage: "gcr.io/distroless/cc-debian12"}},
		{"wheel-model", wheelModel, Options{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := mlmodel.Load(tc.model(t))
			if err != nil {
				t.Fatal(err)
			}
			o := tc.opts
			o.Binary, o.ONNXRuntime = fakeFiles(t)
			out := filepath.Join(t.TempDir(), "ctx")
			res, err := Generate(m, out, o)
			if err != nil {
				t.Fatal(err)
			}
			dockerfile, err := os.ReadFile(filepath.Join(out, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			summary := fmt.Sprintf("flavor: %s\nbase: %s\nmodel: %s\n", res.Flavor, res.BaseImage, res.ModelName)
			for _, n := range res.Notes {
				summary += "note: " + n + "\n"
			}
			summary += "\n" + listing(t, out)
			golden(t, filepath.Join("testdata", tc.name, "Dockerfile"), dockerfile)
			golden(t, filepath.Join("testdata", tc.name, "context.txt"), []byte(summary))
		})
	}
}

// listing describes a context as Build sends it: one line per tar entry.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Tar(&buf, dir); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		sum := sha256.Sum256(data)
		if !h.ModTime.Equal(Epoch) || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: mtime %v uid %d gid %d, want the epoch and root", h.Name, h.ModTime, h.Uid, h.Gid)
		}
		fmt.Fprintf(&b, "%04o %6d %s %s\n", h.Mode, h.Size, hex.EncodeToString(sum[:])[:12], h.Name)
	}
	return b.String()
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, d)
	}
}

// The same inputs give the same context bytes, whenever and wherever the
// files were written; regenerating removes stale model files.
func TestGenerateDeterministic(t *testing.T) {
	src := testenv.CopyDir(t, filepath.Join(testenv.RepoRoot(t), "examples", "sklearn-iris", "model"))
	binary, ort := fakeFiles(t)
	gen := func(dir string) string {
		t.Helper()
		m, err := mlmodel.Load(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Generate(m, dir, Options{Binary: binary, ONNXRuntime: ort}); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Tar(&buf, dir); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(buf.Bytes())
		return hex.EncodeToString(sum[:])
	}
	a := gen(filepath.Join(t.TempDir(), "a"))
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(src, "model.pkl"), later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "model.pkl"), 0o600); err != nil {
		t.Fatal(err)
	}
	bDir := filepath.Join(t.TempDir(), "b")
	if b := gen(bDir); a != b {
		t.Errorf("context digests differ: %s and %s", a, b)
	}
	stale := filepath.Join(bDir, ContextModelDir, "model", "stale.txt")
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(bDir, "README")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	gen(bDir)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale model file survived regeneration: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file Generate does not own was removed: %v", err)
	}
}

func TestGenerateErrors(t *testing.T) {
	root := testenv.RepoRoot(t)
	sk := filepath.Join(root, "examples", "sklearn-iris", "model")
	onnx := filepath.Join(root, "examples", "iris-onnx", "model")
	binary, ort := fakeFiles(t)
	noVersion := t.TempDir()
	if err := os.WriteFile(filepath.Join(noVersion, "MLmodel"), []byte("flavors:\n  python_function:\n    loader_module: m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mleap := t.TempDir()
	if err := os.WriteFile(filepath.Join(mleap, "MLmodel"), []byte("flavors:\n  mleap:\n    mleap_version: 0.23.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, model string
		out         string // "" for a temp dir
		opts        Options
		want        string
	}{
		{"conda", sk, "", Options{Binary: binary, EnvManager: "conda"}, "conda environments are not supported"},
		{"bad env manager", sk, "", Options{Binary: binary, EnvManager: "pipenv"}, `--env-manager "pipenv"`},
		{"no binary", sk, "", Options{}, "no mlship binary"},
		{"missing binary", sk, "", Options{Binary: filepath.Join(root, "nope")}, "mlship binary"},
		{"no runtime", onnx, "", Options{Binary: binary}, "no ONNX Runtime library"},
		{"flavor absent", sk, "", Options{Binary: binary, Flavor: "onnx"}, "the model has no onnx flavor"},
		{"flavor unknown", sk, "", Options{Binary: binary, Flavor: "sklearn"}, `flavor "sklearn"`},
		{"no python version", noVersion, "", Options{Binary: binary}, "pass --base-image"},
		{"no servable flavor", mleap, "", Options{Binary: binary, ONNXRuntime: ort}, "no flavor mlship can serve"},
		{"inside the model", sk, filepath.Join(sk, "ctx"), Options{Binary: binary}, "inside the model directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := mlmodel.Load(tc.model)
			if err != nil {
				t.Fatal(err)
			}
			out := tc.out
			if out == "" {
				out = filepath.Join(t.TempDir(), "ctx")
			}
			_, err = Generate(m, out, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(sk, "ctx")); !os.IsNotExist(err) {
		t.Errorf("something was written into the model directory")
	}
}

func TestPythonBase(t *testing.T) {
	tests := []struct {
		version, glibc, want string
		note                 bool
	}{
		{"3.11.2", "", "python:3.11.2-slim", false},     // binary needs nothing we know of
		{"3.11.2", "2.31", "python:3.11.2-slim", false}, // Debian 11 is enough
		{"3.11.2", "2.34", "python:3.11-slim", true},    // Debian 11 image: newer one
		{"3.11.4", "2.34", "python:3.11.4-slim", false}, // first bookworm 3.11
		{"3.10.12", "2.34", "python:3.10.12-slim", false},
		{"3.10.11", "2.34", "python:3.10-slim", true},
		{"3.9.13", "2.34", "python:3.9-slim", true},
		{"3.8.16", "2.34", "python:3.8-slim", true},
		{"3.12.0", "2.34", "python:3.12.0-slim", false},
		{"3.13.1", "2.38", "python:3.13.1-slim", false},
		{"3.11", "2.34", "python:3.11-slim", false}, // floating tags are current
		{"3.6.15", "2.34", "python:3.6.15-slim", true},
	}
	for _, tc := range tests {
		got, note := pythonBase(tc.version, tc.glibc)
		if got != tc.want || (note != "") != tc.note {
			t.Errorf("pythonBase(%q, %q) = %q, note %q; want %q, note %v", tc.version, tc.glibc, got, note, tc.want, tc.note)
		}
	}
}

func TestRequiredGlibc(t *testing.T) {
	if v := requiredGlibc("/bin/ls"); v == "" || versionLess(v, "2.2.5") {
		t.Errorf("requiredGlibc(/bin/ls) = %q, want a GLIBC version", v)
	}
	binary, _ := fakeFiles(t)
	if v := requiredGlibc(binary, "/nonexistent"); v != "" {
		t.Errorf("requiredGlibc(not ELF) = %q, want empty", v)
	}
	for _, c := range []struct {
		a, b string
		less bool
	}{{"2.31", "2.34", true}, {"2.34", "2.4", false}, {"2.3.4", "2.34", true}, {"2.34", "2.34", false}} {
		if got := versionLess(c.a, c.b); got != c.less {
			t.Errorf("versionLess(%s, %s) = %v", c.a, c.b, got)
		}
	}
}

func TestPipArgs(t *testing.T) {
	got := shJoin(pipArgs([]string{
		"-r requirements.txt",
		"--constraint=sub/constraints.txt",
		"-c https://example.invalid/c.txt",
		"mlflow[gateway]==2.12.2",
		`pandas ; python_version < "3.12"`,
		"it's",
		"--extra-index-url https://example.invalid/simple # comment",
	}))
	want := "-r /opt/ml/model/requirements.txt --constraint=/opt/ml/model/sub/constraints.txt " +
		"-c https://example.invalid/c.txt 'mlflow[gateway]==2.12.2' 'pandas ; python_version < \"3.12\"' " +
		`'it'\''s' --extra-index-url https://example.invalid/simple`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
