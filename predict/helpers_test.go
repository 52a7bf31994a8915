package predict

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/mlmodel"
)

// doubler is a model with a column signature (id long, x double) that
// predicts y = 2x. A negative x is bad input; jitter makes batches finish
// out of order; block, when set, holds every call until the context ends.
type doubler struct {
	calls  atomic.Int64
	rows   atomic.Int64
	jitter time.Duration
	block  bool
	// badAt fails the whole call with a runtime (not data) error when a
	// row has this x.
	badAt *float64
}

func (d *doubler) Predict(ctx context.Context, in columnar.Batch, _ map[string]any) (columnar.Batch, error) {
	d.calls.Add(1)
	d.rows.Add(in.NumRows())
	if d.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if d.jitter > 0 {
		time.Sleep(time.Duration(rand.Int64N(int64(d.jitter))))
	}
	idx := in.Schema().FieldIndices("x")
	if len(idx) == 0 {
		return nil, flavors.BadInput("no column x")
	}
	x := in.Column(idx[0]).(*array.Float64)
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	defer b.Release()
	for i := 0; i < x.Len(); i++ {
		v := x.Value(i)
		if d.badAt != nil && v == *d.badAt {
			return nil, fmt.Errorf("the runtime failed")
		}
		if v < 0 {
			return nil, flavors.BadInput("x must not be negative, got %g", v)
		}
		b.Append(2 * v)
	}
	col := b.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "y", Type: arrow.PrimitiveTypes.Float64}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{col}, int64(col.Len())), nil
}

func doublerModel(t *testing.T) *mlmodel.Model {
	t.Helper()
	in, err := mlmodel.ParseSchema([]byte(`[{"name": "id", "type": "long", "required": true}, {"name": "x", "type": "double", "required": true}]`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := mlmodel.ParseSchema([]byte(`[{"name": "y", "type": "double", "required": true}]`))
	if err != nil {
		t.Fatal(err)
	}
	return &mlmodel.Model{Signature: &mlmodel.Signature{Inputs: in, Outputs: out}}
}

// table is n rows of (id, x) with x = id/4 (so predictions are id/2).
func table(t testing.TB, from, n int) columnar.Batch {
	t.Helper()
	ids := array.NewInt64Builder(memory.DefaultAllocator)
	xs := array.NewFloat64Builder(memory.DefaultAllocator)
	for i := from; i < from+n; i++ {
		ids.Append(int64(i))
		xs.Append(float64(i) / 4)
	}
	a, b := ids.NewArray(), xs.NewArray()
	defer a.Release()
	defer b.Release()
	ids.Release()
	xs.Release()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{a, b}, int64(n))
}

// writeParquet writes batches as one Parquet file with a row group per
// rowGroup rows.
func writeParquet(t *testing.T, path string, rowGroup int64, batches ...columnar.Batch) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(batches[0].Schema(), f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(rowGroup)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeArrow(t testing.TB, path string, asFile bool, batches ...columnar.Batch) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w interface {
		Write(arrow.RecordBatch) error
		Close() error
	}
	if asFile {
		if w, err = ipc.NewFileWriter(f, ipc.WithSchema(batches[0].Schema())); err != nil {
			t.Fatal(err)
		}
	} else {
		w = ipc.NewWriter(f, ipc.WithSchema(batches[0].Schema()))
	}
	for _, b := range batches {
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// readParquet reads a whole Parquet file back as one batch.
func readParquet(t *testing.T, path string) columnar.Batch {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 20}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	return tableBatch(t, tbl)
}

func tableBatch(t *testing.T, tbl arrow.Table) columnar.Batch {
	t.Helper()
	cols := make([]arrow.Array, tbl.NumCols())
	for i := range cols {
		c, err := array.Concatenate(tbl.Column(i).Data().Chunks(), memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
		cols[i] = c
	}
	return array.NewRecordBatch(tbl.Schema(), cols, tbl.NumRows())
}

// readArrow reads an Arrow IPC stream or file back as one batch.
func readArrow(t *testing.T, path string) columnar.Batch {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []arrow.RecordBatch
	if fr, err := ipc.NewFileReader(f); err == nil {
		defer fr.Close()
		for i := 0; i < fr.NumRecords(); i++ {
			r, err := fr.RecordBatch(i)
			if err != nil {
				t.Fatal(err)
			}
			r.Retain()
			recs = append(recs, r)
		}
	} else {
		if _, err := f.Seek(0, 0); err != nil {
			t.Fatal(err)
		}
		sr, err := ipc.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		defer sr.Release()
		for sr.Next() {
			r := sr.RecordBatch()
			r.Retain()
			recs = append(recs, r)
		}
		if sr.Err() != nil {
			t.Fatal(sr.Err())
		}
	}
	if len(recs) == 0 {
		t.Fatalf("%s holds no record batch", path)
	}
	b, err := columnar.Concat(memory.DefaultAllocator, recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Release()
	}
	return b
}

// run scores with the doubler unless p is given, failing the test on error.
func run(t *testing.T, p flavors.Predictor, m *mlmodel.Model, o Options) Summary {
	t.Helper()
	s, err := tryRun(t, p, m, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tryRun(t *testing.T, p flavors.Predictor, m *mlmodel.Model, o Options) (Summary, error) {
	t.Helper()
	if o.BatchRows == 0 {
		o.BatchRows = 1000
	}
	if o.Parallelism == 0 {
		o.Parallelism = 2
	}
	o.Quiet = true
	return Run(context.Background(), p, m, o)
}

func int64s(t *testing.T, b columnar.Batch, name string) []int64 {
	t.Helper()
	idx := b.Schema().FieldIndices(name)
	if len(idx) == 0 {
		t.Fatalf("no column %q in %s", name, b.Schema())
	}
	c, ok := b.Column(idx[0]).(*array.Int64)
	if !ok {
		t.Fatalf("column %q is %s, want int64", name, b.Column(idx[0]).DataType())
	}
	return c.Int64Values()
}

func float64s(t *testing.T, b columnar.Batch, name string) []float64 {
	t.Helper()
	idx := b.Schema().FieldIndices(name)
	if len(idx) == 0 {
		t.Fatalf("no column %q in %s", name, b.Schema())
	}
	c, ok := b.Column(idx[0]).(*array.Float64)
	if !ok {
		t.Fatalf("column %q is %s, want float64", name, b.Column(idx[0]).DataType())
	}
	out := make([]float64, c.Len())
	for i := range out {
		if c.IsNull(i) {
			out[i] = -1 // marks a null in comparisons
			continue
		}
		out[i] = c.Value(i)
	}
	return out
}

// noTemps fails when a directory holds an unfinished output.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if filepath.Ext(e.Name()) != "" && e.Name()[0] == '.' {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}
