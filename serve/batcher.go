package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/pyjson"
)

// ErrQueueFull is returned at once when the admission queue is full; the
// server answers 503 with Retry-After.
var ErrQueueFull = errors.New("the server is overloaded: the request queue is full")

// BatchConfig configures the Batcher. The zero value runs requests one at
// a time, unmerged, with a queue of 256.
type BatchConfig struct {
	// MaxBatchRows is the most rows merged into one Predict call; 0 or 1
	// disables merging. Larger requests are split into chunks of this size.
	MaxBatchRows int
	// MaxBatchDelay is how long a batch may wait for more requests after it
	// could have started. 0 means never wait: when the model is idle a
	// request runs at once; requests merge only while it is busy.
	MaxBatchDelay time.Duration
	// Instances is how many Predict calls may run at once.
	Instances int
	// MaxQueue is how many requests may wait; beyond it, ErrQueueFull. It
	// is the hard bound on the memory queued requests hold.
	MaxQueue int
	// MaxQueueDelay bounds the wait in the queue: a request whose expected
	// wait (from the measured batch times, see costModel) is above it gets
	// ErrQueueDelay at once, and a queued request that has waited longer
	// when a worker reaches it gets ErrQueueSojourn instead of running
	// late. 0 turns both off (MaxQueue alone bounds the queue);
	// AutoQueueDelay derives it from the batch time.
	MaxQueueDelay time.Duration
	// BatchSafe says the model's rows are independent (every input and
	// output has a variable first dimension, or the model takes tables),
	// which merging requires.
	BatchSafe bool
	// Mem allocates merged batches; nil means the Go allocator.
	Mem memory.Allocator
	// Observer receives batch statistics; nil ignores them.
	Observer BatchObserver
	Logger   *slog.Logger
}

// BatchObserver is told about queueing and batches (the metrics).
type BatchObserver interface {
	Queued(depth int)
	Dropped()
	Batch(requests, rows int, queueWait []time.Duration, compute time.Duration)
}

// Batcher sits between the protocol codecs and the Predictor. Concurrent
// requests for a batch-safe model are merged into one Predict call and
// split back by row offsets. It is itself a flavors.Predictor.
//
// It starts no goroutine until Run, which owns the workers and stops them
// when its context ends.
type Batcher struct {
	pred  flavors.Predictor
	cfg   BatchConfig
	log   *slog.Logger
	mem   memory.Allocator
	wake  chan struct{} // cap 1: "the queue may have work"; passed on like a baton
	slots chan struct{} // one token per model instance in use (cap Instances)

	running atomic.Bool   // Run is active; without it Predict calls the model directly
	started chan struct{} // closed when Run has started

	now   func() time.Time // time.Now; tests set a fake clock
	epoch time.Time        // origin of endSum

	mu      sync.Mutex
	queue   []*job
	stopped bool // Run has returned: no more jobs are taken
	// The queue-delay estimate's inputs, kept as jobs come and go.
	cost      costModel
	mergeRows int           // rows of queued jobs that may merge
	soloJobs  int           // queued jobs that run alone, and their rows
	soloRows  int           //
	busy      int           // batches running
	endSum    time.Duration // their estimated ends (since epoch), summed
	// aboveSince is when a worker first took a job past its deadline with
	// no job within its deadline taken since (zero: none): CoDel's test for
	// a standing queue rather than a burst.
	aboveSince time.Time
	// unsafe is set when a merged call returned outputs that cannot be split
	// back by rows; merging stops for the life of the batcher.
	unsafe bool
}

var _ flavors.Predictor = (*Batcher)(nil)

type job struct {
	ctx      context.Context
	in       columnar.Batch
	params   map[string]any
	key      string // requests merge only with equal keys (schema + params)
	rows     int
	solo     bool // never merged
	enqueued time.Time
	late     time.Time   // answered ErrQueueSojourn if not started by then; zero: never
	done     chan result // buffered: the worker never blocks on a gone client
}

type result struct {
	out columnar.Batch
	err error
}

