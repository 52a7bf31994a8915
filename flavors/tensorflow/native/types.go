package native

import (
	"errors"

	"github.com/mlship/mlship/internal/tfpb"
)

// IO is one signature input or output: its key, graph tensor and type.
type IO struct {
	Name, Tensor string
	DType        tfpb.DataType
}

// Signature is the signature a session runs.
type Signature struct {
	Key             string
	Inputs, Outputs []IO
}

var errTensorType = errors.New("unsupported tensor type")
