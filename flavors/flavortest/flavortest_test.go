package flavortest

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/mlmodel"
)

func fakeCase(t *testing.T, f fakeFlavor) Case {
	t.Helper()
	m := fakeModel()
	input, err := InputFromSchema(m.Signature.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	return Case{
		Flavor:        f,
		Model:         m,
		Input:         input,
		BatchSafe:     true,
		BadInputs:     []BadInput{WrongType("x"), WrongShape("x"), MissingColumn("x")},
		CancelTimeout: 200 * time.Millisecond,
	}
}

// TestRun runs the suite the way a flavor's test does, on the conforming
// fake: every check must pass. Run it with -race: the Concurrent and Close
// checks exist for the race detector as much as for their own asserts.
func TestRun(t *testing.T) {
	Run(t, fakeCase(t, fakeFlavor{}))
}

// runChecks runs the named checks (all when none are named) after Load on
// a fresh harness and returns each one's result.
func runChecks(t *testing.T, c Case, names ...string) map[string]error {
	t.Helper()
	h, err := newHarness(c)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	want := map[string]bool{"Load": true}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]error{}
	for _, ck := range checks {
		if len(names) == 0 || want[ck.name] {
			out[ck.name] = h.run(t.Context(), ck)
		}
	}
	return out
}

func isSkip(err error) bool {
	var s skipError
	return errors.As(err, &s)
}

