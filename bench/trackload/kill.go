package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite", for the read-only integrity check
)

// killCycle is one SIGKILL of the server and what was found after it.
type killCycle struct {
	AckedBefore int           // entities acknowledged before the kill (all cycles so far)
	Unknown     int           // entities whose write was in flight at a kill
	Restart     time.Duration // SIGKILL to /health answering again
	Integrity   string        // PRAGMA integrity_check
	FKViolation int           // rows of PRAGMA foreign_key_check
	VerifyErr   error
}

type killResult struct {
	Clients   int
	Cycles    []killCycle
	AfterErr  error // read-back after writing to the restarted server
	AfterAcks int
	Failures  []string
}

// runKill starts a server on db, lets clients log for `every`, SIGKILLs
// the server mid-logging, restarts it on the same file and port, checks
// the file with SQLite's integrity check (read-only, while the restarted
// server runs) and reads back everything acknowledged before the kill;
// kills times. Finally the clients write again to the restarted server
// and everything is read back once more.
func runKill(ctx context.Context, bin, dir string, clients, kills int, every time.Duration) (*killResult, error) {
	db := dir + "/kill.db"
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := dir + "/kill-server.log"
	srv, err := startServer(ctx, bin, db, port, logPath)
	if err != nil {
		return nil, err
	}
	defer func() { srv.kill() }()
	a := newAPI(srv.url, clients)
	defer a.close()
	ws, exp, err := startWriters(ctx, a, clients, "kill-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err != nil {
		return nil, err
	}
	res := &killResult{Clients: clients}
	for k := 0; k < kills; k++ {
		// Writers log until the server is gone; the killer waits `every`.
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Go(func() { _ = w.loop(ctx) }) // returns at the first transport error
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(every):
		}
		killed := time.Now()
		srv.kill()
		wg.Wait()
		a.close() // drop the dead connections

		c := killCycle{}
		for _, w := range ws {
			c.AckedBefore += w.led.acked
			c.Unknown += w.led.unknown
		}
		srv, err = startServer(ctx, bin, db, port, logPath)
		if err != nil {
			return nil, fmt.Errorf("restart after kill %d: %w", k+1, err)
		}
		c.Restart = time.Since(killed)
		if c.Integrity, c.FKViolation, err = integrity(ctx, db); err != nil {
			return nil, err
		}
		_, _, c.VerifyErr = verify(ctx, a, nil, exp, ws)
		res.Cycles = append(res.Cycles, c)
	}
	// The restarted server takes writes again.
	wctx, cancel := context.WithTimeout(ctx, min(every, 2*time.Second))
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Go(func() { errs[i] = w.loop(wctx) })
	}
	wg.Wait()
	cancel()
	for i, w := range ws {
		if errs[i] != nil {
			res.Failures = append(res.Failures, fmt.Sprintf("client %d after restart: %v", i, errs[i]))
		}
		res.Failures = append(res.Failures, w.failures...)
		res.AfterAcks += w.led.acked
	}
	res.AfterAcks -= res.Cycles[len(res.Cycles)-1].AckedBefore
	_, _, res.AfterErr = verify(ctx, a, nil, exp, ws)
	if err := srv.stop(); err != nil {
		res.Failures = append(res.Failures, err.Error())
	}
	return res, nil
}

// integrity opens the database read-only (the restarted server keeps it
// open; WAL lets a reader see its last committed state) and runs SQLite's
// integrity and foreign-key checks.
func integrity(ctx context.Context, db string) (string, int, error) {
	dsn := "file:" + (&url.URL{Path: db}).EscapedPath() + "?mode=ro&_pragma=busy_timeout(10000)"
	conn, err := sql.Open("sqlite", dsn)
	if err != nil {
		return "", 0, err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return "", 0, fmt.Errorf("integrity_check: %w", err)
	}
	var lines []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return "", 0, err
		}
		lines = append(lines, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", 0, err
	}
	fk, err := conn.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return "", 0, fmt.Errorf("foreign_key_check: %w", err)
	}
	n := 0
	for fk.Next() {
		n++
	}
	fk.Close()
	return strings.Join(lines, "; "), n, fk.Err()
}
