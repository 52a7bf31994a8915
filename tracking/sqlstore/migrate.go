package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrations/<dialect>/NNNN_name.sql: each file is one schema version,
// applied in order inside one transaction with the version bump. Never edit
// a released file; add the next one.
//
//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(d dialect) ([]migration, error) {
	dir := "migrations/sqlite"
	if d == postgresDialect {
		dir = "migrations/postgres"
	}
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: reading migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("sqlstore: migration file %s is not NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: reading migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("sqlstore: migrations are not numbered 1..n (found %s at position %d)", m.name, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() int {
	ms, err := loadMigrations(sqliteDialect)
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate brings the schema to the newest version inside one transaction.
// On PostgreSQL an advisory lock keeps two servers starting at once from
// migrating together; SQLite's write lock (BEGIN IMMEDIATE) does the same.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations(s.dialect)
	if err != nil {
		return err
	}
	return s.migrateTo(ctx, ms)
}

// migrateTo applies the migrations in ms the database lacks; tests use it
// to build databases of older versions.
func (s *Store) migrateTo(ctx context.Context, ms []migration) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if s.dialect == postgresDialect {
			// 0x6d6c73686970 is "mlship".
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(120364442003568)"); err != nil {
				return dbErr("locking for migration", err)
			}
		}
		if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
			return dbErr("creating schema_version", err)
		}
		var cur sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_version").Scan(&cur); err != nil {
			return dbErr("reading schema version", err)
		}
		have := int(cur.Int64)
		if have > len(ms) {
			return fmt.Errorf("sqlstore: database schema version %d is newer than this binary's %d: upgrade mlship", have, len(ms))
		}
		for _, m := range ms[have:] {
			for _, stmt := range splitStatements(m.sql) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("sqlstore: migration %s: %w", m.name, err)
				}
			}
			if _, err := tx.ExecContext(ctx, s.rebind("INSERT INTO schema_version (version) VALUES (?)"), m.version); err != nil {
				return dbErr("recording schema version", err)
			}
			s.log.Info("tracking schema migrated", "dialect", s.dialect.String(), "version", m.version, "file", m.name)
		}
		return nil
	})
}

// splitStatements splits a migration file at semicolons that end a line,
// dropping comment lines. Migrations hold no semicolons inside literals.
func splitStatements(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}
