package predict

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/serve/scoring"
)

// badRow is a row the model could not score and why.
type badRow struct {
	at     int // index in the chunk
	reason string
}

// score decodes and predicts one chunk. Bad rows are found only when
// something fails: a chunk that decodes and predicts in one go costs one
// Predict call. When it fails for its data, rows are decoded one by one
// and the predictions bisected until the bad rows are isolated; with
// --on-error fail the first of them stops the run with its location.
func (r *runner) score(ctx context.Context, j job) *result {
	res := &result{job: j}
	if j.src == nil {
		return res
	}
	n := j.src.Len()
	var bad []badRow
	good := make([]int, 0, n)
	for i := range n {
		if reason, ok := j.src.unreadable()[i]; ok {
			bad = append(bad, badRow{i, reason})
			continue
		}
		good = append(good, i)
	}
	all := good
	if len(bad) == 0 {
		all = nil // every row: no index needed
	}
	var req *scoring.Request
	if len(good) > 0 {
		var err error
		req, err = j.src.decode(r.dec, all)
		if err != nil {
			if !isDataError(err) {
				res.err = r.located(j, -1, err)
				return res
			}
			if r.structural(j, good) {
				res.err = fmt.Errorf("%s: %w", j.in.name(), err)
				return res
			}
			// Find the rows that do not decode.
			var still []int
			for k, i := range good {
				one, err := j.src.decode(r.dec, []int{i})
				if err != nil {
					if r.opts.OnError == OnErrorFail {
						// The first bad row may come before this one
						// and be bad for the model: score those first.
						res.err = r.firstFailure(ctx, j, good[:k])
						if res.err == nil {
							res.err = r.located(j, i, err)
						}
						return res
					}
					bad = append(bad, badRow{i, err.Error()})
					continue
				}
				one.Release()
				still = append(still, i)
			}
			if r.opts.OnError == OnErrorFail {
				// Every row decodes alone but not together (columns
				// whose types conflict across rows): report the chunk.
				res.err = r.located(j, -1, err)
				return res
			}
			good = still
			if len(good) > 0 {
				if req, err = j.src.decode(r.dec, good); err != nil {
					res.err = r.located(j, -1, err)
					return res
				}
			}
		} else if all == nil {
			good = nil // the request holds every row, in order
		}
	}
	if req != nil {
		defer req.Release()
		res.form = req.Form
	}
	if r.opts.OnError == OnErrorFail && len(bad) > 0 {
		sort.Slice(bad, func(a, b int) bool { return bad[a].at < bad[b].at })
		res.err = r.located(j, bad[0].at, errors.New(bad[0].reason))
		return res
	}

	// Predict, splitting on failure to isolate bad rows. pos are positions
	// in req.Batch; rowOf maps them back to chunk rows.
	rowOf := func(k int) int {
		if good == nil {
			return k
		}
		return good[k]
	}
	type seg struct {
		from, to int // positions in req.Batch
		out      columnar.Batch
	}
	var segs []seg
	var run func(from, to int) error
	run = func(from, to int) error {
		if from >= to {
			return nil
		}
		in := req.Batch
		if from != 0 || to != int(req.Batch.NumRows()) {
			in = req.Batch.NewSlice(int64(from), int64(to))
			defer in.Release()
		}
		out, err := r.p.Predict(ctx, in, req.Params)
		if err == nil {
			segs = append(segs, seg{from, to, out})
			return nil
		}
		if !isRowError(err) || !columnar.IsBatched(req.Batch) {
			return r.located(j, -1, err)
		}
		if to-from == 1 {
			if r.opts.OnError == OnErrorFail {
				return r.located(j, rowOf(from), err)
			}
			bad = append(bad, badRow{rowOf(from), err.Error()})
			return nil
		}
		mid := from + (to-from)/2
		if err := run(from, mid); err != nil {
			return err
		}
		return run(mid, to)
	}
	if req != nil {
		if err := run(0, int(req.Batch.NumRows())); err != nil {
			for _, s := range segs {
				s.out.Release()
			}
			res.err = err
			return res
		}
	}
	res.good = n - len(bad)
	if len(bad) > 0 {
		r.bad.Add(int64(len(bad)))
		first := bad[0]
		for _, b := range bad {
			if b.at < first.at {
				first = b
			}
		}
		res.firstBad = r.located(j, first.at, errors.New(first.reason))
		r.log.Warn("bad rows", "input", j.in.name(), "count", len(bad), "first", r.where(j, first.at), "reason", first.reason)
	}

	// Lay the outcome out in row order: predicted runs of consecutive rows
	// and runs of bad rows (nulls, or nothing when skipped).
	if len(segs) == 1 && len(bad) == 0 && !r.keeping() {
		res.parts = []part{{out: segs[0].out}} // the common case, any shape
		return res
	}
	type piece struct {
		rows int
		out  columnar.Batch
	}
	at := map[int]piece{} // first chunk row → its predictions
	for si, s := range segs {
		if s.out.NumRows() != int64(s.to-s.from) || !columnar.IsBatched(s.out) {
			for _, x := range segs[si:] {
				x.out.Release()
			}
			for _, p := range at {
				p.out.Release()
			}
			res.err = r.located(j, -1, fmt.Errorf("the model returned %d rows for %d input rows; skipping or nulling bad rows and passing columns through need one prediction per row", s.out.NumRows(), s.to-s.from))
			return res
		}
		for k := s.from; k < s.to; {
			e := k + 1
			for e < s.to && rowOf(e) == rowOf(e-1)+1 {
				e++
			}
			out := s.out
			if k != s.from || e != s.to {
				out = s.out.NewSlice(int64(k-s.from), int64(e-s.from))
			} else {
				out.Retain()
			}
			at[rowOf(k)] = piece{e - k, out}
			k = e
		}
		s.out.Release()
	}
	isBad := make(map[int]bool, len(bad))
	for _, b := range bad {
		isBad[b.at] = true
	}
	var kept []int // chunk rows present in the output
	for i := 0; i < n; {
		if p, ok := at[i]; ok {
			res.parts = append(res.parts, part{out: p.out})
			kept = appendRange(kept, i, i+p.rows)
			i += p.rows
			continue
		}
		k := i + 1
		for k < n && isBad[k] {
			k++
		}
		if r.opts.OnError == OnErrorNull {
			res.parts = append(res.parts, part{nulls: k - i})
			kept = appendRange(kept, i, k)
		}
		i = k
	}
	if r.keeping() {
		idx := kept
		if len(bad) == 0 {
			idx = nil
		}
		keep, err := j.src.passThrough(r.keepDec, r.opts.KeepColumns, r.opts.KeepAll, idx)
		if err != nil {
			res.err = fmt.Errorf("%s: %w", j.in.name(), err)
			return res
		}
		res.keep = keep
	}
	return res
}

