package columnar_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// columnar is the leaf every data path shares (codecs, batcher, flavors);
// it knows no model format and no wire format, so it imports nothing of
// this module.
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "columnar")
}
