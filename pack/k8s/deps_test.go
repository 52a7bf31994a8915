package k8s_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// Manifests describe the image's command line, not the server's code: k8s
// sees mlmodel and internal/, never serve or a flavor.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "pack/k8s")
}
