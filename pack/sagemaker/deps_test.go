package sagemaker_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// The SageMaker deployer builds on mlmodel and the AWS SDK only: never
// serve or a flavor (the image runs `mlship serve`; the coupling is the
// CLI contract).
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "pack/sagemaker")
}
