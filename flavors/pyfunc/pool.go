package pyfunc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/mlmodel"
)

// spec is how to start a worker.
type spec struct {
	unnamedTensor *mlmodel.TensorSpec // the signature's single unnamed tensor input
	python        string
	script        string
	modelDir      string
	config        []byte // JSON for the worker: the flavor blocks and options
	env           []string
}

// pool is a fixed number of worker slots. Each slot holds a live worker or
// is being refilled by the supervisor after a death, with backoff.
type pool struct {
	spec    *spec
	size    int
	timeout time.Duration // model load timeout per worker
	log     *slog.Logger

	idle chan *worker // live workers ready for a request
	dead chan int     // slots whose worker is gone, for the supervisor

	mu        sync.Mutex
	workers   map[int]*worker // live workers by slot
	failures  int             // consecutive start failures
	lastErr   error           // the latest start failure
	closed    bool
	stopSuper context.CancelFunc
	superDone chan struct{}
	inflight  sync.WaitGroup
}

// crashLoop is how many consecutive failed starts make the model unhealthy.
const crashLoop = 3

var (
	_ flavors.Predictor     = (*pool)(nil)
	_ flavors.HealthChecker = (*pool)(nil)
	_ flavors.Concurrent    = (*pool)(nil)
)

// Concurrency is the number of workers: requests beyond it queue.
func (p *pool) Concurrency() int { return p.size }

func newPool(ctx context.Context, s *spec, size int, timeout time.Duration, log *slog.Logger) (*pool, error) {
	p := &pool{spec: s, size: size, timeout: timeout, log: log,
		idle: make(chan *worker, size), dead: make(chan int, size), workers: map[int]*worker{}}
	// Start every worker in parallel; the first failure fails the load.
	type started struct {
		w   *worker
		err error
	}
	res := make(chan started, size)
	for i := 0; i < size; i++ {
		go func(i int) {
			w, err := startWorker(ctx, i, s, timeout, log)
			res <- started{w, err}
		}(i)
	}
	var firstErr error
	for i := 0; i < size; i++ {
		r := <-res
		if r.err != nil {
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		p.workers[r.w.id] = r.w
	}
	if firstErr != nil {
		for _, w := range p.workers {
			w.kill("load failed elsewhere")
			<-w.done
		}
		return nil, firstErr
	}
	sctx, cancel := context.WithCancel(context.Background())
	p.stopSuper, p.superDone = cancel, make(chan struct{})
	for _, w := range p.workers {
		p.watch(w)
		p.idle <- w
	}
	go p.supervise(sctx)
	return p, nil
}

// watch reports a worker's death to the supervisor.
func (p *pool) watch(w *worker) {
	go func() {
		<-w.done
		p.mu.Lock()
		closed := p.closed
		if p.workers[w.id] == w {
			delete(p.workers, w.id)
		}
		p.mu.Unlock()
		if !closed {
			p.log.Warn("python worker exited", "worker", w.id, "how", w.exitText())
			p.dead <- w.id
		}
	}()
}

// supervise refills dead slots, backing off while starts keep failing.
func (p *pool) supervise(ctx context.Context) {
	defer close(p.superDone)
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-p.dead:
			for {
				w, err := startWorker(ctx, id, p.spec, p.timeout, p.log)
				if ctx.Err() != nil {
					if w != nil {
						w.kill("pool closed")
					}
					return
				}
				p.mu.Lock()
				if err != nil {
					p.failures++
					p.lastErr = err
					p.mu.Unlock()
					p.log.Error("python worker failed to start", "worker", id, "error", err, "retry_in", backoff.String())
					select {
					case <-ctx.Done():
						return
					case <-time.After(backoff):
					}
					backoff = min(2*backoff, 10*time.Second)
					continue
				}
				p.failures, p.lastErr = 0, nil
				p.workers[id] = w
				p.mu.Unlock()
				backoff = 100 * time.Millisecond
				p.watch(w)
				p.idle <- w
				break
			}
		}
	}
}

