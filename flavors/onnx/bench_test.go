package onnx_test

// BenchmarkPredict measures the flavor (Arrow batch in, Arrow batch out);
// BenchmarkRawORT measures onnxruntime_go alone on the same model with the
// same (default) session options and pre-built tensors: the limit the
// flavor can approach. The difference is the flavor's overhead.
//
//	go test -run '^$' -bench . -benchmem ./flavors/onnx

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

var benchRows = []int{1, 64}

// benchIrisModel returns the example model's descriptor and its ONNX file.
func benchIrisModel(b *testing.B) (*mlmodel.Model, string) {
	b.Helper()
	dir := filepath.Join(testenv.RepoRoot(b), "examples", "iris-onnx", "model")
	m, err := mlmodel.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	return m, filepath.Join(dir, "model.onnx")
}

// benchLoadPredictor loads the example with the onnx flavor, which also
// initialises ONNX Runtime for the raw benchmarks. Threads is 0, as
// `mlship serve` runs without --threads: ONNX Runtime's defaults.
func benchLoadPredictor(b *testing.B) flavors.Predictor {
	b.Helper()
	getenv, cache := testenv.ONNXRuntime(b)
	m, _ := benchIrisModel(b)
	p, err := onnx.Flavor{}.Load(context.Background(), m, flavors.LoadOptions{Getenv: getenv, CacheDir: cache})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if c, ok := p.(interface{ Close() error }); ok {
			c.Close()
		}
	})
	return p
}

// benchFeatures is n rows of the example's inputs, row-major.
func benchFeatures(n int) []float32 {
	rows := [][4]float32{{5.1, 3.5, 1.4, 0.2}, {7.0, 3.2, 4.7, 1.4}, {6.3, 3.3, 6.0, 2.5}}
	out := make([]float32, 0, 4*n)
	for i := range n {
		out = append(out, rows[i%3][:]...)
	}
	return out
}

// benchInputBatch is what the scoring decoder hands the predictor for an
// {"inputs": [[...], ...]} request: one batched float32 [n, 4] column.
func benchInputBatch(b *testing.B, n int) columnar.Batch {
	b.Helper()
	fb := array.NewFloat32Builder(memory.DefaultAllocator)
	defer fb.Release()
	fb.AppendValues(benchFeatures(n), nil)
	vals := fb.NewArray()
	defer vals.Release()
	f, col, err := columnar.NewTensorColumn("input", []int64{int64(n), 4}, vals, true)
	if err != nil {
		b.Fatal(err)
	}
	defer col.Release()
	return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{f}, nil), []arrow.Array{col}, int64(n))
}

func BenchmarkPredict(b *testing.B) {
	p := benchLoadPredictor(b)
	for _, n := range benchRows {
		in := benchInputBatch(b, n)
		b.Cleanup(in.Release)
		// The server calls Predict with a deadline (its request timeout),
		// which makes the flavor arm RunOptions.Terminate; background is
		// the bare path.
		for _, cc := range []struct {
			name string
			ctx  func() (context.Context, context.CancelFunc)
		}{
			{"ctx=background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
			{"ctx=deadline", func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), time.Minute)
			}},
		} {
			b.Run("rows="+strconv.Itoa(n)+"/"+cc.name, func(b *testing.B) {
				benchPredictOnce(b, p, in, n, context.Background())
				b.ReportAllocs()
				for b.Loop() {
					ctx, cancel := cc.ctx()
					out, err := p.Predict(ctx, in, nil)
					cancel()
					if err != nil {
						b.Fatal(err)
					}
					out.Release()
				}
			})
		}
	}
}

// benchPredictOnce checks the predictor answers n rows with the expected label.
func benchPredictOnce(b *testing.B, p flavors.Predictor, in columnar.Batch, n int, ctx context.Context) {
	b.Helper()
	out, err := p.Predict(ctx, in, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Release()
	if out.NumRows() != int64(n) || out.NumCols() != 2 {
		b.Fatalf("got %d rows × %d columns, want %d × 2", out.NumRows(), out.NumCols(), n)
	}
}

func BenchmarkRawORT(b *testing.B) {
	benchLoadPredictor(b) // initialises the ONNX Runtime environment
	_, path := benchIrisModel(b)
	opts, err := ort.NewSessionOptions() // defaults, as the flavor without --threads
	if err != nil {
		b.Fatal(err)
	}
	defer opts.Destroy()
	sess, err := ort.NewDynamicAdvancedSession(path, []string{"input"}, []string{"probabilities", "label"}, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Destroy()
	for _, n := range benchRows {
		in, err := ort.NewTensor(ort.NewShape(int64(n), 4), benchFeatures(n))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { in.Destroy() })
		// outputs=prebuilt: the absolute limit, nothing allocated per call.
		b.Run("rows="+strconv.Itoa(n)+"/outputs=prebuilt", func(b *testing.B) {
			probs, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), 3))
			if err != nil {
				b.Fatal(err)
			}
			defer probs.Destroy()
			label, err := ort.NewEmptyTensor[int64](ort.NewShape(int64(n)))
			if err != nil {
				b.Fatal(err)
			}
			defer label.Destroy()
			ins, outs := []ort.Value{in}, []ort.Value{probs, label}
			if err := sess.Run(ins, outs); err != nil {
				b.Fatal(err)
			}
			if label.GetData()[0] != 0 {
				b.Fatalf("label of row 0 is %d, want 0", label.GetData()[0])
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := sess.Run(ins, outs); err != nil {
					b.Fatal(err)
				}
			}
		})
		// outputs=ort: ONNX Runtime allocates the outputs, as the flavor
		// lets it (output shapes are not known before the run).
		b.Run("rows="+strconv.Itoa(n)+"/outputs=ort", func(b *testing.B) {
			ins := []ort.Value{in}
			b.ReportAllocs()
			for b.Loop() {
				outs := []ort.Value{nil, nil}
				if err := sess.Run(ins, outs); err != nil {
					b.Fatal(err)
				}
				outs[0].Destroy()
				outs[1].Destroy()
			}
		})
	}
}
