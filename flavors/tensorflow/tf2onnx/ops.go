package tf2onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/mlship/mlship/internal/onnxpb"
	"github.com/mlship/mlship/internal/tfpb"
)

// translation is one node being translated: its scope, its data inputs
// (already translated) and the converter to emit into.
type translation struct {
	c  *converter
	s  *scope
	n  *tfpb.NodeDef
	in []*value
}

type translator func(t *translation) ([]*value, error)

// translators maps TensorFlow ops to their ONNX translation. Ops missing
// here fail the conversion with an *UnsupportedError naming them.
var translators = map[string]translator{}

func init() {
	for _, op := range []string{"Identity", "Snapshot", "StopGradient", "PreventGradient", "EnsureShape", "PlaceholderWithDefault"} {
		translators[op] = identity
	}
	translators["IdentityN"] = identityN
	translators["NoOp"] = func(*translation) ([]*value, error) { return nil, nil }
	translators["Const"] = constOp
	translators["Placeholder"] = placeholder
	translators["VarHandleOp"] = varHandle
	translators["ReadVariableOp"] = readVariable
	translators["VariableV2"] = refVariable
	translators["Variable"] = refVariable
	for tf, ox := range map[string]string{
		"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Softmax": "Softmax", "LogSoftmax": "LogSoftmax",
		"Neg": "Neg", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Abs": "Abs", "Floor": "Floor", "Ceil": "Ceil",
		"Reciprocal": "Reciprocal", "Inv": "Reciprocal", "Softplus": "Softplus", "Elu": "Elu", "Erf": "Erf",
		"Sin": "Sin", "Cos": "Cos", "Sign": "Sign", "Round": "Round",
	} {
		translators[tf] = simple(ox, "")
	}
	for tf, ox := range map[string]string{
		"Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div",
		"Maximum": "Max", "Minimum": "Min", "Pow": "Pow",
	} {
		translators[tf] = simple(ox, "")
	}
	for tf, ox := range map[string]string{
		"Less": "Less", "Greater": "Greater", "LessEqual": "LessOrEqual", "GreaterEqual": "GreaterOrEqual", "Equal": "Equal",
	} {
		translators[tf] = simple(ox, "bool")
	}
	translators["BiasAdd"] = biasAdd
	translators["BiasAddV1"] = biasAdd
	translators["Square"] = square
	translators["SquaredDifference"] = squaredDifference
	translators["Rsqrt"] = rsqrt
	translators["Relu6"] = relu6
	translators["LeakyRelu"] = leakyRelu
	translators["MatMul"] = matMul
	translators["BatchMatMul"] = batchMatMul
	translators["BatchMatMulV2"] = batchMatMul
	translators["BatchMatMulV3"] = batchMatMul
	translators["Reshape"] = reshape
	translators["Squeeze"] = squeeze
	translators["ExpandDims"] = expandDims
	translators["ConcatV2"] = concatV2
	translators["Pack"] = pack
	translators["Transpose"] = transpose
	translators["Shape"] = shapeOp
	translators["Cast"] = cast
	translators["StridedSlice"] = stridedSlice
	translators["Mean"] = reduce("ReduceMean")
	translators["Sum"] = reduce("ReduceSum")
	translators["Max"] = reduce("ReduceMax")
	translators["Min"] = reduce("ReduceMin")
	translators["Prod"] = reduce("ReduceProd")
	translators["Fill"] = fill
	translators["Tile"] = tile
	translators["GatherV2"] = gatherV2
	translators["ResourceGather"] = resourceGather
	translators["ArgMax"] = argMinMax("ArgMax")
	translators["ArgMin"] = argMinMax("ArgMin")
}

// --- helpers ---

func (t *translation) attr(k string) *tfpb.AttrValue { return t.n.GetAttr()[k] }

// dtype is the element type in attribute k ("T", "dtype", "DstT").
func (t *translation) dtype(k string) tfpb.DataType { return t.attr(k).GetType() }

// name returns a fresh ONNX name for output i of the node.
func (t *translation) name(i int) string {
	return t.c.fresh(fmt.Sprintf("%s:%d", t.s.nodePath(t.n.GetName()), i))
}