func TestGoodFakePassesEveryCheck(t *testing.T) {
	// The check functions directly, so that a check that skips when it
	// should run is noticed (Run would only report it as skipped).
	for name, err := range runChecks(t, fakeCase(t, fakeFlavor{})) {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestOptionalChecksSkip(t *testing.T) {
	// A predictor without the optional interfaces, for a model that is
	// not batch-safe: the checks for what it lacks skip, the rest pass.
	c := fakeCase(t, fakeFlavor{plain: true})
	c.BatchSafe = false
	skipped := map[string]bool{"RowIndependence": true, "Schema": true, "Health": true, "Close": true}
	for name, err := range runChecks(t, c) {
		switch {
		case skipped[name] && !isSkip(err):
			t.Errorf("%s: %v, want a skip", name, err)
		case !skipped[name] && err != nil:
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFailedLoadSkipsTheRest(t *testing.T) {
	c := fakeCase(t, fakeFlavor{})
	c.Flavor = brokenLoad{}
	h, err := newHarness(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.run(t.Context(), checks[0]); err == nil || !strings.Contains(err.Error(), "cannot load") {
		t.Fatalf("Load check: %v, want the flavor's error", err)
	}
	// With no predictor, the checks needing one skip rather than fail with
	// a nil dereference.
	for _, ck := range checks {
		if strings.HasPrefix(ck.name, "Load") {
			continue // these load predictors of their own
		}
		if err := h.run(t.Context(), ck); !isSkip(err) {
			t.Errorf("%s after a failed Load: %v, want a skip", ck.name, err)
		}
	}
}

// brokenLoad is a flavor whose Load always fails.
type brokenLoad struct{ fakeFlavor }

func (brokenLoad) Load(context.Context, *mlmodel.Model, flavors.LoadOptions) (flavors.Predictor, error) {
	return nil, errors.New("cannot load")
}

// TestSuiteCatchesBrokenFlavors is the suite's own conformance test: each
// deliberately broken fake must fail the check that guards the rule it
// breaks, with a message that says what is wrong. (The good fake passes
// every check, so the failure is the fault's.)
func TestSuiteCatchesBrokenFlavors(t *testing.T) {
	tests := []struct {
		fault fault
		check string
		want  string // in the error
	}{
		{loadsWithoutConfig, "LoadWithoutFlavor", "succeeded"},
		{loadsNothing, "LoadWithoutFlavor", "neither a predictor nor an error"},
		{panicsOnCancelledLoad, "LoadCancelled", "Load panicked"},
		{nilBatch, "Predict", "neither a batch nor an error"},
		{dropsLastRow, "Predict", "one row per input row"},
		{liesAboutRows, "Predict", "rows but the batch"},
		{mutatesInput, "Predict", "modified its input"},
		{aliasesInput, "Predict", "changed when its input was released"},
		{retainsInput, "Predict", "still allocated"},
		{nondeterministic, "Deterministic", "another result"},
		{batchStatistics, "RowIndependence", "differ from the same rows predicted in the whole batch"},
		{ignoresOffset, "RowIndependence", "as a slice at offset 1 differ"},
		{sharedScratch, "Concurrent", "differs from the sequential one"},
		{ignoresCancel, "Cancel", "succeeded"},
		{opaqueCancel, "Cancel", "does not match context canceled"},
		{slowCancel, "Cancel", "did not return within"},
		{panicsOnBadInput, "BadInputs", "Predict panicked"},
		{acceptsNoColumns, "BadInputs", `"no columns" was accepted`},
		{plainErrors, "BadInputs", "neither a *flavors.InputError"},
		{batchWithError, "BadInputs", "a batch along with its error"},
		{breaksAfterBadInput, "BadInputs", "after bad inputs"},
		{panicsOnZeroRows, "ZeroRows", "Predict panicked"},
		{rejectsParams, "UnknownParams", "flavortest_unknown"},
		{describesWrongInput, "Schema", `described "features"`},
		{describesWrongOutput, "Schema", "described as float64"},
		{unhealthy, "Health", "unhealthy"},
		{closeNotIdempotent, "Close", "not idempotent"},
		{worksAfterClose, "Close", "after Close"},
		{closeBreaksInFlight, "Close", "does not match flavors.ErrClosed"},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			res := runChecks(t, fakeCase(t, fakeFlavor{fault: tt.fault}), tt.check)
			if tt.check != "Load" && res["Load"] != nil {
				t.Fatalf("Load: %v", res["Load"])
			}
			err := res[tt.check]
			switch {
			case err == nil:
				t.Fatalf("%s passed a flavor that %s", tt.check, tt.fault)
			case isSkip(err):
				t.Fatalf("%s skipped: %v", tt.check, err)
			case !strings.Contains(err.Error(), tt.want):
				t.Errorf("%s failed with %q, want it to say %q", tt.check, err, tt.want)
			}
		})
	}
}

// TestRunReportsFailures checks the wiring from checks to subtests: the
// test binary runs itself on a broken fake and must fail the right subtest.
func TestRunReportsFailures(t *testing.T) {
	if os.Getenv("FLAVORTEST_RUN_BROKEN") == "1" {
		Run(t, fakeCase(t, fakeFlavor{fault: rejectsParams}))
		return
	}
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRunReportsFailures$", "-test.v")
	cmd.Env = append(os.Environ(), "FLAVORTEST_RUN_BROKEN=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the broken run did not fail (err %v):\n%s", err, out)
	}
	for _, want := range []string{"--- FAIL: TestRunReportsFailures/UnknownParams", "--- PASS: TestRunReportsFailures/Load", "--- PASS: TestRunReportsFailures/Deterministic"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestNewHarnessRejectsBadCases(t *testing.T) {
	good := fakeCase(t, fakeFlavor{})
	tests := map[string]func(c *Case){
		"no flavor": func(c *Case) { c.Flavor = nil },
		"no input":  func(c *Case) { c.Input = nil },
		"no model":  func(c *Case) { c.Model = nil },
		"few rows":  func(c *Case) { c.Rows = 3 },
		"model without the flavor": func(c *Case) {
			c.Model = &mlmodel.Model{Flavors: map[string]mlmodel.FlavorConfig{"onnx": {}}}
		},
		"unreadable dir": func(c *Case) { c.Model, c.Dir = nil, t.TempDir() },
	}
	for name, mutate := range tests {
		c := good
		mutate(&c)
		if _, err := newHarness(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestInputFromSchema(t *testing.T) {
	s := &mlmodel.Schema{Tensors: []mlmodel.TensorSpec{
		{Name: "img", DType: "uint8", Shape: []int64{-1, 2, -1}},
		{Name: "ids", DType: "int64", Shape: []int64{-1}},
		{Name: "words", DType: "str", Shape: []int64{-1, 3}},
	}}
	input, err := InputFromSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b5, b9 := input(mem, 5), input(mem, 9)
	defer b5.Release()
	defer b9.Release()
	if diff := cmp.Diff([]string{"img", "ids", "words"}, fieldNames(b5.Schema())); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	// Shapes follow the specs, variable inner dimensions become 2.
	for i, want := range [][]int64{{5, 2, 2}, {5}, {5, 3}} {
		tv, err := columnar.TensorOf(b5.Schema().Field(i), b5.Column(i))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, tv.Shape); diff != "" {
			t.Errorf("column %d shape (-want +got):\n%s", i, diff)
		}
		tv.Values.Release()
	}
	// Rows depend only on their index, so batches of different sizes
	// agree on their common rows and RowIndependence can compare them.
	head := b9.NewSlice(0, 5)
	defer head.Release()
	if d := diff(b5, head, 0); d != "" {
		t.Errorf("first 5 rows of 9 differ from a batch of 5: %s", d)
	}
	// Rows differ from one another, so swapped rows show.
	r0, r1 := b9.NewSlice(0, 1), b9.NewSlice(1, 2)
	defer r0.Release()
	defer r1.Release()
	if diff(r0, r1, 0) == "" {
		t.Error("rows 0 and 1 are equal")
	}

	cols, err := InputFromSchema(&mlmodel.Schema{Columns: []mlmodel.ColSpec{
		{Name: "a", Type: mlmodel.Type{Kind: mlmodel.Double}},
		{Name: "b", Type: mlmodel.Type{Kind: mlmodel.String}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cb := cols(mem, 4)
	if cb.NumRows() != 4 || cb.Schema().Field(0).Type.ID() != arrow.FLOAT64 || cb.Schema().Field(1).Type.ID() != arrow.STRING {
		t.Errorf("column-based input: %s", fieldsString(cb.Schema()))
	}
	cb.Release()

	// Fixed shapes (a model that is not batch-safe): one row per column,
	// holding the whole tensor, whatever n.
	fixed, err := InputFromSchema(&mlmodel.Schema{Tensors: []mlmodel.TensorSpec{
		{Name: "a", DType: "float32", Shape: []int64{10}},
		{Name: "b", DType: "float64", Shape: []int64{2, -1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	fb := fixed(mem, 7)
	for i, want := range [][]int64{{10}, {2, 2}} {
		f := fb.Schema().Field(i)
		tv, err := columnar.TensorOf(f, fb.Column(i))
		if err != nil {
			t.Fatal(err)
		}
		if !columnar.IsUnbatched(f) || !slices.Equal(tv.Shape, want) {
			t.Errorf("fixed column %d: unbatched %v, shape %v; want an unbatched %v", i, columnar.IsUnbatched(f), tv.Shape, want)
		}
		tv.Values.Release()
	}
	if fb.NumRows() != 1 {
		t.Errorf("fixed-shape batch has %d rows, want 1", fb.NumRows())
	}
	fb.Release()

	for name, bad := range map[string]*mlmodel.Schema{
		"empty": {},
		"mixed": {Tensors: []mlmodel.TensorSpec{
			{Name: "x", DType: "float32", Shape: []int64{-1, 4}},
			{Name: "y", DType: "float32", Shape: []int64{4}},
		}},
		"complex": {Tensors: []mlmodel.TensorSpec{{Name: "x", DType: "complex64", Shape: []int64{-1}}}},
		"object":  {Columns: []mlmodel.ColSpec{{Name: "x", Type: mlmodel.Type{Kind: mlmodel.Object}}}},
	} {
		if _, err := InputFromSchema(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBadInputBuilders(t *testing.T) {
	input, err := InputFromSchema(&mlmodel.Schema{Tensors: []mlmodel.TensorSpec{
		{Name: "x", DType: "float32", Shape: []int64{-1, 3}},
		{Name: "k", DType: "int64", Shape: []int64{-1}},
		{Name: "s", DType: "str", Shape: []int64{-1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	valid := input(mem, 4)
	defer valid.Release()
	shapeOf := func(b columnar.Batch, name string) ([]int64, arrow.Type) {
		i := b.Schema().FieldIndices(name)[0]
		tv, err := columnar.TensorOf(b.Schema().Field(i), b.Column(i))
		if err != nil {
			t.Fatal(err)
		}
		defer tv.Values.Release()
		return tv.Shape, tv.Values.DataType().ID()
	}
	tests := []struct {
		bad       BadInput
		column    string
		wantShape []int64
		wantType  arrow.Type
	}{
		{WrongType("x"), "x", []int64{4, 3}, arrow.STRING},
		{WrongType("s"), "s", []int64{4}, arrow.FLOAT64},
		{WrongShape("x"), "x", []int64{4, 4}, arrow.FLOAT32},
		{WrongShape("k"), "k", []int64{4, 2}, arrow.INT64},
		{MissingColumn("k"), "", nil, 0},
	}
	for _, tt := range tests {
		b := tt.bad.Make(mem, valid)
		if b.NumRows() != 4 {
			t.Errorf("%s: %d rows, want 4", tt.bad.Name, b.NumRows())
		}
		if tt.column == "" {
			if diff := cmp.Diff([]string{"x", "s"}, fieldNames(b.Schema())); diff != "" {
				t.Errorf("%s: columns (-want +got):\n%s", tt.bad.Name, diff)
			}
		} else {
			shape, typ := shapeOf(b, tt.column)
			if !slices.Equal(shape, tt.wantShape) || typ != tt.wantType {
				t.Errorf("%s: %v %v, want %v %v", tt.bad.Name, shape, typ, tt.wantShape, tt.wantType)
			}
			// The other columns are the valid ones, untouched.
			if len(fieldNames(b.Schema())) != 3 {
				t.Errorf("%s: columns %v", tt.bad.Name, fieldNames(b.Schema()))
			}
		}
		b.Release()
	}
}

func TestDiff(t *testing.T) {
	batch := func(vals ...float64) columnar.Batch {
		b := array.NewFloat64Builder(memory.DefaultAllocator)
		defer b.Release()
		b.AppendValues(vals, nil)
		return newBatch([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Float64}}, []arrow.Array{b.NewArray()}, int64(len(vals)))
	}
	nan := math.NaN()
	tests := []struct {
		name      string
		want, got columnar.Batch
		tol       float64
		diff      string // "" for equal, else a substring
	}{
		{"equal", batch(1, 2), batch(1, 2), 0, ""},
		{"NaN equals NaN", batch(nan, 2), batch(nan, 2), 0, ""},
		{"exact means exact", batch(1, 2), batch(1, 2+1e-9), 0, "row 1"},
		{"within tolerance", batch(1, 2), batch(1, 2+1e-9), 1e-6, ""},
		{"rows", batch(1, 2), batch(1), 0, "1 rows, want 2"},
	}
	for _, tt := range tests {
		got := diff(tt.want, tt.got, tt.tol)
		if (tt.diff == "") != (got == "") || !strings.Contains(got, tt.diff) {
			t.Errorf("%s: diff = %q, want %q", tt.name, got, tt.diff)
		}
	}
	renamed := newBatch([]arrow.Field{{Name: "w", Type: arrow.PrimitiveTypes.Float64}}, []arrow.Array{batch(1).Column(0)}, 1)
	if d := diff(batch(1), renamed, 0); !strings.Contains(d, "schema") {
		t.Errorf("renamed column: diff = %q", d)
	}
}

func TestAllocatorPoisonsFreedMemory(t *testing.T) {
	// What makes "the result changed when its input was released"
	// detectable: freed bytes no longer hold the values.
	a := newAllocator()
	b := a.Allocate(16)
	for i := range b {
		b[i] = 1
	}
	a.Free(b)
	for i, v := range b {
		if v != poison {
			t.Fatalf("byte %d = %#x after Free, want %#x", i, v, poison)
		}
	}
	if a.CurrentAlloc() != 0 {
		t.Errorf("CurrentAlloc = %d", a.CurrentAlloc())
	}
}
