package projects_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// projects builds on tracking (through a role interface), mlmodel and
// internal plumbing; it never imports a flavor, serve or the CLI.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "projects/...")
}
