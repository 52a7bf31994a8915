package pyenv

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// waitDelay bounds how long a cancelled tool may take to exit after
// SIGTERM before exec kills it and stops waiting for its output.
const waitDelay = 5 * time.Second

// tailLines is how much of a tool's output an error message carries: pip
// puts the cause in its last few lines, after pages of progress.
const tailLines = 25

// command is one tool run: venv, pip, uv, conda.
type command struct {
	name string   // short label for logs and errors: "pip", "venv"
	argv []string // argv[0] is an absolute path
	dir  string
	env  []string
}

// run runs c to completion. Its output goes line by line to the logger
// (debug level: a first build prints pages) and the last lines come back
// for error messages.
func (p *preparer) run(ctx context.Context, c command) (tail string, err error) {
	w := &lineLog{log: p.log, name: c.name}
	cmd := p.newCmd(ctx, c)
	cmd.Stdout, cmd.Stderr = w, w
	p.log.Debug("running", "cmd", c.name, "argv", strings.Join(c.argv, " "), "dir", c.dir)
	err = cmd.Run()
	w.flush()
	tail = w.tail()
	if ctx.Err() != nil {
		killGroup(cmd)
		return tail, fmt.Errorf("%s interrupted: %w", c.name, ctx.Err())
	}
	if err != nil {
		return tail, fmt.Errorf("%s: %w", c.name, err)
	}
	return tail, nil
}

// output runs c and returns its standard output; the tail of standard
// error comes back for error messages.
func (p *preparer) output(ctx context.Context, c command) (stdout []byte, stderrTail string, err error) {
	var out bytes.Buffer
	w := &lineLog{log: p.log, name: c.name}
	cmd := p.newCmd(ctx, c)
	cmd.Stdout, cmd.Stderr = &limitedBuffer{buf: &out, max: 1 << 20}, w
	err = cmd.Run()
	w.flush()
	if ctx.Err() != nil {
		killGroup(cmd)
		return nil, w.tail(), fmt.Errorf("%s interrupted: %w", c.name, ctx.Err())
	}
	if err != nil {
		return out.Bytes(), w.tail(), fmt.Errorf("%s: %w", c.name, err)
	}
	return out.Bytes(), w.tail(), nil
}

func (p *preparer) newCmd(ctx context.Context, c command) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Dir = c.dir
	// A nil Env would inherit the process environment, which this
	// package must not read.
	cmd.Env = c.env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = nil
	cmd.WaitDelay = waitDelay
	// pip starts build backends and compilers of its own: the whole
	// process group is stopped, not just pip.
	setGroup(cmd)
	return cmd
}

// lineLog turns a tool's output into log records and keeps its tail.
type lineLog struct {
	log     *slog.Logger
	name    string
	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexAny(l.partial, "\r\n")
		if i < 0 {
			break
		}
		l.emit(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	// A tool that prints without newlines must not grow this forever.
	if len(l.partial) > 4096 {
		l.emit(string(l.partial))
		l.partial = l.partial[:0]
	}
	return len(b), nil
}

func (l *lineLog) emit(line string) {
	line = strings.TrimRight(line, " \t")
	if line == "" {
		return
	}
	if len(line) > 1000 {
		line = line[:1000] + "…"
	}
	l.log.Debug(line, "cmd", l.name)
	l.lines = append(l.lines, line)
	if len(l.lines) > tailLines {
		l.lines = l.lines[len(l.lines)-tailLines:]
	}
}

func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.emit(string(l.partial))
		l.partial = nil
	}
}

func (l *lineLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// limitedBuffer keeps the first max bytes: a probe prints one short line,
// and an interpreter that prints more must not exhaust memory.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

// indent formats a tool's output tail for an error message.
func indent(tail string) string {
	if tail == "" {
		return "  (no output)"
	}
	return "  " + strings.ReplaceAll(tail, "\n", "\n  ")
}

// isExecutable reports whether path is a regular file (after symlinks)
// someone may execute.
func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}
