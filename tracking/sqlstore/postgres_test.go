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
		// Searches bind their LIMIT: generic plans would ignore it.
		var mode string
		if err := s.DB().QueryRowContext(ctx, "SHOW plan_cache_mode").Scan(&mode); err != nil || mode != "force_custom_plan" {
			t.Errorf("plan_cache_mode = %q (%v)", mode, err)
		}
		s.Close()
	}
}

// Servers starting together migrate one at a time (an advisory lock) and
// create experiments of one name exactly once.
func TestPostgresConcurrentOpenAndCreate(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx := context.Background()
	const n = 4
	stores := make([]*sqlstore.Store, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			s, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
			stores[i] = s
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, s := range stores {
			s.Close()
		}
	}()
	codes := make(chan tracking.ErrorCode, n)
	for i := range n {
		go func() {
			_, err := stores[i].CreateExperiment(ctx, "same-name", "", nil)
			if err == nil {
				codes <- ""
				return
			}
			codes <- tracking.CodeOf(err)
		}()
	}
	created := 0
	for range n {
		switch c := <-codes; c {
		case "":
			created++
		case tracking.ResourceAlreadyExists:
		default:
			t.Errorf("concurrent create: %s", c)
		}
	}
	if created != 1 {
		t.Errorf("%d creations succeeded, want 1", created)
	}
	exps, _, err := stores[0].SearchExperiments(ctx, tracking.ExperimentQuery{})
	if err != nil || len(exps) != 2 {
		t.Errorf("%d experiments (%v), want Default and same-name", len(exps), err)
	}
}
