package main

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// batchResult is what the single-client log-batch scenario measured.
type batchResult struct {
	Batches   int
	Metrics   int
	Duration  time.Duration
	Latency   summary
	ServerCPU time.Duration
	VerifyErr error
}

func (r *batchResult) perSecond() float64 { return float64(r.Metrics) / r.Duration.Seconds() }

const (
	batchKeys  = 100 // each batch: batchKeys keys x batchSteps steps
	batchSteps = 10
)

// runBatch logs batches of 1000 metrics (100 keys x 10 steps, every
// (key, step) new) to one run from one client, back to back, for d; then
// reads every history back.
func runBatch(ctx context.Context, srv *serverProc, d time.Duration) (*batchResult, error) {
	a := newAPI(srv.url, 1)
	defer a.close()
	exp, err := a.createExperiment(ctx, "batch-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err != nil {
		return nil, err
	}
	runID, err := a.createRun(ctx, nil, exp, "batch", nil)
	if err != nil {
		return nil, err
	}
	keyNames := make([]string, batchKeys)
	for k := range keyNames {
		keyNames[k] = fmt.Sprintf("metric_%03d", k)
	}
	rec := newRecorder()
	ms := make([]metric, batchKeys*batchSteps)
	t0 := time.Now().UnixMilli()
	res := &batchResult{}
	cpu0 := srv.cpu()
	start := time.Now()
	for b := 0; time.Since(start) < d; b++ {
		for i := range ms {
			step := int64(b*batchSteps + i/batchKeys)
			ms[i] = metric{Key: keyNames[i%batchKeys], Value: float64(step) + float64(i%batchKeys)/1000, Timestamp: t0 + step, Step: step}
		}
		if err := a.logBatch(ctx, rec, "log-batch(1000)", runID, ms, nil, nil); err != nil {
			return nil, fmt.Errorf("batch %d: %w", b, err)
		}
		res.Batches++
	}
	res.Duration = time.Since(start)
	res.ServerCPU = srv.cpu() - cpu0
	res.Metrics = res.Batches * len(ms)
	res.Latency = rec.summary("log-batch(1000)")

	// Read back: every key's history is steps 0..n*10-1, once each, with
	// the values written; the run's latest value is the last step.
	var p problems
	r, err := a.getRun(ctx, nil, runID)
	if err != nil {
		return nil, err
	}
	last := int64(res.Batches*batchSteps - 1)
	if len(r.Data.Metrics) != batchKeys {
		p.addf("run data has %d metrics, want %d", len(r.Data.Metrics), batchKeys)
	}
	for _, m := range r.Data.Metrics {
		if m.Step != last {
			p.addf("latest %s at step %d, want %d", m.Key, m.Step, last)
		}
	}
	for k, key := range keyNames {
		h, err := a.history(ctx, nil, runID, key)
		if err != nil {
			return nil, err
		}
		if len(h) != res.Batches*batchSteps {
			p.addf("%s: %d values in history, want %d", key, len(h), res.Batches*batchSteps)
		}
		for i, m := range h {
			want := float64(i) + float64(k)/1000
			if m.Step != int64(i) || m.Value != want || m.Timestamp != t0+int64(i) {
				p.addf("%s: history[%d] = step %d value %v ts %d, want step %d value %v", key, i, m.Step, m.Value, m.Timestamp, i, want)
				break
			}
		}
	}
	res.VerifyErr = p.err()
	return res, nil
}
