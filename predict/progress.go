package predict

import (
	"fmt"
	"strings"
	"time"
)

// progressEvery is how often the bar is redrawn.
const progressEvery = 250 * time.Millisecond

// startProgress draws a one-line progress bar on Stderr until the returned
// function is called: rows, rows/s and, when the total is known (Parquet
// footers give rows, file sizes give bytes), a bar and an ETA.
func (r *runner) startProgress() (stop func()) {
	if !r.opts.Progress || r.opts.Quiet {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(r.opts.Stderr, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(r.opts.Stderr, "\r\033[K"+r.progressLine(time.Since(start)))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// progressLine is the bar's text after elapsed.
func (r *runner) progressLine(elapsed time.Duration) string {
	rows := r.rowsDone.Load() + r.bad.Load()
	rate := float64(rows) / max(elapsed.Seconds(), 1e-9)
	frac := -1.0
	switch {
	case r.totalRows > 0:
		frac = float64(rows) / float64(r.totalRows)
	case r.totalBytes > 0:
		frac = float64(r.bytesRead.Load()) / float64(r.totalBytes)
	}
	line := fmt.Sprintf("%s rows  %s rows/s", group(rows), group(int64(rate)))
	if frac < 0 {
		return line + "  " + elapsed.Round(time.Second).String()
	}
	frac = min(frac, 1)
	const width = 30
	filled := int(frac * width)
	bar := "[" + strings.Repeat("=", filled) + strings.Repeat(" ", width-filled) + "]"
	eta := "--"
	if frac > 0 {
		eta = (time.Duration(float64(elapsed) * (1 - frac) / frac)).Round(time.Second).String()
	}
	return fmt.Sprintf("%s %3.0f%%  %s  ETA %s", bar, frac*100, line, eta)
}
