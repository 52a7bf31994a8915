package v2

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
)

func describe(t *testing.T, b columnar.Batch) string {
	t.Helper()
	var parts []string
	for i, f := range b.Schema().Fields() {
		tv, err := columnar.TensorOf(f, b.Column(i))
		if err != nil {
			t.Fatal(err)
		}
		vals := make([]string, tv.Values.Len())
		for j := range vals {
			vals[j] = tv.Values.ValueStr(j)
		}
		u := ""
		if columnar.IsUnbatched(f) {
			u = "!"
		}
		parts = append(parts, f.Name+":"+tv.Values.DataType().String()+u+strings.ReplaceAll(strings.Trim(strings.Join(strings.Fields(strings.Trim(jsonOf(tv.Shape), "[]")), ""), " "), ",", "x")+"="+strings.Join(vals, ","))
		tv.Values.Release()
	}
	return strings.Join(parts, "; ")
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name, body, want, err string
	}{
		{name: "fp32 nested", body: `{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4.5]]}]}`,
			want: "x:float322x2=1,2,3,4.5"},
		{name: "flat data", body: `{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "INT64", "data": [1, 2, 3, 4]}]}`,
			want: "x:int642x2=1,2,3,4"},
		{name: "every datatype", body: `{"inputs": [
			{"name": "b", "shape": [2], "datatype": "BOOL", "data": [true, false]},
			{"name": "u8", "shape": [2], "datatype": "UINT8", "data": [0, 255]},
			{"name": "u16", "shape": [2], "datatype": "UINT16", "data": [1, 65535]},
			{"name": "u32", "shape": [2], "datatype": "UINT32", "data": [1, 4294967295]},
			{"name": "u64", "shape": [2], "datatype": "UINT64", "data": [1, 2]},
			{"name": "i8", "shape": [2], "datatype": "INT8", "data": [-128, 127]},
			{"name": "i16", "shape": [2], "datatype": "INT16", "data": [-1, 1]},
			{"name": "i32", "shape": [2], "datatype": "INT32", "data": [-1, 1]},
			{"name": "f16", "shape": [2], "datatype": "FP16", "data": [0.5, 1]},
			{"name": "f64", "shape": [2], "datatype": "FP64", "data": [0.1, 2]},
			{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["a", "é"]}]}`,
			want: "b:bool2=true,false; u8:uint82=0,255; u16:uint162=1,65535; u32:uint322=1,4294967295; u64:uint642=1,2; i8:int82=-128,127; i16:int162=-1,1; i32:int322=-1,1; f16:float162=0.5,1; f64:float642=0.1,2; s:utf82=a,é"},
		{name: "different first dims are unbatched", body: `{"inputs": [{"name": "a", "shape": [3], "datatype": "INT32", "data": [1, 2, 3]}, {"name": "b", "shape": [1], "datatype": "INT32", "data": [4]}]}`,
			want: "a:int32!3=1,2,3; b:int32!1=4"},
		{name: "scalar", body: `{"inputs": [{"name": "a", "shape": [], "datatype": "FP64", "data": 7}]}`,
			want: "a:float64!=7"},
		{name: "unknown keys ignored", body: `{"id": "r1", "extra": 1, "inputs": [{"name": "a", "shape": [1], "datatype": "INT32", "data": [1], "foo": 2}]}`,
			want: "a:int321=1"},
		{name: "count mismatch", body: `{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}]}`,
			err: "input 'x': shape [2 2] needs 4 elements, data has 3"},
		{name: "bad datatype", body: `{"inputs": [{"name": "x", "shape": [1], "datatype": "fp32", "data": [1]}]}`, err: `invalid datatype "fp32" (datatypes are upper case: FP32)`},
		{name: "int out of range", body: `{"inputs": [{"name": "x", "shape": [1], "datatype": "UINT8", "data": [256]}]}`, err: "256 does not fit UINT8"},
		{name: "fraction for int", body: `{"inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "data": [1.5]}]}`, err: "1.5 is not an integer"},
		{name: "string for number", body: `{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": ["1"]}]}`, err: "expected FP32, got a string"},
		{name: "number for BYTES", body: `{"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "data": [1]}]}`, err: "got the number 1"},
		{name: "null element", body: `{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [null]}]}`, err: "null is not a valid tensor element"},
		{name: "bf16 json", body: `{"inputs": [{"name": "x", "shape": [1], "datatype": "BF16", "data": [1]}]}`, err: "BF16 has no JSON form"},
		{name: "no inputs", body: `{"id": "x"}`, err: "no 'inputs'"},
		{name: "no shape", body: `{"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]}`, err: "has no 'shape'"},
		{name: "negative dim", body: `{"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]}`, err: "non-negative"},
		{name: "duplicate input", body: `{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}, {"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}`, err: "appears more than once"},
		{name: "bad json", body: `{"inputs": [`, err: "failed to parse the request JSON"},
		{name: "id not a string", body: `{"id": 5, "inputs": []}`, err: "'id' must be a string"},
		{name: "parameter object", body: `{"parameters": {"a": {"b": 1}}, "inputs": []}`, err: "must be a string, number or boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			d := &Decoder{Model: "m", Mem: mem}
			req, err := d.Decode([]byte(tt.body), -1)
			if tt.err != "" {
				var e *Error
				if err == nil || !asV2(err, &e) || e.Status != 400 || !strings.Contains(e.Message, tt.err) {
					t.Fatalf("error = %v, want 400 containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer req.Release()
			if got := describe(t, req.Batch); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func asV2(err error, e **Error) bool {
	v, ok := err.(*Error)
	*e = v
	return ok
}

// binaryRequest builds a JSON header plus binary data for the inputs.
func binaryRequest(header string, blocks ...[]byte) ([]byte, int) {
	body := []byte(header)
	for _, b := range blocks {
		body = append(body, b...)
	}
	return body, len(header)
}

func TestDecodeBinary(t *testing.T) {
	f32 := make([]byte, 16)
	for i, v := range []float32{1, 2, 3, 4.5} {
		binary.LittleEndian.PutUint32(f32[4*i:], math.Float32bits(v))
	}
	bytesEl := []byte{}
	for _, s := range []string{"ab", "", "é"} {
		bytesEl = binary.LittleEndian.AppendUint32(bytesEl, uint32(len(s)))
		bytesEl = append(bytesEl, s...)
	}
	h16 := binary.LittleEndian.AppendUint16(nil, float16.New(2.5).Uint16())
	bf16 := binary.LittleEndian.AppendUint16(nil, uint16(math.Float32bits(-3.0)>>16))
	body, n := binaryRequest(`{"inputs": [`+
		`{"name": "x", "shape": [2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}},`+
		`{"name": "j", "shape": [1], "datatype": "INT32", "data": [9]},`+
		`{"name": "s", "shape": [3], "datatype": "BYTES", "parameters": {"binary_data_size": `+itoa(len(bytesEl))+`}},`+
		`{"name": "b", "shape": [2], "datatype": "BOOL", "parameters": {"binary_data_size": 2}},`+
		`{"name": "h", "shape": [1], "datatype": "FP16", "parameters": {"binary_data_size": 2}},`+
		`{"name": "bf", "shape": [1], "datatype": "BF16", "parameters": {"binary_data_size": 2}}]}`,
		f32, bytesEl, []byte{1, 0}, h16, bf16)
	d := &Decoder{}
	req, err := d.Decode(body, n)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Release()
	want := "x:float32!2x2=1,2,3,4.5; j:int32!1=9; s:binary!3=YWI=,,w6k=; b:bool!2=true,false; h:float16!1=2.5; bf:float32!1=-3"
	if got := describe(t, req.Batch); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	type bad struct {
		header string
		bin    []byte
		want   string
	}
	errs := []bad{
		{`{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}`, []byte{1, 2, 3}, "exceeds the 3 bytes"},
		{`{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}`, []byte{1, 2, 3, 4}, "needs 8 bytes, binary_data_size is 4"},
		{`{"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL", "parameters": {"binary_data_size": 1}}]}`, []byte{7}, "BOOL element 0 is 7"},
		{`{"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL", "parameters": {"binary_data_size": 1}}]}`, []byte{1, 1}, "1 bytes of binary data that no input claims"},
		{`{"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 4}}]}`, []byte{9, 0, 0, 0}, "claims 9 bytes"},
	}
	if _, err := d.Decode([]byte(`{"inputs": []}`), 100); err == nil || !strings.Contains(err.Error(), "larger than the request body") {
		t.Errorf("header length past the body: %v", err)
	}
	for _, e := range errs {
		body, n := binaryRequest(e.header, e.bin)
		if _, err := d.Decode(body, n); err == nil || !strings.Contains(err.Error(), e.want) {
			t.Errorf("%q: error %v, want %q", body, err, e.want)
		}
	}
}

func itoa(n int) string { return jsonOf(n) }

func TestDecodeRawBinary(t *testing.T) {
	raw := make([]byte, 32)
	for i := 0; i < 8; i++ {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(i)))
	}
	d := &Decoder{Model: "m", Inputs: []TensorMeta{{Name: "input", Datatype: FP32, Shape: []int64{-1, 4}}}}
	req, err := d.Decode(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Release()
	if got := describe(t, req.Batch); got != "input:float322x4=0,1,2,3,4,5,6,7" || !req.BinaryOutput {
		t.Errorf("got %s binary=%v", got, req.BinaryOutput)
	}
	if _, err := d.Decode(raw[:30], 0); err == nil || !strings.Contains(err.Error(), "does not fit input 'input'") {
		t.Errorf("odd length: %v", err)
	}
	two := &Decoder{Inputs: []TensorMeta{{Name: "a"}, {Name: "b"}}}
	if _, err := two.Decode(raw, 0); err == nil || !strings.Contains(err.Error(), "exactly one input") {
		t.Errorf("two inputs: %v", err)
	}
}

func TestDecodeChecksNames(t *testing.T) {
	d := &Decoder{Model: "iris", Inputs: []TensorMeta{{Name: "a", Datatype: FP32, Shape: []int64{-1}}, {Name: "b", Datatype: FP32, Shape: []int64{-1}}}}
	if _, err := d.Decode([]byte(`{"inputs": [{"name": "c", "shape": [1], "datatype": "FP32", "data": [1]}]}`), -1); err == nil ||
		!strings.Contains(err.Error(), "unexpected inference input 'c' for model 'iris'") {
		t.Errorf("unknown input: %v", err)
	}
	if _, err := d.Decode([]byte(`{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}]}`), -1); err == nil ||
		!strings.Contains(err.Error(), "expected 2 inputs but got 1 inputs for model 'iris'") {
		t.Errorf("missing input: %v", err)
	}
}

func TestEncode(t *testing.T) {
	fb := array.NewFloat32Builder(memory.DefaultAllocator)
	fb.AppendValues([]float32{0.1, float32(math.NaN()), 3, 4}, nil)
	fv := fb.NewArray()
	pf, pc, _ := columnar.NewTensorColumn("p", []int64{2, 2}, fv, true)
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	sb.AppendValues([]string{"a", "bc"}, nil)
	sv := sb.NewArray()
	lf, lc, _ := columnar.NewTensorColumn("l", []int64{2}, sv, true)
	out := columnarBatch(pf, pc, lf, lc)
	defer out.Release()

	h, bin, err := Encode(out, &Request{ID: "r1"}, Response{ModelName: "m", ModelVersion: "3", ID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model_name":"m","model_version":"3","id":"r1","outputs":[{"name":"p","datatype":"FP32","shape":[2,2],"data":[0.1,NaN,3,4]},{"name":"l","datatype":"BYTES","shape":[2],"data":["a","bc"]}]}`
	if string(h) != want || len(bin) != 0 {
		t.Errorf("json:\n got %s\nwant %s (%d binary bytes)", h, want, len(bin))
	}
	yes := true
	h, bin, err = Encode(out, &Request{Outputs: []RequestedOutput{{Name: "l", Binary: &yes}}}, Response{ModelName: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if string(h) != `{"model_name":"m","outputs":[{"name":"l","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":11}}]}` {
		t.Errorf("binary header %s", h)
	}
	if string(bin) != "\x01\x00\x00\x00a\x02\x00\x00\x00bc" {
		t.Errorf("binary bytes %q", bin)
	}
	h, bin, _ = Encode(out, &Request{BinaryOutput: true, Outputs: []RequestedOutput{{Name: "p"}}}, Response{ModelName: "m"})
	if !strings.Contains(string(h), `"binary_data_size":16`) || len(bin) != 16 || math.Float32frombits(binary.LittleEndian.Uint32(bin)) != 0.1 {
		t.Errorf("binary_data_output: %s %v", h, bin)
	}
	if _, _, err := Encode(out, &Request{Outputs: []RequestedOutput{{Name: "nope"}}}, Response{ModelName: "m"}); err == nil ||
		!strings.Contains(err.Error(), "unexpected inference output 'nope' for model 'm'") {
		t.Errorf("unknown output: %v", err)
	}
}

// TestDecodeParameters: binary_data_output steers the response and is
// taken out of the parameters handed to the model; the others stay, as
// plain Go values.
func TestDecodeParameters(t *testing.T) {
	d := &Decoder{}
	req, err := d.Decode([]byte(`{"parameters": {"binary_data_output": true, "temperature": 0.5, "n": 3, "mode": "fast", "flag": false}, "inputs": []}`), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Release()
	want := map[string]any{"temperature": 0.5, "n": int64(3), "mode": "fast", "flag": false}
	if !req.BinaryOutput || jsonOf(req.Parameters) != jsonOf(want) {
		t.Errorf("binary %v parameters %v", req.BinaryOutput, req.Parameters)
	}
	// Only binary_data_output: no parameters at all, so the batcher sees
	// the request like one without parameters.
	req2, err := d.Decode([]byte(`{"parameters": {"binary_data_output": false}, "inputs": []}`), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer req2.Release()
	if req2.Parameters != nil || req2.BinaryOutput {
		t.Errorf("parameters %v binary %v", req2.Parameters, req2.BinaryOutput)
	}
}

func TestDecodeOutputs(t *testing.T) {
	d := &Decoder{}
	req, err := d.Decode([]byte(`{"inputs": [], "outputs": []}`), -1)
	if err != nil {
		t.Fatal(err)
	}
	// An empty list asks for every output, as in Triton and KServe.
	if req.Outputs != nil {
		t.Errorf("outputs %v, want nil", req.Outputs)
	}
	if _, err := d.Decode([]byte(`{"inputs": [], "outputs": [{"name": "a"}, {"name": "b"}, {"name": "a"}]}`), -1); err == nil || !strings.Contains(err.Error(), "'a' is requested more than once") {
		t.Errorf("duplicate output: %v", err)
	}
}

// TestEncodeLargeTypes: large strings and binaries are BYTES too, in both
// encodings (they used to go out as zero binary bytes).
func TestEncodeLargeTypes(t *testing.T) {
	lsb := array.NewLargeStringBuilder(memory.DefaultAllocator)
	lsb.AppendValues([]string{"ab", "c"}, nil)
	ls := lsb.NewArray()
	lbb := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.LargeBinary)
	lbb.AppendValues([][]byte{[]byte("x"), {}}, nil)
	lb := lbb.NewArray()
	lf, lc, _ := columnar.NewTensorColumn("ls", []int64{2}, ls, true)
	bf, bc, _ := columnar.NewTensorColumn("lb", []int64{2}, lb, true)
	out := columnarBatch(lf, lc, bf, bc)
	defer out.Release()
	h, bin, err := Encode(out, &Request{BinaryOutput: true}, Response{ModelName: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(h), `"name":"ls","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":11}`) ||
		!strings.Contains(string(h), `"name":"lb","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":9}`) {
		t.Errorf("header %s", h)
	}
	if string(bin) != "\x02\x00\x00\x00ab\x01\x00\x00\x00c"+"\x01\x00\x00\x00x\x00\x00\x00\x00" {
		t.Errorf("binary %q", bin)
	}
	h, _, _ = Encode(out, &Request{}, Response{ModelName: "m"})
	if !strings.Contains(string(h), `"data":["ab","c"]`) || !strings.Contains(string(h), `"data":["x",""]`) {
		t.Errorf("JSON %s", h)
	}
}

func TestPlatform(t *testing.T) {
	for flavor, want := range map[string]string{"onnx": "onnx_onnxv1", "tensorflow": "tensorflow_savedmodel", "python_function": "mlflow_python_function", "": ""} {
		if got := Platform(flavor); got != want {
			t.Errorf("Platform(%q) = %q, want %q", flavor, got, want)
		}
	}
}

// TestEncodeNonTensorOutputs: a map column (sklearn-onnx's ZipMap) is
// BYTES of one JSON object per row, keys as strings and NaN as Python
// writes it; in binary the same texts are length-prefixed elements.
func TestEncodeNonTensorOutputs(t *testing.T) {
	mb := array.NewMapBuilder(memory.DefaultAllocator, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float32, false)
	defer mb.Release()
	kb, ib := mb.KeyBuilder().(*array.Int64Builder), mb.ItemBuilder().(*array.Float32Builder)
	mb.Append(true)
	kb.AppendValues([]int64{0, 1}, nil)
	ib.AppendValues([]float32{0.25, float32(math.NaN())}, nil)
	mb.Append(true)
	kb.Append(7)
	ib.Append(1)
	maps := mb.NewArray()
	lb := array.NewListBuilder(memory.DefaultAllocator, arrow.BinaryTypes.String)
	defer lb.Release()
	lb.Append(true)
	lb.ValueBuilder().(*array.StringBuilder).AppendValues([]string{"a", "b\""}, nil)
	lb.Append(true)
	lists := lb.NewArray()
	out := columnarBatch(arrow.Field{Name: "probs", Type: maps.DataType()}, maps, arrow.Field{Name: "tags", Type: lists.DataType()}, lists)
	defer out.Release()

	h, _, err := Encode(out, &Request{}, Response{ModelName: "m"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model_name":"m","outputs":[{"name":"probs","datatype":"BYTES","shape":[2],"data":["{\"0\":0.25,\"1\":NaN}","{\"7\":1}"]},{"name":"tags","datatype":"BYTES","shape":[2],"data":["[\"a\",\"b\\\"\"]","[]"]}]}`
	if string(h) != want {
		t.Errorf("got  %s\nwant %s", h, want)
	}
	_, bin, _ := Encode(out, &Request{Outputs: []RequestedOutput{{Name: "probs"}}, BinaryOutput: true}, Response{ModelName: "m"})
	if string(bin) != "\x12\x00\x00\x00{\"0\":0.25,\"1\":NaN}\x07\x00\x00\x00{\"7\":1}" {
		t.Errorf("binary %q", bin)
	}
}

// TestEncodeMissingValues: a missing float is NaN in both encodings (its
// value slot is undefined); an integer tensor cannot carry one, which is a
// server-side error rather than a null that numpy clients cannot read.
func TestEncodeMissingValues(t *testing.T) {
	fb := array.NewFloat32Builder(memory.DefaultAllocator)
	fb.AppendValues([]float32{1.5, 0, 2}, []bool{true, false, true})
	fv := fb.NewArray()
	ff, fc, _ := columnar.NewTensorColumn("f", []int64{3}, fv, true)
	out := columnarBatch(ff, fc)
	defer out.Release()
	h, _, err := Encode(out, &Request{}, Response{ModelName: "m"})
	if err != nil || !strings.Contains(string(h), `"data":[1.5,NaN,2]`) {
		t.Errorf("JSON %s %v", h, err)
	}
	_, bin, err := Encode(out, &Request{BinaryOutput: true}, Response{ModelName: "m"})
	if err != nil || len(bin) != 12 || !math.IsNaN(float64(math.Float32frombits(binary.LittleEndian.Uint32(bin[4:])))) ||
		math.Float32frombits(binary.LittleEndian.Uint32(bin[8:])) != 2 {
		t.Errorf("binary %x %v", bin, err)
	}

	ib := array.NewInt64Builder(memory.DefaultAllocator)
	ib.AppendValues([]int64{1, 0}, []bool{true, false})
	iv := ib.NewArray()
	inf, ic, _ := columnar.NewTensorColumn("i", []int64{2}, iv, true)
	ints := columnarBatch(inf, ic)
	defer ints.Release()
	var e *Error
	if _, _, err := Encode(ints, &Request{}, Response{ModelName: "m"}); !asV2(err, &e) || e.Status != 500 || !strings.Contains(e.Message, "missing values") {
		t.Errorf("int with a null: %v", err)
	}
}
