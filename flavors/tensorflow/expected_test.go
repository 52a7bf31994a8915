package tensorflow

// The table test over every SavedModel in ../shared/testdata/tensorflow:
// each signature either serves and matches its expected outputs
// (EXPECTED.json, or the model's formula for TensorFlow Serving's
// half_plus_* models) or fails with the precise unsupported-op error.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/tensorflow/savedmodel"
	"github.com/mlship/mlship/flavors/tensorflow/tf2onnx"
	"github.com/mlship/mlship/internal/testenv"
)

// jsonTensor is a tensor of EXPECTED.json.
type jsonTensor struct {
	DType     string    `json:"dtype"`
	Shape     []int64   `json:"shape"`
	Values    []float64 `json:"values"`
	Generator string    `json:"generator"`
}

type expectedCase struct {
	Signature string                `json:"signature"`
	Inputs    map[string]jsonTensor `json:"inputs"`
	Outputs   map[string]jsonTensor `json:"outputs"`
}

// readExpected returns EXPECTED.json's cases per model.
func readExpected(t *testing.T, root string) map[string][]expectedCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "EXPECTED.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string][]expectedCase{}
	for model, raw := range doc {
		var entry struct {
			expectedCase
			Cases []expectedCase `json:"cases"`
		}
		if err := json.Unmarshal(raw, &entry); err != nil {
			continue // "_about"
		}
		if entry.Signature != "" {
			out[model] = append(out[model], entry.expectedCase)
		}
		out[model] = append(out[model], entry.Cases...)
	}
	return out
}

// halfPlus is a case of TensorFlow Serving's half_plus_* models, whose
// expected outputs follow from their formulas (README.md).
func halfPlus(sig, in, out string, shape []int64, x []float64, add float64) expectedCase {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = 0.5*v + add
	}
	return expectedCase{Signature: sig,
		Inputs:  map[string]jsonTensor{in: {DType: "float32", Shape: shape, Values: x}},
		Outputs: map[string]jsonTensor{out: {DType: "float32", Shape: shape, Values: y}}}
}

// savedModelCase says what one signature of a test SavedModel must do.
type savedModelCase struct {
	sig string
	// Either it serves: cases (EXPECTED.json's are added by model name)
	// and an extra check for models without stated outputs,
	cases []expectedCase
	check func(t *testing.T, p flavors.Predictor)
	// or it fails with this unsupported op at this node.
	op, node string
}

