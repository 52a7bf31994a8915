package onnx_test

import (
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/flavortest"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

// TestConformance runs the flavor conformance suite against real ONNX
// models on ONNX Runtime: what serve and the batcher assume of any flavor
// must hold for this one.
func TestConformance(t *testing.T) {
	getenv, cache := testenv.ONNXRuntime(t)
	opts := flavors.LoadOptions{Getenv: getenv, CacheDir: cache}

	// Two tensor columns, neither named after the single input: MLflow's
	// rule stacks scalar columns into the input, but tensors cannot be.
	twoTensorColumns := flavortest.BadInput{
		Name: "two tensor columns named after no input",
		Make: func(_ memory.Allocator, valid columnar.Batch) columnar.Batch {
			f := valid.Schema().Field(0)
			a, b := f, f
			a.Name, b.Name = "left", "right"
			col := valid.Column(0)
			return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{a, b}, nil), []arrow.Array{col, col}, valid.NumRows())
		},
	}
	// raw loads a bare .onnx file of the shared test data as a model
	// directory would hold it; the flavor only reads from Dir.
	raw := func(t *testing.T, file string) *mlmodel.Model {
		return &mlmodel.Model{
			Dir:     filepath.Join(testenv.SharedTestdata(t), "mlflow", "raw_onnx"),
			Flavors: map[string]mlmodel.FlavorConfig{onnx.FlavorName: {"data": file}},
		}
	}
	signed := func(t *testing.T, dir string) *mlmodel.Model {
		m, err := mlmodel.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	tests := []struct {
		name  string
		model func(t *testing.T) *mlmodel.Model
		// inputs is the model's input schema, when it has no signature.
		inputs    *mlmodel.Schema
		batchSafe bool
		tolerance float64
		bad       []flavortest.BadInput
	}{
		{
			// input float32 [-1,4] -> probabilities float32 [-1,3], label int64 [-1].
			name: "iris-onnx example",
			model: func(t *testing.T) *mlmodel.Model {
				return signed(t, filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model"))
			},
			batchSafe: true,
			bad: []flavortest.BadInput{
				flavortest.WrongType("input"), flavortest.WrongShape("input"), flavortest.MissingColumn("input"), twoTensorColumns,
			},
		},
		{
			name: "onnx_mlp_handmade",
			model: func(t *testing.T) *mlmodel.Model {
				return signed(t, filepath.Join(testenv.SharedTestdata(t), "mlflow", "onnx_mlp_handmade"))
			},
			batchSafe: true,
			bad: []flavortest.BadInput{
				flavortest.WrongType("input"), flavortest.WrongShape("input"), flavortest.MissingColumn("input"), twoTensorColumns,
			},
		},
		{
			// sklearn-onnx logistic regression: output_label int64 [N] and
			// output_probability, a ZipMap sequence of maps (a Map column).
			// Its probabilities differ in the last bits between batch sizes
			// (ONNX Runtime picks other kernels), hence the tolerance.
			name:      "sklearn ZipMap",
			model:     func(t *testing.T) *mlmodel.Model { return raw(t, "sklearn_model.onnx") },
			inputs:    &mlmodel.Schema{Tensors: []mlmodel.TensorSpec{{Name: "float_input", DType: "float32", Shape: []int64{-1, 4}}}},
			batchSafe: true,
			tolerance: 1e-6,
			bad: []flavortest.BadInput{
				flavortest.WrongType("float_input"), flavortest.WrongShape("float_input"), twoTensorColumns,
			},
		},
		{
			// tf2onnx: two fixed [10] inputs bound by name, output [10]: not
			// batch-safe, each input a single unbatched tensor.
			name:   "tf multiple inputs",
			model:  func(t *testing.T) *mlmodel.Model { return raw(t, "tf_model_multiple_inputs_float32.onnx") },
			inputs: &mlmodel.Schema{Tensors: []mlmodel.TensorSpec{{Name: "first_input:0", DType: "float32", Shape: []int64{10}}, {Name: "second_input:0", DType: "float32", Shape: []int64{10}}}},
			bad: []flavortest.BadInput{
				flavortest.WrongType("first_input:0"), flavortest.WrongShape("second_input:0"), flavortest.MissingColumn("second_input:0"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.model(t)
			inputs := tt.inputs
			if inputs == nil {
				inputs = m.Signature.Inputs
			}
			input, err := flavortest.InputFromSchema(inputs)
			if err != nil {
				t.Fatal(err)
			}
			flavortest.Run(t, flavortest.Case{
				Flavor:    onnx.Flavor{},
				Model:     m,
				Options:   opts,
				Input:     input,
				BatchSafe: tt.batchSafe,
				Tolerance: tt.tolerance,
				BadInputs: tt.bad,
			})
		})
	}
}
