package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/sqlstore"
	"github.com/mlship/mlship/tracking/storetest"
)

func openPostgres(t *testing.T) tracking.Store {
	t.Helper()
	dsn := testenv.Postgres(t)
	s, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{DefaultArtifactRoot: "mlflow-artifacts:/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformancePostgres(t *testing.T) {
	storetest.Run(t, openPostgres)
}

// MLflow accepts sqlalchemy's driver-qualified schemes; so do we.
func TestPostgresSchemes(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx := context.Background()
	for _, scheme := range []string{"postgres://", "postgresql+psycopg2://"} {
		uri := scheme + strings.TrimPrefix(dsn, "postgresql://")
		s, err := sqlstore.Open(ctx, uri, sqlstore.Options{DefaultArtifactRoot: "s3://bucket/root"})
		if err != nil {
			t.Fatalf("%s: %v", scheme, err)
		}
		e, err := s.GetExperiment(ctx, "0")
		if err != nil {
			t.Fatal(err)
		}
		if e.ArtifactLocation != "s3://bucket/root/0" {
			t.Errorf("default experiment location %q", e.ArtifactLocation)
		}
		s.Close()
	}
}
