package flavortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
)

func checkLoad(ctx context.Context, h *harness, _ memory.Allocator) error {
	p, err := h.load(ctx, h.model)
	if err != nil {
		return fmt.Errorf("Load: %w", err)
	}
	h.p = p
	return nil
}

// checkLoadWithoutFlavor loads a copy of the model whose flavor block is
// gone: a flavor must say so rather than guess a configuration (or crash
// on a nil map).
func checkLoadWithoutFlavor(ctx context.Context, h *harness, _ memory.Allocator) error {
	m := *h.model
	m.Flavors = maps.Clone(h.model.Flavors)
	delete(m.Flavors, h.c.Flavor.Name())
	p, err := h.load(ctx, &m)
	switch {
	case err == nil:
		closeIfCloser(p)
		return fmt.Errorf("Load of a model without a %q flavor succeeded", h.c.Flavor.Name())
	case isContract(err):
		return err
	}
	return nil
}

// checkLoadCancelled loads with a cancelled context. Load may notice it or
// finish first, but must not panic or return nothing at all.
func checkLoadCancelled(ctx context.Context, h *harness, _ memory.Allocator) error {
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	p, err := h.load(ctx, h.model)
	if err != nil {
		if isContract(err) {
			return err
		}
		return nil // any error will do: Load may stop anywhere
	}
	closeIfCloser(p)
	return nil
}

func closeIfCloser(p flavors.Predictor) {
	if c, ok := p.(io.Closer); ok {
		c.Close()
	}
}

// expectRows is the row count a result must have for an input of n rows:
// n for a batch-safe model, anything (-1) otherwise.
func (h *harness) expectRows(n int64) int64 {
	if h.c.BatchSafe {
		return n
	}
	return -1
}

// reference builds the case's input of n rows and predicts it once, the
// result every later prediction of those rows is compared to.
func (h *harness) reference(ctx context.Context, p flavors.Predictor, mem memory.Allocator, n int) (in, out columnar.Batch, err error) {
	in = h.c.Input(mem, n)
	if in == nil || in.NumRows() == 0 || (h.c.BatchSafe && in.NumRows() != int64(n)) {
		if in != nil {
			in.Release()
		}
		return nil, nil, fmt.Errorf("flavortest: Case.Input(%d) did not return a batch of %d rows", n, n)
	}
	out, err = predict(ctx, p, in, nil)
	if err != nil {
		in.Release()
		return nil, nil, fmt.Errorf("Predict of a valid batch of %d rows: %w", n, err)
	}
	if err := validate(out, h.expectRows(int64(n))); err != nil {
		in.Release()
		out.Release()
		return nil, nil, err
	}
	return in, out, nil
}

// still predicts in again and compares with want: after something that may
// have broken the predictor, it must still give the same answers.
func still(ctx context.Context, p flavors.Predictor, in, want columnar.Batch, after string) error {
	out, err := predict(ctx, p, in, nil)
	if err != nil {
		return fmt.Errorf("after %s, Predict of a valid batch fails: %w", after, err)
	}
	defer out.Release()
	if d := diff(want, out, 0); d != "" {
		return fmt.Errorf("after %s, Predict of a valid batch gives another result: %s", after, d)
	}
	return nil
}

func checkPredict(ctx context.Context, h *harness, mem memory.Allocator) error {
	p, err := h.predictor()
	if err != nil {
		return err
	}
	n := h.c.Rows
	in := h.c.Input(mem, n)
	released := false
	defer func() {
		if !released {
			in.Release()
		}
	}()
	before, err := copyBatch(mem, in)
	if err != nil {
		return err
	}
	defer before.Release()

	out, err := predict(ctx, p, in, nil)
	if err != nil {
		return fmt.Errorf("Predict of a valid batch of %d rows: %w", n, err)
	}
	defer out.Release()
	if err := validate(out, h.expectRows(int64(n))); err != nil {
		return err
	}
	if out.NumCols() == 0 || out.NumRows() == 0 {
		return fmt.Errorf("the result of %d input rows has %d columns and %d rows; want some of each", in.NumRows(), out.NumCols(), out.NumRows())
	}
	if d := diff(before, in, 0); d != "" {
		return fmt.Errorf("Predict modified its input (the caller owns it, and the batcher may share it): %s", d)
	}

	// The result belongs to the caller and must outlive the input, which the
	// caller may release at once.
	snapshot, err := copyBatch(mem, out)
	if err != nil {
		return err
	}
	defer snapshot.Release()
	in.Release()
	released = true
	if d := diff(snapshot, out, 0); d != "" {
		return fmt.Errorf("the result changed when its input was released: it uses input memory without holding a reference: %s", d)
	}
	return nil
}

