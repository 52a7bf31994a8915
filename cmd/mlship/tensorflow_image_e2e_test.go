package main_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mlship/mlship/internal/testenv"
)

// A plain TensorFlow SavedModel (no MLmodel, no TensorFlow anywhere) packs
// into an image that converts it at start and serves it under chroot as
// the image's user, with the ONNX Runtime inside the image.
func TestBuildDockerTensorFlowImageServes(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "running the image under chroot needs root")
	}
	model := filepath.Join(testenv.SharedTestdata(t), "tensorflow", "rust_keras_single_input")
	bin := buildBinary(t)
	tarPath := filepath.Join(t.TempDir(), "keras.tar")
	buildDocker(t, bin, "build-docker", "-m", model, "-n", "keras:e2e", "--tarball", tarPath)
	tag, _ := name.NewTag("keras:e2e")
	img, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.Config.Labels["io.mlship.flavor"]; f != "tensorflow" {
		t.Errorf("the image serves flavor %q, want tensorflow", f)
	}
	url, logs, stop := startImage(t, img, false)
	defer stop()
	resp, err := http.Post(url+"/invocations", "application/json", strings.NewReader(`{"inputs": [[0.1, 0.2, 0.3, 0.4, 0.5]]}`))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(out), `{"predictions": {"test_out": [[0.500307`) {
		t.Fatalf("invocations: %d %s\n%s", resp.StatusCode, out, logs.String())
	}
}
