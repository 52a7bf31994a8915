package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// response is what mlship answered, copied by the bare handler.
type response struct {
	contentType string
	body        []byte
}

// fetch sends one request and returns the 200 answer.
func fetch(ctx context.Context, url string, body []byte, ctype string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return response{}, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return response{contentType: resp.Header.Get("Content-Type"), body: b}, nil
}

// httpTarget POSTs body to url over keep-alive connections (one per
// worker), checking each answer is a 200 of wantLen bytes.
func httpTarget(name, url string, body []byte, ctype string, wantLen int, o options) *target {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{}).DialContext,
		MaxIdleConns:        o.concurrency,
		MaxIdleConnsPerHost: o.concurrency,
		MaxConnsPerHost:     o.concurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: tr}
	call := func(buf []byte) error {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		n, err := io.ReadFull(resp.Body, buf)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil
		} else if err == nil {
			err = fmt.Errorf("answer longer than %d bytes", wantLen)
		}
		// Drain and close so the connection goes back to the pool.
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || n != wantLen {
			return fmt.Errorf("status %d with %d bytes, want 200 with %d: %s", resp.StatusCode, n, wantLen, buf[:n])
		}
		return nil
	}
	return &target{
		name: name,
		newWorker: func() (func() error, func()) {
			buf := make([]byte, wantLen+1)
			return func() error { return call(buf) }, tr.CloseIdleConnections
		},
	}
}

// child is a server subprocess, stopped by PID.
type child struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	err  error // set when done is closed
	logs *logTail
}

func startChild(cmd *exec.Cmd, logs *logTail) (*child, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{}), logs: logs}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	return c, nil
}

// sched is what the child's threads have used so far.
func (c *child) sched() (procSched, error) { return processSched(c.cmd.Process.Pid) }

// stop sends SIGTERM to the child's PID and waits for it; SIGKILL after 10 s.
func (c *child) stop() error {
	select {
	case <-c.done:
		return fmt.Errorf("pid %d exited early: %v\n%s", c.cmd.Process.Pid, c.err, c.logs)
	default:
	}
	_ = syscall.Kill(c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
		return fmt.Errorf("pid %d did not stop on SIGTERM within 10s; killed", c.cmd.Process.Pid)
	}
}

// freePort asks the kernel for a free 127.0.0.1 port. mlship takes a port
// number, so there is a short window in which another process could take
// it; on a benchmark machine that is acceptable.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startMLShip runs `mlship serve` and waits until /ping answers 200.
func startMLShip(ctx context.Context, o options) (*child, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", o.model, "--host", "127.0.0.1", "--port", strconv.Itoa(port)}
	if o.threads > 0 {
		args = append(args, "--threads", strconv.Itoa(o.threads))
	}
	logs := &logTail{}
	cmd := exec.Command(o.mlship, args...)
	cmd.Env = append(os.Environ(), o.serverEnv...)
	cmd.Stdout, cmd.Stderr = logs, logs
	c, err := startChild(cmd, logs)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", o.mlship, err)
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	c.url = base + "/invocations"
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("mlship exited before serving: %v\n%s", c.err, logs)
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("mlship did not answer /ping within 60s\n%s", logs)
		}
	}
}

// startBareChild re-executes this program as the bare server.
func startBareChild(ctx context.Context, r response, env []string) (*child, error) {
	f, err := os.CreateTemp("", "latency-canned-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name()) // the child reads it before printing its address
	if _, err := f.Write(append(append([]byte(r.contentType), '\n'), r.body...)); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logs := &logTail{}
	cmd := exec.Command(self, "-serve-bare", "127.0.0.1:0", "-canned", f.Name())
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c, err := startChild(cmd, logs)
	if err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
		io.Copy(io.Discard, out)
	}()
	select {
	case addr := <-line:
		if addr == "" {
			c.stop()
			return nil, fmt.Errorf("bare server printed no address\n%s", logs)
		}
		c.url = "http://" + addr + "/invocations"
		return c, nil
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		c.stop()
		return nil, fmt.Errorf("bare server did not start within 30s\n%s", logs)
	}
}

// bareHandler reads the request body, as mlship does, then answers the
// canned bytes with mlship's headers (Content-Type, Content-Length; net/http
// adds Date to both).
func bareHandler(ctype string, body []byte) http.Handler {
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h := w.Header()
		h["Content-Type"] = []string{ctype}
		h["Content-Length"] = []string{length}
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	})
}

func newBareServer(r response) *http.Server {
	return &http.Server{
		Handler:           bareHandler(r.contentType, r.body),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
}

// runBareChild is the child side of startBareChild.
func runBareChild(ctx context.Context, addr, cannedFile string) error {
	data, err := os.ReadFile(cannedFile)
	if err != nil {
		return err
	}
	ctype, body, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return fmt.Errorf("%s: no Content-Type line", cannedFile)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := newBareServer(response{contentType: string(ctype), body: body})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Println(ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// startBareInProcess serves the canned response from this process.
func startBareInProcess(r response) (url string, stop func() error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := newBareServer(r)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/invocations", func() error {
		err := srv.Close()
		wg.Wait()
		return err
	}, nil
}
