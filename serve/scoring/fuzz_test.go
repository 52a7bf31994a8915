package scoring_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/internal/jsonscan"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve/scoring"
)

// The signatures every fuzz input is decoded against: each one takes a
// different path through the decoder (inference, tensor stacking and
// reshaping, typed and composite columns, params enforcement).
const (
	fuzzTensorSchema = `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}, "name": "input"}]`
	fuzzTensorsAB    = `[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}, "name": "a"}, {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}, "name": "b"}]`
	fuzzTensorAnon   = `[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2]}}]`
	fuzzColumnsAnon  = `[{"type": "double", "required": true}, {"type": "string", "required": true}]`
	fuzzColumnOne    = `[{"type": "long", "name": "x", "required": true}]`
	// Only "d" is required so that most inputs get past enforcement and
	// reach the typed columns.
	fuzzColumnSchema = `[{"type": "double", "name": "d", "required": true}, {"type": "long", "name": "l", "required": false}, ` +
		`{"type": "string", "name": "s", "required": false}, {"type": "boolean", "name": "b", "required": false}, ` +
		`{"type": "binary", "name": "bin", "required": false}, {"type": "datetime", "name": "dt", "required": false}, ` +
		`{"type": "array", "items": {"type": "string"}, "name": "tags", "required": false}]`
	fuzzParamSchema = `[{"name": "n", "type": "long", "default": 1, "shape": null}, {"name": "i", "type": "integer", "default": 2, "shape": null}, ` +
		`{"name": "x", "type": "double", "default": 0.5, "shape": null}, {"name": "f", "type": "float", "default": 1.5, "shape": null}, ` +
		`{"name": "s", "type": "string", "default": "a", "shape": null}, {"name": "b", "type": "boolean", "default": true, "shape": null}, ` +
		`{"name": "t", "type": "datetime", "default": "2024-01-01T00:00:00", "shape": null}, {"name": "ns", "type": "long", "default": [1, 2], "shape": [-1]}, ` +
		`{"name": "o", "type": "object", "properties": {"k": {"type": "long", "required": true}, "v": {"type": "string", "required": false}}, "default": {"k": 1}, "shape": null}]`
)

type fuzzDecoder struct {
	name   string
	inputs *mlmodel.Schema
	params *mlmodel.ParamSchema
}