// tmp returns a fresh ONNX name for an intermediate tensor.
func (t *translation) tmp(what string) string {
	return t.c.fresh(t.s.nodePath(t.n.GetName()) + "/" + what)
}

// emit adds an ONNX node with one output, which becomes output 0 of the
// TensorFlow node unless the caller uses it as an intermediate.
func (t *translation) emit(op string, ins []string, out string, attrs ...*onnxpb.AttributeProto) string {
	t.c.emit(op, out, ins, []string{out}, attrs...)
	return out
}

// one is the common result: a single output of type dt.
func one(name string, dt tfpb.DataType) []*value {
	return []*value{{name: name, dtype: dt}}
}

// ints reads input i, which must be a constant integer tensor.
func (t *translation) ints(i int, what string) ([]int64, error) {
	if i >= len(t.in) {
		return nil, fmt.Errorf("missing %s input", what)
	}
	k := t.in[i].konst
	if k == nil {
		return nil, t.c.unsupported(t.s, t.n, what+" computed at run time (only constants are supported)")
	}
	return k.ints()
}

func (t *translation) nin(n int) error {
	if len(t.in) != n {
		return fmt.Errorf("has %d inputs, want %d", len(t.in), n)
	}
	return nil
}

// int64Const adds a 1-D int64 initializer.
func (t *translation) int64Const(what string, vals []int64) string {
	data := make([]byte, 0, 8*len(vals))
	for _, v := range vals {
		data = binary.LittleEndian.AppendUint64(data, uint64(v))
	}
	name, _ := t.c.constant(t.s.nodePath(t.n.GetName())+"/"+what, &Tensor{DType: tfpb.DataType_DT_INT64, Shape: []int64{int64(len(vals))}, Data: data})
	return name
}

// scalarConst adds a 0-d initializer of a floating or integer type.
func (t *translation) scalarConst(what string, dt tfpb.DataType, v float64) (string, error) {
	le := binary.LittleEndian
	var data []byte
	switch dt {
	case tfpb.DataType_DT_FLOAT:
		data = le.AppendUint32(nil, math.Float32bits(float32(v)))
	case tfpb.DataType_DT_DOUBLE:
		data = le.AppendUint64(nil, math.Float64bits(v))
	case tfpb.DataType_DT_INT32:
		data = le.AppendUint32(nil, uint32(int32(v)))
	case tfpb.DataType_DT_INT64:
		data = le.AppendUint64(nil, uint64(int64(v)))
	default:
		return "", t.c.unsupported(t.s, t.n, fmt.Sprintf("element type %s", dt))
	}
	return t.c.constant(t.s.nodePath(t.n.GetName())+"/"+what, &Tensor{DType: dt, Shape: []int64{}, Data: data})
}

// asInt64 returns input i as an int64 tensor name (TensorFlow shapes and
// indices are often int32; ONNX wants int64).
func (t *translation) asInt64(i int) string {
	v := t.in[i]
	if v.dtype == tfpb.DataType_DT_INT64 {
		return v.name
	}
	if v.konst != nil {
		if vals, err := v.konst.ints(); err == nil {
			return t.int64Const("int64", vals)
		}
	}
	return t.emit("Cast", []string{v.name}, t.tmp("int64"), aInt("to", int64(onnxpb.TensorProto_INT64)))
}

func aInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: ptr(name), Type: ptr(onnxpb.AttributeProto_INT), I: ptr(v)}
}

func aInts(name string, v []int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: ptr(name), Type: ptr(onnxpb.AttributeProto_INTS), Ints: v}
}

func aFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: ptr(name), Type: ptr(onnxpb.AttributeProto_FLOAT), F: ptr(v)}
}

// --- graph plumbing ---

func identity(t *translation) ([]*value, error) {
	if len(t.in) < 1 {
		return nil, fmt.Errorf("has no input")
	}
	in := t.in[0]
	if in.name == "" { // a resource handle passes through
		return []*value{in}, nil
	}
	out := t.emit("Identity", []string{in.name}, t.name(0))
	return []*value{{name: out, dtype: in.dtype, konst: in.konst, shape: in.shape}}, nil
}

