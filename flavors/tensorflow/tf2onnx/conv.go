package tf2onnx

import (
	"fmt"

	"github.com/mlship/mlship/internal/onnxpb"
)

// Convolutions and pooling: TensorFlow's default layout is NHWC, ONNX's is
// NCHW, so NHWC tensors are transposed in and out around the ONNX op (ONNX
// Runtime folds the filter's transpose at load and fuses adjacent
// transposes away where it can).

func init() {
	translators["Conv2D"] = conv2D
	translators["MaxPool"] = pool("MaxPool")
	translators["AvgPool"] = pool("AveragePool")
	translators["FusedBatchNorm"] = fusedBatchNorm
	translators["FusedBatchNormV2"] = fusedBatchNorm
	translators["FusedBatchNormV3"] = fusedBatchNorm
	translators["DepthwiseConv2dNative"] = depthwiseConv2D
	translators["Pad"] = pad
	translators["PadV2"] = pad
	translators["MirrorPad"] = pad
}

var (
	toNCHW = []int64{0, 3, 1, 2}
	toNHWC = []int64{0, 2, 3, 1}
)

// layout returns whether the node is NHWC (the default) or NCHW, and the
// spatial entries of a 4-element attribute list in that layout.
func (t *translation) layout() (nhwc bool, err error) {
	switch f := string(t.attr("data_format").GetS()); f {
	case "", "NHWC":
		return true, nil
	case "NCHW":
		return false, nil
	default:
		return false, t.c.unsupported(t.s, t.n, "data_format "+f)
	}
}

func spatial(list []int64, nhwc bool, def int64, what string) ([]int64, error) {
	if len(list) == 0 {
		return []int64{def, def}, nil
	}
	if len(list) != 4 {
		return nil, fmt.Errorf("%s has %d entries, want 4", what, len(list))
	}
	if nhwc {
		if list[0] != 1 || list[3] != 1 {
			return nil, fmt.Errorf("%s %v moves along the batch or channel axis", what, list)
		}
		return []int64{list[1], list[2]}, nil
	}
	if list[0] != 1 || list[1] != 1 {
		return nil, fmt.Errorf("%s %v moves along the batch or channel axis", what, list)
	}
	return []int64{list[2], list[3]}, nil
}

// autoPad maps TensorFlow's padding: SAME puts the extra cell at the end,
// which is ONNX's SAME_UPPER.
func (t *translation) autoPad() (*onnxpb.AttributeProto, error) {
	switch p := string(t.attr("padding").GetS()); p {
	case "VALID":
		return &onnxpb.AttributeProto{Name: ptr("auto_pad"), Type: ptr(onnxpb.AttributeProto_STRING), S: []byte("VALID")}, nil
	case "SAME":
		return &onnxpb.AttributeProto{Name: ptr("auto_pad"), Type: ptr(onnxpb.AttributeProto_STRING), S: []byte("SAME_UPPER")}, nil
	default:
		return nil, t.c.unsupported(t.s, t.n, "padding "+p)
	}
}

// around runs build on the input in NCHW and brings the result back to
// the node's layout.
func (t *translation) around(nhwc bool, x string, build func(nchw string) string) string {
	if !nhwc {
		return t.emit("Identity", []string{build(x)}, t.name(0))
	}
	in := t.emit("Transpose", []string{x}, t.tmp("nchw"), aInts("perm", toNCHW))
	return t.emit("Transpose", []string{build(in)}, t.name(0), aInts("perm", toNHWC))
}

func conv2D(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	nhwc, err := t.layout()
	if err != nil {
		return nil, err
	}
	strides, err := spatial(t.attr("strides").GetList().GetI(), nhwc, 1, "strides")
	if err != nil {
		return nil, err
	}
	dil, err := spatial(t.attr("dilations").GetList().GetI(), nhwc, 1, "dilations")
	if err != nil {
		return nil, err
	}
	pad, err := t.autoPad()
	if err != nil {
		return nil, err
	}
	// TensorFlow filters are [KH, KW, Cin, Cout]; ONNX's [Cout, Cin, KH, KW].
	w := t.emit("Transpose", []string{t.in[1].name}, t.tmp("filter"), aInts("perm", []int64{3, 2, 0, 1}))
	out := t.around(nhwc, t.in[0].name, func(x string) string {
		return t.emit("Conv", []string{x, w}, t.tmp("conv"), aInts("strides", strides), aInts("dilations", dil), pad)
	})
	return one(out, t.in[0].dtype), nil
}

func pool(op string) translator {
	return func(t *translation) ([]*value, error) {
		if err := t.nin(1); err != nil {
			return nil, err
		}
		nhwc, err := t.layout()
		if err != nil {
			return nil, err
		}
		k, err := spatial(t.attr("ksize").GetList().GetI(), nhwc, 1, "ksize")
		if err != nil {
			return nil, err
		}
		strides, err := spatial(t.attr("strides").GetList().GetI(), nhwc, 1, "strides")
		if err != nil {
			return nil, err
		}
		pad, err := t.autoPad()
		if err != nil {
			return nil, err
		}
		out := t.around(nhwc, t.in[0].name, func(x string) string {
			// AveragePool leaves padding out of the count by default, as
			// TensorFlow's SAME average pooling does.
			return t.emit(op, []string{x}, t.tmp("pool"), aInts("kernel_shape", k), aInts("strides", strides), pad)
		})
		return one(out, t.in[0].dtype), nil
	}
}

