package mlmodel_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// mlmodel is the leaf every path reads models through (serve, pack,
// tracking); of this module it may use only internal/pyjson, or pack and
// tracking would drag flavors or serve in with it.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "mlmodel")
}
