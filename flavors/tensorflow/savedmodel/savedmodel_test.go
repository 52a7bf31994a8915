package savedmodel

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/internal/tfpb"
)

// modelDir returns the shared TensorFlow test model rel (a SavedModel
// directory), skipping when the shared test data is absent.
func modelDir(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(testenv.SharedTestdata(t), "tensorflow", rel)
}

func load(t testing.TB, rel string) (*SavedModel, *MetaGraph) {
	t.Helper()
	s, err := Load(modelDir(t, rel))
	if err != nil {
		t.Fatalf("Load(%s): %v", rel, err)
	}
	mg, err := s.MetaGraph(nil)
	if err != nil {
		t.Fatalf("%s: MetaGraph: %v", rel, err)
	}
	return s, mg
}

const (
	f32   = tfpb.DataType_DT_FLOAT
	i32   = tfpb.DataType_DT_INT32
	i64   = tfpb.DataType_DT_INT64
	u8    = tfpb.DataType_DT_UINT8
	str   = tfpb.DataType_DT_STRING
	anyRk = -99 // marker: unknown rank
)

func ti(name, tensor string, dt tfpb.DataType, shape ...int64) TensorInfo {
	if len(shape) == 1 && shape[0] == anyRk {
		return TensorInfo{Name: name, Tensor: tensor, DType: dt, UnknownRank: true}
	}
	if shape == nil {
		shape = []int64{}
	}
	return TensorInfo{Name: name, Tensor: tensor, DType: dt, Shape: shape}
}

