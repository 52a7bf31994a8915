package server_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// The server sees stores and artifact roots through tracking's interfaces.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "tracking/server/...")
}
