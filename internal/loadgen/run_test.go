package loadgen_test

import (
	"context"
	"errors"
	"maps"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mlship/mlship/internal/loadgen"
)

// sleeper is a Caller that takes d per call (fake time inside synctest)
// and counts its calls.
func sleeper(d time.Duration, calls *atomic.Int64) loadgen.Caller {
	return func(ctx context.Context) (int, error) {
		calls.Add(1)
		time.Sleep(d)
		return 200, nil
	}
}

func TestClosedLoopCountsByStatus(t *testing.T) {
	var n atomic.Int64
	call := func(ctx context.Context) (int, error) {
		switch i := n.Add(1); {
		case i == 5:
			return 0, errors.New("connection reset")
		case i%10 == 0:
			return 503, nil
		}
		return 200, nil
	}
	res, err := loadgen.Run(context.Background(), loadgen.Options{Concurrency: 4, Requests: 1000}, call)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 1000 || n.Load() != 1000 {
		t.Errorf("recorded %d requests, made %d; want exactly the budget of 1000", res.Requests, n.Load())
	}
	if want := map[string]int64{"503": 100, "transport": 1}; res.OK != 899 || !maps.Equal(res.Errors, want) {
		t.Errorf("OK %d, errors %v; want 899 and %v", res.OK, res.Errors, want)
	}
	if res.ErrorSummary() != "503: 100, transport: 1" || res.FirstError == "" {
		t.Errorf("summary %q, first error %q", res.ErrorSummary(), res.FirstError)
	}
	if res.Latency.Count() != 899 || res.Failed.Count() != 101 {
		t.Errorf("latency samples: %d ok, %d failed", res.Latency.Count(), res.Failed.Count())
	}
}

// TestClosedLoopDuration: four clients of a 1 ms server for 100 ms make
// exactly 400 calls, at 1 ms each, and the warm-up is not counted.
func TestClosedLoopDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		res, err := loadgen.Run(t.Context(), loadgen.Options{Concurrency: 4, Duration: 100 * time.Millisecond, Warmup: 50 * time.Millisecond},
			sleeper(time.Millisecond, &calls))
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests != 400 || res.OK != 400 || calls.Load() != 600 {
			t.Errorf("measured %d (ok %d) of %d calls; want 400 of 600 (200 in warm-up)", res.Requests, res.OK, calls.Load())
		}
		if res.Elapsed != 100*time.Millisecond || res.Throughput() != 4000 {
			t.Errorf("elapsed %v, throughput %.1f; want 100ms and 4000/s", res.Elapsed, res.Throughput())
		}
		if p50, p99 := res.Latency.Quantile(.5), res.Latency.Quantile(.99); p50 != time.Millisecond || p99 != time.Millisecond {
			t.Errorf("p50 %v, p99 %v; want 1ms", p50, p99)
		}
	})
}

// TestOpenLoop: arrivals come at the rate whatever the server does; when
// it keeps up every arrival is sent at its time, and when it cannot the
// arrivals finding no free client are skipped, not queued.
func TestOpenLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		res, err := loadgen.Run(t.Context(), loadgen.Options{Concurrency: 4, Duration: 100 * time.Millisecond, Rate: 1000},
			sleeper(time.Millisecond, &calls))
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests != 100 || res.Skipped != 0 {
			t.Errorf("keeping up: %d requests, %d skipped; want 100 and 0", res.Requests, res.Skipped)
		}
		if p99 := res.Latency.Quantile(.99); p99 != time.Millisecond {
			t.Errorf("keeping up: p99 %v, want the server's 1ms", p99)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		// Two clients of a 10 ms server: capacity 200/s, offered 1000/s.
		res, err := loadgen.Run(t.Context(), loadgen.Options{Concurrency: 2, Duration: 100 * time.Millisecond, Rate: 1000},
			sleeper(10*time.Millisecond, &calls))
		if err != nil {
			t.Fatal(err)
		}
		if res.Skipped == 0 || res.Requests+res.Skipped != 100 || res.Requests != calls.Load() {
			t.Errorf("overloaded: %d sent (%d calls), %d skipped; want some skipped and 100 arrivals in all", res.Requests, calls.Load(), res.Skipped)
		}
		// Arrivals go only to a free client, so none waits on the client
		// side: the latency of those sent is the server's alone.
		if p99 := res.Latency.Quantile(.99); p99 != 10*time.Millisecond {
			t.Errorf("overloaded: p99 %v, want the server's 10ms", p99)
		}
	})
}

func TestRunStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(30*time.Millisecond, cancel)
		var calls atomic.Int64
		res, err := loadgen.Run(ctx, loadgen.Options{Concurrency: 2, Duration: time.Hour}, sleeper(time.Millisecond, &calls))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if res == nil || res.Elapsed > 31*time.Millisecond {
			t.Errorf("result %+v: want the run to end when ctx does", res)
		}
	})
}

func TestRunValidates(t *testing.T) {
	call := func(context.Context) (int, error) { return 200, nil }
	for _, o := range []loadgen.Options{
		{Concurrency: 0, Requests: 1},
		{Concurrency: 1},
		{Concurrency: 1, Requests: 1, Rate: -1},
	} {
		if _, err := loadgen.Run(context.Background(), o, call); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
