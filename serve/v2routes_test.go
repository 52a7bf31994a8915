package serve_test

// Conformance of the Open Inference Protocol (KServe V2) routes, checked the
// way real clients see them: the real ONNX flavor on ONNX Runtime behind
// the real handler, over HTTP on 127.0.0.1, with requests written byte for
// byte as curl and tritonclient send them. Expected numbers come from numpy
// (the expected.json files written by the scripts that made the models),
// never from the code under test.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/float16"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve"
)

// ---- harness ---------------------------------------------------------------

// v2Load loads the ONNX model in dir on the real ONNX Runtime.
func v2Load(t *testing.T, dir string) (*mlmodel.Model, flavors.Predictor) {
	t.Helper()
	getenv, cache := testenv.ONNXRuntime(t)
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := onnx.Flavor{}.Load(context.Background(), m, flavors.LoadOptions{Getenv: getenv, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.(interface{ Close() error }).Close() })
	return m, p
}

// v2Serve serves the ONNX model in dir over loopback HTTP. cfg.Model and
// cfg.Flavor are filled in as the CLI fills them.
func v2Serve(t *testing.T, dir string, cfg serve.Config) string {
	t.Helper()
	m, p := v2Load(t, dir)
	cfg.Model, cfg.Flavor = m, "onnx"
	ts := httptest.NewServer(serve.New(p, cfg))
	t.Cleanup(ts.Close)
	return ts.URL
}

type v2Resp struct {
	status int
	header http.Header
	body   []byte
}

// v2Do sends one request; hdr holds header name/value pairs.
func v2Do(t *testing.T, method, url string, body []byte, hdr ...string) v2Resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return v2Resp{resp.StatusCode, resp.Header, b}
}

func v2Get(t *testing.T, url string) v2Resp { t.Helper(); return v2Do(t, "GET", url, nil) }

// v2Infer posts a JSON inference request (no binary part).
func v2Infer(t *testing.T, url, body string) v2Resp {
	t.Helper()
	return v2Do(t, "POST", url, []byte(body), "Content-Type", "application/json")
}

// v2Binary posts a JSON header followed by binary tensor data, with
// Inference-Header-Content-Length as the binary extension requires.
func v2Binary(t *testing.T, url, header string, blocks ...[]byte) v2Resp {
	t.Helper()
	body := []byte(header)
	for _, b := range blocks {
		body = append(body, b...)
	}
	return v2Do(t, "POST", url, body, "Content-Type", "application/octet-stream",
		"Inference-Header-Content-Length", strconv.Itoa(len(header)))
}

// v2WantError checks an error answer: the status, a JSON body that is
// exactly {"error": "<message>"} (what tritonclient reads the message
// from), and a message containing want.
func v2WantError(t *testing.T, r v2Resp, status int, want string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d: %s", r.status, status, r.body)
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q, want application/json", ct)
	}
	var env map[string]any
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Errorf("error body is not JSON: %v: %q", err, r.body)
		return
	}
	msg, ok := env["error"].(string)
	if !ok || len(env) != 1 {
		t.Errorf(`error body must be exactly {"error": "..."}: %s`, r.body)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not mention %q", msg, want)
	}
}

// v2Tensor is an output (or metadata tensor) as the JSON header has it.
type v2Tensor struct {
	Name       string          `json:"name"`
	Datatype   string          `json:"datatype"`
	Shape      []int64         `json:"shape"`
	Parameters map[string]any  `json:"parameters"`
	Data       json.RawMessage `json:"data"`
}

type v2InferResponse struct {
	ModelName    string     `json:"model_name"`
	ModelVersion *string    `json:"model_version"`
	ID           *string    `json:"id"`
	Outputs      []v2Tensor `json:"outputs"`
}

// v2Parse reads a successful inference response as tritonclient's
// InferResult does: the JSON header is the first
// Inference-Header-Content-Length bytes when that header is present (else
// the whole body), and binary outputs own consecutive slices of the rest,
// in output order, binary_data_size bytes each. It returns the header and
// each output's binary data (nil for JSON outputs), and checks the
// arithmetic: a binary output without the header, or bytes left over, is
// a response no client can read.
func v2Parse(t *testing.T, r v2Resp) (v2InferResponse, map[string][]byte) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	header, rest := r.body, []byte(nil)
	if h := r.header.Get("Inference-Header-Content-Length"); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 || n > len(r.body) {
			t.Fatalf("bad Inference-Header-Content-Length %q for a %d-byte body", h, len(r.body))
		}
		header, rest = r.body[:n], r.body[n:]
		if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("binary response Content-Type %q, want application/octet-stream", ct)
		}
	} else if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("JSON response Content-Type %q, want application/json", ct)
	}
	var resp v2InferResponse
	if err := json.Unmarshal(header, &resp); err != nil {
		t.Fatalf("response header is not JSON: %v: %q", err, header)
	}
	bins := map[string][]byte{}
	for _, o := range resp.Outputs {
		size, isBin := o.Parameters["binary_data_size"]
		if !isBin {
			if o.Data == nil {
				t.Errorf("output %q has neither data nor binary_data_size", o.Name)
			}
			continue
		}
		if o.Data != nil {
			t.Errorf("binary output %q also has data", o.Name)
		}
		if r.header.Get("Inference-Header-Content-Length") == "" {
			t.Fatalf("binary output %q without Inference-Header-Content-Length", o.Name)
		}
		n := int(size.(float64))
		if n > len(rest) {
			t.Fatalf("output %q: binary_data_size %d, %d bytes left", o.Name, n, len(rest))
		}
		bins[o.Name], rest = rest[:n], rest[n:]
	}
	if len(rest) != 0 {
		t.Errorf("%d bytes after the last binary output", len(rest))
	}
	return resp, bins
}

func (r v2InferResponse) output(t *testing.T, name string) v2Tensor {
	t.Helper()
	for _, o := range r.Outputs {
		if o.Name == name {
			return o
		}
	}
	t.Fatalf("no output %q in %+v", name, r.Outputs)
	return v2Tensor{}
}

func (r v2InferResponse) names() []string {
	var out []string
	for _, o := range r.Outputs {
		out = append(out, o.Name)
	}
	return out
}

// ---- values ----------------------------------------------------------------

// v2Datatypes maps the numpy dtype names of expected.json to V2 datatypes.
var v2Datatypes = map[string]string{
	"bool": "BOOL", "uint8": "UINT8", "int8": "INT8", "int16": "INT16", "int32": "INT32",
	"int64": "INT64", "float16": "FP16", "float32": "FP32", "float64": "FP64", "str": "BYTES",
}

// elem is one tensor element, normalised for comparison: int64 for
// integers, float64 for floats, bool, or string.
type elem = any

// v2Elements decodes an output's elements from its JSON data or its binary
// bytes, per its datatype, as a client would.
func v2Elements(t *testing.T, o v2Tensor, bin []byte) []elem {
	t.Helper()
	if bin != nil {
		return v2FromBinary(t, o.Datatype, bin)
	}
	var raw []json.Number
	var strs []string
	var bools []bool
	var err error
	switch o.Datatype {
	case "BYTES":
		err = json.Unmarshal(o.Data, &strs)
		out := make([]elem, len(strs))
		for i, s := range strs {
			out[i] = s
		}
		if err == nil {
			return out
		}
	case "BOOL":
		err = json.Unmarshal(o.Data, &bools)
		out := make([]elem, len(bools))
		for i, b := range bools {
			out[i] = b
		}
		if err == nil {
			return out
		}
	default:
		d := json.NewDecoder(bytes.NewReader(o.Data))
		d.UseNumber()
		err = d.Decode(&raw)
		if err == nil {
			out := make([]elem, len(raw))
			for i, n := range raw {
				out[i] = v2Number(t, o.Datatype, n)
			}
			return out
		}
	}
	t.Fatalf("output %q (%s): data %s: %v", o.Name, o.Datatype, o.Data, err)
	return nil
}

