// Package sqlstore keeps tracking data (experiments, runs, params, metrics,
// tags, dataset inputs) in SQL: an embedded SQLite file (modernc.org/sqlite,
// pure Go, WAL) by default and PostgreSQL (pgx) for teams. Open takes an
// MLflow backend-store URI, runs the versioned schema migrations and
// returns a *Store, which implements tracking.Store.
//
// Filters and order_by clauses come from tracking/search and are translated
// to SQL with bound parameters only: values never enter the SQL text, and
// identifiers come from a fixed whitelist.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
	_ "modernc.org/sqlite"             // registers driver "sqlite"

	"github.com/mlship/mlship/tracking"
)

// Options configure a Store. The zero value is usable: artifacts go under
// ./mlruns (made absolute) and nothing is logged.
type Options struct {
	// DefaultArtifactRoot is where experiments created without an artifact
	// location keep their artifacts: root + "/" + experiment id. A local
	// path is made absolute; a URI (s3://..., mlflow-artifacts:/) is kept.
	DefaultArtifactRoot string
	Logger              *slog.Logger
}

type dialect int

const (
	sqliteDialect dialect = iota + 1
	postgresDialect
)

func (d dialect) String() string {
	if d == postgresDialect {
		return "postgresql"
	}
	return "sqlite"
}

// Store is a tracking.Store over SQLite or PostgreSQL.
type Store struct {
	dialect dialect
	// write runs every transaction that changes data. For SQLite it is a
	// pool of one connection, so writers queue in Go instead of spinning on
	// SQLITE_BUSY; for PostgreSQL it is the same pool as read.
	write *sql.DB
	// read serves queries; with WAL, SQLite readers do not block the writer.
	read         *sql.DB
	artifactRoot string
	log          *slog.Logger
	now          func() time.Time
	writes       atomic.Int64 // committed write transactions, for optimize
	// ready is set once Open has succeeded: a database Open refused (a
	// newer schema) is closed without being written to.
	ready bool
}

var _ tracking.Store = (*Store)(nil)

