package testenv_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/internal/testenv"
)

// TestDuckDBQuery: values come back in the documented JSON forms, with
// DuckDB's type names.
func TestDuckDBQuery(t *testing.T) {
	db := testenv.NewDuckDB(t)
	got := db.Query(t, `SELECT 9007199254740993::BIGINT AS big, 0.1::FLOAT AS f, 'nan'::DOUBLE AS nan,
		'naïve ✓'::VARCHAR AS s, NULL::VARCHAR AS missing, true AS b, [1.5, 2, 3]::FLOAT[3] AS arr
		FROM range(2)`)
	want := testenv.DuckDBResult{
		Columns: []string{"big", "f", "nan", "s", "missing", "b", "arr"},
		Types:   []string{"BIGINT", "FLOAT", "DOUBLE", "VARCHAR", "VARCHAR", "BOOLEAN", "FLOAT[3]"},
	}
	row := map[string]any{
		"big": "9007199254740993", "f": float64(float32(0.1)), "nan": "NaN",
		"s": "naïve ✓", "missing": nil, "b": true, "arr": []any{1.5, 2.0, 3.0},
	}
	want.Rows = []map[string]any{row, row}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("result (-want +got):\n%s", d)
	}
	if got.Type("arr") != "FLOAT[3]" || got.Type("nope") != "" {
		t.Errorf("Type: %q, %q", got.Type("arr"), got.Type("nope"))
	}
}

// TestDuckDBReadsFiles: SQLString quotes awkward paths for read_csv and
// friends.
func TestDuckDBReadsFiles(t *testing.T) {
	db := testenv.NewDuckDB(t)
	path := filepath.Join(t.TempDir(), "it's here.csv")
	if err := os.WriteFile(path, []byte("a,b\n1,x\n2,y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := db.Query(t, "SELECT count(*)::INTEGER AS n, max(b) AS b FROM read_csv("+testenv.SQLString(path)+")")
	if d := cmp.Diff([]map[string]any{{"n": 2.0, "b": "y"}}, got.Rows); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
}