// NewBatcher returns a batcher over p. Call Run to start it.
func NewBatcher(p flavors.Predictor, cfg BatchConfig) *Batcher {
	if cfg.Instances <= 0 {
		cfg.Instances = 1
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 256
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mem := cfg.Mem
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &Batcher{pred: p, cfg: cfg, log: log, mem: mem, wake: make(chan struct{}, 1), started: make(chan struct{}), slots: make(chan struct{}, cfg.Instances),
		now: time.Now, epoch: time.Now()}
}

// Started is closed once Run is running: from then on requests queue.
func (b *Batcher) Started() <-chan struct{} { return b.started }

// QueueLen is the number of requests waiting.
func (b *Batcher) QueueLen() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// merging reports whether requests may share a Predict call.
func (b *Batcher) merging() bool {
	return b.cfg.BatchSafe && b.cfg.MaxBatchRows > 1
}

// Run runs the workers until ctx ends. Workers finish what is queued
// before they stop (callers stop submitting — the HTTP server drains —
// before cancelling ctx); anything submitted after Run returns fails with
// flavors.ErrClosed.
func (b *Batcher) Run(ctx context.Context) error {
	b.running.Store(true)
	close(b.started)
	var wg sync.WaitGroup
	for i := 0; i < b.cfg.Instances; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.work(ctx)
		}()
	}
	wg.Wait()
	b.mu.Lock()
	left := b.queue
	b.queue = nil
	b.mergeRows, b.soloJobs, b.soloRows = 0, 0, 0
	b.stopped = true
	b.mu.Unlock()
	for _, j := range left {
		j.done <- result{err: fmt.Errorf("server stopping: %w", flavors.ErrClosed)}
	}
	return nil
}

// Predict queues the request and waits for its rows of a merged result.
// A request larger than MaxBatchRows is split into chunks that run as
// separate jobs (on several instances when there are).
func (b *Batcher) Predict(ctx context.Context, in columnar.Batch, params map[string]any) (columnar.Batch, error) {
	if !b.running.Load() {
		b.mu.Lock()
		stopped := b.stopped
		b.mu.Unlock()
		if !stopped {
			return b.pred.Predict(ctx, in, params) // not started: no queue, no merging
		}
	}
	rows := int(in.NumRows())
	batched := columnar.IsBatched(in)
	if b.merging() && batched && rows > b.cfg.MaxBatchRows {
		return b.predictSplit(ctx, in, params)
	}
	if out, err, ok := b.runInline(ctx, in, params); ok {
		return out, err
	}
	j := &job{ctx: ctx, in: in, params: params, rows: rows, solo: !b.merging() || !batched || rows == 0,
		done: make(chan result, 1)}
	if !j.solo {
		j.key = jobKey(in, params)
	}
	if err := b.enqueue(j, true, 0); err != nil {
		return nil, err
	}
	select {
	case r := <-j.done:
		return r.out, r.err
	case <-ctx.Done():
		// The worker drops the job if it has not started; if it has, the
		// result lands in the buffered channel and is released below.
		go func() {
			if r := <-j.done; r.out != nil {
				r.out.Release()
			}
		}()
		return nil, ctx.Err()
	}
}

func (b *Batcher) predictSplit(ctx context.Context, in columnar.Batch, params map[string]any) (columnar.Batch, error) {
	max := int64(b.cfg.MaxBatchRows)
	var jobs []*job
	key := jobKey(in, params)
	// The request is admitted (or not) as a whole, on the wait of its first
	// chunk; chunk i may then start as late as i batches after the target,
	// the time its own earlier chunks take.
	var ahead time.Duration
	for off := int64(0); off < in.NumRows(); off += max {
		end := min(off+max, in.NumRows())
		part := in.NewSlice(off, end)
		defer part.Release()
		j := &job{ctx: ctx, in: part, params: params, rows: int(end - off), key: key, done: make(chan result, 1)}
		if err := b.enqueue(j, off == 0, ahead); err != nil {
			for _, q := range jobs {
				b.abandon(q)
			}
			return nil, err
		}
		jobs = append(jobs, j)
		b.mu.Lock()
		ahead += b.cost.batch(j.rows) / time.Duration(b.cfg.Instances)
		b.mu.Unlock()
	}
	outs := make([]columnar.Batch, 0, len(jobs))
	defer func() {
		for _, o := range outs {
			o.Release()
		}
	}()
	for i, j := range jobs {
		select {
		case r := <-j.done:
			if r.err != nil {
				for _, q := range jobs[i+1:] {
					b.abandon(q)
				}
				return nil, r.err
			}
			outs = append(outs, r.out)
		case <-ctx.Done():
			for _, q := range jobs[i:] {
				b.abandon(q)
			}
			return nil, ctx.Err()
		}
	}
	return columnar.Concat(b.mem, outs)
}

