package predict_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// predict sees a model only through flavors.Predictor, and reads JSON and
// CSV with the same codec as /invocations (serve/scoring), never the
// server itself.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "predict/...")
}
