package pyfunc_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors/pyfunc"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

func frame(rows int) columnar.Batch {
	names := []string{"a", "b", "c", "d"}
	fields := make([]arrow.Field, 4)
	cols := make([]arrow.Array, 4)
	for j, n := range names {
		b := array.NewFloat64Builder(memory.DefaultAllocator)
		for i := 0; i < rows; i++ {
			b.Append(float64(i*4 + j))
		}
		fields[j] = arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float64}
		cols[j] = b.NewArray()
	}
	md := arrow.NewMetadata([]string{"mlship.form"}, []string{"dataframe"})
	return array.NewRecordBatch(arrow.NewSchema(fields, &md), cols, int64(rows))
}

// BenchmarkRoundTrip measures mlship ↔ Python worker transport with a
// model that returns its input: a DataFrame goes to the worker, pandas
// builds it, and the same columns come back.
func BenchmarkRoundTrip(b *testing.B) {
	m, err := mlmodel.Load(filepath.Join(testenv.RepoRoot(b), "flavors", "pyfunc", "testdata", "bench_identity"))
	if err != nil {
		b.Fatal(err)
	}
	opts := options(b, 1)
	p, err := pyfunc.Flavor{}.Load(context.Background(), m, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer p.(interface{ Close() error }).Close()
	for _, rows := range []int{1, 1000, 100000} {
		in := frame(rows)
		b.Run(itoa(rows)+"rows", func(b *testing.B) {
			b.SetBytes(int64(rows) * 4 * 8 * 2) // there and back
			took := make([]time.Duration, b.N)
			for i := 0; i < b.N; i++ {
				start := time.Now()
				out, err := p.Predict(context.Background(), in, nil)
				took[i] = time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if out.NumRows() != int64(rows) {
					b.Fatalf("rows %d", out.NumRows())
				}
				out.Release()
			}
			// The target is a median: report it beside the mean
			// (ns/op), which one slow scheduling of the worker skews.
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
		in.Release()
	}
}
