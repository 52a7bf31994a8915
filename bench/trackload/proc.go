package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildMlship builds cmd/mlship into dir and returns the binary's path. It
// must run inside the module (the repository or a subdirectory).
func buildMlship(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "mlship")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/mlship/mlship/cmd/mlship")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building mlship: %w\n%s", err, out)
	}
	return bin, nil
}

// freePort asks the kernel for a free port on 127.0.0.1. Another process
// could take it before the server binds; startServer reports that as a
// start failure.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// serverProc is one `mlship server` process.
type serverProc struct {
	cmd  *exec.Cmd
	url  string
	log  string // its stderr+stdout file
	done chan struct{}
	err  error // Wait's result, after done
	// inproc stops a server run in this process (startInProcess); cmd is
	// nil then.
	inproc context.CancelFunc
}

// startServer starts `mlship server` on an SQLite file at port and waits
// for /health. The process's output goes to logPath.
func startServer(ctx context.Context, bin, db string, port int, logPath string) (*serverProc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	abs, err := filepath.Abs(db)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "server",
		"--backend-store-uri", "sqlite:///"+abs,
		"--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--artifacts-destination", filepath.Join(filepath.Dir(abs), "mlartifacts"),
		"--no-ui")
	cmd.Dir = filepath.Dir(abs)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI=") // nothing of the caller's
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting mlship server: %w", err)
	}
	p := &serverProc{cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(port), log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	if err := p.waitHealthy(ctx, 60*time.Second); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

func (p *serverProc) pid() int {
	if p.cmd == nil {
		return os.Getpid()
	}
	return p.cmd.Process.Pid
}

// waitHealthy polls /health until it answers 200, the process exits or
// the timeout passes.
func (p *serverProc) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/health", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			out, _ := os.ReadFile(p.log)
			return fmt.Errorf("mlship server exited before it was healthy (%v):\n%s", p.err, tail(out, 2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mlship server not healthy at %s after %v", p.url, timeout)
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *serverProc) kill() {
	if p.cmd == nil {
		p.inproc()
	} else {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// stop asks for a graceful stop (SIGTERM) and kills after the grace time.
func (p *serverProc) stop() error {
	if p.cmd == nil {
		p.inproc()
		<-p.done
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.kill()
		return errors.New("mlship server did not stop within 30 s of SIGTERM; killed")
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return p.err
	}
	return nil
}

// cpu returns the process's user+system CPU time from /proc.
// In process, it is the whole process's (clients included).
func (p *serverProc) cpu() time.Duration {
	if p.cmd == nil {
		return selfCPU()
	}
	return procCPU(p.pid())
}

func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return parseStatCPU(data)
}

// parseStatCPU reads utime+stime from a /proc/PID/stat line. The command
// name is in parentheses and may hold spaces and parentheses, so fields
// are counted after its last ')': state is field 3, utime 14, stime 15.
// A malformed line gives 0.
func parseStatCPU(data []byte) time.Duration {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseUint(fields[11], 10, 63)
	st, err2 := strconv.ParseUint(fields[12], 10, 63)
	if err1 != nil || err2 != nil || ut > 1<<40 || st > 1<<40 {
		return 0
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * (time.Second / hz)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
