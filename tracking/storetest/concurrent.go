package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/mlship/mlship/tracking"
)

// testConcurrentLogBatch has 8 goroutines log batches to one run at once,
// then reads every value back: none may be lost, the latest values must
// follow MLflow's rule, and each goroutine's params must all be there.
func testConcurrentLogBatch(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "concurrent").Info.RunID
	const workers, batches, perBatch = 8, 10, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				ms := make([]tracking.Metric, 0, perBatch+1)
				for i := range perBatch {
					step := int64(b*perBatch + i)
					ms = append(ms, tracking.Metric{Key: fmt.Sprintf("w%d", w), Value: float64(step), Step: step, Timestamp: int64(w)})
				}
				// A key every worker writes: the latest is the largest step.
				ms = append(ms, tracking.Metric{Key: "shared", Value: float64(w*1000 + b), Step: int64(w*1000 + b), Timestamp: 1})
				ps := []tracking.Param{{Key: fmt.Sprintf("w%d-b%d", w, b), Value: "v"}, {Key: "common", Value: "same"}}
				if err := s.LogBatch(ctx, id, ms, ps, []tracking.Tag{{Key: fmt.Sprintf("w%d", w), Value: fmt.Sprint(b)}}); err != nil {
					errs <- fmt.Errorf("worker %d batch %d: %w", w, b, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	r := getRun(t, s, id)
	if len(r.Data.Params) != workers*batches+1 {
		t.Errorf("%d params, want %d", len(r.Data.Params), workers*batches+1)
	}
	tags := tagMap(r.Data.Tags)
	for w := range workers {
		key := fmt.Sprintf("w%d", w)
		hist, _, err := s.MetricHistory(ctx, id, key, tracking.Page{})
		must(t, err)
		if len(hist) != batches*perBatch {
			t.Errorf("%s: %d values, want %d", key, len(hist), batches*perBatch)
			continue
		}
		for i, m := range hist {
			if m.Step != int64(i) || m.Value != float64(i) {
				t.Errorf("%s history[%d] = %+v", key, i, m)
				break
			}
		}
		if m, ok := latest(r, key); !ok || m.Step != batches*perBatch-1 {
			t.Errorf("%s latest = %+v", key, m)
		}
		if tags[key] != fmt.Sprint(batches-1) {
			t.Errorf("tag %s = %q", key, tags[key])
		}
	}
	shared, _, err := s.MetricHistory(ctx, id, "shared", tracking.Page{})
	must(t, err)
	if len(shared) != workers*batches {
		t.Errorf("shared: %d values, want %d", len(shared), workers*batches)
	}
	if m, ok := latest(r, "shared"); !ok || m.Step != (workers-1)*1000+batches-1 {
		t.Errorf("shared latest = %+v", m)
	}
}
