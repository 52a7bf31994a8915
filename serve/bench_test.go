package serve_test

// BenchmarkInvocations runs POST /invocations through the real handler
// (echo router, body read, decode, ONNX predict, encode) on the ONNX iris
// example, in-process: no sockets and no net/http server. The harness reuses
// one request and a discarding ResponseWriter so that ns/op and allocs/op
// are the handler's own. The HTTP transport is measured end to end by
// bench/latency.
//
//	go test -run '^$' -bench . -benchmem ./serve

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve"
)

// benchIrisRows cycles through the example's three rows.
var benchIrisRows = []string{"5.1, 3.5, 1.4, 0.2", "7.0, 3.2, 4.7, 1.4", "6.3, 3.3, 6.0, 2.5"}

func benchTensorBody(key string, n int) string {
	rows := make([]string, n)
	for i := range rows {
		rows[i] = "[" + benchIrisRows[i%3] + "]"
	}
	return `{"` + key + `": [` + strings.Join(rows, ", ") + "]}"
}

// benchLoad loads the example with the onnx flavor (ONNX Runtime defaults,
// as `mlship serve` without --threads).
func benchLoad(b *testing.B) (*mlmodel.Model, flavors.Predictor) {
	b.Helper()
	getenv, cache := testenv.ONNXRuntime(b)
	m, err := mlmodel.Load(filepath.Join(testenv.RepoRoot(b), "examples", "iris-onnx", "model"))
	if err != nil {
		b.Fatal(err)
	}
	p, err := onnx.Flavor{}.Load(context.Background(), m, flavors.LoadOptions{Getenv: getenv, CacheDir: cache})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if c, ok := p.(interface{ Close() error }); ok {
			c.Close()
		}
	})
	return m, p
}

// benchColumnModel is the example with a column-based signature (four
// float columns), as a model logged from a pandas DataFrame has: the only
// way a CSV body (a table of scalars) reaches this model's [-1, 4] input.
func benchColumnModel(m *mlmodel.Model) *mlmodel.Model {
	c := *m
	in := &mlmodel.Schema{}
	for _, n := range []string{"sepal_length", "sepal_width", "petal_length", "petal_width"} {
		in.Columns = append(in.Columns, mlmodel.ColSpec{Name: n, Type: mlmodel.Type{Kind: mlmodel.Float}, Required: true})
	}
	c.Signature = &mlmodel.Signature{Inputs: in, Outputs: m.Signature.Outputs}
	return &c
}

// benchBody is a request body that can be rewound without allocating.
type benchBody struct{ bytes.Reader }

func (*benchBody) Close() error { return nil }

// discardWriter is a ResponseWriter that keeps only the status and size.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func BenchmarkInvocations(b *testing.B) {
	m, p := benchLoad(b)
	tensorSrv := serve.New(p, serve.Config{Model: m})
	columnSrv := serve.New(p, serve.Config{Model: benchColumnModel(m)})
	cases := []struct {
		name, ctype, body string
		srv               http.Handler
	}{
		{"inputs_1row", "application/json", benchTensorBody("inputs", 1), tensorSrv},
		{"inputs_64rows", "application/json", benchTensorBody("inputs", 64), tensorSrv},
		{"dataframe_split_1row", "application/json", `{"dataframe_split": {"columns": ["input"], "data": [[[5.1, 3.5, 1.4, 0.2]]]}}`, tensorSrv},
		{"instances_1row", "application/json", benchTensorBody("instances", 1), tensorSrv},
		{"csv_1row", "text/csv", "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n", columnSrv},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			// Check the answer once through httptest's recorder.
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/invocations", strings.NewReader(c.body))
			req.Header.Set("Content-Type", c.ctype)
			c.srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), `{"predictions": `) {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			want := rec.Body.Len()

			body := &benchBody{}
			req = httptest.NewRequest(http.MethodPost, "/invocations", nil)
			req.Header.Set("Content-Type", c.ctype)
			req.ContentLength = int64(len(c.body))
			req.Body = body
			w := &discardWriter{h: http.Header{}}
			raw := []byte(c.body)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(raw)
				w.status, w.n = 0, 0
				c.srv.ServeHTTP(w, req)
				if w.status != http.StatusOK || w.n != want {
					b.Fatalf("status %d, %d bytes; want 200, %d bytes", w.status, w.n, want)
				}
			}
		})
	}
}
