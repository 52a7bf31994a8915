package azureml_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// pack/azureml sees only pack, the leaves and internal/: never serve or a
// flavor (the image runs `mlship serve`; the CLI is the contract).
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "pack/azureml/...")
}
