package pyfunc_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/flavortest"
	"github.com/mlship/mlship/flavors/pyfunc"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

func options(t testing.TB, workers int) flavors.LoadOptions {
	t.Helper()
	py := testenv.Python(t)
	return flavors.LoadOptions{
		CacheDir: t.TempDir(),
		Python:   flavors.PythonOptions{Interpreter: py, Workers: workers, StartTimeout: time.Minute},
	}
}

func load(t *testing.T, dir string, opts flavors.LoadOptions) (*mlmodel.Model, flavors.Predictor) {
	t.Helper()
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pyfunc.Flavor{}.Load(context.Background(), m, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.(interface{ Close() error }).Close() })
	return m, p
}

// irisBatch is a DataFrame request of the example rows, typed as the
// signature types them (doubles), marked as a DataFrame.
func irisBatch(rows [][]float64, names []string) columnar.Batch {
	fields := make([]arrow.Field, len(names))
	cols := make([]arrow.Array, len(names))
	for j, n := range names {
		b := array.NewFloat64Builder(memory.DefaultAllocator)
		for _, r := range rows {
			b.Append(r[j])
		}
		fields[j] = arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float64, Nullable: true}
		cols[j] = b.NewArray()
	}
	md := arrow.NewMetadata([]string{"mlship.form"}, []string{"dataframe"})
	return array.NewRecordBatch(arrow.NewSchema(fields, &md), cols, int64(len(rows)))
}

