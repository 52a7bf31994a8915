package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MotoServer is moto's AWS emulator (`python3 -m moto.server`) running as
// a child process on a loopback port of its own choosing. One server is
// meant to serve a whole test binary: start it once (see MotoOnce) and
// Reset it before each test.
type MotoServer struct {
	// URL is the server's endpoint, http://127.0.0.1:PORT.
	URL string

	cmd    *exec.Cmd
	done   chan struct{}
	stderr *tailBuffer
}

// MotoPython finds an interpreter that can import moto.server:
// MLSHIP_MOTO_PYTHON, else python3 on PATH, else pyenv's interpreters. The
// error says what was tried.
func MotoPython() (string, error) {
	var candidates []string
	if p := os.Getenv("MLSHIP_MOTO_PYTHON"); p != "" {
		candidates = append(candidates, p)
	} else {
		if p, err := exec.LookPath("python3"); err == nil {
			candidates = append(candidates, p)
		}
		// pyenv's interpreters themselves, should PATH or HOME (which its
		// shims need) be missing.
		root := os.Getenv("PYENV_ROOT")
		if root == "" {
			if u, err := user.Current(); err == nil {
				root = filepath.Join(u.HomeDir, ".pyenv")
			}
		}
		if root != "" {
			found, _ := filepath.Glob(filepath.Join(root, "versions", "*", "bin", "python3"))
			candidates = append(candidates, found...)
		}
	}
	var tried []string
	for _, py := range candidates {
		cmd := exec.Command(py, "-c", "import moto.server")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return py, nil
		}
		tried = append(tried, fmt.Sprintf("%s: %s", py, lastLine(out, err)))
	}
	if len(tried) == 0 {
		return "", errors.New("no python3 found")
	}
	return "", errors.New(strings.Join(tried, "; "))
}

func lastLine(out []byte, err error) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if l := lines[len(lines)-1]; l != "" {
		return l
	}
	return err.Error()
}

var motoListening = regexp.MustCompile(`Running on (http://127\.0\.0\.1:\d+)`)

// StartMoto starts moto's server with python on 127.0.0.1, letting it pick
// a free port (-p 0) and reading the address it prints, and waits until it
// answers.
func StartMoto(ctx context.Context, python string) (*MotoServer, error) {
	cmd := exec.Command(python, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0")
	// Its own process group, so Close stops the server and anything it
	// forked; killed with the test binary should that die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Werkzeug prints its address on stderr; unbuffered so it comes at once.
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	pr, pw := io.Pipe()
	tail := &tailBuffer{max: 8 << 10}
	cmd.Stdout = io.Discard
	cmd.Stderr = io.MultiWriter(pw, tail)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting moto: %w", err)
	}
	m := &MotoServer{cmd: cmd, done: make(chan struct{}), stderr: tail}
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(m.done)
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if mm := motoListening.FindStringSubmatch(sc.Text()); mm != nil {
				found <- mm[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr) // keep draining until the process ends
	}()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	select {
	case m.URL = <-found:
	case <-m.done:
		return nil, fmt.Errorf("moto exited before listening: %s", tail.String())
	case <-ctx.Done():
		m.Close()
		return nil, fmt.Errorf("moto did not start: %w: %s", ctx.Err(), tail.String())
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/moto-api/data.json", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return m, nil
		}
		select {
		case <-m.done:
			return nil, fmt.Errorf("moto exited: %s", tail.String())
		case <-ctx.Done():
			m.Close()
			return nil, fmt.Errorf("moto does not answer at %s: %w", m.URL, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Reset forgets every resource (POST /moto-api/reset).
func (m *MotoServer) Reset(t testing.TB) {
	t.Helper()
	resp, err := http.Post(m.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatalf("resetting moto: %v (moto's stderr: %s)", err, m.stderr.String())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("resetting moto: %s", resp.Status)
	}
}

// Close stops the server's process group: SIGTERM, then SIGKILL after 5 s.
func (m *MotoServer) Close() {
	pid := m.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-m.done
	}
}

// Moto starts a moto server for one test and stops it when the test ends;
// it skips the test (fails it under CI) when no Python has moto. Tests of
// a package that uses moto throughout share one server with MotoOnce.
func Moto(t testing.TB) *MotoServer {
	t.Helper()
	py, err := MotoPython()
	if err != nil {
		Missing(t, motoMissing(err))
	}
	m, err := StartMoto(t.Context(), py)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func motoMissing(err error) string {
	return "moto (the AWS emulator) is not importable: " + err.Error() +
		" — it ships with the machine image's pyenv Python; set MLSHIP_MOTO_PYTHON to an interpreter that has it"
}

// MotoOnce starts one moto server for a test binary on first use. Call
// Server from each test and Close from TestMain after m.Run.
type MotoOnce struct {
	once sync.Once
	srv  *MotoServer
	// missing is why moto cannot run here; err is a start that failed.
	missing string
	err     error
}

// Server returns the shared server, reset for this test. When no Python
// has moto it skips the test (fails it under CI).
func (o *MotoOnce) Server(t testing.TB) *MotoServer {
	t.Helper()
	o.once.Do(func() {
		py, err := MotoPython()
		if err != nil {
			o.missing = motoMissing(err)
			return
		}
		o.srv, o.err = StartMoto(context.Background(), py)
	})
	if o.missing != "" {
		Missing(t, o.missing)
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	o.srv.Reset(t)
	return o.srv
}

// Close stops the server if one was started.
func (o *MotoOnce) Close() {
	if o.srv != nil {
		o.srv.Close()
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
