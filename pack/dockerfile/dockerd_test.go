package dockerfile

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/ortlib"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

// TestDockerdBuildAndRun builds the ONNX example's generated context with a
// real Docker Engine, runs the image and scores the example through it.
//
// The engine is a dockerd this test starts with exactly the flags
// ENVIRONMENT.md allows (overlay2, no bridge, no iptables, no forwarding or
// masquerading, private data and exec roots and socket); the container runs
// with --network host on 127.0.0.1. Nothing can be pulled offline, so the
// base image is imported from the host: the C and C++ runtime libraries
// mlship and ONNX Runtime link against, and nothing else.
func TestDockerdBuildAndRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Docker Engine")
	}
	if os.Geteuid() != 0 {
		testenv.Missing(t, "dockerd needs root")
	}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		testenv.Missing(t, "dockerd is not installed (apt-get install --no-install-recommends docker.io; see ENVIRONMENT.md)")
	}
	testenv.ONNXRuntime(t)
	ort, err := ortlib.Find(ortlib.SearchFor(os.Getenv, testenv.CacheDir()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	binary := buildMlship(t)
	host := startDockerd(t, dockerd)
	e, err := newEngine(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := "mlship-test-base:host"
	importHostBase(t, e, base, binary, ort)

	src := testenv.CopyDir(t, filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model"))
	m, err := mlmodel.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := filepath.Join(t.TempDir(), "ctx")
	if _, err := Generate(m, ctxDir, Options{Binary: binary, ONNXRuntime: ort, BaseImage: base}); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	start := time.Now()
	id, err := Build(ctx, ctxDir, "mlship-test-iris:1", BuildOptions{Host: host, NetworkMode: "none", Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Logf("built %s in %v", id, time.Since(start).Round(time.Millisecond))

	var img struct {
		Config struct {
			User         string
			Env          []string
			Entrypoint   []string
			Cmd          []string
			ExposedPorts map[string]struct{}
			Labels       map[string]string
		}
		RootFS struct{ Layers []string }
	}
	call(t, e, "GET", "/images/mlship-test-iris:1/json", nil, &img)
	c := img.Config
	if c.User != "65532:65532" || strings.Join(c.Entrypoint, " ") != BinaryPath ||
		strings.Join(c.Cmd, " ") != "serve /opt/ml/model --host 0.0.0.0 --port 8080" {
		t.Errorf("image config: user %q entrypoint %q cmd %q", c.User, c.Entrypoint, c.Cmd)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v, want 8080/tcp", c.ExposedPorts)
	}
	if c.Labels[LabelModelUUID] != m.ModelUUID || c.Labels[LabelFlavor] != "onnx" {
		t.Errorf("labels %v", c.Labels)
	}
	if !contains(c.Env, "MLSHIP_ONNXRUNTIME_LIB=/opt/mlship/lib/libonnxruntime.so.1") || !contains(c.Env, "MLSHIP_HOST=0.0.0.0") || !contains(c.Env, "MLSHIP_PORT=8080") {
		t.Errorf("env %v", c.Env)
	}

	runAndScore(t, e, "mlship-test-iris:1")

	// The same context again: every step from the cache, the same image.
	again, err := Build(ctx, ctxDir, "mlship-test-iris:1", BuildOptions{Host: host, NetworkMode: "none"})
	if err != nil || again != id {
		t.Errorf("rebuild: %s, %v; want the same image %s", again, err, id)
	}

	// A model-only change: the base, library and binary layers are reused
	// and only the model layer differs.
	if err := os.WriteFile(filepath.Join(src, "input_example.json"), []byte(`{"inputs": [[1, 2, 3, 4]]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(m, ctxDir, Options{Binary: binary, ONNXRuntime: ort, BaseImage: base}); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(ctx, ctxDir, "mlship-test-iris:2", BuildOptions{Host: host, NetworkMode: "none"}); err != nil {
		t.Fatal(err)
	}
	var img2 struct{ RootFS struct{ Layers []string } }
	call(t, e, "GET", "/images/mlship-test-iris:2/json", nil, &img2)
	l1, l2 := img.RootFS.Layers, img2.RootFS.Layers
	if len(l1) != len(l2) || len(l1) < 4 {
		t.Fatalf("layers %v and %v", l1, l2)
	}
	n := len(l1)
	if strings.Join(l1[:n-1], ",") != strings.Join(l2[:n-1], ",") || l1[n-1] == l2[n-1] {
		t.Errorf("after a model-only change want only the last layer to differ:\n%v\n%v", l1, l2)
	}
}

// runAndScore runs the image on the host network, bound to 127.0.0.1 on a
// free port, checks its health routes and a prediction, and stops it with
// SIGTERM, which the server answers by draining and exiting 0.
func runAndScore(t *testing.T, e *engine, image string) {
	t.Helper()
	port := freePort(t)
	create := map[string]any{
		"Image": image,
		// As SageMaker runs it (`serve`, the model found at /opt/ml/model),
		// but bound to 127.0.0.1 on a free port instead of MLSHIP_HOST's
		// 0.0.0.0: the container shares the host's network.
		"Cmd":        []string{"serve", "--host", "127.0.0.1", "--port", port, "--drain-grace", "100ms"},
		"HostConfig": map[string]any{"NetworkMode": "host"},
	}
	var created struct{ Id string }
	call(t, e, "POST", "/containers/create", create, &created)
	t.Cleanup(func() { callStatus(e, "DELETE", "/containers/"+created.Id+"?force=1") })
	call(t, e, "POST", "/containers/"+created.Id+"/start", nil, nil)

	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/v2/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container did not become ready: %v\n%s", err, containerLogs(e, created.Id))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range []string{"/ping", "/v2/health/live"} {
		resp, err := http.Get(base + p)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v", p, err, resp)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	body := `{"inputs": {"input": [[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5]]}}`
	resp, err := http.Post(base+"/invocations", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Predictions struct {
			Label         []int64
			Probabilities [][]float64
		}
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/invocations: %s %s (%v)", resp.Status, raw, err)
	}
	if fmt.Sprint(out.Predictions.Label) != "[0 1 2]" || len(out.Predictions.Probabilities) != 3 ||
		math.Abs(out.Predictions.Probabilities[0][0]-0.981583297252655) > 1e-6 {
		t.Errorf("/invocations answered %s", raw)
	}

	// docker stop: SIGTERM, then the server drains and exits 0.
	call(t, e, "POST", "/containers/"+created.Id+"/stop?t=20", nil, nil)
	var state struct{ State struct{ ExitCode int } }
	call(t, e, "GET", "/containers/"+created.Id+"/json", nil, &state)
	if state.State.ExitCode != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\n%s", state.State.ExitCode, containerLogs(e, created.Id))
	}
}

// buildMlship builds the mlship binary the image will run.
func buildMlship(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mlship")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/mlship")
	cmd.Dir = testenv.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building mlship: %v\n%s", err, out)
	}
	return bin
}

// startDockerd starts a private Docker Engine with ENVIRONMENT.md's flags
// and returns its DOCKER_HOST; the engine is stopped (by its PID) and its
// network namespace mount released when the test ends.
func startDockerd(t *testing.T, dockerd string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mlship-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	execRoot := filepath.Join(dir, "exec")
	var log bytes.Buffer
	cmd := exec.Command(dockerd,
		"--storage-driver=overlay2", "--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false",
		"--data-root="+filepath.Join(dir, "data"), "--exec-root="+execRoot, "--pidfile="+filepath.Join(dir, "docker.pid"),
		"-H", "unix://"+sock)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		syscall.Unmount(filepath.Join(execRoot, "netns", "default"), syscall.MNT_DETACH)
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("removing %s: %v", dir, err)
		}
	})
	host := "unix://" + sock
	e, err := newEngine(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			testenv.Missing(t, "dockerd cannot run here: "+lastLines(log.String(), 5))
		default:
		}
		if err := e.ping(context.Background()); err == nil {
			return host
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerd did not answer within a minute:\n%s", lastLines(log.String(), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var lddPath = regexp.MustCompile(`(?:=> )?(/\S+) \(0x[0-9a-f]+\)`)

// importHostBase imports, as image ref, a root filesystem holding the
// shared libraries the given ELF files load (as ldd resolves them here).
func importHostBase(t *testing.T, e *engine, ref string, elfs ...string) {
	t.Helper()
	libs := map[string]bool{}
	for _, f := range elfs {
		out, err := exec.Command("ldd", f).CombinedOutput()
		if err != nil {
			t.Fatalf("ldd %s: %v\n%s", f, err, out)
		}
		for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
			libs[m[1]] = true
		}
	}
	paths := make([]string, 0, len(libs))
	for p := range libs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	addDir := func(d string, mode int64) {
		if !dirs[d] {
			dirs[d] = true
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: Epoch})
		}
	}
	addDir("tmp", 0o1777)
	for _, p := range paths {
		data, err := os.ReadFile(p) // follows the symlinks ld.so would
		if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(p, "/")
		parts := strings.Split(rel, "/")
		for i := 1; i < len(parts); i++ {
			addDir(strings.Join(parts[:i], "/"), 0o755)
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: 0o755, Size: int64(len(data)), ModTime: Epoch})
		tw.Write(data)
	}
	tw.Close()
	repo, tag, _ := strings.Cut(ref, ":")
	q := url.Values{"fromSrc": {"-"}, "repo": {repo}, "tag": {tag}}
	req, _ := http.NewRequest("POST", e.base+"/images/create?"+q.Encode(), &buf)
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) {
		t.Fatalf("importing the base image: %s %s", resp.Status, body)
	}
}

// call makes one Engine API request and decodes its JSON answer into out.
func call(t *testing.T, e *engine, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.base+path, body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

func callStatus(e *engine, method, path string) {
	req, _ := http.NewRequest(method, e.base+path, nil)
	if resp, err := e.http.Do(req); err == nil {
		resp.Body.Close()
	}
}

// containerLogs returns the container's output (the multiplexed stream,
// headers and all: enough to read in a failure message).
func containerLogs(e *engine, id string) string {
	req, _ := http.NewRequest("GET", e.base+"/containers/"+id+"/logs?stdout=1&stderr=1", nil)
	resp, err := e.http.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