func checkDeterministic(ctx context.Context, h *harness, mem memory.Allocator) error {
	p, err := h.predictor()
	if err != nil {
		return err
	}
	in, want, err := h.reference(ctx, p, mem, h.c.Rows)
	if err != nil {
		return err
	}
	defer in.Release()
	defer want.Release()
	for i := range 2 {
		if err := still(ctx, p, in, want, fmt.Sprintf("%d predictions of the same batch", i+1)); err != nil {
			return err
		}
	}
	// An equal batch built again (other buffers, same values).
	again := h.c.Input(mem, h.c.Rows)
	defer again.Release()
	if d := diff(in, again, 0); d != "" {
		return fmt.Errorf("flavortest: Case.Input is not deterministic: %s", d)
	}
	out, err := predict(ctx, p, again, nil)
	if err != nil {
		return fmt.Errorf("Predict of a rebuilt batch: %w", err)
	}
	defer out.Release()
	if d := diff(want, out, 0); d != "" {
		return fmt.Errorf("an equal batch in other buffers gives another result: %s", d)
	}
	return nil
}

// span is a row range [lo, hi) of the case's batch.
type span struct{ lo, hi int }

// spans are the row ranges the row-independence and concurrency checks
// predict on their own: every single row (offsets 0 to n-1), both halves,
// and the middle.
func spans(n int) []span {
	var out []span
	for i := range n {
		out = append(out, span{i, i + 1})
	}
	return append(out, span{0, n / 2}, span{n / 2, n}, span{1, n - 1})
}

func checkRowIndependence(ctx context.Context, h *harness, mem memory.Allocator) error {
	if !h.c.BatchSafe {
		return skip("the model is not batch-safe")
	}
	p, err := h.predictor()
	if err != nil {
		return err
	}
	n := h.c.Rows
	in, whole, err := h.reference(ctx, p, mem, n)
	if err != nil {
		return err
	}
	defer in.Release()
	defer whole.Release()
	var errs []error
	try := func(s span, part columnar.Batch, how string) {
		want := whole.NewSlice(int64(s.lo), int64(s.hi))
		defer want.Release()
		got, err := predict(ctx, p, part, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("rows [%d:%d] %s: %w", s.lo, s.hi, how, err))
			return
		}
		defer got.Release()
		if d := diff(want, got, h.c.Tolerance); d != "" {
			errs = append(errs, fmt.Errorf("rows [%d:%d] %s differ from the same rows predicted in the whole batch: %s", s.lo, s.hi, how, d))
		}
	}
	for _, s := range spans(n) {
		sl := in.NewSlice(int64(s.lo), int64(s.hi))
		try(s, sl, fmt.Sprintf("as a slice at offset %d", s.lo))
		if s.hi-s.lo > 1 { // the same rows at offset 0, in buffers of their own
			cp, err := copyBatch(mem, sl)
			if err != nil {
				sl.Release()
				return err
			}
			try(s, cp, "as a compact copy")
			cp.Release()
		}
		sl.Release()
	}
	return errors.Join(errs...)
}

