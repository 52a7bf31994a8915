package v2_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	v2 "github.com/mlship/mlship/serve/v2"
)

// fuzzMetas are the model inputs a request is decoded against: none (the
// names are the client's), and models with one input of each kind a raw
// binary request can fill, plus two inputs of different types.
var fuzzMetas = [][]v2.TensorMeta{
	nil,
	{{Name: "input", Datatype: v2.FP32, Shape: []int64{-1, 4}}},
	{{Name: "a", Datatype: v2.FP32, Shape: []int64{-1, 3}}, {Name: "b", Datatype: v2.INT64, Shape: []int64{-1}}},
	{{Name: "s", Datatype: v2.BYTES, Shape: []int64{1}}},
	{{Name: "x", Datatype: v2.BOOL, Shape: []int64{2, -1}}},
	{{Name: "h", Datatype: v2.BF16, Shape: []int64{}}},
}

// fuzzSeed is a request: its JSON header and the binary part after it.
type fuzzSeed struct {
	header string
	bin    []byte
}

func le32(vals ...float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func bytesElems(ss ...string) []byte {
	var b []byte
	for _, s := range ss {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

var fuzzSeeds = []fuzzSeed{
	{header: `{"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [[1, 2, 3, 4], [5, 6, 7, 8.5]]}]}`},
	{header: `{"id": "r", "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [NaN, Infinity, -Infinity, -0.0]}], "outputs": [{"name": "input", "parameters": {"binary_data": true}}]}`},
	{header: `{"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}, {"name": "b", "shape": [1], "datatype": "INT64", "data": [-9223372036854775808]}], "parameters": {"binary_data_output": true, "k": "v", "n": 1.5}}`},
	{header: `{"inputs": [
		{"name": "b", "shape": [2], "datatype": "BOOL", "data": [true, false]},
		{"name": "u8", "shape": [2], "datatype": "UINT8", "data": [0, 255]},
		{"name": "u16", "shape": [2], "datatype": "UINT16", "data": [1, 65535]},
		{"name": "u32", "shape": [2], "datatype": "UINT32", "data": [1, 4294967295]},
		{"name": "u64", "shape": [2], "datatype": "UINT64", "data": [0, 9223372036854775807]},
		{"name": "i8", "shape": [2], "datatype": "INT8", "data": [-128, 127]},
		{"name": "i16", "shape": [2], "datatype": "INT16", "data": [-32768, 32767]},
		{"name": "i32", "shape": [2], "datatype": "INT32", "data": [-2147483648, 2147483647]},
		{"name": "f16", "shape": [2], "datatype": "FP16", "data": [0.1, 65504]},
		{"name": "f64", "shape": [2], "datatype": "FP64", "data": [1e-308, 1.7976931348623157e308]},
		{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["a\"\\\n", "\u00e9\ud83d\ude00"]}]}`},
	{header: `{"inputs": [{"name": "a", "shape": [3], "datatype": "INT32", "data": [1, 2, 3]}, {"name": "b", "shape": [], "datatype": "FP64", "data": 7}]}`},
	{header: `{"inputs": [{"name": "z", "shape": [3, 0, 2], "datatype": "FP32", "data": [[], [], []]}]}`},
	{header: `{"inputs": [{"name": "z", "shape": [0, 4], "datatype": "BYTES", "data": []}]}`},
	{header: `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]}`, bin: le32(1, 2, 3, 4)},
	{header: `{"inputs": [{"name": "s", "shape": [3], "datatype": "BYTES", "parameters": {"binary_data_size": 19}}, {"name": "x", "shape": [2, 1], "datatype": "BOOL", "parameters": {"binary_data_size": 2}}], "outputs": [{"name": "x"}, {"name": "s", "parameters": {"binary_data": false}}]}`,
		bin: append(bytesElems("ab", "", "\xff\xfe\x00"), 1, 0)},
	{header: `{"inputs": [{"name": "h", "shape": [2], "datatype": "FP16", "parameters": {"binary_data_size": 4}}, {"name": "bf", "shape": [2], "datatype": "BF16", "parameters": {"binary_data_size": 4}}, {"name": "j", "shape": [2], "datatype": "INT16", "data": [1, 2]}]}`,
		bin: []byte{0x00, 0x3c, 0x00, 0x7e, 0x80, 0x3f, 0xc0, 0x7f}},
	{header: `{"inputs": [{"name": "u", "shape": [1], "datatype": "UINT64", "parameters": {"binary_data_size": 8}}]}`, bin: []byte{255, 255, 255, 255, 255, 255, 255, 255}},
	// Raw binary bodies (the header is empty).
	{bin: le32(1, 2, 3, 4, 5, 6, 7, 8)},
	{bin: []byte("raw bytes \xff")},
	{bin: []byte{1, 0, 1, 1}},
	{bin: []byte{0x80, 0x3f}},
	// Errors, some after tensors were built (which must be freed).
	{header: `{"inputs": [{"name": "a", "shape": [2], "datatype": "BOOL", "data": [true, false]}, {"name": "b", "shape": [2], "datatype": "FP32", "data": [1]}]}`},
	{header: `{"inputs": [{"name": "a", "shape": [1], "datatype": "BYTES", "data": ["x"]}, {"name": "b", "shape": [1], "datatype": "BOOL", "parameters": {"binary_data_size": 1}}]}`, bin: []byte{2}},
	{header: `{"inputs": [{"name": "a", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 9}}]}`, bin: bytesElems("abcde")},
	{header: `{"inputs": [{"name": "a", "shape": [65536, 65536, 65536, 65536], "datatype": "FP32", "data": []}]}`},
	{header: `{"inputs": [{"name": "a", "shape": [2147483647, 0], "datatype": "FP32", "data": []}]}`},
	{header: `{"inputs": [{"name": "a", "shape": [2], "datatype": "FP32", "data": [1, 2]}], "outputs": [{"name": "a"}, {"name": "a"}]}`},
	{header: `{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}]} trailing`},
	{header: `{"inputs": [`}, {header: `[]`}, {header: ``}, {header: `{"inputs": "\xff"}`},
}

// FuzzDecode decodes arbitrary requests (a JSON header, a binary part, one
// of the fuzzMetas, and one of the Inference-Header-Content-Length cases)
// and checks what every caller relies on: no panic; a failure is a
// *v2.Error with status 400 and nothing left allocated; a success is a
// valid batch (array.ValidateFull on every column, every column one entry
// per row, every column a tensor whose element count is its shape's
// product, no nulls) whose inputs are the model's, and releasing it frees
// everything.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		for mode := range uint8(4 * len(fuzzMetas)) {
			f.Add([]byte(s.header), s.bin, mode)
		}
	}
	f.Fuzz(func(t *testing.T, header, bin []byte, mode uint8) {
		metas := fuzzMetas[int(mode)%len(fuzzMetas)]
		body := append(slices.Clip(header), bin...)
		var headerLen int
		switch mode / uint8(len(fuzzMetas)) % 4 {
		case 0: // plain JSON: the header is the body
			body, headerLen = header, -1
		case 1: // JSON followed by binary data
			headerLen = len(header)
		case 2: // raw binary: the whole body is the only input's bytes
			headerLen = 0
		case 3: // binary data but no Inference-Header-Content-Length
			headerLen = -1
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		d := &v2.Decoder{Model: "m", Inputs: metas, Mem: mem}
		req, err := d.Decode(body, headerLen)
		if err != nil {
			var ve *v2.Error
			if !errors.As(err, &ve) || ve.Status != 400 {
				t.Fatalf("error %T %v, want a *v2.Error with status 400", err, err)
			}
			if ve.Message == "" {
				t.Fatal("empty error message")
			}
			mem.AssertSize(t, 0)
			return
		}
		checkBatch(t, req.Batch, metas)
		if headerLen == 0 && !req.BinaryOutput {
			t.Error("a raw binary request must be answered in binary")
		}
		if _, ok := req.Parameters["binary_data_output"]; ok {
			t.Error("binary_data_output was passed on as a model parameter")
		}
		if req.Outputs != nil && len(req.Outputs) == 0 {
			t.Error("an empty outputs list must mean all outputs (nil)")
		}
		req.Release()
		mem.AssertSize(t, 0)
	})
}

func checkBatch(t *testing.T, b columnar.Batch, metas []v2.TensorMeta) {
	t.Helper()
	if metas != nil && int(b.NumCols()) != len(metas) {
		t.Fatalf("%d columns for a model of %d inputs", b.NumCols(), len(metas))
	}
	for i, f := range b.Schema().Fields() {
		col := b.Column(i)
		if err := array.ValidateFull(col); err != nil {
			t.Fatalf("column %q (%s) is invalid: %v", f.Name, col.DataType(), err)
		}
		if int64(col.Len()) != b.NumRows() {
			t.Fatalf("column %q has %d entries for %d rows", f.Name, col.Len(), b.NumRows())
		}
		if metas != nil && !slices.ContainsFunc(metas, func(m v2.TensorMeta) bool { return m.Name == f.Name }) {
			t.Fatalf("column %q is not a model input", f.Name)
		}
		tv, err := columnar.TensorOf(f, col)
		if err != nil {
			t.Fatalf("column %q is not a tensor: %v", f.Name, err)
		}
		if int64(tv.Values.Len()) != tv.Size() {
			t.Fatalf("column %q: shape %v but %d values", f.Name, tv.Shape, tv.Values.Len())
		}
		if tv.Values.NullN() != 0 {
			t.Fatalf("column %q has nulls", f.Name)
		}
		if _, ok := v2.FromArrow(tv.Values.DataType()); !ok {
			t.Fatalf("column %q: element type %s has no V2 datatype", f.Name, tv.Values.DataType())
		}
		tv.Values.Release()
	}
}

// FuzzEncode decodes a request, treats its batch as a model's output, and
// encodes it back with binary/JSON choices taken from choices: the
// response header must be valid JSON apart from the NaN and Infinity
// tokens Python's json module writes and reads, the binary part must be
// exactly what the binary_data_size values add up to, and every output
// must have the datatype, shape and values of the tensor it came from.
func FuzzEncode(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add([]byte(s.header), s.bin, uint32(i)*0x9e3779b9)
	}
	f.Fuzz(func(t *testing.T, header, bin []byte, choices uint32) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		d := &v2.Decoder{Model: "m", Mem: mem}
		headerLen := -1
		if len(bin) > 0 {
			headerLen = len(header)
		}
		req, err := d.Decode(append(slices.Clip(header), bin...), headerLen)
		if err != nil {
			return
		}
		defer req.Release()
		out := req.Batch

		// The request the response answers: all outputs or a list (in
		// schema order or reversed), each binary, JSON or left to the
		// request-level default.
		enc := &v2.Request{BinaryOutput: choices&1 != 0}
		names := make([]string, 0, out.NumCols())
		for _, f := range out.Schema().Fields() {
			names = append(names, f.Name)
		}
		if choices&2 != 0 {
			if choices&4 != 0 {
				slices.Reverse(names)
			}
			enc.Outputs = []v2.RequestedOutput{}
			for i, n := range names {
				o := v2.RequestedOutput{Name: n}
				switch (choices >> (3 + 2*uint(i%14))) & 3 {
				case 1:
					o.Binary = new(bool)
				case 2:
					o.Binary = new(bool)
					*o.Binary = true
				}
				enc.Outputs = append(enc.Outputs, o)
			}
		}
		h, rawBin, err := v2.Encode(out, enc, v2.Response{ModelName: "m\"\n", ModelVersion: "1", ID: req.ID})
		if err != nil {
			t.Fatalf("Encode of a decoded batch: %v", err)
		}
		var resp struct {
			ModelName    string `json:"model_name"`
			ModelVersion string `json:"model_version"`
			ID           string `json:"id"`
			Outputs      []struct {
				Name       string           `json:"name"`
				Datatype   string           `json:"datatype"`
				Shape      []int64          `json:"shape"`
				Parameters map[string]int64 `json:"parameters"`
				Data       []any            `json:"data"`
			} `json:"outputs"`
		}
		strict := pythonTokensToStrings(h)
		if !json.Valid(strict) {
			t.Fatalf("response header is not JSON (beyond NaN/Infinity): %q", h)
		}
		dec := json.NewDecoder(bytes.NewReader(strict))
		dec.UseNumber()
		if err := dec.Decode(&resp); err != nil {
			t.Fatalf("response header %q: %v", h, err)
		}
		if resp.ModelName != "m\"\n" || resp.ModelVersion != "1" || resp.ID != req.ID {
			t.Fatalf("envelope %q %q %q", resp.ModelName, resp.ModelVersion, resp.ID)
		}
		if len(resp.Outputs) != len(names) {
			t.Fatalf("%d outputs, want %d", len(resp.Outputs), len(names))
		}
		anyBinary := false
		rest := rawBin
		for i, o := range resp.Outputs {
			if o.Name != names[i] {
				t.Fatalf("output %d is %q, want %q", i, o.Name, names[i])
			}
			wantBinary := enc.BinaryOutput
			if enc.Outputs != nil && enc.Outputs[i].Binary != nil {
				wantBinary = *enc.Outputs[i].Binary
			}
			idx := out.Schema().FieldIndices(o.Name)[0]
			tv, err := columnar.TensorOf(out.Schema().Field(idx), out.Column(idx))
			if err != nil {
				t.Fatal(err)
			}
			wantDT, _ := v2.FromArrow(tv.Values.DataType())
			if o.Datatype != string(wantDT) || !slices.Equal(o.Shape, tv.Shape) {
				t.Fatalf("output %q: %s %v, want %s %v", o.Name, o.Datatype, o.Shape, wantDT, tv.Shape)
			}
			size, isBinary := o.Parameters["binary_data_size"]
			if isBinary != wantBinary || isBinary && o.Data != nil {
				t.Fatalf("output %q: binary %v (data %v), want binary %v", o.Name, isBinary, o.Data != nil, wantBinary)
			}
			if isBinary {
				anyBinary = true
				if size < 0 || size > int64(len(rest)) {
					t.Fatalf("output %q: binary_data_size %d, %d bytes left", o.Name, size, len(rest))
				}
				checkBinary(t, o.Name, wantDT, tv.Values, rest[:size])
				rest = rest[size:]
			} else {
				checkJSON(t, o.Name, wantDT, tv.Values, o.Data)
			}
			tv.Values.Release()
		}
		if len(rest) != 0 {
			t.Fatalf("%d binary bytes that no output claims", len(rest))
		}
		if (rawBin != nil) != anyBinary {
			t.Fatalf("binary part nil=%v with binary outputs=%v: the caller decides on it whether to send Inference-Header-Content-Length", rawBin == nil, anyBinary)
		}
	})
}

