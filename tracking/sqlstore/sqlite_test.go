package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/sqlstore"
	"github.com/mlship/mlship/tracking/storetest"
)

func openSQLite(t *testing.T) tracking.Store {
	t.Helper()
	dir := t.TempDir()
	s, err := sqlstore.Open(context.Background(), "sqlite:///"+filepath.Join(dir, "mlflow.db"), sqlstore.Options{DefaultArtifactRoot: filepath.Join(dir, "mlruns")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, openSQLite)
}
