package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: every power-of-two range is cut
// into 2^subBits equal buckets, so a recorded value is reported within
// 1/2^(subBits+1) of itself (0.4 %), and values below 2^(subBits+1) ns are
// exact. That is HdrHistogram's layout with 2–3 significant digits, which
// is finer than run-to-run noise of any latency measured over a network.
const (
	subBits  = 7
	subCount = 1 << subBits
	// nBuckets covers every non-negative int64: 2*subCount exact buckets,
	// then subCount buckets for each of the 55 higher powers of two.
	nBuckets = 2*subCount + (63-subBits-1)*subCount
)

// Histogram records durations in constant memory (58 KiB) and reports
// quantiles with a relative error below 0.4 %. Min, max and the mean are
// exact. The zero value is empty and ready to use; it is not safe for
// concurrent use (give each worker its own and Merge them).
type Histogram struct {
	counts   []uint64 // allocated on first Record
	n        uint64
	sum      float64 // nanoseconds; float64 so long runs cannot overflow
	min, max int64
}

// bucketOf maps a value in nanoseconds to its bucket.
func bucketOf(v int64) int {
	if v < 2*subCount {
		return int(v)
	}
	// Shift v so its top subBits+1 bits remain: top is in [subCount, 2*subCount).
	shift := bits.Len64(uint64(v)) - (subBits + 1)
	top := int(v >> shift)
	return 2*subCount + (shift-1)*subCount + (top - subCount)
}

// bucketMid is the middle of bucket i's range, the value reported for it.
func bucketMid(i int) int64 {
	if i < 2*subCount {
		return int64(i)
	}
	k := i - 2*subCount
	shift := k/subCount + 1
	low := int64(k%subCount+subCount) << shift
	return low + (int64(1)<<shift)/2
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	if h.counts == nil {
		h.counts = make([]uint64, nBuckets)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, nBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max are the smallest and largest values recorded (0 when empty).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max is the largest value recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the exact mean (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.n)))
}

// Quantile returns the nearest-rank q-quantile: the smallest recorded value
// with at least a fraction q of the values at or below it, to within the
// histogram's precision. q is clamped to [0, 1]; an empty histogram gives 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(min(max(q, 0), 1) * float64(h.n)))
	if rank <= 1 {
		return time.Duration(h.min)
	}
	if rank >= h.n {
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			// The bucket's middle, kept inside what was actually recorded.
			return time.Duration(min(max(bucketMid(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
