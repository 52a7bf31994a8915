package projects

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/tracking"
)

// waitGone waits for pid (or -pgid) to disappear.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for range 250 {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("process %d survived", pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// TestCommandLeavesNoOrphans: a command that exits leaving a background
// process holding its stdout returns at once, and the process is killed.
func TestCommandLeavesNoOrphans(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	var out testenv.SyncBuffer
	var pgid int
	start := time.Now()
	res, err := command{Shell: "bash", Line: "sleep 300 & echo $! > " + pidFile + "; echo done; exit 7", Dir: t.TempDir(),
		Env: testEnviron(), Stdout: &out, Stderr: &out, Started: func(p int) { pgid = p }}.run(context.Background())
	if err != nil || res.ExitCode != 7 || res.Interrupted {
		t.Fatalf("run = %+v, %v", res, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("run took %v: it waited for the background process", d)
	}
	if out.String() != "done\n" {
		t.Errorf("output %q", out.String())
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	waitGone(t, pid)
	waitGone(t, -pgid)
}

// TestCommandGrace: a command that ignores the forwarded signal is
// killed after the grace period.
func TestCommandGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan int, 1)
	go func() {
		<-started
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	t0 := time.Now()
	res, err := command{Shell: "bash", Line: "trap '' TERM INT; sleep 300; sleep 300", Dir: t.TempDir(), Env: testEnviron(),
		Grace: 300 * time.Millisecond, Started: func(p int) { started <- p }}.run(ctx)
	if err != nil || !res.Interrupted || res.Signal != syscall.SIGTERM || res.ExitCode != 128+int(syscall.SIGKILL) {
		t.Errorf("run = %+v, %v", res, err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestSweepInterrupted: cancelling a sweep kills the running child, never
// starts the rest, and ends the parent KILLED.
func TestSweepInterrupted(t *testing.T) {
	requirePython(t)
	ts := newTrackingServer(t)
	o, _, _ := ts.options(t, example(t, "sweep"), "alpha=0.1,0.2,0.3", "sleep=300")
	o.Sweep, o.MaxParallel, o.ExperimentName = true, 1, "killed-sweep"
	o.Grace = 2 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	var pgid int
	o.started = func(_ string, p int) {
		pgid = p
		go func() { time.Sleep(300 * time.Millisecond); cancel() }()
	}
	res, err := Run(ctx, o)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	if res.Status != tracking.StatusKilled || ts.run(t, res.RunID).Info.Status != tracking.StatusKilled {
		t.Errorf("parent %+v", res)
	}
	if c := res.Children[0]; c.Status != tracking.StatusKilled || ts.run(t, c.RunID).Info.Status != tracking.StatusKilled {
		t.Errorf("first child %+v", c)
	}
	if res.Children[1].RunID != "" || res.Children[2].RunID != "" {
		t.Errorf("children after the interrupt got runs: %+v", res.Children[1:])
	}
	if runs := ts.runs(t, res.ExperimentID); len(runs) != 2 {
		t.Errorf("%d runs, want the parent and one child", len(runs))
	}
	waitGone(t, -pgid)
}

// TestCommandOutputIsLive: output reaches the writers while the command
// runs, line by line, not when it exits (stdout and stderr alike).
func TestCommandOutputIsLive(t *testing.T) {
	release := filepath.Join(t.TempDir(), "release")
	var out, errOut testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		_, err := command{Shell: "bash", Line: "echo first; echo warn >&2; while [ ! -e " + release + " ]; do sleep 0.05; done; echo last",
			Dir: t.TempDir(), Env: testEnviron(), Stdout: &out, Stderr: &errOut}.run(context.Background())
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != "first\n" || errOut.String() != "warn\n" {
		if time.Now().After(deadline) {
			t.Fatalf("while running: stdout %q stderr %q", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || out.String() != "first\nlast\n" {
		t.Errorf("run: %v, stdout %q", err, out.String())
	}
}