func v2Number(t *testing.T, datatype string, n json.Number) elem {
	t.Helper()
	if strings.HasPrefix(datatype, "FP") {
		f, err := n.Float64()
		if err != nil {
			t.Fatalf("%s element %s: %v", datatype, n, err)
		}
		return f
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%s element %s is not an integer: %v", datatype, n, err)
	}
	return i
}

func v2FromBinary(t *testing.T, datatype string, b []byte) []elem {
	t.Helper()
	var out []elem
	size := map[string]int{"BOOL": 1, "UINT8": 1, "INT8": 1, "INT16": 2, "FP16": 2, "INT32": 4, "FP32": 4, "INT64": 8, "FP64": 8}[datatype]
	if datatype == "BYTES" {
		for len(b) > 0 {
			if len(b) < 4 {
				t.Fatalf("BYTES data ends inside a length prefix")
			}
			n := int(binary.LittleEndian.Uint32(b))
			if n > len(b)-4 {
				t.Fatalf("BYTES element of %d bytes, %d left", n, len(b)-4)
			}
			out = append(out, string(b[4:4+n]))
			b = b[4+n:]
		}
		return out
	}
	if size == 0 || len(b)%size != 0 {
		t.Fatalf("%d bytes of %s", len(b), datatype)
	}
	for i := 0; i < len(b); i += size {
		switch datatype {
		case "BOOL":
			if b[i] > 1 {
				t.Fatalf("BOOL byte %d", b[i])
			}
			out = append(out, b[i] == 1)
		case "UINT8":
			out = append(out, int64(b[i]))
		case "INT8":
			out = append(out, int64(int8(b[i])))
		case "INT16":
			out = append(out, int64(int16(binary.LittleEndian.Uint16(b[i:]))))
		case "INT32":
			out = append(out, int64(int32(binary.LittleEndian.Uint32(b[i:]))))
		case "INT64":
			out = append(out, int64(binary.LittleEndian.Uint64(b[i:])))
		case "FP16":
			out = append(out, float64(float16.FromBits(binary.LittleEndian.Uint16(b[i:])).Float32()))
		case "FP32":
			out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))))
		case "FP64":
			out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(b[i:])))
		}
	}
	return out
}

// v2ToBinary encodes elements in the binary extension's layout: little
// endian, BOOL one byte, BYTES a 4-byte length then the bytes.
func v2ToBinary(datatype string, vals []elem) []byte {
	var b []byte
	for _, v := range vals {
		switch datatype {
		case "BOOL":
			if v.(bool) {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case "UINT8", "INT8":
			b = append(b, byte(v.(int64)))
		case "INT16":
			b = binary.LittleEndian.AppendUint16(b, uint16(v.(int64)))
		case "INT32":
			b = binary.LittleEndian.AppendUint32(b, uint32(v.(int64)))
		case "INT64":
			b = binary.LittleEndian.AppendUint64(b, uint64(v.(int64)))
		case "FP16":
			b = binary.LittleEndian.AppendUint16(b, float16.New(float32(v.(float64))).Uint16())
		case "FP32":
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v.(float64))))
		case "FP64":
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.(float64)))
		case "BYTES":
			s := v.(string)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

// v2Close compares elements: integers, booleans and strings exactly,
// floats within a relative 1e-5 (ONNX Runtime and numpy may sum in a
// different order), NaN equal to NaN.
func v2Close(t *testing.T, what string, got, want []elem) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d elements, want %d", what, len(got), len(want))
		return
	}
	bad := 0
	for i := range got {
		ok := false
		switch w := want[i].(type) {
		case float64:
			g, isF := got[i].(float64)
			ok = isF && (g == w || math.IsNaN(g) && math.IsNaN(w) || math.Abs(g-w) <= 1e-5*math.Max(1, math.Abs(w)))
		default:
			ok = got[i] == want[i]
		}
		if !ok && bad < 5 {
			t.Errorf("%s[%d] = %#v, want %#v", what, i, got[i], want[i])
		}
		if !ok {
			bad++
		}
	}
}

// nest turns flat row-major data into nested lists of the given shape
// (a scalar for shape []), the other JSON form the spec allows.
func nest(data []elem, shape []int64) any {
	if len(shape) == 0 {
		return data[0]
	}
	out := make([]any, 0, shape[0])
	if shape[0] == 0 {
		return out
	}
	chunk := len(data) / int(shape[0])
	for i := 0; i < int(shape[0]); i++ {
		out = append(out, nest(data[i*chunk:(i+1)*chunk], shape[1:]))
	}
	return out
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// ---- reference data ----------------------------------------------------------

// irisRef is examples/iris-onnx/expected.json.
type irisRef struct {
	Input         [][]float64 `json:"input"`
	Probabilities [][]float64 `json:"probabilities"`
	Label         []int64     `json:"label"`
}

func irisDir(t *testing.T) string {
	return filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")
}

func loadIrisRef(t *testing.T) irisRef {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r irisRef
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r irisRef) flatInput() []float64 { return slices.Concat(r.Input...) }

func (r irisRef) flatProbs() []elem {
	var out []elem
	for _, row := range r.Probabilities {
		for _, p := range row {
			out = append(out, p)
		}
	}
	return out
}

func (r irisRef) labels() []elem {
	out := make([]elem, len(r.Label))
	for i, l := range r.Label {
		out[i] = l
	}
	return out
}

func f32Bytes(vals []float64) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
	}
	return b
}

// checkIrisV2 checks a V2 iris response against numpy's outputs.
func checkIrisV2(t *testing.T, resp v2InferResponse, bins map[string][]byte, ref irisRef) {
	t.Helper()
	p := resp.output(t, "probabilities")
	if p.Datatype != "FP32" || !slices.Equal(p.Shape, []int64{int64(len(ref.Label)), 3}) {
		t.Errorf("probabilities: %s %v", p.Datatype, p.Shape)
	}
	v2Close(t, "probabilities", v2Elements(t, p, bins["probabilities"]), ref.flatProbs())
	l := resp.output(t, "label")
	if l.Datatype != "INT64" || !slices.Equal(l.Shape, []int64{int64(len(ref.Label))}) {
		t.Errorf("label: %s %v", l.Datatype, l.Shape)
	}
	v2Close(t, "label", v2Elements(t, l, bins["label"]), ref.labels())
}

// expectedCases reads a test model's expected.json.
type tensorRef struct {
	DType string        `json:"dtype"`
	Shape []int64       `json:"shape"`
	Data  []json.Number `json:"-"`
	Raw   []any         `json:"data"`
}

type caseRef struct {
	Name    string               `json:"name"`
	Inputs  map[string]tensorRef `json:"inputs"`
	Outputs map[string]tensorRef `json:"outputs"`
}

func loadCases(t *testing.T, dir string) []caseRef {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Cases []caseRef }
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.Cases
}

// elems normalises reference data as v2Elements normalises responses.
func (r tensorRef) elems(t *testing.T) []elem {
	t.Helper()
	dt := v2Datatypes[r.DType]
	out := make([]elem, len(r.Raw))
	for i, v := range r.Raw {
		switch x := v.(type) {
		case json.Number:
			out[i] = v2Number(t, dt, x)
		default:
			out[i] = x
		}
	}
	return out
}

func sortedNames(m map[string]tensorRef) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ---- endpoints -------------------------------------------------------------

