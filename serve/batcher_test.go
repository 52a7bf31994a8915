package serve

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
)

// rowModel doubles column x row by row (so merged answers can be checked
// against unbatched ones), records the size of every call, and can be told
// to block, fail or misbehave.
type rowModel struct {
	mu      sync.Mutex
	calls   []int            // rows per call
	params  []map[string]any // params per call
	delay   time.Duration
	gate    chan struct{} // when set, each call waits for a receive
	badRow  float64       // a value that makes the call fail as bad input
	collaps bool          // return one row whatever the input: not row-aligned
}

func (m *rowModel) Predict(ctx context.Context, in columnar.Batch, params map[string]any) (columnar.Batch, error) {
	m.mu.Lock()
	m.calls = append(m.calls, int(in.NumRows()))
	m.params = append(m.params, params)
	m.mu.Unlock()
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if m.delay > 0 {
		time.Sleep(m.delay)
	}
	x := in.Column(0).(*array.Float64)
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	defer b.Release()
	n := x.Len()
	if m.collaps {
		n = 1
	}
	for i := 0; i < n; i++ {
		if m.badRow != 0 && x.Value(i) == m.badRow {
			return nil, flavors.BadInput("row value %v is not allowed", x.Value(i))
		}
		b.Append(2 * x.Value(i))
	}
	col := b.NewArray()
	defer col.Release()
	return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "y", Type: arrow.PrimitiveTypes.Float64}}, nil), []arrow.Array{col}, int64(n)), nil
}

func (m *rowModel) callSizes() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int(nil), m.calls...)
}

func rowsBatch(vals ...float64) columnar.Batch {
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(vals, nil)
	col := b.NewArray()
	defer col.Release()
	return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil), []arrow.Array{col}, int64(len(vals)))
}

func ys(t *testing.T, b columnar.Batch) []float64 {
	t.Helper()
	return append([]float64(nil), b.Column(0).(*array.Float64).Float64Values()...)
}

func startBatcher(t *testing.T, p flavors.Predictor, cfg BatchConfig) *Batcher {
	t.Helper()
	b := NewBatcher(p, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-b.Started()
	return b
}

// TestBatcherMergesUnderConcurrency: every response equals its unbatched
// answer, and merging actually happened.
func TestBatcherMergesUnderConcurrency(t *testing.T) {
	m := &rowModel{delay: time.Millisecond}
	b := startBatcher(t, m, BatchConfig{MaxBatchRows: 32, BatchSafe: true, Instances: 2, MaxQueue: 1024})
	var wg sync.WaitGroup
	errs := make(chan error, 64*20)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				n := 1 + (g+i)%4
				vals := make([]float64, n)
				for k := range vals {
					vals[k] = float64(g*1000 + i*10 + k)
				}
				in := rowsBatch(vals...)
				out, err := b.Predict(context.Background(), in, nil)
				in.Release()
				if err != nil {
					errs <- err
					return
				}
				got := out.Column(0).(*array.Float64).Float64Values()
				if len(got) != n {
					errs <- fmt.Errorf("got %d rows, want %d", len(got), n)
				}
				for k := range vals {
					if got[k] != 2*vals[k] {
						errs <- fmt.Errorf("row %d: got %v, want %v", k, got[k], 2*vals[k])
					}
				}
				out.Release()
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sizes := m.callSizes()
	merged, rows := 0, 0
	for _, s := range sizes {
		if s > 4 {
			merged++
		}
		if s > 32 {
			t.Fatalf("a call had %d rows, over MaxBatchRows", s)
		}
		rows += s
	}
	if merged == 0 {
		t.Fatalf("no call merged requests (%d calls)", len(sizes))
	}
	if len(sizes) >= 64*20 {
		t.Fatalf("%d calls for %d requests: nothing was merged", len(sizes), 64*20)
	}
	t.Logf("%d requests in %d calls", 64*20, len(sizes))
}

// TestBatcherNoWaitWhenIdle: an idle model runs a request at once, even
// with room in the batch.
func TestBatcherNoWaitWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &rowModel{}
		b := startBatcher(t, m, BatchConfig{MaxBatchRows: 64, BatchSafe: true})
		start := time.Now()
		in := rowsBatch(1)
		out, err := b.Predict(context.Background(), in, nil)
		if err != nil {
			t.Fatal(err)
		}
		out.Release()
		if d := time.Since(start); d != 0 {
			t.Fatalf("idle request waited %v", d)
		}
	})
}