type irisExpected struct {
	Columns     []string    `json:"columns"`
	Data        [][]float64 `json:"data"`
	Predictions []int64     `json:"predict"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestSklearnExample: the sklearn example answers what scikit-learn itself
// answers (expected.json, written by the script that trained it).
func TestSklearnExample(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "examples", "sklearn-iris")
	var exp irisExpected
	readJSON(t, filepath.Join(dir, "expected.json"), &exp)
	if len(exp.Predictions) == 0 {
		t.Fatal("expected.json has no predictions")
	}
	_, p := load(t, filepath.Join(dir, "model"), options(t, 2))
	in := irisBatch(exp.Data, exp.Columns)
	defer in.Release()
	out, err := p.Predict(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if v, _ := out.Schema().Metadata().GetValue("mlship.output"); v != "list" {
		t.Errorf("an ndarray result must answer as a list, got %q", v)
	}
	got := out.Column(0).(*array.Int64).Int64Values()
	for i, want := range exp.Predictions {
		if got[i] != want {
			t.Errorf("row %d: %d, want %d", i, got[i], want)
		}
	}
	if err := p.(flavors.HealthChecker).Check(context.Background()); err != nil {
		t.Errorf("healthy pool reports %v", err)
	}
}

// TestConformance runs the flavor suite on the sklearn example.
func TestConformance(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "examples", "sklearn-iris", "model")
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	input, err := flavortest.InputFromSchema(m.Signature.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	flavortest.Run(t, flavortest.Case{
		Flavor:    pyfunc.Flavor{},
		Model:     m,
		Options:   options(t, 2),
		Input:     input,
		BatchSafe: true,
		BadInputs: []flavortest.BadInput{flavortest.WrongType("sepal length (cm)")},
	})
}

// TestWorkerKilledUnderLoad: kill -9 of a worker while requests run: every
// answer is right or a clean ErrUnavailable, and the pool recovers.
func TestWorkerKilledUnderLoad(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "examples", "sklearn-iris")
	var exp irisExpected
	readJSON(t, filepath.Join(dir, "expected.json"), &exp)
	_, p := load(t, filepath.Join(dir, "model"), options(t, 2))
	pids := workerPIDs(t, 2)

	var wrong, unavailable, ok atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				in := irisBatch(exp.Data, exp.Columns)
				out, err := p.Predict(context.Background(), in, nil)
				in.Release()
				switch {
				case errors.Is(err, flavors.ErrUnavailable):
					unavailable.Add(1)
				case err != nil:
					t.Errorf("unexpected error: %v", err)
					wrong.Add(1)
				default:
					got := out.Column(0).(*array.Int64).Int64Values()
					for i, w := range exp.Predictions {
						if got[i] != w {
							wrong.Add(1)
						}
					}
					out.Release()
					ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// Recovery: both workers alive again within 2 s.
	recovered := false
	for time.Since(killed) < 2*time.Second {
		if n := len(workerPIDs(t, 0)); n == 2 && p.(flavors.HealthChecker).Check(context.Background()) == nil {
			recovered = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if !recovered {
		t.Errorf("no recovery within 2 s of the kill")
	}
	if wrong.Load() != 0 {
		t.Errorf("%d wrong answers", wrong.Load())
	}
	if ok.Load() == 0 {
		t.Error("no request succeeded")
	}
	t.Logf("%d answers, %d unavailable", ok.Load(), unavailable.Load())
}

// workerPIDs lists the live python worker processes that are children of
// this test process, waiting for want of them when want > 0.
func workerPIDs(t *testing.T, want int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pids []int
		entries, _ := os.ReadDir("/proc")
		me := os.Getpid()
		for _, e := range entries {
			stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			// stat: pid (comm) state ppid ...
			s := string(stat)
			rest := s[strings.LastIndexByte(s, ')')+2:]
			f := strings.Fields(rest)
			if len(f) > 1 && f[1] == itoa(me) && f[0] != "Z" && strings.Contains(string(cmd), "mlship_worker") {
				var pid int
				for _, c := range e.Name() {
					pid = pid*10 + int(c-'0')
				}
				pids = append(pids, pid)
			}
		}
		if want == 0 || len(pids) >= want || time.Now().After(deadline) {
			return pids
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestRealMLflowModels: the model directories MLflow releases wrote.
func TestRealMLflowModels(t *testing.T) {
	shared := filepath.Join(testenv.SharedTestdata(t), "mlflow")
	t.Run("sklearn_iris_handmade", func(t *testing.T) {
		m, p := load(t, filepath.Join(shared, "sklearn_iris_handmade"), options(t, 1))
		var ex struct {
			Columns []string    `json:"columns"`
			Data    [][]float64 `json:"data"`
		}
		readJSON(t, filepath.Join(m.Dir, "input_example.json"), &ex)
		in := irisBatch(ex.Data, ex.Columns)
		defer in.Release()
		out, err := p.Predict(context.Background(), in, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Release()
		got := out.Column(0).(*array.Int64).Int64Values()
		if len(got) != 3 || got[0] != 0 || got[2] != 2 {
			t.Errorf("predictions %v", got)
		}
	})
	// Saved by scikit-learn 1.5.2 (Debian has 1.2.1) and Python 3.9: when
	// they do not load, the error must say why, never crash.
	for _, name := range []string{"mlflow_1x_sklearn_model", "pyfunc_python_model_2.7.1", "pyfunc_python_model_2.8.1"} {
		t.Run(name, func(t *testing.T) {
			m, err := mlmodel.Load(filepath.Join(shared, name))
			if err != nil {
				t.Fatal(err)
			}
			p, err := pyfunc.Flavor{}.Load(context.Background(), m, options(t, 1))
			if err == nil {
				p.(interface{ Close() error }).Close()
				t.Logf("%s loads with this Python", name)
				return
			}
			var le *pyfunc.LoadError
			if !errors.As(err, &le) || !strings.Contains(le.Message, "unpickl") {
				t.Errorf("unclear load error: %v", err)
			}
			t.Logf("load error (expected here): %v", le.Message)
		})
	}
}

func TestMissingInterpreter(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "examples", "sklearn-iris", "model")
	m, _ := mlmodel.Load(dir)
	opts := options(t, 1)
	opts.Python.Interpreter = filepath.Join(t.TempDir(), "no-such-python3")
	_, err := pyfunc.Flavor{}.Load(context.Background(), m, opts)
	if err == nil || !strings.Contains(err.Error(), "no-such-python3") {
		t.Fatalf("missing interpreter: %v", err)
	}
}

func TestCorruptPickle(t *testing.T) {
	dir := testenv.CopyDir(t, filepath.Join(testenv.RepoRoot(t), "examples", "sklearn-iris", "model"))
	if err := os.WriteFile(filepath.Join(dir, "model.pkl"), []byte("\x80\x04garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, _ := mlmodel.Load(dir)
	_, err := pyfunc.Flavor{}.Load(context.Background(), m, options(t, 1))
	var le *pyfunc.LoadError
	if !errors.As(err, &le) || !strings.Contains(le.Message, "cannot unpickle") {
		t.Fatalf("corrupt pickle: %v", err)
	}
}

func killPID(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
