package modeluri_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// modeluri follows tracking's layering rule (ARCHITECTURE.md).
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "tracking/modeluri")
}
