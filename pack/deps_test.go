package pack_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// The image builder reaches the server only through the CLI contract (the
// image runs `mlship serve`): it sees mlmodel and internal/ (the ONNX
// Runtime search it shares with the flavor), never serve or a flavor.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "pack")
}