// pythonTokensToStrings turns the bare NaN, Infinity and -Infinity that
// Python's json writes into strings, so that encoding/json can check the
// rest strictly.
func pythonTokensToStrings(b []byte) []byte {
	var out []byte
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			out = append(out, c)
			switch c {
			case '\\':
				if i+1 < len(b) {
					i++
					out = append(out, b[i])
				}
			case '"':
				inString = false
			}
			continue
		}
		matched := false
		for _, tok := range []string{"NaN", "-Infinity", "Infinity"} {
			if bytes.HasPrefix(b[i:], []byte(tok)) {
				out = append(append(append(out, '"'), tok...), '"')
				i += len(tok) - 1
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		if c == '"' {
			inString = true
		}
		out = append(out, c)
	}
	return out
}

// checkJSON compares JSON data with the tensor's values: numbers must read
// back as the same value at the tensor's precision (bit for bit, NaN as
// NaN), and strings must be the same text (bytes that are not UTF-8 have
// no JSON form, so only their count is checked).
func checkJSON(t *testing.T, name string, dt v2.Datatype, vals arrow.Array, data []any) {
	t.Helper()
	if len(data) != vals.Len() {
		t.Fatalf("output %q: %d data elements, want %d", name, len(data), vals.Len())
	}
	for i, e := range data {
		bad := func() { t.Fatalf("output %q[%d]: JSON %#v for %s", name, i, e, vals.ValueStr(i)) }
		switch a := vals.(type) {
		case *array.Boolean:
			if b, ok := e.(bool); !ok || b != a.Value(i) {
				bad()
			}
		case *array.String:
			if s, ok := e.(string); !ok || utf8.ValidString(a.Value(i)) && s != a.Value(i) {
				bad()
			}
		case *array.Binary:
			if s, ok := e.(string); !ok || utf8.Valid(a.Value(i)) && s != string(a.Value(i)) {
				bad()
			}
		case *array.Float16:
			f, ok := jsonFloat(e, 32)
			if !ok || !sameFloat(float64(float16.New(float32(f)).Float32()), float64(a.Value(i).Float32())) {
				bad()
			}
		case *array.Float32:
			f, ok := jsonFloat(e, 32)
			if !ok || !sameFloat(f, float64(a.Value(i))) {
				bad()
			}
		case *array.Float64:
			f, ok := jsonFloat(e, 64)
			if !ok || !sameFloat(f, a.Value(i)) {
				bad()
			}
		default:
			n, ok := e.(json.Number)
			if !ok || string(n) != vals.ValueStr(i) {
				bad()
			}
		}
	}
	_ = dt
}

