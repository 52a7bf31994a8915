package mlruns_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking/mlruns"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// writeTree writes an mlruns tree of one experiment with runs runs, each
// with metrics metrics of steps values, 10 params and 8 tags.
func writeTree(tb testing.TB, dir string, runs, metrics, steps int) {
	tb.Helper()
	w := func(p, s string) {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	const exp = "424242424242424242"
	w(exp+"/meta.yaml", "artifact_location: file:///nowhere/"+exp+"\ncreation_time: 1\nexperiment_id: '"+exp+"'\nlast_update_time: 1\nlifecycle_stage: active\nname: bench\n")
	var b strings.Builder
	for r := range runs {
		id := fmt.Sprintf("%032x", r+1)
		w(exp+"/"+id+"/meta.yaml", fmt.Sprintf("artifact_uri: file:///nowhere/%s/%s/artifacts\nend_time: 2\nexperiment_id: '%s'\nlifecycle_stage: active\nrun_id: %s\nrun_name: r%d\nrun_uuid: %s\nstart_time: 1\nstatus: 3\ntags: []\nuser_id: u\n", exp, id, exp, id, r, id))
		for p := range 10 {
			w(fmt.Sprintf("%s/%s/params/p%d", exp, id, p), fmt.Sprint(p))
		}
		for t := range 8 {
			w(fmt.Sprintf("%s/%s/tags/t%d", exp, id, t), fmt.Sprint(t))
		}
		for m := range metrics {
			b.Reset()
			for s := range steps {
				fmt.Fprintf(&b, "%d %g %d\n", 1700000000000+int64(s), float64(s)/3, s)
			}
			w(fmt.Sprintf("%s/%s/metrics/m%d", exp, id, m), b.String())
		}
	}
}

// BenchmarkImport imports 20 runs × 5 metrics × 1,000 steps (100,000
// metric values) into SQLite per iteration.
func BenchmarkImport(b *testing.B) {
	tree := filepath.Join(b.TempDir(), "mlruns")
	const runs, metrics, steps = 20, 5, 1000
	writeTree(b, tree, runs, metrics, steps)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s, err := sqlstore.Open(b.Context(), "sqlite:///"+filepath.Join(b.TempDir(), fmt.Sprintf("bench%d.db", i)), sqlstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		rep, err := mlruns.Import(b.Context(), s, tree, mlruns.Options{})
		s.Close()
		if err != nil || rep.Runs != runs || rep.MetricValues != runs*metrics*steps {
			b.Fatalf("%+v %v", rep, err)
		}
	}
	b.ReportMetric(float64(runs*metrics*steps)*float64(b.N)/b.Elapsed().Seconds(), "values/s")
}
