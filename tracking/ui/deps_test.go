package ui_test

import (
	"testing"

	"github.com/mlship/mlship/internal/depcheck"
)

// The UI builds on tracking, its artifact repositories and mlmodel only
// (plain net/http: echo stays in tracking/server).
func TestDependencies(t *testing.T) {
	depcheck.Layering.Assert(t, "tracking/ui")
}
