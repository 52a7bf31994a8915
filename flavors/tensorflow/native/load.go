package native

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/mlship/mlship/flavors"
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

// Load opens the SavedModel in dir with the TensorFlow C library at lib.
func Load(ctx context.Context, lib, dir string, tags []string, sig Signature, log *slog.Logger) (flavors.Predictor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("TensorFlow C library %s: the native runtime is not available in this build", lib)
}