// TestBatcherDelay: with MaxBatchDelay a batch waits (one timer) for more
// requests, then runs as one call.
func TestBatcherDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &rowModel{}
		b := startBatcher(t, m, BatchConfig{MaxBatchRows: 64, BatchSafe: true, MaxBatchDelay: 50 * time.Millisecond})
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				time.Sleep(time.Duration(i) * 10 * time.Millisecond)
				out, err := b.Predict(context.Background(), rowsBatch(float64(i)), nil)
				if err != nil {
					t.Error(err)
					return
				}
				if got := ys(t, out); got[0] != 2*float64(i) {
					t.Errorf("request %d got %v", i, got)
				}
				out.Release()
			}(i)
		}
		wg.Wait()
		if got := m.callSizes(); len(got) != 1 || got[0] != 3 {
			t.Fatalf("calls = %v, want one call of 3 rows", got)
		}
	})
}

func TestBatcherSplitsLargeRequests(t *testing.T) {
	m := &rowModel{}
	b := startBatcher(t, m, BatchConfig{MaxBatchRows: 4, BatchSafe: true, Instances: 2})
	vals := make([]float64, 10)
	for i := range vals {
		vals[i] = float64(i + 1)
	}
	out, err := b.Predict(context.Background(), rowsBatch(vals...), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	got := ys(t, out)
	for i, v := range vals {
		if got[i] != 2*v {
			t.Fatalf("row %d = %v, want %v (order must be kept)", i, got[i], 2*v)
		}
	}
	for _, s := range m.callSizes() {
		if s > 4 {
			t.Fatalf("call of %d rows exceeds the maximum", s)
		}
	}
}

// TestBatcherParamsIsolation: requests with different params never share
// a call.
func TestBatcherParamsIsolation(t *testing.T) {
	m := &rowModel{gate: make(chan struct{})}
	b := startBatcher(t, m, BatchConfig{MaxBatchRows: 64, BatchSafe: true})
	var wg sync.WaitGroup
	results := make([]columnar.Batch, 5)
	// The first request occupies the model; the next four queue up.
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := map[string]any{"k": int64(i % 2)}
			out, err := b.Predict(context.Background(), rowsBatch(float64(i)), p)
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = out
		}(i)
		if i == 0 {
			waitCalls(t, m, 1)
		}
	}
	waitQueued(t, b, 4)
	for range 3 {
		m.gate <- struct{}{}
	}
	wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.calls) != 3 {
		t.Fatalf("calls = %v, want 3 (one, then one per params value)", m.calls)
	}
	for i, p := range m.params[1:] {
		if m.calls[i+1] != 2 {
			t.Errorf("call %d had %d rows with params %v", i+1, m.calls[i+1], p)
		}
	}
	for i, r := range results {
		if r == nil || ys(t, r)[0] != 2*float64(i) {
			t.Errorf("request %d answered %v", i, r)
		}
	}
}

func waitCalls(t *testing.T, m *rowModel, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if len(m.callSizes()) >= n {
			return
		}
	}
	t.Fatalf("model never reached %d calls", n)
}

func waitQueued(t *testing.T, b *Batcher, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b.mu.Lock()
		q := len(b.queue)
		b.mu.Unlock()
		if q >= n {
			return
		}
	}
	t.Fatalf("queue never reached %d", n)
}

// TestBatcherDropsCancelled: a request cancelled while queued never
// reaches the model.
func TestBatcherDropsCancelled(t *testing.T) {
	m := &rowModel{gate: make(chan struct{})}
	b := startBatcher(t, m, BatchConfig{MaxBatchRows: 64, BatchSafe: true})
	first := make(chan error, 1)
	go func() {
		out, err := b.Predict(context.Background(), rowsBatch(1), nil)
		if out != nil {
			out.Release()
		}
		first <- err
	}()
	waitCalls(t, m, 1)
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := b.Predict(ctx, rowsBatch(2), nil)
		second <- err
	}()
	waitQueued(t, b, 1)
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
	m.gate <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// A third request runs; the cancelled one must not have been computed.
	go func() { m.gate <- struct{}{} }()
	out, err := b.Predict(context.Background(), rowsBatch(3), nil)
	if err != nil {
		t.Fatal(err)
	}
	out.Release()
	if got := m.callSizes(); len(got) != 2 {
		t.Fatalf("calls = %v: the cancelled request was computed", got)
	}
}