func fuzzDecoders(f *testing.F) []fuzzDecoder {
	f.Helper()
	parse := func(js string) *mlmodel.Schema {
		s, err := mlmodel.ParseSchema([]byte(js))
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	ps, err := mlmodel.ParseParamSchema([]byte(fuzzParamSchema))
	if err != nil {
		f.Fatal(err)
	}
	return []fuzzDecoder{
		{name: "no signature"},
		{name: "tensor float32 [-1, 4]", inputs: parse(fuzzTensorSchema)},
		{name: "columns", inputs: parse(fuzzColumnSchema)},
		{name: "params", params: ps},
		{name: "tensors a int64 [-1], b float32 [-1, 2]", inputs: parse(fuzzTensorsAB)},
		{name: "unnamed tensor float64 [-1, 2]", inputs: parse(fuzzTensorAnon)},
		{name: "unnamed columns double, string", inputs: parse(fuzzColumnsAnon)},
		{name: "one column long", inputs: parse(fuzzColumnOne)},
	}
}

var fuzzJSONSeeds = []string{
	`{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 1.5], [2, 2]]}}`,
	`{"dataframe_split": {"data": [[1, "x"], [2, "y"]], "index": [7, 8]}}`,
	`{"dataframe_split": {"columns": ["a"], "data": [[null], [2], [NaN], [Infinity], [-Infinity]]}}`,
	`{"dataframe_split": {"columns": ["v", "o"], "data": [[[1, 2], {"k": 1}], [[3, 4], null]]}}`,
	`{"dataframe_split": {"columns": ["a"], "data": [1, 2]}}`,
	`{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2, 3]]}}`,
	`{"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}`,
	`{"dataframe_split": {"columns": [1, 2], "data": [[[], []]]}}`,
	`{"dataframe_split": {"columns": ["input"], "data": [[[1, 2, 3, 4]], [[5, 6, 7, 8]]]}}`,
	`{"dataframe_split": {"columns": ["input"], "data": [[[[1, 2, 3, 4], [5, 6, 7, 8]]]]}}`,
	`{"dataframe_split": {"columns": ["input"], "data": [[[]]]}}`,
	`{"dataframe_split": {"columns": ["d", "l", "s", "b", "bin", "dt", "tags"], "data": [[1.5, 2, "x", true, "aGk=", "2024-01-01T10:00:00", ["a", "b"]], [null, 3, null, false, null, null, null]]}}`,
	`{"dataframe_split": {"columns": ["d", "l"], "data": [[1, 1.5]]}}`,
	`{"dataframe_split": {"columns": ["d", "bin"], "data": [[1, "not base64!"]]}}`,
	`{"dataframe_split": {"columns": ["d", "dt"], "data": [[1, "2024-01-01T10:00:00+02:00"]]}}`,
	`{"dataframe_split": {"columns": ["d", "tags"], "data": [[1, [1, 2]]]}}`,
	`{"dataframe_records": [{"a": 1, "b": "x"}, {"b": "y", "c": true}]}`,
	`{"dataframe_records": [{"d": 1, "l": 2, "tags": ["x"]}, {"d": 2.5}]}`,
	`{"dataframe_records": [{"a": 1, "a": 2}]}`,
	`{"dataframe_records": [{"input": [1, 2, 3, 4]}, {"input": [5, 6, 7, 8]}]}`,
	`{"dataframe_records": [1]}`,
	`{"instances": [{"a": 1, "b": [1, 2]}, {"a": 2, "b": [3, 4]}]}`,
	`{"instances": [{"a": 1, "b": 2}, {"a": 2}]}`,
	`{"instances": [[1, 2, 3, 4], [5, 6, 7, 8]]}`,
	`{"inputs": [[1, 2, 3, 4], [5, 6, 7, 8]]}`,
	`{"inputs": {"input": [[1, 2, 3, 4]], "other": [1]}}`,
	`{"inputs": {"x": [1, 2], "y": [[1.5, 2], [3, 4]]}}`,
	`{"inputs": {"x": [1, 2, 3], "y": [4, 5]}}`,
	`{"inputs": {"x": [[], []], "y": [[[]]]}}`,
	`{"inputs": {"d": [1, 2], "s": ["a", "b"], "tags": [["x"], ["y"]]}}`,
	`{"inputs": {"d": 1, "tags": ["x", "y"]}}`,
	`{"inputs": [[1.5, 2], [3, 4]]}`,
	`{"inputs": 5}`, `{"inputs": ["a", "é\u00e9\ud83d\ude00"]}`, `{"inputs": []}`, `{"inputs": [[]]}`,
	`{"inputs": [[1, 2], [3]]}`, `{"inputs": [[1, 2], 3]}`, `{"inputs": [{"a": 1}]}`,
	`{"inputs": [123456789012345678901234567890]}`, `{"inputs": [-9223372036854775809]}`,
	`{"inputs": [true, null]}`, `{"inputs": [null, 1]}`, `{"inputs": [1, "a"]}`,
	`{"inputs": [1], "params": {"n": 5, "i": 3000000000, "x": 1, "f": 1e300, "s": "z", "b": false, "t": "2024-02-30", "ns": [1, 2.5], "o": {"k": 1, "v": "x", "z": 1}, "zz": 1}}`,
	`{"inputs": [1], "params": {"n": 1.0, "o": {"v": "x"}, "ns": 3}}`,
	`{"inputs": [1], "params": null}`, `{"inputs": [1], "params": [1]}`, `{"inputs": [1], "params": {"n": [1]}}`,
	`{"inputs": [1], "instances": [1]}`, `{"inputs": [1], "signature_name": "x"}`,
	`{"messages": [{"role": "user", "content": "hi"}]}`, `{"data": [1]}`,
	// Errors after some columns or tensors were built: they must be freed.
	`{"inputs": {"x": [1, 2], "y": [[1], [2, 3]]}}`, `{"inputs": {"a": [1, 2], "b": [[1, 2, 3]]}}`,
	`{"inputs": {"a": [1, 2], "b": [[1, 2], [3]]}}`, `{"inputs": {"d": [1, 2], "d": [3]}}`,
	`{"dataframe_records": [{"d": 1, "l": 2, "s": "x", "tags": ["y"]}, {"d": 2, "l": 2.5}]}`,
	`{"dataframe_split": {"columns": ["input", "x"], "data": [[[1, 2, 3, 4], 1], [[1, 2, 3, 4, 5, 6, 7, 8], 2]]}}`,
	`{"dataframe_split": {"columns": ["a", "b"], "data": [[[1, 2], [1, 2, 3, 4]], [[3, 4], [5, 6, 7, 8]]]}}`,
	`{"inputs": [1,}`, `{"inputs": [1`, `{"inputs": [1]} x`, ``, `[{"a": 1}]`, `"x"`, `{"inputs": "\xff"}`,
}

// FuzzDecodeJSON decodes arbitrary bodies with every fuzz decoder; see
// checkDecoded for what must hold.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range fuzzJSONSeeds {
		f.Add([]byte(s))
	}
	decs := fuzzDecoders(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, dc := range decs {
			checkDecoded(t, dc, body, (*scoring.Decoder).DecodeJSON)
		}
	})
}

