package tensorflow

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/tensorflow/savedmodel"
	"github.com/mlship/mlship/flavors/tensorflow/tf2onnx"
	"github.com/mlship/mlship/internal/onnxpb"
	"github.com/mlship/mlship/internal/tfpb"
)

// constant answers a signature that takes no inputs (a getter such as
// `w` returning a variable): its outputs are fixed, so they are computed
// once at load time, with no session.
type constant struct {
	outputs []constOutput
}

type constOutput struct {
	name  string
	shape []int64
	dt    arrow.DataType
	data  []byte
}

var _ flavors.Predictor = (*constant)(nil)

// constantSignature converts the signature and evaluates it: only
// identities of constants and variables qualify.
func constantSignature(sm *savedmodel.SavedModel, mg *savedmodel.MetaGraph, sig *savedmodel.Signature) (flavors.Predictor, error) {
	ts := tf2onnx.Signature{Key: sig.Key}
	for _, t := range sig.Outputs {
		ts.Outputs = append(ts.Outputs, tf2onnx.IO(t))
	}
	model, err := tf2onnx.Convert(mg.Proto, ts, variables{sm: sm, mg: mg}, tf2onnx.Options{})
	if err != nil {
		return nil, err
	}
	known := map[string]*onnxpb.TensorProto{}
	for _, t := range model.GetGraph().GetInitializer() {
		known[t.GetName()] = t
	}
	for _, n := range model.GetGraph().GetNode() {
		if n.GetOpType() != "Identity" || known[n.GetInput()[0]] == nil {
			return nil, fmt.Errorf("signature %q takes no inputs but computes its outputs (op %s); mlship serves such a signature only when it returns saved values", sig.Key, n.GetOpType())
		}
		known[n.GetOutput()[0]] = known[n.GetInput()[0]]
	}
	c := &constant{}
	for _, o := range sig.Outputs {
		t := known[o.Name]
		dt, err := arrowType(o.DType)
		if o.DType > 100 { // a TF1 reference variable's _REF type
			dt, err = arrowType(o.DType - 100)
		}
		if err != nil || len(t.GetStringData()) > 0 {
			return nil, fmt.Errorf("signature %q output %q: type %s is not supported for a signature without inputs", sig.Key, o.Name, o.DType)
		}
		c.outputs = append(c.outputs, constOutput{name: o.Name, shape: t.GetDims(), dt: dt, data: t.GetRawData()})
	}
	return &predictor{Predictor: c, sig: sig}, nil
}

func arrowType(dt tfpb.DataType) (arrow.DataType, error) {
	switch dt {
	case tfpb.DataType_DT_FLOAT:
		return arrow.PrimitiveTypes.Float32, nil
	case tfpb.DataType_DT_DOUBLE:
		return arrow.PrimitiveTypes.Float64, nil
	case tfpb.DataType_DT_INT8:
		return arrow.PrimitiveTypes.Int8, nil
	case tfpb.DataType_DT_INT16:
		return arrow.PrimitiveTypes.Int16, nil
	case tfpb.DataType_DT_INT32:
		return arrow.PrimitiveTypes.Int32, nil
	case tfpb.DataType_DT_INT64:
		return arrow.PrimitiveTypes.Int64, nil
	case tfpb.DataType_DT_UINT8:
		return arrow.PrimitiveTypes.Uint8, nil
	case tfpb.DataType_DT_UINT16:
		return arrow.PrimitiveTypes.Uint16, nil
	case tfpb.DataType_DT_UINT32:
		return arrow.PrimitiveTypes.Uint32, nil
	case tfpb.DataType_DT_UINT64:
		return arrow.PrimitiveTypes.Uint64, nil
	}
	return nil, fmt.Errorf("type %s", dt)
}

// Predict returns the saved values, each as one whole tensor, whatever
// the input.
func (c *constant) Predict(ctx context.Context, _ columnar.Batch, _ map[string]any) (columnar.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fields := make([]arrow.Field, len(c.outputs))
	cols := make([]arrow.Array, len(c.outputs))
	defer func() {
		for _, col := range cols {
			if col != nil {
				col.Release()
			}
		}
	}()
	for i, o := range c.outputs {
		buf := memory.NewBufferBytes(append([]byte(nil), o.data...))
		n := int(columnar.ShapeSize(o.shape))
		data := array.NewData(o.dt, n, []*memory.Buffer{nil, buf}, nil, 0, 0)
		vals := array.MakeFromData(data)
		data.Release()
		f, col, err := columnar.NewTensorColumn(o.name, o.shape, vals, false)
		vals.Release()
		if err != nil {
			return nil, err
		}
		fields[i], cols[i] = f, col
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, 1), nil
}
