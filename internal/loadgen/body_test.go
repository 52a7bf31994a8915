package loadgen_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/loadgen"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve/scoring"
	"github.com/mlship/mlship/serve/v2"
)

// describe renders a decoded batch as "name:type[shape]=v1,v2; ...", so a
// body can be checked by what the server's own decoders make of it.
func describe(t *testing.T, b columnar.Batch) string {
	t.Helper()
	var parts []string
	for i, f := range b.Schema().Fields() {
		tv, err := columnar.TensorOf(f, b.Column(i))
		if err != nil {
			t.Fatalf("column %q: %v", f.Name, err)
		}
		vals := make([]string, tv.Values.Len())
		for k := range vals {
			vals[k] = tv.Values.ValueStr(k)
			if s, ok := tv.Values.(*array.String); ok {
				vals[k] = fmt.Sprintf("%q", s.Value(k))
			}
		}
		parts = append(parts, fmt.Sprintf("%s:%s%v=%s", f.Name, tv.Values.DataType(), tv.Shape, strings.Join(vals, ",")))
		tv.Values.Release()
	}
	return strings.Join(parts, "; ")
}

// decode runs body through the decoder the server uses for protocol p.
func decode(t *testing.T, schema *mlmodel.Schema, p loadgen.Protocol, ctype string, body []byte) string {
	t.Helper()
	var batch columnar.Batch
	if p == loadgen.V2 {
		if ctype != "application/json" {
			t.Fatalf("V2 Content-Type %q", ctype)
		}
		req, err := (&v2.Decoder{Model: "m", Inputs: v2.Metas(schema)}).Decode(body, -1)
		if err != nil {
			t.Fatalf("V2 decoder rejects the body: %v\n%s", err, body)
		}
		defer req.Release()
		batch = req.Batch
	} else {
		dec := &scoring.Decoder{Inputs: schema}
		var req *scoring.Request
		var err error
		switch ctype {
		case "application/json":
			req, err = dec.DecodeJSON(body)
		case "text/csv":
			req, err = dec.DecodeCSV(body)
		case loadgen.ArrowStreamType:
			req, err = dec.DecodeArrow(body)
		default:
			t.Fatalf("%s: unexpected Content-Type %q", p, ctype)
		}
		if err != nil {
			t.Fatalf("%s decoder rejects the body: %v\n%s", p, err, body)
		}
		defer req.Release()
		batch = req.Batch
	}
	return describe(t, batch)
}