func TestV2ServerEndpoints(t *testing.T) {
	url := v2Serve(t, irisDir(t), serve.Config{ModelName: "iris", Version: "9.9.9"})

	r := v2Get(t, url+"/v2")
	var md struct {
		Name       string   `json:"name"`
		Version    string   `json:"version"`
		Extensions []string `json:"extensions"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &md) != nil {
		t.Fatalf("server metadata: %d %s", r.status, r.body)
	}
	// tritonclient checks extensions before using the binary extension.
	if md.Name != "mlship" || md.Version != "9.9.9" || !slices.Contains(md.Extensions, "binary_tensor_data") {
		t.Errorf("server metadata %+v", md)
	}
	// Only what is implemented may be listed: no model_repository (there is
	// no load/unload), no classification, no shared memory.
	for _, e := range md.Extensions {
		if e != "binary_tensor_data" {
			t.Errorf("extension %q is advertised but not implemented", e)
		}
	}

	// Probes look at the status only; the small JSON body is for humans
	// and for KServe's Python client, which reads it.
	for path, want := range map[string]string{"/v2/health/live": `{"live":true}`, "/v2/health/ready": `{"ready":true}`} {
		r := v2Get(t, url+path)
		if r.status != 200 || string(r.body) != want || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q %q", path, r.status, r.body, r.header.Get("Content-Type"))
		}
	}
}

func TestV2ModelEndpoints(t *testing.T) {
	url := v2Serve(t, irisDir(t), serve.Config{ModelName: "iris", ModelVersion: "3"})
	ref := loadIrisRef(t)
	infer := `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}`

	for _, prefix := range []string{"/v2/models/iris", "/v2/models/iris/versions/3"} {
		t.Run(prefix, func(t *testing.T) {
			r := v2Get(t, url+prefix)
			var md struct {
				Name     string     `json:"name"`
				Versions []string   `json:"versions"`
				Platform string     `json:"platform"`
				Inputs   []v2Tensor `json:"inputs"`
				Outputs  []v2Tensor `json:"outputs"`
			}
			if r.status != 200 || json.Unmarshal(r.body, &md) != nil {
				t.Fatalf("metadata: %d %s", r.status, r.body)
			}
			// From the MLmodel signature: names, V2 datatypes, -1 for the
			// variable batch dimension, the spec's platform name for ONNX.
			want := `[{input FP32 [-1 4]}] [{probabilities FP32 [-1 3]} {label INT64 [-1]}]`
			if got := metas(md.Inputs) + " " + metas(md.Outputs); got != want {
				t.Errorf("tensors %s, want %s", got, want)
			}
			if md.Name != "iris" || md.Platform != "onnx_onnxv1" || !slices.Equal(md.Versions, []string{"3"}) {
				t.Errorf("metadata %+v", md)
			}

			r = v2Get(t, url+prefix+"/ready")
			if r.status != 200 || string(r.body) != `{"name":"iris","ready":true}` {
				t.Errorf("model ready: %d %s", r.status, r.body)
			}

			// The version is reported whichever path was used.
			resp, bins := v2Parse(t, v2Infer(t, url+prefix+"/infer", infer))
			if resp.ModelName != "iris" || resp.ModelVersion == nil || *resp.ModelVersion != "3" {
				t.Errorf("model_name %q model_version %v", resp.ModelName, resp.ModelVersion)
			}
			checkIrisV2(t, resp, bins, irisRef{Probabilities: ref.Probabilities[:1], Label: ref.Label[:1]})
		})
	}

	// Unknown models and versions are 404 with the V2 error body on every
	// per-model route, with and without /versions.
	for _, path := range []string{
		"/v2/models/nope", "/v2/models/nope/ready", "/v2/models/iris/versions/4", "/v2/models/iris/versions/4/ready",
		"/v2/models/nope/versions/3", "/v2/models/iris/versions//ready", "/v2/models/IRIS",
	} {
		v2WantError(t, v2Get(t, url+path), 404, "unknown model")
	}
	for _, path := range []string{"/v2/models/nope/infer", "/v2/models/iris/versions/4/infer", "/v2/models/nope/versions/3/infer", "/v2/models/iris/versions//infer"} {
		v2WantError(t, v2Infer(t, url+path, infer), 404, "unknown model")
	}
	// Wrong verbs and unknown V2 paths still answer in the V2 envelope.
	v2WantError(t, v2Get(t, url+"/v2/models/iris/infer"), 405, "not allowed")
	v2WantError(t, v2Get(t, url+"/v2/repository/index"), 404, "No endpoint")
}

func metas(ts []v2Tensor) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("{%s %s %v}", t.Name, t.Datatype, t.Shape))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// TestV2ModelWithoutVersion: a server that was given no version omits
// model_version (the spec: servers without versioning should) and answers
// no versioned path.
func TestV2ModelWithoutVersion(t *testing.T) {
	url := v2Serve(t, irisDir(t), serve.Config{ModelName: "iris"})
	r := v2Infer(t, url+"/v2/models/iris/infer", `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}`)
	if resp, _ := v2Parse(t, r); resp.ModelVersion != nil || bytes.Contains(r.body, []byte("model_version")) {
		t.Errorf("model_version present: %s", r.body)
	}
	if r := v2Get(t, url+"/v2/models/iris"); bytes.Contains(r.body, []byte("versions")) {
		t.Errorf("metadata lists versions: %s", r.body)
	}
	v2WantError(t, v2Get(t, url+"/v2/models/iris/versions/1"), 404, "version 1")
}

// TestV2ModelNames follows the naming rules: --model-name, else
// registered_model_meta (what MLflow writes when it downloads a registered
// model), else the model directory's name.
func TestV2ModelNames(t *testing.T) {
	t.Run("directory name", func(t *testing.T) {
		url := v2Serve(t, irisDir(t), serve.Config{})
		if r := v2Get(t, url+"/v2/models/model/ready"); r.status != 200 {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	withMeta := testenv.CopyDir(t, irisDir(t))
	if err := os.WriteFile(filepath.Join(withMeta, mlmodel.RegisteredModelMetaFile), []byte("model_name: iris-prod\nmodel_version: '7'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("registered_model_meta", func(t *testing.T) {
		url := v2Serve(t, withMeta, serve.Config{})
		if r := v2Get(t, url+"/v2/models/iris-prod/versions/7/ready"); r.status != 200 {
			t.Errorf("%d %s", r.status, r.body)
		}
		v2WantError(t, v2Get(t, url+"/v2/models/model"), 404, "unknown model")
	})
	t.Run("configured name wins", func(t *testing.T) {
		// A name with a space: tritonclient URL-quotes the name, and the
		// route must match the unescaped one.
		url := v2Serve(t, withMeta, serve.Config{ModelName: "iris classifier"})
		r := v2Get(t, url+"/v2/models/iris%20classifier")
		if r.status != 200 || !bytes.Contains(r.body, []byte(`"name":"iris classifier"`)) {
			t.Errorf("%d %s", r.status, r.body)
		}
		// The version still comes from registered_model_meta.
		if !bytes.Contains(r.body, []byte(`"versions":["7"]`)) {
			t.Errorf("versions: %s", r.body)
		}
	})
}

// TestV2MetadataFromGraph: without a signature, the tensors are described
// from the ONNX graph itself, symbolic dimensions as -1.
func TestV2MetadataFromGraph(t *testing.T) {
	dir := testenv.CopyDir(t, irisDir(t))
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m.Signature = nil
	if err := m.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
	url := v2Serve(t, dir, serve.Config{ModelName: "iris"})
	r := v2Get(t, url+"/v2/models/iris")
	var md struct{ Inputs, Outputs []v2Tensor }
	if r.status != 200 || json.Unmarshal(r.body, &md) != nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got, want := metas(md.Inputs)+" "+metas(md.Outputs), `[{input FP32 [-1 4]}] [{probabilities FP32 [-1 3]} {label INT64 [-1]}]`; got != want {
		t.Errorf("tensors %s, want %s", got, want)
	}
	// Requests are checked against those names too.
	v2WantError(t, v2Infer(t, url+"/v2/models/iris/infer", `{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}`), 400, "unexpected inference input 'x'")
	resp, bins := v2Parse(t, v2Infer(t, url+"/v2/models/iris/infer", `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}`))
	ref := loadIrisRef(t)
	checkIrisV2(t, resp, bins, irisRef{Probabilities: ref.Probabilities[:1], Label: ref.Label[:1]})
}

// ---- inference over JSON -------------------------------------------------------

func TestV2InferJSON(t *testing.T) {
	url := v2Serve(t, irisDir(t), serve.Config{ModelName: "iris"}) + "/v2/models/iris/infer"
	ref := loadIrisRef(t)
	n := len(ref.Input)

	t.Run("nested and flat data", func(t *testing.T) {
		for _, data := range []string{mustJSON(ref.Input), mustJSON(ref.flatInput())} {
			body := `{"id": "req-42", "inputs": [{"name": "input", "shape": [` + strconv.Itoa(n) + `, 4], "datatype": "FP32", "data": ` + data + `}]}`
			r := v2Infer(t, url, body)
			resp, bins := v2Parse(t, r)
			if resp.ID == nil || *resp.ID != "req-42" || resp.ModelName != "iris" {
				t.Errorf("id %v model_name %q", resp.ID, resp.ModelName)
			}
			if len(bins) != 0 {
				t.Errorf("binary outputs nobody asked for: %v", bins)
			}
			// Responses are flat, as Triton and MLServer answer.
			if !bytes.Contains(r.body, []byte(`"data":[0`)) {
				t.Errorf("probabilities not flat: %s", r.body)
			}
			checkIrisV2(t, resp, bins, ref)
		}
	})
	t.Run("integers for a float input", func(t *testing.T) {
		// JSON has one number type: integer tokens fill an FP32 tensor.
		resp, bins := v2Parse(t, v2Infer(t, url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [6, 3, 6, 2]}]}`))
		if got := v2Elements(t, resp.output(t, "label"), bins["label"]); !slices.Equal(got, []elem{int64(2)}) {
			t.Errorf("label %v", got)
		}
	})
	t.Run("outputs filter", func(t *testing.T) {
		resp, _ := v2Parse(t, v2Infer(t, url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}], "outputs": [{"name": "label"}]}`))
		if !slices.Equal(resp.names(), []string{"label"}) {
			t.Errorf("outputs %v, want only label", resp.names())
		}
		// Requested order is response order.
		resp, _ = v2Parse(t, v2Infer(t, url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}], "outputs": [{"name": "label"}, {"name": "probabilities"}]}`))
		if !slices.Equal(resp.names(), []string{"label", "probabilities"}) {
			t.Errorf("outputs %v", resp.names())
		}
		// An empty list is no filter (Triton and KServe read it so).
		resp, _ = v2Parse(t, v2Infer(t, url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}], "outputs": []}`))
		if !slices.Equal(resp.names(), []string{"probabilities", "label"}) {
			t.Errorf("outputs %v for an empty filter", resp.names())
		}
	})
	t.Run("NaN and Infinity", func(t *testing.T) {
		// Python's json.dumps writes NaN for numpy's nan; the server reads
		// it and answers in the same dialect, which json.loads reads.
		r := v2Infer(t, url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [NaN, Infinity, -Infinity, 1]}], "outputs": [{"name": "probabilities"}]}`)
		if r.status != 200 || !bytes.Contains(r.body, []byte(`"data":[NaN,NaN,NaN]`)) {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("empty batch", func(t *testing.T) {
		resp, bins := v2Parse(t, v2Infer(t, url, `{"inputs": [{"name": "input", "shape": [0, 4], "datatype": "FP32", "data": []}]}`))
		checkIrisV2(t, resp, bins, irisRef{})
	})
}

