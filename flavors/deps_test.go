package flavors_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// flavors and every flavor see only mlmodel, columnar, flavors and
// internal/, and flavors never import one another (only flavors/builtin
// gathers them): a build can then drop any flavor, cgo stays in the one
// that needs it, and serve never reaches a concrete flavor through them.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "flavors/...")
}
