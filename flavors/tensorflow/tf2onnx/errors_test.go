package tf2onnx

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/tfpb"
)

func graphOf(nodes []*tfpb.NodeDef, fns ...*tfpb.FunctionDef) *tfpb.MetaGraphDef {
	return &tfpb.MetaGraphDef{GraphDef: &tfpb.GraphDef{Node: nodes, Library: &tfpb.FunctionDefLibrary{Function: fns}}}
}

func sigXY(out string) Signature {
	return Signature{Key: "s",
		Inputs:  []IO{{Name: "x", Tensor: "x:0", DType: tfpb.DataType_DT_FLOAT, Shape: []int64{-1}}},
		Outputs: []IO{{Name: "y", Tensor: out, DType: tfpb.DataType_DT_FLOAT, Shape: []int64{-1}}}}
}

func TestConversionErrors(t *testing.T) {
	x := nd("x", "Placeholder", nil, "dtype", tf32)
	mutating := &tfpb.FunctionDef{
		Signature: &tfpb.OpDef{Name: "bump",
			InputArg:  []*tfpb.OpDef_ArgDef{{Name: "a", Type: tfpb.DataType_DT_FLOAT}, {Name: "r", Type: tfpb.DataType_DT_RESOURCE}},
			OutputArg: []*tfpb.OpDef_ArgDef{{Name: "out", Type: tfpb.DataType_DT_FLOAT}}},
		NodeDef: []*tfpb.NodeDef{
			nd("assign", "AssignAddVariableOp", []string{"r", "a"}, "dtype", tf32),
			nd("id", "Identity", []string{"a", "^assign"}, "T", tf32),
		},
		Ret:        map[string]string{"out": "id:output:0"},
		ControlRet: map[string]string{"assign": "assign"},
	}
	unsupportedInFn := &tfpb.FunctionDef{
		Signature: &tfpb.OpDef{Name: "uniq",
			InputArg:  []*tfpb.OpDef_ArgDef{{Name: "a", Type: tfpb.DataType_DT_FLOAT}},
			OutputArg: []*tfpb.OpDef_ArgDef{{Name: "out", Type: tfpb.DataType_DT_FLOAT}}},
		NodeDef: []*tfpb.NodeDef{nd("u", "Unique", []string{"a"}, "T", tf32)},
		Ret:     map[string]string{"out": "u:y:0"},
	}
	for _, tc := range []struct {
		name       string
		mg         *tfpb.MetaGraphDef
		out        string
		op, node   string // an *UnsupportedError
		fn, reason string
		msg        string // or another error containing this
	}{
		{name: "unsupported op", mg: graphOf([]*tfpb.NodeDef{x, nd("u", "Unique", []string{"x"}, "T", tf32)}), out: "u:0",
			op: "Unique", node: "u"},
		{name: "unsupported op in a function", mg: graphOf([]*tfpb.NodeDef{x, nd("call", "PartitionedCall", []string{"x"}, "f", attrFunc("uniq"))}, unsupportedInFn),
			out: "call:0", op: "Unique", node: "call/u", fn: "uniq"},
		{name: "unfed placeholder", mg: graphOf([]*tfpb.NodeDef{x, nd("p", "Placeholder", nil, "dtype", tf32), nd("a", "Add", []string{"x", "p"}, "T", tf32)}),
			out: "a:0", msg: `node "p" (Placeholder): the signature does not feed this placeholder`},
		{name: "state change through a control dependency", mg: graphOf([]*tfpb.NodeDef{x,
			nd("v", "VariableV2", nil, "dtype", tf32), nd("assign", "Assign", []string{"v", "x"}, "T", tf32),
			nd("group", "NoOp", []string{"^assign"}), nd("y", "Identity", []string{"x", "^group"}, "T", tf32)}),
			out: "y:0", op: "Assign", node: "assign", reason: statefulReason},
		{name: "state change in a called function", mg: graphOf([]*tfpb.NodeDef{x, nd("v", "VarHandleOp", nil, "dtype", tf32),
			nd("call", "StatefulPartitionedCall", []string{"x", "v"}, "f", attrFunc("bump"))}, mutating),
			out: "call:0", op: "AssignAddVariableOp", node: "call/assign", fn: "bump", reason: statefulReason},
		{name: "missing function", mg: graphOf([]*tfpb.NodeDef{x, nd("call", "PartitionedCall", []string{"x"}, "f", attrFunc("gone"))}),
			out: "call:0", msg: `calls function "gone", which the graph's library does not have`},
		{name: "cycle", mg: graphOf([]*tfpb.NodeDef{x, nd("a", "Add", []string{"x", "b"}, "T", tf32), nd("b", "Identity", []string{"a"}, "T", tf32)}),
			out: "a:0", msg: "cycle through node"},
		{name: "missing node", mg: graphOf([]*tfpb.NodeDef{x}), out: "nothere:0", msg: `"nothere:0" names no node`},
		{name: "non-constant axis", mg: graphOf([]*tfpb.NodeDef{x, nd("c", "ConcatV2", []string{"x", "x", "x"}, "T", tf32, "N", attrInt(2))}),
			out: "c:0", op: "ConcatV2", node: "c", reason: "axis computed at run time"},
		{name: "ellipsis", mg: graphOf([]*tfpb.NodeDef{x, constI("b", []int64{1}, 0),
			nd("s", "StridedSlice", []string{"x", "b", "b", "b"}, "T", tf32, "ellipsis_mask", attrInt(1))}),
			out: "s:0", op: "StridedSlice", node: "s", reason: "ellipsis_mask"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Convert(tc.mg, sigXY(tc.out), zeroVars{}, Options{})
			if err == nil {
				t.Fatal("converted")
			}
			var ue *UnsupportedError
			if tc.op == "" {
				if errors.As(err, &ue) || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %v, want one containing %q", err, tc.msg)
				}
				return
			}
			if !errors.As(err, &ue) || !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v, want an *UnsupportedError", err)
			}
			if ue.Op != tc.op || ue.Node != tc.node || ue.Function != tc.fn || ue.Signature != "s" || !strings.Contains(ue.Reason, tc.reason) {
				t.Errorf("got %+v, want op %s node %s function %q reason %q", ue, tc.op, tc.node, tc.fn, tc.reason)
			}
			msg := err.Error()
			if !strings.Contains(msg, `signature "s"`) || !strings.Contains(msg, `"`+tc.op+`"`) || !strings.Contains(msg, `"`+tc.node+`"`) {
				t.Errorf("message %q", msg)
			}
		})
	}
	if _, err := Convert(graphOf([]*tfpb.NodeDef{x}), sigXY("x:0"), nil, Options{Opset: 13}); err == nil {
		t.Error("opset 13 was accepted")
	}
}