// abandon releases whatever result a job will still produce.
func (b *Batcher) abandon(j *job) {
	go func() {
		if r := <-j.done; r.out != nil {
			r.out.Release()
		}
	}()
}

// Admit says whether a request would be admitted now: nil, ErrQueueFull or
// ErrQueueDelay. Handlers ask before reading a request body, so that under
// overload a refusal costs no reading and no parsing: the work a refused
// request does is what accepted ones wait for. Predict decides again.
func (b *Batcher) Admit() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.running.Load() {
		return nil // not started: requests call the model directly
	}
	return b.admitLocked(b.now(), true)
}

// admitLocked applies the queue bounds; b.mu is held.
func (b *Batcher) admitLocked(now time.Time, delay bool) error {
	if len(b.queue) >= b.cfg.MaxQueue {
		return ErrQueueFull
	}
	if t := b.targetLocked(); delay && t > 0 && b.cost.wait(b.stateLocked(now)) > t {
		return ErrQueueDelay
	}
	return nil
}

// targetLocked is the maximum queue delay in force (0: none); b.mu is held.
func (b *Batcher) targetLocked() time.Duration {
	if b.cfg.MaxQueueDelay >= 0 {
		return b.cfg.MaxQueueDelay
	}
	return max(minAutoDelay, autoDelayFactor*b.cost.mean()) + b.cfg.MaxBatchDelay
}

// stateLocked gathers the wait estimate's inputs; b.mu is held.
func (b *Batcher) stateLocked(now time.Time) queueState {
	return queueState{
		mergeRows: b.mergeRows, soloJobs: b.soloJobs, soloRows: b.soloRows,
		busy: b.busy, remaining: b.endSum - time.Duration(b.busy)*now.Sub(b.epoch),
		instances: b.cfg.Instances, maxRows: max(b.cfg.MaxBatchRows, 1), hasWaiting: len(b.queue) > 0,
	}
}

// QueueDelay returns the maximum queue delay in force (0: none) and the
// wait a request arriving now can expect (the metrics).
func (b *Batcher) QueueDelay() (target, expected time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.targetLocked(), b.cost.wait(b.stateLocked(b.now()))
}

// enqueue admits a job or fails at once when the queue is full or, when
// delay is set, its expected wait is above the target. The job must start
// within the target plus extra or it is answered ErrQueueSojourn.
func (b *Batcher) enqueue(j *job, delay bool, extra time.Duration) error {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return fmt.Errorf("server stopping: %w", flavors.ErrClosed)
	}
	now := b.now()
	if err := b.admitLocked(now, delay); err != nil {
		b.mu.Unlock()
		return err
	}
	j.enqueued = now
	if t := b.targetLocked(); t > 0 {
		j.late = now.Add(t + extra)
	}
	b.queue = append(b.queue, j)
	b.countLocked(j, 1)
	depth := len(b.queue)
	b.mu.Unlock()
	b.signal()
	if b.cfg.Observer != nil {
		b.cfg.Observer.Queued(depth)
	}
	return nil
}

// countLocked adds (sign 1) or removes (-1) a job from the queue's
// totals; b.mu is held.
func (b *Batcher) countLocked(j *job, sign int) {
	if j.solo {
		b.soloJobs += sign
		b.soloRows += sign * j.rows
	} else {
		b.mergeRows += sign * j.rows
	}
}

// stale reports whether a job dequeued at now is to be answered
// ErrQueueSojourn, and answers it if so; b.mu is held. As in CoDel, one job
// past its deadline is not enough (a GC pause or a preempted worker delays
// a few requests in a burst): jobs are refused only once jobs have been
// taken late for a whole sojournInterval. From then on serving them would
// only be late, and would make every request behind them later.
func (b *Batcher) stale(j *job, now time.Time) bool {
	if j.late.IsZero() || !now.After(j.late) {
		b.aboveSince = time.Time{}
		return false
	}
	if b.aboveSince.IsZero() {
		b.aboveSince = now
		return false
	}
	if now.Sub(b.aboveSince) < sojournInterval(b.targetLocked()) {
		return false
	}
	j.done <- result{err: ErrQueueSojourn}
	return true
}

// begin records a batch of rows starting now and returns its start and
// estimated duration, for finish.
func (b *Batcher) begin(rows int) (time.Time, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := b.now()
	est := b.cost.batch(rows)
	b.busy++
	b.endSum += start.Sub(b.epoch) + est
	return start, est
}

