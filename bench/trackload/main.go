// Command trackload measures `mlship server` (the tracking server) under
// load and faults, over real HTTP on 127.0.0.1 against a real `mlship
// server` process on an SQLite file, and prints markdown tables:
//
//   - batch: one client logs runs/log-batch requests of 1000 metrics
//     (100 keys x 10 new steps) to one run, back to back; metrics/s and
//     batch latency. Every history is read back.
//   - concurrent: -clients clients, each with its own run, log a mix of
//     log-metric, log-parameter, set-tag and small log-batch requests;
//     ops/s and latency per op. Then everything is read back (runs/get,
//     metrics/get-history of every key, runs/search over all pages and
//     filtered) and compared with every acknowledged write: none lost, no
//     duplicates, params and tags exact. 503/429 are retried and counted;
//     any other 5xx is a failure.
//   - search: -runs runs are written through the store API (sqlstore,
//     one ImportRun per run) into the file before the server starts on it;
//     then runs/search with `metrics.acc > 0.5 and params.model = 'a'` and
//     an order_by, -queries times per configuration, each first page
//     checked against the expected one.
//   - kill: clients log while the server is SIGKILLed; it is restarted on
//     the same file and port; PRAGMA integrity_check (read-only) must say
//     ok, every write acknowledged before the kill must be read back, and
//     the restarted server must take writes again.
//
// The program exits 1 when a correctness check fails (it does not judge
// speed; the tables state the targets).
//
//	go build -o /tmp/mlship ./cmd/mlship
//	go run ./bench/trackload -mlship /tmp/mlship
//
// Without -mlship it builds the binary itself (run it inside the module).
// -inprocess serves from this process instead (not for kill), so that
// -cpuprofile can show where the server's time goes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

type config struct {
	scenario   string
	duration   time.Duration // 0: each scenario's default
	clients    int
	runs       int
	queries    int
	kills      int
	mlship     string
	dir        string
	inprocess  bool
	cpuprofile string
}

func main() {
	var c config
	flag.StringVar(&c.scenario, "scenario", "all", "all, or a comma-separated list of batch, concurrent, search, kill")
	flag.DurationVar(&c.duration, "duration", 0, "how long each scenario logs (default: batch 10s, concurrent 30s, kill 5s before each kill)")
	flag.IntVar(&c.clients, "clients", 50, "concurrent clients (concurrent and kill scenarios)")
	flag.IntVar(&c.runs, "runs", 100_000, "runs in the store for the search scenario")
	flag.IntVar(&c.queries, "queries", 50, "timed runs/search calls per query configuration")
	flag.IntVar(&c.kills, "kills", 1, "SIGKILL/restart cycles in the kill scenario")
	flag.StringVar(&c.mlship, "mlship", "", "mlship binary (default: go build ./cmd/mlship into the work directory)")
	flag.StringVar(&c.dir, "dir", "", "work directory for databases and logs (default: a new temporary directory, removed afterwards)")
	flag.BoolVar(&c.inprocess, "inprocess", false, "serve from this process instead of an `mlship server` process (batch, concurrent, search)")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "with -inprocess: write a CPU profile of each scenario's timed part to FILE.<scenario>")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runAll(ctx, c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "trackload:", err)
		os.Exit(1)
	}
}

