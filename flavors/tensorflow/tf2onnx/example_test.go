package tf2onnx_test

import (
	"fmt"

	"github.com/mlship/mlship/flavors/tensorflow/tf2onnx"
	"github.com/mlship/mlship/internal/tfpb"
)

// A TF1-style graph y = relu(x·w), with w a variable, converted for the
// signature {x} -> {y}.
func ExampleConvert() {
	f32 := &tfpb.AttrValue{Value: &tfpb.AttrValue_Type{Type: tfpb.DataType_DT_FLOAT}}
	mg := &tfpb.MetaGraphDef{GraphDef: &tfpb.GraphDef{Node: []*tfpb.NodeDef{
		{Name: "x", Op: "Placeholder", Attr: map[string]*tfpb.AttrValue{"dtype": f32}},
		{Name: "w", Op: "VariableV2", Attr: map[string]*tfpb.AttrValue{"dtype": f32}},
		{Name: "w/read", Op: "Identity", Input: []string{"w"}, Attr: map[string]*tfpb.AttrValue{"T": f32}},
		{Name: "xw", Op: "MatMul", Input: []string{"x", "w/read"}, Attr: map[string]*tfpb.AttrValue{"T": f32}},
		{Name: "y", Op: "Relu", Input: []string{"xw"}, Attr: map[string]*tfpb.AttrValue{"T": f32}},
		{Name: "unused", Op: "Unique", Input: []string{"x"}}, // not reached: never translated
	}}}
	sig := tf2onnx.Signature{Key: "serving_default",
		Inputs:  []tf2onnx.IO{{Name: "x", Tensor: "x:0", DType: tfpb.DataType_DT_FLOAT, Shape: []int64{-1, 2}}},
		Outputs: []tf2onnx.IO{{Name: "y", Tensor: "y:0", DType: tfpb.DataType_DT_FLOAT, Shape: []int64{-1, 1}}},
	}
	model, err := tf2onnx.Convert(mg, sig, weights{}, tf2onnx.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range model.GetGraph().GetNode() {
		fmt.Println(n.GetOpType(), n.GetInput(), "->", n.GetOutput())
	}
	fmt.Println("initializers:", len(model.GetGraph().GetInitializer()))
	// Output:
	// Identity [w] -> [w/read:0]
	// MatMul [x w/read:0] -> [xw:0]
	// Relu [xw:0] -> [y:0]
	// Identity [y:0] -> [y]
	// initializers: 1
}

// weights holds w = [[0.5], [-1]].
type weights struct{}

func (weights) Variable(n *tfpb.NodeDef) (*tf2onnx.Tensor, error) {
	return &tf2onnx.Tensor{DType: tfpb.DataType_DT_FLOAT, Shape: []int64{2, 1},
		Data: []byte{0, 0, 0, 0x3f, 0, 0, 0x80, 0xbf}}, nil
}