func identityN(t *translation) ([]*value, error) {
	outs := make([]*value, len(t.in))
	for i, in := range t.in {
		if in.name == "" {
			outs[i] = in
			continue
		}
		out := t.emit("Identity", []string{in.name}, t.name(i))
		outs[i] = &value{name: out, dtype: in.dtype, konst: in.konst, shape: in.shape}
	}
	return outs, nil
}

func constOp(t *translation) ([]*value, error) {
	k, err := t.c.constValue(t.attr("value").GetTensor())
	if err != nil {
		return nil, err
	}
	name, err := t.c.constant(t.s.nodePath(t.n.GetName()), k)
	if err != nil {
		return nil, err
	}
	return []*value{{name: name, dtype: k.DType, konst: k, shape: k.Shape}}, nil
}

func placeholder(t *translation) ([]*value, error) {
	return nil, fmt.Errorf("the signature does not feed this placeholder, which its outputs depend on")
}

func varHandle(t *translation) ([]*value, error) {
	return []*value{{dtype: tfpb.DataType_DT_RESOURCE, variable: t.n}}, nil
}

func readVariable(t *translation) ([]*value, error) {
	if err := t.nin(1); err != nil {
		return nil, err
	}
	h := t.in[0]
	if h.variable == nil {
		return nil, t.c.unsupported(t.s, t.n, "the resource it reads is not a variable of the SavedModel")
	}
	name, dims, err := t.c.variable(h.variable)
	if err != nil {
		return nil, err
	}
	return []*value{{name: name, dtype: t.dtype("dtype"), shape: dims}}, nil
}

func refVariable(t *translation) ([]*value, error) {
	name, dims, err := t.c.variable(t.n)
	if err != nil {
		return nil, err
	}
	return []*value{{name: name, dtype: baseType(t.dtype("dtype")), shape: dims}}, nil
}

// --- element-wise ---

// simple maps an op to one ONNX op over the same inputs. out is "bool"
// for comparisons, else the output type is the first input's.
func simple(op, out string) translator {
	return func(t *translation) ([]*value, error) {
		ins := make([]string, len(t.in))
		for i, v := range t.in {
			ins[i] = v.name
		}
		if len(ins) == 0 {
			return nil, fmt.Errorf("has no inputs")
		}
		dt := t.in[0].dtype
		if out == "bool" {
			dt = tfpb.DataType_DT_BOOL
		}
		var attrs []*onnxpb.AttributeProto
		if op == "Softmax" || op == "LogSoftmax" {
			attrs = append(attrs, aInt("axis", -1))
		}
		return one(t.emit(op, ins, t.name(0), attrs...), dt), nil
	}
}

func biasAdd(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	if f := string(t.attr("data_format").GetS()); f != "" && f != "NHWC" {
		return nil, t.c.unsupported(t.s, t.n, "data_format "+f)
	}
	return one(t.emit("Add", []string{t.in[0].name, t.in[1].name}, t.name(0)), t.in[0].dtype), nil
}

func square(t *translation) ([]*value, error) {
	if err := t.nin(1); err != nil {
		return nil, err
	}
	return one(t.emit("Mul", []string{t.in[0].name, t.in[0].name}, t.name(0)), t.in[0].dtype), nil
}

func squaredDifference(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	d := t.emit("Sub", []string{t.in[0].name, t.in[1].name}, t.tmp("diff"))
	return one(t.emit("Mul", []string{d, d}, t.name(0)), t.in[0].dtype), nil
}

func rsqrt(t *translation) ([]*value, error) {
	if err := t.nin(1); err != nil {
		return nil, err
	}
	r := t.emit("Sqrt", []string{t.in[0].name}, t.tmp("sqrt"))
	return one(t.emit("Reciprocal", []string{r}, t.name(0)), t.in[0].dtype), nil
}