// TestV2Errors: every malformed request is refused before or by the model
// with a 4xx and the V2 error body; none is answered 200.
func TestV2Errors(t *testing.T) {
	base := v2Serve(t, irisDir(t), serve.Config{ModelName: "iris"})
	url := base + "/v2/models/iris/infer"
	multi := v2Serve(t, filepath.Join(testenv.RepoRoot(t), "flavors", "onnx", "testdata", "models", "multi_io"), serve.Config{}) + "/v2/models/multi_io/infer"
	in := func(shape, dt, data string) string {
		return `{"inputs": [{"name": "input", "shape": ` + shape + `, "datatype": "` + dt + `", "data": ` + data + `}]}`
	}
	tests := []struct {
		name, url, body, want string
	}{
		{"bad JSON", url, `{"inputs": [`, "failed to parse the request JSON"},
		{"trailing garbage", url, in("[1, 4]", "FP32", "[1, 2, 3, 4]") + "x", "failed to parse the request JSON"},
		{"not an object", url, `[1, 2]`, "must be a JSON object"},
		{"no inputs", url, `{"id": "a"}`, "no 'inputs'"},
		{"unknown input", url, `{"inputs": [{"name": "inputs", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}`, "unexpected inference input 'inputs' for model 'iris'"},
		{"extra input", url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}, {"name": "z", "shape": [1], "datatype": "FP32", "data": [1]}]}`, "unexpected inference input 'z'"},
		{"missing input", multi, `{"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}`, "missing: [b]"},
		{"duplicate input", url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}, {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}`, "more than once"},
		{"too few elements", url, in("[2, 4]", "FP32", "[1, 2, 3, 4]"), "needs 8 elements, data has 4"},
		{"too many elements", url, in("[1, 4]", "FP32", "[1, 2, 3, 4, 5]"), "needs 4 elements, data has 5"},
		{"ragged nesting", url, in("[2, 4]", "FP32", "[[1, 2, 3, 4], [5, 6, 7]]"), "ragged"},
		{"shape the model refuses", url, in("[1, 3]", "FP32", "[1, 2, 3]"), "Got: 3 Expected: 4"},
		{"rank the model refuses", url, in("[4]", "FP32", "[1, 2, 3, 4]"), "Invalid rank"},
		{"lowercase datatype", url, in("[1, 4]", "fp32", "[1, 2, 3, 4]"), "datatypes are upper case"},
		{"unknown datatype", url, in("[1, 4]", "FLOAT", "[1, 2, 3, 4]"), "invalid datatype"},
		{"strings for numbers", url, in("[1, 4]", "FP32", `["1", "2", "3", "4"]`), "expected FP32, got a string"},
		{"BYTES for a float input", url, in("[1, 4]", "BYTES", `["1", "2", "3", "4"]`), "cannot convert"},
		{"BF16 as JSON", url, in("[1, 4]", "BF16", "[1, 2, 3, 4]"), "BF16 has no JSON form"},
		{"null element", url, in("[1, 4]", "FP32", "[1, null, 3, 4]"), "null is not a valid tensor element"},
		{"fraction for an integer", multi, `{"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}, {"name": "b", "shape": [1], "datatype": "INT64", "data": [1.5]}]}`, "1.5 is not an integer"},
		{"negative dimension", url, in("[-1, 4]", "FP32", "[1, 2, 3, 4]"), "non-negative"},
		{"no shape", url, `{"inputs": [{"name": "input", "datatype": "FP32", "data": [1, 2, 3, 4]}]}`, "has no 'shape'"},
		{"no data", url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32"}]}`, "has no 'data'"},
		{"shape overflowing int64", url, in("[65536, 65536, 65536, 65536]", "FP32", "[]"), "too many elements"},
		{"empty tensor with huge batch", url, in("[2147483647, 0]", "FP32", "[]"), "no elements but 2147483647 rows"},
		{"unknown output", url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}], "outputs": [{"name": "logits"}]}`, "unexpected inference output 'logits' for model 'iris'"},
		{"output twice", url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}], "outputs": [{"name": "label"}, {"name": "label"}]}`, "requested more than once"},
		{"classification extension", url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}], "outputs": [{"name": "probabilities", "parameters": {"classification": 2}}]}`, "'classification' is not supported"},
		{"id not a string", url, `{"id": 7, "inputs": []}`, "'id' must be a string"},
		{"parameter object", url, `{"parameters": {"x": [1]}, "inputs": []}`, "string, number or boolean"},
		{"binary_data_output not a boolean", url, `{"parameters": {"binary_data_output": 1}, "inputs": []}`, "must be a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v2WantError(t, v2Infer(t, tt.url, tt.body), 400, tt.want)
		})
	}
	// None of it hurt the server.
	if r := v2Get(t, base+"/v2/health/ready"); r.status != 200 {
		t.Errorf("ready after errors: %d %s", r.status, r.body)
	}
}

// ---- every datatype, both encodings ---------------------------------------

// TestV2Datatypes sends every reference case of the ONNX test models
// through V2 in four ways (JSON or binary in, JSON or binary out; JSON
// inputs nested for some, flat for others) and compares the outputs with
// numpy's. The identity models cover each datatype (BOOL, UINT8,
// INT8/16/32/64, FP16, FP32, FP64, BYTES); the others cover several
// inputs, scalars, outputs that cannot share a batch dimension, unknown
// ranks and empty batches.
func TestV2Datatypes(t *testing.T) {
	root := filepath.Join(testenv.RepoRoot(t), "flavors", "onnx", "testdata", "models")
	models := []string{
		"identity_bool", "identity_uint8", "identity_int8", "identity_int16", "identity_int32", "identity_int64",
		"identity_float16", "identity_float32", "identity_float64", "identity_str",
		"multi_io", "int_scale", "linear", "scalar", "unbatched_outputs", "seq_mean", "stack_int", "stack_str",
		"half_to_float", "unknown_rank", "external_data",
	}
	type mode struct {
		name           string
		binIn, binOut  bool
		nested, global bool // nested JSON data; binary_data_output instead of per-output
	}
	modes := []mode{
		{name: "json nested", nested: true},
		{name: "json flat"},
		{name: "binary in", binIn: true},
		{name: "binary out", binOut: true},
		{name: "binary both", binIn: true, binOut: true, global: true},
	}
	for _, model := range models {
		t.Run(model, func(t *testing.T) {
			dir := filepath.Join(root, model)
			url := v2Serve(t, dir, serve.Config{}) + "/v2/models/" + model
			cases := loadCases(t, dir)
			checkMetadata(t, url, dir, cases)
			for _, c := range cases {
				for _, m := range modes {
					t.Run(c.Name+"/"+m.name, func(t *testing.T) {
						var ins []string
						var blocks [][]byte
						for _, name := range sortedNames(c.Inputs) {
							in := c.Inputs[name]
							dt := v2Datatypes[in.DType]
							head := `{"name": ` + mustJSON(name) + `, "shape": ` + mustJSON(in.Shape) + `, "datatype": "` + dt + `"`
							if m.binIn {
								b := v2ToBinary(dt, in.elems(t))
								blocks = append(blocks, b)
								ins = append(ins, head+`, "parameters": {"binary_data_size": `+strconv.Itoa(len(b))+`}}`)
								continue
							}
							var data any = in.Raw
							if m.nested {
								data = nest(in.elems(t), in.Shape)
							}
							ins = append(ins, head+`, "data": `+mustJSON(data)+`}`)
						}
						body := `{"inputs": [` + strings.Join(ins, ", ") + `]`
						switch {
						case m.global:
							body += `, "parameters": {"binary_data_output": true}`
						case m.binOut:
							var outs []string
							for _, name := range sortedNames(c.Outputs) {
								outs = append(outs, `{"name": `+mustJSON(name)+`, "parameters": {"binary_data": true}}`)
							}
							body += `, "outputs": [` + strings.Join(outs, ", ") + `]`
						}
						body += "}"
						var r v2Resp
						if m.binIn {
							r = v2Binary(t, url+"/infer", body, blocks...)
						} else {
							r = v2Infer(t, url+"/infer", body)
						}
						resp, bins := v2Parse(t, r)
						if len(resp.Outputs) != len(c.Outputs) {
							t.Fatalf("outputs %v, want %d", resp.names(), len(c.Outputs))
						}
						for name, want := range c.Outputs {
							o := resp.output(t, name)
							if _, isBin := bins[name]; isBin != m.binOut {
								t.Errorf("output %s binary=%v, want %v", name, isBin, m.binOut)
							}
							if o.Datatype != v2Datatypes[want.DType] || !slices.Equal(o.Shape, want.Shape) {
								t.Errorf("output %s: %s %v, want %s %v", name, o.Datatype, o.Shape, v2Datatypes[want.DType], want.Shape)
							}
							v2Close(t, name, v2Elements(t, o, bins[name]), want.elems(t))
						}
					})
				}
			}
		})
	}
}

// checkMetadata compares the model metadata's datatypes and ranks with
// the reference case's tensors.
func checkMetadata(t *testing.T, url, dir string, cases []caseRef) {
	t.Helper()
	r := v2Get(t, url)
	var md struct{ Inputs, Outputs []v2Tensor }
	if r.status != 200 || json.Unmarshal(r.body, &md) != nil {
		t.Fatalf("metadata: %d %s", r.status, r.body)
	}
	if len(cases) == 0 {
		return
	}
	check := func(kind string, ts []v2Tensor, refs map[string]tensorRef) {
		if len(ts) != len(refs) {
			t.Errorf("%s metadata has %d tensors, want %d", kind, len(ts), len(refs))
		}
		for _, m := range ts {
			ref, ok := refs[m.Name]
			if !ok {
				t.Errorf("%s metadata names %q, which the model does not have", kind, m.Name)
				continue
			}
			if m.Datatype != v2Datatypes[ref.DType] {
				t.Errorf("%s %s: metadata says %s, the data is %s", kind, m.Name, m.Datatype, ref.DType)
			}
		}
	}
	check("input", md.Inputs, cases[0].Inputs)
	check("output", md.Outputs, cases[0].Outputs)
}

// ---- binary tensor data extension ------------------------------------------

func TestV2Binary(t *testing.T) {
	url := v2Serve(t, irisDir(t), serve.Config{ModelName: "iris"}) + "/v2/models/iris/infer"
	ref := loadIrisRef(t)
	n := strconv.Itoa(len(ref.Input))
	data := f32Bytes(ref.flatInput())
	input := `{"name": "input", "shape": [` + n + `, 4], "datatype": "FP32", "parameters": {"binary_data_size": ` + strconv.Itoa(len(data)) + `}}`

	t.Run("binary input, JSON outputs", func(t *testing.T) {
		r := v2Binary(t, url, `{"inputs": [`+input+`]}`, data)
		resp, bins := v2Parse(t, r)
		if len(bins) != 0 {
			t.Errorf("binary outputs not asked for")
		}
		checkIrisV2(t, resp, bins, ref)
	})
	t.Run("per-output binary_data", func(t *testing.T) {
		r := v2Binary(t, url, `{"inputs": [`+input+`], "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}, {"name": "label", "parameters": {"binary_data": false}}]}`, data)
		resp, bins := v2Parse(t, r)
		if _, ok := bins["probabilities"]; !ok || len(bins["probabilities"]) != 4*3*len(ref.Input) {
			t.Errorf("probabilities: %d binary bytes", len(bins["probabilities"]))
		}
		if _, ok := bins["label"]; ok {
			t.Errorf("label sent binary though binary_data is false")
		}
		checkIrisV2(t, resp, bins, ref)
	})
	t.Run("binary_data_output with outputs omitted", func(t *testing.T) {
		// What tritonclient sends when the caller names no outputs.
		resp, bins := v2Parse(t, v2Infer(t, url, `{"inputs": [{"name": "input", "shape": [`+n+`, 4], "datatype": "FP32", "data": `+mustJSON(ref.flatInput())+`}], "parameters": {"binary_data_output": true}}`))
		if len(bins) != 2 || len(bins["label"]) != 8*len(ref.Input) {
			t.Errorf("binary outputs %v", bins)
		}
		checkIrisV2(t, resp, bins, ref)
	})
	t.Run("binary_data overrides binary_data_output", func(t *testing.T) {
		resp, bins := v2Parse(t, v2Binary(t, url, `{"inputs": [`+input+`], "parameters": {"binary_data_output": true}, "outputs": [{"name": "label", "parameters": {"binary_data": false}}, {"name": "probabilities"}]}`, data))
		if _, ok := bins["label"]; ok || bins["probabilities"] == nil {
			t.Errorf("binary outputs %v", bins)
		}
		checkIrisV2(t, resp, bins, ref)
	})
	t.Run("binary output of a JSON request", func(t *testing.T) {
		r := v2Infer(t, url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}], "outputs": [{"name": "label", "parameters": {"binary_data": true}}]}`)
		// The header length is exact: the JSON part ends where it says.
		h, _ := strconv.Atoi(r.header.Get("Inference-Header-Content-Length"))
		if r.status != 200 || h == 0 || r.body[h-1] != '}' || len(r.body)-h != 8 {
			t.Fatalf("%d header %d body %q", r.status, h, r.body)
		}
		if got := int64(binary.LittleEndian.Uint64(r.body[h:])); got != ref.Label[0] {
			t.Errorf("label %d", got)
		}
	})
	t.Run("BF16 binary input becomes FP32", func(t *testing.T) {
		// bfloat16 is the top half of a float32: the model must see exactly
		// the float32 values the bfloat16 ones stand for, so the answer must
		// equal an FP32 request of those values bit for bit.
		var bf []byte
		var widened []float64
		for _, v := range ref.flatInput() {
			top := uint16(math.Float32bits(float32(v)) >> 16)
			bf = binary.LittleEndian.AppendUint16(bf, top)
			widened = append(widened, float64(math.Float32frombits(uint32(top)<<16)))
		}
		got := v2Binary(t, url, `{"inputs": [{"name": "input", "shape": [`+n+`, 4], "datatype": "BF16", "parameters": {"binary_data_size": `+strconv.Itoa(len(bf))+`}}]}`, bf)
		want := v2Binary(t, url, `{"inputs": [`+input+`]}`, f32Bytes(widened))
		if got.status != 200 || !bytes.Equal(got.body, want.body) {
			t.Errorf("BF16 %d %s\nFP32 %d %s", got.status, got.body, want.status, want.body)
		}
	})
	t.Run("mixed JSON and binary inputs", func(t *testing.T) {
		// Binary blocks follow the order of the inputs that carry them;
		// an input with JSON data contributes no bytes.
		dir := filepath.Join(testenv.RepoRoot(t), "flavors", "onnx", "testdata", "models", "multi_io")
		murl := v2Serve(t, dir, serve.Config{}) + "/v2/models/multi_io/infer"
		c := loadCases(t, dir)[0]
		a, b := c.Inputs["a"], c.Inputs["b"]
		ab, bb := v2ToBinary("FP32", a.elems(t)), v2ToBinary("INT64", b.elems(t))
		aJSON := `{"name": "a", "shape": [5, 3], "datatype": "FP32", "data": ` + mustJSON(a.Raw) + `}`
		bJSON := `{"name": "b", "shape": [5], "datatype": "INT64", "data": ` + mustJSON(b.Raw) + `}`
		aBin := `{"name": "a", "shape": [5, 3], "datatype": "FP32", "parameters": {"binary_data_size": 60}}`
		bBin := `{"name": "b", "shape": [5], "datatype": "INT64", "parameters": {"binary_data_size": 40}}`
		for _, r := range []v2Resp{
			v2Binary(t, murl, `{"inputs": [`+aBin+`, `+bJSON+`]}`, ab),
			v2Binary(t, murl, `{"inputs": [`+aJSON+`, `+bBin+`]}`, bb),
			v2Binary(t, murl, `{"inputs": [`+bBin+`, `+aBin+`]}`, bb, ab),
		} {
			resp, bins := v2Parse(t, r)
			for name, want := range c.Outputs {
				o := resp.output(t, name)
				v2Close(t, name, v2Elements(t, o, bins[name]), want.elems(t))
			}
		}
	})
}

// TestV2BinaryErrors: the header arithmetic is checked, and every
// inconsistency is a 400, never a 200 built from misread bytes.
func TestV2BinaryErrors(t *testing.T) {
	base := v2Serve(t, irisDir(t), serve.Config{ModelName: "iris"})
	url := base + "/v2/models/iris/infer"
	data := f32Bytes([]float64{5.1, 3.5, 1.4, 0.2})
	header := `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]}`
	body := append([]byte(header), data...)
	post := func(body []byte, hlen string) v2Resp {
		return v2Do(t, "POST", url, body, "Inference-Header-Content-Length", hlen)
	}
	// The well-formed request first, so that the failures below are about
	// the arithmetic alone.
	if r := post(body, strconv.Itoa(len(header))); r.status != 200 {
		t.Fatalf("well-formed: %d %s", r.status, r.body)
	}
	v2WantError(t, post(body, strconv.Itoa(len(body)+1)), 400, "larger than the request body")
	v2WantError(t, post(append(slices.Clone(body), 0, 0, 0, 0), strconv.Itoa(len(header))), 400, "4 bytes of binary data that no input claims")
	v2WantError(t, post(body[:len(body)-4], strconv.Itoa(len(header))), 400, "exceeds the 12 bytes")
	v2WantError(t, post(body, strconv.Itoa(len(header)-1)), 400, "failed to parse the request JSON")
	v2WantError(t, post(body, "-3"), 400, "invalid Inference-Header-Content-Length")
	v2WantError(t, post(body, "sixteen"), 400, "invalid Inference-Header-Content-Length")
	// Binary data without the header is not JSON.
	v2WantError(t, v2Do(t, "POST", url, body), 400, "failed to parse the request JSON")
	// binary_data_size that disagrees with shape × element size.
	short := `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 12}}]}`
	v2WantError(t, post(append([]byte(short), data[:12]...), strconv.Itoa(len(short))), 400, "needs 16 bytes, binary_data_size is 12")
	v2WantError(t, v2Binary(t, url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4], "parameters": {"binary_data_size": 16}}]}`, data), 400, "both 'data' and binary_data_size")
	v2WantError(t, v2Binary(t, url, `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": -16}}]}`, data), 400, "non-negative integer")

	root := filepath.Join(testenv.RepoRoot(t), "flavors", "onnx", "testdata", "models")
	boolURL := v2Serve(t, filepath.Join(root, "identity_bool"), serve.Config{}) + "/v2/models/identity_bool/infer"
	boolHeader := `{"inputs": [{"name": "x", "shape": [1, 2, 3], "datatype": "BOOL", "parameters": {"binary_data_size": 6}}]}`
	v2WantError(t, v2Binary(t, boolURL, boolHeader, []byte{1, 0, 2, 0, 0, 1}), 400, "BOOL element 2 is 2")

	strURL := v2Serve(t, filepath.Join(root, "identity_str"), serve.Config{}) + "/v2/models/identity_str/infer"
	strHeader := func(size int) string {
		return `{"inputs": [{"name": "x", "shape": [1, 2, 3], "datatype": "BYTES", "parameters": {"binary_data_size": ` + strconv.Itoa(size) + `}}]}`
	}
	six := v2ToBinary("BYTES", []elem{"a", "", "ccc", "d", "é", "f"})
	if r := v2Binary(t, strURL, strHeader(len(six)), six); r.status != 200 {
		t.Fatalf("well-formed BYTES: %d %s", r.status, r.body)
	}
	v2WantError(t, v2Binary(t, strURL, strHeader(len(six)-1), six[:len(six)-1]), 400, "claims 1 bytes, 0 left")
	v2WantError(t, v2Binary(t, strURL, strHeader(len(six)+2), append(slices.Clone(six), 0, 0)), 400, "2 bytes left after 6 BYTES elements")
	v2WantError(t, v2Binary(t, strURL, strHeader(len(six)-5), six[:len(six)-5]), 400, "ends inside element 5's length prefix")
}

