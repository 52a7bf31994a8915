package server_test

import (
	"os"
	"testing"

	"github.com/mlship/mlship/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// TestPostgres runs the REST scenarios over a PostgreSQL store: the
// answers must not depend on the backend.
func TestPostgres(t *testing.T) {
	testenv.Postgres(t) // skips (fails under CI) without PostgreSQL
	prev := storeURI
	storeURI = func(t *testing.T, _ string) string { return testenv.Postgres(t) }
	defer func() { storeURI = prev }()
	for name, test := range map[string]func(*testing.T){
		"Experiments": TestExperiments, "Runs": TestRuns, "ValidationErrors": TestValidationErrors,
		"RunArtifacts": TestRunArtifacts, "ConcurrentLogging": TestConcurrentLogging, "Golden": TestGolden,
	} {
		t.Run(name, test)
	}
}
