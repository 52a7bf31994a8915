package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is one target's latencies.
type result struct {
	name  string
	stats stats
}

type stats struct {
	p50, p90, p99, p999, max, mean time.Duration
	throughput                     float64       // measured requests per second of wall time
	serverCPU                      time.Duration // server process CPU per request (0: not measured)
	serverSwitches                 float64       // server thread switch-ins per request
}

// target is one thing measured: each worker gets a call from newWorker
// (and a cleanup); stop, if set, shuts the target down.
type target struct {
	name      string
	newWorker func() (call func() error, done func())
	stop      func() error
	// sched, if set, reports the CPU time and thread switches the target's
	// server process has used so far (all its threads).
	sched func() (procSched, error)
}

// measureAll warms every target up, then measures o.n calls per target in
// rounds: each round gives every target o.chunk calls in turn. Every call
// is timed; each target's throughput is its calls over the wall time of its
// own chunks.
func measureAll(ctx context.Context, targets []*target, o options) ([]result, error) {
	calls := make([][]func() error, len(targets))
	for i, t := range targets {
		calls[i] = make([]func() error, o.concurrency)
		for w := range calls[i] {
			call, done := t.newWorker()
			defer done()
			calls[i][w] = call
		}
	}
	for i, t := range targets {
		if _, _, err := phase(ctx, calls[i], o.warmup, false); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
	}
	lat := make([][]time.Duration, len(targets))
	wall := make([]time.Duration, len(targets))
	used := make([]procSched, len(targets))
	for done := 0; done < o.n; done += o.chunk {
		n := min(o.chunk, o.n-done)
		for i, t := range targets {
			var c0 procSched
			if t.sched != nil {
				var err error
				if c0, err = t.sched(); err != nil {
					return nil, fmt.Errorf("%s: %w", t.name, err)
				}
			}
			l, w, err := phase(ctx, calls[i], n, true)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			if t.sched != nil {
				c1, err := t.sched()
				if err != nil {
					return nil, fmt.Errorf("%s: %w", t.name, err)
				}
				used[i].cpu += c1.cpu - c0.cpu
				used[i].switches += c1.switches - c0.switches
			}
			lat[i], wall[i] = append(lat[i], l...), wall[i]+w
		}
	}
	out := make([]result, len(targets))
	for i, t := range targets {
		out[i] = result{name: t.name, stats: summarize(lat[i], wall[i])}
		if t.sched != nil {
			out[i].stats.serverCPU = used[i].cpu / time.Duration(len(lat[i]))
			out[i].stats.serverSwitches = float64(used[i].switches) / float64(len(lat[i]))
		}
	}
	return out, nil
}

// phase makes n calls; with record it returns each call's latency.
func phase(ctx context.Context, calls []func() error, n int, record bool) ([]time.Duration, time.Duration, error) {
	var next atomic.Int64
	per := make([][]time.Duration, len(calls))
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	start := time.Now()
	for w, call := range calls {
		if record {
			per[w] = make([]time.Duration, 0, n/len(calls)+1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				t0 := time.Now()
				if err := call(); err != nil {
					errs[w] = err
					next.Store(int64(n)) // stop the others
					return
				}
				if record {
					per[w] = append(per[w], time.Since(t0))
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return nil, 0, err
		}
	}
	var all []time.Duration
	for _, p := range per {
		all = append(all, p...)
	}
	return all, wall, nil
}

func summarize(lat []time.Duration, wall time.Duration) stats {
	slices.Sort(lat)
	// Nearest rank: the smallest value with at least q of the samples at
	// or below it.
	q := func(p float64) time.Duration {
		i := int(math.Ceil(float64(len(lat))*p)) - 1
		return lat[max(0, min(i, len(lat)-1))]
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return stats{
		p50: q(0.50), p90: q(0.90), p99: q(0.99), p999: q(0.999), max: lat[len(lat)-1],
		mean:       sum / time.Duration(len(lat)),
		throughput: float64(len(lat)) / wall.Seconds(),
	}
}