// FuzzDecodeCSV is FuzzDecodeJSON for text/csv bodies.
func FuzzDecodeCSV(f *testing.F) {
	for _, s := range []string{
		"a,b,c,d\n1,1.5,x,True\n2,,y,False\n",
		"a,s\nNA,N/A\n3,hello\n",
		"a\n.5\n5.\n-1e3\n007\ninf\n-Infinity\n+1\n",
		"s\n\"a,b\"\n\"he said \"\"hi\"\"\"\n\"multi\nline\"\n",
		"d,l,s,b,bin,dt,tags\n1.5,2,x,True,aGk=,2024-01-01 10:00,\n,3,,FALSE,,,\n",
		"d,l\n1,1.5\n", "d,bin\n1,!!\n", "d,dt\n1,yesterday\n", "d,tags\n1,[\"a\"]\n",
		"input\n1\n2\n", "a,a\n1,2\n", "a,b\n1,2,3\n", "a,b\n1\n", "a\n", "", "\n", "a\n\"x\n",
		"a\r\n1\r\n", "\ufeffa\n1\n", "\xff\n1\n", "a\n\x00\n", "a\n\"\"\n",
	} {
		f.Add([]byte(s))
	}
	decs := fuzzDecoders(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, dc := range decs {
			checkDecoded(t, dc, body, (*scoring.Decoder).DecodeCSV)
		}
	})
}

// checkDecoded decodes body with a fresh checked allocator and checks:
//   - failures are MLflow errors with a client-error code, and free all
//     they allocated (error paths are where leaks hide);
//   - a decoded batch is well-formed Arrow that matches the signature;
//   - it does not alias the request body (the server reuses buffers);
//   - it can be encoded as a response (as if it were the model output),
//     producing JSON Python's json.loads reads;
//   - Release frees every byte.
func checkDecoded(t *testing.T, dc fuzzDecoder, body []byte, decode func(*scoring.Decoder, []byte) (*scoring.Request, error)) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	d := &scoring.Decoder{Inputs: dc.inputs, Params: dc.params, Mem: mem}
	buf := slices.Clone(body)
	req, err := decode(d, buf)
	if err != nil {
		if req != nil {
			t.Errorf("%s: both a request and the error %v", dc.name, err)
		}
		if n := mem.CurrentAlloc(); n != 0 {
			mem.AssertSize(t, 0)
			t.Fatalf("%s: %d bytes still allocated after the error %v", dc.name, n, err)
		}
		ae, ok := apierr.As(err)
		if !ok {
			t.Fatalf("%s: error %v (%T) is not an *apierr.Error", dc.name, err, err)
		}
		if ae.Code != apierr.BadRequest && ae.Code != apierr.InvalidParameterValue {
			t.Fatalf("%s: error code %s (%s), want BAD_REQUEST or INVALID_PARAMETER_VALUE", dc.name, ae.Code, ae.Message)
		}
		return
	}
	if req == nil || req.Batch == nil {
		t.Fatalf("%s: no error and no batch", dc.name)
	}
	checkBatch(t, dc, req)

	// Responses encode the batch after the body's buffer has gone back
	// to the pool: scribbling over it must not change them.
	outs := encodeBoth(t, dc, req.Batch)
	params := fmt.Sprintf("%#v", req.Params)
	for i := range buf {
		buf[i] = '#'
	}
	if again := encodeBoth(t, dc, req.Batch); again != outs {
		t.Errorf("%s: the batch aliases the request body: after overwriting it the response changed from\n%s\nto\n%s", dc.name, outs, again)
	}
	if again := fmt.Sprintf("%#v", req.Params); again != params {
		t.Errorf("%s: params alias the request body: %s became %s", dc.name, params, again)
	}

	req.Release()
	if n := mem.CurrentAlloc(); n != 0 {
		mem.AssertSize(t, 0)
		t.Fatalf("%s: %d bytes still allocated after Request.Release", dc.name, n)
	}
}

