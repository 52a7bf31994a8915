package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// writer is one logging client: it owns one run and writes a mix of
// log-metric, log-parameter, set-tag and small log-batch requests to it,
// one at a time, recording each outcome in its ledger.
type writer struct {
	id  int
	api *api
	rec *recorder
	led *ledger
	rng *rand.Rand
	seq int64 // write sequence number: step of metrics, suffix of params
	t0  int64 // timestamp base (ms)
	// failures are requests that got a 5xx other than 503 or an answer
	// the benchmark did not expect (any 4xx).
	failures []string
}

const (
	metricKeysPerRun = 8  // metric keys cycle, so histories grow
	tagKeysPerRun    = 12 // tag keys cycle, so tags are overwritten
)

func newWriter(id int, a *api, runID string, t0 int64) *writer {
	return &writer{id: id, api: a, rec: newRecorder(), led: newLedger(runID),
		rng: rand.New(rand.NewPCG(uint64(id), 42)), t0: t0}
}

func (w *writer) next() int64 { w.seq++; return w.seq }

func (w *writer) metric() metric {
	s := w.next()
	// The value encodes the client and the sequence, so every point of a
	// run is distinct and a misplaced one is recognisable.
	return metric{Key: "m" + strconv.FormatInt(s%metricKeysPerRun, 10), Value: float64(w.id*1_000_000) + float64(s) + 0.25,
		Timestamp: w.t0 + s, Step: s}
}

func (w *writer) param() kv {
	s := w.next()
	return kv{Key: "p" + strconv.FormatInt(s, 10), Value: fmt.Sprintf("c%d-v%d", w.id, s)}
}

func (w *writer) tag() kv {
	s := w.next()
	return kv{Key: "t" + strconv.FormatInt(s%tagKeysPerRun, 10), Value: fmt.Sprintf("c%d-v%d", w.id, s)}
}

// step sends one request of the mix: 40 % log-metric, 20 % log-parameter
// (one in four of them logs an earlier param again with the same value,
// which MLflow accepts), 20 % set-tag, 20 % log-batch of 10 metrics, 2
// params and 2 tags. It returns an error only for a transport failure (the
// server is gone); other failures are recorded in w.failures.
func (w *writer) step(ctx context.Context) error {
	// A write in flight is finished, not abandoned, when the run ends:
	// an abandoned one would have an unknown outcome.
	ctx = context.WithoutCancel(ctx)
	var ms []metric
	var ps, ts []kv
	var err error
	switch r := w.rng.IntN(10); {
	case r < 4:
		m := w.metric()
		ms = []metric{m}
		err = w.api.logMetric(ctx, w.rec, w.led.runID, m)
	case r < 6:
		p := w.param()
		if len(w.led.params) > 0 && w.rng.IntN(4) == 0 {
			// log an acknowledged param again, same value
			for k, v := range w.led.params {
				p = kv{k, v}
				break
			}
		}
		ps = []kv{p}
		err = w.api.logParam(ctx, w.rec, w.led.runID, p.Key, p.Value)
	case r < 8:
		t := w.tag()
		ts = []kv{t}
		err = w.api.setTag(ctx, w.rec, w.led.runID, t.Key, t.Value)
	default:
		for range 10 {
			ms = append(ms, w.metric())
		}
		ps = []kv{w.param(), w.param()}
		ts = []kv{w.tag(), w.tag()}
		err = w.api.logBatch(ctx, w.rec, "log-batch(small)", w.led.runID, ms, ps, ts)
	}
	switch {
	case err == nil:
		w.led.record(true, ms, ps, ts)
		return nil
	case definite(err):
		w.failures = append(w.failures, fmt.Sprintf("client %d: %v", w.id, err))
		return nil
	}
	// Unknown outcome: a 5xx (a failure) or the connection broke.
	w.led.record(false, ms, ps, ts)
	var he *httpError
	if errors.As(err, &he) {
		w.failures = append(w.failures, fmt.Sprintf("client %d: %v", w.id, err))
		return nil
	}
	return err
}

// loop writes until ctx ends or the server is unreachable; the error is
// the transport failure that stopped it (nil when ctx ended).
func (w *writer) loop(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := w.step(ctx); err != nil {
			return err
		}
	}
	return nil
}
