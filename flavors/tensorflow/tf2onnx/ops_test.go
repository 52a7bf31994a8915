package tf2onnx

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/proto"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/internal/tfpb"
)

// opGraph exercises the shape and slicing ops no test SavedModel reaches,
// on x of shape [N, 3, 4], through a function call too.
func opGraph() (*tfpb.MetaGraphDef, Signature) {
	w := make([]float32, 24)
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	nodes := []*tfpb.NodeDef{
		nd("x", "Placeholder", nil, "dtype", tf32),
		nd("shape", "Shape", []string{"x"}, "T", tf32, "out_type", ti32),
		constI("b0", []int64{1}, 0), constI("b1", []int64{1}, 1),
		nd("batch", "StridedSlice", []string{"shape", "b0", "b1", "b1"}, "T", ti32, "Index", ti32, "shrink_axis_mask", attrInt(1)),
		constI("minus1", []int64{}, -1),
		nd("packed", "Pack", []string{"batch", "minus1"}, "T", ti32, "N", attrInt(2), "axis", attrInt(0)),
		nd("flat", "Reshape", []string{"x", "packed"}, "T", tf32, "Tshape", ti32),
		constI("perm", []int64{3}, 0, 2, 1),
		nd("tr", "Transpose", []string{"x", "perm"}, "T", tf32, "Tperm", ti32),
		constI("one", []int64{}, 1),
		nd("expanded", "ExpandDims", []string{"x", "one"}, "T", tf32, "Tdim", ti32),
		nd("squeezed", "Squeeze", []string{"expanded"}, "T", tf32, "squeeze_dims", attrInts(1)),
		constI("two", []int64{}, 2),
		nd("cat", "ConcatV2", []string{"x", "squeezed", "two"}, "T", tf32, "N", attrInt(2), "Tidx", ti32),
		constF("three", []int64{}, 3),
		nd("x3", "Mul", []string{"x", "three"}, "T", tf32),
		nd("relu6", "Relu6", []string{"x3", "^shape"}, "T", tf32),
		constI("axes12", []int64{2}, 1, 2),
		nd("mean", "Mean", []string{"x", "axes12"}, "T", tf32, "Tidx", ti32, "keep_dims", attrBool(false)),
		nd("sum", "Sum", []string{"x", "two"}, "T", tf32, "Tidx", ti32, "keep_dims", attrBool(true)),
		nd("cast", "Cast", []string{"x3"}, "SrcT", tf32, "DstT", ti32),
		constF("w", []int64{2, 12}, w...),
		nd("mm", "MatMul", []string{"flat", "w"}, "T", tf32, "transpose_b", attrBool(true)),
		// x[:, 1:3, ::2]
		constI("s_begin", []int64{3}, 0, 1, 0), constI("s_end", []int64{3}, 0, 3, 0), constI("s_strides", []int64{3}, 1, 1, 2),
		nd("slice", "StridedSlice", []string{"x", "s_begin", "s_end", "s_strides"}, "T", tf32, "Index", ti32,
			"begin_mask", attrInt(1|4), "end_mask", attrInt(1|4)),
		// x[:, ::-1, -1]
		constI("r_begin", []int64{3}, 0, 0, -1), constI("r_end", []int64{3}, 0, 0, 0), constI("r_strides", []int64{3}, 1, -1, 1),
		nd("rslice", "StridedSlice", []string{"x", "r_begin", "r_end", "r_strides"}, "T", tf32, "Index", ti32,
			"begin_mask", attrInt(1|2), "end_mask", attrInt(1|2), "shrink_axis_mask", attrInt(4)),
		nd("idn", "IdentityN", []string{"x", "mean"}, "T", &tfpb.AttrValue{Value: &tfpb.AttrValue_List{List: &tfpb.AttrValue_ListValue{Type: []tfpb.DataType{tfpb.DataType_DT_FLOAT, tfpb.DataType_DT_FLOAT}}}}),
		constF("zero", []int64{}, 0),
		nd("pos", "Greater", []string{"x", "zero"}, "T", tf32),
		nd("zeros", "ZerosLike", []string{"x"}, "T", tf32),
		nd("sel", "SelectV2", []string{"pos", "x", "zeros"}, "T", tf32),
		nd("ones", "OnesLike", []string{"x"}, "T", tf32),
		nd("split", "Split", []string{"two", "x"}, "T", tf32, "num_split", attrInt(2)),
		constI("sizes", []int64{2}, 1, 3),
		nd("splitv", "SplitV", []string{"x", "sizes", "two"}, "T", tf32, "Tlen", ti32, "num_split", attrInt(2)),
		nd("unpack", "Unpack", []string{"x"}, "T", tf32, "num", attrInt(3), "axis", attrInt(1)),
		constI("sl_begin", []int64{3}, 0, 1, 1), constI("sl_size", []int64{3}, -1, 2, -1),
		nd("sl", "Slice", []string{"x", "sl_begin", "sl_size"}, "T", tf32, "Index", ti32),
		nd("v", "VarHandleOp", nil, "dtype", tf32, "shared_name", &tfpb.AttrValue{Value: &tfpb.AttrValue_S{S: []byte("v")}}),
		nd("call", "StatefulPartitionedCall", []string{"x", "v"}, "f", attrFunc("square_plus_v")),
	}
	fn := &tfpb.FunctionDef{
		Signature: &tfpb.OpDef{Name: "square_plus_v",
			InputArg:  []*tfpb.OpDef_ArgDef{{Name: "a", Type: tfpb.DataType_DT_FLOAT}, {Name: "res", Type: tfpb.DataType_DT_RESOURCE}},
			OutputArg: []*tfpb.OpDef_ArgDef{{Name: "out", Type: tfpb.DataType_DT_FLOAT}, {Name: "unused", Type: tfpb.DataType_DT_FLOAT}}},
		NodeDef: []*tfpb.NodeDef{
			nd("read", "ReadVariableOp", []string{"res"}, "dtype", tf32),
			nd("sq", "Square", []string{"a"}, "T", tf32),
			nd("add", "AddV2", []string{"sq:y:0", "read:value:0"}, "T", tf32),
			nd("bad", "Unique", []string{"a"}, "T", tf32), // not on the path of "out"
		},
		Ret:        map[string]string{"out": "add:z:0", "unused": "bad:y:0"},
		ControlRet: map[string]string{"read": "read"},
	}
	mg := &tfpb.MetaGraphDef{GraphDef: &tfpb.GraphDef{Node: nodes, Library: &tfpb.FunctionDefLibrary{Function: []*tfpb.FunctionDef{fn}}}}
	f := func(name, tensor string, shape ...int64) IO {
		return IO{Name: name, Tensor: tensor, DType: tfpb.DataType_DT_FLOAT, Shape: shape}
	}
	sig := Signature{Key: "ops",
		Inputs: []IO{f("x", "x:0", -1, 3, 4)},
		Outputs: []IO{
			{Name: "batch", Tensor: "batch:0", DType: tfpb.DataType_DT_INT32, Shape: []int64{}},
			f("flat", "flat:0", -1, 12), f("tr", "tr", -1, 4, 3), f("squeezed", "squeezed:0", -1, 3, 4),
			f("cat", "cat:0", -1, 3, 8), f("relu6", "relu6:0", -1, 3, 4), f("mean", "mean:0", -1), f("sum", "sum:0", -1, 3, 1),
			{Name: "cast", Tensor: "cast:0", DType: tfpb.DataType_DT_INT32, Shape: []int64{-1, 3, 4}},
			f("mm", "mm:0", -1, 2), f("slice", "slice:0", -1, 2, 2), f("rslice", "rslice:0", -1, 3),
			f("idn1", "idn:1", -1), f("call", "call:0", -1, 3, 4),
			f("sel", "sel:0", -1, 3, 4), f("ones", "ones:0", -1, 3, 4), f("split1", "split:1", -1, 3, 2),
			f("splitv1", "splitv:1", -1, 3, 3), f("unpack2", "unpack:2", -1, 4), f("sl", "sl:0", -1, 2, 3),
		},
	}
	return mg, sig
}

