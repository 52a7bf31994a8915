package pyfunc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// worker is one Python process serving the model.
type worker struct {
	id    int
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	tail  *tail
	done  chan struct{} // closed when the process has exited
	err   error         // the exit error, once done is closed
	ready readyInfo
	log   *slog.Logger

	mu     sync.Mutex
	killed string // why mlship killed it, if it did
}

// readyInfo is what a worker reports once the model is loaded.
type readyInfo struct {
	Protocol    int     `json:"protocol"`
	PID         int     `json:"pid"`
	Python      string  `json:"python"`
	LoadedBy    string  `json:"loaded_by"`
	LoadSeconds float64 `json:"load_seconds"`
}

// startWorker starts a worker and waits for its READY frame (or FATAL, or
// its death, or the timeout, or ctx). The process is killed on any failure.
func startWorker(ctx context.Context, id int, spec *spec, timeout time.Duration, log *slog.Logger) (*worker, error) {
	cmd := exec.Command(spec.python, "-u", spec.script, spec.modelDir, string(spec.config))
	cmd.Dir = spec.modelDir
	cmd.Env = spec.env
	// A process group of its own: killing the worker kills whatever the
	// model's code started, and a Ctrl-C in mlship's terminal is mlship's
	// to handle, not the workers'.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Bigger pipes: fewer hand-offs per batch (see pipeBytes). StdinPipe
	// left the worker's end in cmd.Stdin; StdoutPipe returns our end.
	if f, ok := cmd.Stdin.(*os.File); ok {
		growPipe(f)
	}
	if f, ok := out.(*os.File); ok {
		growPipe(f)
	}
	w := &worker{id: id, cmd: cmd, in: in, out: bufio.NewReaderSize(out, 64<<10), tail: newTail(8 << 10),
		done: make(chan struct{}), log: log.With("worker", id)}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", spec.python, err)
	}
	w.log = w.log.With("pid", cmd.Process.Pid)
	logged := make(chan struct{})
	go func() { // forwards stderr to the log and keeps its tail for errors
		defer close(logged)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			w.tail.add(line)
			w.log.Info("python: " + line)
		}
	}()
	go func() { // the reaper: the only caller of Wait
		<-logged // Wait closes the pipes: read stderr to the end first
		w.err = cmd.Wait()
		close(w.done)
	}()

	type first struct {
		f   *frame
		err error
	}
	got := make(chan first, 1)
	go func() {
		f, err := readFrame(w.out)
		got <- first{f, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-got:
		if r.err != nil {
			w.kill("no handshake")
			<-w.done
			return nil, fmt.Errorf("python worker exited while loading the model (%s)%s", w.exitText(), w.tail.suffix())
		}
		switch r.f.kind {
		case frameReady:
			if err := json.Unmarshal(r.f.meta, &w.ready); err != nil || w.ready.Protocol != protocolVersion {
				w.kill("bad handshake")
				return nil, fmt.Errorf("python worker speaks protocol %d, mlship %d (is the worker script from another mlship?)", w.ready.Protocol, protocolVersion)
			}
			w.log.Info("python worker ready", "python", w.ready.Python, "loaded_by", w.ready.LoadedBy, "load_seconds", w.ready.LoadSeconds)
			return w, nil
		case frameFatal:
			var fe struct{ Error, Traceback string }
			_ = json.Unmarshal(r.f.meta, &fe)
			<-w.done
			return nil, &LoadError{Message: fe.Error, Traceback: fe.Traceback, Stderr: w.tail.text()}
		}
		w.kill("bad handshake")
		return nil, fmt.Errorf("python worker sent frame %d instead of its handshake", r.f.kind)
	case <-timer.C:
		w.kill("load timeout")
		<-w.done
		return nil, fmt.Errorf("python worker did not load the model within %s%s", timeout, w.tail.suffix())
	case <-ctx.Done():
		w.kill("cancelled")
		<-w.done
		return nil, ctx.Err()
	}
}

// LoadError is a model the Python worker could not load: the worker's own
// explanation, its traceback and the tail of its stderr.
type LoadError struct {
	Message, Traceback, Stderr string
}

func (e *LoadError) Error() string {
	msg := "python worker could not load the model: " + e.Message
	if tb := strings.TrimSpace(e.Traceback); tb != "" && !strings.Contains(e.Message, "install") {
		msg += "\n" + lastLines(tb, 12)
	}
	return msg
}

// kill ends the worker's whole process group.
func (w *worker) kill(why string) {
	w.mu.Lock()
	if w.killed == "" {
		w.killed = why
	}
	w.mu.Unlock()
	if w.cmd.Process != nil {
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// stop asks the worker to exit (its stdin closes) and kills it if it has
// not within grace.
func (w *worker) stop(grace time.Duration) {
	w.in.Close()
	select {
	case <-w.done:
	case <-time.After(grace):
		w.kill("stop timeout")
		<-w.done
	}
}

func (w *worker) alive() bool {
	select {
	case <-w.done:
		return false
	default:
		return true
	}
}

// exitText says how the process ended.
func (w *worker) exitText() string {
	w.mu.Lock()
	why := w.killed
	w.mu.Unlock()
	var ee *exec.ExitError
	status := "exited"
	if errors.As(w.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			status = "killed by signal " + ws.Signal().String()
		} else {
			status = fmt.Sprintf("exit status %d", ee.ExitCode())
		}
	} else if w.err == nil {
		status = "exited normally"
	}
	if why != "" {
		status += ", " + why
	}
	return status
}

// tail keeps the last bytes of a worker's stderr, for error messages.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
	size  int
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	t.size += len(line) + 1
	for t.size > t.max && len(t.lines) > 1 {
		t.size -= len(t.lines[0]) + 1
		t.lines = t.lines[1:]
	}
}

func (t *tail) text() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// suffix is the tail as an error-message suffix ("" when empty).
func (t *tail) suffix() string {
	s := strings.TrimSpace(t.text())
	if s == "" {
		return ""
	}
	return "; its last output:\n" + lastLines(s, 20)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var _ = os.Getpid
