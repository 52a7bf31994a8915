package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/storetest"
)

// TestConformanceSQLiteSmallWindows runs the suite with the fast search
// paths' windows shrunk to the page, so that pages come from the window,
// from the fallback query, and from the boundary cases between them.
func TestConformanceSQLiteSmallWindows(t *testing.T) {
	defer func(m, f int) { searchWindowMin, searchWindowFactor = m, f }(searchWindowMin, searchWindowFactor)
	for _, w := range []struct{ min, factor int }{{1, 1}, {4, 2}} {
		searchWindowMin, searchWindowFactor = w.min, w.factor
		storetest.Run(t, func(t *testing.T) tracking.Store {
			dir := t.TempDir()
			s, err := Open(context.Background(), "sqlite:///"+filepath.Join(dir, "w.db"), Options{DefaultArtifactRoot: dir})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	}
}