// finish records the end of a batch begun at start: the cost model learns
// its time and the observer is told.
func (b *Batcher) finish(batch []*job, rows int, start time.Time, est time.Duration) {
	b.mu.Lock()
	took := b.now().Sub(start)
	b.busy--
	b.endSum -= start.Sub(b.epoch) + est
	b.cost.observe(rows, took)
	b.mu.Unlock()
	if b.cfg.Observer == nil {
		return
	}
	waits := make([]time.Duration, len(batch))
	for i, j := range batch {
		if !j.enqueued.IsZero() {
			waits[i] = start.Sub(j.enqueued)
		}
	}
	b.cfg.Observer.Batch(len(batch), rows, waits, took)
}

// jobKey identifies requests that may share a Predict call: same columns
// (names, types, inner shapes) and equal params.
func jobKey(in columnar.Batch, params map[string]any) string {
	k := in.Schema().Fingerprint()
	if md := in.Schema().Metadata(); md.Len() > 0 {
		k += "\x00" + md.String() // the request form: DataFrame and tensor requests do not mix
	}
	if len(params) > 0 {
		k += "\x00" + string(pyjson.AppendValue(nil, params))
	}
	return k
}

// signal wakes one idle worker, if none is awake yet.
func (b *Batcher) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// work is one model instance: wait for queued jobs and a free instance,
// take the oldest job with every compatible one that fits, run them as one
// Predict call, split the result.
func (b *Batcher) work(ctx context.Context) {
	for {
		if b.QueueLen() == 0 {
			select {
			case <-ctx.Done():
				b.signal() // let the other workers see the end too
				return
			case <-b.wake:
			}
			continue
		}
		select {
		case b.slots <- struct{}{}:
		case <-ctx.Done():
			b.signal()
			return
		}
		batch, more := b.take()
		if more {
			b.signal() // pass the baton: another worker can take the rest
		}
		if len(batch) > 0 {
			if !batch[0].solo && b.cfg.MaxBatchDelay > 0 {
				batch = b.linger(ctx, batch)
			}
			b.run(batch)
		}
		<-b.slots
	}
}

// runInline runs a request on the caller's goroutine when the queue is
// empty and an instance is free: an idle model answers at once, without a
// hand-off to a worker goroutine (two thread wake-ups at low load). It
// reports false when the request must queue.
func (b *Batcher) runInline(ctx context.Context, in columnar.Batch, params map[string]any) (columnar.Batch, error, bool) {
	if b.cfg.MaxBatchDelay > 0 {
		return nil, nil, false // batches are meant to wait for company
	}
	b.mu.Lock()
	idle := len(b.queue) == 0 && !b.stopped
	b.mu.Unlock()
	if !idle {
		return nil, nil, false
	}
	select {
	case b.slots <- struct{}{}:
	default:
		return nil, nil, false
	}
	rows := int(in.NumRows())
	start, est := b.begin(rows)
	out, err := b.pred.Predict(ctx, in, params)
	b.finish([]*job{{}}, rows, start, est)
	<-b.slots
	if b.QueueLen() > 0 {
		b.signal() // requests queued while this one ran
	}
	return out, err, true
}

// take pops the oldest live job and, when it may merge, every queued job
// with the same key that still fits. Cancelled jobs are dropped here,
// before any compute is spent on them. more reports jobs left in the queue.
func (b *Batcher) take() (batch []*job, more bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	var first *job
	for first == nil && len(b.queue) > 0 {
		j := b.queue[0]
		b.queue[0] = nil
		b.queue = b.queue[1:]
		b.countLocked(j, -1)
		if j.ctx.Err() != nil {
			b.drop(j)
			continue
		}
		if b.stale(j, now) {
			continue
		}
		first = j
	}
	if first == nil {
		b.aboveSince = time.Time{} // the queue emptied
		return nil, false
	}
	batch = []*job{first}
	if !first.solo && !b.unsafe {
		batch = b.gather(batch, first.rows, now)
	}
	return batch, len(b.queue) > 0
}

