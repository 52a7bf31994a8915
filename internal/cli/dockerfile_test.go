package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runWithEnv runs mlship with exactly the given environment.
func runWithEnv(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := New(&stdout, &stderr, func(k string) string { return env[k] })
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

// fakeORT is a stand-in ONNX Runtime library, found through
// MLSHIP_ONNXRUNTIME_LIB.
func fakeORT(t *testing.T) map[string]string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(p, []byte("not really ONNX Runtime"), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"MLSHIP_ONNXRUNTIME_LIB": p}
}

// testBinary is a Linux executable for this machine: the test binary
// itself stands in for mlship.
func testBinary(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGenerateDockerfileCommand(t *testing.T) {
	env := fakeORT(t)
	dir := filepath.Join(t.TempDir(), "onnx-image")
	out, stderr, err := runWithEnv(t, env, "generate-dockerfile", "-m", example(t, "iris-onnx"), "-d", dir, "--mlship-binary", testBinary(t))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), "FROM debian:12-slim\n") || !strings.Contains(out, "model    model (onnx), base debian:12-slim") {
		t.Errorf("onnx Dockerfile:\n%s\noutput:\n%s", df, out)
	}
	if lib, err := os.ReadFile(filepath.Join(dir, "lib", "libonnxruntime.so.1")); err != nil || string(lib) != "not really ONNX Runtime" {
		t.Errorf("the context does not hold the library MLSHIP_ONNXRUNTIME_LIB names: %v", err)
	}

	// MLflow's spelling, a python_function model, the default directory.
	t.Chdir(t.TempDir())
	out, stderr, err = runWithEnv(t, nil, "models", "generate-dockerfile", "-m", example(t, "sklearn-iris"), "--mlship-binary", testBinary(t), "--install-mlflow")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	df, err = os.ReadFile(filepath.Join("mlflow-dockerfile", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM python:3.11", "-r /opt/ml/model/requirements.txt", `CMD ["serve", "/opt/ml/model", "--host", "0.0.0.0", "--port", "8080"]`} {
		if !strings.Contains(string(df), want) {
			t.Errorf("python Dockerfile lacks %q:\n%s", want, df)
		}
	}
	if !strings.Contains(out, "docker build -t IMAGE") {
		t.Errorf("output:\n%s", out)
	}

	notELF := filepath.Join(t.TempDir(), "mlship")
	os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mlship-binary", notELF}, "not a Linux executable"},
		{[]string{"--mlship-binary", testBinary(t), "--env-manager", "conda"}, "conda"},
		{[]string{"--mlship-binary", testBinary(t), "--flavor", "onnx"}, "no onnx flavor"},
	} {
		args := append([]string{"generate-dockerfile", "-m", example(t, "sklearn-iris"), "-d", t.TempDir()}, tc.args...)
		if _, _, err := runWithEnv(t, nil, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	if _, _, err := runWithEnv(t, map[string]string{"MLSHIP_ONNXRUNTIME_LIB": "/nonexistent"}, "generate-dockerfile", "-m", example(t, "iris-onnx"), "-d", t.TempDir(), "--mlship-binary", testBinary(t)); err == nil || !strings.Contains(err.Error(), "needs ONNX Runtime") {
		t.Errorf("no ONNX Runtime: %v", err)
	}
}

// engineRecorder is a Docker Engine that records /build requests.
type engineRecorder struct {
	query      string
	dockerfile string
}

func (e *engineRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_ping":
		io.WriteString(w, "OK")
	case "/build":
		e.query = r.URL.RawQuery
		tr := tar.NewReader(r.Body)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Name == "Dockerfile" {
				b, _ := io.ReadAll(tr)
				e.dockerfile = string(b)
			}
		}
		io.WriteString(w, `{"stream":"Step 1/2\n"}`+"\n"+`{"aux":{"ID":"sha256:abc"}}`+"\n")
	default:
		http.NotFound(w, r)
	}
}