// expectedOps computes opGraph's outputs for x in Go.
func expectedOps(x []float32, n int) map[string]struct {
	shape []int64
	vals  []float64
} {
	at := func(b, i, j int) float64 { return float64(x[b*12+i*4+j]) }
	type out = struct {
		shape []int64
		vals  []float64
	}
	res := map[string]out{}
	N := int64(n)
	var flat, tr, cat, relu6, mean, sum, cast, mm, slice, rslice, call []float64
	for b := 0; b < n; b++ {
		m := 0.0
		for i := 0; i < 3; i++ {
			s := 0.0
			for j := 0; j < 4; j++ {
				v := at(b, i, j)
				flat = append(flat, v)
				relu6 = append(relu6, math.Min(math.Max(float64(float32(v*3)), 0), 6))
				cast = append(cast, math.Trunc(float64(float32(v*3))))
				call = append(call, float64(float32(v*v))+0.5)
				s += v
			}
			for j := 0; j < 8; j++ {
				cat = append(cat, at(b, i, j%4))
			}
			sum = append(sum, s)
			m += s
		}
		mean = append(mean, m/12)
		for j := 0; j < 4; j++ {
			for i := 0; i < 3; i++ {
				tr = append(tr, at(b, i, j))
			}
		}
		for k := 0; k < 2; k++ {
			d := 0.0
			for c := 0; c < 12; c++ {
				d += float64(x[b*12+c]) * float64(float32((k*12+c)%5)-2)
			}
			mm = append(mm, d)
		}
		for i := 1; i < 3; i++ {
			for j := 0; j < 4; j += 2 {
				slice = append(slice, at(b, i, j))
			}
		}
		for i := 2; i >= 0; i-- {
			rslice = append(rslice, at(b, i, 3))
		}
	}
	var sel, ones, split1, splitv1, unpack2, sl []float64
	for b := 0; b < n; b++ {
		for i := 0; i < 3; i++ {
			for j := 0; j < 4; j++ {
				sel = append(sel, math.Max(at(b, i, j), 0))
				ones = append(ones, 1)
				if j >= 2 {
					split1 = append(split1, at(b, i, j))
				}
				if j >= 1 {
					splitv1 = append(splitv1, at(b, i, j))
				}
				if i == 2 {
					unpack2 = append(unpack2, at(b, i, j))
				}
				if i >= 1 && j >= 1 {
					sl = append(sl, at(b, i, j))
				}
			}
		}
	}
	res["sel"] = out{[]int64{N, 3, 4}, sel}
	res["ones"] = out{[]int64{N, 3, 4}, ones}
	res["split1"] = out{[]int64{N, 3, 2}, split1}
	res["splitv1"] = out{[]int64{N, 3, 3}, splitv1}
	res["unpack2"] = out{[]int64{N, 4}, unpack2}
	res["sl"] = out{[]int64{N, 2, 3}, sl}
	res["batch"] = out{[]int64{}, []float64{float64(n)}}
	res["flat"] = out{[]int64{N, 12}, flat}
	res["tr"] = out{[]int64{N, 4, 3}, tr}
	res["squeezed"] = out{[]int64{N, 3, 4}, flat}
	res["cat"] = out{[]int64{N, 3, 8}, cat}
	res["relu6"] = out{[]int64{N, 3, 4}, relu6}
	res["mean"] = out{[]int64{N}, mean}
	res["sum"] = out{[]int64{N, 3, 1}, sum}
	res["cast"] = out{[]int64{N, 3, 4}, cast}
	res["mm"] = out{[]int64{N, 2}, mm}
	res["slice"] = out{[]int64{N, 2, 2}, slice}
	res["rslice"] = out{[]int64{N, 3}, rslice}
	res["idn1"] = out{[]int64{N}, mean}
	res["call"] = out{[]int64{N, 3, 4}, call}
	return res
}