func TestSavedModels(t *testing.T) {
	root := filepath.Join(testenv.SharedTestdata(t), "tensorflow")
	expected := readExpected(t, root)
	opts := loadOptions(t)

	x1 := []int64{4, 1}
	hp2TF1 := func() []savedModelCase {
		return []savedModelCase{
			{sig: "serving_default", cases: []expectedCase{halfPlus("serving_default", "x", "y", x1, []float64{0, 1, 2, -4}, 2)}},
			{sig: "regress_x2_to_y3", cases: []expectedCase{halfPlus("regress_x2_to_y3", "inputs", "outputs", x1, []float64{0, 1, 2, -4}, 3)}},
			{sig: "classify_x_to_y", op: "ParseExample", node: "ParseExample/ParseExample"},
			{sig: "regress_x_to_y", op: "ParseExample", node: "ParseExample/ParseExample"},
			{sig: "regress_x_to_y2", op: "ParseExample", node: "ParseExample/ParseExample"},
		}
	}
	v2 := append(hp2TF1(), savedModelCase{sig: "classify_x2_to_y3", cases: []expectedCase{halfPlus("classify_x2_to_y3", "inputs", "scores", x1, []float64{0, 1, 2, -4}, 3)}})
	one := []int64{1}
	models := map[string][]savedModelCase{
		"saved_model_half_plus_two_cpu/00000123":        hp2TF1(),
		"saved_model_half_plus_two_2_versions/00000123": v2,
		"saved_model_half_plus_two_2_versions/00000124": v2,
		"saved_model_half_plus_two_tf2_cpu/00000123": {
			{sig: "serving_default", cases: []expectedCase{halfPlus("serving_default", "x", "y", one, []float64{3}, 2)}},
			{sig: "regress_x2_to_y3", cases: []expectedCase{halfPlus("regress_x2_to_y3", "inputs", "outputs", one, []float64{-1}, 3)}},
			{sig: "classify_x2_to_y3", cases: []expectedCase{halfPlus("classify_x2_to_y3", "inputs", "scores", one, []float64{5}, 3)}},
			{sig: "classify_x_to_y", op: "ParseExampleV2", node: "StatefulPartitionedCall_1/StatefulPartitionedCall/ParseExample/ParseExampleV2"},
			{sig: "regress_x_to_y", op: "ParseExampleV2", node: "StatefulPartitionedCall_3/StatefulPartitionedCall/ParseExample/ParseExampleV2"},
			{sig: "regress_x_to_y2", op: "ParseExampleV2", node: "StatefulPartitionedCall_4/StatefulPartitionedCall/ParseExample/ParseExampleV2"},
		},
		"saved_model_half_plus_three/00000123": {
			{sig: "serving_default", cases: []expectedCase{halfPlus("serving_default", "x", "y", []int64{4}, []float64{0, 1, 2, -4}, 3)}},
			{sig: "tensorflow/serving/regress", op: "ParseExample", node: "ParseExample/ParseExample"},
		},
		"saved_model_counter/00000123": {
			// The counter is saved at 0; getting it needs no session.
			{sig: "get_counter", cases: []expectedCase{{Signature: "get_counter", Outputs: map[string]jsonTensor{"output": {DType: "float32", Shape: []int64{}, Values: []float64{0}}}}}},
			{sig: "incr_counter", op: "AssignAdd", node: "incr_counter_op/AssignAdd"},
			{sig: "incr_counter_by", op: "AssignAdd", node: "incr_counter_by_op/AssignAdd"},
			{sig: "reset_counter", op: "Assign", node: "reset_counter_op/Assign"},
		},
		"tfjs_times_three_float":               {{sig: "serving_default"}},
		"tfjs_times_two_int":                   {{sig: "serving_default"}},
		"tfjs_uint8_multiply":                  {{sig: "serving_default"}},
		"tfjs_int64_multiply":                  {{sig: "serving_default"}},
		"tfjs_module_with_multiple_signatures": {{sig: "serving_default"}, {sig: "timestwo"}},
		"tfjs_model_single_input_multi_output": {{sig: "serving_default"}},
		"tfjs_model_multi_output":              {{sig: "serving_default"}},
		"java_tf_function_multi_sig": {{sig: "add"}, {sig: "get_variable"}, {sig: "get_const_scalar"},
			{sig: "get_const_vector"}, {sig: "get_const_matrix"}},
		"rust_keras_single_input":    {{sig: "serving_default"}},
		"rust_keras_multiple_inputs": {{sig: "serving_default"}},
		"rust_regression_savedmodel": {{sig: "w"}, {sig: "b"},
			{sig: "train", op: "AssignAddVariableOp", node: "StatefulPartitionedCall_1/StatefulPartitionedCall/SGD/SGD/AssignAddVariableOp"}},
		"tfnet_simple_model_from_auto_compile": {{sig: "serving_default"}},
		"tfnet_python_func_model":              {{sig: "serving_default", check: checkSoftmaxRows}},
		"tfnet_lstm_from_sequential": {{sig: "serving_default", op: "TensorListStack",
			node: "StatefulPartitionedCall/StatefulPartitionedCall/sequential/lstm/PartitionedCall/TensorArrayV2Stack/TensorListStack"}},
		"tfx_keras_taxi": {{sig: "serving_default", op: "ParseExampleV2",
			node: "StatefulPartitionedCall/StatefulPartitionedCall/ParseExample/ParseExampleV2"}},
		"tf2onnx_regression":       {{sig: "serving_default"}},
		"tf2onnx_assign":           {{sig: "serving_default", op: "Assign", node: "Assign"}},
		"tf2onnx_redundant_inputs": {{sig: "serving_default", check: checkAddsConstant}},
	}

	// Every SavedModel of the shared data is in the table.
	found, _ := filepath.Glob(filepath.Join(root, "*", "saved_model.pb"))
	versioned, _ := filepath.Glob(filepath.Join(root, "*", "*", "saved_model.pb"))
	for _, pb := range append(found, versioned...) {
		rel, _ := filepath.Rel(root, filepath.Dir(pb))
		if _, ok := models[rel]; !ok {
			t.Errorf("SavedModel %s is not in the table", rel)
		}
	}
	for name := range expected {
		if _, ok := models[name]; !ok && !strings.HasSuffix(name, "_weights") {
			t.Errorf("EXPECTED.json model %s is not in the table", name)
		}
	}

	names := make([]string, 0, len(models))
	for m := range models {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, model := range names {
		dir := filepath.Join(root, model)
		t.Run(strings.ReplaceAll(model, "/", "@"), func(t *testing.T) {
			// Every signature of the model is in the table.
			sm, err := savedmodel.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			mg, err := sm.MetaGraph([]string{"serve"})
			if err != nil {
				t.Fatal(err)
			}
			var listed []string
			for _, c := range models[model] {
				listed = append(listed, c.sig)
			}
			sort.Strings(listed)
			if have := mg.SignatureKeys(); !slices.Equal(have, listed) {
				t.Errorf("signatures %v, the table lists %v", have, listed)
			}
			for _, sc := range models[model] {
				t.Run(strings.ReplaceAll(sc.sig, "/", "@"), func(t *testing.T) {
					runSavedModelCase(t, dir, model, sc, expected[filepath.Dir(model+"/x")], opts)
				})
			}
		})
	}
}

func runSavedModelCase(t *testing.T, dir, model string, sc savedModelCase, stated []expectedCase, opts flavors.LoadOptions) {
	cfg := &Config{Tags: []string{"serve"}, SignatureKey: sc.sig}
	p, err := LoadSavedModel(context.Background(), dir, cfg, opts)
	if sc.op != "" {
		var ue *tf2onnx.UnsupportedError
		if !errors.As(err, &ue) || !errors.Is(err, tf2onnx.ErrUnsupported) {
			t.Fatalf("want the unsupported op %s, got %v", sc.op, err)
		}
		if ue.Op != sc.op || ue.Node != sc.node || ue.Signature != sc.sig {
			t.Errorf("unsupported op %q at %q in signature %q, want %q at %q in %q", ue.Op, ue.Node, ue.Signature, sc.op, sc.node, sc.sig)
		}
		// The message says whether the TensorFlow runtime can take over.
		if msg := err.Error(); !strings.Contains(msg, "TensorFlow runtime fallback is not available") || !strings.Contains(msg, `"`+sc.op+`"`) {
			t.Errorf("error %q does not name the op and the fallback", msg)
		}
		t.Logf("%s %s: %v", model, sc.sig, err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.(io.Closer).Close() })
	cases := sc.cases
	for _, c := range stated {
		if c.Signature == sc.sig {
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 && sc.check == nil {
		t.Fatal("no expected outputs for this signature")
	}
	for _, c := range cases {
		in := inputBatch(t, c.Inputs)
		out, err := p.Predict(context.Background(), in, nil)
		if err != nil {
			t.Fatalf("predict: %v", err)
		}
		compareOutputs(t, out, c.Outputs)
		out.Release()
	}
	if sc.check != nil {
		sc.check(t, p)
	}
}

// inputBatch builds the columns of a case's inputs: batched when every
// input has a first dimension and they share it, else whole tensors.
func inputBatch(t *testing.T, inputs map[string]jsonTensor) arrow.RecordBatch {
	t.Helper()
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	batched := len(names) > 0
	for _, n := range names {
		if s := inputs[n].Shape; len(s) == 0 || s[0] != inputs[names[0]].Shape[0] {
			batched = false
		}
	}
	var fields []arrow.Field
	var cols []arrow.Array
	for _, n := range names {
		jt := inputs[n]
		vals := jt.Values
		if jt.Generator != "" {
			vals = generate(t, jt)
		}
		arr := buildArray(t, jt.DType, vals)
		f, col, err := columnar.NewTensorColumn(n, jt.Shape, arr, batched)
		arr.Release()
		if err != nil {
			t.Fatal(err)
		}
		fields, cols = append(fields, f), append(cols, col)
	}
	rows := int64(1)
	if len(cols) > 0 {
		rows = int64(cols[0].Len())
	}
	b := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rows)
	for _, c := range cols {
		c.Release()
	}
	t.Cleanup(b.Release)
	return b
}

// generate fills the one generated input EXPECTED.json has.
func generate(t *testing.T, jt jsonTensor) []float64 {
	if jt.Generator != "flat index i (row-major) -> (i % 28) / 27.0" {
		t.Fatalf("unknown generator %q", jt.Generator)
	}
	out := make([]float64, columnar.ShapeSize(jt.Shape))
	for i := range out {
		out[i] = float64(i%28) / 27.0
	}
	return out
}

func buildArray(t *testing.T, dtype string, vals []float64) arrow.Array {
	t.Helper()
	mem := memory.DefaultAllocator
	switch dtype {
	case "float32":
		b := array.NewFloat32Builder(mem)
		defer b.Release()
		for _, v := range vals {
			b.Append(float32(v))
		}
		return b.NewArray()
	case "int32":
		b := array.NewInt32Builder(mem)
		defer b.Release()
		for _, v := range vals {
			b.Append(int32(v))
		}
		return b.NewArray()
	case "int64":
		b := array.NewInt64Builder(mem)
		defer b.Release()
		for _, v := range vals {
			b.Append(int64(v))
		}
		return b.NewArray()
	case "uint8":
		b := array.NewUint8Builder(mem)
		defer b.Release()
		for _, v := range vals {
			b.Append(uint8(v))
		}
		return b.NewArray()
	}
	t.Fatalf("dtype %s", dtype)
	return nil
}

// floats reads a numeric Arrow array as float64s, with its numpy type name.
func floats(a arrow.Array) ([]float64, string) {
	out := make([]float64, a.Len())
	var name string
	for i := range out {
		switch x := a.(type) {
		case *array.Float32:
			out[i], name = float64(x.Value(i)), "float32"
		case *array.Float64:
			out[i], name = x.Value(i), "float64"
		case *array.Int32:
			out[i], name = float64(x.Value(i)), "int32"
		case *array.Int64:
			out[i], name = float64(x.Value(i)), "int64"
		case *array.Uint8:
			out[i], name = float64(x.Value(i)), "uint8"
		default:
			return nil, a.DataType().String()
		}
	}
	if name == "" {
		name = NumpyType(0)
		switch a.(type) {
		case *array.Float32:
			name = "float32"
		case *array.Int32:
			name = "int32"
		case *array.Int64:
			name = "int64"
		}
	}
	return out, name
}

// compareOutputs checks shape and type exactly, floating-point values
// within 1e-5 relative (EXPECTED.json's derived values are float64
// numpy), integers exactly.
func compareOutputs(t *testing.T, out arrow.RecordBatch, want map[string]jsonTensor) {
	t.Helper()
	if int(out.NumCols()) != len(want) {
		t.Errorf("result has columns %v, want %d", out.Schema(), len(want))
	}
	for name, w := range want {
		idx := out.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Errorf("output %q missing from %v", name, out.Schema())
			continue
		}
		got, err := columnar.TensorOf(out.Schema().Field(idx[0]), out.Column(idx[0]))
		if err != nil {
			t.Fatal(err)
		}
		vals, dtype := floats(got.Values)
		got.Values.Release()
		if fmt.Sprint(got.Shape) != fmt.Sprint(w.Shape) || dtype != w.DType {
			t.Errorf("output %q: %s%v, want %s%v", name, dtype, got.Shape, w.DType, w.Shape)
			continue
		}
		for i, v := range w.Values {
			if math.Abs(vals[i]-v) > 1e-6+1e-5*math.Abs(v) {
				t.Errorf("output %q[%d] = %v, want %v", name, i, vals[i], v)
			}
		}
	}
}

// checkSoftmaxRows: the custom-layer MNIST model has no stated outputs;
// its softmax rows must each be a distribution.
func checkSoftmaxRows(t *testing.T, p flavors.Predictor) {
	x := make([]float64, 2*784)
	for i := range x {
		x[i] = float64(i%97) / 97
	}
	in := inputBatch(t, map[string]jsonTensor{"input_1": {DType: "float32", Shape: []int64{2, 784}, Values: x}})
	out, err := p.Predict(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	got, err := columnar.TensorOf(out.Schema().Field(0), out.Column(0))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Values.Release()
	vals, _ := floats(got.Values)
	if fmt.Sprint(got.Shape) != "[2 10]" {
		t.Fatalf("softmax shape %v", got.Shape)
	}
	for r := 0; r < 2; r++ {
		sum := 0.0
		for _, v := range vals[10*r : 10*r+10] {
			if v < 0 || v > 1 {
				t.Errorf("row %d: probability %v", r, v)
			}
			sum += v
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("row %d sums to %v", r, sum)
		}
	}
}

// checkAddsConstant: z = x + c, with y unused; z(x+1) - z(x) must be 1.
func checkAddsConstant(t *testing.T, p flavors.Predictor) {
	run := func(xv float64) []float64 {
		x := make([]float64, 10)
		for i := range x {
			x[i] = xv
		}
		in := inputBatch(t, map[string]jsonTensor{
			"x": {DType: "float32", Shape: []int64{1, 10}, Values: x},
			"y": {DType: "float32", Shape: []int64{1, 10}, Values: make([]float64, 10)},
		})
		out, err := p.Predict(context.Background(), in, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Release()
		got, err := columnar.TensorOf(out.Schema().Field(0), out.Column(0))
		if err != nil {
			t.Fatal(err)
		}
		defer got.Values.Release()
		v, _ := floats(got.Values)
		return v
	}
	a, b := run(0), run(1)
	for i := range a {
		if math.Abs(b[i]-a[i]-1) > 1e-6 {
			t.Errorf("z[%d]: %v then %v", i, a[i], b[i])
		}
	}
}
