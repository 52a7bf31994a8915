package v2

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/jsonarrow"
	"github.com/mlship/mlship/internal/jsonscan"
)

// TensorMeta describes a model input or output (metadata responses, and
// what requests are checked against).
type TensorMeta struct {
	Name     string   `json:"name"`
	Datatype Datatype `json:"datatype"`
	Shape    []int64  `json:"shape"`
}

// RequestedOutput is an entry of the request's "outputs".
type RequestedOutput struct {
	Name   string
	Binary *bool // parameters.binary_data, when given
}

// Request is a decoded inference request.
type Request struct {
	ID string
	// Parameters are the request parameters meant for the model, as plain
	// Go values (string, int64, float64, bool); nil when there are none.
	// binary_data_output, which only steers the response, is not among
	// them.
	Parameters map[string]any
	Batch      columnar.Batch
	Outputs    []RequestedOutput // nil: all outputs
	// BinaryOutput is the request-level binary_data_output parameter (or a
	// raw binary request): outputs default to binary data.
	BinaryOutput bool
}

// Release frees the batch.
func (r *Request) Release() {
	if r != nil && r.Batch != nil {
		r.Batch.Release()
	}
}

// Decoder decodes inference requests for one model.
type Decoder struct {
	Model string // model name, for messages
	// Inputs, when set, are the model's inputs: request inputs must match
	// them by name, and a raw binary request takes its datatype and shape
	// from the only one.
	Inputs []TensorMeta
	Mem    memory.Allocator
}

func (d *Decoder) mem() memory.Allocator {
	if d.Mem == nil {
		return memory.DefaultAllocator
	}
	return d.Mem
}

// Decode reads a request body. headerLen is the Inference-Header-Content-
// Length header: -1 when absent (the body is all JSON), 0 for a raw binary
// request (the body is the one input's bytes), otherwise the length of the
// JSON part, which binary tensor data follows.
func (d *Decoder) Decode(body []byte, headerLen int) (*Request, error) {
	switch {
	case headerLen == 0:
		return d.decodeRaw(body)
	case headerLen > len(body):
		return nil, badRequest("Inference-Header-Content-Length %d is larger than the request body (%d bytes)", headerLen, len(body))
	case headerLen < 0:
		headerLen = len(body)
	}
	header, bin := body[:headerLen], body[headerLen:]
	ins, req, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	if err := d.checkNames(ins); err != nil {
		return nil, err
	}
	tensors := make([]columnar.NamedTensor, 0, len(ins))
	defer func() {
		for _, t := range tensors {
			t.Values.Release()
		}
	}()
	// A tensor with no elements still becomes one (empty) Arrow row per
	// first-dimension entry, so [2147483647, 0] with "data": [] would make
	// the server allocate gigabytes for a 60-byte request. Such rows are
	// paid for from a budget proportional to the body; tensors with
	// elements are bounded by their data already.
	emptyRows := int64(len(body)) + 1024
	for _, in := range ins {
		if in.count() == 0 && len(in.shape) > 0 {
			if emptyRows -= in.shape[0]; emptyRows < 0 {
				return nil, badRequest("input '%s': shape %v has no elements but %d rows; such a request is refused", in.name, in.shape, in.shape[0])
			}
		}
	}
	for _, in := range ins {
		var vals arrow.Array
		var err error
		if in.binarySize >= 0 {
			if int64(len(bin)) < in.binarySize {
				return nil, badRequest("input '%s': binary_data_size %d exceeds the %d bytes of binary data left in the request", in.name, in.binarySize, len(bin))
			}
			vals, err = d.fromBinary(in, bin[:in.binarySize])
			bin = bin[in.binarySize:]
		} else {
			vals, err = d.fromJSON(in)
		}
		if err != nil {
			return nil, err
		}
		tensors = append(tensors, columnar.NamedTensor{Name: in.name, Shape: in.shape, Values: vals})
	}
	if len(bin) > 0 {
		return nil, badRequest("the request has %d bytes of binary data that no input claims (check binary_data_size)", len(bin))
	}
	b, err := layout(tensors)
	if err != nil {
		return nil, err
	}
	req.Batch = b
	return req, nil
}

