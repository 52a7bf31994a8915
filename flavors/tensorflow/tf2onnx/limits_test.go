package tf2onnx

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/tfpb"
)

// compactConst is a float32 Const of shape [n] given as one repeated value:
// a few bytes in the graph, 4n once expanded.
func compactConst(name string, n int64) *tfpb.NodeDef {
	k := &tfpb.TensorProto{Dtype: tfpb.DataType_DT_FLOAT, TensorShape: shapeProto(n), FloatVal: []float32{1}}
	return nd(name, "Const", nil, "dtype", tf32, "value", &tfpb.AttrValue{Value: &tfpb.AttrValue_Tensor{Tensor: k}})
}

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestConstantFillBudget: constants in TensorFlow's compact form expand
// within one budget per conversion. Forty 40-byte Const nodes once made
// the converter allocate 8 GiB (a fuzz worker stalled in such a graph); a
// function's constant inlined by many calls is expanded once.
func TestConstantFillBudget(t *testing.T) {
	nodes := []*tfpb.NodeDef{nd("x", "Placeholder", nil, "dtype", tf32)}
	prev := "x"
	for i := range 40 {
		nodes = append(nodes, compactConst(fmt.Sprintf("k%d", i), 1<<24),
			nd(fmt.Sprintf("a%d", i), "AddV2", []string{prev, fmt.Sprintf("k%d", i)}, "T", tf32))
		prev = fmt.Sprintf("a%d", i)
	}
	var err error
	if n := allocated(func() { _, err = Convert(graphOf(nodes), sigXY(prev+":0"), nil, Options{}) }); n > 1<<30 {
		t.Errorf("the conversion allocated %d MiB", n>>20)
	}
	if err == nil || !strings.Contains(err.Error(), "compact form") {
		t.Errorf("error %v", err)
	}

	fn := &tfpb.FunctionDef{
		Signature: &tfpb.OpDef{Name: "f",
			InputArg:  []*tfpb.OpDef_ArgDef{{Name: "a", Type: tfpb.DataType_DT_FLOAT}},
			OutputArg: []*tfpb.OpDef_ArgDef{{Name: "out", Type: tfpb.DataType_DT_FLOAT}}},
		NodeDef: []*tfpb.NodeDef{compactConst("k", 1<<24), nd("sum", "AddV2", []string{"a", "k:output:0"}, "T", tf32)},
		Ret:     map[string]string{"out": "sum:z:0"},
	}
	nodes, prev = []*tfpb.NodeDef{nd("x", "Placeholder", nil, "dtype", tf32)}, "x"
	for i := range 20 {
		nodes = append(nodes, nd(fmt.Sprintf("c%d", i), "PartitionedCall", []string{prev}, "f", attrFunc("f")))
		prev = fmt.Sprintf("c%d", i)
	}
	if n := allocated(func() { _, err = Convert(graphOf(nodes, fn), sigXY(prev+":0"), nil, Options{}) }); n > 1<<30 {
		t.Errorf("twenty calls of one function allocated %d MiB", n>>20)
	}
	if err != nil {
		t.Errorf("twenty calls of one function: %v", err)
	}
}

// TestOutputCountBounds: an op's output count comes from an attribute; a
// forged one is refused, not allocated.
func TestOutputCountBounds(t *testing.T) {
	x := nd("x", "Placeholder", nil, "dtype", tf32)
	for _, n := range []*tfpb.NodeDef{
		nd("s", "Split", []string{"axis", "x"}, "T", tf32, "num_split", attrInt(1<<40)),
		nd("s", "Unpack", []string{"x"}, "T", tf32, "num", attrInt(1<<40)),
	} {
		_, err := Convert(graphOf([]*tfpb.NodeDef{x, constI("axis", nil, 0), n}), sigXY("s:0"), nil, Options{})
		if err == nil || !strings.Contains(err.Error(), "outputs") {
			t.Errorf("%s: %v", n.GetOp(), err)
		}
	}
}