func schema(t *testing.T, js string) *mlmodel.Schema {
	t.Helper()
	s, err := mlmodel.ParseSchema([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBodiesDecodeAsTheServerDecodesThem(t *testing.T) {
	iris, err := mlmodel.Load(filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model"))
	if err != nil {
		t.Fatal(err)
	}
	irisExample, err := iris.InputExample()
	if err != nil {
		t.Fatal(err)
	}
	// The iris example has three rows; five rows cycle back to the first.
	irisFive := "input:float32[5 4]=5.1,3.5,1.4,0.2,7,3.2,4.7,1.4,6.3,3.3,6,2.5,5.1,3.5,1.4,0.2,7,3.2,4.7,1.4"
	columns := schema(t, `[{"type": "double", "name": "a", "required": true}, {"type": "long", "name": "b", "required": true},
		{"type": "string", "name": "c", "required": true}, {"type": "boolean", "name": "d", "required": true}]`)
	split := []byte(`{"columns": ["d", "c", "b", "a"], "data": [[true, "x,y", 7, 0.5], [false, "z", -2, 1.0]]}`)
	records := []byte(`[{"a": 0.5, "b": 7, "c": "x,y", "d": true}, {"a": 1.0, "b": -2, "c": "z", "d": false}]`)
	colsWant := `a:float64[3]=0.5,1,0.5; b:int64[3]=7,-2,7; c:utf8[3]="x,y","z","x,y"; d:bool[3]=true,false,true`
	unnamed := schema(t, `[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}]`)

	for _, tc := range []struct {
		name    string
		schema  *mlmodel.Schema
		example []byte
		rows    int
		want    map[loadgen.Protocol]string // "" in want: the protocol must refuse
		source  string
	}{
		{"iris tensor signature", iris.Signature.Inputs, irisExample, 5, map[loadgen.Protocol]string{
			loadgen.MLflowJSON: irisFive, loadgen.V2: irisFive, loadgen.Arrow: irisFive, loadgen.CSV: "",
		}, "input example"},
		{"columns, split example", columns, split, 3, map[loadgen.Protocol]string{
			loadgen.MLflowJSON: colsWant, loadgen.CSV: colsWant, loadgen.Arrow: colsWant,
			// V2 carries each column as a [rows] tensor of its datatype.
			loadgen.V2: colsWant,
		}, "input example"},
		{"columns, records example", columns, records, 3, map[loadgen.Protocol]string{loadgen.MLflowJSON: colsWant}, "input example"},
		{"unnamed tensor", unnamed, []byte(`[[1.5, 2, 3], [4, 5, 6.25]]`), 2, map[loadgen.Protocol]string{
			// JSON names nothing; V2 uses mlship's name for an unnamed input.
			loadgen.MLflowJSON: ":float64[2 3]=1.5,2,3,4,5,6.25",
			loadgen.V2:         "input-0:float64[2 3]=1.5,2,3,4,5,6.25",
			// CSV spreads each row over columns, which the flavor stacks back
			// (DataFrame.to_numpy()); Arrow sends the tensor column whole.
			loadgen.CSV:   "0:float64[2]=1.5,4; 1:float64[2]=2,5; 2:float64[2]=3,6.25",
			loadgen.Arrow: "0:float64[2 3]=1.5,2,3,4,5,6.25",
		}, "input example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadgen.NewSample(tc.schema, tc.example, tc.rows)
			if err != nil {
				t.Fatal(err)
			}
			if s.Source != tc.source {
				t.Errorf("Source = %q, want %q", s.Source, tc.source)
			}
			for p, want := range tc.want {
				ctype, body, err := s.Body(p)
				if want == "" {
					if err == nil {
						t.Errorf("%s: body built, want a refusal:\n%s", p, body)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				got := decode(t, tc.schema, p, ctype, body)
				if got != want {
					t.Errorf("%s body decodes to\n  %s\nwant\n  %s\nbody: %s", p, got, want, body)
				}
			}
		})
	}
}

// TestBodyText pins the exact bytes of small bodies: the forms MLflow's
// own clients send.
func TestBodyText(t *testing.T) {
	tensors := schema(t, `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}, "name": "x"},
		{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}, "name": "k"}]`)
	s, err := loadgen.NewSample(tensors, []byte(`{"x": [[0.1, 2], [3, 4.5]], "k": [7, 8]}`), 2)
	if err != nil {
		t.Fatal(err)
	}
	unnamed := schema(t, `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]`)
	u, err := loadgen.NewSample(unnamed, []byte(`[[1, 2]]`), 2)
	if err != nil {
		t.Fatal(err)
	}
	cols := schema(t, `[{"type": "double", "name": "a"}, {"type": "string", "name": "b"}]`)
	c, err := loadgen.NewSample(cols, []byte(`{"columns": ["a", "b"], "data": [[1, "q\"uote"]]}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s     *loadgen.Sample
		p     loadgen.Protocol
		ctype string
		want  string
	}{
		{s, loadgen.MLflowJSON, "application/json", `{"inputs": {"x": [[0.1, 2], [3, 4.5]], "k": [7, 8]}}`},
		{s, loadgen.V2, "application/json", `{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [0.1, 2, 3, 4.5]}, {"name": "k", "datatype": "INT64", "shape": [2], "data": [7, 8]}]}`},
		{s, loadgen.CSV, "", ""}, // a [-1, 2] named tensor has no CSV form
		{u, loadgen.MLflowJSON, "application/json", `{"inputs": [[1, 2], [1, 2]]}`},
		{u, loadgen.CSV, "text/csv", "0,1\n1,2\n1,2\n"},
		{c, loadgen.MLflowJSON, "application/json", `{"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, "q\"uote"]]}}`},
		{c, loadgen.CSV, "text/csv", "a,b\n1.0,\"q\"\"uote\"\n"},
	} {
		ctype, body, err := tc.s.Body(tc.p)
		if tc.want == "" {
			if err == nil || !strings.Contains(err.Error(), "text/csv cannot carry input \"x\"") {
				t.Errorf("%s: err = %v, want a refusal naming the input", tc.p, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.p, err)
		}
		if ctype != tc.ctype || string(body) != tc.want {
			t.Errorf("%s: %s %s\nwant %s %s", tc.p, ctype, body, tc.ctype, tc.want)
		}
	}
	if got := loadgen.V2.Path("iris"); got != "/v2/models/iris/infer" {
		t.Errorf("V2 path %q", got)
	}
	if got := loadgen.Arrow.Path("iris"); got != "/invocations" {
		t.Errorf("Arrow path %q", got)
	}
}

// TestMadeUpValues: without a usable example the sample still fits the
// signature (inner -1 dimensions become 1), says why, and is the same on
// every run so runs are comparable.
func TestMadeUpValues(t *testing.T) {
	sch := schema(t, `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3, -1]}, "name": "img"},
		{"type": "tensor", "tensor-spec": {"dtype": "bool", "shape": [-1]}, "name": "flag"}]`)
	for _, tc := range []struct {
		name    string
		example []byte
		why     string
	}{
		{"no example", nil, "made up (no input example)"},
		{"wrong width", []byte(`{"img": [[[1], [2]]], "flag": [true]}`), `made up (input example not usable: input "img": rows of shape [2 1] do not fit the signature's [3 -1])`},
		{"not JSON", []byte(`{`), "made up (input example not usable: unexpected EOF)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadgen.NewSample(sch, tc.example, 4)
			if err != nil {
				t.Fatal(err)
			}
			if s.Source != tc.why {
				t.Errorf("Source = %q, want %q", s.Source, tc.why)
			}
			_, body, err := s.Body(loadgen.V2)
			if err != nil {
				t.Fatal(err)
			}
			got := decode(t, sch, loadgen.V2, "application/json", body)
			if !strings.HasPrefix(got, "img:float32[4 3 1]=") || !strings.Contains(got, "; flag:bool[4]=false,true,false,true") {
				t.Errorf("decoded %s", got)
			}
			again, _ := loadgen.NewSample(sch, tc.example, 4)
			_, body2, _ := again.Body(loadgen.V2)
			if string(body) != string(body2) {
				t.Errorf("made-up values differ between runs:\n%s\n%s", body, body2)
			}
		})
	}
}

func TestNewSampleRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, schema, want string
	}{
		{"fixed batch", `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [1, 4]}, "name": "x"}]`, "no variable first dimension"},
		{"float16", `[{"type": "tensor", "tensor-spec": {"dtype": "float16", "shape": [-1]}, "name": "x"}]`, "dtype float16 is not supported"},
		{"binary column", `[{"type": "binary", "name": "b"}]`, "type binary is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadgen.NewSample(schema(t, tc.schema), nil, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := loadgen.NewSample(nil, nil, 1); err == nil {
		t.Error("no schema: no error")
	}
}
