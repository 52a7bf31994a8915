package savedmodel

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/tfpb"
)

func TestVariableKey(t *testing.T) {
	const vv = "/.ATTRIBUTES/VARIABLE_VALUE"
	tests := []struct {
		dir, variable, want string
	}{
		// TF1: the node name is the key.
		{"tf2onnx_regression", "W", "W"},
		{"tf2onnx_regression", "b:0", "b"},
		{"saved_model_half_plus_two_cpu/00000123", "a", "a"},
		{"tf2onnx_assign", "Variable", "Variable"},
		// TF2: through the signature call's captures and the object graph.
		{"saved_model_half_plus_two_tf2_cpu/00000123", "a", "a" + vv},
		{"saved_model_half_plus_two_tf2_cpu/00000123", "c", "c" + vv},
		{"tfjs_times_three_float", "Variable", "v" + vv},
		{"tfjs_int64_multiply", "Variable_1", "v2" + vv},
		{"tfjs_model_multi_output", "Variable_1", "two" + vv},
		{"java_tf_function_multi_sig", "Variable", "variable" + vv},
		{"rust_regression_savedmodel", "w", "w" + vv},
		{"rust_keras_single_input", "test_in/kernel", "layer_with_weights-0/kernel" + vv},
		{"rust_keras_single_input", "test_out/bias:0", "layer_with_weights-2/bias" + vv},
		{"rust_keras_multiple_inputs", "dense/kernel", "trainable_variables/0" + vv},
		{"rust_keras_multiple_inputs", "test_out/kernel", "layer_with_weights-1/kernel" + vv},
		{"tfnet_simple_model_from_auto_compile", "dense/kernel", "layer_with_weights-0/kernel" + vv},
		{"tfnet_simple_model_from_auto_compile", "dense_1/bias", "layer_with_weights-1/bias" + vv},
		{"tfnet_lstm_from_sequential", "lstm/lstm_cell/recurrent_kernel", "variables/1" + vv},
		{"tfx_keras_taxi", "dense_2/kernel", "layer_with_weights-2/kernel" + vv},
		// Not captured by any signature: matched by the saved variable's name.
		{"rust_keras_single_input", "Adam/test_in/kernel/m", "layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m" + vv},
		{"rust_keras_single_input", "Adam/iter", "optimizer/iter" + vv},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.variable, func(t *testing.T) {
			s, mg := load(t, tt.dir)
			ck, err := s.Variables()
			if err != nil {
				t.Fatal(err)
			}
			got, err := mg.VariableKey(ck, tt.variable)
			if err != nil || got != tt.want {
				t.Fatalf("VariableKey = %q, %v; want %q", got, err, tt.want)
			}
			if _, err := mg.ReadVariable(ck, tt.variable); err != nil {
				t.Errorf("ReadVariable: %v", err)
			}
		})
	}
}

func TestVariableKeyErrors(t *testing.T) {
	tests := []struct{ dir, variable, msg string }{
		{"rust_keras_single_input", "serving_default_test_in_input", "is a Placeholder, not a variable"},
		{"rust_keras_single_input", "no_such_thing", "has no checkpoint key"},
		{"tf2onnx_regression", "nope", "not in the checkpoint"},
		// Two metric variables are both named "total".
		{"rust_keras_single_input", "total", "several objects"},
	}
	for _, tt := range tests {
		s, mg := load(t, tt.dir)
		ck, err := s.Variables()
		if err != nil {
			t.Fatal(err)
		}
		if k, err := mg.VariableKey(ck, tt.variable); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: VariableKey(%q) = %q, %v; want an error saying %q", tt.dir, tt.variable, k, err, tt.msg)
		}
	}
}