func relu6(t *translation) ([]*value, error) {
	if err := t.nin(1); err != nil {
		return nil, err
	}
	dt := t.in[0].dtype
	lo, err := t.scalarConst("min", dt, 0)
	if err != nil {
		return nil, err
	}
	hi, err := t.scalarConst("max", dt, 6)
	if err != nil {
		return nil, err
	}
	return one(t.emit("Clip", []string{t.in[0].name, lo, hi}, t.name(0)), dt), nil
}

func leakyRelu(t *translation) ([]*value, error) {
	if err := t.nin(1); err != nil {
		return nil, err
	}
	alpha := float32(0.2)
	if a := t.attr("alpha"); a != nil {
		alpha = a.GetF()
	}
	return one(t.emit("LeakyRelu", []string{t.in[0].name}, t.name(0), aFloat("alpha", alpha)), t.in[0].dtype), nil
}

// --- linear algebra ---

func matMul(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	a, b := t.in[0].name, t.in[1].name
	if t.attr("transpose_a").GetB() {
		a = t.emit("Transpose", []string{a}, t.tmp("a_T"), aInts("perm", []int64{1, 0}))
	}
	if t.attr("transpose_b").GetB() {
		b = t.emit("Transpose", []string{b}, t.tmp("b_T"), aInts("perm", []int64{1, 0}))
	}
	return one(t.emit("MatMul", []string{a, b}, t.name(0)), t.in[0].dtype), nil
}

func batchMatMul(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	if t.attr("adj_x").GetB() || t.attr("adj_y").GetB() {
		return nil, t.c.unsupported(t.s, t.n, "adj_x/adj_y")
	}
	dt := t.in[0].dtype
	if o := t.dtype("Tout"); o != tfpb.DataType_DT_INVALID && o != dt {
		return nil, t.c.unsupported(t.s, t.n, "Tout differs from the input type")
	}
	return one(t.emit("MatMul", []string{t.in[0].name, t.in[1].name}, t.name(0)), dt), nil
}

// --- shapes ---

func reshape(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	return one(t.emit("Reshape", []string{t.in[0].name, t.asInt64(1)}, t.name(0)), t.in[0].dtype), nil
}

func squeeze(t *translation) ([]*value, error) {
	if err := t.nin(1); err != nil {
		return nil, err
	}
	ins := []string{t.in[0].name}
	if dims := t.attr("squeeze_dims").GetList().GetI(); len(dims) > 0 {
		ins = append(ins, t.int64Const("axes", dims))
	}
	return one(t.emit("Squeeze", ins, t.name(0)), t.in[0].dtype), nil
}

func expandDims(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	axis, err := t.ints(1, "axis")
	if err != nil {
		return nil, err
	}
	return one(t.emit("Unsqueeze", []string{t.in[0].name, t.int64Const("axes", axis)}, t.name(0)), t.in[0].dtype), nil
}

func concatV2(t *translation) ([]*value, error) {
	if len(t.in) < 2 {
		return nil, fmt.Errorf("has %d inputs", len(t.in))
	}
	axis, err := t.ints(len(t.in)-1, "axis")
	if err != nil {
		return nil, err
	}
	if len(axis) != 1 {
		return nil, fmt.Errorf("axis has %d values", len(axis))
	}
	ins := make([]string, len(t.in)-1)
	for i := range ins {
		ins[i] = t.in[i].name
	}
	return one(t.emit("Concat", ins, t.name(0), aInt("axis", axis[0])), t.in[0].dtype), nil
}

func pack(t *translation) ([]*value, error) {
	if len(t.in) == 0 {
		return nil, fmt.Errorf("has no inputs")
	}
	axis := t.attr("axis").GetI()
	axes := t.int64Const("axes", []int64{axis})
	ins := make([]string, len(t.in))
	for i, v := range t.in {
		ins[i] = t.emit("Unsqueeze", []string{v.name, axes}, t.tmp(fmt.Sprintf("unsqueeze%d", i)))
	}
	return one(t.emit("Concat", ins, t.name(0), aInt("axis", axis)), t.in[0].dtype), nil
}

func transpose(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	perm, err := t.ints(1, "perm")
	if err != nil {
		return nil, err
	}
	return one(t.emit("Transpose", []string{t.in[0].name}, t.name(0), aInts("perm", perm)), t.in[0].dtype), nil
}

