package onnx_test

// Helpers for the flavor tests: loading the models testdata/make_models.py
// builds, reading the cases it computed with numpy (expected.json), turning
// them into Arrow tensor columns and comparing what comes back.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

// testModelDir is the directory of a model built by make_models.py.
func testModelDir(name string) string {
	return filepath.Join("testdata", "models", name)
}

// loadOptions point the flavor at the provisioned ONNX Runtime.
func loadOptions(t testing.TB) flavors.LoadOptions {
	t.Helper()
	getenv, cache := testenv.ONNXRuntime(t)
	return flavors.LoadOptions{Getenv: getenv, CacheDir: cache}
}

// loadDir loads the MLflow model directory dir through the public API and
// closes the predictor when the test ends.
func loadDir(t testing.TB, dir string) flavors.Predictor {
	t.Helper()
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := onnx.Flavor{}.Load(context.Background(), m, loadOptions(t))
	if err != nil {
		t.Fatalf("loading %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := p.(io.Closer).Close(); err != nil {
			t.Errorf("closing %s: %v", dir, err)
		}
	})
	return p
}

// rawModelDir wraps a bare .onnx file in a fresh MLflow model directory.
func rawModelDir(t testing.TB, onnxFile string) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(onnxFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	desc := &mlmodel.Model{Flavors: map[string]mlmodel.FlavorConfig{
		"onnx": {"data": "model.onnx", "providers": []any{"CPUExecutionProvider"}},
	}}
	if err := desc.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// jsonTensor is one tensor of expected.json: numpy's dtype name, shape and
// flat values.
type jsonTensor struct {
	DType string            `json:"dtype"`
	Shape []int64           `json:"shape"`
	Data  []json.RawMessage `json:"data"`
}

type testCase struct {
	Name    string                `json:"name"`
	Inputs  map[string]jsonTensor `json:"inputs"`
	Outputs map[string]jsonTensor `json:"outputs"`
}

// readCases reads the cases make_models.py computed for a model.
func readCases(t testing.TB, model string) []testCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testModelDir(model), "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Cases []testCase }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s/expected.json: %v", model, err)
	}
	return doc.Cases
}

func caseNamed(t testing.TB, model, name string) testCase {
	t.Helper()
	for _, c := range readCases(t, model) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s has no case %q", model, name)
	return testCase{}
}

// arrowType is the Arrow element type for a numpy dtype name.
func arrowType(dtype string) (arrow.DataType, error) {
	switch dtype {
	case "float32":
		return arrow.PrimitiveTypes.Float32, nil
	case "float64":
		return arrow.PrimitiveTypes.Float64, nil
	case "float16":
		return arrow.FixedWidthTypes.Float16, nil
	case "int8":
		return arrow.PrimitiveTypes.Int8, nil
	case "int16":
		return arrow.PrimitiveTypes.Int16, nil
	case "int32":
		return arrow.PrimitiveTypes.Int32, nil
	case "int64":
		return arrow.PrimitiveTypes.Int64, nil
	case "uint8":
		return arrow.PrimitiveTypes.Uint8, nil
	case "bool":
		return arrow.FixedWidthTypes.Boolean, nil
	case "str":
		return arrow.BinaryTypes.String, nil
	}
	return nil, fmt.Errorf("dtype %q", dtype)
}

// values builds the flat Arrow array of a JSON tensor, as type dtype (""
// for its own).
func (jt jsonTensor) values(t testing.TB, dtype string) arrow.Array {
	t.Helper()
	if dtype == "" {
		dtype = jt.DType
	}
	dt, err := arrowType(dtype)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewBuilder(memory.DefaultAllocator, dt)
	defer b.Release()
	for _, raw := range jt.Data {
		var err error
		switch bb := b.(type) {
		case *array.Float16Builder:
			var f float32
			err = json.Unmarshal(raw, &f)
			bb.Append(float16.New(f))
		case *array.BooleanBuilder:
			var v bool
			err = json.Unmarshal(raw, &v)
			bb.Append(v)
		case *array.StringBuilder:
			var v string
			err = json.Unmarshal(raw, &v)
			bb.Append(v)
		default:
			// Through the number's text, which keeps int64 exact; a
			// whole float (4.0) may be asked for as an integer type.
			text := string(raw)
			if f, perr := strconv.ParseFloat(text, 64); perr == nil && arrow.IsInteger(dt.ID()) && f == math.Trunc(f) && strings.ContainsAny(text, ".eE") {
				text = strconv.FormatFloat(f, 'f', -1, 64)
			}
			err = b.AppendValueFromString(text)
		}
		if err != nil {
			t.Fatalf("value %s as %s: %v", raw, dtype, err)
		}
	}
	return b.NewArray()
}

// column makes a batched tensor column of the JSON tensor (one row per
// first-dimension entry), or an unbatched one (the whole tensor in one row)
// when it is 0-d.
func (jt jsonTensor) column(t testing.TB, name, dtype string) (arrow.Field, arrow.Array) {
	t.Helper()
	return jt.columnAs(t, name, dtype, len(jt.Shape) > 0)
}