// checkBatch checks the decoded batch's structure against the decoder's
// signature.
func checkBatch(t *testing.T, dc fuzzDecoder, req *scoring.Request) {
	b := req.Batch
	fields := b.Schema().Fields()
	for i, col := range b.Columns() {
		// NewRecordBatch only refuses columns shorter than the batch.
		if int64(col.Len()) != b.NumRows() {
			t.Fatalf("%s: column %q has %d rows, the batch %d", dc.name, fields[i].Name, col.Len(), b.NumRows())
		}
		if err := array.ValidateFull(col); err != nil {
			t.Fatalf("%s: column %q is not valid Arrow: %v", dc.name, fields[i].Name, err)
		}
	}
	in := dc.inputs
	switch {
	case in.IsTensorBased():
		// The tensor signature decides what the model sees: tensors of
		// its dtypes that fit its shapes.
		if req.Form != scoring.FormTensor {
			t.Errorf("%s: form %s, want tensor", dc.name, req.Form)
		}
		checkTensors(t, dc, b)
	case in != nil:
		// A column signature decides: its columns only, in its order,
		// with the Arrow type of their MLflow type.
		if req.Form != scoring.FormDataFrame {
			t.Errorf("%s: form %s, want dataframe", dc.name, req.Form)
		}
		if !in.HasNames() {
			// Unnamed columns bind by position: exactly the declared
			// number, typed in order.
			if len(fields) != len(in.Columns) {
				t.Fatalf("%s: %d columns for %d unnamed specs", dc.name, len(fields), len(in.Columns))
			}
			for i, f := range fields {
				if want := fuzzArrowType[in.Columns[i].Type.Kind]; f.Type.ID() != want {
					t.Fatalf("%s: column %d is %s, want %s for %s", dc.name, i, f.Type, want, in.Columns[i].Type.Kind)
				}
			}
			break
		}
		names := in.Names()
		last := -1
		for _, f := range fields {
			i := slices.Index(names, f.Name)
			if i <= last {
				t.Fatalf("%s: columns %v are not a subset of %v in signature order", dc.name, fieldNames(fields), names)
			}
			last = i
			if want := fuzzArrowType[in.Columns[i].Type.Kind]; f.Type.ID() != want {
				t.Fatalf("%s: column %q is %s, want %s for %s", dc.name, f.Name, f.Type, want, in.Columns[i].Type.Kind)
			}
		}
	}
	if req.Params != nil {
		// With a params schema every declared param is present (given or
		// its default) and nothing else; without one params are ignored.
		if dc.params == nil {
			t.Fatalf("%s: params %v without a params schema", dc.name, req.Params)
		}
		for _, p := range dc.params.Params {
			if _, ok := req.Params[p.Name]; !ok {
				t.Errorf("%s: param %q missing from %v", dc.name, p.Name, req.Params)
			}
		}
		if len(req.Params) != len(dc.params.Params) {
			t.Errorf("%s: params %v, want exactly the declared ones", dc.name, req.Params)
		}
	}
}