func shapeOp(t *translation) ([]*value, error) {
	if err := t.nin(1); err != nil {
		return nil, err
	}
	out := t.dtype("out_type")
	if out == tfpb.DataType_DT_INVALID {
		out = tfpb.DataType_DT_INT32
	}
	if out == tfpb.DataType_DT_INT64 {
		return one(t.emit("Shape", []string{t.in[0].name}, t.name(0)), out), nil
	}
	s := t.emit("Shape", []string{t.in[0].name}, t.tmp("shape"))
	et, err := onnxType(out)
	if err != nil {
		return nil, err
	}
	return one(t.emit("Cast", []string{s}, t.name(0), aInt("to", int64(et))), out), nil
}

func cast(t *translation) ([]*value, error) {
	if err := t.nin(1); err != nil {
		return nil, err
	}
	dst := t.dtype("DstT")
	et, err := onnxType(dst)
	if err != nil {
		return nil, t.c.unsupported(t.s, t.n, err.Error())
	}
	return one(t.emit("Cast", []string{t.in[0].name}, t.name(0), aInt("to", int64(et))), dst), nil
}

// stridedSlice handles begin, end and shrink-axis masks with constant
// begin, end and strides; ellipsis and new-axis masks are refused.
func stridedSlice(t *translation) ([]*value, error) {
	if err := t.nin(4); err != nil {
		return nil, err
	}
	begin, err := t.ints(1, "begin")
	if err != nil {
		return nil, err
	}
	end, err := t.ints(2, "end")
	if err != nil {
		return nil, err
	}
	strides, err := t.ints(3, "strides")
	if err != nil {
		return nil, err
	}
	if len(end) != len(begin) || len(strides) != len(begin) {
		return nil, fmt.Errorf("begin, end and strides differ in length")
	}
	if t.attr("ellipsis_mask").GetI() != 0 || t.attr("new_axis_mask").GetI() != 0 {
		return nil, t.c.unsupported(t.s, t.n, "ellipsis_mask and new_axis_mask")
	}
	bm, em, sm := t.attr("begin_mask").GetI(), t.attr("end_mask").GetI(), t.attr("shrink_axis_mask").GetI()
	var starts, ends, axes, steps, shrink []int64
	for i := range begin {
		bit := int64(1) << i
		s, e, st := begin[i], end[i], strides[i]
		if st == 0 {
			return nil, fmt.Errorf("stride 0 on axis %d", i)
		}
		switch {
		case sm&bit != 0:
			e, st = s+1, 1
			if s == -1 {
				e = math.MaxInt64
			}
			shrink = append(shrink, int64(i))
		default:
			if bm&bit != 0 {
				s = 0
				if st < 0 {
					s = math.MaxInt64
				}
			}
			if em&bit != 0 {
				e = math.MaxInt64
				if st < 0 {
					e = math.MinInt64
				}
			}
		}
		starts, ends, axes, steps = append(starts, s), append(ends, e), append(axes, int64(i)), append(steps, st)
	}
	dt := t.in[0].dtype
	out := t.name(0)
	sliced := out
	if len(shrink) > 0 {
		sliced = t.tmp("slice")
	}
	t.emit("Slice", []string{t.in[0].name, t.int64Const("starts", starts), t.int64Const("ends", ends),
		t.int64Const("axes", axes), t.int64Const("steps", steps)}, sliced)
	if len(shrink) > 0 {
		t.emit("Squeeze", []string{sliced, t.int64Const("shrink", shrink)}, out)
	}
	return one(out, dt), nil
}

