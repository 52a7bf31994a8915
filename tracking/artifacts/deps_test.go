package artifacts_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// Artifact repositories build on tracking and the AWS SDK only.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "tracking/artifacts")
}
