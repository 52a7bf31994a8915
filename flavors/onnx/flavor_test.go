package onnx_test

// Behaviour of the onnx flavor through its public API (Flavor.Load, then
// Predict on Arrow record batches) with real ONNX Runtime. The models and
// their expected outputs come from testdata/make_models.py (numpy).

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

// Every element type the flavor feeds and returns, through an Identity
// model of rank 3: a wrong stride or byte width shows up as a misplaced
// value.
func TestDTypeRoundTrip(t *testing.T) {
	for _, dtype := range []string{"float32", "float64", "float16", "int8", "int16", "int32", "int64", "uint8", "bool", "str"} {
		t.Run(dtype, func(t *testing.T) {
			p := loadDir(t, testModelDir("identity_"+dtype))
			c := caseNamed(t, "identity_"+dtype, "batch4")
			out := predict(t, p, c.inputBatch(t))
			checkOutputs(t, out, c)
			if f := out.Schema().Field(0); columnar.IsUnbatched(f) || out.NumRows() != 4 {
				t.Errorf("output is unbatched=%v with %d rows; want 4 batched rows", columnar.IsUnbatched(f), out.NumRows())
			}
		})
	}
}

// Inputs are matched by name whatever the column order, and extra columns
// are ignored, as MLflow's wrapper does with a DataFrame.
func TestMultiInputByName(t *testing.T) {
	p := loadDir(t, testModelDir("multi_io"))
	c := caseNamed(t, "multi_io", "batch5")
	in := c.inputBatch(t, "b", "a") // the graph declares a, b

	t.Run("reordered", func(t *testing.T) {
		checkOutputs(t, predict(t, p, in), c)
	})
	t.Run("extra column", func(t *testing.T) {
		f, col := c.Inputs["b"].column(t, "unused", "")
		fields := append(append([]arrow.Field{}, in.Schema().Fields()...), f)
		cols := []arrow.Array{in.Column(0), in.Column(1), col}
		in.Column(0).Retain()
		in.Column(1).Retain()
		checkOutputs(t, predict(t, p, newBatch(t, fields, cols)), c)
	})
	t.Run("missing input", func(t *testing.T) {
		f, col := c.Inputs["a"].column(t, "a", "")
		_, err := p.Predict(context.Background(), newBatch(t, []arrow.Field{f}, []arrow.Array{col}), nil)
		if !flavors.IsInputError(err) || !strings.Contains(err.Error(), "[a, b]") {
			t.Fatalf("err = %v; want an input error naming the inputs [a, b]", err)
		}
	})
}

// A single-input model fed several scalar columns gets them stacked into
// one 2-D tensor, as MLflow passes a DataFrame's .values; the float64
// columns (what JSON numbers decode to) are cast to the float32 input.
func TestStackedColumns(t *testing.T) {
	p := loadDir(t, testModelDir("linear"))
	for _, tc := range []struct{ name, dtype string }{
		{"batch64", "float64"},
		{"batch64", "float32"},
		{"integral", "int64"},
		{"integral", "int32"},
	} {
		t.Run(tc.name+" "+tc.dtype, func(t *testing.T) {
			c := caseNamed(t, "linear", tc.name)
			fields, cols := splitColumns(t, c.Inputs["input"], "feature_", tc.dtype)
			checkOutputs(t, predict(t, p, newBatch(t, fields, cols)), c)
		})
	}
	t.Run("one row of 0-d columns", func(t *testing.T) {
		// A single record sent as scalars: a one-row table.
		c := caseNamed(t, "linear", "batch1")
		x := c.Inputs["input"]
		var fields []arrow.Field
		var cols []arrow.Array
		for j := 0; j < 4; j++ {
			v := jsonTensor{DType: "float64", Shape: []int64{}, Data: x.Data[j : j+1]}
			f, col := v.column(t, "f"+strconv.Itoa(j), "")
			fields, cols = append(fields, f), append(cols, col)
		}
		checkOutputs(t, predict(t, p, newBatch(t, fields, cols)), c)
	})
}