// TestV2RawBinary: Inference-Header-Content-Length: 0 makes the whole body
// the only input's bytes; the batch dimension is deduced from the length
// and every output comes back binary.
func TestV2RawBinary(t *testing.T) {
	url := v2Serve(t, irisDir(t), serve.Config{ModelName: "iris"}) + "/v2/models/iris/infer"
	ref := loadIrisRef(t)
	r := v2Do(t, "POST", url, f32Bytes(ref.flatInput()), "Content-Type", "application/octet-stream", "Inference-Header-Content-Length", "0")
	resp, bins := v2Parse(t, r)
	if len(bins) != 2 {
		t.Errorf("raw request outputs not all binary: %s", r.body)
	}
	checkIrisV2(t, resp, bins, ref)

	v2WantError(t, v2Do(t, "POST", url, f32Bytes(ref.flatInput())[:17], "Inference-Header-Content-Length", "0"), 400, "does not fit input 'input'")
	// A whole number of float32 values that is not a whole number of rows.
	v2WantError(t, v2Do(t, "POST", url, f32Bytes([]float64{1, 2, 3}), "Inference-Header-Content-Length", "0"), 400, "does not fit input 'input'")
	multi := v2Serve(t, filepath.Join(testenv.RepoRoot(t), "flavors", "onnx", "testdata", "models", "multi_io"), serve.Config{})
	v2WantError(t, v2Do(t, "POST", multi+"/v2/models/multi_io/infer", make([]byte, 20), "Inference-Header-Content-Length", "0"), 400, "exactly one input")
}

