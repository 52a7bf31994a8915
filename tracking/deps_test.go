package tracking_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// tracking and its parts build on mlmodel and internal/pyjson only (the
// REST server also on internal/apierr): never a flavor, serve, projects or
// the CLI, so a shared helper they need lives under tracking/.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "tracking/...")
}