// Every SavedModel of the shared data loads, and its signatures are those
// the README lists.
func TestSignatures(t *testing.T) {
	tests := []struct {
		dir, key        string
		method          string
		inputs, outputs []TensorInfo
	}{
		{"saved_model_half_plus_two_cpu/00000123", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("x", "x:0", f32, -1, 1)}, []TensorInfo{ti("y", "y:0", f32, -1, 1)}},
		{"saved_model_half_plus_two_cpu/00000123", "regress_x2_to_y3", "tensorflow/serving/regress",
			[]TensorInfo{ti("inputs", "x2:0", f32, -1, 1)}, []TensorInfo{ti("outputs", "y3:0", f32, -1, 1)}},
		{"saved_model_half_plus_two_cpu/00000123", "classify_x_to_y", "tensorflow/serving/classify",
			[]TensorInfo{ti("inputs", "tf_example:0", str, anyRk)}, []TensorInfo{ti("scores", "y:0", f32, -1, 1)}},
		{"saved_model_half_plus_two_tf2_cpu/00000123", "serving_default", "tensorflow/serving/predict",
			[]TensorInfo{ti("x", "serving_default_x:0", f32, 1)}, []TensorInfo{ti("y", "StatefulPartitionedCall_5:0", f32, 1)}},
		{"saved_model_half_plus_two_tf2_cpu/00000123", "regress_x_to_y", "tensorflow/serving/predict", // a TF2 export marks every signature predict
			[]TensorInfo{ti("inputs", "regress_x_to_y_inputs:0", str, -1)}, []TensorInfo{ti("outputs", "StatefulPartitionedCall_3:0", f32, -1, 1)}},
		{"saved_model_half_plus_three/00000123", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("x", "x:0", f32, anyRk)}, []TensorInfo{ti("y", "y:0", f32, anyRk)}},
		{"saved_model_half_plus_two_2_versions/00000124", "classify_x2_to_y3", "tensorflow/serving/classify",
			[]TensorInfo{ti("inputs", "x2:0", f32, -1, 1)}, []TensorInfo{ti("scores", "y3:0", f32, -1, 1)}},
		{"saved_model_counter/00000123", "incr_counter_by", "tensorflow/serving/predict",
			[]TensorInfo{ti("delta", "delta:0", f32, anyRk)}, []TensorInfo{ti("output", "incr_counter_by_op/AssignAdd:0", tfpb.DataType_DT_FLOAT_REF)}},
		{"tfjs_times_three_float", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("x", "serving_default_x:0", f32)}, []TensorInfo{ti("output_0", "StatefulPartitionedCall:0", f32)}},
		{"tfjs_times_two_int", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("x", "serving_default_x:0", i32)}, []TensorInfo{ti("output_0", "StatefulPartitionedCall:0", i32)}},
		{"tfjs_uint8_multiply", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("x", "serving_default_x:0", u8, 1)}, []TensorInfo{ti("output_0", "StatefulPartitionedCall:0", i32, 1)}},
		{"tfjs_int64_multiply", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("x", "serving_default_x:0", i64, 2)}, []TensorInfo{ti("output_0", "StatefulPartitionedCall:0", i64, 2)}},
		{"tfjs_module_with_multiple_signatures", "timestwo", "tensorflow/serving/predict",
			[]TensorInfo{ti("x", "timestwo_x:0", f32)}, []TensorInfo{ti("output_0", "StatefulPartitionedCall_1:0", f32)}},
		{"tfjs_model_single_input_multi_output", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("x", "serving_default_x:0", i32)},
			[]TensorInfo{ti("output_0", "StatefulPartitionedCall:0", i32), ti("output_1", "StatefulPartitionedCall:1", i32)}},
		{"tfjs_model_multi_output", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("x", "serving_default_x:0", i32), ti("y", "serving_default_y:0", i32)},
			[]TensorInfo{ti("output_0", "StatefulPartitionedCall:0", i32), ti("output_1", "StatefulPartitionedCall:1", i32)}},
		{"java_tf_function_multi_sig", "add", "tensorflow/serving/predict",
			[]TensorInfo{ti("a", "add_a:0", f32, anyRk), ti("b", "add_b:0", f32, anyRk)},
			[]TensorInfo{ti("output_0", "PartitionedCall:0", f32, anyRk)}},
		{"java_tf_function_multi_sig", "get_variable", "tensorflow/serving/predict",
			[]TensorInfo{ti("dummy", "get_variable_dummy:0", f32, anyRk)},
			[]TensorInfo{ti("output_0", "StatefulPartitionedCall:0", f32)}},
		{"rust_keras_single_input", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("test_in_input", "serving_default_test_in_input:0", f32, -1, 5)},
			[]TensorInfo{ti("test_out", "StatefulPartitionedCall:0", f32, -1, 1)}},
		{"rust_keras_multiple_inputs", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("test_in1", "serving_default_test_in1:0", f32, -1, 5), ti("test_in2", "serving_default_test_in2:0", f32, -1, 5)},
			[]TensorInfo{ti("test_out", "StatefulPartitionedCall:0", f32, -1, 1)}},
		{"rust_regression_savedmodel", "train", "tensorflow/serving/predict",
			[]TensorInfo{ti("x", "train_x:0", f32, -1), ti("y", "train_y:0", f32, -1)},
			[]TensorInfo{ti("loss", "StatefulPartitionedCall_1:0", f32)}},
		{"rust_regression_savedmodel", "w", "tensorflow/serving/predict",
			[]TensorInfo{}, []TensorInfo{ti("output", "StatefulPartitionedCall_2:0", f32, 1)}},
		{"tfnet_simple_model_from_auto_compile", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("input_1", "serving_default_input_1:0", f32, -1, 28, 28, 1)},
			[]TensorInfo{ti("softmax", "StatefulPartitionedCall:0", f32, -1, 10)}},
		{"tfnet_python_func_model", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("input_1", "serving_default_input_1:0", f32, -1, 784)},
			[]TensorInfo{ti("softmax", "StatefulPartitionedCall:0", f32, -1, 10)}},
		{"tfnet_lstm_from_sequential", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("input_1", "serving_default_input_1:0", f32, -1, 5, 3)},
			[]TensorInfo{ti("dense", "StatefulPartitionedCall:0", f32, -1, 1)}},
		{"tfx_keras_taxi", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("examples", "serving_default_examples:0", str, -1)},
			[]TensorInfo{ti("output_0", "StatefulPartitionedCall:0", f32, -1, 3)}},
		{"tf2onnx_regression", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("X", "X:0", f32, anyRk)}, []TensorInfo{ti("pred", "pred:0", f32, anyRk)}},
		{"tf2onnx_assign", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("X", "X:0", i32)}, []TensorInfo{ti("output", "output:0", i32)}},
		{"tf2onnx_redundant_inputs", "", "tensorflow/serving/predict",
			[]TensorInfo{ti("x", "Placeholder:0", f32, 1, 10), ti("y", "Placeholder_1:0", f32, 1, 10)},
			[]TensorInfo{ti("z", "Add:0", f32, 1, 10)}},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.key, func(t *testing.T) {
			_, mg := load(t, tt.dir)
			sig, err := mg.Signature(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			wantKey := tt.key
			if wantKey == "" {
				wantKey = "serving_default"
			}
			if sig.Key != wantKey || sig.MethodName != tt.method {
				t.Errorf("key, method = %q, %q; want %q, %q", sig.Key, sig.MethodName, wantKey, tt.method)
			}
			checkInfos(t, "inputs", sig.Inputs, tt.inputs)
			checkInfos(t, "outputs", sig.Outputs, tt.outputs)
		})
	}
}

