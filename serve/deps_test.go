package serve_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// serve sees a model only through the flavors.Predictor interface, never a
// concrete flavor: the server stays the same whatever flavors a build has,
// and tests can serve a fake predictor.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "serve/...")
}
