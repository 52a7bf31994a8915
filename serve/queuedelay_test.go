package serve

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

func near(got, want time.Duration) bool {
	return math.Abs(float64(got-want)) <= 0.01*float64(want)+float64(time.Microsecond)
}

// TestCostModelFit: batch times of the form fixed + perRow·rows are
// recovered from batches of different sizes.
func TestCostModelFit(t *testing.T) {
	var m costModel
	if a, b := m.coef(); a != 0 || b != 0 || m.batch(64) != 0 || m.mean() != 0 {
		t.Fatalf("an empty model must estimate nothing: %v %v", a, b)
	}
	for i := 0; i < 60; i++ {
		rows := 1 + i%64
		m.observe(rows, 200*time.Microsecond+time.Duration(rows)*10*time.Microsecond)
	}
	a, b := m.coef()
	if !near(seconds(a), 200*time.Microsecond) || !near(seconds(b), 10*time.Microsecond) {
		t.Fatalf("fit: fixed %v per row %v, want 200µs and 10µs", seconds(a), seconds(b))
	}
	if got := m.batch(64); !near(got, 840*time.Microsecond) {
		t.Errorf("batch(64) = %v, want 840µs", got)
	}
}

// TestCostModelSameSize: with every batch the same size (an idle model)
// the time is taken as fixed per batch: queued rows that will merge are
// not charged as if each ran alone.
func TestCostModelSameSize(t *testing.T) {
	var m costModel
	for range 30 {
		m.observe(1, time.Millisecond)
	}
	a, b := m.coef()
	if !near(seconds(a), time.Millisecond) || b != 0 {
		t.Fatalf("fixed %v per row %v, want 1ms and 0", seconds(a), seconds(b))
	}
	if got := m.wait(queueState{mergeRows: 100, busy: 1, instances: 1, maxRows: 64, hasWaiting: true}); !near(got, 2*time.Millisecond) {
		t.Errorf("100 mergeable rows in batches of 64: wait %v, want 2 batches = 2ms", got)
	}
}

// TestCostModelFollowsChange: the exponential weighting forgets: after a
// slowdown the estimate reaches the new time within a few dozen batches.
func TestCostModelFollowsChange(t *testing.T) {
	var m costModel
	for range 100 {
		m.observe(8, time.Millisecond)
	}
	for range 60 {
		m.observe(8, 10*time.Millisecond)
	}
	if got := m.batch(8); got < 9*time.Millisecond || got > 10*time.Millisecond {
		t.Fatalf("after 60 batches of 10ms the estimate is %v", got)
	}
}

// TestCostModelNonsense: a fit with a negative slope or intercept (noise)
// falls back to estimates that are never negative.
func TestCostModelNonsense(t *testing.T) {
	var m costModel
	m.observe(1, 5*time.Millisecond)
	m.observe(10, time.Millisecond) // bigger and faster: negative slope
	if a, b := m.coef(); a < 0 || b < 0 {
		t.Fatalf("negative coefficients %v %v", a, b)
	}
	var n costModel
	n.observe(10, 10*time.Millisecond)
	n.observe(20, 30*time.Millisecond) // slope 2ms/row, intercept −10ms
	a, b := n.coef()
	if a != 0 || !near(seconds(b), time.Millisecond*40/30) {
		t.Fatalf("negative intercept: fixed %v per row %v, want 0 and the mean per row", seconds(a), seconds(b))
	}
}