// gather moves compatible queued jobs into batch, answering those that
// are gone or stale at now; b.mu is held.
func (b *Batcher) gather(batch []*job, rows int, now time.Time) []*job {
	first := batch[0]
	kept := b.queue[:0]
	for _, j := range b.queue {
		switch {
		case j.ctx.Err() != nil:
			b.countLocked(j, -1)
			b.drop(j)
		case !j.solo && j.key == first.key && b.stale(j, now):
			b.countLocked(j, -1)
		case !j.solo && j.key == first.key && rows+j.rows <= b.cfg.MaxBatchRows:
			b.countLocked(j, -1)
			batch = append(batch, j)
			rows += j.rows
		default:
			kept = append(kept, j)
		}
	}
	for i := len(kept); i < len(b.queue); i++ {
		b.queue[i] = nil
	}
	b.queue = kept
	return batch
}

// linger waits up to MaxBatchDelay for more compatible jobs, with one
// timer for the batch.
func (b *Batcher) linger(ctx context.Context, batch []*job) []*job {
	rows := 0
	for _, j := range batch {
		rows += j.rows
	}
	if rows >= b.cfg.MaxBatchRows {
		return batch
	}
	timer := time.NewTimer(b.cfg.MaxBatchDelay)
	defer timer.Stop()
	for rows < b.cfg.MaxBatchRows {
		select {
		case <-ctx.Done():
			return batch
		case <-timer.C:
			return batch
		case <-b.wake:
			b.mu.Lock()
			n := len(batch)
			batch = b.gather(batch, rows, b.now())
			left := len(b.queue) > 0
			b.mu.Unlock()
			for _, j := range batch[n:] {
				rows += j.rows
			}
			if left {
				// Jobs this batch cannot take: hand them to another worker
				// and stop waiting, so they are not held up behind the timer.
				b.signal()
				return batch
			}
		}
	}
	return batch
}

func (b *Batcher) drop(j *job) {
	j.done <- result{err: j.ctx.Err()}
	if b.cfg.Observer != nil {
		b.cfg.Observer.Dropped()
	}
}

// run executes one batch and delivers each job its rows.
func (b *Batcher) run(batch []*job) {
	if len(batch) == 1 {
		j := batch[0]
		start, est := b.begin(j.rows)
		out, err := b.pred.Predict(j.ctx, j.in, j.params)
		b.finish(batch, j.rows, start, est)
		j.done <- result{out, err}
		return
	}
	ins := make([]columnar.Batch, len(batch))
	total := 0
	for i, j := range batch {
		ins[i] = j.in
		total += j.rows
	}
	merged, err := columnar.Concat(b.mem, ins)
	if err != nil {
		b.runEach(batch)
		return
	}
	defer merged.Release()
	// The merged call outlives any single request: it stops only when every
	// request in it is gone.
	ctx, cancel := mergedContext(batch)
	defer cancel()
	start, est := b.begin(total)
	out, err := b.pred.Predict(ctx, merged, batch[0].params)
	b.finish(batch, total, start, est)
	if err != nil {
		if flavors.IsInputError(err) {
			// One request's data may have failed the whole batch: answer
			// each request on its own so only the bad one fails.
			b.runEach(batch)
			return
		}
		for _, j := range batch {
			j.done <- result{err: err}
		}
		return
	}
	defer out.Release()
	if out.NumRows() != int64(total) || !columnar.IsBatched(out) {
		b.mu.Lock()
		b.unsafe = true
		b.mu.Unlock()
		b.log.Warn("the model's outputs are not row-aligned with its inputs; merging requests is disabled", "rows_in", total, "rows_out", out.NumRows())
		b.runEach(batch)
		return
	}
	off := int64(0)
	for _, j := range batch {
		j.done <- result{out: out.NewSlice(off, off+int64(j.rows))}
		off += int64(j.rows)
	}
}

func (b *Batcher) runEach(batch []*job) {
	for _, j := range batch {
		if j.ctx.Err() != nil {
			b.drop(j)
			continue
		}
		start, est := b.begin(j.rows)
		out, err := b.pred.Predict(j.ctx, j.in, j.params)
		b.finish([]*job{j}, j.rows, start, est)
		j.done <- result{out, err}
	}
}

// mergedContext is done when every job's context is done, and carries the
// latest deadline among them.
func mergedContext(batch []*job) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	left := len(batch)
	stops := make([]func() bool, len(batch))
	for i, j := range batch {
		stops[i] = context.AfterFunc(j.ctx, func() {
			mu.Lock()
			left--
			last := left == 0
			mu.Unlock()
			if last {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, s := range stops {
			s()
		}
		cancel()
	}
}
