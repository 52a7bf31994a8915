package pyfunc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/pyfunc"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

func xBatch(x float64) columnar.Batch {
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	b.Append(x)
	col := b.NewArray()
	md := arrow.NewMetadata([]string{"mlship.form"}, []string{"dataframe"})
	return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, &md), []arrow.Array{col}, 1)
}

// TestHangingPredict: a prediction past its deadline kills its worker; the
// pool replaces it and keeps answering.
func TestHangingPredict(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "flavors", "pyfunc", "testdata", "models", "pyfunc_slow")
	_, p := load(t, dir, options(t, 1))
	before := workerPIDs(t, 1)
	in := xBatch(3)
	defer in.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Predict(ctx, in, map[string]any{"sleep_seconds": 30.0})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hanging predict: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the timeout took %v", d)
	}
	// A new worker (another process) answers the next request.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := p.Predict(context.Background(), in, map[string]any{"sleep_seconds": 0.0})
		if err == nil {
			out.Release()
			break
		}
		if !errors.Is(err, flavors.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after the timeout: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := workerPIDs(t, 1)
	if len(after) != 1 || len(before) != 1 || after[0] == before[0] {
		t.Errorf("worker not replaced: before %v after %v", before, after)
	}
}

// TestCrashLoopMakesUnhealthy: when replacements keep failing to load, the
// pool reports not-ready with the reason instead of hiding it.
func TestCrashLoopMakesUnhealthy(t *testing.T) {
	dir := testenv.CopyDir(t, filepath.Join(testenv.RepoRoot(t), "examples", "sklearn-iris", "model"))
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pyfunc.Flavor{}.Load(context.Background(), m, options(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer p.(interface{ Close() error }).Close()
	// The model file goes bad on disk; then the worker dies.
	if err := os.WriteFile(filepath.Join(dir, "model.pkl"), []byte("broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	pids := workerPIDs(t, 1)
	if err := killPID(pids[0]); err != nil {
		t.Fatal(err)
	}
	hc := p.(flavors.HealthChecker)
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := hc.Check(context.Background())
		if err != nil && strings.Contains(err.Error(), "crash-looping") {
			if !strings.Contains(err.Error(), "cannot unpickle") {
				t.Errorf("the reason is missing: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no crash loop reported: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