// Open connects to the backend-store URI, migrates the schema to this
// binary's version (refusing a newer database) and makes sure the Default
// experiment exists. Accepted URIs, as MLflow spells them:
//
//	sqlite:///relative/path.db    sqlite:////absolute/path.db
//	postgresql://user:pw@host:port/db   (also postgres://, postgresql+psycopg2://)
func Open(ctx context.Context, uri string, opts Options) (*Store, error) {
	s := &Store{log: opts.Logger, now: time.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	root, err := artifactRoot(opts.DefaultArtifactRoot)
	if err != nil {
		return nil, err
	}
	s.artifactRoot = root

	switch {
	case strings.HasPrefix(uri, "sqlite:"):
		path, err := sqlitePath(uri)
		if err != nil {
			return nil, err
		}
		if err := s.openSQLite(path); err != nil {
			return nil, err
		}
	case hasPostgresScheme(uri):
		if err := s.openPostgres(uri); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("sqlstore: unsupported backend store URI %q (want sqlite:///path.db or postgresql://...)", redact(uri))
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.ensureDefaultExperiment(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.optimize(ctx)
	s.ready = true
	s.log.Debug("tracking store open", "dialect", s.dialect.String(), "artifact_root", s.artifactRoot)
	return s, nil
}

// Close refreshes SQLite's statistics where they are stale (as SQLite
// advises before closing a long-lived connection) and releases the
// database connections.
func (s *Store) Close() error {
	if s.dialect == sqliteDialect && s.ready {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.optimize(ctx)
		cancel()
	}
	var errs []error
	if s.write != nil {
		errs = append(errs, s.write.Close())
	}
	if s.read != nil && s.read != s.write {
		errs = append(errs, s.read.Close())
	}
	return errors.Join(errs...)
}

// DB returns the pool that serves queries, for tests and maintenance tools
// (integrity checks); callers must not change data through it.
func (s *Store) DB() *sql.DB { return s.read }

func artifactRoot(root string) (string, error) {
	if root == "" {
		root = "./mlruns"
	}
	if strings.Contains(root, ":/") || strings.HasSuffix(root, ":") {
		// A URI: s3://bucket/x, mlflow-artifacts:/, file:///x, gs://...
		return strings.TrimSuffix(root, "/"), nil
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("sqlstore: artifact root %q: %w", root, err)
	}
	return abs, nil
}

// sqlitePath turns MLflow's sqlite URI into a file path: three slashes
// then a relative path, four for an absolute one (sqlalchemy's rule).
func sqlitePath(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, "sqlite://")
	if !ok {
		return "", fmt.Errorf("sqlstore: malformed SQLite URI %q (want sqlite:///path.db)", uri)
	}
	if rest == "" || rest == "/" || rest == "/:memory:" || rest == ":memory:" {
		return "", fmt.Errorf("sqlstore: in-memory SQLite is not supported (%q): use a file, sqlite:///mlflow.db", uri)
	}
	path, ok := strings.CutPrefix(rest, "/")
	if !ok {
		return "", fmt.Errorf("sqlstore: malformed SQLite URI %q (want sqlite:///relative.db or sqlite:////abs/path.db)", uri)
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i] // sqlalchemy query options do not apply here
	}
	if path == "" {
		return "", fmt.Errorf("sqlstore: SQLite URI %q names no file", uri)
	}
	return filepath.Clean(path), nil
}

func (s *Store) openSQLite(path string) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("sqlstore: creating directory for %s: %w", path, err)
		}
	}
	// FULL sync in WAL mode makes every acknowledged commit durable, even
	// across a power cut; the cost is one fsync per transaction.
	// A 32 MiB page cache per connection and memory-mapped reads keep a
	// search over 100,000 runs off the disk.
	const params = "_busy_timeout=10000&_journal_mode=WAL&_foreign_keys=1&_synchronous=FULL" +
		"&_pragma=cache_size(-32768)&_pragma=mmap_size(268435456)"
	dsn := func(extra string) string {
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + params + extra
	}
	w, err := sql.Open("sqlite", dsn("&_txlock=immediate"))
	if err != nil {
		return fmt.Errorf("sqlstore: opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	// Creating the file and switching it to WAL happen on the first
	// connection; do it before readers open theirs.
	if err := w.Ping(); err != nil {
		w.Close()
		return fmt.Errorf("sqlstore: opening %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn("&_query_only=1"))
	if err != nil {
		w.Close()
		return fmt.Errorf("sqlstore: opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	s.dialect, s.write, s.read = sqliteDialect, w, r
	return nil
}

func hasPostgresScheme(uri string) bool {
	scheme, _, ok := strings.Cut(uri, "://")
	if !ok {
		return false
	}
	base, _, _ := strings.Cut(scheme, "+") // postgresql+psycopg2 etc.
	return base == "postgresql" || base == "postgres"
}

func (s *Store) openPostgres(uri string) error {
	scheme, rest, _ := strings.Cut(uri, "://")
	if strings.Contains(scheme, "+") {
		uri = "postgresql://" + rest // the driver part is sqlalchemy's business
	}
	// Searches bind LIMIT and filter values as parameters. After five runs
	// of a prepared statement PostgreSQL may switch to a generic plan,
	// which cannot see that the LIMIT is small and so joins and sorts
	// everything (12x slower over 100,000 runs). Plan each execution with
	// its values unless the URI says otherwise.
	if u, err := url.Parse(uri); err == nil {
		q := u.Query()
		if q.Get("plan_cache_mode") == "" {
			q.Set("plan_cache_mode", "force_custom_plan")
			u.RawQuery = q.Encode()
			uri = u.String()
		}
	}
	db, err := sql.Open("pgx", uri)
	if err != nil {
		return fmt.Errorf("sqlstore: opening %s: %w", redact(uri), err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s.dialect, s.write, s.read = postgresDialect, db, db
	return nil
}

// redact hides a password in a URI for messages and logs.
func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.User == nil {
		return uri
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// rebind turns the ? placeholders every query is written with into
// PostgreSQL's $n. (No query text here holds a literal '?'.)
func (s *Store) rebind(q string) string {
	if s.dialect != postgresDialect {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a write transaction and commits it if fn succeeds.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: committing: %w", err)
	}
	if n := s.writes.Add(1); s.dialect == sqliteDialect && (n == 100 || n%5000 == 0) {
		s.optimize(ctx)
	}
	return nil
}

// optimize refreshes SQLite's table statistics where tables have grown or
// shrunk a lot since they were last gathered: without them the planner
// guesses, and a filtered search can take seconds instead of milliseconds.
// The analysis is bounded (analysis_limit) so it takes milliseconds.
// PostgreSQL's autovacuum does the same on its own.
func (s *Store) optimize(ctx context.Context) {
	if s.dialect != sqliteDialect {
		return
	}
	for _, p := range []string{"PRAGMA analysis_limit=1000", "PRAGMA optimize=0x10002"} {
		if _, err := s.write.ExecContext(ctx, p); err != nil {
			s.log.Warn("refreshing SQLite statistics", "err", err)
			return
		}
	}
}

// forUpdate is the row-lock suffix for a SELECT that guards a write: on
// PostgreSQL it serialises writers of one run or experiment; SQLite has a
// single writer already.
func (s *Store) forUpdate() string {
	if s.dialect == postgresDialect {
		return " FOR UPDATE"
	}
	return ""
}

func (s *Store) millis() int64 { return s.now().UnixMilli() }

// placeholders returns "?, ?, ..." with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// dbErr wraps a database error with context; tracking errors and nil pass
// through.
func dbErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var te *tracking.Error
	if errors.As(err, &te) {
		return err
	}
	return fmt.Errorf("sqlstore: %s: %w", what, err)
}
