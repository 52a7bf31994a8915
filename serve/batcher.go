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
	// MaxQueue is how many requests may wait; beyond it, ErrQueueFull.
	MaxQueue int
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

	mu      sync.Mutex
	queue   []*job
	stopped bool // Run has returned: no more jobs are taken
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
	return &Batcher{pred: p, cfg: cfg, log: log, mem: mem, wake: make(chan struct{}, 1), started: make(chan struct{}), slots: make(chan struct{}, cfg.Instances)}
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
		enqueued: time.Now(), done: make(chan result, 1)}
	if !j.solo {
		j.key = jobKey(in, params)
	}
	if err := b.enqueue(j); err != nil {
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
	for off := int64(0); off < in.NumRows(); off += max {
		end := min(off+max, in.NumRows())
		part := in.NewSlice(off, end)
		defer part.Release()
		j := &job{ctx: ctx, in: part, params: params, rows: int(end - off), key: key, enqueued: time.Now(), done: make(chan result, 1)}
		if err := b.enqueue(j); err != nil {
			for _, q := range jobs {
				b.abandon(q)
			}
			return nil, err
		}
		jobs = append(jobs, j)
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

// Full reports whether the queue is full now. Handlers ask before reading
// a request body, so that under overload a refusal costs no reading and no
// parsing: the work a refused request does is what accepted ones wait for.
func (b *Batcher) Full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue) >= b.cfg.MaxQueue
}

// enqueue admits a job or fails at once when the queue is full.
func (b *Batcher) enqueue(j *job) error {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return fmt.Errorf("server stopping: %w", flavors.ErrClosed)
	}
	if len(b.queue) >= b.cfg.MaxQueue {
		b.mu.Unlock()
		return ErrQueueFull
	}
	b.queue = append(b.queue, j)
	depth := len(b.queue)
	b.mu.Unlock()
	b.signal()
	if b.cfg.Observer != nil {
		b.cfg.Observer.Queued(depth)
	}
	return nil
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
	start := time.Now()
	out, err := b.pred.Predict(ctx, in, params)
	if b.cfg.Observer != nil {
		b.cfg.Observer.Batch(1, int(in.NumRows()), []time.Duration{0}, time.Since(start))
	}
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
	var first *job
	for first == nil && len(b.queue) > 0 {
		j := b.queue[0]
		b.queue[0] = nil
		b.queue = b.queue[1:]
		if j.ctx.Err() != nil {
			b.drop(j)
			continue
		}
		first = j
	}
	if first == nil {
		return nil, false
	}
	batch = []*job{first}
	if !first.solo && !b.unsafe {
		batch = b.gather(batch, first.rows)
	}
	return batch, len(b.queue) > 0
}

// gather moves compatible queued jobs into batch; b.mu is held.
func (b *Batcher) gather(batch []*job, rows int) []*job {
	first := batch[0]
	kept := b.queue[:0]
	for _, j := range b.queue {
		switch {
		case j.ctx.Err() != nil:
			b.drop(j)
		case !j.solo && j.key == first.key && rows+j.rows <= b.cfg.MaxBatchRows:
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
			batch = b.gather(batch, rows)
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
		start := time.Now()
		out, err := b.pred.Predict(j.ctx, j.in, j.params)
		b.observe(batch, start)
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
	start := time.Now()
	out, err := b.pred.Predict(ctx, merged, batch[0].params)
	b.observe(batch, start)
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
		start := time.Now()
		out, err := b.pred.Predict(j.ctx, j.in, j.params)
		b.observe([]*job{j}, start)
		j.done <- result{out, err}
	}
}

func (b *Batcher) observe(batch []*job, start time.Time) {
	if b.cfg.Observer == nil {
		return
	}
	waits := make([]time.Duration, len(batch))
	rows := 0
	for i, j := range batch {
		waits[i] = start.Sub(j.enqueued)
		rows += j.rows
	}
	b.cfg.Observer.Batch(len(batch), rows, waits, time.Since(start))
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
