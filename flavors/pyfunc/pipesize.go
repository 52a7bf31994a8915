package pyfunc

import (
	"os"

	"golang.org/x/sys/unix"
)

// pipeBytes is the capacity asked for the pipes to and from a worker.
// Linux pipes hold 64 KiB by default: a 4 MiB batch then crosses in 64
// hand-offs between mlship and the worker, each a wake-up of the other
// process, and on a busy machine each wake-up can wait a scheduler
// tick. 1 MiB is what an unprivileged process may ask for
// (/proc/sys/fs/pipe-max-size's default); it cut the transfer time of
// 10,000-row sklearn batches by more than half (docs/performance.md).
const pipeBytes = 1 << 20

// growPipe asks the kernel to make f's pipe hold pipeBytes. It is only an
// optimisation: a refusal (a lower pipe-max-size, the user's pipe quota)
// leaves the pipe as it was.
func growPipe(f *os.File) {
	if f == nil {
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeBytes)
	})
}

// pipeSize is f's pipe capacity in bytes (for tests), or -1.
func pipeSize(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	_ = rc.Control(func(fd uintptr) {
		if v, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil {
			n = v
		}
	})
	return n
}
