package predict

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	r := &runner{opts: &Options{}}
	r.rowsDone.Store(2500)
	r.bad.Store(500)
	r.totalRows = 12000
	got := r.progressLine(10 * time.Second)
	// 3,000 of 12,000 rows (25%) in 10 s: 300 rows/s, 30 s to go.
	for _, want := range []string{"[=======", " 25%", "3,000 rows", "300 rows/s", "ETA 30s"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress %q does not show %q", got, want)
		}
	}
	r.totalRows, r.totalBytes = -1, 1000
	r.bytesRead.Store(500)
	if got := r.progressLine(10 * time.Second); !strings.Contains(got, " 50%") || !strings.Contains(got, "ETA 10s") {
		t.Errorf("progress by bytes %q, want 50%% and ETA 10s", got)
	}
	r.totalBytes = 0 // stdin: no total
	if got := r.progressLine(3 * time.Second); strings.Contains(got, "ETA") || !strings.Contains(got, "1,000 rows/s") {
		t.Errorf("progress without a total %q", got)
	}
}

// TestProgressDrawsOnlyWhenAsked: the bar is drawn on Stderr when Progress
// is set and never with Quiet.
func TestProgressDrawsOnlyWhenAsked(t *testing.T) {
	for _, c := range []struct {
		progress, quiet, want bool
	}{{true, false, true}, {true, true, false}, {false, false, false}} {
		var buf bytes.Buffer
		r := &runner{opts: &Options{Progress: c.progress, Quiet: c.quiet, Stderr: &buf}, totalRows: -1}
		stop := r.startProgress()
		time.Sleep(3 * progressEvery / 2)
		stop()
		if drew := strings.Contains(buf.String(), "rows/s"); drew != c.want {
			t.Errorf("progress=%v quiet=%v: drew %v (%q)", c.progress, c.quiet, drew, buf.String())
		}
	}
}

func TestSummaryLine(t *testing.T) {
	s := Summary{Inputs: 2, Rows: 1234567, Bad: 3, OnError: OnErrorSkip, Duration: 2 * time.Second}
	want := "scored 1,234,570 rows from 2 input(s) in 2s (617,285 rows/s); 3 bad rows skipped"
	if s.String() != want {
		t.Errorf("summary %q, want %q", s.String(), want)
	}
}
