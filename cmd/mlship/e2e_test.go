package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/testenv"
)

// buildBinary compiles the real mlship binary once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mlship")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(testenv.RepoRoot(t), "cmd", "mlship")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// server is a running `mlship serve` child process.
type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
	exited chan error
}

var listening = regexp.MustCompile(`msg=serving addr=(\S+)`)

// startServer runs the binary with args (which must make it listen on port
// 0) and waits until it logs its address.
func startServer(t *testing.T, bin string, args ...string) *server {
	t.Helper()
	getenv, cache := testenv.ONNXRuntime(t)
	_ = getenv
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "MLSHIP_CACHE_DIR="+cache)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.stderr.WriteString(line + "\n")
			if m := listening.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() { s.exited <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.exited
		}
	})
	select {
	case a := <-addr:
		s.url = "http://" + a
	case err := <-s.exited:
		t.Fatalf("mlship exited before listening: %v\n%s", err, s.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("mlship did not start listening\n%s", s.stderr)
	}
	return s
}

// waitReady polls /ping: the server listens before it has warmed the model
// up, and answers 503 until then.
func waitReady(t *testing.T, s *server) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			if resp.StatusCode != 503 {
				t.Fatalf("ping: %d", resp.StatusCode)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v\n%s", err, s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	model := filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")
	for _, args := range [][]string{
		{"serve", model, "--host", "127.0.0.1", "--port", "0"},
		{"models", "serve", "-m", "file://" + model, "-h", "127.0.0.1", "-p", "0"},
	} {
		t.Run(args[0]+"/"+args[1], func(t *testing.T) {
			s := startServer(t, bin, args...)
			waitReady(t, s)
			resp, err := http.Post(s.url+"/invocations", "application/json",
				strings.NewReader(`{"inputs": [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"label": [0, 2]`) {
				t.Fatalf("invocations: %d %s", resp.StatusCode, body)
			}
			// SIGTERM drains and exits 0.
			if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-s.exited:
				if err != nil {
					t.Fatalf("exit after SIGTERM: %v\n%s", err, s.stderr)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no exit after SIGTERM\n%s", s.stderr)
			}
			if !strings.Contains(s.stderr.String(), "msg=stopped") {
				t.Errorf("no drain log:\n%s", s.stderr)
			}
		})
	}
}

