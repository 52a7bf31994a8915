package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkLogBatch logs batches of 1000 metrics over HTTP into a real
// SQLite store and reports metrics per second (one client, sequential).
//
//	go test ./tracking/server -run '^$' -bench LogBatch -benchtime 5s
func BenchmarkLogBatch(b *testing.B) {
	t := &testing.T{}
	e := newEnv(t, nil)
	e.t = t
	id := str(e.ok(e.post("/api/2.0/mlflow/runs/create", `{}`), "<any>"), "run", "info", "run_id")
	var body strings.Builder
	client := &http.Client{}
	b.ResetTimer()
	for i := range b.N {
		body.Reset()
		body.WriteString(`{"run_id": "` + id + `", "metrics": [`)
		for j := range 1000 {
			if j > 0 {
				body.WriteString(", ")
			}
			fmt.Fprintf(&body, `{"key": "m%d", "value": %d.5, "timestamp": %d, "step": %d}`, j%10, j, 1700000000000+i, i*100+j/10)
		}
		body.WriteString("]}")
		resp, err := client.Post(e.url+"/api/2.0/mlflow/runs/log-batch", "application/json", bytes.NewBufferString(body.String()))
		if err != nil {
			b.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%d %s", resp.StatusCode, msg)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "metrics/s")
}
