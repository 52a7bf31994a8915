package tensorflow

import (
	"context"
	"io"

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
}

var (
	_ flavors.Predictor       = (*predictor)(nil)
	_ flavors.SchemaDescriber = (*predictor)(nil)
	_ io.Closer               = (*predictor)(nil)
)

// ModelSchema implements flavors.SchemaDescriber with the signature's
// tensors as MLflow TensorSpecs; a tensor of unknown rank is described as
// a vector of any length.
func (p *predictor) ModelSchema() (inputs, outputs *mlmodel.Schema) {
	return SignatureSchema(p.sig)
}

// SignatureSchema is a signature as MLflow tensor schemas.
func SignatureSchema(sig *savedmodel.Signature) (inputs, outputs *mlmodel.Schema) {
	conv := func(ts []savedmodel.TensorInfo) *mlmodel.Schema {
		s := &mlmodel.Schema{}
		for _, t := range ts {
			shape := append([]int64{}, t.Shape...)
			if t.UnknownRank {
				shape = []int64{-1}
			}
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

// Check passes a runtime's health check on.
func (p *predictor) Check(ctx context.Context) error {
	if h, ok := p.Predictor.(flavors.HealthChecker); ok {
		return h.Check(ctx)
	}
	return nil
}
