package onnx_test

// The ONNX operator test suite (Debian's libonnx-testdata: the node, simple
// and pytorch-* backend tests ONNX itself ships) run through our Predictor:
// every model is wrapped as an MLflow model directory, its input protobufs
// become Arrow tensor columns of exactly their shapes, and the outputs must
// match the suite's expected protobufs. ONNX Runtime computes; what this
// checks is everything around it that is ours: dtype conversion, the
// columnar layout, 0-d and empty tensors, shape handling and output
// batching.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

const onnxTestdataRoot = "/usr/share/libonnx-testdata/data"

// suiteFloors are the pass counts measured with ONNX Runtime 1.30.0 and
// Debian 12's libonnx-testdata (ONNX 1.12): see the summary this test
// logs. A drop is a regression; raise a floor when a fix makes more cases
// pass. With onnxruntime_go alone (no mlship around it), 673 node cases
// pass: most of the difference is 0-d tensors, float16 and empty tensors.
var suiteFloors = map[string]int{
	"node":              863,
	"simple":            17,
	"pytorch-converted": 59,
	"pytorch-operator":  24,
	"real":              0,
}

// suiteDirs are walked in this order. Debian ships real/ as download links
// (data.json) without models: its cases count as unsupported.
var suiteDirs = []string{"node", "simple", "pytorch-converted", "pytorch-operator", "real"}

// ortKnownDiffs are cases whose expected outputs ONNX Runtime does not
// reproduce for reasons of its own; ONNX Runtime's backend test skips them
// too (onnxruntime/test/testdata/onnx_backend_test_series_filters.jsonc).
// A wrong value in one of these counts as failed by ORT; an error raised
// by our code still counts as ours. Keys are name prefixes.
var ortKnownDiffs = map[string]string{
	"test_bernoulli":                                     "random output: the expected values come from numpy's generator",
	"test_training_dropout":                              "random mask in training mode",
	"test_cast_FLOAT_to_STRING":                          "ONNX Runtime prints floats with 8 significant digits, numpy with the shortest repr",
	"test_castlike_FLOAT_to_STRING":                      "as test_cast_FLOAT_to_STRING",
	"test_maxunpool_export_with_output_shape":            "ONNX Runtime's MaxUnpool differs from the reference (listed as failing by ORT)",
	"test_resize_downsample_scales_cubic_align_corners":  "ONNX Runtime's Resize differs from the reference (listed as failing by ORT)",
	"test_resize_downsample_scales_linear_align_corners": "ONNX Runtime's Resize differs from the reference (listed as failing by ORT)",
}

// atolOverrides loosen the absolute tolerance where ONNX Runtime's float32
// FFT leaves rounding noise around expected zeros (ORT's own backend test
// uses atol 1e-4 for test_dft; this data needs a little more). Keys are
// name prefixes.
var atolOverrides = map[string]float64{
	"test_dft":  5e-4,
	"test_stft": 5e-4,
}

func lookupPrefix[V any](m map[string]V, name string) (V, bool) {
	for k, v := range m {
		if strings.HasPrefix(name, k) {
			return v, true
		}
	}
	var zero V
	return zero, false
}

type outcome int

const (
	passed       outcome = iota
	failedOurs           // a wrong answer or an error raised by our code
	failedORT            // ONNX Runtime rejects the model when loading it
	failedORTRun         // ONNX Runtime fails on exact inputs, or is known to differ
	unsupported          // needs values mlship does not represent
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"passed", "failed (ours)", "failed by ORT (load)", "failed by ORT (run/result)", "unsupported"}

type caseResult struct {
	outcome    outcome
	reason     string
	wrongValue bool // the outputs came back with the right shapes and types but other values
}

