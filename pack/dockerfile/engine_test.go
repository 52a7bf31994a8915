package dockerfile

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

// recordedBuild is what a fake engine saw of one /build request.
type recordedBuild struct {
	method, path, contentType string
	query                     map[string]string
	entries                   []string // "mode name size" per tar entry
	dockerfile                string
}

// fakeEngine answers /_ping and /build as the Docker Engine API documents
// them, recording the build request; reply is the JSON stream it sends.
type fakeEngine struct {
	mu     sync.Mutex
	builds []recordedBuild
	reply  string
}

func (f *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/_ping":
		w.Header().Set("Api-Version", "1.41")
		io.WriteString(w, "OK")
	case r.Method == http.MethodPost && r.URL.Path == "/build":
		rec := recordedBuild{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), query: map[string]string{}}
		for k, v := range r.URL.Query() {
			rec.query[k] = strings.Join(v, ",")
		}
		tr := tar.NewReader(r.Body)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, `{"message":"bad tar: `+err.Error()+`"}`, http.StatusBadRequest)
				return
			}
			data, _ := io.ReadAll(tr)
			rec.entries = append(rec.entries, fmt.Sprintf("%04o %s %d", h.Mode, h.Name, len(data)))
			if h.Name == "Dockerfile" {
				rec.dockerfile = string(data)
			}
		}
		f.mu.Lock()
		f.builds = append(f.builds, rec)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, f.reply)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"page not found"}`)
	}
}

// unixEngine serves f on a Unix socket, as dockerd does by default.
func unixEngine(t *testing.T, f *fakeEngine) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(f)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return "unix://" + sock
}

const okReply = `{"stream":"Step 1/11 : FROM debian:12-slim\n"}
{"stream":" ---\u003e 1234567890ab\n"}
{"aux":{"ID":"sha256:4b1f6f5e0c1d2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3"}}
{"stream":"Successfully built 4b1f6f5e0c1d\n"}
{"stream":"Successfully tagged iris:1\n"}
`

func generated(t *testing.T) string {
	t.Helper()
	m, err := mlmodel.Load(filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model"))
	if err != nil {
		t.Fatal(err)
	}
	binary, ort := fakeFiles(t)
	dir := filepath.Join(t.TempDir(), "ctx")
	if _, err := Generate(m, dir, Options{Binary: binary, ONNXRuntime: ort}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBuildRequest(t *testing.T) {
	dir := generated(t)
	f := &fakeEngine{reply: okReply}
	var progress bytes.Buffer
	id, err := Build(context.Background(), dir, "iris:1", BuildOptions{
		Host: unixEngine(t, f), NetworkMode: "none", Platform: "linux/amd64", Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "sha256:4b1f6f5e0c1d2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3"; id != want {
		t.Errorf("image ID %q, want %q", id, want)
	}
	if !strings.Contains(progress.String(), "Step 1/11 : FROM debian:12-slim") {
		t.Errorf("progress does not relay the build output:\n%s", progress.String())
	}
	if len(f.builds) != 1 {
		t.Fatalf("%d build requests, want 1", len(f.builds))
	}
	got := f.builds[0]
	want := recordedBuild{
		method: "POST", path: "/build", contentType: "application/x-tar",
		query: map[string]string{"t": "iris:1", "dockerfile": "Dockerfile", "rm": "1", "forcerm": "1",
			"networkmode": "none", "platform": "linux/amd64"},
		entries: []string{
			"", // the Dockerfile, below
			"0755 lib/ 0",
			"0644 lib/libonnxruntime.so.1 24",
			"0755 mlship 18",
			"0755 model_dir/ 0",
			"0755 model_dir/model/ 0",
			"0644 model_dir/model/MLmodel 930",
			"0644 model_dir/model/conda.yaml 152",
			"0644 model_dir/model/input_example.json 77",
			"0644 model_dir/model/model.onnx 418",
			"0644 model_dir/model/python_env.yaml 122",
			"0644 model_dir/model/requirements.txt 47",
			"0644 model_dir/model/serving_input_example.json 245",
		},
	}
	df, _ := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	want.dockerfile = string(df)
	want.entries[0] = fmt.Sprintf("0644 Dockerfile %d", len(df))
	if d := cmp.Diff(want, got, cmp.AllowUnexported(recordedBuild{})); d != "" {
		t.Errorf("build request (-want +got):\n%s", d)
	}

	// Over TCP, with the defaults: no optional parameters.
	tcp := httptest.NewServer(f)
	defer tcp.Close()
	if _, err := Build(context.Background(), dir, "", BuildOptions{Host: "tcp://" + tcp.Listener.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	q := f.builds[1].query
	if d := cmp.Diff(map[string]string{"dockerfile": "Dockerfile", "rm": "1", "forcerm": "1"}, q); d != "" {
		t.Errorf("default query (-want +got):\n%s", d)
	}
}

func TestBuildErrors(t *testing.T) {
	dir := generated(t)
	ctx := context.Background()

	var unavailable *EngineUnavailableError
	_, err := Build(ctx, dir, "x", BuildOptions{Host: "unix://" + filepath.Join(t.TempDir(), "none.sock")})
	if !errors.As(err, &unavailable) || !strings.Contains(err.Error(), "DOCKER_HOST") {
		t.Errorf("no engine: %v, want an EngineUnavailableError naming DOCKER_HOST", err)
	}

	failing := &fakeEngine{reply: `{"stream":"Step 1/2 : FROM nope\n"}
{"errorDetail":{"message":"pull access denied for nope"},"error":"pull access denied for nope"}
`}
	var be *BuildError
	_, err = Build(ctx, dir, "x", BuildOptions{Host: unixEngine(t, failing)})
	if !errors.As(err, &be) || be.Message != "pull access denied for nope" {
		t.Errorf("failed build: %v, want a BuildError with the engine's message", err)
	}

	legacy := &fakeEngine{reply: `{"stream":"Successfully built 0123456789ab\n"}` + "\n"}
	if id, err := Build(ctx, dir, "x", BuildOptions{Host: unixEngine(t, legacy)}); err != nil || id != "0123456789ab" {
		t.Errorf("engine without aux: %q, %v; want the ID from 'Successfully built'", id, err)
	}

	silent := &fakeEngine{reply: `{"stream":"done\n"}` + "\n"}
	if _, err := Build(ctx, dir, "x", BuildOptions{Host: unixEngine(t, silent)}); err == nil || !strings.Contains(err.Error(), "no image ID") {
		t.Errorf("engine without an ID: %v", err)
	}

	for _, host := range []string{"ssh://me@host", "unix://", "tcp://"} {
		if _, err := Build(ctx, dir, "x", BuildOptions{Host: host}); err == nil || !strings.Contains(err.Error(), "docker host") {
			t.Errorf("host %q: %v, want a docker host error", host, err)
		}
	}

	_, err = Build(ctx, filepath.Join(t.TempDir(), "missing"), "x", BuildOptions{Host: unixEngine(t, &fakeEngine{reply: okReply})})
	if err == nil || !strings.Contains(err.Error(), "sending the context") {
		t.Errorf("missing context: %v", err)
	}
}
