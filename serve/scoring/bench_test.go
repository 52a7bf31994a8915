package scoring_test

// Codec benchmarks: request bytes → record batch, and prediction batch →
// response bytes, with no HTTP and no model. The shapes are the ONNX iris
// example's (examples/iris-onnx/model): input float32 [-1, 4] in,
// probabilities float32 [-1, 3] and label int64 [-1] out.
//
//	go test -run '^$' -bench . -benchmem ./serve/scoring

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve/scoring"
)

var benchRows = []int{1, 64, 4096}

// irisRows cycles through the example's three rows.
var irisRows = [][4]string{
	{"5.1", "3.5", "1.4", "0.2"},
	{"7.0", "3.2", "4.7", "1.4"},
	{"6.3", "3.3", "6.0", "2.5"},
}

func joinRow(r [4]string) string { return strings.Join(r[:], ", ") }

// tensorBody is {"<key>": [[...], ...]} (inputs / instances).
func tensorBody(key string, n int) []byte {
	var b strings.Builder
	b.WriteString(`{"` + key + `": [`)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("[" + joinRow(irisRows[i%3]) + "]")
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// splitTensorBody is dataframe_split with one tensor-valued column named
// after the model's input, which a tensor signature requires.
func splitTensorBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"dataframe_split": {"columns": ["input"], "data": [`)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("[[" + joinRow(irisRows[i%3]) + "]]")
	}
	b.WriteString("]}}")
	return []byte(b.String())
}

// splitColumnsBody is dataframe_split with four scalar columns, for a
// column-based signature.
func splitColumnsBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "data": [`)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("[" + joinRow(irisRows[i%3]) + "]")
	}
	b.WriteString("]}}")
	return []byte(b.String())
}

func recordsBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"dataframe_records": [`)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`{"input": [` + joinRow(irisRows[i%3]) + "]}")
	}
	b.WriteString("]}")
	return []byte(b.String())
}

func csvBody(n int) []byte {
	var b strings.Builder
	b.WriteString("sepal_length,sepal_width,petal_length,petal_width\n")
	for i := range n {
		r := irisRows[i%3]
		b.WriteString(strings.Join(r[:], ",") + "\n")
	}
	return []byte(b.String())
}

// tensorSchema is the example model's signature.
func tensorSchema() *mlmodel.Schema {
	return &mlmodel.Schema{Tensors: []mlmodel.TensorSpec{{Name: "input", DType: "float32", Shape: []int64{-1, 4}}}}
}

// columnSchema types the same four features as DataFrame columns, as a
// model logged from a pandas DataFrame would.
func columnSchema() *mlmodel.Schema {
	s := &mlmodel.Schema{}
	for _, n := range []string{"sepal_length", "sepal_width", "petal_length", "petal_width"} {
		s.Columns = append(s.Columns, mlmodel.ColSpec{Name: n, Type: mlmodel.Type{Kind: mlmodel.Float}, Required: true})
	}
	return s
}

func BenchmarkDecodeJSON(b *testing.B) {
	cases := []struct {
		name   string
		schema *mlmodel.Schema
		body   func(int) []byte
	}{
		{"inputs", tensorSchema(), func(n int) []byte { return tensorBody("inputs", n) }},
		{"instances", tensorSchema(), func(n int) []byte { return tensorBody("instances", n) }},
		{"dataframe_split", tensorSchema(), splitTensorBody},
		{"dataframe_records", tensorSchema(), recordsBody},
		{"dataframe_split_columns", columnSchema(), splitColumnsBody},
		{"inputs_nosignature", nil, func(n int) []byte { return tensorBody("inputs", n) }},
	}
	for _, c := range cases {
		for _, n := range benchRows {
			b.Run(fmt.Sprintf("%s/rows=%d", c.name, n), func(b *testing.B) {
				d := &scoring.Decoder{Inputs: c.schema}
				body := c.body(n)
				checkDecode(b, d.DecodeJSON, body, n)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					req, err := d.DecodeJSON(body)
					if err != nil {
						b.Fatal(err)
					}
					req.Release()
				}
			})
		}
	}
}

func BenchmarkDecodeCSV(b *testing.B) {
	for _, n := range benchRows {
		b.Run("rows="+strconv.Itoa(n), func(b *testing.B) {
			d := &scoring.Decoder{Inputs: columnSchema()}
			body := csvBody(n)
			checkDecode(b, d.DecodeCSV, body, n)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req, err := d.DecodeCSV(body)
				if err != nil {
					b.Fatal(err)
				}
				req.Release()
			}
		})
	}
}

// checkDecode fails the benchmark unless body decodes to n rows.
func checkDecode(b *testing.B, decode func([]byte) (*scoring.Request, error), body []byte, n int) {
	b.Helper()
	req, err := decode(body)
	if err != nil {
		b.Fatalf("decoding %.80s: %v", body, err)
	}
	defer req.Release()
	if got := req.Batch.NumRows(); got != int64(n) {
		b.Fatalf("decoded %d rows, want %d", got, n)
	}
}

// irisOutput is the batch the ONNX flavor returns for n rows.
func irisOutput(b *testing.B, n int) columnar.Batch {
	b.Helper()
	mem := memory.DefaultAllocator
	pb := array.NewFloat32Builder(mem)
	defer pb.Release()
	lb := array.NewInt64Builder(mem)
	defer lb.Release()
	probs := [][3]float32{
		{0.981583297252655, 0.018416734412312508, 1.4506358780863593e-08},
		{0.0021266231779009104, 0.873935878276825, 0.1239374652504921},
		{9.052072869053518e-07, 0.0039128088392317295, 0.9960862398147583},
	}
	for i := range n {
		pb.AppendValues(probs[i%3][:], nil)
		lb.Append(int64(i % 3))
	}
	pv, lv := pb.NewArray(), lb.NewArray()
	defer pv.Release()
	defer lv.Release()
	pf, pc, err := columnar.NewTensorColumn("probabilities", []int64{int64(n), 3}, pv, true)
	if err != nil {
		b.Fatal(err)
	}
	lf, lc, err := columnar.NewTensorColumn("label", []int64{int64(n)}, lv, true)
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Release()
	defer lc.Release()
	return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{pf, lf}, nil), []arrow.Array{pc, lc}, int64(n))
}

func BenchmarkEncode(b *testing.B) {
	forms := []struct {
		name string
		form scoring.Form
	}{
		{"dict", scoring.FormTensor},       // inputs/instances to a tensor signature
		{"records", scoring.FormDataFrame}, // DataFrame requests
	}
	for _, f := range forms {
		for _, n := range benchRows {
			b.Run(fmt.Sprintf("%s/rows=%d", f.name, n), func(b *testing.B) {
				out := irisOutput(b, n)
				defer out.Release()
				buf, err := scoring.EncodePredictions(nil, out, f.form)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(buf)))
				b.ReportAllocs()
				for b.Loop() {
					// Reuse the buffer, as the server does with its pool.
					buf, err = scoring.EncodePredictions(buf[:0], out, f.form)
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
