package sqlstore

import (
	"context"
	"database/sql"
	"log/slog"
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/tracking"
)

func TestSQLitePath(t *testing.T) {
	for _, tc := range []struct {
		uri, want, err string
	}{
		{uri: "sqlite:///mlflow.db", want: "mlflow.db"},
		{uri: "sqlite:///sub/dir/mlflow.db", want: "sub/dir/mlflow.db"},
		{uri: "sqlite:////abs/path.db", want: "/abs/path.db"},
		{uri: "sqlite:////abs/./x/../path.db", want: "/abs/path.db"},
		{uri: "sqlite:///mlflow.db?timeout=20", want: "mlflow.db"},
		{uri: "sqlite://", err: "in-memory"},
		{uri: "sqlite://:memory:", err: "in-memory"},
		{uri: "sqlite:///:memory:", err: "in-memory"},
		{uri: "sqlite://host/x.db", err: "malformed"},
		{uri: "sqlite:/x.db", err: "malformed"},
		{uri: "sqlite:///", err: "in-memory"},
		{uri: "sqlite:///?x=1", err: "names no file"},
	} {
		got, err := sqlitePath(tc.uri)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", tc.uri, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.uri, got, err, tc.want)
		}
	}
}

func TestOpenURIs(t *testing.T) {
	ctx := context.Background()
	for _, uri := range []string{"mysql://u:secret@h/db", "file:///tmp/mlruns", "./mlruns", ""} {
		_, err := Open(ctx, uri, Options{})
		if err == nil || !strings.Contains(err.Error(), "unsupported backend store URI") {
			t.Errorf("%q: %v", uri, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if !hasPostgresScheme("postgresql+psycopg2://h/db") || !hasPostgresScheme("postgres://h/db") || hasPostgresScheme("postgresqlx://h") {
		t.Error("postgres scheme detection")
	}
	if got := redact("postgresql://u:secret@h:5432/db"); strings.Contains(got, "secret") || !strings.Contains(got, "u:xxxxx@h:5432/db") {
		t.Errorf("redact: %s", got)
	}
}

// A relative artifact root is made absolute; URIs are kept as they are.
func TestArtifactRoot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for root, want := range map[string]string{
		"":                   "mlruns/0",
		"rel/root":           "rel/root/0",
		"mlflow-artifacts:/": "mlflow-artifacts:/0",
		"s3://b/p/":          "s3://b/p/0",
	} {
		s, err := Open(ctx, "sqlite:///"+filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(root)+"x.db"), Options{DefaultArtifactRoot: root})
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.GetExperiment(ctx, "0")
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(e.ArtifactLocation, want) || (!strings.Contains(root, ":") && !filepath.IsAbs(e.ArtifactLocation)) {
			t.Errorf("root %q: default experiment location %q, want .../%s", root, e.ArtifactLocation, want)
		}
	}
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := Open(ctx, "sqlite:///"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := s.read.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_version").Scan(&v); err != nil || v != SchemaVersion() || v < 1 {
		t.Fatalf("schema version %d (%v), binary's %d", v, err, SchemaVersion())
	}
	if _, err := s.CreateExperiment(ctx, "kept", "", nil); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Reopening migrates nothing and keeps the data (and one Default).
	s, err = Open(ctx, "sqlite:///"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	exps, _, err := s.SearchExperiments(ctx, tracking.ExperimentQuery{})
	if err != nil || len(exps) != 2 {
		t.Fatalf("after reopen: %d experiments, %v", len(exps), err)
	}
	var rows int
	if err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_version").Scan(&rows); err != nil || rows != SchemaVersion() {
		t.Fatalf("schema_version has %d rows (%v)", rows, err)
	}
	// A database from a newer mlship is refused, not modified.
	if _, err := s.write.ExecContext(ctx, "INSERT INTO schema_version (version) VALUES (?)", SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(ctx, "sqlite:///"+path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("opening a newer database: %v", err)
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- comment\nCREATE TABLE a (x INT);\n\nCREATE INDEX i ON a (x);\n-- end\n")
	if len(got) != 2 || got[0] != "CREATE TABLE a (x INT)" || got[1] != "CREATE INDEX i ON a (x)" {
		t.Errorf("%q", got)
	}
	for _, d := range []dialect{sqliteDialect, postgresDialect} {
		ms, err := loadMigrations(d)
		if err != nil || len(ms) != SchemaVersion() {
			t.Errorf("%v: %d migrations, %v", d, len(ms), err)
		}
	}
}

func TestRebind(t *testing.T) {
	s := &Store{dialect: postgresDialect}
	if got := s.rebind("a = ? AND b IN (?, ?)"); got != "a = $1 AND b IN ($2, $3)" {
		t.Errorf("%q", got)
	}
	s.dialect = sqliteDialect
	if got := s.rebind("a = ?"); got != "a = ?" {
		t.Errorf("%q", got)
	}
}

// likeRegexp is LIKE's meaning, case-sensitive: % any run, _ one character.
func likeRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for _, r := range p {
		switch r {
		case '%':
			b.WriteString(`.*`)
		case '_':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// FuzzLikeToGlob checks that SQLite's GLOB on the translated pattern
// matches exactly what a case-sensitive LIKE means.
func FuzzLikeToGlob(f *testing.F) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	for _, seed := range [][2]string{
		{"x%", "xgb"}, {"V_sion", "Vision"}, {"%LP", "nlp"}, {"a[b]*?c", "a[b]*?c"}, {"[*]", "[*]"},
		{"%", ""}, {"_", "é"}, {"a%b%c", "aXbYc"}, {"^$.", "^$."}, {"[!a]", "b"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(s) || strings.ContainsRune(pattern+s, 0) {
			t.Skip()
		}
		want := likeRegexp(pattern).MatchString(s)
		var got bool
		if err := db.QueryRow("SELECT ? GLOB ?", s, likeToGlob(pattern)).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("LIKE %q on %q: GLOB %q says %v, want %v", pattern, s, likeToGlob(pattern), got, want)
		}
	})
}

func FuzzSQLitePath(f *testing.F) {
	for _, s := range []string{"sqlite:///mlflow.db", "sqlite:////abs/x.db", "sqlite://:memory:", "sqlite:///a?b=c", "sqlite:///../x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		p, err := sqlitePath(uri)
		if err != nil {
			return
		}
		if p == "" || strings.Contains(p, "?") || p != filepath.Clean(p) {
			t.Fatalf("%q -> %q", uri, p)
		}
		if strings.HasPrefix(uri, "sqlite:////") != filepath.IsAbs(p) {
			t.Fatalf("%q -> %q: absoluteness differs from the URI's four slashes", uri, p)
		}
	})
}

// A version-1 database, whose metrics table let repeats in, migrates to
// the current schema keeping one row per value and every distinct value.
func TestMigrateMetricsOnce(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			s := &Store{log: discard(), now: time.Now, artifactRoot: "/a"}
			uri := ""
			var err error
			if backend == "sqlite" {
				path := filepath.Join(t.TempDir(), "v1.db")
				uri = "sqlite:///" + path
				err = s.openSQLite(path)
			} else {
				uri = testenv.Postgres(t)
				err = s.openPostgres(uri)
			}
			if err != nil {
				t.Fatal(err)
			}
			ms, err := loadMigrations(s.dialect)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.migrateTo(ctx, ms[:1]); err != nil {
				t.Fatal(err)
			}
			if err := s.ensureDefaultExperiment(ctx); err != nil {
				t.Fatal(err)
			}
			run := tracking.NewRunID()
			if _, err := s.write.ExecContext(ctx, s.rebind(`INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, lifecycle_stage, artifact_uri)
				VALUES (?, 'r', 0, '', 'RUNNING', 1, 'active', '/a')`), run); err != nil {
				t.Fatal(err)
			}
			for _, v := range []struct {
				value float64
				isNaN bool
			}{{0.5, false}, {0.5, false}, {0.5, false}, {0.7, false}, {0, true}, {0, true}} {
				if _, err := s.write.ExecContext(ctx, s.rebind("INSERT INTO metrics (run_uuid, key, value, is_nan, timestamp, step) VALUES (?, 'm', ?, ?, 10, 1)"),
					run, v.value, v.isNaN); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()

			s2, err := Open(ctx, uri, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			hist, _, err := s2.MetricHistory(ctx, run, "m", tracking.Page{})
			if err != nil {
				t.Fatal(err)
			}
			// Same step and timestamp: by value, the NaN (stored as 0) first.
			if len(hist) != 3 || !math.IsNaN(hist[0].Value) || hist[1].Value != 0.5 || hist[2].Value != 0.7 {
				t.Errorf("history after migration: %+v", hist)
			}
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