func checkInfos(t *testing.T, what string, got, want []TensorInfo) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Tensor != w.Tensor || g.DType != w.DType || g.UnknownRank != w.UnknownRank ||
			!slices.Equal(g.Shape, w.Shape) || (!g.UnknownRank && g.Shape == nil) {
			t.Errorf("%s[%d] = %+v, want %+v", what, i, g, w)
		}
	}
}

// Every SavedModel under the shared directory loads, has a "serve"
// MetaGraph, and every signature and every variable can be read.
func TestLoadAll(t *testing.T) {
	root := filepath.Join(testenv.SharedTestdata(t), "tensorflow")
	var dirs []string
	for _, pat := range []string{"*/saved_model.pb", "*/*/saved_model.pb"} {
		m, _ := filepath.Glob(filepath.Join(root, pat))
		for _, f := range m {
			dirs = append(dirs, filepath.Dir(f))
		}
	}
	if len(dirs) < 20 {
		t.Fatalf("found %d SavedModels under %s, want at least 20", len(dirs), root)
	}
	for _, dir := range dirs {
		rel, _ := filepath.Rel(root, dir)
		t.Run(rel, func(t *testing.T) {
			s, mg := load(t, rel)
			if !slices.Equal(mg.Tags, []string{"serve"}) {
				t.Errorf("tags %v", mg.Tags)
			}
			keys := mg.SignatureKeys()
			if len(keys) == 0 || slices.Contains(keys, InitOpSignatureKey) || !slices.IsSorted(keys) {
				t.Errorf("signature keys %v", keys)
			}
			for _, k := range keys {
				sig, err := mg.Signature(k)
				if err != nil {
					t.Errorf("signature %q: %v", k, err)
					continue
				}
				for _, o := range sig.Outputs {
					if !strings.Contains(o.Tensor, ":") || o.DType == tfpb.DataType_DT_INVALID {
						t.Errorf("signature %q output %+v", k, o)
					}
				}
			}
			ck, err := s.Variables()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range ck.Keys() {
				tn, err := ck.Tensor(k)
				if err != nil {
					t.Errorf("tensor %q: %v", k, err)
					continue
				}
				if tn.DType == str {
					if int64(len(tn.Strings)) != tn.NumElements() {
						t.Errorf("tensor %q: %d strings for shape %v", k, len(tn.Strings), tn.Shape)
					}
				} else if int64(len(tn.Data)) != tn.NumElements()*int64(DTypeSize(tn.DType)) {
					t.Errorf("tensor %q: %d bytes for %v %v", k, len(tn.Data), tn.DType, tn.Shape)
				}
			}
			// A graph with functions has them all by name.
			if n := len(mg.Proto.GetGraphDef().GetLibrary().GetFunction()); len(mg.Functions()) != n {
				t.Errorf("Functions() has %d, library %d", len(mg.Functions()), n)
			}
		})
	}
}

