package serve

import (
	"errors"
	"fmt"
	"time"
)

// Queue-delay admission (CoDel's idea, as in Envoy's adaptive concurrency
// filter): a request is admitted only if the wait it can expect in the
// queue is below a target, and a queued request that has already waited
// longer than its target when a worker reaches it is answered 503 instead
// of being served late. A bound on the queue's length alone does not bound
// latency: 256 queued one-row requests are 0.3 ms of work for one model and
// seconds for another.

// ErrQueueDelay is returned at once when the expected wait in the queue is
// above the maximum queue delay; the server answers 503 with Retry-After.
var ErrQueueDelay = errors.New("the server is overloaded: the expected wait in the request queue is above the maximum queue delay")

// ErrQueueSojourn answers a request that waited in the queue longer than
// the maximum queue delay: by then serving it would only make it late and
// the requests behind it later.
var ErrQueueSojourn = errors.New("the server is overloaded: the request waited in the queue longer than the maximum queue delay")

// AutoQueueDelay as BatchConfig.MaxQueueDelay derives the target from the
// model's measured batch time (see autoDelay).
const AutoQueueDelay time.Duration = -1

// Auto target: autoDelayFactor × the mean batch time, at least
// minAutoDelay, plus MaxBatchDelay (a batch's intended wait).
//
// The factor comes from the target the issue sets: accepted requests
// within 5× the unloaded latency. Unloaded, a request costs one batch;
// waiting at most four more keeps it within five. The floor is twice
// CoDel's default target (RFC 8289, 5 ms): below ~10 ms the Go scheduler,
// GC pauses and a busy machine make model calls' wall time, and so the
// estimate, noisier than the target. Measured on a shared 2-vCPU machine
// with a 5 ms floor, 8 clients in a closed loop on a 0.6 ms model (100 %
// busy, not overloaded) had from 0.5 % to a third of their requests
// refused (docs/performance.md, Overload).
const (
	autoDelayFactor = 4
	minAutoDelay    = 10 * time.Millisecond
)

// sojournInterval is how long queued jobs must keep being taken past
// their deadline before they are refused: CoDel's default interval
// (RFC 8289: 100 ms, about a worst-case round trip), and at least two
// targets for slow models, so that one slow batch alone does not start it.
func sojournInterval(target time.Duration) time.Duration {
	return max(100*time.Millisecond, 2*target)
}

// overloadReason is the metrics reason for an overload refusal by the
// batcher, or "" when err is not one.
func overloadReason(err error) string {
	switch {
	case errors.Is(err, ErrQueueFull):
		return "queue_full"
	case errors.Is(err, ErrQueueDelay):
		return "queue_delay"
	case errors.Is(err, ErrQueueSojourn):
		return "queue_sojourn"
	}
	return ""
}

// costDecay is the weight the past keeps at each new batch: an
// exponentially weighted memory of about 1/(1−costDecay) = 20 batches,
// long enough to average out a GC pause, short enough to follow a change
// of load within milliseconds.
const costDecay = 0.95

// costModel estimates a batch's compute time as fixed + perRow × rows by
// exponentially weighted least squares over the batches seen: merging
// makes rows cheaper in a batch than alone, and the queue holds rows, so
// both parts matter. The zero value knows nothing and estimates zero.
type costModel struct {
	w, sx, sy, sxx, sxy float64 // decayed sums of 1, rows, seconds, rows², rows·seconds
}

// observe adds one batch of rows that took d.
func (m *costModel) observe(rows int, d time.Duration) {
	x, y := float64(rows), d.Seconds()
	m.w = m.w*costDecay + 1
	m.sx = m.sx*costDecay + x
	m.sy = m.sy*costDecay + y
	m.sxx = m.sxx*costDecay + x*x
	m.sxy = m.sxy*costDecay + x*y
}

// coef returns the fitted fixed cost per batch and cost per row, in
// seconds, both ≥ 0. When the batches seen all had the same size (an idle
// model runs one request at a time) the two cannot be told apart and the
// whole mean time is taken as fixed: that underestimates a queue of rows
// that will merge less than it overestimates it, and requests admitted on
// an underestimate are still bounded by the sojourn check.
func (m *costModel) coef() (fixed, perRow float64) {
	if m.w == 0 {
		return 0, 0
	}
	mx, my := m.sx/m.w, m.sy/m.w
	vx := m.sxx/m.w - mx*mx
	if vx > 1e-6*(1+mx*mx) {
		b := (m.sxy/m.w - mx*my) / vx
		if b > 0 {
			if a := my - b*mx; a >= 0 {
				return a, b
			}
			if mx > 0 {
				return 0, my / mx // a fit through the origin
			}
		}
	}
	return my, 0
}

// mean is the weighted mean batch time.
func (m *costModel) mean() time.Duration {
	if m.w == 0 {
		return 0
	}
	return seconds(m.sy / m.w)
}

// batch estimates one batch of rows.
func (m *costModel) batch(rows int) time.Duration {
	a, b := m.coef()
	return seconds(a + b*float64(rows))
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// queueState is what the wait of a new request depends on.
type queueState struct {
	mergeRows  int           // rows of queued requests that may merge
	soloJobs   int           // queued requests that run alone
	soloRows   int           // their rows
	busy       int           // model instances running a batch
	remaining  time.Duration // estimated compute left in the running batches, summed
	instances  int
	maxRows    int // rows per merged batch
	hasWaiting bool
}

// wait estimates how long a request arriving now waits before its batch
// starts: the work ahead of it (the rest of the running batches and every
// queued batch) shared among the instances. Queued rows that may merge are
// counted as full batches of maxRows, which is how workers take them.
func (m *costModel) wait(q queueState) time.Duration {
	if q.busy < q.instances && !q.hasWaiting {
		return 0 // an instance is free: the request runs now
	}
	a, b := m.coef()
	batches := q.soloJobs
	if q.mergeRows > 0 {
		batches += (q.mergeRows + q.maxRows - 1) / q.maxRows
	}
	work := seconds(float64(batches)*a+float64(q.mergeRows+q.soloRows)*b) + max(q.remaining, 0)
	return work / time.Duration(max(q.instances, 1))
}

// ParseQueueDelay reads --max-queue-delay: "auto" (AutoQueueDelay), "0"
// (off) or a positive duration.
func ParseQueueDelay(s string) (time.Duration, error) {
	if s == "auto" {
		return AutoQueueDelay, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("the maximum queue delay must be auto, 0 or a positive duration such as 20ms, not %q", s)
	}
	return d, nil
}
