package cli

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/mlship/mlship/internal/testenv"
)

// buildDockerCLI runs mlship in an environment whose "ONNX Runtime" is the
// host's libm (an ELF shared library: the builder copies it, never loads
// it), with the test binary standing in for mlship.
func buildDockerCLI(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	lib := ""
	for _, d := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64"} {
		p := filepath.Join(d, "libm.so.6")
		if f, err := elf.Open(p); err == nil {
			if f.Machine == elf.EM_X86_64 {
				lib = p
			}
			f.Close()
		}
		if lib != "" {
			break
		}
	}
	if lib == "" {
		testenv.Missing(t, "an amd64 libm.so.6 is needed as a stand-in native library")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "MLSHIP_ONNXRUNTIME_LIB" {
			return lib
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	cmd := New(&stdout, &stderr, getenv)
	cmd.SetArgs(append(args, "--mlship-binary", exe))
	err = cmd.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

// The command prints the digest and sizes, writes where it is told, and
// SOURCE_DATE_EPOCH pins the image's time (and so its digest).
func TestBuildDockerCommand(t *testing.T) {
	model := example(t, "iris-onnx")
	dir := t.TempDir()
	out, stderr, err := buildDockerCLI(t, nil, "build-docker", "-m", model, "-n", "registry.example/iris:7",
		"--oci-layout", filepath.Join(dir, "layout"), "--tarball", filepath.Join(dir, "iris.tar"), "--label", "team=fraud")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^image +registry\.example/iris@sha256:[0-9a-f]{64}$`),
		regexp.MustCompile(`(?m)^digest +sha256:[0-9a-f]{64}$`),
		regexp.MustCompile(`(?m)^size +[0-9.]+ MiB compressed \(\d+ bytes; host base .*, runtime .*, model .*\)$`),
		regexp.MustCompile(`(?m)^wrote +OCI layout .*layout \(registry\.example/iris:7\)$`),
		regexp.MustCompile(`(?m)^wrote +.*iris\.tar \(docker load -i .*iris\.tar\)$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	p, err := layout.FromPath(filepath.Join(dir, "layout"))
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 1 {
		t.Fatalf("layout holds %d images", len(im.Manifests))
	}
	img, _ := idx.Image(im.Manifests[0].Digest)
	cf, _ := img.ConfigFile()
	if cf.Config.Labels["team"] != "fraud" {
		t.Errorf("labels %v", cf.Config.Labels)
	}

	digest := func(out string) string { return regexp.MustCompile(`digest +(\S+)`).FindStringSubmatch(out)[1] }
	a, _, err := buildDockerCLI(t, map[string]string{"SOURCE_DATE_EPOCH": "1700000000"}, "models", "build-docker", "-m", model, "-n", "iris")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a, "not written anywhere") {
		t.Errorf("no hint without a destination:\n%s", a)
	}
	b, _, _ := buildDockerCLI(t, map[string]string{"SOURCE_DATE_EPOCH": "1700000001"}, "build-docker", "-m", model, "-n", "iris")
	if digest(a) == digest(out) || digest(a) == digest(b) {
		t.Errorf("SOURCE_DATE_EPOCH did not change the digest: %s %s %s", digest(out), digest(a), digest(b))
	}
}

// Bad input is refused with a message naming it; a python_function-only
// model is refused saying why and what to do instead.
func TestBuildDockerErrors(t *testing.T) {
	model := example(t, "iris-onnx")
	pyOnly := testenv.CopyDir(t, model)
	text, _ := os.ReadFile(filepath.Join(pyOnly, "MLmodel"))
	s := string(text)
	s = s[:strings.Index(s, "  onnx:\n")] + s[strings.Index(s, "  python_function:\n"):]
	os.WriteFile(filepath.Join(pyOnly, "MLmodel"), []byte(s), 0o644)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"python_function only", nil, []string{"build-docker", "-m", pyOnly}, []string{"python_function", "native flavors", "Python environment", "mlship generate-dockerfile", "--builder docker"}},
		{"bad name", nil, []string{"build-docker", "-m", model, "-n", "Bad Name"}, []string{"--name"}},
		{"bad label", nil, []string{"build-docker", "-m", model, "--label", "novalue"}, []string{"--label", "KEY=VALUE"}},
		{"bad epoch", map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, []string{"build-docker", "-m", model}, []string{"SOURCE_DATE_EPOCH"}},
		{"platform", nil, []string{"build-docker", "-m", model, "--platform", "linux/arm64"}, []string{"linux/amd64"}},
		{"no model", nil, []string{"build-docker"}, []string{"model-uri"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := buildDockerCLI(t, tc.env, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// `mlship serve` without a model serves /opt/ml/model when it exists.
func TestServeModelRef(t *testing.T) {
	dir := t.TempDir()
	if got, err := serveModelRef([]string{"./m"}, dir); got != "./m" || err != nil {
		t.Errorf("explicit: %q %v", got, err)
	}
	if got, err := serveModelRef(nil, dir); got != dir || err != nil {
		t.Errorf("container dir: %q %v", got, err)
	}
	if _, err := serveModelRef(nil, filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "serve needs a model") {
		t.Errorf("missing container dir: %v", err)
	}
}

// SAGEMAKER_BIND_TO_PORT is the port unless --port is given; the image's
// MLSHIP_HOST and MLSHIP_PORT are the defaults of --host and --port.
func TestServeAddress(t *testing.T) {
	for _, tc := range []struct {
		port     int
		explicit bool
		env      string
		want     int
		err      bool
	}{
		{8080, false, "", 8080, false},
		{8080, false, "9090", 9090, false},
		{7000, true, "9090", 7000, false},
		{8080, false, "http", 0, true},
		{8080, false, "70000", 0, true},
	} {
		got, err := bindToPort(tc.port, tc.explicit, tc.env)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("bindToPort(%d, %v, %q) = %d, %v", tc.port, tc.explicit, tc.env, got, err)
		}
	}
	env := map[string]string{"MLSHIP_HOST": "0.0.0.0", "MLSHIP_PORT": "8181"}
	d := &deps{env: func(k string) string { return env[k] }}
	cmd := NewCmdServe(d)
	if h, _ := cmd.Flags().GetString("host"); h != "0.0.0.0" {
		t.Errorf("host default %q", h)
	}
	if p, _ := cmd.Flags().GetInt("port"); p != 8181 {
		t.Errorf("port default %d", p)
	}
	if dt, _ := cmd.Flags().GetDuration("drain-timeout"); dt+2e9 > 30e9 {
		t.Errorf("drain-timeout %s plus the 2 s grace exceeds SageMaker's 30 s", dt)
	}
}

// Builds keep their base and runtime layers in MLSHIP_CACHE_DIR/layers
// unless told not to; the digest is the same either way.
func TestBuildDockerLayerCache(t *testing.T) {
	model := example(t, "iris-onnx")
	cache := t.TempDir()
	env := map[string]string{"MLSHIP_CACHE_DIR": cache}
	digest := func(out string) string { return regexp.MustCompile(`digest +(\S+)`).FindStringSubmatch(out)[1] }
	bypass, _, err := buildDockerCLI(t, env, "build-docker", "-m", model, "--no-layer-cache")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cache, "layers")); err == nil {
		t.Error("--no-layer-cache wrote the cache")
	}
	for i := 0; i < 2; i++ {
		out, _, err := buildDockerCLI(t, env, "build-docker", "-m", model)
		if err != nil {
			t.Fatal(err)
		}
		if digest(out) != digest(bypass) {
			t.Errorf("build %d through the cache: %s, without: %s", i, digest(out), digest(bypass))
		}
	}
	if m, _ := filepath.Glob(filepath.Join(cache, "layers", "*.tar.gz")); len(m) != 2 {
		t.Errorf("cache holds %v", m)
	}
}