// splitColumns cuts a [rows, k] tensor into k scalar columns named
// prefix0, prefix1 ..., as dtype ("" keeps its own).
func splitColumns(t *testing.T, x jsonTensor, prefix, dtype string) ([]arrow.Field, []arrow.Array) {
	t.Helper()
	rows, k := int(x.Shape[0]), int(x.Shape[1])
	var fields []arrow.Field
	var cols []arrow.Array
	for j := 0; j < k; j++ {
		colData := jsonTensor{DType: x.DType, Shape: []int64{int64(rows)}}
		for r := 0; r < rows; r++ {
			colData.Data = append(colData.Data, x.Data[r*k+j])
		}
		f, col := colData.column(t, prefix+strconv.Itoa(j), dtype)
		fields, cols = append(fields, f), append(cols, col)
	}
	return fields, cols
}

// Stacking into integer and string inputs: each column is converted with
// the checks a single column gets, whatever its own type.
func TestStackedColumnTypes(t *testing.T) {
	ints := caseNamed(t, "stack_int", "batch2")
	strs := caseNamed(t, "stack_str", "batch3")
	// bad is one row of k values.
	bad := func(dtype string, vals ...float64) jsonTensor {
		jt := jsonTensor{DType: dtype, Shape: []int64{1, int64(len(vals))}}
		for _, v := range vals {
			jt.Data = append(jt.Data, num(v))
		}
		return jt
	}
	for _, tc := range []struct {
		name  string
		c     testCase
		x     jsonTensor
		dtype string
		err   string
	}{
		{"int64 columns", ints, ints.Inputs["x"], "int64", ""},
		{"whole float64 columns", ints, ints.Inputs["x"], "float64", ""},
		{"float32 columns", ints, ints.Inputs["x"], "float32", ""},
		{"fractions", ints, bad("float64", 1, 2.5, 3), "float64", "not an integer"},
		{"too large for int32", ints, bad("int64", 1, 1<<40, 3), "int64", "does not fit"},
		{"string columns", strs, strs.Inputs["x"], "str", ""},
		{"numbers into strings", strs, bad("float64", 1, 2), "float64", "wants strings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := "stack_int"
			if tc.c.Name == strs.Name {
				model = "stack_str"
			}
			p := loadDir(t, testModelDir(model))
			fields, cols := splitColumns(t, tc.x, "c", tc.dtype)
			out, err := p.Predict(context.Background(), newBatch(t, fields, cols), nil)
			if tc.err != "" {
				if !flavors.IsInputError(err) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v; want an input error mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release()
			checkOutputs(t, out, tc.c)
		})
	}
}

// A tensor column of another numeric type than the input's is converted:
// float64 to float32 (MLflow's cast) and whole numbers to floats.
func TestNumericConversionIntoFloatInput(t *testing.T) {
	p := loadDir(t, testModelDir("linear"))
	for _, tc := range []struct{ name, dtype string }{
		{"batch64", "float64"},
		{"integral", "int64"},
		{"integral", "int16"},
		{"integral", "int8"},
	} {
		t.Run(tc.name+" "+tc.dtype, func(t *testing.T) {
			c := caseNamed(t, "linear", tc.name)
			f, col := c.Inputs["input"].column(t, "input", tc.dtype)
			checkOutputs(t, predict(t, p, newBatch(t, []arrow.Field{f}, []arrow.Array{col})), c)
		})
	}
}