// layout puts tensors in a batch (columnar.TensorBatch); a tensor whose
// shape does not fit its data is the client's error.
func layout(ts []columnar.NamedTensor) (columnar.Batch, error) {
	b, err := columnar.TensorBatch(ts)
	var te *columnar.TensorColumnError
	if errors.As(err, &te) {
		return nil, badRequest("input '%s': %v", te.Name, te.Err)
	}
	return b, err
}

// input is an entry of "inputs" before its data is decoded.
type input struct {
	name       string
	shape      []int64
	datatype   Datatype
	data       []byte // raw JSON of "data"; nil when binary
	binarySize int64  // -1: no binary data
}

func (in *input) count() int64 {
	n := int64(1)
	for _, d := range in.shape {
		n *= d
	}
	return n
}

// maxElements caps one tensor's element count (Arrow arrays index with
// int32 offsets for strings, and no real request comes near it).
const maxElements = math.MaxInt32

// checkShape rejects shapes whose element count cannot be represented.
// Every dimension is at most maxElements, but their product can still
// overflow int64 and wrap to a small number or zero (65536^4 is 2^64),
// which would let a request with no data claim a huge tensor: the product
// is checked as it grows, over the non-zero dimensions, so a zero
// dimension cannot hide an absurd shape either.
func (in *input) checkShape() error {
	n := int64(1)
	for _, d := range in.shape {
		if d > maxElements {
			return badRequest("input '%s': dimension %d is too large", in.name, d)
		}
		if d == 0 {
			continue
		}
		if n > maxElements/d {
			return badRequest("input '%s': shape %v has too many elements", in.name, in.shape)
		}
		n *= d
	}
	return nil
}

// parseHeader reads the JSON inference header.
func parseHeader(header []byte) ([]*input, *Request, error) {
	s := jsonscan.New(header)
	if s.Peek() != jsonscan.Object {
		return nil, nil, badRequest("the inference request must be a JSON object")
	}
	req := &Request{}
	var ins []*input
	seenInputs := false
	err := s.Object(func(k []byte) error {
		switch string(k) {
		case "id":
			id, err := s.String()
			if err != nil {
				return badRequest("'id' must be a string")
			}
			req.ID = id
		case "parameters":
			p, err := params(s)
			if err != nil {
				return err
			}
			if v, ok := p["binary_data_output"]; ok {
				b, ok := v.(bool)
				if !ok {
					return badRequest("parameter 'binary_data_output' must be a boolean")
				}
				req.BinaryOutput = b
				// It tells the codec how to answer; it is not the model's.
				// tritonclient sends it on every request that names no
				// outputs, so passing it on would hand every model an
				// unknown param (and keep such requests from merging with
				// others in the batcher).
				delete(p, "binary_data_output")
			}
			if len(p) > 0 {
				req.Parameters = p
			}
		case "inputs":
			seenInputs = true
			return s.Array(func(int) error {
				in, err := parseInput(s)
				if err != nil {
					return err
				}
				ins = append(ins, in)
				return nil
			})
		case "outputs":
			// An empty list asks for every output, as Triton and KServe
			// read it (tritonclient never sends one, but hand-written
			// clients do): nil is "all outputs" to Encode.
			req.Outputs = nil
			return s.Array(func(int) error {
				o, err := parseOutput(s)
				if err != nil {
					return err
				}
				for _, prev := range req.Outputs {
					if prev.Name == o.Name {
						return badRequest("output '%s' is requested more than once", o.Name)
					}
				}
				req.Outputs = append(req.Outputs, o)
				return nil
			})
		default:
			_, err := s.Skip()
			return err
		}
		return nil
	})
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return nil, nil, asError(err)
	}
	if !seenInputs {
		return nil, nil, badRequest("the inference request has no 'inputs'")
	}
	return ins, req, nil
}