// Check reports the pool unhealthy when no worker is alive and starts keep
// failing (a crash loop), with the reason.
func (p *pool) Check(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return flavors.ErrClosed
	}
	if len(p.workers) == 0 && p.failures >= crashLoop {
		return fmt.Errorf("python workers are crash-looping (%d failed starts): %w", p.failures, p.lastErr)
	}
	if len(p.workers) == 0 {
		return errors.New("no python worker is running (restarting)")
	}
	return nil
}

// Predict sends the batch to an idle worker and waits for its answer. A
// worker that dies or misses the deadline is killed and replaced; the
// request then fails with ErrUnavailable or the context's error.
func (p *pool) Predict(ctx context.Context, in columnar.Batch, params map[string]any) (columnar.Batch, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, flavors.ErrClosed
	}
	p.inflight.Add(1)
	p.mu.Unlock()
	defer p.inflight.Done()

	cols, bufs, err := encodeBatch(in)
	if err != nil {
		return nil, flavors.BadInput("%v", err)
	}
	meta := predictMeta{Form: formOf(in), Params: params, Rows: in.NumRows(), Columns: cols}
	if t := p.spec.unnamedTensor; t != nil && meta.Form == "tensor" && len(cols) > 1 {
		// A table for a model whose signature is one unnamed tensor: MLflow
		// hands the model DataFrame.to_numpy() cast to the tensor's dtype.
		meta.Stack = t.DType
	}
	var w *worker
	for w == nil {
		select {
		case w = <-p.idle:
			if !w.alive() {
				w = nil // died while idle; the supervisor replaces it
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f, err := p.roundTrip(ctx, w, meta, bufs)
	if err != nil {
		return nil, err
	}
	p.idle <- w
	switch f.kind {
	case frameResult:
		out, err := decodeResult(f)
		if err != nil {
			return nil, fmt.Errorf("reading the python worker's answer: %w", err)
		}
		return out, nil
	case frameError:
		var me struct {
			Code       string `json:"error_code"`
			Message    string `json:"message"`
			StackTrace string `json:"stack_trace"`
		}
		if err := json.Unmarshal(f.meta, &me); err != nil {
			return nil, fmt.Errorf("bad error from the python worker: %w", err)
		}
		return nil, &flavors.ModelError{Code: me.Code, Message: me.Message, StackTrace: me.StackTrace}
	}
	return nil, fmt.Errorf("unexpected frame %d from the python worker", f.kind)
}

// roundTrip writes the request and reads the answer. The context's end
// kills the worker, which unblocks the pipe; the worker is not returned to
// the idle set then (nor after any failure).
func (p *pool) roundTrip(ctx context.Context, w *worker, meta predictMeta, bufs [][]byte) (*frame, error) {
	stop := context.AfterFunc(ctx, func() { w.kill("request deadline or cancellation") })
	f, err := func() (*frame, error) {
		if err := writeFrame(w.in, framePredict, meta, bufs); err != nil {
			return nil, err
		}
		return readFrame(w.out)
	}()
	if !stop() || ctx.Err() != nil {
		<-w.done
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("the model did not answer in time; its python worker was killed and is being replaced: %w", ctx.Err())
		}
		return nil, ctx.Err()
	}
	if err != nil {
		w.kill("protocol error")
		<-w.done
		return nil, fmt.Errorf("%w: the python worker died while predicting (%s)%s", flavors.ErrUnavailable, w.exitText(), w.tail.suffix())
	}
	return f, nil
}

// Close stops the workers: running requests finish first, then each
// worker's stdin closes and it exits (killed after a grace period).
func (p *pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.inflight.Wait()
	p.stopSuper()
	<-p.superDone
	p.mu.Lock()
	ws := make([]*worker, 0, len(p.workers))
	for _, w := range p.workers {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			w.stop(5 * time.Second)
		}(w)
	}
	wg.Wait()
	return nil
}
