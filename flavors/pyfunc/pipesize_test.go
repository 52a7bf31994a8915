package pyfunc

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestGrowPipe: a pipe grows to pipeBytes when the system allows it, and
// a file that is not a pipe is left alone without failing.
func TestGrowPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	before := pipeSize(r)
	growPipe(w) // either end: the size belongs to the pipe
	got := pipeSize(r)
	limit := pipeBytes
	if b, err := os.ReadFile("/proc/sys/fs/pipe-max-size"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n < limit && os.Geteuid() != 0 {
			limit = n
		}
	}
	if got < limit {
		t.Errorf("pipe holds %d bytes after growPipe (before: %d), want at least %d", got, before, limit)
	}
	f, err := os.CreateTemp(t.TempDir(), "notapipe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	growPipe(f)
	growPipe(nil)
	if n := pipeSize(f); n != -1 {
		t.Errorf("a regular file reports a pipe size of %d", n)
	}
}