// TestCostModelWait: the wait estimate for each shape of queue.
func TestCostModelWait(t *testing.T) {
	var m costModel
	for i := 0; i < 40; i++ {
		rows := 1 + i%2*63 // batches of 1 and 64 rows
		m.observe(rows, time.Millisecond+time.Duration(rows)*100*time.Microsecond)
	}
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		q    queueState
		want time.Duration
	}{
		{"free instance, empty queue", queueState{busy: 0, instances: 1, maxRows: 64}, 0},
		{"one of two instances free", queueState{busy: 1, remaining: 50 * ms, instances: 2, maxRows: 64}, 0},
		{"busy, empty queue: the rest of the running batch", queueState{busy: 1, remaining: 3 * ms, instances: 1, maxRows: 64}, 3 * ms},
		{"overrun batch counts as done", queueState{busy: 1, remaining: -2 * ms, instances: 1, maxRows: 64}, 0},
		{"128 mergeable rows: two batches of 64", queueState{mergeRows: 128, busy: 1, instances: 1, maxRows: 64, hasWaiting: true}, 2*ms + 128*100*time.Microsecond},
		{"solo jobs each pay the fixed cost", queueState{soloJobs: 3, soloRows: 3, busy: 1, instances: 1, maxRows: 64, hasWaiting: true}, 3*ms + 300*time.Microsecond},
		{"shared among instances", queueState{soloJobs: 4, soloRows: 4, busy: 2, remaining: 2 * ms, instances: 2, maxRows: 1, hasWaiting: true}, (4*ms + 400*time.Microsecond + 2*ms) / 2},
	} {
		if got := m.wait(tc.q); !near(got, tc.want) {
			t.Errorf("%s: wait %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseQueueDelay(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"auto", AutoQueueDelay, true},
		{"0", 0, true},
		{"20ms", 20 * time.Millisecond, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"-1ms", 0, false},
		{"", 0, false},
		{"fast", 0, false},
		{"Auto", 0, false},
	} {
		got, err := ParseQueueDelay(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseQueueDelay(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func FuzzParseQueueDelay(f *testing.F) {
	for _, s := range []string{"auto", "0", "5ms", "-1s", "1h2m", "9223372036854775807ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseQueueDelay(s)
		if err != nil {
			return
		}
		if d < 0 && d != AutoQueueDelay || d == AutoQueueDelay && s != "auto" {
			t.Fatalf("%q parsed as %v", s, d)
		}
	})
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startClocked starts a batcher whose clock the test moves, with a cost
// model already fitted to batches of fixed + perRow·rows.
func startClocked(t *testing.T, m *rowModel, cfg BatchConfig, fixed, perRow time.Duration) (*Batcher, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	b := NewBatcher(m, cfg)
	b.now, b.epoch = clk.Now, clk.Now()
	for i := 0; i < 40; i++ {
		rows := 1 + i%2*63
		b.cost.observe(rows, fixed+time.Duration(rows)*perRow)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-b.Started()
	return b, clk
}

type answer struct {
	rows int
	err  error
}

// await is the answer on c, failing the test rather than hanging when a
// broken batcher never gives one.
func await(t *testing.T, c chan answer) answer {
	t.Helper()
	select {
	case a := <-c:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("no answer in 5s")
		return answer{}
	}
}

// release lets one blocked model call proceed.
func release(t *testing.T, m *rowModel) {
	t.Helper()
	select {
	case m.gate <- struct{}{}:
	case <-time.After(5 * time.Second):
		t.Fatal("no model call waiting in 5s")
	}
}

// predictAsync sends a request of rows; a model call still blocked when
// the test ends is cancelled with the test's context.
func predictAsync(t *testing.T, b *Batcher, rows int) chan answer {
	c := make(chan answer, 1)
	vals := make([]float64, rows)
	for i := range vals {
		vals[i] = float64(i + 1)
	}
	go func() {
		out, err := b.Predict(t.Context(), rowsBatch(vals...), nil)
		n := 0
		if out != nil {
			n = int(out.NumRows())
			out.Release()
		}
		c <- answer{n, err}
	}()
	return c
}

// TestAdmissionByExpectedWait: with the model busy, requests are admitted
// while the estimated wait of the rows ahead stays within the target, and
// refused with ErrQueueDelay beyond it, whatever room the count bound
// leaves. The clock is the test's: every decision is deterministic.
func TestAdmissionByExpectedWait(t *testing.T) {
	m := &rowModel{gate: make(chan struct{})}
	// Unmerged, 1ms per request, target 3.5ms.
	b, clk := startClocked(t, m, BatchConfig{MaxQueue: 100, MaxQueueDelay: 3500 * time.Microsecond}, time.Millisecond, 0)
	running := predictAsync(t, b, 1)
	waitCalls(t, m, 1) // running, estimated to end 1ms from now
	if err := b.Admit(); err != nil {
		t.Fatalf("busy model, empty queue (1ms wait): %v", err)
	}
	var queued []chan answer
	for i := 1; i <= 2; i++ { // waits of 1ms and 2ms
		queued = append(queued, predictAsync(t, b, 1))
		waitQueued(t, b, i)
	}
	if _, want := b.QueueDelay(); want != 3*time.Millisecond {
		t.Fatalf("expected wait with one running and two queued: %v, want 3ms", want)
	}
	if err := b.Admit(); err != nil {
		t.Fatalf("3ms wait under a 3.5ms target: %v", err)
	}
	queued = append(queued, predictAsync(t, b, 1))
	waitQueued(t, b, 3)
	if err := b.Admit(); !errors.Is(err, ErrQueueDelay) {
		t.Fatalf("4ms wait over a 3.5ms target: %v", err)
	}
	if _, err := b.Predict(context.Background(), rowsBatch(1), nil); !errors.Is(err, ErrQueueDelay) {
		t.Fatalf("Predict must decide the same: %v", err)
	}
	// Time passes within the running batch: its remainder shrinks and the
	// wait falls below the target again.
	clk.Add(600 * time.Microsecond)
	if err := b.Admit(); err != nil {
		t.Fatalf("after 0.6ms the wait is 3.4ms: %v", err)
	}
	// Everything admitted is served (the clock has not passed any deadline).
	for range 4 {
		release(t, m)
	}
	for i, c := range append([]chan answer{running}, queued...) {
		if a := await(t, c); a.err != nil || a.rows != 1 {
			t.Errorf("request %d: %+v", i, a)
		}
	}
}

// TestAdmissionOff: MaxQueueDelay 0 leaves only the count bound.
func TestAdmissionOff(t *testing.T) {
	m := &rowModel{gate: make(chan struct{})}
	b, clk := startClocked(t, m, BatchConfig{MaxQueue: 3}, time.Second, 0)
	var all []chan answer
	all = append(all, predictAsync(t, b, 1))
	waitCalls(t, m, 1)
	for i := 1; i <= 3; i++ {
		all = append(all, predictAsync(t, b, 1))
		waitQueued(t, b, i)
	}
	if err := b.Admit(); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("count bound: %v", err)
	}
	clk.Add(time.Hour) // no sojourn check either
	for range 4 {
		release(t, m)
	}
	for i, c := range all {
		if a := await(t, c); a.err != nil {
			t.Errorf("request %d: %v", i, a.err)
		}
	}
}

// TestSojournCheck: a request taken past its target is still served when
// it is the first (a burst, a GC pause); once requests have kept being
// taken late for the interval (100 ms here), the late ones are answered
// ErrQueueSojourn and never computed, and a request within its target ends
// the state.
func TestSojournCheck(t *testing.T) {
	m := &rowModel{gate: make(chan struct{})}
	b, clk := startClocked(t, m, BatchConfig{MaxQueue: 10, MaxQueueDelay: 10 * time.Millisecond}, time.Millisecond, 0)
	running := predictAsync(t, b, 1)
	waitCalls(t, m, 1)
	var late []chan answer
	for i := 1; i <= 3; i++ {
		late = append(late, predictAsync(t, b, 1))
		waitQueued(t, b, i)
	}
	clk.Add(20 * time.Millisecond)
	release(t, m) // the first late request starts, 10 ms past its target
	waitCalls(t, m, 2)
	clk.Add(110 * time.Millisecond)
	fresh := predictAsync(t, b, 1)
	waitQueued(t, b, 3)
	release(t, m) // 110 ms later the next two are still late: refused
	waitCalls(t, m, 3)
	release(t, m)
	if a := await(t, running); a.err != nil {
		t.Fatal(a.err)
	}
	if a := await(t, late[0]); a.err != nil {
		t.Errorf("first late request: %v; one late request alone must be served", a.err)
	}
	for i, c := range late[1:] {
		if a := await(t, c); !errors.Is(a.err, ErrQueueSojourn) {
			t.Errorf("late request %d after 110 ms of lateness: %+v", i+2, a)
		}
	}
	if a := await(t, fresh); a.err != nil {
		t.Errorf("request within its target: %v", a.err)
	}
	if got := m.callSizes(); len(got) != 3 {
		t.Errorf("model calls %v: a refused request was computed", got)
	}
	b.mu.Lock()
	reset := b.aboveSince.IsZero()
	b.mu.Unlock()
	if !reset {
		t.Error("a request taken within its target must end the late state")
	}
}

// TestSojournCheckMerging: once late, stale requests are left out of a
// merged batch and fresh ones merged.
func TestSojournCheckMerging(t *testing.T) {
	m := &rowModel{gate: make(chan struct{})}
	b, clk := startClocked(t, m, BatchConfig{MaxQueue: 10, MaxBatchRows: 64, BatchSafe: true, MaxQueueDelay: 10 * time.Millisecond}, time.Millisecond, 0)
	running := predictAsync(t, b, 1)
	waitCalls(t, m, 1)
	first := predictAsync(t, b, 1)
	waitQueued(t, b, 1)
	clk.Add(20 * time.Millisecond)
	release(t, m) // first starts late: the late state begins
	waitCalls(t, m, 2)
	stale := []chan answer{predictAsync(t, b, 2)}
	waitQueued(t, b, 1)
	stale = append(stale, predictAsync(t, b, 3))
	waitQueued(t, b, 2)
	clk.Add(110 * time.Millisecond)
	fresh := []chan answer{predictAsync(t, b, 4)}
	waitQueued(t, b, 3)
	fresh = append(fresh, predictAsync(t, b, 5))
	waitQueued(t, b, 4)
	release(t, m)
	release(t, m)
	await(t, running)
	if a := await(t, first); a.err != nil {
		t.Errorf("first: %v", a.err)
	}
	for _, c := range stale {
		if a := await(t, c); !errors.Is(a.err, ErrQueueSojourn) {
			t.Errorf("stale: %+v", a)
		}
	}
	for i, c := range fresh {
		if a := await(t, c); a.err != nil || a.rows != 4+i {
			t.Errorf("fresh: %+v", a)
		}
	}
	if got := m.callSizes(); len(got) != 3 || got[2] != 9 {
		t.Errorf("calls %v, want [1 1 9]: the fresh requests merged, the stale ones left out", got)
	}
}

// TestSplitRequestAdmittedWhole: a request larger than MaxBatchRows is
// admitted on its first chunk's wait; its later chunks, which wait for its
// own earlier ones, are not refused for that wait.
func TestSplitRequestAdmittedWhole(t *testing.T) {
	m := &rowModel{gate: make(chan struct{})}
	// 1ms per 4-row batch; 12 rows = 3 chunks = 3ms of its own work, above the 2.5ms target.
	b, clk := startClocked(t, m, BatchConfig{MaxQueue: 10, MaxBatchRows: 4, BatchSafe: true, MaxQueueDelay: 2500 * time.Microsecond}, time.Millisecond, 0)
	running := predictAsync(t, b, 1)
	waitCalls(t, m, 1)
	big := predictAsync(t, b, 12)
	waitQueued(t, b, 3)
	// Chunk i must start by the target plus i of its own batches: 2.5ms,
	// 3.5ms and 4.5ms. Each starts past the target, none past its own time.
	clk.Add(2 * time.Millisecond)
	release(t, m) // the running request ends; chunk 1 starts at 2ms
	waitCalls(t, m, 2)
	clk.Add(1200 * time.Microsecond)
	release(t, m) // chunk 2 starts at 3.2ms
	waitCalls(t, m, 3)
	clk.Add(1200 * time.Microsecond)
	release(t, m) // chunk 3 starts at 4.4ms
	waitCalls(t, m, 4)
	release(t, m)
	await(t, running)
	if a := await(t, big); a.err != nil || a.rows != 12 {
		t.Fatalf("split request: %+v", a)
	}
	if got := m.callSizes(); len(got) != 4 || got[1] != 4 || got[3] != 4 {
		t.Errorf("calls %v, want [1 4 4 4]", got)
	}
}

// TestAutoQueueDelay: the derived target is 4× the mean batch time, at
// least 10ms, plus the batch delay.
func TestAutoQueueDelay(t *testing.T) {
	for _, tc := range []struct {
		batch, delay, want time.Duration
	}{
		{0, 0, minAutoDelay},                      // nothing measured yet
		{100 * time.Microsecond, 0, minAutoDelay}, // fast model: the floor
		{20 * time.Millisecond, 0, 80 * time.Millisecond},
		{20 * time.Millisecond, 2 * time.Millisecond, 82 * time.Millisecond},
	} {
		b := NewBatcher(&rowModel{}, BatchConfig{MaxQueueDelay: AutoQueueDelay, MaxBatchDelay: tc.delay})
		if tc.batch > 0 {
			for range 10 {
				b.cost.observe(1, tc.batch)
			}
		}
		if got, _ := b.QueueDelay(); !near(got, tc.want) {
			t.Errorf("batch %v, delay %v: target %v, want %v", tc.batch, tc.delay, got, tc.want)
		}
	}
}