// ---- what clients send -------------------------------------------------

// TestV2TritonClientRequest replays, byte for byte, what Python's
// tritonclient.http sends for
//
//	inp = httpclient.InferInput("input", [3, 4], "FP32")
//	inp.set_data_from_numpy(x)            # binary_data=True by default
//	client.infer("iris", [inp], request_id="r1")
//
// json.dumps spacing, "parameters" last, binary_data_output because no
// outputs were named, and reads the answer as InferResult.as_numpy does.
func TestV2TritonClientRequest(t *testing.T) {
	url := v2Serve(t, irisDir(t), serve.Config{ModelName: "iris"})
	ref := loadIrisRef(t)
	data := f32Bytes(ref.flatInput())
	header := `{"id": "r1", "inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32", "parameters": {"binary_data_size": 48}}], "parameters": {"binary_data_output": true}}`
	r := v2Do(t, "POST", url+"/v2/models/iris/infer", append([]byte(header), data...),
		"Inference-Header-Content-Length", strconv.Itoa(len(header)), "Accept-Encoding", "identity")
	resp, bins := v2Parse(t, r)
	if resp.ID == nil || *resp.ID != "r1" || len(bins) != 2 {
		t.Errorf("id %v, binary outputs %d: %s", resp.ID, len(bins), r.body)
	}
	checkIrisV2(t, resp, bins, ref)

	// InferInput(..., "FP32").set_data_from_numpy(x, binary_data=False)
	// with InferRequestedOutput("label", binary_data=False).
	body := `{"inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32", "data": ` + mustJSON(ref.flatInput()) + `}], "outputs": [{"name": "label", "parameters": {"binary_data": false}}]}`
	resp, bins = v2Parse(t, v2Do(t, "POST", url+"/v2/models/iris/infer", []byte(body)))
	if !slices.Equal(resp.names(), []string{"label"}) || len(bins) != 0 {
		t.Errorf("outputs %v binary %d", resp.names(), len(bins))
	}
	v2Close(t, "label", v2Elements(t, resp.output(t, "label"), nil), ref.labels())
}