// reduce translates Mean, Sum, Max, Min and Prod. Opset 17 takes ReduceSum's
// axes as an input and the others' as an attribute.
func reduce(op string) translator {
	return func(t *translation) ([]*value, error) {
		if err := t.nin(2); err != nil {
			return nil, err
		}
		axes, err := t.ints(1, "reduction_indices")
		if err != nil {
			return nil, err
		}
		keep := int64(0)
		if t.attr("keep_dims").GetB() {
			keep = 1
		}
		dt := t.in[0].dtype
		if len(axes) == 0 { // TensorFlow reduces nothing; ONNX would reduce everything
			return one(t.emit("Identity", []string{t.in[0].name}, t.name(0)), dt), nil
		}
		if op == "ReduceSum" {
			return one(t.emit(op, []string{t.in[0].name, t.int64Const("axes", axes)}, t.name(0), aInt("keepdims", keep)), dt), nil
		}
		return one(t.emit(op, []string{t.in[0].name}, t.name(0), aInts("axes", axes), aInt("keepdims", keep)), dt), nil
	}
}

func fill(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	return one(t.emit("Expand", []string{t.in[1].name, t.asInt64(0)}, t.name(0)), t.in[1].dtype), nil
}

func tile(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	return one(t.emit("Tile", []string{t.in[0].name, t.asInt64(1)}, t.name(0)), t.in[0].dtype), nil
}

func gatherV2(t *translation) ([]*value, error) {
	if err := t.nin(3); err != nil {
		return nil, err
	}
	axis, err := t.ints(2, "axis")
	if err != nil {
		return nil, err
	}
	if len(axis) != 1 || t.attr("batch_dims").GetI() != 0 {
		return nil, t.c.unsupported(t.s, t.n, "batch_dims")
	}
	return one(t.emit("Gather", []string{t.in[0].name, t.in[1].name}, t.name(0), aInt("axis", axis[0])), t.in[0].dtype), nil
}

func resourceGather(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	if t.in[0].variable == nil || t.attr("batch_dims").GetI() != 0 {
		return nil, t.c.unsupported(t.s, t.n, "a resource that is not a variable, or batch_dims")
	}
	name, _, err := t.c.variable(t.in[0].variable)
	if err != nil {
		return nil, err
	}
	return one(t.emit("Gather", []string{name, t.in[1].name}, t.name(0), aInt("axis", 0)), t.dtype("dtype")), nil
}

func argMinMax(op string) translator {
	return func(t *translation) ([]*value, error) {
		if err := t.nin(2); err != nil {
			return nil, err
		}
		axis, err := t.ints(1, "dimension")
		if err != nil {
			return nil, err
		}
		if len(axis) != 1 {
			return nil, fmt.Errorf("dimension has %d values", len(axis))
		}
		out := t.dtype("output_type")
		if out == tfpb.DataType_DT_INVALID {
			out = tfpb.DataType_DT_INT64
		}
		if out == tfpb.DataType_DT_INT64 {
			return one(t.emit(op, []string{t.in[0].name}, t.name(0), aInt("axis", axis[0]), aInt("keepdims", 0)), out), nil
		}
		r := t.emit(op, []string{t.in[0].name}, t.tmp("int64"), aInt("axis", axis[0]), aInt("keepdims", 0))
		return one(t.emit("Cast", []string{r}, t.name(0), aInt("to", int64(onnxpb.TensorProto_INT32))), out), nil
	}
}

func init() {
	translators["Select"] = selectOp
	translators["SelectV2"] = selectOp
	translators["ZerosLike"] = fillLike(0)
	translators["OnesLike"] = fillLike(1)
	translators["Split"] = split
	translators["SplitV"] = splitV
	translators["Unpack"] = unpack
	translators["Slice"] = sliceOp
}

// selectOp is Where; TF1's Select with a vector condition picks rows,
// which ONNX broadcasting does not, so it must match the data's rank.
func selectOp(t *translation) ([]*value, error) {
	if err := t.nin(3); err != nil {
		return nil, err
	}
	return one(t.emit("Where", []string{t.in[0].name, t.in[1].name, t.in[2].name}, t.name(0)), t.in[1].dtype), nil
}

func fillLike(v float64) translator {
	return func(t *translation) ([]*value, error) {
		if err := t.nin(1); err != nil {
			return nil, err
		}
		dt := t.in[0].dtype
		c, err := t.scalarConst("value", dt, v)
		if err != nil {
			return nil, err
		}
		shape := t.emit("Shape", []string{t.in[0].name}, t.tmp("shape"))
		return one(t.emit("Expand", []string{c, shape}, t.name(0)), dt), nil
	}
}

