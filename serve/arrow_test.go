package serve_test

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/serve"
)

// arrowBody is an Arrow IPC stream of the iris rows as the tensor column
// "input" (float32, 4 per row), split over two record batches.
func arrowBody(t *testing.T, rows [][]float64) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w *ipc.Writer
	for _, part := range [][][]float64{rows[:1], rows[1:]} {
		b := array.NewFloat32Builder(memory.DefaultAllocator)
		for _, r := range part {
			for _, v := range r {
				b.Append(float32(v))
			}
		}
		vals := b.NewArray()
		f, col, err := columnar.NewTensorColumn("input", []int64{int64(len(part)), 4}, vals, true)
		if err != nil {
			t.Fatal(err)
		}
		rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{f}, nil), []arrow.Array{col}, int64(len(part)))
		if w == nil {
			w = ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
		}
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	return buf.Bytes()
}

// TestArrowIPC: /invocations takes an Arrow IPC stream and, when asked in
// Accept, answers with one.
func TestArrowIPC(t *testing.T) {
	url := startONNX(t, filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model"))
	exp := loadExpected(t)
	body := arrowBody(t, exp.Input)

	req, _ := http.NewRequest("POST", url+"/invocations", bytes.NewReader(body))
	req.Header.Set("Content-Type", serve.ArrowStreamType)
	req.Header.Set("Accept", serve.ArrowStreamType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != serve.ArrowStreamType {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	r, err := ipc.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if !r.Next() {
		t.Fatalf("no record batch in the answer: %v", r.Err())
	}
	out := r.RecordBatch()
	pi := out.Schema().FieldIndices("probabilities")
	li := out.Schema().FieldIndices("label")
	if len(pi) != 1 || len(li) != 1 || out.NumRows() != int64(len(exp.Input)) {
		t.Fatalf("answer schema %s, %d rows", out.Schema(), out.NumRows())
	}
	pt, err := columnar.TensorOf(out.Schema().Field(pi[0]), out.Column(pi[0]))
	if err != nil {
		t.Fatal(err)
	}
	probs := pt.Values.(*array.Float32).Float32Values()
	labels := out.Column(li[0]).(*array.Int64).Int64Values()
	var p2 [][]float64
	for i := range exp.Input {
		row := make([]float64, 3)
		for j := range row {
			row[j] = float64(probs[i*3+j])
		}
		p2 = append(p2, row)
	}
	checkIris(t, exp, p2, labels)

	// Without Accept the answer is MLflow's JSON.
	status, got := postBytes(t, url, serve.ArrowStreamType, body)
	if status != 200 || !strings.Contains(got, `"label": [0, 1, 2]`) {
		t.Errorf("JSON answer to Arrow input: %d %s", status, got)
	}
	// A broken stream is a 400, not a crash.
	status, got = postBytes(t, url, serve.ArrowStreamType, body[:len(body)/2])
	if status != 400 || !strings.Contains(got, "Invalid Arrow IPC stream") {
		t.Errorf("truncated stream: %d %s", status, got)
	}
	status, got = postBytes(t, url, serve.ArrowStreamType, []byte("not arrow"))
	if status != 400 {
		t.Errorf("garbage: %d %s", status, got)
	}
}

func postBytes(t *testing.T, url, ctype string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url+"/invocations", ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