// callOf returns the function a signature output's call node runs.
func callOf(t *testing.T, mg *MetaGraph, sigKey string) (string, []string) {
	t.Helper()
	sig, err := mg.Signature(sigKey)
	if err != nil {
		t.Fatal(err)
	}
	node := mg.Node(strings.Split(sig.Outputs[0].Tensor, ":")[0])
	if node == nil || !strings.HasSuffix(node.Op, "PartitionedCall") {
		t.Fatalf("signature %q output %s is not a call: %v", sigKey, sig.Outputs[0].Tensor, node)
	}
	return node.Attr["f"].GetFunc().GetName(), node.Input
}

func TestCapturedVariables(t *testing.T) {
	const vv = "/.ATTRIBUTES/VARIABLE_VALUE"
	tests := []struct {
		dir, sig string
		want     []string
	}{
		{"saved_model_half_plus_two_tf2_cpu/00000123", "serving_default", []string{"a" + vv, "b" + vv}},
		{"saved_model_half_plus_two_tf2_cpu/00000123", "regress_x2_to_y3", []string{"a" + vv, "c" + vv}},
		{"tfjs_uint8_multiply", "serving_default", []string{"v1" + vv, "v2" + vv}},
		{"tfjs_module_with_multiple_signatures", "timestwo", []string{"two" + vv}},
		{"java_tf_function_multi_sig", "add", []string{}},
		{"rust_keras_single_input", "serving_default", []string{
			"layer_with_weights-0/kernel" + vv, "layer_with_weights-0/bias" + vv,
			"layer_with_weights-1/kernel" + vv, "layer_with_weights-1/bias" + vv,
			"layer_with_weights-2/kernel" + vv, "layer_with_weights-2/bias" + vv}},
		{"tfnet_simple_model_from_auto_compile", "serving_default", []string{
			"layer_with_weights-0/kernel" + vv, "layer_with_weights-0/bias" + vv,
			"layer_with_weights-1/kernel" + vv, "layer_with_weights-1/bias" + vv}},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.sig, func(t *testing.T) {
			s, mg := load(t, tt.dir)
			ck, err := s.Variables()
			if err != nil {
				t.Fatal(err)
			}
			fn, inputs := callOf(t, mg, tt.sig)
			got, err := mg.CapturedVariables(fn, ck)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("CapturedVariables(%s) = %q, %v; want %q", fn, got, err, tt.want)
			}
			// The captures are the call's trailing inputs, and resolving
			// those graph variables one by one agrees.
			nargs := len(inputs) - len(got)
			for i, key := range got {
				k, err := mg.VariableKey(ck, inputs[nargs+i])
				if err != nil || k != key {
					t.Errorf("VariableKey(%s) = %q, %v; capture %d is %q", inputs[nargs+i], k, err, i, key)
				}
			}
			if _, ok := mg.Functions()[fn]; !ok {
				t.Errorf("function %s is not in the library", fn)
			}
		})
	}
}

func TestCapturesErrors(t *testing.T) {
	s, mg := load(t, "saved_model_half_plus_two_tf2_cpu/00000123")
	ck, err := s.Variables()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mg.CapturedVariables("__inference_nope", ck); err == nil || !strings.Contains(err.Error(), "not a concrete function") {
		t.Errorf("unknown function: %v", err)
	}
	// A TF1 graph has no object graph.
	s1, mg1 := load(t, "saved_model_half_plus_two_cpu/00000123")
	ck1, _ := s1.Variables()
	if _, err := mg1.CapturedVariables("f", ck1); err == nil || !strings.Contains(err.Error(), "TF1") {
		t.Errorf("TF1: %v", err)
	}
	// Captures reports what each bound input is.
	fn, _ := callOf(t, mg, "serving_default")
	caps, err := mg.Captures(fn, ck)
	if err != nil || len(caps) != 2 || caps[0].Kind != "variable" || caps[0].NodeID != 1 {
		t.Errorf("Captures = %+v, %v", caps, err)
	}
	// Without a checkpoint object graph, TF2 captures cannot resolve.
	if _, err := mg.CapturedVariables(fn, emptyCheckpoint()); err == nil || !strings.Contains(err.Error(), ObjectGraphKey) {
		t.Errorf("empty checkpoint: %v", err)
	}
}