// checkTensors checks a batch decoded for a tensor signature. Named specs
// are all required: the batch has exactly them, in signature order. An
// unnamed spec takes either one tensor column or several 1-D columns that
// the model stacks side by side (DataFrame.to_numpy()), so the stacked
// shape must fit the spec.
func checkTensors(t *testing.T, dc fuzzDecoder, b columnar.Batch) {
	in := dc.inputs
	fields := b.Schema().Fields()
	shapes := make([][]int64, len(fields))
	for i, f := range fields {
		tn, err := columnar.TensorOf(f, b.Column(i))
		if err != nil {
			t.Fatalf("%s: column %q is not a tensor: %v", dc.name, f.Name, err)
		}
		id := tn.Values.DataType().ID()
		tn.Values.Release()
		spec := in.Tensors[0]
		if in.HasNames() {
			if i >= len(in.Tensors) || in.Tensors[i].Name != f.Name {
				t.Fatalf("%s: columns %v, want %v", dc.name, fieldNames(fields), in.Names())
			}
			spec = in.Tensors[i]
		}
		if want := fuzzDTypeArrow[spec.DType]; id != want {
			t.Fatalf("%s: column %q holds %s, want %s for %s", dc.name, f.Name, id, want, spec.DType)
		}
		shapes[i] = tn.Shape
	}
	if in.HasNames() {
		if len(fields) != len(in.Tensors) {
			t.Fatalf("%s: columns %v, want %v", dc.name, fieldNames(fields), in.Names())
		}
		for i, sh := range shapes {
			if !fitsShape(sh, in.Tensors[i].Shape) {
				t.Fatalf("%s: input %q has shape %v, the signature declares %v", dc.name, fields[i].Name, sh, in.Tensors[i].Shape)
			}
		}
		return
	}
	spec := in.Tensors[0].Shape
	stacked := []int64{b.NumRows(), int64(len(fields))}
	if len(fields) == 1 && !(len(shapes[0]) == 1 && len(spec) == 2) {
		stacked = shapes[0] // one tensor column (a 1-D column fits a 1-D spec as is)
	}
	for _, sh := range shapes {
		if len(fields) > 1 && len(sh) != 1 {
			t.Fatalf("%s: columns of shapes %v cannot be stacked into one tensor", dc.name, shapes)
		}
	}
	if !fitsShape(stacked, spec) {
		t.Fatalf("%s: columns %v of shapes %v make a tensor of shape %v, the signature declares %v", dc.name, fieldNames(fields), shapes, stacked, spec)
	}
}

// fitsShape is MLflow's TensorSpec rule: the same rank, and every fixed
// dimension equal.
func fitsShape(shape, spec []int64) bool {
	if len(shape) != len(spec) {
		return false
	}
	for i, d := range spec {
		if d != -1 && d != shape[i] {
			return false
		}
	}
	return true
}

var fuzzDTypeArrow = map[string]arrow.Type{"float32": arrow.FLOAT32, "float64": arrow.FLOAT64, "int64": arrow.INT64}

var fuzzArrowType = map[mlmodel.Kind]arrow.Type{
	mlmodel.Double: arrow.FLOAT64, mlmodel.Long: arrow.INT64, mlmodel.String: arrow.STRING,
	mlmodel.Boolean: arrow.BOOL, mlmodel.Binary: arrow.BINARY, mlmodel.Datetime: arrow.TIMESTAMP,
	mlmodel.Array: arrow.STRING, // JSON text cells
}

func fieldNames(fields []arrow.Field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Name
	}
	return out
}

// encodeBoth encodes b as a response in both forms. Encoding may refuse a
// batch (outputs of different lengths), but what it writes must be JSON
// that Python's json.loads reads (NaN and Infinity included), which
// jsonscan checks.
func encodeBoth(t *testing.T, dc fuzzDecoder, b columnar.Batch) string {
	var all string
	for _, form := range []scoring.Form{scoring.FormDataFrame, scoring.FormTensor} {
		out, err := scoring.EncodePredictions(nil, b, form)
		if err != nil {
			all += "error: " + err.Error() + "\n"
			continue
		}
		s := jsonscan.New(out)
		if _, err := s.Skip(); err != nil || s.End() != nil {
			t.Fatalf("%s: EncodePredictions (%s) wrote invalid JSON %q: %v", dc.name, form, out, err)
		}
		all += string(out) + "\n"
	}
	return all
}