func asError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var se *jsonscan.SyntaxError
	if errors.As(err, &se) {
		return badRequest("failed to parse the request JSON: %v", se)
	}
	return badRequest("%v", err)
}

// params reads a parameters object: string, number and boolean values.
func params(s *jsonscan.Scanner) (map[string]any, error) {
	if s.Peek() != jsonscan.Object {
		return nil, badRequest("'parameters' must be an object")
	}
	out := map[string]any{}
	err := s.Object(func(k []byte) error {
		v, err := s.Value()
		if err != nil {
			return err
		}
		switch x := v.(type) {
		case jsonscan.Num:
			if i, ok := x.Int(); ok {
				out[string(k)] = i
			} else {
				out[string(k)] = x.Float()
			}
		case string, bool:
			out[string(k)] = x
		default:
			return badRequest("parameter '%s' must be a string, number or boolean", k)
		}
		return nil
	})
	return out, err
}

func parseInput(s *jsonscan.Scanner) (*input, error) {
	if k := s.Peek(); k != jsonscan.Object {
		if k == jsonscan.Invalid {
			_, err := s.Skip() // the syntax error, with its offset
			return nil, err
		}
		return nil, badRequest("each input must be a JSON object")
	}
	in := &input{binarySize: -1}
	var haveShape, haveType bool
	err := s.Object(func(k []byte) error {
		var err error
		switch string(k) {
		case "name":
			in.name, err = s.String()
		case "shape":
			haveShape = true
			in.shape = []int64{}
			err = s.Array(func(int) error {
				n, err := s.Number()
				if err != nil {
					return err
				}
				v, ok := n.Int()
				if !ok || v < 0 {
					return badRequest("shape dimensions must be non-negative integers, got %s", n)
				}
				in.shape = append(in.shape, v)
				return nil
			})
		case "datatype":
			var dt string
			if dt, err = s.String(); err == nil {
				haveType = true
				in.datatype, err = ParseDatatype(dt)
				if err != nil {
					err = badRequest("%v", err)
				}
			}
		case "parameters":
			var p map[string]any
			if p, err = params(s); err == nil {
				if v, ok := p["binary_data_size"]; ok {
					n, ok := v.(int64)
					if !ok || n < 0 {
						return badRequest("binary_data_size must be a non-negative integer")
					}
					in.binarySize = n
				}
			}
		case "data":
			in.data, err = s.Skip()
		default:
			_, err = s.Skip()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch {
	case in.name == "":
		return nil, badRequest("an input has no 'name'")
	case !haveShape:
		return nil, badRequest("input '%s' has no 'shape'", in.name)
	case !haveType:
		return nil, badRequest("input '%s' has no 'datatype'", in.name)
	case in.binarySize >= 0 && in.data != nil:
		return nil, badRequest("input '%s' has both 'data' and binary_data_size", in.name)
	case in.binarySize < 0 && in.data == nil:
		return nil, badRequest("input '%s' has no 'data' (and no binary_data_size)", in.name)
	}
	if err := in.checkShape(); err != nil {
		return nil, err
	}
	return in, nil
}

func parseOutput(s *jsonscan.Scanner) (RequestedOutput, error) {
	var o RequestedOutput
	if s.Peek() != jsonscan.Object {
		return o, badRequest("each requested output must be a JSON object")
	}
	err := s.Object(func(k []byte) error {
		switch string(k) {
		case "name":
			n, err := s.String()
			o.Name = n
			return err
		case "parameters":
			p, err := params(s)
			if err != nil {
				return err
			}
			if v, ok := p["binary_data"]; ok {
				b, ok := v.(bool)
				if !ok {
					return badRequest("parameter 'binary_data' must be a boolean")
				}
				o.Binary = &b
			}
			// Triton extensions that change what an output holds or where
			// it goes: answering with the plain tensor instead would be
			// read as the wrong thing, so they are refused.
			for _, k := range []string{"classification", "shared_memory_region"} {
				if _, ok := p[k]; ok {
					return badRequest("output parameter '%s' is not supported (server metadata lists the extensions this server implements)", k)
				}
			}
			return nil
		}
		_, err := s.Skip()
		return err
	})
	if err == nil && o.Name == "" {
		err = badRequest("a requested output has no 'name'")
	}
	return o, err
}

// checkNames matches request inputs to the model's.
func (d *Decoder) checkNames(ins []*input) error {
	seen := map[string]bool{}
	for _, in := range ins {
		if seen[in.name] {
			return badRequest("input '%s' appears more than once", in.name)
		}
		seen[in.name] = true
	}
	if d.Inputs == nil {
		return nil
	}
	var missing []string
	for _, m := range d.Inputs {
		if !seen[m.Name] {
			missing = append(missing, m.Name)
		}
	}
	for _, in := range ins {
		if !slices.ContainsFunc(d.Inputs, func(m TensorMeta) bool { return m.Name == in.name }) {
			return badRequest("unexpected inference input '%s' for model '%s'", in.name, d.Model)
		}
	}
	if len(missing) > 0 {
		return badRequest("expected %d inputs but got %d inputs for model '%s'; missing: %v", len(d.Inputs), len(ins), d.Model, missing)
	}
	return nil
}

// fromJSON decodes an input's JSON data (nested or flat).
func (d *Decoder) fromJSON(in *input) (arrow.Array, error) {
	if in.datatype == BF16 {
		return nil, badRequest("input '%s': BF16 has no JSON form; send it with the binary tensor data extension", in.name)
	}
	sink := jsonarrow.NewSink(d.mem(), in.datatype.arrowType(), string(in.datatype))
	defer sink.Release()
	s := jsonscan.New(in.data)
	var err error
	if s.Peek() == jsonscan.Array {
		_, err = jsonarrow.ParseNested(s, sink)
	} else {
		err = jsonarrow.LeafValue(s, sink)
	}
	if err == nil {
		err = s.End()
	}
	if err != nil {
		var ve *jsonarrow.ValueError
		if errors.As(err, &ve) {
			return nil, badRequest("input '%s' (%s): %s", in.name, in.datatype, ve.Msg)
		}
		return nil, badRequest("input '%s': %v", in.name, err)
	}
	if int64(sink.Len()) != in.count() {
		return nil, badRequest("input '%s': shape %v needs %d elements, data has %d", in.name, in.shape, in.count(), sink.Len())
	}
	vals := sink.Build()
	if vals.NullN() > 0 {
		vals.Release()
		return nil, badRequest("input '%s': null is not a valid tensor element", in.name)
	}
	return vals, nil
}

// fromBinary decodes an input's bytes from the binary extension:
// little-endian, row-major; BOOL one byte each; BYTES elements as a 4-byte
// little-endian length and the bytes.
func (d *Decoder) fromBinary(in *input, raw []byte) (arrow.Array, error) {
	n := in.count()
	if in.datatype == BYTES {
		b := array.NewBinaryBuilder(d.mem(), arrow.BinaryTypes.Binary)
		defer b.Release()
		rest := raw
		for i := int64(0); i < n; i++ {
			if len(rest) < 4 {
				return nil, badRequest("input '%s': binary BYTES data ends inside element %d's length prefix", in.name, i)
			}
			l := binary.LittleEndian.Uint32(rest)
			rest = rest[4:]
			if uint64(l) > uint64(len(rest)) {
				return nil, badRequest("input '%s': BYTES element %d claims %d bytes, %d left", in.name, i, l, len(rest))
			}
			b.Append(rest[:l])
			rest = rest[l:]
		}
		if len(rest) != 0 {
			return nil, badRequest("input '%s': %d bytes left after %d BYTES elements", in.name, len(rest), n)
		}
		return b.NewArray(), nil
	}
	size := int64(in.datatype.Size())
	if int64(len(raw)) != n*size {
		return nil, badRequest("input '%s': shape %v of %s needs %d bytes, binary_data_size is %d", in.name, in.shape, in.datatype, n*size, len(raw))
	}
	switch in.datatype {
	case BOOL:
		b := array.NewBooleanBuilder(d.mem())
		defer b.Release()
		for i, c := range raw {
			if c > 1 {
				return nil, badRequest("input '%s': BOOL element %d is %d, not 0 or 1", in.name, i, c)
			}
			b.Append(c == 1)
		}
		return b.NewArray(), nil
	case BF16:
		// bfloat16 is the top half of a float32.
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
		b := array.NewFloat32Builder(d.mem())
		defer b.Release()
		b.AppendValues(out, nil)
		return b.NewArray(), nil
	}
	// Fixed-width numbers: the request bytes back the array directly. They
	// are copied once, so the array owns aligned memory independent of the
	// request body.
	buf := memory.NewResizableBuffer(d.mem())
	buf.Resize(len(raw))
	copy(buf.Bytes(), raw)
	data := array.NewData(in.datatype.arrowType(), int(n), []*memory.Buffer{nil, buf}, nil, 0, 0)
	buf.Release()
	defer data.Release()
	return array.MakeFromData(data), nil
}

// decodeRaw reads a raw binary request: the body is the bytes of the
// model's only input, whose datatype and shape come from the metadata (at
// most one variable dimension, deduced from the length; BYTES is shape [1]).
func (d *Decoder) decodeRaw(body []byte) (*Request, error) {
	if len(d.Inputs) != 1 {
		return nil, badRequest("a raw binary request (Inference-Header-Content-Length: 0) needs a model with exactly one input; model '%s' has %d", d.Model, len(d.Inputs))
	}
	m := d.Inputs[0]
	in := &input{name: m.Name, datatype: m.Datatype, binarySize: int64(len(body))}
	if m.Datatype == BYTES {
		in.shape = []int64{1}
		vals := array.NewBinaryBuilder(d.mem(), arrow.BinaryTypes.Binary)
		defer vals.Release()
		vals.Append(body)
		arr := vals.NewArray()
		defer arr.Release()
		b, err := layout([]columnar.NamedTensor{{Name: m.Name, Shape: in.shape, Values: arr}})
		if err != nil {
			return nil, err
		}
		return &Request{Batch: b, BinaryOutput: true}, nil
	}
	shape := append([]int64(nil), m.Shape...)
	unknown, known := -1, int64(1)
	for i, dim := range shape {
		if dim < 0 {
			if unknown >= 0 {
				return nil, badRequest("a raw binary request cannot fill input '%s' of shape %v: more than one variable dimension", m.Name, m.Shape)
			}
			unknown = i
			continue
		}
		known *= dim
	}
	elems := int64(len(body)) / int64(m.Datatype.Size())
	if int64(len(body))%int64(m.Datatype.Size()) != 0 || (unknown < 0 && elems != known) || (unknown >= 0 && (known == 0 || elems%known != 0)) {
		return nil, badRequest("a raw binary request of %d bytes does not fit input '%s' (%s, shape %v)", len(body), m.Name, m.Datatype, m.Shape)
	}
	if unknown >= 0 {
		shape[unknown] = elems / known
	}
	in.shape = shape
	vals, err := d.fromBinary(in, body)
	if err != nil {
		return nil, err
	}
	defer vals.Release()
	b, err := layout([]columnar.NamedTensor{{Name: m.Name, Shape: shape, Values: vals}})
	if err != nil {
		return nil, err
	}
	return &Request{Batch: b, BinaryOutput: true}, nil
}