func TestOpsOnONNXRuntime(t *testing.T) {
	getenv, cache := testenv.ONNXRuntime(t)
	mg, sig := opGraph()
	model, err := Convert(mg, sig, zeroVars{}, Options{FlattenUnknownRank: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(model)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ops.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := onnx.LoadFile(context.Background(), path, nil, flavors.LoadOptions{Getenv: getenv, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer p.(io.Closer).Close()

	const n = 2
	x := make([]float32, n*12)
	for i := range x {
		x[i] = float32(i)*0.37 - 2.9
	}
	fb := array.NewFloat32Builder(memory.DefaultAllocator)
	fb.AppendValues(x, nil)
	vals := fb.NewArray()
	fb.Release()
	field, col, err := columnar.NewTensorColumn("x", []int64{n, 3, 4}, vals, true)
	vals.Release()
	if err != nil {
		t.Fatal(err)
	}
	in := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{field}, nil), []arrow.Array{col}, n)
	col.Release()
	defer in.Release()
	out, err := p.Predict(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	read := func(name string) ([]int64, []float64) {
		idx := out.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("no output %q in %v", name, out.Schema())
		}
		tv, err := columnar.TensorOf(out.Schema().Field(idx[0]), out.Column(idx[0]))
		if err != nil {
			t.Fatal(err)
		}
		defer tv.Values.Release()
		var v []float64
		for i := 0; i < tv.Values.Len(); i++ {
			switch a := tv.Values.(type) {
			case *array.Float32:
				v = append(v, float64(a.Value(i)))
			case *array.Int32:
				v = append(v, float64(a.Value(i)))
			case *array.Int64:
				v = append(v, float64(a.Value(i)))
			default:
				t.Fatalf("%s: type %s", name, a.DataType())
			}
		}
		return tv.Shape, v
	}
	for name, want := range expectedOps(x, n) {
		shape, got := read(name)
		if name == "batch" { // flattened 0-d: a one-element vector and its (empty) shape
			if _, dims := read(ShapeOutput(name)); len(dims) != 0 {
				t.Errorf("batch: shape %v, want a scalar", dims)
			}
			shape = []int64{}
		}
		if fmt.Sprint(shape) != fmt.Sprint(want.shape) || len(got) != len(want.vals) {
			t.Errorf("%s: shape %v (%d values), want %v", name, shape, len(got), want.shape)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-want.vals[i]) > 1e-4*(1+math.Abs(want.vals[i])) {
				t.Errorf("%s[%d] = %v, want %v", name, i, got[i], want.vals[i])
				break
			}
		}
	}
}
