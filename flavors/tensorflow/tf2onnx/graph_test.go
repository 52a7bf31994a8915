package tf2onnx

// Builders for hand-made TensorFlow graphs.

import (
	"encoding/binary"
	"math"

	"github.com/mlship/mlship/internal/tfpb"
)

func attrType(dt tfpb.DataType) *tfpb.AttrValue {
	return &tfpb.AttrValue{Value: &tfpb.AttrValue_Type{Type: dt}}
}

func attrInt(i int64) *tfpb.AttrValue { return &tfpb.AttrValue{Value: &tfpb.AttrValue_I{I: i}} }

func attrBool(b bool) *tfpb.AttrValue { return &tfpb.AttrValue{Value: &tfpb.AttrValue_B{B: b}} }

func attrInts(v ...int64) *tfpb.AttrValue {
	return &tfpb.AttrValue{Value: &tfpb.AttrValue_List{List: &tfpb.AttrValue_ListValue{I: v}}}
}

func attrFunc(name string) *tfpb.AttrValue {
	return &tfpb.AttrValue{Value: &tfpb.AttrValue_Func{Func: &tfpb.NameAttrList{Name: name}}}
}

func shapeProto(dims ...int64) *tfpb.TensorShapeProto {
	s := &tfpb.TensorShapeProto{}
	for _, d := range dims {
		s.Dim = append(s.Dim, &tfpb.TensorShapeProto_Dim{Size: d})
	}
	return s
}

// nd is a node with attributes given as key, value pairs.
func nd(name, op string, inputs []string, kv ...any) *tfpb.NodeDef {
	n := &tfpb.NodeDef{Name: name, Op: op, Input: inputs, Attr: map[string]*tfpb.AttrValue{}}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Attr[kv[i].(string)] = kv[i+1].(*tfpb.AttrValue)
	}
	return n
}

// constF is a float32 Const node in tensor_content form.
func constF(name string, shape []int64, vals ...float32) *tfpb.NodeDef {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	t := &tfpb.TensorProto{Dtype: tfpb.DataType_DT_FLOAT, TensorShape: shapeProto(shape...), TensorContent: b}
	return nd(name, "Const", nil, "dtype", attrType(tfpb.DataType_DT_FLOAT), "value", &tfpb.AttrValue{Value: &tfpb.AttrValue_Tensor{Tensor: t}})
}

// constI is an int32 Const node in int_val form.
func constI(name string, shape []int64, vals ...int32) *tfpb.NodeDef {
	t := &tfpb.TensorProto{Dtype: tfpb.DataType_DT_INT32, TensorShape: shapeProto(shape...), IntVal: vals}
	return nd(name, "Const", nil, "dtype", attrType(tfpb.DataType_DT_INT32), "value", &tfpb.AttrValue{Value: &tfpb.AttrValue_Tensor{Tensor: t}})
}

var (
	tf32 = attrType(tfpb.DataType_DT_FLOAT)
	ti32 = attrType(tfpb.DataType_DT_INT32)
)

// zeroVars gives every variable the value 0.5 as a float32 scalar.
type zeroVars struct{}

func (zeroVars) Variable(n *tfpb.NodeDef) (*Tensor, error) {
	return &Tensor{DType: tfpb.DataType_DT_FLOAT, Shape: []int64{}, Data: binary.LittleEndian.AppendUint32(nil, math.Float32bits(0.5))}, nil
}
