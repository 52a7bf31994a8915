package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

func TestInspectSavedModelSignatures(t *testing.T) {
	dir := filepath.Join(testenv.SharedTestdata(t), "tensorflow", "java_tf_function_multi_sig")
	m, err := mlmodel.Load(dir) // a plain SavedModel: no MLmodel
	if err != nil {
		t.Fatal(err)
	}
	r := describeSavedModel(m)
	if r == nil || r.Error != "" {
		t.Fatalf("report %+v", r)
	}
	var keys []string
	for _, s := range r.Signatures {
		keys = append(keys, s.Key)
	}
	if got := strings.Join(keys, ","); got != "add,get_const_matrix,get_const_scalar,get_const_vector,get_variable" {
		t.Errorf("signatures %s", got)
	}
	add := r.Signatures[0]
	if len(add.Inputs) != 2 || add.Inputs[0].Name != "a" || add.Inputs[0].Tensor != "add_a:0" || add.Inputs[0].DType != "float" || add.Inputs[0].Shape != nil {
		t.Errorf("add inputs %+v", add.Inputs)
	}
	for _, s := range r.Signatures {
		if s.ONNX != "ok" {
			t.Errorf("%s: onnx %q", s.Key, s.ONNX)
		}
	}
	var out bytes.Buffer
	printSavedModel(&out, r)
	for _, want := range []string{"SavedModel: . (tags serve)", "   add  ", "a float unknown rank (add_a:0)", "output_0 float unknown rank (PartitionedCall:0)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// The selected signature is marked; a wrong tag set is reported, not fatal.
	m.Flavors["tensorflow"]["signature_def_key"] = "get_variable"
	var marked bytes.Buffer
	printSavedModel(&marked, describeSavedModel(m))
	if !strings.Contains(marked.String(), " * get_variable ") {
		t.Errorf("selected signature not marked:\n%s", marked.String())
	}
	m.Flavors["tensorflow"]["meta_graph_tags"] = []any{"gpu"}
	if r := describeSavedModel(m); r == nil || !strings.Contains(r.Error, "gpu") {
		t.Errorf("wrong tags: %+v", r)
	}
	// Other flavors have no SavedModel section.
	if r := describeSavedModel(&mlmodel.Model{Flavors: map[string]mlmodel.FlavorConfig{"onnx": {}}}); r != nil {
		t.Errorf("onnx model: %+v", r)
	}

	// A signature the conversion refuses says which op, where.
	taxi, err := mlmodel.Load(filepath.Join(testenv.SharedTestdata(t), "tensorflow", "tfx_keras_taxi"))
	if err != nil {
		t.Fatal(err)
	}
	if r := describeSavedModel(taxi); r == nil || len(r.Signatures) != 1 ||
		r.Signatures[0].ONNX != "op ParseExampleV2 (node StatefulPartitionedCall/StatefulPartitionedCall/ParseExample/ParseExampleV2) is not supported" {
		t.Errorf("tfx_keras_taxi: %+v", r)
	}
}

// TestInspectMLflowTensorFlowModel: an MLflow model directory whose
// tensorflow flavor block names the SavedModel directory and a signature
// shows that directory's signatures, the chosen one marked.
func TestInspectMLflowTensorFlowModel(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(testenv.SharedTestdata(t), "tensorflow", "tfjs_module_with_multiple_signatures")
	if err := os.Rename(testenv.CopyDir(t, src), filepath.Join(dir, "tfmodel")); err != nil {
		t.Fatal(err)
	}
	mlm := "flavors:\n  tensorflow:\n    saved_model_dir: tfmodel\n    meta_graph_tags: [serve]\n    signature_def_key: timestwo\n    model_type: tf2-module\n  python_function:\n    loader_module: mlflow.tensorflow\n"
	if err := os.WriteFile(filepath.Join(dir, "MLmodel"), []byte(mlm), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := describeSavedModel(m)
	if r == nil || r.Error != "" || r.Dir != "tfmodel" || r.Selected != "timestwo" || len(r.Signatures) != 2 {
		t.Fatalf("report %+v", r)
	}
	var out bytes.Buffer
	printSavedModel(&out, r)
	for _, want := range []string{"SavedModel: tfmodel (tags serve)", " * timestwo ", "   serving_default ", "x float [] (timestwo_x:0)", "onnx:    ok"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// A block serve would refuse is reported with serve's reason.
	m.Flavors["tensorflow"]["model_type"] = "tf3"
	if r := describeSavedModel(m); r == nil || !strings.Contains(r.Error, `unknown model_type "tf3"`) || len(r.Signatures) != 0 {
		t.Errorf("unknown model_type: %+v", r)
	}
}