func TestSignatureKeys(t *testing.T) {
	tests := []struct {
		dir  string
		want []string
	}{
		{"tfjs_module_with_multiple_signatures", []string{"serving_default", "timestwo"}},
		{"java_tf_function_multi_sig", []string{"add", "get_const_matrix", "get_const_scalar", "get_const_vector", "get_variable"}},
		{"saved_model_half_plus_two_cpu/00000123", []string{"classify_x_to_y", "regress_x2_to_y3", "regress_x_to_y", "regress_x_to_y2", "serving_default"}},
		{"saved_model_counter/00000123", []string{"get_counter", "incr_counter", "incr_counter_by", "reset_counter"}},
		{"rust_regression_savedmodel", []string{"b", "train", "w"}},
	}
	for _, tt := range tests {
		_, mg := load(t, tt.dir)
		if got := mg.SignatureKeys(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: SignatureKeys = %v, want %v", tt.dir, got, tt.want)
		}
	}
	// The TF2 init op is a SignatureDef but not a signature.
	_, mg := load(t, "saved_model_half_plus_two_tf2_cpu/00000123")
	if _, ok := mg.Proto.SignatureDef[InitOpSignatureKey]; !ok {
		t.Fatalf("test model lost its %s", InitOpSignatureKey)
	}
	if _, err := mg.Signature(InitOpSignatureKey); err == nil {
		t.Errorf("Signature(%q) succeeded", InitOpSignatureKey)
	}
}

func TestMetaGraphTags(t *testing.T) {
	s, err := Load(modelDir(t, "saved_model_half_plus_two_cpu/00000123"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tags := range [][]string{nil, {}, {"serve"}, {"serve", "serve"}} {
		if _, err := s.MetaGraph(tags); err != nil {
			t.Errorf("MetaGraph(%q): %v", tags, err)
		}
	}
	for _, tags := range [][]string{{"gpu"}, {"serve", "gpu"}} {
		_, err := s.MetaGraph(tags)
		if err == nil || !strings.Contains(err.Error(), "it has [serve]") {
			t.Errorf("MetaGraph(%q) error %v, want one listing [serve]", tags, err)
		}
	}
	// Tag sets compare as sets.
	s.Proto.MetaGraphs[0].MetaInfoDef.Tags = []string{"serve", "gpu"}
	if mg, err := s.MetaGraph([]string{"gpu", "serve"}); err != nil || !slices.Equal(mg.Tags, []string{"gpu", "serve"}) {
		t.Errorf("MetaGraph(gpu, serve) = %v, %v", mg, err)
	}
	if _, err := s.MetaGraph(nil); err == nil {
		t.Error("MetaGraph(nil) matched a [gpu serve] graph")
	}
}

func TestSignatureNotFound(t *testing.T) {
	_, mg := load(t, "tfjs_module_with_multiple_signatures")
	_, err := mg.Signature("nope")
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "serving_default, timestwo") {
		t.Errorf("error %v, want it to name the key and list serving_default, timestwo", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "not a SavedModel directory") {
		t.Errorf("empty dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "saved_model.pbtxt"), []byte("saved_model_schema_version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "saved_model.pbtxt") || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("pbtxt only: %v", err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "saved_model.pb"), []byte("\x12\xff\xff\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), filepath.Join(bad, "saved_model.pb")) {
		t.Errorf("garbage saved_model.pb: %v", err)
	}
	// A real saved_model.pb cut in half.
	cut := testenv.CopyDir(t, modelDir(t, "tfjs_times_three_float"))
	pb := filepath.Join(cut, "saved_model.pb")
	if st, err := os.Stat(pb); err != nil {
		t.Fatal(err)
	} else if err := os.Truncate(pb, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(cut); err == nil || !strings.Contains(err.Error(), pb) {
		t.Errorf("truncated saved_model.pb: %v", err)
	}
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "saved_model.pb"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "no MetaGraphs") {
		t.Errorf("empty saved_model.pb: %v", err)
	}
}
