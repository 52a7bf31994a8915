package flavortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/mlmodel"
)

// Case describes one model a flavor serves.
type Case struct {
	// Flavor is the flavor under test.
	Flavor flavors.Flavor
	// Model is the descriptor to load. When nil, Dir is read with
	// mlmodel.Load.
	Model *mlmodel.Model
	Dir   string
	// Options are passed to every Load.
	Options flavors.LoadOptions

	// Input returns a valid batch of n rows (n >= 1), allocated from mem.
	// It must be deterministic (the same n gives the same data) and should
	// make rows differ from one another, so that mixed-up rows show.
	// InputFromSchema builds one from a signature. For a model that is not
	// batch-safe, the batch may have another (non-zero) number of rows,
	// e.g. one row holding a whole unbatched tensor.
	Input func(mem memory.Allocator, n int) columnar.Batch

	// Rows is the number of rows of the batches the suite predicts; 0
	// means 8. At least 4, so that slices can sit in the middle.
	Rows int

	// BatchSafe says that every input and output has a variable first
	// dimension, so output row i depends on input row i only. The suite then
	// requires one output row per input row and checks row independence.
	BatchSafe bool

	// Tolerance is the absolute difference allowed between floating-point
	// results for the same rows predicted in different batches or
	// concurrently (a runtime may pick other kernels for another batch
	// size). 0 means exact. Predicting the same batch twice must always be
	// exact.
	Tolerance float64

	// BadInputs are inputs Predict must reject with a *flavors.InputError.
	// A batch with no columns is always tried. WrongType, WrongShape and
	// MissingColumn build the usual ones.
	BadInputs []BadInput

	// CancelTimeout bounds how long Predict may take to return once its
	// context is done; 0 means 10s.
	CancelTimeout time.Duration
}

// BadInput is an input the predictor must reject.
type BadInput struct {
	Name string
	// Make builds the bad batch from mem. valid is a valid batch of the
	// case's Rows that Make may borrow from; it must not release it.
	Make func(mem memory.Allocator, valid columnar.Batch) columnar.Batch
}

// Run loads c's model and runs every check as a subtest of t. A failed
// Load skips the checks that need a predictor.
func Run(t *testing.T, c Case) {
	t.Helper()
	h, err := newHarness(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			err := h.run(t.Context(), ck)
			var skip skipError
			switch {
			case errors.As(err, &skip):
				t.Skip(skip.reason)
			case err != nil:
				t.Error(err)
			}
		})
	}
}

// check is one conformance requirement. It returns nil when the flavor
// meets it, a skipError when it does not apply, or what went wrong.
type check struct {
	name string
	fn   func(ctx context.Context, h *harness, mem memory.Allocator) error
}

// checks run in this order; Load must come first and Close last.
var checks = []check{
	{"Load", checkLoad},
	{"LoadWithoutFlavor", checkLoadWithoutFlavor},
	{"LoadCancelled", checkLoadCancelled},
	{"Predict", checkPredict},
	{"Deterministic", checkDeterministic},
	{"RowIndependence", checkRowIndependence},
	{"Concurrent", checkConcurrent},
	{"Cancel", checkCancel},
	{"BadInputs", checkBadInputs},
	{"ZeroRows", checkZeroRows},
	{"UnknownParams", checkUnknownParams},
	{"Schema", checkSchema},
	{"Health", checkHealth},
	{"Close", checkClose},
}

type skipError struct{ reason string }

func (e skipError) Error() string { return "skipped: " + e.reason }

func skip(format string, args ...any) error { return skipError{fmt.Sprintf(format, args...)} }

// harness is the state the checks share: the case with its defaults filled
// in, the model, and the predictor the Load check loaded.
type harness struct {
	c     Case
	model *mlmodel.Model
	p     flavors.Predictor
}

func newHarness(c Case) (*harness, error) {
	switch {
	case c.Flavor == nil:
		return nil, errors.New("flavortest: Case.Flavor is nil")
	case c.Input == nil:
		return nil, errors.New("flavortest: Case.Input is nil")
	case c.Model == nil && c.Dir == "":
		return nil, errors.New("flavortest: Case needs a Model or a Dir")
	case c.Rows != 0 && c.Rows < 4:
		return nil, fmt.Errorf("flavortest: Case.Rows is %d, want at least 4", c.Rows)
	}
	if c.Rows == 0 {
		c.Rows = 8
	}
	if c.CancelTimeout == 0 {
		c.CancelTimeout = 10 * time.Second
	}
	m := c.Model
	if m == nil {
		var err error
		if m, err = mlmodel.Load(c.Dir); err != nil {
			return nil, fmt.Errorf("flavortest: %w", err)
		}
	}
	if _, ok := m.Flavors[c.Flavor.Name()]; !ok {
		return nil, fmt.Errorf("flavortest: the model has no %q flavor (it has %v)", c.Flavor.Name(), m.FlavorNames())
	}
	return &harness{c: c, model: m}, nil
}

func (h *harness) close() {
	if cl, ok := h.p.(io.Closer); ok {
		cl.Close()
	}
}

// run runs one check with a fresh allocator and fails it if input memory
// is still allocated once every batch was released.
func (h *harness) run(ctx context.Context, ck check) (err error) {
	mem := newAllocator()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			return // batches may be unreleased after a panic: no leak check
		}
		var s skipError
		if errors.As(err, &s) {
			return
		}
		if n := mem.CurrentAlloc(); n != 0 {
			err = errors.Join(err, fmt.Errorf("%d bytes of input batches are still allocated after the suite released every batch and result: "+
				"the predictor keeps (or over-retains) its input", n))
		}
	}()
	return ck.fn(ctx, h, mem)
}

// predictor returns the loaded predictor, or skips the check.
func (h *harness) predictor() (flavors.Predictor, error) {
	if h.p == nil {
		return nil, skip("Load failed")
	}
	return h.p, nil
}

// load calls Flavor.Load, turning a panic or a nil predictor without an
// error into a *contractError.
func (h *harness) load(ctx context.Context, m *mlmodel.Model) (p flavors.Predictor, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, &contractError{fmt.Sprintf("Load panicked: %v\n%s", r, debug.Stack())}
		}
	}()
	p, err = h.c.Flavor.Load(ctx, m, h.c.Options)
	if err == nil && p == nil {
		return nil, &contractError{"Load returned neither a predictor nor an error"}
	}
	return p, err
}

// predict calls p.Predict, turning a panic, or a result that is not
// exactly one of a batch and an error, into a *contractError (releasing a
// batch returned along with an error).
func predict(ctx context.Context, p flavors.Predictor, in columnar.Batch, params map[string]any) (out columnar.Batch, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, &contractError{fmt.Sprintf("Predict panicked: %v\n%s", r, debug.Stack())}
		}
	}()
	out, err = p.Predict(ctx, in, params)
	switch {
	case err != nil && out != nil:
		out.Release()
		return nil, &contractError{fmt.Sprintf("Predict returned a batch along with its error %q; it must return nil with an error", err)}
	case err == nil && out == nil:
		return nil, &contractError{"Predict returned neither a batch nor an error"}
	}
	return out, err
}

// contractError is a broken calling convention the suite caught (a panic,
// a call that returned nothing, or both a result and an error), as opposed
// to an error the flavor returned. It wraps nothing, so it never passes for
// the error a check expects.
type contractError struct{ msg string }

func (e *contractError) Error() string { return e.msg }

func isContract(err error) bool {
	var ce *contractError
	return errors.As(err, &ce)
}