// TestOnlyReachedNodes: nodes the outputs do not reach are never
// translated, even unsupported ones, and variables they read are not read.
func TestOnlyReachedNodes(t *testing.T) {
	mg := graphOf([]*tfpb.NodeDef{
		nd("x", "Placeholder", nil, "dtype", tf32),
		nd("u", "Unique", []string{"x"}, "T", tf32),
		nd("v", "VariableV2", nil, "dtype", tf32),
		nd("y", "Relu", []string{"x"}, "T", tf32),
	})
	m, err := Convert(mg, sigXY("y:0"), failingVars{t}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range m.GetGraph().GetNode() {
		ops = append(ops, n.GetOpType())
	}
	if got := strings.Join(ops, ","); got != "Relu,Identity" {
		t.Errorf("nodes %s", got)
	}
	if len(m.GetGraph().GetInitializer()) != 0 {
		t.Errorf("initializers %v", m.GetGraph().GetInitializer())
	}
}

type failingVars struct{ t *testing.T }

func (f failingVars) Variable(n *tfpb.NodeDef) (*Tensor, error) {
	f.t.Errorf("variable %s was read", n.GetName())
	return nil, errors.New("no")
}

// TestSelfCallingFunctionStops: a function calling itself twice would be
// inlined forever; the call budget stops it.
func TestSelfCallingFunctionStops(t *testing.T) {
	fn := &tfpb.FunctionDef{
		Signature: &tfpb.OpDef{Name: "f",
			InputArg:  []*tfpb.OpDef_ArgDef{{Name: "a", Type: tfpb.DataType_DT_FLOAT}},
			OutputArg: []*tfpb.OpDef_ArgDef{{Name: "out", Type: tfpb.DataType_DT_FLOAT}}},
		NodeDef: []*tfpb.NodeDef{
			nd("c1", "PartitionedCall", []string{"a"}, "f", attrFunc("f")),
			nd("c2", "PartitionedCall", []string{"a"}, "f", attrFunc("f")),
			nd("sum", "AddV2", []string{"c1:output:0", "c2:output:0"}, "T", tf32),
		},
		Ret: map[string]string{"out": "sum:z:0"},
	}
	mg := graphOf([]*tfpb.NodeDef{nd("x", "Placeholder", nil, "dtype", tf32), nd("call", "PartitionedCall", []string{"x"}, "f", attrFunc("f"))}, fn)
	_, err := Convert(mg, sigXY("call:0"), nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "function calls") {
		t.Errorf("error %v", err)
	}
}

// TestCompactConstants: TensorFlow's compact form repeats the last value;
// an expansion beyond the limit is refused rather than allocated.
func TestCompactConstants(t *testing.T) {
	k, err := fromTF(&tfpb.TensorProto{Dtype: tfpb.DataType_DT_INT32, TensorShape: shapeProto(2, 3), IntVal: []int32{7, 9}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := k.ints(); fmt.Sprint(v) != "[7 9 9 9 9 9]" {
		t.Errorf("values %v", v)
	}
	if _, err := fromTF(&tfpb.TensorProto{Dtype: tfpb.DataType_DT_FLOAT, TensorShape: shapeProto(1<<20, 1<<20), FloatVal: []float32{1}}, nil); err == nil {
		t.Error("a 4 TiB fill was accepted")
	}
	if _, err := fromTF(&tfpb.TensorProto{Dtype: tfpb.DataType_DT_FLOAT, TensorShape: shapeProto(1<<40, 1<<40), FloatVal: []float32{1}}, nil); err == nil {
		t.Error("an overflowing shape was accepted")
	}
}

// TestOutputArgNames: inside a function, "bn:batch_mean:0" is the batch
// mean (a training output, refused), not y.
func TestOutputArgNames(t *testing.T) {
	fn := &tfpb.FunctionDef{
		Signature: &tfpb.OpDef{Name: "f",
			InputArg:  []*tfpb.OpDef_ArgDef{{Name: "a", Type: tfpb.DataType_DT_FLOAT}},
			OutputArg: []*tfpb.OpDef_ArgDef{{Name: "y", Type: tfpb.DataType_DT_FLOAT}, {Name: "m", Type: tfpb.DataType_DT_FLOAT}}},
		NodeDef: []*tfpb.NodeDef{
			constF("g", []int64{1}, 1), constF("b", []int64{1}, 0), constF("mu", []int64{1}, 0), constF("v", []int64{1}, 1),
			nd("bn", "FusedBatchNormV3", []string{"a", "g:output:0", "b:output:0", "mu:output:0", "v:output:0"}, "T", tf32),
		},
		Ret: map[string]string{"y": "bn:y:0", "m": "bn:batch_mean:0"},
	}
	mg := graphOf([]*tfpb.NodeDef{nd("x", "Placeholder", nil, "dtype", tf32), nd("call", "PartitionedCall", []string{"x"}, "f", attrFunc("f"))}, fn)
	if _, err := Convert(mg, sigXY("call:0"), nil, Options{}); err != nil {
		t.Errorf("y: %v", err)
	}
	if _, err := Convert(mg, sigXY("call:1"), nil, Options{}); err == nil || !strings.Contains(err.Error(), "has no output 1") {
		t.Errorf("batch_mean: %v", err)
	}
}