func jsonFloat(e any, bits int) (float64, bool) {
	switch x := e.(type) {
	case string:
		switch x {
		case "NaN":
			return math.NaN(), true
		case "Infinity":
			return math.Inf(1), true
		case "-Infinity":
			return math.Inf(-1), true
		}
	case json.Number:
		f, err := strconv.ParseFloat(string(x), bits)
		return f, err == nil
	}
	return 0, false
}

// sameFloat is equality that tells -0 from 0 and holds for NaN.
func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Float64bits(a) == math.Float64bits(b)
}

// checkBinary compares binary data with the tensor's values: the exact
// little-endian bytes, BOOL as 0/1 bytes, BYTES as length-prefixed
// elements.
func checkBinary(t *testing.T, name string, dt v2.Datatype, vals arrow.Array, raw []byte) {
	t.Helper()
	var want []byte
	switch a := vals.(type) {
	case *array.Boolean:
		for i := 0; i < a.Len(); i++ {
			if a.Value(i) {
				want = append(want, 1)
			} else {
				want = append(want, 0)
			}
		}
	case *array.String:
		for i := 0; i < a.Len(); i++ {
			want = append(want, bytesElems(a.Value(i))...)
		}
	case *array.Binary:
		for i := 0; i < a.Len(); i++ {
			want = append(want, bytesElems(string(a.Value(i)))...)
		}
	default:
		// Numbers: each value written out on its own, not the array's
		// buffer (which is what Encode copies), so a wrong offset or
		// element size shows.
		le := binary.LittleEndian
		for i := 0; i < vals.Len(); i++ {
			switch a := vals.(type) {
			case *array.Int8:
				want = append(want, byte(a.Value(i)))
			case *array.Uint8:
				want = append(want, a.Value(i))
			case *array.Int16:
				want = le.AppendUint16(want, uint16(a.Value(i)))
			case *array.Uint16:
				want = le.AppendUint16(want, a.Value(i))
			case *array.Float16:
				want = le.AppendUint16(want, a.Value(i).Uint16())
			case *array.Int32:
				want = le.AppendUint32(want, uint32(a.Value(i)))
			case *array.Uint32:
				want = le.AppendUint32(want, a.Value(i))
			case *array.Float32:
				want = le.AppendUint32(want, math.Float32bits(a.Value(i)))
			case *array.Int64:
				want = le.AppendUint64(want, uint64(a.Value(i)))
			case *array.Uint64:
				want = le.AppendUint64(want, a.Value(i))
			case *array.Float64:
				want = le.AppendUint64(want, math.Float64bits(a.Value(i)))
			default:
				t.Fatalf("output %q: unexpected %s values", name, vals.DataType())
			}
		}
		if len(want) != vals.Len()*dt.Size() {
			t.Fatalf("output %q: %s is %d bytes per element", name, dt, dt.Size())
		}
	}
	if !bytes.Equal(raw, want) {
		t.Fatalf("output %q: binary %x, want %x", name, raw, want)
	}
}
