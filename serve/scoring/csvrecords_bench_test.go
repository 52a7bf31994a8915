package scoring_test

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve/scoring"
)

// BenchmarkDecodeCSVRecordsDoubles: a chunk of `mlship predict`'s CSV
// input for the sklearn example (4 double columns, values as
// bench/predictgen writes them: uniform in [0, 8), shortest round-trip
// digits), decoded by a worker. ns/cell is the figure docs/performance.md
// quotes.
func BenchmarkDecodeCSVRecordsDoubles(b *testing.B) {
	const rows = 10000
	header := []string{"a", "b", "c", "d"}
	rng := rand.New(rand.NewPCG(1, 1))
	records := make([][]string, rows)
	for i := range records {
		rec := make([]string, len(header))
		for j := range rec {
			rec[j] = strconv.FormatFloat(rng.Float64()*8, 'g', -1, 64)
		}
		records[i] = rec
	}
	in := &mlmodel.Schema{}
	for _, n := range header {
		in.Columns = append(in.Columns, mlmodel.ColSpec{Name: n, Type: mlmodel.Type{Kind: mlmodel.Double}, Required: true})
	}
	d := &scoring.Decoder{Inputs: in}
	b.ReportAllocs()
	for b.Loop() {
		req, err := d.DecodeCSVRecords(header, records)
		if err != nil {
			b.Fatal(err)
		}
		if req.Batch.NumRows() != rows {
			b.Fatalf("%d rows", req.Batch.NumRows())
		}
		req.Release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(rows*4), "ns/cell")
}