// Floats may feed an integer input only when every value is a whole
// number: MLflow refuses to lose precision silently.
func TestFloatsIntoIntegerInput(t *testing.T) {
	p := loadDir(t, testModelDir("int_scale"))
	c := caseNamed(t, "int_scale", "batch3")
	t.Run("whole numbers", func(t *testing.T) {
		f, col := c.Inputs["x"].column(t, "x", "float64")
		checkOutputs(t, predict(t, p, newBatch(t, []arrow.Field{f}, []arrow.Array{col})), c)
	})
	for _, tc := range []struct {
		name  string
		data  []float32
		error string
	}{
		{"fraction", []float32{2, 1.5, 0}, "not an integer"},
		{"infinity", []float32{float32(math.Inf(1)), 0, 0}, "not an integer"},
		{"nan", []float32{float32(math.NaN()), 0, 0}, "not an integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, col := float32Column(t, "x", []int64{3}, tc.data)
			_, err := p.Predict(context.Background(), newBatch(t, []arrow.Field{f}, []arrow.Array{col}), nil)
			if !flavors.IsInputError(err) || !strings.Contains(err.Error(), tc.error) {
				t.Fatalf("err = %v; want an input error saying %q", err, tc.error)
			}
		})
	}
	t.Run("out of range", func(t *testing.T) {
		b := array.NewUint64Builder(memory.DefaultAllocator)
		b.AppendValues([]uint64{math.MaxUint64, 1, 2}, nil)
		vals := b.NewArray()
		b.Release()
		f, col, err := columnar.NewTensorColumn("x", []int64{3}, vals, true)
		vals.Release()
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Predict(context.Background(), newBatch(t, []arrow.Field{f}, []arrow.Array{col}), nil)
		if !flavors.IsInputError(err) {
			t.Fatalf("err = %v; want an input error", err)
		}
	})
}

// 0-d inputs and outputs: a float computed from the input, an int64 from
// Size and a string constant. Outputs are whole (unbatched) tensors.
func TestScalars(t *testing.T) {
	p := loadDir(t, testModelDir("scalar"))
	c := caseNamed(t, "scalar", "scalar")
	check := func(t *testing.T, out arrow.RecordBatch) {
		checkOutputs(t, out, c)
		for _, f := range out.Schema().Fields() {
			if !columnar.IsUnbatched(f) {
				t.Errorf("output %q is batched; a 0-d output must be one whole tensor", f.Name)
			}
		}
	}
	t.Run("0-d column", func(t *testing.T) {
		check(t, predict(t, p, c.inputBatch(t)))
	})
	t.Run("one-element column", func(t *testing.T) {
		// A one-row request for a scalar input: squeezed to 0-d.
		f, col := float32Column(t, "x", []int64{1}, []float32{3.5})
		check(t, predict(t, p, newBatch(t, []arrow.Field{f}, []arrow.Array{col})))
	})
}

// An input or output that declares no shape is reported by ONNX Runtime
// with zero dimensions, like a scalar; it must not be treated as one.
func TestUnknownRank(t *testing.T) {
	p := loadDir(t, testModelDir("unknown_rank"))
	for _, c := range readCases(t, "unknown_rank") {
		t.Run(c.Name, func(t *testing.T) {
			checkOutputs(t, predict(t, p, c.inputBatch(t, "x", "s")), c)
		})
	}
}

// Batch sizes are not fixed by the model ("batch" and "time" are dynamic
// axes), down to an empty batch.
func TestDynamicAxes(t *testing.T) {
	for _, model := range []string{"linear", "seq_mean", "half_to_float"} {
		p := loadDir(t, testModelDir(model))
		for _, c := range readCases(t, model) {
			t.Run(model+" "+c.Name, func(t *testing.T) {
				out := predict(t, p, c.inputBatch(t))
				checkOutputs(t, out, c)
				if want := c.Inputs[firstKey(c.Inputs)].Shape[0]; out.NumRows() != want {
					t.Errorf("%d rows, want %d", out.NumRows(), want)
				}
			})
		}
	}
}

func firstKey(m map[string]jsonTensor) string {
	for k := range m {
		return k
	}
	return ""
}

// Outputs whose first dimensions differ cannot share rows: each comes back
// as one whole tensor.
func TestUnbatchedOutputs(t *testing.T) {
	p := loadDir(t, testModelDir("unbatched_outputs"))
	c := caseNamed(t, "unbatched_outputs", "batch2")
	out := predict(t, p, c.inputBatch(t))
	checkOutputs(t, out, c)
	if out.NumRows() != 1 {
		t.Errorf("%d rows, want 1", out.NumRows())
	}
	for _, f := range out.Schema().Fields() {
		if !columnar.IsUnbatched(f) {
			t.Errorf("output %q is batched", f.Name)
		}
	}
}