func TestONNXOperatorSuite(t *testing.T) {
	if st, err := os.Stat(onnxTestdataRoot); err != nil || !st.IsDir() {
		testenv.Missing(t, "the ONNX operator test suite is not installed at "+onnxTestdataRoot+" (apt-get install libonnx-testdata)")
	}
	getenv, cache := testenv.ONNXRuntime(t)
	opts := flavors.LoadOptions{Getenv: getenv, CacheDir: cache, Threads: 1}
	work := t.TempDir()

	var summary []string
	for _, dir := range suiteDirs {
		entries, err := os.ReadDir(filepath.Join(onnxTestdataRoot, dir))
		if err != nil {
			t.Fatal(err)
		}
		var counts [numOutcomes]int
		var notes []string
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			name := e.Name()
			res := runSuiteCase(t, opts, filepath.Join(onnxTestdataRoot, dir, name), filepath.Join(work, dir+"_"+name))
			counts[res.outcome]++
			switch {
			case res.outcome == failedOurs:
				// A wrong answer or an error of ours is a bug whatever the
				// counts say.
				t.Errorf("%s/%s: failed in our code: %s", dir, name, res.reason)
			case res.outcome != passed && testing.Verbose():
				notes = append(notes, fmt.Sprintf("%s/%s: %s: %s", dir, name, outcomeNames[res.outcome], res.reason))
			}
		}
		sort.Strings(notes)
		for _, n := range notes {
			t.Log(n)
		}
		line := fmt.Sprintf("%-18s", dir+":")
		for o, n := range counts {
			line += fmt.Sprintf(" %s %d;", outcomeNames[o], n)
		}
		summary = append(summary, line)
		if counts[passed] < suiteFloors[dir] {
			t.Errorf("%s: %d cases passed, fewer than the floor of %d: a regression", dir, counts[passed], suiteFloors[dir])
		}
	}
	t.Log("ONNX operator suite summary:\n" + strings.Join(summary, "\n"))
}

// runSuiteCase runs one test directory (model.onnx plus test_data_set_N).
func runSuiteCase(t *testing.T, opts flavors.LoadOptions, src, modelDir string) caseResult {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(src, "model.onnx"))
	if err != nil {
		return caseResult{outcome: unsupported, reason: "no model.onnx (Debian ships a download link only)"}
	}
	mio, err := decodeModelIO(raw)
	if err != nil {
		return caseResult{outcome: failedOurs, reason: "test harness: decoding model: " + err.Error()}
	}
	var notTensor string // an input mlship cannot feed: the loader must refuse the model
	for _, in := range mio.inputs {
		if in.kind != "tensor" {
			notTensor = fmt.Sprintf("input %q is a %s", in.name, in.kind)
			break
		}
		if !representable(in.dtype) {
			return caseResult{outcome: unsupported, reason: fmt.Sprintf("input %q is a %s tensor", in.name, dtypeString(in.dtype))}
		}
	}
	for _, out := range mio.outputs {
		if notTensor != "" {
			break
		}
		if out.kind != "tensor" {
			return caseResult{outcome: unsupported, reason: fmt.Sprintf("output %q is a %s", out.name, out.kind)}
		}
		if !representable(out.dtype) {
			return caseResult{outcome: unsupported, reason: fmt.Sprintf("output %q is a %s tensor", out.name, dtypeString(out.dtype))}
		}
	}

	// An MLflow model directory around the suite's model.onnx, loaded the
	// way the CLI loads any model.
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(modelDir)
	if err := os.Symlink(filepath.Join(src, "model.onnx"), filepath.Join(modelDir, "model.onnx")); err != nil {
		t.Fatal(err)
	}
	desc := &mlmodel.Model{Flavors: map[string]mlmodel.FlavorConfig{"onnx": {"data": "model.onnx", "onnx_version": "1.12.0"}}}
	if err := desc.WriteFile(modelDir); err != nil {
		t.Fatal(err)
	}
	m, err := mlmodel.Load(modelDir)
	if err != nil {
		return caseResult{outcome: failedOurs, reason: "loading MLmodel: " + err.Error()}
	}
	ctx := context.Background()
	p, err := onnx.Flavor{}.Load(ctx, m, opts)
	if err != nil {
		if msg := firstLine(err.Error()); strings.Contains(msg, "creating ONNX Runtime session") || strings.Contains(msg, "reading model") {
			return caseResult{outcome: failedORT, reason: msg}
		}
	}
	// Nothing could be fed to a model without inputs or with a sequence,
	// map or optional input: the loader must refuse it with a clear message
	// rather than fail at the first request.
	refusal, reason := "", ""
	switch {
	case len(mio.inputs) == 0:
		refusal, reason = "has no inputs", "the model has no inputs"
	case notTensor != "":
		refusal, reason = "mlship feeds tensor inputs only", notTensor
	}
	if refusal != "" {
		if err != nil && strings.Contains(err.Error(), refusal) {
			return caseResult{outcome: unsupported, reason: reason}
		}
		if err == nil {
			p.(io.Closer).Close()
		}
		return caseResult{outcome: failedOurs, reason: fmt.Sprintf("%s, but the loader did not refuse the model clearly (error: %v)", reason, err)}
	}
	if err != nil {
		return caseResult{outcome: failedOurs, reason: "load: " + firstLine(err.Error())}
	}
	defer p.(io.Closer).Close()

	sets, _ := filepath.Glob(filepath.Join(src, "test_data_set_*"))
	if len(sets) == 0 {
		return caseResult{outcome: unsupported, reason: "no test data sets"}
	}
	sort.Strings(sets)
	name := filepath.Base(src)
	atol, _ := lookupPrefix(atolOverrides, name)
	for _, set := range sets {
		res := runDataSet(ctx, p, mio, set, max(atol, 1e-5))
		if res.outcome == passed {
			continue
		}
		res.reason = filepath.Base(set) + ": " + res.reason
		if why, ok := lookupPrefix(ortKnownDiffs, name); ok && res.wrongValue {
			res.outcome, res.reason = failedORTRun, why+" ("+res.reason+")"
		}
		return res
	}
	return caseResult{outcome: passed}
}

