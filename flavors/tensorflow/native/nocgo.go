//go:build !cgo

package native

import (
	"context"
	"errors"
	"log/slog"

	"github.com/mlship/mlship/flavors"
)

// Load needs cgo to call the TensorFlow C library; this build has none.
func Load(ctx context.Context, lib, dir string, tags []string, sig Signature, log *slog.Logger) (flavors.Predictor, error) {
	return nil, errors.New("the native TensorFlow runtime needs an mlship built with cgo")
}
