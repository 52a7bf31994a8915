package onnx_test

// The predictor's life: loading errors, cancellation, concurrent use and
// closing.

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

// A model directory whose MLmodel names a missing file, or no file, fails
// to load with an error that says which.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flavor mlmodel.FlavorConfig
		want   []string
		is     error
	}{
		{"missing data file", mlmodel.FlavorConfig{"data": "model.onnx"}, []string{"model.onnx"}, os.ErrNotExist},
		{"no data key", mlmodel.FlavorConfig{"onnx_version": "1.12.0"}, []string{`"data"`}, nil},
		{"data outside the model", mlmodel.FlavorConfig{"data": "../model.onnx"}, []string{"leaves the model directory"}, nil},
		{"bad session option", mlmodel.FlavorConfig{"data": "model.onnx", "onnx_session_options": map[string]any{"execution_mode": "bogus"}}, []string{"execution_mode"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			desc := &mlmodel.Model{Flavors: map[string]mlmodel.FlavorConfig{"onnx": tc.flavor}}
			if err := desc.WriteFile(dir); err != nil {
				t.Fatal(err)
			}
			m, err := mlmodel.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			_, err = onnx.Flavor{}.Load(context.Background(), m, loadOptions(t))
			if err == nil {
				t.Fatal("load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
	t.Run("not an onnx model", func(t *testing.T) {
		m := &mlmodel.Model{Dir: t.TempDir(), Flavors: map[string]mlmodel.FlavorConfig{"sklearn": {}}}
		if _, err := (onnx.Flavor{}).Load(context.Background(), m, loadOptions(t)); err == nil || !strings.Contains(err.Error(), `"onnx"`) {
			t.Fatalf("err = %v; want one naming the missing onnx flavor", err)
		}
	})
	t.Run("corrupt model file", func(t *testing.T) {
		dir := testenv.CopyDir(t, testModelDir("linear"))
		if err := os.WriteFile(filepath.Join(dir, "model.onnx"), []byte("not a protobuf"), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := mlmodel.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (onnx.Flavor{}).Load(context.Background(), m, loadOptions(t)); err == nil || !strings.Contains(err.Error(), "model.onnx") {
			t.Fatalf("err = %v; want one naming the model file", err)
		}
	})
}

// slowInput is an [n, n] matrix for the slow_chain model (forty chained
// MatMuls): long enough to cancel in the middle of a run.
func slowInput(t *testing.T, n int) arrow.RecordBatch {
	data := make([]float32, n*n)
	for i := range data {
		data[i] = float32(i%7) / float32(n)
	}
	f, col := float32Column(t, "x", []int64{int64(n), int64(n)}, data)
	return newBatch(t, []arrow.Field{f}, []arrow.Array{col})
}

// A cancelled context ends a prediction with an error wrapping
// context.Canceled: before the run starts, and during one (through ONNX
// Runtime's RunOptions.Terminate, well before the run would have ended).
func TestCancellation(t *testing.T) {
	p := loadDir(t, testModelDir("slow_chain"))
	in := slowInput(t, 512)

	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := p.Predict(ctx, in, nil)
		if !errors.Is(err, context.Canceled) || flavors.IsInputError(err) {
			t.Fatalf("err = %v; want context.Canceled, not an input error", err)
		}
	})
	t.Run("during", func(t *testing.T) {
		start := time.Now()
		out := predict(t, p, in)
		full := time.Since(start)
		if out.NumRows() != 512 {
			t.Fatalf("%d rows", out.NumRows())
		}
		ctx, cancel := context.WithTimeout(context.Background(), full/10)
		defer cancel()
		start = time.Now()
		_, err := p.Predict(ctx, in, nil)
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) || flavors.IsInputError(err) {
			t.Fatalf("err = %v; want context.DeadlineExceeded, not an input error", err)
		}
		t.Logf("full run %v, cancelled after %v, returned after %v", full, full/10, took)
		if took > full*3/4 {
			t.Errorf("the cancelled run took %v of a %v run: it was not stopped", took, full)
		}
		// The session still works after a terminated run.
		if _, err := p.Predict(context.Background(), in, nil); err != nil {
			t.Fatalf("predict after a cancelled run: %v", err)
		}
	})
}

// Close frees the session; Predict afterwards reports flavors.ErrClosed,
// and closing twice is harmless.
func TestCloseThenPredict(t *testing.T) {
	m, err := mlmodel.Load(testModelDir("linear"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := onnx.Flavor{}.Load(context.Background(), m, loadOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	c := caseNamed(t, "linear", "batch1")
	in := c.inputBatch(t)
	checkOutputs(t, predict(t, p, in), c)
	closer, ok := p.(io.Closer)
	if !ok {
		t.Fatal("the predictor is not an io.Closer")
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Predict(context.Background(), in, nil); !errors.Is(err, flavors.ErrClosed) {
		t.Fatalf("err = %v; want flavors.ErrClosed", err)
	}
	if err := closer.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// One session serves concurrent predictions: eight goroutines get the
// expected answers, identical to the bit.
func TestConcurrentPredict(t *testing.T) {
	p := loadDir(t, testModelDir("linear"))
	c := caseNamed(t, "linear", "batch64")
	in := c.inputBatch(t)
	ref := predict(t, p, in)
	checkOutputs(t, ref, c)

	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				out, err := p.Predict(context.Background(), in, nil)
				if err != nil {
					errs <- err
					return
				}
				same := array.RecordEqual(out, ref)
				out.Release()
				if !same {
					errs <- errors.New("a concurrent prediction differs from the reference")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Close waits for predictions in flight and makes later ones fail cleanly,
// never crash on a freed session.
func TestCloseDuringPredict(t *testing.T) {
	m, err := mlmodel.Load(testModelDir("slow_chain"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := onnx.Flavor{}.Load(context.Background(), m, loadOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	in := slowInput(t, 128)
	var wg sync.WaitGroup
	results := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				out, err := p.Predict(context.Background(), in, nil)
				if err != nil {
					results <- err
					return
				}
				out.Release()
			}
			results <- nil
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := p.(io.Closer).Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil && !errors.Is(err, flavors.ErrClosed) {
			t.Errorf("a prediction racing Close failed with %v; want success or ErrClosed", err)
		}
	}
}
