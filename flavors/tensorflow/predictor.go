package tensorflow

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors/tensorflow/tf2onnx"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/tensorflow/savedmodel"
	"github.com/mlship/mlship/internal/tfpb"
	"github.com/mlship/mlship/mlmodel"
)

// predictor is a SavedModel signature running on a runtime (an ONNX
// Runtime session of the converted graph, or TensorFlow). It describes its
// inputs and outputs from the signature, so the signature drives request
// typing and the Open Inference Protocol metadata when MLmodel has none.
type predictor struct {
	flavors.Predictor
	sig *savedmodel.Signature
	// flattened are the outputs of unknown rank, which the converted
	// model returns as vectors plus their shapes (tf2onnx.ShapeOutput).
	flattened []string
}

// Predict runs the signature and gives flattened outputs their shapes
// back.
func (p *predictor) Predict(ctx context.Context, in columnar.Batch, params map[string]any) (columnar.Batch, error) {
	out, err := p.Predictor.Predict(ctx, in, params)
	if err != nil || len(p.flattened) == 0 {
		return out, err
	}
	defer out.Release()
	return unflatten(out, p.flattened)
}

// unflatten rebuilds a result whose flattened outputs come with shape
// columns: every output is reshaped to its real shape and the columns are
// batched when all outputs share a first dimension, as the ONNX flavor
// lays results out.
func unflatten(out columnar.Batch, flattened []string) (columnar.Batch, error) {
	type tensor struct {
		name string
		t    columnar.Tensor
	}
	var ts []tensor
	defer func() {
		for _, x := range ts {
			x.t.Values.Release()
		}
	}()
	schema := out.Schema()
	for i, f := range schema.Fields() {
		if strings.HasSuffix(f.Name, tf2onnx.ShapeOutput("")) {
			continue
		}
		t, err := columnar.TensorOf(f, out.Column(i))
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", f.Name, err)
		}
		ts = append(ts, tensor{name: f.Name, t: t})
		if !slices.Contains(flattened, f.Name) {
			continue
		}
		idx := schema.FieldIndices(tf2onnx.ShapeOutput(f.Name))
		if len(idx) != 1 {
			return nil, fmt.Errorf("output %q: its shape is missing from the result", f.Name)
		}
		st, err := columnar.TensorOf(schema.Field(idx[0]), out.Column(idx[0]))
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", f.Name, err)
		}
		dims, ok := st.Values.(*array.Int64)
		if !ok {
			st.Values.Release()
			return nil, fmt.Errorf("output %q: its shape is not int64", f.Name)
		}
		shape := append([]int64{}, dims.Int64Values()...)
		st.Values.Release()
		if columnar.ShapeSize(shape) != int64(t.Values.Len()) {
			return nil, fmt.Errorf("output %q: shape %v does not hold %d values", f.Name, shape, t.Values.Len())
		}
		ts[len(ts)-1].t.Shape = shape
	}
	named := make([]columnar.NamedTensor, len(ts))
	for i, x := range ts {
		named[i] = columnar.NamedTensor{Name: x.name, Shape: x.t.Shape, Values: x.t.Values}
	}
	b, err := columnar.TensorBatch(named)
	if err != nil {
		return nil, fmt.Errorf("laying out the outputs: %w", err) // the error names the tensor
	}
	return b, nil
}

var (
	_ flavors.Predictor       = (*predictor)(nil)
	_ flavors.SchemaDescriber = (*predictor)(nil)
	_ io.Closer               = (*predictor)(nil)
)

// ModelSchema implements flavors.SchemaDescriber with the signature's
// tensors as MLflow TensorSpecs.
func (p *predictor) ModelSchema() (inputs, outputs *mlmodel.Schema) {
	return SignatureSchema(p.sig)
}

// SignatureSchema is a signature as MLflow tensor schemas.
func SignatureSchema(sig *savedmodel.Signature) (inputs, outputs *mlmodel.Schema) {
	conv := func(ts []savedmodel.TensorInfo) *mlmodel.Schema {
		s := &mlmodel.Schema{}
		for _, t := range ts {
			// A tensor of unknown rank has no dimensions to describe, as
			// the ONNX flavor describes one; it is not batch-safe either.
			shape := append([]int64{}, t.Shape...)
			s.Tensors = append(s.Tensors, mlmodel.TensorSpec{Name: t.Name, DType: NumpyType(t.DType), Shape: shape})
		}
		return s
	}
	return conv(sig.Inputs), conv(sig.Outputs)
}

// NumpyType is the numpy dtype name MLflow uses for a TensorFlow type.
func NumpyType(dt tfpb.DataType) string {
	switch dt {
	case tfpb.DataType_DT_FLOAT:
		return "float32"
	case tfpb.DataType_DT_DOUBLE:
		return "float64"
	case tfpb.DataType_DT_HALF:
		return "float16"
	case tfpb.DataType_DT_INT8:
		return "int8"
	case tfpb.DataType_DT_INT16:
		return "int16"
	case tfpb.DataType_DT_INT32:
		return "int32"
	case tfpb.DataType_DT_INT64:
		return "int64"
	case tfpb.DataType_DT_UINT8:
		return "uint8"
	case tfpb.DataType_DT_UINT16:
		return "uint16"
	case tfpb.DataType_DT_UINT32:
		return "uint32"
	case tfpb.DataType_DT_UINT64:
		return "uint64"
	case tfpb.DataType_DT_BOOL:
		return "bool"
	case tfpb.DataType_DT_STRING:
		return "str"
	}
	return "object"
}

// Close releases the runtime's session.
func (p *predictor) Close() error {
	if c, ok := p.Predictor.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