func run(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

func TestCLIErrorsAndInspect(t *testing.T) {
	bin := buildBinary(t)
	shared := filepath.Join(testenv.SharedTestdata(t), "mlflow")
	model := filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")

	code, _, stderr := run(t, bin, nil, "serve", filepath.Join(t.TempDir(), "nope"), "--port", "0")
	if code != 1 || !strings.Contains(stderr, `Could not find an "MLmodel" configuration file at`) {
		t.Errorf("missing model: %d %s", code, stderr)
	}
	code, _, stderr = run(t, bin, nil, "serve", filepath.Join(shared, "mleap_regression_model"), "--port", "0")
	if code != 1 || !strings.Contains(stderr, "no servable flavor: the model has flavors [mleap]; mlship serves [onnx") {
		t.Errorf("unservable model: %d %s", code, stderr)
	}
	code, _, stderr = run(t, bin, nil, "serve", model, "--flavor", "mleap", "--port", "0")
	if code != 1 || !strings.Contains(stderr, `flavor "mleap" is not supported by this build`) {
		t.Errorf("forced unsupported flavor: %d %s", code, stderr)
	}
	// A flavor this build serves, forced on a model that does not have it.
	code, _, stderr = run(t, bin, nil, "serve", model, "--flavor", "tensorflow", "--port", "0")
	if code != 1 || !strings.Contains(stderr, `the model has no "tensorflow" flavor (it has: onnx, python_function`) {
		t.Errorf("forced absent flavor: %d %s", code, stderr)
	}
	// Forcing python_function on the ONNX example: its loader module is
	// mlflow.onnx, which needs mlflow; the error says what to install.
	if _, err := exec.LookPath("/usr/bin/python3"); err == nil {
		code, _, stderr = run(t, bin, nil, "serve", model, "--flavor", "python_function", "--port", "0", "--workers", "1")
		if code != 1 || !strings.Contains(stderr, "loader module 'mlflow.onnx' cannot be imported") || !strings.Contains(stderr, "install mlflow and onnxruntime") {
			t.Errorf("python_function without mlflow.onnx: %d %s", code, stderr)
		}
	}
	// Without the library the error says how to get it.
	empty := t.TempDir()
	code, _, stderr = run(t, bin, []string{"MLSHIP_CACHE_DIR=" + empty, "MLSHIP_ONNXRUNTIME_LIB=", "LD_LIBRARY_PATH=", "HOME=" + empty},
		"serve", model, "--port", "0")
	if code != 1 || !strings.Contains(stderr, "ONNX Runtime shared library (libonnxruntime.so) not found") || !strings.Contains(stderr, "MLSHIP_ONNXRUNTIME_LIB") {
		t.Errorf("no library: %d %s", code, stderr)
	}
	code, stdout, stderr := run(t, bin, nil, "inspect", model, "--json")
	if code != 0 {
		t.Fatalf("inspect: %d %s", code, stderr)
	}
	var r struct {
		Flavors   []struct{ Name string } `json:"flavors"`
		Serving   struct{ Flavor, Reason string }
		Signature struct {
			Inputs []map[string]any `json:"inputs"`
		}
		InputExample struct {
			Request json.RawMessage `json:"request"`
		} `json:"input_example"`
		Size struct{ Files int } `json:"size"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, stdout)
	}
	if len(r.Flavors) != 2 || r.Serving.Flavor != "onnx" || r.Serving.Reason == "" || len(r.Signature.Inputs) != 1 ||
		!strings.Contains(string(r.InputExample.Request), `"inputs"`) || r.Size.Files < 3 {
		t.Errorf("inspect report: %+v", r)
	}
	code, stdout, _ = run(t, bin, nil, "inspect", filepath.Join(shared, "langchain_2.12_model_metadata_only"))
	if code != 0 || !strings.Contains(stdout, "messages: Array(Object(content: string, role: string))") || !strings.Contains(stdout, "Serving:   python_function") {
		t.Errorf("inspect langchain: %d %s", code, stdout)
	}
	code, stdout, _ = run(t, bin, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "mlship ") {
		t.Errorf("version: %d %q", code, stdout)
	}
	code, _, stderr = run(t, bin, nil, "serve", model, "--max-body-size", "lots")
	if code != 1 || !strings.Contains(stderr, "--max-body-size") {
		t.Errorf("bad size flag: %d %s", code, stderr)
	}
}

// SIGHUP stops mlship like SIGTERM (a closed terminal must not leave a
// server half-dead or a project run RUNNING), except under nohup, where it
// was ignored on purpose and must stay ignored.
func TestSIGHUP(t *testing.T) {
	if signal.Ignored(syscall.SIGHUP) {
		// The test itself runs under nohup (a CI runner may start it so),
		// and an ignored signal stays ignored across exec. A caught one is
		// reset to the default there: catch it for the first server.
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGHUP)
		defer signal.Stop(ch)
	}
	bin := buildBinary(t)
	model := filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")
	args := []string{"serve", model, "--host", "127.0.0.1", "--port", "0", "--drain-grace", "0s"}

	s := startServer(t, bin, args...)
	waitReady(t, s)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("exit after SIGHUP: %v\n%s", err, s.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit after SIGHUP\n%s", s.stderr)
	}
	if !strings.Contains(s.stderr.String(), "msg=stopped") {
		t.Errorf("SIGHUP did not drain:\n%s", s.stderr)
	}

	nohup, err := exec.LookPath("nohup")
	if err != nil {
		testenv.Missing(t, "nohup (coreutils) not found")
	}
	s = startServer(t, nohup, append([]string{bin}, args...)...)
	waitReady(t, s)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		t.Fatalf("exited on SIGHUP under nohup: %v\n%s", err, s.stderr)
	case <-time.After(time.Second):
	}
	resp, err := http.Get(s.url + "/ping")
	if err != nil {
		t.Fatalf("not serving after SIGHUP under nohup: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ping after SIGHUP under nohup: %d", resp.StatusCode)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit after SIGTERM\n%s", s.stderr)
	}
}
