package client_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// The client follows tracking's layering rule (ARCHITECTURE.md).
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "tracking/client")
}
