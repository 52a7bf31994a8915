package main_test

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/mlship/mlship/internal/ortlib"
	"github.com/mlship/mlship/internal/testenv"
)

var digestLine = regexp.MustCompile(`(?m)^digest\s+(sha256:[0-9a-f]{64})$`)

// buildDocker runs `mlship build-docker` and returns the digest it prints.
// It finds ONNX Runtime where the tests do and keeps its layer cache in a
// temporary directory, not the user's cache.
func buildDocker(t *testing.T, bin string, args ...string) string {
	t.Helper()
	_, cache := testenv.ONNXRuntime(t)
	lib := os.Getenv(ortlib.EnvVar)
	if lib == "" {
		lib = ortlib.CachedPath(cache)
	}
	env := []string{ortlib.EnvVar + "=" + lib, "MLSHIP_CACHE_DIR=" + t.TempDir()}
	code, stdout, stderr := run(t, bin, env, args...)
	if code != 0 {
		t.Fatalf("mlship %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	m := digestLine.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no digest printed:\n%s", stdout)
	}
	return m[1]
}

// The image goes to a real registry (Debian's docker-registry) and comes
// back whole: every blob is fetched and checked against its digest, the
// labels name the model, and a model-only change pushes an image sharing
// every layer but the model's.
func TestBuildDockerPushToRegistry(t *testing.T) {
	bin := buildBinary(t)
	host := testenv.Registry(t)
	model := testenv.CopyDir(t, filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model"))

	digest := buildDocker(t, bin, "build-docker", "-m", model, "-n", host+"/models/iris:1", "--push")
	ref, err := name.ParseReference(host + "/models/iris:1")
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if d, _ := img.Digest(); d.String() != digest {
		t.Fatalf("pulled %s, built %s", d, digest)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"io.mlship.model.uuid": "6a1f0e2b3c4d4e5f8a9b0c1d2e3f4a5b",
		"io.mlship.flavors":    "onnx,python_function",
		"io.mlship.flavor":     "onnx",
	} {
		if got := cf.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(cf.Config.Labels["io.mlship.signature-digest"], "sha256:") {
		t.Errorf("labels: %v", cf.Config.Labels)
	}

	// Rebuilding the same inputs gives the same digest.
	if again := buildDocker(t, bin, "models", "build-docker", "-m", model, "-n", host+"/models/iris:1"); again != digest {
		t.Errorf("rebuild: %s, first build %s", again, digest)
	}

	// Retrain: only the model layer changes.
	mlmodel := filepath.Join(model, "MLmodel")
	text, _ := os.ReadFile(mlmodel)
	os.WriteFile(mlmodel, []byte(strings.Replace(string(text), "6a1f0e2b", "7b2f0e2b", 1)), 0o644)
	buildDocker(t, bin, "build-docker", "-m", model, "-n", host+"/models/iris:2", "--push")
	ref2, _ := name.ParseReference(host + "/models/iris:2")
	img2, err := remote.Image(ref2)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img2); err != nil {
		t.Fatalf("validate: %v", err)
	}
	l1, _ := img.Layers()
	l2, _ := img2.Layers()
	if len(l1) != 3 || len(l2) != 3 {
		t.Fatalf("%d and %d layers", len(l1), len(l2))
	}
	for i, l := range l1 {
		a, _ := l.Digest()
		b, _ := l2[i].Digest()
		if (a == b) != (i < 2) {
			t.Errorf("layer %d: %s then %s (want only the model layer, the last, to change)", i, a, b)
		}
	}
}

// The image runs: its root filesystem, unpacked, starts the entrypoint
// under chroot as the image's user, exactly as SageMaker invokes it (the
// one argument `serve`, the port in SAGEMAKER_BIND_TO_PORT), loads the
// model from /opt/ml/model with the ONNX Runtime inside the image, answers
// /ping and /invocations with the model's reference outputs, and drains
// and exits 0 on SIGTERM.
func TestBuildDockerImageServesUnderChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "running the image under chroot needs root")
	}
	bin := buildBinary(t)
	root := testenv.RepoRoot(t)
	model := filepath.Join(root, "examples", "iris-onnx", "model")
	tarPath := filepath.Join(t.TempDir(), "iris.tar")
	buildDocker(t, bin, "build-docker", "-m", model, "-n", "iris:e2e", "--tarball", tarPath)

	tag, _ := name.NewTag("iris:e2e")
	img, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		t.Fatal(err)
	}
	// A native image needs no /dev: run it without one.
	url, logs, stop := startImage(t, img, false)

	var expected struct {
		Input         [][]float64 `json:"input"`
		Probabilities [][]float64 `json:"probabilities"`
		Label         []int64     `json:"label"`
	}
	data, err := os.ReadFile(filepath.Join(root, "examples", "iris-onnx", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &expected); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"inputs": expected.Input})
	resp, err := http.Post(url+"/invocations", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("invocations: %d %s", resp.StatusCode, out)
	}
	var got struct {
		Predictions struct {
			Probabilities [][]float64 `json:"probabilities"`
			Label         []int64     `json:"label"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if fmt.Sprint(got.Predictions.Label) != fmt.Sprint(expected.Label) {
		t.Errorf("labels %v, want %v", got.Predictions.Label, expected.Label)
	}
	for i, row := range expected.Probabilities {
		for j, want := range row {
			if g := got.Predictions.Probabilities[i][j]; math.Abs(g-want) > 1e-6 {
				t.Errorf("probabilities[%d][%d] = %g, want %g", i, j, g, want)
			}
		}
	}

	stop()
	if !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("no drain:\n%s", logs.String())
	}
}

func userIDs(t *testing.T, user string) (uint32, uint32) {
	t.Helper()
	u, g, ok := strings.Cut(user, ":")
	uid, err1 := strconv.ParseUint(u, 10, 32)
	gid, err2 := strconv.ParseUint(g, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("image user %q is not numeric uid:gid", user)
	}
	return uint32(uid), uint32(gid)
}

// unpack writes the image's flattened root filesystem into dir as a
// container runtime would: modes and owners as in the layers.
func unpack(t *testing.T, img v1.Image, dir string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		clean := filepath.Clean("/" + h.Name)
		p := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(h.Mode & 0o777)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, mode); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected entry %s (type %c)", h.Name, h.Typeflag)
		}
		if h.Typeflag != tar.TypeSymlink {
			if err := os.Chmod(p, os.FileMode(h.Mode&0o777)|sticky(h.Mode)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			t.Fatal(err)
		}
	}
}

func sticky(mode int64) os.FileMode {
	if mode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// lockedLog collects a child's output.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