// splitOutputs emits an ONNX Split into n outputs.
func (t *translation) splitOutputs(x string, dt tfpb.DataType, axis int64, sizes []int64, n int) []*value {
	ins := []string{x}
	if sizes != nil {
		ins = append(ins, t.int64Const("split", sizes))
	}
	outs := make([]*value, n)
	names := make([]string, n)
	for i := range outs {
		names[i] = t.name(i)
		outs[i] = &value{name: names[i], dtype: dt}
	}
	t.c.emit("Split", names[0], ins, names, aInt("axis", axis))
	return outs
}

func split(t *translation) ([]*value, error) {
	if err := t.nin(2); err != nil {
		return nil, err
	}
	axis, err := t.ints(0, "split_dim")
	if err != nil {
		return nil, err
	}
	n := t.attr("num_split").GetI()
	if n < 1 || n > maxOutputs || len(axis) != 1 {
		return nil, fmt.Errorf("num_split %d (outputs: 1 to %d), split_dim %v", n, maxOutputs, axis)
	}
	return t.splitOutputs(t.in[1].name, t.in[1].dtype, axis[0], nil, int(n)), nil
}

func splitV(t *translation) ([]*value, error) {
	if err := t.nin(3); err != nil {
		return nil, err
	}
	sizes, err := t.ints(1, "size_splits")
	if err != nil {
		return nil, err
	}
	axis, err := t.ints(2, "split_dim")
	if err != nil {
		return nil, err
	}
	if len(axis) != 1 || len(sizes) == 0 || len(sizes) > maxOutputs || int64(len(sizes)) != t.attr("num_split").GetI() {
		return nil, fmt.Errorf("size_splits %v, split_dim %v", sizes, axis)
	}
	for _, s := range sizes {
		if s < 0 { // -1: the rest, which ONNX's Split cannot say
			return nil, t.c.unsupported(t.s, t.n, "a size_splits entry of -1")
		}
	}
	return t.splitOutputs(t.in[0].name, t.in[0].dtype, axis[0], sizes, len(sizes)), nil
}

// unpack splits into num pieces along axis and drops that axis.
func unpack(t *translation) ([]*value, error) {
	if err := t.nin(1); err != nil {
		return nil, err
	}
	n := t.attr("num").GetI()
	axis := t.attr("axis").GetI()
	if n < 1 || n > maxOutputs {
		return nil, fmt.Errorf("num %d (outputs: 1 to %d)", n, maxOutputs)
	}
	pieces := make([]string, n)
	for i := range pieces {
		pieces[i] = t.tmp(fmt.Sprintf("piece%d", i))
	}
	t.c.emit("Split", pieces[0], []string{t.in[0].name}, pieces, aInt("axis", axis))
	axes := t.int64Const("axes", []int64{axis})
	outs := make([]*value, n)
	for i, p := range pieces {
		outs[i] = &value{name: t.emit("Squeeze", []string{p, axes}, t.name(i)), dtype: t.in[0].dtype}
	}
	return outs, nil
}

// sliceOp is TensorFlow's Slice(begin, size): a size of -1 takes the rest.
func sliceOp(t *translation) ([]*value, error) {
	if err := t.nin(3); err != nil {
		return nil, err
	}
	begin, err := t.ints(1, "begin")
	if err != nil {
		return nil, err
	}
	size, err := t.ints(2, "size")
	if err != nil {
		return nil, err
	}
	if len(begin) != len(size) {
		return nil, fmt.Errorf("begin %v and size %v differ in length", begin, size)
	}
	ends := make([]int64, len(size))
	axes := make([]int64, len(size))
	for i, s := range size {
		axes[i] = int64(i)
		ends[i] = begin[i] + s
		if s == -1 {
			ends[i] = math.MaxInt64
		}
	}
	return one(t.emit("Slice", []string{t.in[0].name, t.int64Const("starts", begin), t.int64Const("ends", ends), t.int64Const("axes", axes)}, t.name(0)), t.in[0].dtype), nil
}