func checkConcurrent(ctx context.Context, h *harness, mem memory.Allocator) error {
	p, err := h.predictor()
	if err != nil {
		return err
	}
	n := h.c.Rows
	in, whole, err := h.reference(ctx, p, mem, n)
	if err != nil {
		return err
	}
	defer in.Release()
	defer whole.Release()

	// Jobs: the whole batch, and for a batch-safe model slices of it whose
	// sequential results are known. Goroutines start together and run
	// different jobs, so a predictor that lets calls share state mixes them.
	type job struct {
		in, want columnar.Batch
		name     string
	}
	jobs := []job{{in, whole, "the whole batch"}}
	if h.c.BatchSafe {
		for _, s := range spans(n)[n:] {
			sl := in.NewSlice(int64(s.lo), int64(s.hi))
			defer sl.Release()
			want, err := predict(ctx, p, sl, nil)
			if err != nil {
				return fmt.Errorf("rows [%d:%d]: %w", s.lo, s.hi, err)
			}
			defer want.Release()
			jobs = append(jobs, job{sl, want, fmt.Sprintf("rows [%d:%d]", s.lo, s.hi)})
		}
	}
	const goroutines, rounds = 8, 6
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		start = make(chan struct{})
	)
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for r := range rounds {
				j := jobs[(g+r)%len(jobs)]
				out, err := predict(ctx, p, j.in, nil)
				if err == nil {
					if d := diff(j.want, out, h.c.Tolerance); d != "" {
						err = fmt.Errorf("result differs from the sequential one: %s", d)
					}
					out.Release()
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("goroutine %d, %s: %w", g, j.name, err))
					mu.Unlock()
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	return errors.Join(errs...)
}

// result is what a Predict call returned.
type result struct {
	out columnar.Batch
	err error
}

// predictWithin runs Predict and waits at most d for it; ok is false when
// it did not return in time. Such a call is left running (the test
// binary's timeout ends it if it never returns).
func predictWithin(ctx context.Context, p flavors.Predictor, in columnar.Batch, d time.Duration) (r result, ok bool) {
	ch := make(chan result, 1)
	in.Retain() // the goroutine may outlive the caller's reference
	go func() {
		out, err := predict(ctx, p, in, nil)
		in.Release() // before answering: the caller's leak check follows
		ch <- result{out, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, true
	case <-t.C:
		return result{}, false
	}
}

func checkCancel(ctx context.Context, h *harness, mem memory.Allocator) error {
	p, err := h.predictor()
	if err != nil {
		return err
	}
	in, want, err := h.reference(ctx, p, mem, h.c.Rows)
	if err != nil {
		return err
	}
	defer in.Release()
	defer want.Release()
	d := h.c.CancelTimeout

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"a cancelled context", cancelled, context.Canceled},
		{"an expired deadline", expired, context.DeadlineExceeded},
	} {
		r, ok := predictWithin(tc.ctx, p, in, d)
		switch err := r.err; {
		case !ok:
			return fmt.Errorf("Predict with %s did not return within %v", tc.name, d)
		case err == nil:
			r.out.Release()
			return fmt.Errorf("Predict with %s succeeded; it must return an error matching %v (servers stop work for clients that left)", tc.name, tc.want)
		case !errors.Is(err, tc.want):
			return fmt.Errorf("Predict with %s returned %v, which does not match %v (errors.Is)", tc.name, err, tc.want)
		}
	}

	// Cancelled while running: it may finish or stop, but promptly, and
	// with the context's error if it stops.
	big := h.c.Input(mem, h.c.Rows*64)
	defer big.Release()
	running, cancel3 := context.WithCancel(ctx)
	timer := time.AfterFunc(time.Millisecond, cancel3)
	r, ok := predictWithin(running, p, big, d)
	timer.Stop()
	cancel3()
	switch {
	case !ok:
		return fmt.Errorf("Predict cancelled while running did not return within %v", d)
	case r.err == nil:
		r.out.Release()
	case !errors.Is(r.err, context.Canceled):
		return fmt.Errorf("Predict cancelled while running returned %v, which does not match context.Canceled", r.err)
	}
	return still(ctx, p, in, want, "cancelled predictions")
}

// noColumns is the bad input every predictor must reject: a batch with no
// columns (and no rows) carries nothing to predict on.
var noColumns = BadInput{
	Name: "no columns",
	Make: func(memory.Allocator, columnar.Batch) columnar.Batch {
		return emptyBatch()
	},
}