func runAll(ctx context.Context, c config, out io.Writer) (err error) {
	if c.cpuprofile != "" && !c.inprocess {
		return errors.New("-cpuprofile needs -inprocess (the profile is of this process)")
	}
	want := map[string]bool{}
	for _, s := range strings.Split(c.scenario, ",") {
		switch s = strings.TrimSpace(s); s {
		case "all":
			for _, x := range []string{"batch", "concurrent", "search", "kill"} {
				want[x] = true
			}
		case "batch", "concurrent", "search", "kill":
			want[s] = true
		default:
			return fmt.Errorf("unknown scenario %q", s)
		}
	}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "trackload-"); err != nil {
			return err
		}
		defer os.RemoveAll(c.dir)
	} else if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	if c.mlship == "" && (!c.inprocess || want["kill"]) {
		fmt.Fprintln(os.Stderr, "building mlship ...")
		if c.mlship, err = buildMlship(ctx, c.dir); err != nil {
			return err
		}
	}
	dur := func(def time.Duration) time.Duration {
		if c.duration > 0 {
			return c.duration
		}
		return def
	}
	fmt.Fprintf(out, "trackload: %s, %s, %d CPUs (GOMAXPROCS %d), server: %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		runtime.Version(), runtime.NumCPU(), runtime.GOMAXPROCS(0), map[bool]string{false: "`mlship server` process", true: "in this process"}[c.inprocess])

	var failed []string
	fail := func(format string, args ...any) { failed = append(failed, fmt.Sprintf(format, args...)) }
	start := func(name, db string) (*serverProc, error) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		if c.inprocess {
			return startInProcess(ctx, db, port)
		}
		return startServer(ctx, c.mlship, db, port, filepath.Join(c.dir, name+"-server.log"))
	}
	profile := func(name string) (func(), error) {
		if c.cpuprofile == "" {
			return func() {}, nil
		}
		f, err := os.Create(c.cpuprofile + "." + name)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		return func() { pprof.StopCPUProfile(); f.Close() }, nil
	}

	if want["batch"] {
		srv, err := start("batch", filepath.Join(c.dir, "batch.db"))
		if err != nil {
			return err
		}
		load := loadavg()
		endProfile, err := profile("batch")
		if err != nil {
			srv.kill()
			return err
		}
		r, err := runBatch(ctx, srv, dur(10*time.Second))
		endProfile()
		srv.stop()
		if err != nil {
			return fmt.Errorf("batch: %w", err)
		}
		printBatch(out, r, load)
		if r.VerifyErr != nil {
			fail("batch: %v", r.VerifyErr)
		}
	}
	if want["concurrent"] {
		srv, err := start("concurrent", filepath.Join(c.dir, "concurrent.db"))
		if err != nil {
			return err
		}
		load := loadavg()
		endProfile, err := profile("concurrent")
		if err != nil {
			srv.kill()
			return err
		}
		r, err := runConcurrent(ctx, srv, c.clients, dur(30*time.Second))
		endProfile()
		srv.stop()
		if err != nil {
			return fmt.Errorf("concurrent: %w", err)
		}
		printConcurrent(out, r, load)
		if r.VerifyErrs != nil {
			fail("concurrent: %v", r.VerifyErrs)
		}
		if len(r.Failures) > 0 {
			fail("concurrent: %d failed requests, first: %s", len(r.Failures), r.Failures[0])
		}
	}
	if want["search"] {
		db := filepath.Join(c.dir, fmt.Sprintf("search-%d.db", c.runs))
		exp, runs, took, reused, err := populate(ctx, db, c.runs)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		srv, err := start("search", db)
		if err != nil {
			return err
		}
		load := loadavg()
		endProfile, err := profile("search")
		if err != nil {
			srv.kill()
			return err
		}
		r, err := runSearch(ctx, srv, exp, runs, c.queries)
		endProfile()
		srv.stop()
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		r.Populate, r.Reused = took, reused
		printSearch(out, r, c.queries, load)
		if r.VerifyErr != nil {
			fail("search: %v", r.VerifyErr)
		}
	}
	if want["kill"] {
		if c.mlship == "" {
			return errors.New("kill: needs an mlship binary")
		}
		load := loadavg()
		r, err := runKill(ctx, c.mlship, c.dir, c.clients, c.kills, dur(10*time.Second)/2)
		if err != nil {
			return fmt.Errorf("kill: %w", err)
		}
		printKill(out, r, load)
		for i, cy := range r.Cycles {
			if cy.Integrity != "ok" || cy.FKViolation != 0 {
				fail("kill %d: integrity_check %q, %d foreign-key violations", i+1, cy.Integrity, cy.FKViolation)
			}
			if cy.VerifyErr != nil {
				fail("kill %d: %v", i+1, cy.VerifyErr)
			}
		}
		if r.AfterErr != nil {
			fail("kill: after restart: %v", r.AfterErr)
		}
		if len(r.Failures) > 0 {
			fail("kill: %d failed requests, first: %s", len(r.Failures), r.Failures[0])
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("correctness checks failed:\n%s", strings.Join(failed, "\n"))
	}
	return nil
}

// loadavg is /proc/loadavg's 1-minute figure, as uptime prints it.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func verdict(err error) string {
	if err != nil {
		return "FAILED"
	}
	return "ok"
}

func printBatch(w io.Writer, r *batchResult, load string) {
	fmt.Fprintf(w, "## log-batch, one client (batches of 1000 metrics, one run)\n\nload average at start: %s\n\n", load)
	fmt.Fprintln(w, "| batches | metrics | seconds | metrics/s | p50 ms | p90 ms | p99 ms | max ms | server CPU µs/metric | read-back |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	fmt.Fprintf(w, "| %d | %d | %.1f | %.0f | %s | %s | %s | %s | %.1f | %s |\n\n", r.Batches, r.Metrics, r.Duration.Seconds(), r.perSecond(),
		ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max),
		float64(r.ServerCPU.Microseconds())/float64(max(1, r.Metrics)), verdict(r.VerifyErr))
	fmt.Fprintf(w, "target ≥ 20,000 metrics/s: %s\n\n", map[bool]string{true: "met", false: "NOT met"}[r.perSecond() >= 20000])
}

