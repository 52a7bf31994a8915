package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// nearestRank is the reference the histogram approximates: the smallest
// sample with at least a fraction q of the samples at or below it.
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func TestHistogramQuantilesMatchSortedReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		gen  func() time.Duration
		n    int
	}{
		// Below 256 ns every value has its own bucket: quantiles are exact.
		{"small exact", func() time.Duration { return time.Duration(rng.IntN(256)) }, 10_000},
		// Server latencies: lognormal around 300 µs, tails into tens of ms.
		{"lognormal", func() time.Duration { return time.Duration(math.Exp(rng.NormFloat64()*1.2 + math.Log(300e3))) }, 200_000},
		// Two modes far apart (fast 503s and slow successes).
		{"bimodal", func() time.Duration {
			if rng.IntN(10) == 0 {
				return time.Duration(20e3 + rng.IntN(5e3))
			}
			return time.Duration(5e6 + rng.IntN(2e6))
		}, 50_000},
		// Seconds to minutes: the top of the range.
		{"long", func() time.Duration { return time.Duration(rng.Int64N(int64(10 * time.Minute))) }, 20_000},
		{"single", func() time.Duration { return 1234567 }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			samples := make([]time.Duration, tc.n)
			var sum float64
			for i := range samples {
				samples[i] = tc.gen()
				sum += float64(samples[i])
				h.Record(samples[i])
			}
			slices.Sort(samples)
			if h.Count() != uint64(tc.n) {
				t.Fatalf("Count = %d, want %d", h.Count(), tc.n)
			}
			if h.Min() != samples[0] || h.Max() != samples[len(samples)-1] {
				t.Errorf("Min, Max = %v, %v; want %v, %v", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
			}
			if want := time.Duration(math.Round(sum / float64(tc.n))); h.Mean() != want {
				t.Errorf("Mean = %v, want %v", h.Mean(), want)
			}
			for _, q := range []float64{0, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
				got, want := h.Quantile(q), nearestRank(samples, q)
				// Half a bucket: 1/256 of the value, exact below 256 ns.
				tol := float64(want) / 256
				if want < 256 {
					tol = 0
				}
				if math.Abs(float64(got-want)) > tol {
					t.Errorf("Quantile(%v) = %v, want %v ± %.0f ns", q, got, want, tol)
				}
			}
		})
	}
}

// TestBuckets checks the bucket layout itself: contiguous, monotonic, in
// range, and each value within half a bucket of its bucket's middle.
func TestBuckets(t *testing.T) {
	prev := -1
	check := func(v int64) {
		t.Helper()
		b := bucketOf(v)
		if b < prev || b >= nBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d (of %d)", v, b, prev, nBuckets)
		}
		prev = b
		mid := bucketMid(b)
		if v < 256 && mid != v {
			t.Fatalf("bucketMid(bucketOf(%d)) = %d, want exact", v, mid)
		}
		if err := math.Abs(float64(mid-v)) / float64(v); v >= 256 && err > 1.0/256 {
			t.Fatalf("value %d reported as %d: error %.5f > 1/256", v, mid, err)
		}
	}
	for v := int64(0); v < 1<<16; v++ {
		check(v)
	}
	for shift := 16; shift < 63; shift++ {
		base := int64(1) << shift
		for _, v := range []int64{base - 1, base, base + 1, base + base/3, base + base/2} {
			prev = bucketOf(v) - 1 // these are spot checks, not a scan
			check(v)
		}
	}
	if b := bucketOf(math.MaxInt64); b != nBuckets-1 {
		t.Errorf("bucketOf(MaxInt64) = %d, want the last bucket %d", b, nBuckets-1)
	}
}

func TestHistogramMergeEqualsRecordingTogether(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var a, b, all Histogram
	for i := 0; i < 10_000; i++ {
		d := time.Duration(rng.Int64N(int64(50 * time.Millisecond)))
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var merged Histogram
	merged.Merge(&a)
	merged.Merge(&b)
	merged.Merge(&Histogram{}) // empty: no effect
	for _, q := range []float64{0, .5, .9, .99, 1} {
		if merged.Quantile(q) != all.Quantile(q) {
			t.Errorf("Quantile(%v): merged %v, together %v", q, merged.Quantile(q), all.Quantile(q))
		}
	}
	if merged.Count() != all.Count() || merged.Mean() != all.Mean() || merged.Min() != all.Min() || merged.Max() != all.Max() {
		t.Errorf("merged count/mean/min/max %d/%v/%v/%v, together %d/%v/%v/%v",
			merged.Count(), merged.Mean(), merged.Min(), merged.Max(), all.Count(), all.Mean(), all.Min(), all.Max())
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	var h Histogram
	if h.Quantile(.5) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Errorf("empty histogram: p50 %v, mean %v, max %v; want zeros", h.Quantile(.5), h.Mean(), h.Max())
	}
	h.Record(-5) // a clock step backwards: counted as 0, not a panic
	h.Record(10)
	if h.Min() != 0 || h.Quantile(1) != 10 {
		t.Errorf("min %v, max quantile %v; want 0 and 10ns", h.Min(), h.Quantile(1))
	}
}