func checkBadInputs(ctx context.Context, h *harness, mem memory.Allocator) error {
	p, err := h.predictor()
	if err != nil {
		return err
	}
	in, want, err := h.reference(ctx, p, mem, h.c.Rows)
	if err != nil {
		return err
	}
	defer in.Release()
	defer want.Release()
	var errs []error
	for _, b := range append([]BadInput{noColumns}, h.c.BadInputs...) {
		bad := b.Make(mem, in)
		out, err := predict(ctx, p, bad, nil)
		bad.Release()
		switch {
		case err == nil:
			out.Release()
			errs = append(errs, fmt.Errorf("bad input %q was accepted", b.Name))
		case isContract(err):
			errs = append(errs, fmt.Errorf("bad input %q: %w", b.Name, err))
		case !clientError(err):
			errs = append(errs, fmt.Errorf("bad input %q: the error is neither a *flavors.InputError nor a *flavors.ModelError with a 400 code, so a server would answer 500 instead of 400: %w", b.Name, err))
		}
	}
	if err := still(ctx, p, in, want, "bad inputs"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkZeroRows(ctx context.Context, h *harness, mem memory.Allocator) error {
	p, err := h.predictor()
	if err != nil {
		return err
	}
	in, want, err := h.reference(ctx, p, mem, h.c.Rows)
	if err != nil {
		return err
	}
	defer in.Release()
	defer want.Release()
	var errs []error
	for _, at := range []int64{0, in.NumRows()} {
		empty := in.NewSlice(at, at)
		out, err := predict(ctx, p, empty, nil)
		empty.Release()
		if err != nil {
			if isContract(err) {
				errs = append(errs, fmt.Errorf("no rows (offset %d): %w", at, err))
			}
			continue // rejecting an empty batch is fine
		}
		if verr := validate(out, h.expectRows(0)); verr != nil {
			errs = append(errs, fmt.Errorf("no rows (offset %d): %w", at, verr))
		} else if h.c.BatchSafe && !sameFields(want.Schema(), out.Schema()) {
			errs = append(errs, fmt.Errorf("no rows (offset %d): the result's schema %s differs from the usual %s", at, fieldsString(out.Schema()), fieldsString(want.Schema())))
		}
		out.Release()
	}
	if err := still(ctx, p, in, want, "empty batches"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkUnknownParams(ctx context.Context, h *harness, mem memory.Allocator) error {
	p, err := h.predictor()
	if err != nil {
		return err
	}
	in, want, err := h.reference(ctx, p, mem, h.c.Rows)
	if err != nil {
		return err
	}
	defer in.Release()
	defer want.Release()
	// MLflow ignores params a model does not declare (with a warning);
	// signature enforcement upstream decides what reaches the flavor.
	for _, params := range []map[string]any{
		{},
		{"flavortest_unknown": "x", "flavortest_count": int64(3), "flavortest_list": []any{1.5, "a"}},
	} {
		out, err := predict(ctx, p, in, params)
		if err != nil {
			return fmt.Errorf("Predict with params %v: %w", params, err)
		}
		d := diff(want, out, 0)
		out.Release()
		if d != "" {
			return fmt.Errorf("Predict with params %v gives another result than without: %s", params, d)
		}
	}
	return nil
}

func checkSchema(ctx context.Context, h *harness, mem memory.Allocator) error {
	p, err := h.predictor()
	if err != nil {
		return err
	}
	sd, ok := p.(flavors.SchemaDescriber)
	if !ok {
		return skip("the predictor is not a flavors.SchemaDescriber")
	}
	ins, outs := sd.ModelSchema()
	in, out, err := h.reference(ctx, p, mem, h.c.Rows)
	if err != nil {
		return err
	}
	defer in.Release()
	defer out.Release()
	var errs []error
	if ins.Len() == 0 {
		errs = append(errs, errors.New("ModelSchema describes no inputs"))
	} else if err := conforms(ins, in, false); err != nil {
		errs = append(errs, fmt.Errorf("the valid input does not match the described inputs: %w", err))
	}
	if outs.Len() == 0 {
		errs = append(errs, errors.New("ModelSchema describes no outputs"))
	} else if err := conforms(outs, out, true); err != nil {
		errs = append(errs, fmt.Errorf("the result does not match the described outputs: %w", err))
	}
	return errors.Join(errs...)
}

func checkHealth(ctx context.Context, h *harness, _ memory.Allocator) error {
	p, err := h.predictor()
	if err != nil {
		return err
	}
	hc, ok := p.(flavors.HealthChecker)
	if !ok {
		return skip("the predictor is not a flavors.HealthChecker")
	}
	if err := safeCheck(ctx, hc); err != nil {
		return fmt.Errorf("a freshly loaded predictor is unhealthy: %w", err)
	}
	return nil
}

func safeCheck(ctx context.Context, hc flavors.HealthChecker) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Check panicked: %v", r)
		}
	}()
	return hc.Check(ctx)
}

func safeClose(c io.Closer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Close panicked: %v", r)
		}
	}()
	return c.Close()
}

