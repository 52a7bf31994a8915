package sqlstore_test

import (
	"os"
	"testing"

	"github.com/mlship/mlship/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild() // never returns: the parent kills it
	}
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}