func appendRange(s []int, from, to int) []int {
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// firstFailure predicts rows idx of the chunk (which all decode) and
// returns the located error of the first one the model rejects, if any.
func (r *runner) firstFailure(ctx context.Context, j job, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	req, err := j.src.decode(r.dec, idx)
	if err != nil {
		return r.located(j, -1, err)
	}
	defer req.Release()
	var first func(from, to int) error
	first = func(from, to int) error {
		in := req.Batch.NewSlice(int64(from), int64(to))
		defer in.Release()
		out, err := r.p.Predict(ctx, in, req.Params)
		if err == nil {
			out.Release()
			return nil
		}
		if !isRowError(err) || !columnar.IsBatched(req.Batch) {
			return r.located(j, -1, err)
		}
		if to-from == 1 {
			return r.located(j, idx[from], err)
		}
		mid := from + (to-from)/2
		if err := first(from, mid); err != nil {
			return err
		}
		return first(mid, to)
	}
	return first(0, len(idx))
}

// structural reports whether the input's columns cannot make a request at
// all (a required column missing): no row is to blame, so it is never a
// bad row, whatever --on-error says. A request of no rows tells only for
// inputs whose columns come before their rows (CSV, Arrow, Parquet): JSON
// lines carry their columns in each row, and a tensor column with no rows
// has no shape. So it is structural only when no row of idx decodes alone
// either.
func (r *runner) structural(j job, idx []int) bool {
	if j.in.format.columnsPerRow() {
		// Each line names its own columns, so a chunk whose every line
		// lacks one is bad rows like any other: calling it structural
		// made the outcome depend on where batches happened to split. An
		// input with no good line at all fails at its end instead
		// (runner.emit).
		return false
	}
	req, err := j.src.decode(r.dec, []int{})
	if err == nil {
		req.Release()
		return false
	}
	for _, i := range idx {
		one, err := j.src.decode(r.dec, []int{i})
		if err == nil {
			one.Release()
			return false
		}
	}
	return true
}

// isDataError reports whether a decode error is about the values sent
// (the row's fault), as opposed to a failure of mlship itself.
func isDataError(err error) bool {
	var ae *apierr.Error
	return errors.As(err, &ae) || flavors.IsInputError(err)
}

// isRowError reports whether a Predict error is about the data: the
// runtime rejected it, or the model's own code raised on it. A worker
// that died or a runtime fault stop the run whatever --on-error says.
func isRowError(err error) bool {
	var me *flavors.ModelError
	return flavors.IsInputError(err) || errors.As(err, &me)
}

// located prefixes err with the input and, when known, the row (1-based,
// as a user counts data rows) and line.
func (r *runner) located(j job, i int, err error) error {
	if i < 0 {
		n := j.src.Len()
		return fmt.Errorf("%s: rows %d-%d: %w", j.in.name(), j.first+1, j.first+int64(n), err)
	}
	return fmt.Errorf("%s: %s: %w", j.in.name(), r.where(j, i), err)
}

func (r *runner) where(j job, i int) string {
	s := fmt.Sprintf("row %d", j.first+int64(i)+1)
	if l := j.src.line(i); l > 0 {
		s += fmt.Sprintf(" (line %d)", l)
	}
	return s
}
