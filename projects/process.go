package projects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultGracePeriod is how long an interrupted command's process group
// has between the forwarded signal and SIGKILL.
const DefaultGracePeriod = 10 * time.Second

// command is one shell command run in its own process group.
type command struct {
	Shell  string // bash
	Line   string
	Dir    string
	Env    []string
	Stdout io.Writer
	Stderr io.Writer
	Grace  time.Duration
	// Started, when set, receives the process group id once the command
	// runs (tests look for survivors of the group).
	Started func(pgid int)
}

// outcome is how a command ended.
type outcome struct {
	ExitCode    int
	Interrupted bool // ctx ended before the command did
	Signal      syscall.Signal
}

// run starts the command as the leader of a new process group and waits
// for it. When ctx ends, the signal that ended it (SIGINT or SIGTERM,
// see stopSignal) goes to the whole group, then SIGKILL after the grace
// period. When the leader exits, whatever it left running in its group is
// killed: a finished run leaves no orphans.
//
// Output goes through pipes this function owns rather than exec's, so
// waiting for the leader does not also wait for a grandchild that keeps
// stdout open.
func (c command) run(ctx context.Context) (outcome, error) {
	cmd := exec.Command(c.Shell, "-c", c.Line)
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var copies sync.WaitGroup
	var writeEnds []*os.File
	closeWrites := func() {
		for _, f := range writeEnds {
			f.Close()
		}
		writeEnds = nil
	}
	for _, s := range []struct {
		w   io.Writer
		dst *io.Writer
	}{{c.Stdout, &cmd.Stdout}, {c.Stderr, &cmd.Stderr}} {
		if s.w == nil {
			continue
		}
		if f, ok := s.w.(*os.File); ok {
			*s.dst = f // a terminal or file: the child writes to it directly
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			closeWrites()
			return outcome{}, err
		}
		writeEnds = append(writeEnds, w)
		*s.dst = w
		copies.Add(1)
		go func(dst io.Writer) {
			defer copies.Done()
			defer r.Close()
			_, _ = io.Copy(dst, r)
		}(s.w)
	}
	if err := cmd.Start(); err != nil {
		closeWrites()
		copies.Wait()
		return outcome{}, fmt.Errorf("starting %s: %w", c.Shell, err)
	}
	closeWrites() // the child holds its own copies
	pgid := cmd.Process.Pid
	if c.Started != nil {
		c.Started(pgid)
	}
	exited := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := cmd.Process.Wait()
		exited <- st
	}()
	var out outcome
	var st *os.ProcessState
	select {
	case st = <-exited:
	case <-ctx.Done():
		out.Interrupted = true
		out.Signal = stopSignal(ctx)
		_ = syscall.Kill(-pgid, out.Signal)
		grace := c.Grace
		if grace <= 0 {
			grace = DefaultGracePeriod
		}
		timer := time.NewTimer(grace)
		select {
		case st = <-exited:
			timer.Stop()
		case <-timer.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			st = <-exited
		}
	}
	// The leader is gone; anything still in its group is an orphan.
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return out, fmt.Errorf("killing what the command left behind: %w", err)
	}
	copies.Wait()
	if st == nil {
		return out, errors.New("waiting for the command: no exit status")
	}
	out.ExitCode = st.ExitCode()
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		out.ExitCode = 128 + int(ws.Signal())
	}
	return out, nil
}

// stopSignal is the signal to forward when ctx ended: SIGINT when mlship
// was interrupted (os/signal.NotifyContext's cause says "interrupt signal
// received"), else SIGTERM, which is also what MLflow sends to a
// cancelled local run's process group.
func stopSignal(ctx context.Context) syscall.Signal {
	if cause := context.Cause(ctx); cause != nil && strings.HasPrefix(cause.Error(), "interrupt") {
		return syscall.SIGINT
	}
	return syscall.SIGTERM
}
