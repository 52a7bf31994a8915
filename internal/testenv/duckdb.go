package testenv

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// DuckDBVersion is the @duckdb/node-api release scripts/provision-duckdb.sh
// installs into the cache.
const DuckDBVersion = "1.5.6-r.1"

// DuckDB is an independent reader of Parquet, CSV and JSON: DuckDB's own
// implementations, through its Node.js API, so outputs are checked by
// something that shares no code with arrow-go.
type DuckDB struct {
	node, script, modules string
}

// DuckDBResult is what a query returned. Values are in the JSON forms of
// @duckdb/node-api: BIGINT and DECIMAL as strings (exact), DOUBLE and FLOAT
// as float64 (NaN and infinities as the strings "NaN", "Infinity",
// "-Infinity"), BOOLEAN as bool, VARCHAR as string, lists and arrays as
// []any, NULL as nil.
type DuckDBResult struct {
	Columns []string
	// Types are DuckDB's names for the column types: BIGINT, DOUBLE,
	// VARCHAR, FLOAT[3] (a fixed-size array), FLOAT[] (a list).
	Types []string
	Rows  []map[string]any
}

// Type is the DuckDB type of the named column, or "" when there is none.
func (r DuckDBResult) Type(column string) string {
	for i, c := range r.Columns {
		if c == column {
			return r.Types[i]
		}
	}
	return ""
}

// NewDuckDB finds node and the @duckdb/node-api that
// scripts/provision-duckdb.sh keeps in the cache, or skips (fails under
// CI) when either is missing.
func NewDuckDB(t testing.TB) *DuckDB {
	t.Helper()
	node, modules := NodeModules(t, "duckdb-node", "@duckdb/node-api", DuckDBVersion, "provision-duckdb.sh")
	return &DuckDB{
		node:    node,
		script:  filepath.Join(RepoRoot(t), "internal", "testenv", "duckdb_query.mjs"),
		modules: modules,
	}
}

// Query runs one SQL statement in a fresh in-memory database and fails the
// test when DuckDB rejects it.
func (d *DuckDB) Query(t testing.TB, sql string) DuckDBResult {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), d.node, d.script)
	cmd.Env = append(os.Environ(), "MLSHIP_DUCKDB_NODE_MODULES="+d.modules)
	cmd.Stdin = strings.NewReader(sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("duckdb: %v: %s\nquery: %s", err, strings.TrimSpace(stderr.String()), sql)
	}
	var raw struct {
		Columns []string         `json:"columns"`
		Types   []string         `json:"types"`
		Rows    []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
		t.Fatalf("duckdb: reading the result: %v\nquery: %s\noutput: %.500s", err, sql, stdout.String())
	}
	return DuckDBResult{Columns: raw.Columns, Types: raw.Types, Rows: raw.Rows}
}

// SQLString quotes s as an SQL string literal, for file paths in queries.
func SQLString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