func TestBatcherQueueFull(t *testing.T) {
	m := &rowModel{gate: make(chan struct{})}
	b := startBatcher(t, m, BatchConfig{MaxQueue: 2})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ { // one running, two queued
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := b.Predict(context.Background(), rowsBatch(1), nil)
			if err == nil {
				out.Release()
			}
		}()
		if i == 0 {
			waitCalls(t, m, 1)
		}
	}
	waitQueued(t, b, 2)
	start := time.Now()
	if _, err := b.Predict(context.Background(), rowsBatch(1), nil); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("full queue: %v", err)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Error("a full queue must answer at once")
	}
	for range 3 {
		m.gate <- struct{}{}
	}
	wg.Wait()
}

// TestBatcherIsolatesBadInput: one request's bad data fails only that
// request, not the batch it was merged into.
func TestBatcherIsolatesBadInput(t *testing.T) {
	m := &rowModel{gate: make(chan struct{}), badRow: 13}
	b := startBatcher(t, m, BatchConfig{MaxBatchRows: 64, BatchSafe: true})
	go func() {
		out, _ := b.Predict(context.Background(), rowsBatch(0), nil)
		if out != nil {
			out.Release()
		}
	}()
	waitCalls(t, m, 1)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, v := range []float64{1, 13, 3} {
		wg.Add(1)
		go func(i int, v float64) {
			defer wg.Done()
			out, err := b.Predict(context.Background(), rowsBatch(v), nil)
			errs[i] = err
			if err == nil {
				if ys(t, out)[0] != 2*v {
					t.Errorf("request %v answered %v", v, ys(t, out))
				}
				out.Release()
			}
		}(i, v)
	}
	waitQueued(t, b, 3)
	close(m.gate)
	wg.Wait()
	if errs[0] != nil || errs[2] != nil || !flavors.IsInputError(errs[1]) {
		t.Fatalf("errors = %v", errs)
	}
}

// TestBatcherUnalignedOutputs: a model whose outputs do not follow its
// input rows is detected; every request still gets its own answer.
func TestBatcherUnalignedOutputs(t *testing.T) {
	m := &rowModel{gate: make(chan struct{}), collaps: true}
	b := startBatcher(t, m, BatchConfig{MaxBatchRows: 64, BatchSafe: true})
	go func() {
		out, _ := b.Predict(context.Background(), rowsBatch(0), nil)
		if out != nil {
			out.Release()
		}
	}()
	waitCalls(t, m, 1)
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := 1; i <= 3; i++ {
		wg.Add(1)
		go func(v float64) {
			defer wg.Done()
			out, err := b.Predict(context.Background(), rowsBatch(v), nil)
			if err != nil || ys(t, out)[0] != 2*v {
				bad.Add(1)
			}
			if out != nil {
				out.Release()
			}
		}(float64(i))
	}
	waitQueued(t, b, 3)
	close(m.gate)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d requests got a wrong answer", bad.Load())
	}
	b.mu.Lock()
	unsafe := b.unsafe
	b.mu.Unlock()
	if !unsafe {
		t.Fatal("merging was not disabled")
	}
}

// TestBatcherStops: Run returns when its context ends, and later requests
// fail instead of hanging.
func TestBatcherStops(t *testing.T) {
	b := NewBatcher(&rowModel{}, BatchConfig{Instances: 3})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	<-b.Started()
	out, err := b.Predict(context.Background(), rowsBatch(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	out.Release()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := b.Predict(context.Background(), rowsBatch(1), nil); !errors.Is(err, flavors.ErrClosed) {
		t.Fatalf("after stop: %v", err)
	}
}
