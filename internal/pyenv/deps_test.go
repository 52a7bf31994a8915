package pyenv_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// pyenv is plumbing under flavors/pyfunc, projects and pack: it may use
// mlmodel and other internal packages, never a flavor, serve or the CLI.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "internal/pyenv")
}