func printConcurrent(w io.Writer, r *concurrentResult, load string) {
	fmt.Fprintf(w, "## %d concurrent clients, %.1f s (own run each; log-metric, log-parameter, set-tag, log-batch mixed)\n\nload average at start: %s\n\n",
		r.Clients, r.Duration.Seconds(), load)
	fmt.Fprintln(w, "| op | count | ops/s | p50 ms | p90 ms | p99 ms | max ms |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, op := range r.Rec.names() {
		s := r.Rec.summary(op)
		fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %s | %s |\n", op, s.N, float64(s.N)/r.Duration.Seconds(), ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max))
	}
	fmt.Fprintf(w, "| **all writes** | %d | %.0f | | | | |\n\n", r.Ops, float64(r.Ops)/r.Duration.Seconds())
	fmt.Fprintf(w, "acknowledged entities (metrics+params+tags): %d (%.0f/s); 503/429 retried: %d; failed requests (5xx or unexpected 4xx): %d; server CPU %.1f s (%.0f%% of one core)\n\n",
		r.Entities, float64(r.Entities)/r.Duration.Seconds(), r.Retried, len(r.Failures), r.ServerCPU.Seconds(), 100*r.ServerCPU.Seconds()/r.Duration.Seconds())
	fmt.Fprintf(w, "read-back: %d runs (runs/get), %d metric histories, runs/search all pages + %d filtered searches, %d acknowledged entities checked in %.1f s: %s\n\n",
		r.Runs, r.Histories, r.Runs, r.Verified, r.ReadBack.Seconds(), verdict(r.VerifyErrs))
	if r.ReadRec != nil {
		fmt.Fprintln(w, "| read op | count | p50 ms | p99 ms |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
		for _, op := range r.ReadRec.names() {
			s := r.ReadRec.summary(op)
			fmt.Fprintf(w, "| %s | %d | %s | %s |\n", op, s.N, ms(s.P50), ms(s.P99))
		}
		fmt.Fprintln(w)
	}
}

func printSearch(w io.Writer, r *searchResult, queries int, load string) {
	how := fmt.Sprintf("store populated through the store API in %.1f s", r.Populate.Seconds())
	if r.Reused {
		how = "store populated by an earlier run, reused"
	}
	fmt.Fprintf(w, "## runs/search over %d runs: `%s` (%d match)\n\n%s; load average at start: %s\n\n",
		r.Runs, searchFilter, r.Matching, how, load)
	fmt.Fprintln(w, "| query | n | p50 ms | p90 ms | p99 ms | max ms | server CPU ms/query |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, row := range r.Rows {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s |\n", row.Name, row.Lat.N, ms(row.Lat.P50), ms(row.Lat.P90), ms(row.Lat.P99), ms(row.Lat.Max), ms(row.ServerCPU))
	}
	met := len(r.Rows) > 0 && r.Rows[0].Lat.P50 < 100*time.Millisecond
	fmt.Fprintf(w, "\nfirst pages and a full paging checked: %s; target p50 < 100 ms (first row): %s\n\n", verdict(r.VerifyErr),
		map[bool]string{true: "met", false: "NOT met"}[met])
}

func printKill(w io.Writer, r *killResult, load string) {
	fmt.Fprintf(w, "## kill -9 mid-logging (%d clients), restart on the same file\n\nload average at start: %s\n\n", r.Clients, load)
	fmt.Fprintln(w, "| kill | acknowledged before (total) | in flight at kills (total) | SIGKILL → healthy ms | integrity_check | foreign_key_check rows | acknowledged writes read back |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | --- | ---: | --- |")
	for i, c := range r.Cycles {
		fmt.Fprintf(w, "| %d | %d | %d | %s | %s | %d | %s |\n", i+1, c.AckedBefore, c.Unknown, ms(c.Restart), c.Integrity, c.FKViolation, verdict(c.VerifyErr))
	}
	fmt.Fprintf(w, "\nafter the last restart: %d more entities acknowledged, read back: %s; failed requests: %d\n\n", r.AfterAcks, verdict(r.AfterErr), len(r.Failures))
}