// TestV2MatchesInvocations: the two protocols run the same model on the
// same data, so they must give the same float32 values bit for bit
// (MLflow prints them through float64, V2 at float32 precision; both
// parse back to the same float32).
func TestV2MatchesInvocations(t *testing.T) {
	url := v2Serve(t, irisDir(t), serve.Config{ModelName: "iris"})
	ref := loadIrisRef(t)
	r := v2Do(t, "POST", url+"/invocations", []byte(`{"inputs": `+mustJSON(ref.Input)+`}`), "Content-Type", "application/json")
	if r.status != 200 {
		t.Fatalf("/invocations: %d %s", r.status, r.body)
	}
	var ml struct {
		Predictions struct {
			Probabilities [][]float64 `json:"probabilities"`
			Label         []int64     `json:"label"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(r.body, &ml); err != nil {
		t.Fatal(err)
	}
	var mlBits []uint32
	for _, row := range ml.Predictions.Probabilities {
		for _, p := range row {
			mlBits = append(mlBits, math.Float32bits(float32(p)))
		}
	}
	for _, binOut := range []bool{false, true} {
		body := `{"inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32", "data": ` + mustJSON(ref.Input) + `}], "parameters": {"binary_data_output": ` + strconv.FormatBool(binOut) + `}}`
		resp, bins := v2Parse(t, v2Infer(t, url+"/v2/models/iris/infer", body))
		var v2Bits []uint32
		for _, e := range v2Elements(t, resp.output(t, "probabilities"), bins["probabilities"]) {
			v2Bits = append(v2Bits, math.Float32bits(float32(e.(float64))))
		}
		if !slices.Equal(v2Bits, mlBits) {
			t.Errorf("binary=%v: V2 probabilities %x, /invocations %x", binOut, v2Bits, mlBits)
		}
		labels := v2Elements(t, resp.output(t, "label"), bins["label"])
		for i, l := range ml.Predictions.Label {
			if labels[i] != l {
				t.Errorf("row %d: V2 label %v, /invocations %d", i, labels[i], l)
			}
		}
	}
}

// ---- the running server: batching and readiness ---------------------------------

// v2Run serves s on a loopback listener with Serve (the batcher running,
// warm-up and readiness as in production) and waits until it is ready. It
// returns the URL, a function that starts shutdown, and one that waits for
// Serve to return (also run at cleanup).
func v2Run(t *testing.T, s *serve.Server) (url string, shutdown func(), wait func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	wait = func() error {
		once.Do(func() { serveErr = <-done })
		return serveErr
	}
	t.Cleanup(func() {
		cancel()
		_ = wait()
	})
	url = "http://" + ln.Addr().String()
	deadline := time.Now().Add(10 * time.Second)
	for v2Get(t, url+"/v2/health/ready").status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("server never became ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return url, cancel, wait
}

// TestV2Batched: concurrent V2 requests (JSON and binary, with and without
// binary outputs) merged by the batcher each get exactly their own rows
// back.
func TestV2Batched(t *testing.T) {
	m, p := v2Load(t, irisDir(t))
	s := serve.New(p, serve.Config{Model: m, Flavor: "onnx", ModelName: "iris",
		Batch: serve.BatchConfig{MaxBatchRows: 64, MaxBatchDelay: 2 * time.Millisecond, MaxQueue: 1000}})
	url, _, _ := v2Run(t, s)
	ref := loadIrisRef(t)
	type call struct {
		id     string
		req    *http.Request
		sub    irisRef
		resp   v2Resp
		err    error
		header string
	}
	calls := make([]*call, 48)
	for i := range calls {
		// Request i asks for 1 to 3 rows starting at row i%3, so a mix-up
		// between merged requests shows as wrong numbers or row counts.
		k := 1 + i%3
		c := &call{id: strconv.Itoa(i)}
		var rows [][]float64
		for j := range k {
			row := (i + j) % 3
			rows = append(rows, ref.Input[row])
			c.sub.Probabilities = append(c.sub.Probabilities, ref.Probabilities[row])
			c.sub.Label = append(c.sub.Label, ref.Label[row])
		}
		shape := `[` + strconv.Itoa(k) + `, 4]`
		var body []byte
		if i%2 == 0 {
			body = []byte(`{"id": "` + c.id + `", "inputs": [{"name": "input", "shape": ` + shape + `, "datatype": "FP32", "data": ` + mustJSON(rows) + `}]}`)
		} else {
			b := f32Bytes(slices.Concat(rows...))
			h := `{"id": "` + c.id + `", "inputs": [{"name": "input", "shape": ` + shape + `, "datatype": "FP32", "parameters": {"binary_data_size": ` + strconv.Itoa(len(b)) + `}}], "parameters": {"binary_data_output": true}}`
			body = append([]byte(h), b...)
			c.header = strconv.Itoa(len(h))
		}
		req, err := http.NewRequest("POST", url+"/v2/models/iris/infer", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if c.header != "" {
			req.Header.Set("Inference-Header-Content-Length", c.header)
		}
		c.req = req
		calls[i] = c
	}
	// Only HTTP happens on the other goroutines; the checks (which may
	// call t.Fatal) run here afterwards.
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			resp, err := http.DefaultClient.Do(c.req)
			if err != nil {
				c.err = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			c.resp, c.err = v2Resp{resp.StatusCode, resp.Header, b}, err
		})
	}
	wg.Wait()
	for _, c := range calls {
		if c.err != nil {
			t.Fatalf("request %s: %v", c.id, c.err)
		}
		resp, bins := v2Parse(t, c.resp)
		if resp.ID == nil || *resp.ID != c.id {
			t.Errorf("request %s answered as %v", c.id, resp.ID)
		}
		checkIrisV2(t, resp, bins, c.sub)
	}
	// The point is the split after a merge: make sure merges happened
	// (fewer model calls than requests), or the test proved nothing.
	metrics := v2Get(t, url+"/metrics")
	var sum, count float64
	for _, line := range strings.Split(string(metrics.body), "\n") {
		if v, ok := strings.CutPrefix(line, "mlship_batch_requests_sum "); ok {
			sum, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(line, "mlship_batch_requests_count "); ok {
			count, _ = strconv.ParseFloat(v, 64)
		}
	}
	if sum < float64(len(calls)) || count == 0 || count >= sum {
		t.Errorf("%v requests in %v model calls: nothing was merged", sum, count)
	}
}

// TestV2ReadinessWhileDraining: once shutdown starts, server and model
// readiness fail (503, so probes take the pod out) while liveness holds
// and requests in the grace period are still served.
func TestV2ReadinessWhileDraining(t *testing.T) {
	m, p := v2Load(t, irisDir(t))
	s := serve.New(p, serve.Config{Model: m, Flavor: "onnx", ModelName: "iris", DrainGrace: 2 * time.Second})
	url, shutdown, wait := v2Run(t, s)
	if r := v2Get(t, url+"/v2/models/iris/ready"); r.status != 200 {
		t.Fatalf("model ready before shutdown: %d %s", r.status, r.body)
	}
	shutdown()
	deadline := time.Now().Add(time.Second)
	for v2Get(t, url+"/v2/health/ready").status == 200 {
		if time.Now().After(deadline) {
			t.Fatal("still ready after shutdown began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := v2Get(t, url+"/v2/health/ready")
	v2WantError(t, r, 503, "not ready")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	if r := v2Get(t, url+"/v2/models/iris/ready"); r.status != 503 || string(r.body) != `{"name":"iris","ready":false}` {
		t.Errorf("model ready while draining: %d %s", r.status, r.body)
	}
	if r := v2Get(t, url+"/v2/health/live"); r.status != 200 {
		t.Errorf("live while draining: %d %s", r.status, r.body)
	}
	if r := v2Infer(t, url+"/v2/models/iris/infer", `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}`); r.status != 200 {
		t.Errorf("request during the grace period: %d %s", r.status, r.body)
	}
	if err := wait(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestV2NonTensorOutputs: sklearn-onnx classifiers return probabilities as
// a sequence of maps (ZipMap), which no V2 datatype can hold. They come
// back as BYTES, one JSON text per row, in JSON and in binary alike; the
// metadata says BYTES [-1] for them.
func TestV2NonTensorOutputs(t *testing.T) {
	src := filepath.Join(testenv.SharedTestdata(t), "mlflow", "raw_onnx", "sklearn_model.onnx")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "zipmap")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	m := &mlmodel.Model{Flavors: map[string]mlmodel.FlavorConfig{
		"onnx":            {"data": "model.onnx", "providers": []any{"CPUExecutionProvider"}},
		"python_function": {"loader_module": "mlflow.onnx", "data": "model.onnx"},
	}}
	if err := m.WriteFile(dir); err != nil {
		t.Fatal(err)
	}
	url := v2Serve(t, dir, serve.Config{}) + "/v2/models/zipmap"
	var md struct{ Inputs, Outputs []v2Tensor }
	if r := v2Get(t, url); r.status != 200 || json.Unmarshal(r.body, &md) != nil {
		t.Fatalf("metadata: %d %s", r.status, r.body)
	}
	if got := metas(md.Outputs); got != `[{output_label INT64 [-1]} {output_probability BYTES [-1]}]` {
		t.Errorf("outputs metadata %s", got)
	}
	in := md.Inputs[0]
	body := `{"inputs": [{"name": "` + in.Name + `", "shape": [2, 4], "datatype": "` + in.Datatype + `", "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}]`
	for _, tail := range []string{"}", `, "parameters": {"binary_data_output": true}}`} {
		resp, bins := v2Parse(t, v2Infer(t, url+"/infer", body+tail))
		labels := v2Elements(t, resp.output(t, "output_label"), bins["output_label"])
		probs := resp.output(t, "output_probability")
		if probs.Datatype != "BYTES" || !slices.Equal(probs.Shape, []int64{2}) {
			t.Fatalf("output_probability: %s %v", probs.Datatype, probs.Shape)
		}
		for i, text := range v2Elements(t, probs, bins["output_probability"]) {
			var p map[string]float64
			if err := json.Unmarshal([]byte(text.(string)), &p); err != nil || len(p) != 3 {
				t.Fatalf("row %d: %q is not a JSON map of three classes: %v", i, text, err)
			}
			// The map's likeliest class is the label the model gave.
			best, sum := "", 0.0
			for k, v := range p {
				sum += v
				if best == "" || v > p[best] {
					best = k
				}
			}
			if math.Abs(sum-1) > 1e-5 || best != strconv.FormatInt(labels[i].(int64), 10) {
				t.Errorf("row %d: label %v, probabilities %v", i, labels[i], p)
			}
		}
	}
}