// ReadVariable checks the value against the graph's declared shape.
func TestReadVariableShapeCheck(t *testing.T) {
	s, mg := load(t, "rust_keras_single_input")
	ck, err := s.Variables()
	if err != nil {
		t.Fatal(err)
	}
	tn, err := mg.ReadVariable(ck, "test_in/kernel")
	if err != nil || !slices.Equal(tn.Shape, []int64{5, 5}) {
		t.Fatalf("ReadVariable = %v, %v", tn, err)
	}
	mg.Node("test_in/kernel").Attr["shape"].GetShape().Dim[0].Size = 7
	if _, err := mg.ReadVariable(ck, "test_in/kernel"); err == nil || !strings.Contains(err.Error(), "does not allow") {
		t.Errorf("shape mismatch: %v", err)
	}
}

// TestVariableKeyManyVariables: resolving every variable of a graph with
// thousands of captured variables takes linear time (it took 30 s for
// 5,000 variables captured by 20 calls when each lookup walked the graph:
// a fuzz input could hold a worker that long).
func TestVariableKeyManyVariables(t *testing.T) {
	ck := openVars(t, modelDir(t, "saved_model_half_plus_two_tf2_cpu/00000123"))
	og, err := ck.ObjectGraph()
	if err != nil {
		t.Fatal(err)
	}
	var ids []int32
	want := map[int32]string{}
	notVar := int32(-1)
	for id, n := range og.GetNodes() {
		for _, a := range n.GetAttributes() {
			if a.GetName() == VariableValueAttr {
				ids = append(ids, int32(id))
				want[int32(id)] = a.GetCheckpointKey()
			}
		}
		if _, ok := want[int32(id)]; !ok && notVar < 0 {
			notVar = int32(id)
		}
	}
	if len(ids) == 0 || notVar < 0 {
		t.Fatal("the checkpoint's object graph lacks variables or other objects")
	}
	// Every other variable is bound to an object that is not a variable:
	// its lookup fails, after every call has been searched.
	bound := func(i int) int32 {
		if i%2 == 1 {
			return notVar
		}
		return ids[i%len(ids)]
	}
	const vars, calls = 5000, 20
	var nodes []*tfpb.NodeDef
	cf := &tfpb.SavedConcreteFunction{}
	var inputs []string
	for i := range vars {
		name := fmt.Sprintf("v%d", i)
		nodes = append(nodes, &tfpb.NodeDef{Name: name, Op: "VarHandleOp"})
		inputs = append(inputs, name)
		cf.BoundInputs = append(cf.BoundInputs, bound(i))
	}
	for j := range calls {
		nodes = append(nodes, &tfpb.NodeDef{Name: fmt.Sprintf("call%d", j), Op: "StatefulPartitionedCall", Input: append([]string{"x"}, inputs...),
			Attr: map[string]*tfpb.AttrValue{"f": {Value: &tfpb.AttrValue_Func{Func: &tfpb.NameAttrList{Name: "fn"}}}}})
	}
	mg := &MetaGraph{Proto: &tfpb.MetaGraphDef{GraphDef: &tfpb.GraphDef{Node: nodes},
		ObjectGraphDef: &tfpb.SavedObjectGraph{ConcreteFunctions: map[string]*tfpb.SavedConcreteFunction{"fn": cf}}}}
	start := time.Now()
	for i := range vars {
		key, err := mg.VariableKey(ck, fmt.Sprintf("v%d", i))
		if i%2 == 1 {
			if err == nil || !strings.Contains(err.Error(), "has no "+VariableValueAttr) {
				t.Fatalf("v%d: %q %v, want the object's error", i, key, err)
			}
		} else if err != nil || key != want[bound(i)] {
			t.Fatalf("v%d: %q %v, want %q", i, key, err, want[bound(i)])
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("%d lookups took %v", vars, d)
	}
}