// fusedBatchNorm in inference mode: y = (x - mean) * scale / sqrt(var + ε)
// + offset, broadcast along the last (channel) axis of NHWC data.
func fusedBatchNorm(t *translation) ([]*value, error) {
	if len(t.in) != 5 {
		return nil, fmt.Errorf("has %d inputs, want 5", len(t.in))
	}
	if t.attr("is_training").GetB() {
		return nil, t.c.unsupported(t.s, t.n, "is_training (batch statistics)")
	}
	nhwc, err := t.layout()
	if err != nil {
		return nil, err
	}
	if !nhwc {
		return nil, t.c.unsupported(t.s, t.n, "data_format NCHW")
	}
	eps := float64(1e-4)
	if a := t.attr("epsilon"); a != nil {
		eps = float64(a.GetF())
	}
	dt := t.in[0].dtype
	e, err := t.scalarConst("epsilon", dt, eps)
	if err != nil {
		return nil, err
	}
	x, scale, offset, mean, variance := t.in[0].name, t.in[1].name, t.in[2].name, t.in[3].name, t.in[4].name
	std := t.emit("Sqrt", []string{t.emit("Add", []string{variance, e}, t.tmp("var_eps"))}, t.tmp("std"))
	k := t.emit("Div", []string{scale, std}, t.tmp("k"))
	centered := t.emit("Sub", []string{x, mean}, t.tmp("centered"))
	y := t.emit("Add", []string{t.emit("Mul", []string{centered, k}, t.tmp("scaled")), offset}, t.name(0))
	// Outputs 1-5 (batch statistics, reserve space) are training results;
	// a graph that reads them is refused as reading a missing output.
	return one(y, dt), nil
}

// depthwiseConv2D is a grouped convolution, one group per input channel.
// TensorFlow's filter [KH, KW, Cin, M] becomes ONNX's [Cin·M, 1, KH, KW],
// which needs the filter's shape when converting (a variable's or a
// constant's).
func depthwiseConv2D(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	fs := t.in[1].shape
	if len(fs) != 4 {
		return nil, t.c.unsupported(t.s, t.n, "a filter whose shape is not known when converting")
	}
	nhwc, err := t.layout()
	if err != nil {
		return nil, err
	}
	strides, err := spatial(t.attr("strides").GetList().GetI(), nhwc, 1, "strides")
	if err != nil {
		return nil, err
	}
	dil, err := spatial(t.attr("dilations").GetList().GetI(), nhwc, 1, "dilations")
	if err != nil {
		return nil, err
	}
	pd, err := t.autoPad()
	if err != nil {
		return nil, err
	}
	kh, kw, cin, m := fs[0], fs[1], fs[2], fs[3]
	w := t.emit("Transpose", []string{t.in[1].name}, t.tmp("filter_t"), aInts("perm", []int64{2, 3, 0, 1}))
	w = t.emit("Reshape", []string{w, t.int64Const("filter_shape", []int64{cin * m, 1, kh, kw})}, t.tmp("filter"))
	out := t.around(nhwc, t.in[0].name, func(x string) string {
		return t.emit("Conv", []string{x, w}, t.tmp("conv"), aInts("strides", strides), aInts("dilations", dil), aInt("group", cin), pd)
	})
	return one(out, t.in[0].dtype), nil
}

// pad translates Pad, PadV2 (a constant value) and MirrorPad (REFLECT;
// SYMMETRIC has no ONNX mode). paddings is a constant [rank, 2].
func pad(t *translation) ([]*value, error) {
	if len(t.in) < 2 {
		return nil, fmt.Errorf("has %d inputs", len(t.in))
	}
	p, err := t.ints(1, "paddings")
	if err != nil {
		return nil, err
	}
	if len(p)%2 != 0 {
		return nil, fmt.Errorf("paddings has %d values", len(p))
	}
	rank := len(p) / 2
	pads := make([]int64, 2*rank) // ONNX: all begins, then all ends
	for i := 0; i < rank; i++ {
		pads[i], pads[rank+i] = p[2*i], p[2*i+1]
	}
	ins := []string{t.in[0].name, t.int64Const("pads", pads)}
	mode := "constant"
	switch t.n.GetOp() {
	case "PadV2":
		if len(t.in) != 3 {
			return nil, fmt.Errorf("has %d inputs, want 3", len(t.in))
		}
		ins = append(ins, t.in[2].name)
	case "MirrorPad":
		if m := string(t.attr("mode").GetS()); m != "REFLECT" {
			return nil, t.c.unsupported(t.s, t.n, "mode "+m)
		}
		mode = "reflect"
	}
	attr := &onnxpb.AttributeProto{Name: ptr("mode"), Type: ptr(onnxpb.AttributeProto_STRING), S: []byte(mode)}
	return one(t.emit("Pad", ins, t.name(0), attr), t.in[0].dtype), nil
}