// checkClose works on a predictor of its own, so the shared one stays
// usable for whatever runs after.
func checkClose(ctx context.Context, h *harness, mem memory.Allocator) error {
	shared, err := h.predictor()
	if err != nil {
		return err
	}
	if _, ok := shared.(io.Closer); !ok {
		return skip("the predictor is not an io.Closer")
	}
	in, want, err := h.reference(ctx, shared, mem, h.c.Rows)
	if err != nil {
		return err
	}
	defer in.Release()
	defer want.Release()
	p, err := h.load(ctx, h.model)
	if err != nil {
		return fmt.Errorf("loading a second predictor: %w", err)
	}
	c, ok := p.(io.Closer)
	if !ok {
		return errors.New("a second Load returned a predictor that is not an io.Closer")
	}
	if err := still(ctx, p, in, want, "a second Load"); err != nil {
		c.Close()
		return err
	}

	// Close while predictions run: each finishes, or fails with ErrClosed.
	// Predictions that start after Close returned must fail.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		running sync.WaitGroup // each goroutine has completed one prediction
		closed  atomic.Bool
	)
	const goroutines = 4
	running.Add(goroutines)
	for g := range goroutines {
		wg.Go(func() {
			first := sync.OnceFunc(running.Done)
			defer first()
			for {
				after := closed.Load()
				out, err := predict(ctx, p, in, nil)
				first()
				if errors.Is(err, flavors.ErrClosed) {
					return
				}
				if err == nil {
					if d := diff(want, out, 0); d != "" {
						err = fmt.Errorf("result differs: %s", d)
					}
					out.Release()
				}
				if err == nil && after {
					err = errors.New("Predict succeeded after Close returned")
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("goroutine %d predicting while the predictor closes: %w", g, err))
					mu.Unlock()
					return
				}
			}
		})
	}
	running.Wait()
	if err := safeClose(c); err != nil {
		errs = append(errs, fmt.Errorf("Close: %w", err))
	}
	closed.Store(true)
	wg.Wait()
	if err := safeClose(c); err != nil {
		errs = append(errs, fmt.Errorf("Close is not idempotent: the second Close returned %w", err))
	}
	out, err := predict(ctx, p, in, nil)
	switch {
	case err == nil:
		out.Release()
		errs = append(errs, errors.New("Predict after Close succeeded"))
	case !errors.Is(err, flavors.ErrClosed):
		errs = append(errs, fmt.Errorf("Predict after Close returned %v, which does not match flavors.ErrClosed", err))
	}
	if hc, ok := p.(flavors.HealthChecker); ok && safeCheck(ctx, hc) == nil {
		errs = append(errs, errors.New("a closed predictor reports itself healthy"))
	}
	return errors.Join(errs...)
}

// emptyBatch returns a batch with no columns and no rows.
func emptyBatch() columnar.Batch {
	return newBatch(nil, nil, 0)
}

// clientError reports an error a server answers with 400: bad input found
// by the flavor, or an exception the model's own code raised about it
// (MLflow answers those BAD_REQUEST, or with the MlflowException's code).
func clientError(err error) bool {
	if flavors.IsInputError(err) {
		return true
	}
	var me *flavors.ModelError
	if errors.As(err, &me) {
		switch me.Code {
		case "", "BAD_REQUEST", "INVALID_PARAMETER_VALUE":
			return true
		}
	}
	return false
}
