//go:build unix

package pyenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// setGroup puts the command in a process group of its own so that
// cancelling stops everything it started, and so that a terminal's Ctrl-C
// reaches mlship (which cancels ctx) rather than pip directly.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return nil
	}
}

// killGroup sweeps what is left of a cancelled command's process group:
// exec's WaitDelay kills only the leader.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// lockPoll is how often a waiting builder retries the lock. flock(2) has
// no timeout or cancellation, so waiting honours ctx by polling LOCK_NB.
const lockPoll = 100 * time.Millisecond

// lockFile takes an exclusive flock on path, creating it, and returns the
// release function. The kernel drops the lock when the process dies, so a
// killed builder never leaves a stale lock behind; the file itself stays
// (removing it would let two processes lock two different inodes).
func lockFile(ctx context.Context, path string, log *slog.Logger) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
	}
	fd := int(f.Fd())
	waiting := false
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !waiting {
			waiting = true
			log.Info("waiting for another process building this environment", "lock", path)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
	return func() {
		_ = syscall.Flock(fd, syscall.LOCK_UN)
		f.Close()
	}, nil
}
