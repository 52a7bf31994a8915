package main

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// recorder collects latencies per operation name. One recorder per worker
// goroutine keeps the hot path free of shared locks; merge combines them.
type recorder struct {
	mu  sync.Mutex
	ops map[string][]time.Duration
}

func newRecorder() *recorder { return &recorder{ops: map[string][]time.Duration{}} }

func (r *recorder) add(op string, d time.Duration) {
	r.mu.Lock()
	r.ops[op] = append(r.ops[op], d)
	r.mu.Unlock()
}

func (r *recorder) merge(o *recorder) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	for op, ds := range o.ops {
		r.ops[op] = append(r.ops[op], ds...)
	}
}

func (r *recorder) count(op string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops[op])
}

func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for op := range r.ops {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

// summary is the distribution of one operation's latencies.
type summary struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

func (r *recorder) summary(op string) summary {
	r.mu.Lock()
	ds := slices.Clone(r.ops[op])
	r.mu.Unlock()
	return summarize(ds)
}

func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	slices.Sort(ds)
	return summary{N: len(ds), P50: quantile(ds, 0.50), P90: quantile(ds, 0.90), P99: quantile(ds, 0.99), Max: ds[len(ds)-1]}
}

// quantile is the nearest-rank quantile of sorted ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(ds))+0.999999) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// ms renders a duration in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
