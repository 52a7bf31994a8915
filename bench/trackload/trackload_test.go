package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/testenv"
)

// Short versions of every scenario, against a real `mlship server`
// process over 127.0.0.1, asserting correctness (nothing lost, nothing
// duplicated, a consistent store after kill -9), not speed.

// mlshipBin is built on first use (needServer), so tests that need no
// server do not wait for the link.
var (
	buildOnce sync.Once
	buildDir  string
	mlshipBin string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func needServer(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		testenv.Missing(t, "no go toolchain on PATH to build mlship")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "trackload-test-"); buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		mlshipBin, buildErr = buildMlship(ctx, buildDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

func startTestServer(t *testing.T, name string) *serverProc {
	t.Helper()
	needServer(t)
	dir := t.TempDir()
	srv, err := startServer(t.Context(), mlshipBin, filepath.Join(dir, name+".db"), testenv.FreePort(t), filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.stop(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

func TestBatchScenario(t *testing.T) {
	srv := startTestServer(t, "batch")
	r, err := runBatch(t.Context(), srv, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Batches == 0 || r.Metrics != r.Batches*1000 {
		t.Fatalf("%d batches, %d metrics", r.Batches, r.Metrics)
	}
	if r.VerifyErr != nil {
		t.Fatal(r.VerifyErr)
	}
	t.Logf("%d metrics in %v (%.0f/s under test load)", r.Metrics, r.Duration, r.perSecond())
}

func TestConcurrentScenario(t *testing.T) {
	srv := startTestServer(t, "concurrent")
	r, err := runConcurrent(t.Context(), srv, 5, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Failures) > 0 {
		t.Fatalf("%d failed requests: %v", len(r.Failures), r.Failures[:min(5, len(r.Failures))])
	}
	if r.VerifyErrs != nil {
		t.Fatal(r.VerifyErrs)
	}
	// Every kind of write was exercised and read back.
	for _, op := range []string{"log-metric", "log-parameter", "set-tag", "log-batch(small)"} {
		if r.Rec.count(op) == 0 {
			t.Errorf("no acknowledged %s", op)
		}
	}
	if r.Histories < 5 || r.Verified != r.Entities {
		t.Errorf("read back %d histories, checked %d of %d entities", r.Histories, r.Verified, r.Entities)
	}
}

func TestSearchScenario(t *testing.T) {
	needServer(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "search.db")
	exp, runs, _, reused, err := populate(t.Context(), db, 5000)
	if err != nil || reused {
		t.Fatal(err, reused)
	}
	// A second call finds the same runs in the file and writes nothing.
	exp2, runs2, _, reused, err := populate(t.Context(), db, 5000)
	if err != nil || !reused || exp2 != exp || len(runs2) != len(runs) || runs2[4999] != runs[4999] {
		t.Fatalf("reuse: %v, reused %v, experiment %s/%s", err, reused, exp2, exp)
	}
	if _, _, _, _, err := populate(t.Context(), db, 6000); err == nil {
		t.Error("a file populated with 5000 runs was reused for 6000")
	}
	srv, err := startServer(t.Context(), mlshipBin, db, testenv.FreePort(t), filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	r, err := runSearch(t.Context(), srv, exp, runs, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.VerifyErr != nil {
		t.Fatal(r.VerifyErr)
	}
	if r.Matching < 400 || r.Matching > 850 { // about 1 in 8 of 5000
		t.Errorf("%d runs match the filter", r.Matching)
	}
	if len(r.Rows) != len(searchQueries) || r.Rows[0].Lat.N != 3 {
		t.Errorf("rows %+v", r.Rows)
	}
}

func TestKillScenario(t *testing.T) {
	needServer(t)
	r, err := runKill(t.Context(), mlshipBin, t.TempDir(), 5, 1, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cycles) != 1 {
		t.Fatalf("%d kill cycles", len(r.Cycles))
	}
	c := r.Cycles[0]
	if c.Integrity != "ok" || c.FKViolation != 0 {
		t.Errorf("after kill -9: integrity_check %q, %d foreign-key violations", c.Integrity, c.FKViolation)
	}
	if c.AckedBefore == 0 {
		t.Error("nothing was acknowledged before the kill")
	}
	if c.VerifyErr != nil {
		t.Errorf("after kill -9: %v", c.VerifyErr)
	}
	if r.AfterAcks == 0 || r.AfterErr != nil {
		t.Errorf("after restart: %d writes acknowledged, read-back: %v", r.AfterAcks, r.AfterErr)
	}
	if len(r.Failures) > 0 {
		t.Errorf("failed requests: %v", r.Failures)
	}
}

// The program end to end: flags' scenario list, tables, exit status.
func TestRunAllPrintsTables(t *testing.T) {
	needServer(t)
	var out bytes.Buffer
	c := config{scenario: "batch", duration: time.Second, mlship: mlshipBin, dir: t.TempDir()}
	if err := runAll(t.Context(), c, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## log-batch, one client", "| batches | metrics |", "target ≥ 20,000 metrics/s:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := runAll(t.Context(), config{scenario: "batch,bogus"}, &out); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("unknown scenario: %v", err)
	}
	if err := runAll(t.Context(), config{scenario: "batch", cpuprofile: "x"}, &out); err == nil {
		t.Error("-cpuprofile without -inprocess accepted")
	}
}

// The read-back checks must catch what they are for: a verifier that
// always passes would make every scenario above pass too.
func TestLedgerChecks(t *testing.T) {
	newRun := func(params, tags []kv, metrics []metric) *run {
		r := &run{}
		r.Data.Params, r.Data.Tags, r.Data.Metrics = params, tags, metrics
		return r
	}
	m1 := metric{Key: "m", Value: 1.5, Timestamp: 10, Step: 1}
	m2 := metric{Key: "m", Value: 2.5, Timestamp: 11, Step: 2}
	base := func() *ledger {
		l := newLedger("r1")
		l.record(true, []metric{m1}, []kv{{"p", "1"}}, []kv{{"t", "a"}})
		return l
	}
	for _, tc := range []struct {
		name    string
		ledger  func() *ledger
		run     *run
		history []metric
		want    string // "" when the read-back is right
	}{
		{"exact", base, newRun([]kv{{"p", "1"}}, []kv{{"t", "a"}, {"mlflow.runName", "x"}}, []metric{m1}), []metric{m1}, ""},
		{"param lost", base, newRun(nil, []kv{{"t", "a"}}, []metric{m1}), []metric{m1}, `acknowledged param "p" lost`},
		{"param changed", base, newRun([]kv{{"p", "2"}}, []kv{{"t", "a"}}, []metric{m1}), []metric{m1}, `param "p" = "2", logged "1"`},
		{"param never logged", base, newRun([]kv{{"p", "1"}, {"q", "1"}}, []kv{{"t", "a"}}, []metric{m1}), []metric{m1}, `param "q" = "1" was never logged`},
		{"tag lost", base, newRun([]kv{{"p", "1"}}, nil, []metric{m1}), []metric{m1}, `acknowledged tag "t" lost`},
		{"tag wrong", base, newRun([]kv{{"p", "1"}}, []kv{{"t", "b"}}, []metric{m1}), []metric{m1}, `tag "t" = "b"`},
		{"metric lost", base, newRun([]kv{{"p", "1"}}, []kv{{"t", "a"}}, []metric{m1}), nil, "lost"},
		{"metric twice", base, newRun([]kv{{"p", "1"}}, []kv{{"t", "a"}}, []metric{m1}), []metric{m1, m1}, "stored 2 times"},
		{"metric never logged", base, newRun([]kv{{"p", "1"}}, []kv{{"t", "a"}}, []metric{m1}), []metric{m1, m2}, "was never logged"},
		{"stale latest", func() *ledger {
			l := base()
			l.record(true, []metric{m2}, nil, nil)
			return l
		}, newRun([]kv{{"p", "1"}}, []kv{{"t", "a"}}, []metric{m1}), []metric{m1, m2}, `latest "m"`},
		// Writes of unknown outcome may or may not be there.
		{"unknown write applied", func() *ledger {
			l := base()
			l.record(false, []metric{m2}, []kv{{"q", "9"}}, []kv{{"t", "z"}})
			return l
		}, newRun([]kv{{"p", "1"}, {"q", "9"}}, []kv{{"t", "z"}}, []metric{m2}), []metric{m1, m2}, ""},
		{"unknown write not applied", func() *ledger {
			l := base()
			l.record(false, []metric{m2}, []kv{{"q", "9"}}, []kv{{"t", "z"}})
			return l
		}, newRun([]kv{{"p", "1"}}, []kv{{"t", "a"}}, []metric{m1}), []metric{m1}, ""},
		{"unknown write applied twice", func() *ledger {
			l := base()
			l.record(false, []metric{m2}, nil, nil)
			return l
		}, newRun([]kv{{"p", "1"}}, []kv{{"t", "a"}}, []metric{m2}), []metric{m1, m2, m2}, "stored 2 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.ledger()
			var p problems
			l.checkRun(tc.run, &p)
			l.checkHistory("m", tc.history, &p)
			err := p.err()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("reported a correct read-back: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want a problem containing %q", err, tc.want)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		line string
		want time.Duration
	}{
		{"1234 (mlship) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0", 3 * time.Second},
		{"1234 (a) b (c)) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0", 100 * time.Millisecond},
		{"1234 (short) S 1 2", 0},
		{"no parenthesis", 0},
		{"1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 3 0 0", 0},
	} {
		if got := parseStatCPU([]byte(tc.line)); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.line, got, tc.want)
		}
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("1234 (mlship) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0"))
	f.Add([]byte("1 ()) 1 2 3 4 5 6 7 8 9 10 11 12 13"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d := parseStatCPU(b); d < 0 {
			t.Fatalf("negative CPU time %v", d)
		}
	})
}

// The kill scenario's integrity check must see a damaged file: overwrite
// part of a b-tree page of a closed database and check again.
func TestIntegrityCheckSeesCorruption(t *testing.T) {
	db := filepath.Join(t.TempDir(), "c.db")
	if _, _, _, _, err := populate(t.Context(), db, 300); err != nil {
		t.Fatal(err)
	}
	if got, fk, err := integrity(t.Context(), db); err != nil || got != "ok" || fk != 0 {
		t.Fatalf("intact file: %q, %d fk rows, %v", got, fk, err)
	}
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	junk := bytes.Repeat([]byte{0xA5}, 600)
	for off := int64(4096 * 4); off+int64(len(junk)) < st.Size(); off += 4096 * 7 {
		if _, err := f.WriteAt(junk, off+100); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if got, _, err := integrity(t.Context(), db); err == nil && got == "ok" {
		t.Fatal("integrity_check says ok on a damaged file")
	} else {
		t.Logf("damaged file: %q, %v", got[:min(len(got), 120)], err)
	}
}