func (jt jsonTensor) columnAs(t testing.TB, name, dtype string, batched bool) (arrow.Field, arrow.Array) {
	t.Helper()
	vals := jt.values(t, dtype)
	defer vals.Release()
	f, col, err := columnar.NewTensorColumn(name, jt.Shape, vals, batched)
	if err != nil {
		t.Fatal(err)
	}
	return f, col
}

// newBatch assembles columns into a record batch.
func newBatch(t testing.TB, fields []arrow.Field, cols []arrow.Array) arrow.RecordBatch {
	t.Helper()
	rows := int64(0)
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

// inputBatch builds the batch for a case's inputs, in the given column
// order (all of them when order is empty), keeping their dtypes. The
// columns are batched when the inputs share a first dimension, else each
// holds its whole tensor.
func (c testCase) inputBatch(t testing.TB, order ...string) arrow.RecordBatch {
	t.Helper()
	if len(order) == 0 {
		for name := range c.Inputs {
			order = append(order, name)
		}
		sort.Strings(order)
	}
	batched := true
	for _, name := range order {
		jt, first := c.Inputs[name], c.Inputs[order[0]]
		if len(jt.Shape) == 0 || len(first.Shape) == 0 || jt.Shape[0] != first.Shape[0] {
			batched = false
		}
	}
	var fields []arrow.Field
	var cols []arrow.Array
	for _, name := range order {
		jt, ok := c.Inputs[name]
		if !ok {
			t.Fatalf("case %s has no input %q", c.Name, name)
		}
		f, col := jt.columnAs(t, name, "", batched)
		fields, cols = append(fields, f), append(cols, col)
	}
	return newBatch(t, fields, cols)
}

// predict runs p and releases the result when the test ends.
func predict(t testing.TB, p flavors.Predictor, in arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	out, err := p.Predict(context.Background(), in, nil)
	if err != nil {
		t.Fatalf("predict: %v", err)
	}
	t.Cleanup(out.Release)
	return out
}

// tensorOut reads output column name back as a tensor.
func tensorOut(t testing.TB, out arrow.RecordBatch, name string) columnar.Tensor {
	t.Helper()
	idx := out.Schema().FieldIndices(name)
	if len(idx) != 1 {
		t.Fatalf("output %q not in result %v", name, out.Schema())
	}
	tv, err := columnar.TensorOf(out.Schema().Field(idx[0]), out.Column(idx[0]))
	if err != nil {
		t.Fatalf("output %q: %v", name, err)
	}
	t.Cleanup(tv.Values.Release)
	return tv
}

// checkOutputs compares every expected output of a case with the result:
// shape and element type exactly, floating-point values within rtol 1e-5
// (numpy and ONNX Runtime may sum in different orders), others exactly.
func checkOutputs(t testing.TB, out arrow.RecordBatch, c testCase) {
	t.Helper()
	if int(out.NumCols()) != len(c.Outputs) {
		t.Errorf("result has %d columns, want %d: %v", out.NumCols(), len(c.Outputs), out.Schema())
	}
	for name, want := range c.Outputs {
		got := tensorOut(t, out, name)
		if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
			t.Errorf("output %q: shape %v, want %v", name, got.Shape, want.Shape)
			continue
		}
		wv := want.values(t, "")
		defer wv.Release()
		if !arrow.TypeEqual(got.Values.DataType(), wv.DataType()) {
			t.Errorf("output %q: type %s, want %s", name, got.Values.DataType(), wv.DataType())
			continue
		}
		if err := sameValues(got.Values, wv, 1e-5, 1e-6); err != nil {
			t.Errorf("output %q: %v", name, err)
		}
	}
}

// sameValues compares two flat arrays of one type.
func sameValues(got, want arrow.Array, rtol, atol float64) error {
	if got.Len() != want.Len() {
		return fmt.Errorf("%d values, want %d", got.Len(), want.Len())
	}
	for i := 0; i < got.Len(); i++ {
		var a, b float64
		switch g := got.(type) {
		case *array.Float32:
			a, b = float64(g.Value(i)), float64(want.(*array.Float32).Value(i))
		case *array.Float64:
			a, b = g.Value(i), want.(*array.Float64).Value(i)
		case *array.Float16:
			a, b = float64(g.Value(i).Float32()), float64(want.(*array.Float16).Value(i).Float32())
		default:
			if gs, ws := got.ValueStr(i), want.ValueStr(i); gs != ws {
				return fmt.Errorf("value %d is %q, want %q", i, gs, ws)
			}
			continue
		}
		if math.Abs(a-b) > atol+rtol*math.Abs(b) {
			return fmt.Errorf("value %d is %v, want %v", i, a, b)
		}
	}
	return nil
}

// float32Column is a batched float32 tensor column of the given shape.
func float32Column(t testing.TB, name string, shape []int64, data []float32) (arrow.Field, arrow.Array) {
	t.Helper()
	b := array.NewFloat32Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(data, nil)
	vals := b.NewArray()
	defer vals.Release()
	f, col, err := columnar.NewTensorColumn(name, shape, vals, true)
	if err != nil {
		t.Fatal(err)
	}
	return f, col
}