// mlflow.onnx saves weights as external data by default: the side file is
// read from the model directory, and its absence is a load error.
func TestExternalData(t *testing.T) {
	dir := testModelDir("external_data")
	if _, err := os.Stat(filepath.Join(dir, "model.onnx.data")); err != nil {
		t.Fatalf("the test model has no side file: %v", err)
	}
	p := loadDir(t, dir)
	c := caseNamed(t, "external_data", "batch3")
	checkOutputs(t, predict(t, p, c.inputBatch(t)), c)

	broken := testenv.CopyDir(t, dir)
	if err := os.Remove(filepath.Join(broken, "model.onnx.data")); err != nil {
		t.Fatal(err)
	}
	m, err := mlmodel.Load(broken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (onnx.Flavor{}).Load(context.Background(), m, loadOptions(t)); err == nil {
		t.Fatal("loading without the external data file succeeded")
	}
}

// sklearn-onnx classifiers return probabilities as a sequence of maps
// (ZipMap); they become a Map column, one map per row.
func TestZipMapOutput(t *testing.T) {
	shared := testenv.SharedTestdata(t)
	p := loadDir(t, rawModelDir(t, filepath.Join(shared, "mlflow", "raw_onnx", "sklearn_model.onnx")))
	iris := []float32{
		5.1, 3.5, 1.4, 0.2,
		6.4, 3.2, 4.5, 1.5,
		6.3, 3.3, 6.0, 2.5,
	}
	f, col := float32Column(t, "float_input", []int64{3, 4}, iris)
	out := predict(t, p, newBatch(t, []arrow.Field{f}, []arrow.Array{col}))
	if out.NumRows() != 3 {
		t.Fatalf("%d rows, want 3", out.NumRows())
	}
	labels := tensorOut(t, out, "output_label").Values.(*array.Int64)
	idx := out.Schema().FieldIndices("output_probability")
	if len(idx) != 1 {
		t.Fatalf("no output_probability in %v", out.Schema())
	}
	probs, ok := out.Column(idx[0]).(*array.Map)
	if !ok {
		t.Fatalf("output_probability is %s, want a map column", out.Column(idx[0]).DataType())
	}
	keys, items := probs.Keys().(*array.Int64), probs.Items().(*array.Float32)
	for r := 0; r < 3; r++ {
		start, end := probs.ValueOffsets(r)
		var gotKeys []int64
		sum, best, bestP := 0.0, int64(-1), float32(-1)
		for i := start; i < end; i++ {
			gotKeys = append(gotKeys, keys.Value(int(i)))
			sum += float64(items.Value(int(i)))
			if items.Value(int(i)) > bestP {
				best, bestP = keys.Value(int(i)), items.Value(int(i))
			}
		}
		if diff := cmp.Diff([]int64{0, 1, 2}, gotKeys); diff != "" {
			t.Errorf("row %d keys (-want +got):\n%s", r, diff)
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("row %d probabilities sum to %v", r, sum)
		}
		if labels.Value(r) != best {
			t.Errorf("row %d: label %d, but the most probable class is %d", r, labels.Value(r), best)
		}
	}
	// The three rows are a setosa, a versicolor and a virginica flower.
	if diff := cmp.Diff([]int64{0, 1, 2}, labels.Int64Values()); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
}

// tf2onnx models with ":0" input names and a fixed [10] shape, in float32
// and float64: the output is the elementwise product.
func TestTFMultipleInputs(t *testing.T) {
	shared := testenv.SharedTestdata(t)
	for _, dtype := range []string{"float32", "float64"} {
		t.Run(dtype, func(t *testing.T) {
			p := loadDir(t, rawModelDir(t, filepath.Join(shared, "mlflow", "raw_onnx", "tf_model_multiple_inputs_"+dtype+".onnx")))
			first, second := jsonTensor{DType: dtype, Shape: []int64{10}}, jsonTensor{DType: dtype, Shape: []int64{10}}
			want := jsonTensor{DType: dtype, Shape: []int64{10}}
			for i := 0; i < 10; i++ {
				a, b := float64(i)-4.5, float64(i)*0.5+1
				first.Data = append(first.Data, num(a))
				second.Data = append(second.Data, num(b))
				want.Data = append(want.Data, num(a*b))
			}
			c := testCase{Inputs: map[string]jsonTensor{"first_input:0": first, "second_input:0": second},
				Outputs: map[string]jsonTensor{"output:0": want}}
			checkOutputs(t, predict(t, p, c.inputBatch(t, "first_input:0", "second_input:0")), c)
		})
	}
}

func num(f float64) json.RawMessage {
	return json.RawMessage(strconv.FormatFloat(f, 'g', -1, 64))
}

// A slice of a batch (columns with non-zero offsets, as the batcher and
// Arrow readers produce) must give the answers of a fresh batch of the
// same rows: the zero-copy path hands ONNX Runtime the buffer at the
// slice's offset.
func TestSlicedInputs(t *testing.T) {
	for _, tc := range []struct {
		model, caseName string
		lo, hi          int64
	}{
		{"identity_float32", "batch4", 1, 3}, // rank 3: nested FixedSizeLists
		{"identity_int64", "batch4", 2, 4},
		{"identity_str", "batch4", 1, 2},
		{"identity_bool", "batch4", 1, 4},
		{"multi_io", "batch5", 1, 4},
		{"linear", "batch64", 10, 30},
	} {
		t.Run(tc.model, func(t *testing.T) {
			p := loadDir(t, testModelDir(tc.model))
			c := caseNamed(t, tc.model, tc.caseName)
			full := c.inputBatch(t)
			sliced := full.NewSlice(tc.lo, tc.hi)
			defer sliced.Release()
			fresh := c.sliceRows(t, tc.lo, tc.hi)
			got, want := predict(t, p, sliced), predict(t, p, fresh.inputBatch(t))
			if !array.RecordEqual(got, want) {
				t.Errorf("sliced batch gives\n%v\nfresh batch gives\n%v", got, want)
			}
			checkOutputs(t, got, fresh)
		})
	}
}

// Tensor columns built over a slice of a larger values array have an
// offset in their child array rather than at the top: both must be honoured.
func TestSlicedValues(t *testing.T) {
	p := loadDir(t, testModelDir("identity_float32"))
	c := caseNamed(t, "identity_float32", "batch4")
	all := c.Inputs["x"].values(t, "")
	defer all.Release()
	for _, lo := range []int64{6, 12} { // whole rows of 2x3
		t.Run(strconv.FormatInt(lo, 10), func(t *testing.T) {
			vals := array.NewSlice(all, lo, 24)
			defer vals.Release()
			shape := []int64{(24 - lo) / 6, 2, 3}
			f, col, err := columnar.NewTensorColumn("x", shape, vals, true)
			if err != nil {
				t.Fatal(err)
			}
			leaf := col.Data()
			for len(leaf.Children()) > 0 {
				leaf = leaf.Children()[0]
			}
			if leaf.Offset() == 0 {
				t.Fatal("the test column's values have no offset")
			}
			out := predict(t, p, newBatch(t, []arrow.Field{f}, []arrow.Array{col}))
			want := c.sliceRows(t, lo/6, 4)
			checkOutputs(t, out, want)
		})
	}
}

// sliceRows restricts every input and output of a case to rows [lo, hi).
func (c testCase) sliceRows(t testing.TB, lo, hi int64) testCase {
	t.Helper()
	cut := func(m map[string]jsonTensor) map[string]jsonTensor {
		out := map[string]jsonTensor{}
		for k, jt := range m {
			per := columnar.ShapeSize(jt.Shape[1:])
			shape := append([]int64{hi - lo}, jt.Shape[1:]...)
			out[k] = jsonTensor{DType: jt.DType, Shape: shape, Data: jt.Data[lo*per : hi*per]}
		}
		return out
	}
	return testCase{Name: c.Name, Inputs: cut(c.Inputs), Outputs: cut(c.Outputs)}
}

// A float16 output whose shape depends on the input: onnxruntime_go
// cannot read one ONNX Runtime allocated, so it is allocated beforehand,
// its "batch" dimension taken from the input's. When the model does not
// tie the output's dimension to an input's, the error says so, and is not
// the client's fault.
func TestFloat16DynamicOutput(t *testing.T) {
	t.Run("tied to the input", func(t *testing.T) {
		p := loadDir(t, testModelDir("float16_dynamic"))
		c := caseNamed(t, "float16_dynamic", "batch3")
		checkOutputs(t, predict(t, p, c.inputBatch(t)), c)
		// A 0-row batch too: the buffer handed over is then empty.
		empty := c.sliceRows(t, 0, 0)
		checkOutputs(t, predict(t, p, empty.inputBatch(t)), empty)
	})
	t.Run("untied", func(t *testing.T) {
		p := loadDir(t, testModelDir("float16_untied"))
		c := caseNamed(t, "float16_untied", "batch3")
		_, err := p.Predict(context.Background(), c.inputBatch(t), nil)
		if err == nil || flavors.IsInputError(err) || !strings.Contains(err.Error(), `output "half": float16`) {
			t.Fatalf("err = %v; want a runtime error about float16 output \"half\"", err)
		}
	})
}

// The execution providers MLflow lists by default start with CUDA, absent
// here: the model still loads and runs on the CPU, with a warning.
func TestProviderFallback(t *testing.T) {
	var logs bytes.Buffer
	opts := loadOptions(t)
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	m, err := mlmodel.Load(testModelDir("linear"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := onnx.Flavor{}.Load(context.Background(), m, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.(io.Closer).Close()
	c := caseNamed(t, "linear", "batch1")
	checkOutputs(t, predict(t, p, c.inputBatch(t)), c)
	if !strings.Contains(logs.String(), "CUDAExecutionProvider") {
		t.Errorf("no warning about the missing CUDA provider in:\n%s", logs.String())
	}
}

// The graph's own description of its tensors, for servers without a
// signature.
func TestModelSchema(t *testing.T) {
	p := loadDir(t, testModelDir("multi_io"))
	d, ok := p.(flavors.SchemaDescriber)
	if !ok {
		t.Fatal("the predictor does not describe its schema")
	}
	ins, outs := d.ModelSchema()
	want := []mlmodel.TensorSpec{{Name: "a", DType: "float32", Shape: []int64{-1, 3}}, {Name: "b", DType: "int64", Shape: []int64{-1}}}
	if diff := cmp.Diff(want, ins.Tensors); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	if len(outs.Tensors) != 3 || outs.Tensors[2].Name != "rowsum" || outs.Tensors[2].DType != "float32" {
		t.Errorf("outputs = %+v", outs.Tensors)
	}
}

// TestIntraOpThreads: --threads wins, then the model's own
// onnx_session_options, then the caller's default (serving's 1), then ONNX
// Runtime's.
func TestIntraOpThreads(t *testing.T) {
	plain := testModelDir("identity_float32")
	own := testenv.CopyDir(t, plain)
	mlm := filepath.Join(own, "MLmodel")
	b, err := os.ReadFile(mlm)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "    data: model.onnx\n", "    data: model.onnx\n    onnx_session_options:\n      intra_op_num_threads: 3\n", 1))
	if err := os.WriteFile(mlm, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		dir           string
		threads, dflt int
		want          string
	}{
		{"runtime default", plain, 0, 0, "runtime default"},
		{"serving default", plain, 0, 1, "1"},
		{"flag", plain, 2, 1, "2"},
		{"model's own", own, 0, 1, "3"},
		{"flag over model", own, 2, 1, "2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := mlmodel.Load(c.dir)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			opts := loadOptions(t)
			opts.Threads, opts.DefaultThreads = c.threads, c.dflt
			opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			p, err := onnx.Flavor{}.Load(context.Background(), m, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer p.(io.Closer).Close()
			want := "intra_op_threads=" + strconv.Quote(c.want)
			if _, err := strconv.Atoi(c.want); err == nil {
				want = "intra_op_threads=" + c.want
			}
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log lacks %s:\n%s", want, logs.String())
			}
		})
	}
}
