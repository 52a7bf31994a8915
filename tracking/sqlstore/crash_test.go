package sqlstore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// The crash test re-executes the test binary as a child that logs batches
// in a loop, acknowledging each on stdout after LogBatch returns; the
// parent SIGKILLs it mid-write.
const (
	crashChildEnv = "MLSHIP_SQLSTORE_CRASH_CHILD"
	crashDBEnv    = "MLSHIP_SQLSTORE_CRASH_DB"
	crashRunEnv   = "MLSHIP_SQLSTORE_CRASH_RUN"
	crashPerBatch = 100
)

func crashBatch(n int) ([]tracking.Metric, []tracking.Param) {
	ms := make([]tracking.Metric, crashPerBatch)
	for j := range ms {
		step := int64(n*crashPerBatch + j)
		ms[j] = tracking.Metric{Key: "m", Value: float64(step), Step: step, Timestamp: 1}
	}
	return ms, []tracking.Param{{Key: "batch-" + strconv.Itoa(n), Value: "v"}}
}

func crashChild() {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, "sqlite:///"+os.Getenv(crashDBEnv), sqlstore.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	run := os.Getenv(crashRunEnv)
	for n := 0; ; n++ {
		ms, ps := crashBatch(n)
		if err := s.LogBatch(ctx, run, ms, ps, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("ack %d\n", n) // os.Stdout is unbuffered
	}
}

func TestSQLiteSurvivesKill9(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "mlflow.db")
	s, err := sqlstore.Open(ctx, "sqlite:///"+db, sqlstore.Options{DefaultArtifactRoot: filepath.Join(dir, "mlruns")})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateRun(ctx, tracking.CreateRun{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	for round := 0; round < 3; round++ {
		lastAck := crashRound(t, db, r.Info.RunID, round)
		t.Logf("round %d: killed after %d acknowledged batches", round, lastAck+1)
		checkAfterCrash(t, db, r.Info.RunID, lastAck)
	}
}

// crashRound runs a child until it has acknowledged a few batches (more in
// each round), kills it with SIGKILL and returns the last batch number it
// acknowledged. Later rounds continue the earlier rounds' batches, which
// the params' immutability lets them re-log.
func crashRound(t *testing.T, db, run string, round int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashDBEnv+"="+db, crashRunEnv+"="+run)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := make(chan int, 1<<16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				v, _ := strconv.Atoi(n)
				acks <- v
			}
		}
		close(acks)
	}()
	last := -1
	want := 20 + 15*round
	deadline := time.After(60 * time.Second)
	for last < want {
		select {
		case n, ok := <-acks:
			if !ok {
				t.Fatalf("child exited early: %v\n%s", cmd.Wait(), stderr.String())
			}
			last = n
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("child acknowledged only %d batches in 60 s\n%s", last+1, stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for n := range acks { // acknowledgements written before the kill
		last = n
	}
	return last
}

func checkAfterCrash(t *testing.T, db, run string, lastAck int) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, "sqlite:///"+db, sqlstore.Options{})
	if err != nil {
		t.Fatalf("reopening after kill -9: %v", err)
	}
	defer s.Close()
	var integrity string
	if err := s.DB().QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check = %q, %v", integrity, err)
	}
	hist, _, err := s.MetricHistory(ctx, run, "m", tracking.Page{})
	if err != nil {
		t.Fatal(err)
	}
	// Every acknowledged batch is there, whole; at most the batch in
	// flight at the kill is there too (committed, not yet acknowledged).
	// The rounds re-log batches 0.. so steps repeat: count per step.
	perStep := map[int64]int{}
	for _, m := range hist {
		if m.Value != float64(m.Step) {
			t.Fatalf("corrupt value %+v", m)
		}
		perStep[m.Step]++
	}
	maxStep := int64(-1)
	for step := range perStep {
		maxStep = max(maxStep, step)
	}
	if maxStep < int64((lastAck+1)*crashPerBatch-1) {
		t.Fatalf("history ends at step %d, but batch %d (to step %d) was acknowledged", maxStep, lastAck, (lastAck+1)*crashPerBatch-1)
	}
	if (maxStep+1)%crashPerBatch != 0 {
		t.Fatalf("a partial batch survived: history ends at step %d", maxStep)
	}
	for step := int64(0); step <= maxStep; step++ {
		if perStep[step] == 0 {
			t.Fatalf("step %d of a committed batch is missing", step)
		}
		// Each round re-logs batches from 0: within one batch every step
		// was written the same number of times, or a batch was torn.
		if first := step - step%crashPerBatch; perStep[step] != perStep[first] {
			t.Fatalf("batch %d is torn: step %d written %d times, step %d %d times", step/crashPerBatch, first, perStep[first], step, perStep[step])
		}
	}
	got, err := s.GetRun(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]bool{}
	for _, p := range got.Data.Params {
		params[p.Key] = true
	}
	for n := 0; n <= lastAck; n++ {
		if !params["batch-"+strconv.Itoa(n)] {
			t.Fatalf("param of acknowledged batch %d is missing", n)
		}
	}
	if len(got.Data.Metrics) != 1 || got.Data.Metrics[0].Step != maxStep {
		t.Fatalf("latest metric %+v disagrees with history ending at step %d", got.Data.Metrics, maxStep)
	}
}