func representable(dt int32) bool {
	switch dt {
	case dtFloat, dtDouble, dtFloat16, dtInt8, dtInt16, dtInt32, dtInt64,
		dtUint8, dtUint16, dtUint32, dtUint64, dtBool, dtString:
		return true
	}
	return false
}

// layout is how a data set's inputs are laid out as columns.
type layout int

const (
	// Batched: one row per first-dimension entry, the layout requests
	// arrive in (only when every input shares its first dimension).
	batchedLayout layout = iota
	// Sliced: batched, as the second half of a batch twice as long, so
	// that every column starts at a non-zero offset (bit offsets for
	// bools, string offsets) as in a batch sliced by a batcher.
	slicedLayout
	// Unbatched: each column holds its whole tensor in one row.
	unbatchedLayout
)

var layoutNames = [...]string{"batched", "sliced", "unbatched"}

// runDataSet feeds one set of inputs in every applicable layout and
// compares every output with the expected ones.
func runDataSet(ctx context.Context, p flavors.Predictor, mio *modelIO, set string, atol float64) caseResult {
	mem := memory.DefaultAllocator
	var inputs []*tensorProto
	for k := 0; ; k++ {
		b, err := os.ReadFile(filepath.Join(set, fmt.Sprintf("input_%d.pb", k)))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return caseResult{outcome: failedOurs, reason: "test harness: " + err.Error()}
		}
		tp, err := decodeTensorProto(b)
		if err != nil {
			return caseResult{outcome: failedOurs, reason: "test harness: " + err.Error()}
		}
		inputs = append(inputs, tp)
	}
	if len(inputs) != len(mio.inputs) {
		return caseResult{outcome: unsupported, reason: fmt.Sprintf("%d input files for %d graph inputs (omitted optional inputs)", len(inputs), len(mio.inputs))}
	}
	var wants []*tensorProto
	for k := range mio.outputs {
		b, err := os.ReadFile(filepath.Join(set, fmt.Sprintf("output_%d.pb", k)))
		if err != nil {
			return caseResult{outcome: failedOurs, reason: "test harness: " + err.Error()}
		}
		want, err := decodeTensorProto(b)
		if err != nil {
			return caseResult{outcome: failedOurs, reason: "test harness: " + err.Error()}
		}
		wants = append(wants, want)
	}
	layouts := []layout{unbatchedLayout}
	if batchable(inputs) {
		layouts = []layout{batchedLayout, slicedLayout, unbatchedLayout}
	}
	for _, l := range layouts {
		res := runLayout(ctx, mem, p, mio, inputs, wants, l, atol)
		if res.outcome != passed {
			if len(layouts) > 1 {
				res.reason = layoutNames[l] + " columns: " + res.reason
			}
			return res
		}
	}
	return caseResult{outcome: passed}
}

func runLayout(ctx context.Context, mem memory.Allocator, p flavors.Predictor, mio *modelIO, inputs, wants []*tensorProto, l layout, atol float64) caseResult {
	batch, err := inputBatch(mem, mio, inputs, l)
	if err != nil {
		return caseResult{outcome: failedOurs, reason: "building input batch: " + err.Error()}
	}
	defer batch.Release()
	out, err := p.Predict(ctx, batch, nil)
	if err != nil {
		msg := firstLine(err.Error())
		if flavors.IsInputError(err) && strings.Contains(msg, "ONNX Runtime:") {
			return caseResult{outcome: failedORTRun, reason: msg}
		}
		return caseResult{outcome: failedOurs, reason: "predict: " + msg}
	}
	defer out.Release()
	for k, o := range mio.outputs {
		if err := compareOutput(mem, out, o.name, wants[k], atol); err != nil {
			var wv *wrongValueError
			return caseResult{outcome: failedOurs, reason: fmt.Sprintf("output %q: %v", o.name, err), wrongValue: errors.As(err, &wv)}
		}
	}
	return caseResult{outcome: passed}
}

// batchable: every input has a first dimension, the same for all.
func batchable(inputs []*tensorProto) bool {
	for _, in := range inputs {
		if len(in.dims) == 0 || len(inputs[0].dims) == 0 || in.dims[0] != inputs[0].dims[0] {
			return false
		}
	}
	return true
}

