package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// pgServer is the one PostgreSQL server of this test process.
type pgServer struct {
	bin, dir, data string
	port           int
	asPostgres     bool // running as root: commands go through runuser -u postgres
	err            error
}

var (
	pgMu      sync.Mutex
	pg        *pgServer
	pgDBCount atomic.Int64
)

// Postgres returns the DSN (postgresql://postgres@127.0.0.1:PORT/NAME) of
// a fresh, empty database on a PostgreSQL server private to this test
// process. The server is started on first use (initdb into a temporary
// directory, listening on 127.0.0.1 only, fsync off) and stopped by
// StopPostgres, which a TestMain should call after m.Run; should it not, a
// watchdog stops the server once the test process is gone. Without
// PostgreSQL's binaries (MLSHIP_POSTGRES_BIN, else
// /usr/lib/postgresql/*/bin) the test is Missing.
//
// PostgreSQL refuses to run as root, so as root every server command runs
// as the postgres user (runuser), as ENVIRONMENT.md describes.
func Postgres(t testing.TB) string {
	t.Helper()
	pgMu.Lock()
	defer pgMu.Unlock()
	if pg == nil {
		bin, err := postgresBin()
		if err != nil {
			Missing(t, err.Error())
		}
		pg = startPostgres(bin)
	}
	if pg.err != nil {
		t.Fatalf("testenv: PostgreSQL: %v", pg.err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), pgDBCount.Add(1))
	if out, err := pg.command("createdb", "-h", pg.dir, "-p", strconv.Itoa(pg.port), "-U", "postgres", name).CombinedOutput(); err != nil {
		t.Fatalf("testenv: createdb %s: %v\n%s", name, err, out)
	}
	return fmt.Sprintf("postgresql://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, name)
}

// StopPostgres stops the server Postgres started, if any, and removes its
// files. Call it from TestMain after m.Run.
func StopPostgres() {
	pgMu.Lock()
	defer pgMu.Unlock()
	if pg == nil || pg.err != nil {
		return
	}
	_ = pg.command("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop").Run()
	_ = os.RemoveAll(pg.dir)
	pg = nil
}

func postgresBin() (string, error) {
	if b := os.Getenv("MLSHIP_POSTGRES_BIN"); b != "" {
		if _, err := os.Stat(filepath.Join(b, "initdb")); err != nil {
			return "", fmt.Errorf("MLSHIP_POSTGRES_BIN=%s: %v", b, err)
		}
		return b, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		return "", fmt.Errorf("PostgreSQL is not installed (apt-get install postgresql, or set MLSHIP_POSTGRES_BIN)")
	}
	// The newest major version: /usr/lib/postgresql/15 sorts after 9.6 by number.
	sort.Slice(found, func(i, j int) bool {
		vi, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(found[i]))), 64)
		vj, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(found[j]))), 64)
		return vi < vj
	})
	return filepath.Dir(found[len(found)-1]), nil
}

// command runs a PostgreSQL program, as the postgres user when we are root.
func (s *pgServer) command(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, prog)
	if s.asPostgres {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func startPostgres(bin string) *pgServer {
	s := &pgServer{bin: bin, asPostgres: os.Geteuid() == 0}
	fail := func(format string, args ...any) *pgServer {
		s.err = fmt.Errorf(format, args...)
		if s.dir != "" {
			_ = os.RemoveAll(s.dir)
		}
		return s
	}
	dir, err := os.MkdirTemp("", "mlship-pg-")
	if err != nil {
		return fail("%v", err)
	}
	s.dir, s.data = dir, filepath.Join(dir, "data")
	if s.asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail("running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail("%v", err)
		}
	}
	if out, err := s.command("initdb", "-D", s.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync").CombinedOutput(); err != nil {
		return fail("initdb: %v\n%s", err, out)
	}
	// A free port can be taken between the probe and the server's bind:
	// try a few.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return fail("%v", err)
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, dir)
		logFile := filepath.Join(dir, "log")
		out, err := s.command("pg_ctl", "-D", s.data, "-o", opts, "-l", logFile, "-w", "-t", "60", "start").CombinedOutput()
		if err == nil {
			s.port = port
			s.watchdog()
			return s
		}
		log, _ := os.ReadFile(logFile)
		lastErr = fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, tail(log, 2000))
		_ = s.command("pg_ctl", "-D", s.data, "-m", "immediate", "stop").Run()
	}
	return fail("%v", lastErr)
}

// watchdog stops the server and removes its files once this process is
// gone, for test binaries whose TestMain does not call StopPostgres (or
// that are killed). It runs in its own session so it outlives us.
func (s *pgServer) watchdog() {
	// Paths go in as arguments, never into the script's text: a TMPDIR
	// with a space must not make rm -rf remove its first word.
	stop := s.command("pg_ctl", "-D", s.data, "-m", "immediate", "stop").Args
	const script = `pid=$1 dir=$2; shift 2; while [ -d /proc/$pid ]; do sleep 1; done; "$@" >/dev/null 2>&1; rm -rf "$dir"`
	cmd := exec.Command("sh", append([]string{"-c", script, "watchdog", strconv.Itoa(os.Getpid()), s.dir}, stop...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err == nil {
		go func() { _ = cmd.Wait() }() // reap it, should we outlive it
	}
}

func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
