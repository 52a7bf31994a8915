package loadgen_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// The load generator must build what it sends from the model descriptor
// alone: importing serve's codecs would make its bodies agree with the
// server by construction, and the benchmark could no longer catch a codec
// that drifted from MLflow's formats.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "internal/loadgen")
}
