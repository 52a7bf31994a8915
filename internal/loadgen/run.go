package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Caller makes one request. status is the HTTP status, or 200 for a call
// that succeeded without HTTP (a direct Predict); err is a failure that
// produced no status (a refused connection, a Predict error).
type Caller func(ctx context.Context) (status int, err error)

// Options say how much load to offer.
type Options struct {
	// Concurrency is the number of workers: closed-loop clients, each
	// sending its next request when the previous one is answered; with Rate,
	// the most requests outstanding at once.
	Concurrency int
	// Duration bounds the measured phase; 0 means until Requests are done.
	Duration time.Duration
	// Requests bounds the measured phase by count; 0 means until Duration
	// has passed. With both, whichever comes first.
	Requests int64
	// Warmup runs the same load for this long first, unrecorded: it fills
	// connection pools and caches, and lets the batcher settle.
	Warmup time.Duration
	// Rate, when positive, makes the load open-loop: requests arrive at this
	// many per second whether or not earlier ones were answered, each sent
	// by a free worker (Concurrency is then the most outstanding; an arrival
	// finding none free is not sent and counts as Skipped). Latency is
	// measured from each request's scheduled arrival.
	Rate float64
}

func (o Options) validate() error {
	switch {
	case o.Concurrency < 1:
		return fmt.Errorf("concurrency must be at least 1, not %d", o.Concurrency)
	case o.Duration <= 0 && o.Requests <= 0:
		return errors.New("a duration or a request count is needed")
	case o.Duration < 0 || o.Requests < 0 || o.Warmup < 0 || o.Rate < 0:
		return errors.New("duration, requests, warm-up and rate may not be negative")
	}
	return nil
}

// Result is what one measured phase saw.
type Result struct {
	Concurrency int
	Rate        float64 // offered arrivals per second (0: closed loop)
	// Requests were answered or failed; OK of them with status 200.
	Requests, OK int64
	// Errors counts the others by HTTP status ("503") or "transport".
	Errors map[string]int64
	// FirstError describes one failure, for the report.
	FirstError string
	// Skipped counts open-loop arrivals that found every worker busy.
	Skipped int64
	Elapsed time.Duration
	// Latency is over successful requests; Failed over the others.
	Latency, Failed Histogram
}

// Throughput is successful requests per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// ErrorCount is the number of failed requests.
func (r *Result) ErrorCount() int64 { return r.Requests - r.OK }

// ErrorSummary lists the error counts as "503: 12, transport: 1".
func (r *Result) ErrorSummary() string {
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += k + ": " + strconv.FormatInt(r.Errors[k], 10)
	}
	return s
}

// tally is what a group of workers recorded, merged into the Result at
// the end. Workers share a few tallies rather than having one each: a
// Histogram is 58 KiB, and open-loop runs use thousands of workers.
type tally struct {
	mu          sync.Mutex
	lat, failed Histogram
	ok, n       int64
	errors      map[string]int64
	firstErr    string
}

// tallies is how many a phase uses: enough that workers on different
// CPUs rarely wait for one another's lock.
const tallies = 16

func (w *tally) record(status int, err error, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if err == nil && status == 200 {
		w.ok++
		w.lat.Record(d)
		return
	}
	w.failed.Record(d)
	key := "transport"
	if err == nil {
		key = strconv.Itoa(status)
	}
	if w.errors == nil {
		w.errors = map[string]int64{}
	}
	w.errors[key]++
	if w.firstErr == "" {
		if err != nil {
			w.firstErr = err.Error()
		} else {
			w.firstErr = "status " + key
		}
	}
}

// Run offers load through call as opts say: first the warm-up, then the
// measured phase. Requests in flight when the time is up are waited for
// and counted. It stops early, with ctx's error, when ctx ends; calls get
// ctx, so they are cancelled then too.
func Run(ctx context.Context, opts Options, call Caller) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Warmup > 0 {
		w := opts
		w.Duration, w.Requests = opts.Warmup, 0
		if _, err := phase(ctx, w, call); err != nil {
			return nil, err
		}
	}
	return phase(ctx, opts, call)
}

func phase(ctx context.Context, opts Options, call Caller) (*Result, error) {
	shared := make([]tally, min(opts.Concurrency, tallies))
	workers := make([]*tally, opts.Concurrency) // worker i records into workers[i]
	for i := range workers {
		workers[i] = &shared[i%len(shared)]
	}
	var skipped atomic.Int64
	start := time.Now()
	if opts.Rate > 0 {
		skipped.Store(openLoop(ctx, opts, call, workers, start))
	} else {
		closedLoop(ctx, opts, call, workers, start)
	}
	res := &Result{Concurrency: opts.Concurrency, Rate: opts.Rate, Elapsed: time.Since(start), Skipped: skipped.Load(), Errors: map[string]int64{}}
	for i := range shared {
		w := &shared[i]
		res.Requests += w.n
		res.OK += w.ok
		res.Latency.Merge(&w.lat)
		res.Failed.Merge(&w.failed)
		for k, v := range w.errors {
			res.Errors[k] += v
		}
		if res.FirstError == "" {
			res.FirstError = w.firstErr
		}
	}
	return res, ctx.Err()
}

// closedLoop runs one goroutine per worker, each sending its next request
// as soon as the last is answered, until the deadline or the request
// budget.
func closedLoop(ctx context.Context, opts Options, call Caller, workers []*tally, start time.Time) {
	deadline := start.Add(opts.Duration)
	var issued atomic.Int64
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if opts.Requests > 0 && issued.Add(1) > opts.Requests {
					return
				}
				t0 := time.Now()
				if opts.Duration > 0 && !t0.Before(deadline) {
					return
				}
				status, err := call(ctx)
				w.record(status, err, time.Since(t0))
			}
		}()
	}
	wg.Wait()
}

// openLoop schedules arrivals at opts.Rate and hands each to a free
// worker; an arrival that finds every worker busy is not sent (counted as
// skipped), so no arrival waits on the client side and the latency of
// those sent is the server's. Arrivals are released in steps of about
// 100 µs (the timer resolution worth relying on), each timed from its own
// scheduled moment.
func openLoop(ctx context.Context, opts Options, call Caller, workers []*tally, start time.Time) int64 {
	// free counts idle workers; only this goroutine takes from it, so a
	// positive count guarantees a worker will receive the arrival at once.
	var free atomic.Int64
	free.Store(int64(len(workers)))
	arrivals := make(chan time.Time, len(workers)) // never full: at most one per free worker
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for at := range arrivals {
				if ctx.Err() == nil {
					status, err := call(ctx)
					w.record(status, err, time.Since(at))
				}
				free.Add(1)
			}
		}()
	}
	interval := time.Duration(float64(time.Second) / opts.Rate)
	var sent, skipped int64
	for ctx.Err() == nil {
		now := time.Now()
		elapsed := now.Sub(start)
		if opts.Duration > 0 && elapsed >= opts.Duration {
			break
		}
		// Arrival k is due at k*interval: k = 0 goes at once.
		due := int64(elapsed/interval) + 1
		if opts.Requests > 0 {
			due = min(due, opts.Requests)
		}
		for ; sent < due; sent++ {
			if free.Load() == 0 {
				skipped++
				continue
			}
			free.Add(-1)
			arrivals <- start.Add(time.Duration(sent) * interval)
		}
		if opts.Requests > 0 && sent >= opts.Requests {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	close(arrivals)
	wg.Wait()
	return skipped
}