// inputBatch builds a record batch with one tensor column per graph input,
// each of exactly the test's shape, in layout l.
func inputBatch(mem memory.Allocator, mio *modelIO, inputs []*tensorProto, l layout) (arrow.RecordBatch, error) {
	fields := make([]arrow.Field, len(inputs))
	cols := make([]arrow.Array, len(inputs))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for k, in := range inputs {
		vals, err := in.arrow(mem)
		if err != nil {
			return nil, err
		}
		dims := in.dims
		if l == slicedLayout {
			// The first half holds other values (the data rotated by one
			// element), so reading from the wrong offset shows.
			n := int64(vals.Len())
			head, tail := array.NewSlice(vals, min(1, n), n), array.NewSlice(vals, 0, min(1, n))
			twice, err := array.Concatenate([]arrow.Array{head, tail, vals}, mem)
			head.Release()
			tail.Release()
			vals.Release()
			if err != nil {
				return nil, err
			}
			vals = twice
			dims = append([]int64{2 * in.dims[0]}, in.dims[1:]...)
		}
		fields[k], cols[k], err = columnar.NewTensorColumn(mio.inputs[k].name, dims, vals, l != unbatchedLayout)
		vals.Release()
		if err != nil {
			return nil, err
		}
	}
	if l == unbatchedLayout {
		return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, 1), nil
	}
	rows := inputs[0].dims[0]
	if l == batchedLayout {
		return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rows), nil
	}
	full := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, 2*rows)
	defer full.Release()
	return full.NewSlice(rows, 2*rows), nil
}

// compareOutput checks output name of got against want: shape exactly,
// element type exactly, values with ONNX's backend-test tolerances for
// floating point and exactly otherwise.
func compareOutput(mem memory.Allocator, got arrow.RecordBatch, name string, want *tensorProto, atol float64) error {
	idx := got.Schema().FieldIndices(name)
	if len(idx) != 1 {
		return fmt.Errorf("missing from the result (columns %v)", got.Schema())
	}
	tv, err := columnar.TensorOf(got.Schema().Field(idx[0]), got.Column(idx[0]))
	if err != nil {
		return err
	}
	defer tv.Values.Release()
	wantShape := want.dims
	if wantShape == nil {
		wantShape = []int64{}
	}
	if fmt.Sprint(tv.Shape) != fmt.Sprint(wantShape) {
		return fmt.Errorf("shape %v, want %v", tv.Shape, wantShape)
	}
	wv, err := want.arrow(mem)
	if err != nil {
		return err
	}
	defer wv.Release()
	if !arrow.TypeEqual(tv.Values.DataType(), wv.DataType()) {
		return fmt.Errorf("element type %s, want %s", tv.Values.DataType(), wv.DataType())
	}
	return compareValues(tv.Values, wv, 1e-3, atol)
}

// compareValues compares flat arrays of the same type: floats within
// atol + rtol*|want| (NaN matches NaN), everything else exactly.
func compareValues(got, want arrow.Array, rtol, atol float64) error {
	if got.Len() != want.Len() {
		return fmt.Errorf("%d values, want %d", got.Len(), want.Len())
	}
	var gf, wf func(int) float64
	switch g := got.(type) {
	case *array.Float32:
		w := want.(*array.Float32)
		gf, wf = func(i int) float64 { return float64(g.Value(i)) }, func(i int) float64 { return float64(w.Value(i)) }
	case *array.Float64:
		w := want.(*array.Float64)
		gf, wf = g.Value, w.Value
	case *array.Float16:
		w := want.(*array.Float16)
		gf = func(i int) float64 { return float64(g.Value(i).Float32()) }
		wf = func(i int) float64 { return float64(w.Value(i).Float32()) }
	}
	for i := 0; i < got.Len(); i++ {
		if gf != nil {
			a, b := gf(i), wf(i)
			if math.IsNaN(a) && math.IsNaN(b) || a == b {
				continue
			}
			if math.Abs(a-b) > atol+rtol*math.Abs(b) || math.IsNaN(a) != math.IsNaN(b) {
				return &wrongValueError{fmt.Sprintf("value %d is %v, want %v", i, a, b)}
			}
			continue
		}
		if g, w := got.ValueStr(i), want.ValueStr(i); g != w {
			return &wrongValueError{fmt.Sprintf("value %d is %s, want %s", i, g, w)}
		}
	}
	return nil
}

// wrongValueError is an output of the right shape and type holding a
// different value.
type wrongValueError struct{ msg string }

func (e *wrongValueError) Error() string { return e.msg }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