// TestDockerBuilder wires --builder into a command shaped like
// build-docker (its flags, a daemonless RunE) and builds through a fake
// engine at DOCKER_HOST.
func TestDockerBuilder(t *testing.T) {
	rec := &engineRecorder{}
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rec)
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	env := fakeORT(t)
	env["DOCKER_HOST"] = "unix://" + sock
	var stdout, stderr bytes.Buffer
	d := &deps{stdout: &stdout, stderr: &stderr, env: func(k string) string { return env[k] }, logLevel: new(string), logFormat: new(string)}
	daemonless := false
	newCmd := func() *cobra.Command {
		c := &cobra.Command{Use: "build-docker", RunE: func(*cobra.Command, []string) error { daemonless = true; return nil }}
		fs := c.Flags()
		fs.StringP("model-uri", "m", "", "")
		fs.StringP("name", "n", "mlflow-pyfunc-servable", "")
		fs.String("base-image", "host", "")
		fs.String("mlship-binary", "", "")
		fs.String("flavor", "", "")
		fs.String("platform", "linux/amd64", "")
		fs.String("env-manager", "", "")
		fs.Bool("push", false, "")
		return withDockerBuilder(c, d)
	}
	run := func(args ...string) error {
		c := newCmd()
		c.SetArgs(args)
		c.SetOut(io.Discard)
		c.SetErr(io.Discard)
		return c.ExecuteContext(context.Background())
	}

	if err := run("-m", example(t, "iris-onnx"), "-n", "iris:1", "--builder", "docker", "--mlship-binary", testBinary(t)); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if daemonless {
		t.Error("--builder docker ran the daemonless builder")
	}
	if !strings.Contains(rec.query, "t=iris%3A1") || !strings.Contains(rec.query, "platform=linux%2Famd64") {
		t.Errorf("build query %q", rec.query)
	}
	if !strings.Contains(rec.dockerfile, "FROM debian:12-slim") {
		t.Errorf("the daemonless builder's default base leaked into the Dockerfile:\n%s", rec.dockerfile)
	}
	if !strings.Contains(stdout.String(), "image    iris:1 (sha256:abc)") {
		t.Errorf("output %q", stdout.String())
	}

	if err := run("-m", example(t, "iris-onnx"), "--mlship-binary", testBinary(t)); err != nil || !daemonless {
		t.Errorf("default builder: %v, daemonless ran: %v", err, daemonless)
	}
	if err := run("-m", example(t, "iris-onnx"), "--builder", "docker", "--push"); err == nil || !strings.Contains(err.Error(), "--push is for the daemonless builder") {
		t.Errorf("--push with --builder docker: %v", err)
	}
	if err := run("-m", example(t, "iris-onnx"), "--builder", "kaniko"); err == nil || !strings.Contains(err.Error(), "--builder must be") {
		t.Errorf("unknown builder: %v", err)
	}
	env["DOCKER_HOST"] = "unix://" + filepath.Join(t.TempDir(), "none.sock")
	if err := run("-m", example(t, "iris-onnx"), "--builder", "docker", "--mlship-binary", testBinary(t)); err == nil || !strings.Contains(err.Error(), "no Docker Engine answers") {
		t.Errorf("no engine: %v", err)
	}
}

func TestK8sManifestsCommand(t *testing.T) {
	out, stderr, err := runWithEnv(t, nil, "k8s", "manifests", "-m", example(t, "sklearn-iris"), "--image", "registry.example/iris:1", "--cpu", "2")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if n := strings.Count(out, "---\n"); n != 3 {
		t.Errorf("%d documents, want 3:\n%s", n, out)
	}
	for _, want := range []string{"kind: Deployment", "kind: Service", "kind: InferenceService", "- --workers\n            - \"2\"", "image: registry.example/iris:1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(stderr, "--name") {
		t.Errorf("no note about the generic name: %q", stderr)
	}

	dir := filepath.Join(t.TempDir(), "deploy")
	out, _, err = runWithEnv(t, nil, "k8s", "manifests", "-m", example(t, "iris-onnx"), "--image", "x", "--name", "iris", "-o", dir, "--kinds", "deployment,inferenceservice")
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 || entries[0].Name() != "deployment.yaml" || entries[1].Name() != "inferenceservice.yaml" {
		t.Errorf("files %v, output %q", entries, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--kinds", "job"}, "unknown manifest"},
		{[]string{"--cpu", "lots"}, "not a Kubernetes quantity"},
		{[]string{"--flavor", "python_function"}, ""}, // iris-onnx has python_function too
	} {
		args := append([]string{"k8s", "manifests", "-m", example(t, "iris-onnx"), "--image", "x"}, tc.args...)
		out, _, err := runWithEnv(t, nil, args...)
		if tc.want == "" {
			if err != nil || !strings.Contains(out, "- --flavor\n            - python_function") {
				t.Errorf("%v: %v\n%s", tc.args, err, out)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
