package mlruns_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// The importer builds on tracking alone: it writes through the Store
// interface (and the optional Importer), never a concrete store.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "tracking/mlruns")
}
