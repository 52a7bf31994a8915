package dockerfile_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// The Dockerfile generator reaches the server only through the CLI contract
// (the image runs `mlship serve`): it sees mlmodel and internal/, never
// serve or a flavor.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "pack/dockerfile")
}
