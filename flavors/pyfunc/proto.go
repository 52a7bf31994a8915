package pyfunc

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
)

// The framed protocol shared with mlship_worker.py: a 16-byte header
// (magic, kind, length), then a u32 JSON length, the JSON metadata, and
// raw buffers, each starting at an 8-byte aligned offset.
const (
	framePredict = 1
	frameResult  = 2
	frameError   = 3
	frameReady   = 4
	frameFatal   = 5

	protocolVersion = 1
	headerSize      = 16
	// maxFrame bounds what a worker may send back (a runaway model must not
	// make mlship allocate without limit).
	maxFrame = 8 << 30
	// frameChunk is the most a frame's payload is allocated ahead of the
	// bytes that fill it: a header's length is a claim until they arrive.
	frameChunk = 1 << 20
)

var magic = [4]byte{'M', 'L', 'S', 'P'}

// colMeta describes one column on the wire.
type colMeta struct {
	Name     string  `json:"name"`
	Kind     string  `json:"kind"` // num, bool, time, str, bin, json
	DType    string  `json:"dtype,omitempty"`
	Shape    []int64 `json:"shape"`
	Validity bool    `json:"validity,omitempty"`
	Bare     bool    `json:"bare,omitempty"` // a bare value: the model gets an ndarray
	Buffers  []int   `json:"buffers"`
}

type predictMeta struct {
	Form    string         `json:"form"`
	Stack   string         `json:"stack,omitempty"` // numpy dtype: stack the columns into one 2-D array
	Params  map[string]any `json:"params"`
	Rows    int64          `json:"rows"`
	Columns []colMeta      `json:"columns"`
}

type resultMeta struct {
	Kind    string    `json:"kind"` // ndarray, dataframe, json
	Rows    int64     `json:"rows"`
	Columns []colMeta `json:"columns"`
}

// writeFrame writes one frame: header, JSON, then the buffers in place
// (large column buffers go to the pipe without being copied together).
func writeFrame(w io.Writer, kind byte, meta any, bufs [][]byte) error {
	js, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("encoding frame metadata: %w", err)
	}
	size := 4 + len(js)
	pads := make([]int, len(bufs))
	for i, b := range bufs {
		pads[i] = align(size) - size
		size += pads[i] + len(b)
	}
	head := make([]byte, headerSize+4, headerSize+4+len(js)+8)
	copy(head, magic[:])
	head[4] = kind
	binary.LittleEndian.PutUint64(head[8:], uint64(size))
	binary.LittleEndian.PutUint32(head[headerSize:], uint32(len(js)))
	head = append(head, js...)
	var zeros [8]byte
	out := [][]byte{head}
	for i, b := range bufs {
		if pads[i] > 0 {
			out = append(out, zeros[:pads[i]])
		}
		out = append(out, b)
	}
	nb := (*netBuffers)(&out)
	_, err = nb.WriteTo(w)
	return err
}

// netBuffers writes each slice in turn (net.Buffers without the net
// package's writev special cases, which pipes do not get anyway).
type netBuffers [][]byte

func (b *netBuffers) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, p := range *b {
		m, err := w.Write(p)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func align(n int) int { return (n + 7) &^ 7 }

// frame is a frame read back: its kind, metadata and buffers (views into
// payload, which the caller keeps alive as long as arrays use it).
type frame struct {
	kind    byte
	meta    json.RawMessage
	payload []byte
	bufOff  int // where the buffers start
}

func readFrame(r *bufio.Reader) (*frame, error) {
	var head [headerSize]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	if [4]byte(head[:4]) != magic {
		return nil, fmt.Errorf("bad frame from the worker (got %q): the worker's output is corrupt", head[:4])
	}
	n := binary.LittleEndian.Uint64(head[8:])
	if n < 4 || n > maxFrame {
		return nil, fmt.Errorf("bad frame length %d from the worker", n)
	}
	payload, err := readPayload(r, int(n))
	if err != nil {
		return nil, err
	}
	jl := int(binary.LittleEndian.Uint32(payload))
	if 4+jl > len(payload) {
		return nil, errors.New("bad frame metadata length from the worker")
	}
	return &frame{kind: head[4], meta: payload[4 : 4+jl], payload: payload, bufOff: 4 + jl}, nil
}

// readPayload reads n bytes into a buffer that starts at frameChunk and
// doubles as they arrive, so a corrupt header claiming gigabytes costs
// frameChunk, or twice what the worker actually sent. (Frames up to
// frameChunk, most of them, are read as before: one allocation.)
func readPayload(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, frameChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = append(make([]byte, 0, min(n, 2*cap(buf))), buf...)
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("frame of %d bytes from the worker ends after %d: %w", n, len(buf), err)
		}
	}
	return buf, nil
}

// buffers splits a frame's payload per the columns' buffer lengths.
func (f *frame) buffers(cols []colMeta) ([][][]byte, error) {
	out := make([][][]byte, len(cols))
	off := f.bufOff
	for i, c := range cols {
		for _, n := range c.Buffers {
			off = align(off)
			if n < 0 || n > len(f.payload)-off {
				return nil, fmt.Errorf("column %q: buffer runs past the frame", c.Name)
			}
			out[i] = append(out[i], f.payload[off:off+n])
			off += n
		}
	}
	return out, nil
}

// --- Arrow → wire -------------------------------------------------------------

// encodeBatch lays a record batch out for the worker: column metadata and
// buffers that point into the Arrow arrays (no copy for numbers).
func encodeBatch(b columnar.Batch) ([]colMeta, [][]byte, error) {
	var metas []colMeta
	var bufs [][]byte
	for i, f := range b.Schema().Fields() {
		m, bs, err := encodeColumn(f, b.Column(i))
		if err != nil {
			return nil, nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		metas = append(metas, m)
		bufs = append(bufs, bs...)
	}
	return metas, bufs, nil
}

func isJSONField(f arrow.Field) bool {
	v, ok := f.Metadata.GetValue("mlship.json")
	return ok && v == "true"
}

func encodeColumn(f arrow.Field, col arrow.Array) (colMeta, [][]byte, error) {
	m := colMeta{Name: f.Name}
	if v, ok := f.Metadata.GetValue("mlship.bare"); ok && v == "true" {
		m.Bare = true
	}
	switch col.DataType().ID() {
	case arrow.MAP, arrow.LIST, arrow.LARGE_LIST, arrow.STRUCT:
		if _, isShape := f.Metadata.GetValue(columnar.MetaShape); !isShape {
			return jsonCells(m, col)
		}
	}
	t, err := columnar.TensorOf(f, col)
	if err != nil {
		return m, nil, err
	}
	defer t.Values.Release()
	m.Shape = t.Shape
	vals := t.Values
	var bufs [][]byte
	switch a := vals.(type) {
	case *array.String:
		m.Kind = "str"
		if isJSONField(f) {
			m.Kind = "json"
		}
		bufs = stringBuffers(a.ValueOffsets(), a.Data().Buffers()[2])
	case *array.Binary:
		m.Kind = "bin"
		bufs = stringBuffers(a.ValueOffsets(), a.Data().Buffers()[2])
	case *array.LargeString:
		offs := a.ValueOffsets()
		small := make([]int32, len(offs))
		for i, o := range offs {
			if o-offs[0] > math.MaxInt32 {
				return m, nil, errors.New("string column larger than 2 GiB")
			}
			small[i] = int32(o - offs[0])
		}
		m.Kind = "str"
		bufs = [][]byte{sliceBytes(small), a.Data().Buffers()[2].Bytes()[offs[0]:offs[len(offs)-1]]}
	case *array.Boolean:
		m.Kind = "bool"
		out := make([]byte, a.Len())
		for i := range out {
			if a.Value(i) {
				out[i] = 1
			}
		}
		bufs = [][]byte{out}
	case *array.Timestamp:
		m.Kind = "time"
		unit := a.DataType().(*arrow.TimestampType).Unit
		ns := make([]int64, a.Len())
		mult := map[arrow.TimeUnit]int64{arrow.Second: 1e9, arrow.Millisecond: 1e6, arrow.Microsecond: 1e3, arrow.Nanosecond: 1}[unit]
		for i, v := range a.Values() {
			ns[i] = int64(v) * mult
		}
		bufs = [][]byte{sliceBytes(ns)}
	default:
		dt, size, ok := numpyDType(vals.DataType())
		if !ok {
			return m, nil, fmt.Errorf("type %s cannot be sent to Python", vals.DataType())
		}
		m.Kind, m.DType = "num", dt
		raw := vals.Data().Buffers()[1].Bytes()
		start := vals.Data().Offset() * size
		bufs = [][]byte{raw[start : start+vals.Len()*size]}
	}
	if vals.NullN() > 0 {
		m.Validity = true
		v := make([]byte, vals.Len())
		for i := range v {
			if vals.IsValid(i) {
				v[i] = 1
			}
		}
		bufs = append(bufs, v)
	}
	for _, b := range bufs {
		m.Buffers = append(m.Buffers, len(b))
	}
	return m, bufs, nil
}

// jsonCells sends a nested column (maps, lists, structs) as one JSON text
// per row.
func jsonCells(m colMeta, col arrow.Array) (colMeta, [][]byte, error) {
	offs := make([]int32, col.Len()+1)
	var data []byte
	for i := 0; i < col.Len(); i++ {
		if col.IsValid(i) {
			b, err := json.Marshal(col.GetOneForMarshal(i))
			if err != nil {
				return m, nil, err
			}
			data = append(data, b...)
		} else {
			data = append(data, "null"...)
		}
		offs[i+1] = int32(len(data))
	}
	m.Kind, m.Shape = "json", []int64{int64(col.Len())}
	bufs := [][]byte{sliceBytes(offs), data}
	m.Buffers = []int{len(bufs[0]), len(bufs[1])}
	return m, bufs, nil
}

// stringBuffers returns int32 offsets starting at 0 and the data they
// index: a slice of a string array has offsets that do not.
func stringBuffers(offs []int32, data *memory.Buffer) [][]byte {
	var raw []byte
	if data != nil {
		raw = data.Bytes()
	}
	n := len(offs) - 1
	if n < 0 {
		return [][]byte{sliceBytes([]int32{0}), nil}
	}
	body := raw[offs[0]:offs[n]]
	if offs[0] == 0 {
		return [][]byte{sliceBytes(offs), body}
	}
	rebased := make([]int32, len(offs))
	for i, o := range offs {
		rebased[i] = o - offs[0]
	}
	return [][]byte{sliceBytes(rebased), body}
}

func sliceBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}

// numpyDType names the little-endian numpy dtype of an Arrow number type.
func numpyDType(dt arrow.DataType) (string, int, bool) {
	switch dt.ID() {
	case arrow.FLOAT64:
		return "<f8", 8, true
	case arrow.FLOAT32:
		return "<f4", 4, true
	case arrow.FLOAT16:
		return "<f2", 2, true
	case arrow.INT64:
		return "<i8", 8, true
	case arrow.INT32:
		return "<i4", 4, true
	case arrow.INT16:
		return "<i2", 2, true
	case arrow.INT8:
		return "|i1", 1, true
	case arrow.UINT64:
		return "<u8", 8, true
	case arrow.UINT32:
		return "<u4", 4, true
	case arrow.UINT16:
		return "<u2", 2, true
	case arrow.UINT8:
		return "|u1", 1, true
	}
	return "", 0, false
}

// arrowType is the inverse of numpyDType.
func arrowType(dtype string) (arrow.DataType, int, bool) {
	if len(dtype) < 3 {
		return nil, 0, false
	}
	if dtype[0] == '>' {
		return nil, 0, false // mlship_worker.py sends little-endian only
	}
	size, err := strconv.Atoi(dtype[2:])
	if err != nil {
		return nil, 0, false
	}
	switch dtype[1:2] + strconv.Itoa(size) {
	case "f8":
		return arrow.PrimitiveTypes.Float64, 8, true
	case "f4":
		return arrow.PrimitiveTypes.Float32, 4, true
	case "f2":
		return arrow.FixedWidthTypes.Float16, 2, true
	case "i8":
		return arrow.PrimitiveTypes.Int64, 8, true
	case "i4":
		return arrow.PrimitiveTypes.Int32, 4, true
	case "i2":
		return arrow.PrimitiveTypes.Int16, 2, true
	case "i1":
		return arrow.PrimitiveTypes.Int8, 1, true
	case "u8":
		return arrow.PrimitiveTypes.Uint64, 8, true
	case "u4":
		return arrow.PrimitiveTypes.Uint32, 4, true
	case "u2":
		return arrow.PrimitiveTypes.Uint16, 2, true
	case "u1":
		return arrow.PrimitiveTypes.Uint8, 1, true
	}
	return nil, 0, false
}

// --- wire → Arrow --------------------------------------------------------------

// MetaOutput and the kinds below mirror serve/scoring's response shapes
// (flavors do not import serve): "list" for an ndarray, "records" for a
// DataFrame, "json" for any other value, already JSON text.
const metaOutput = "mlship.output"

// decodeResult turns a RESULT frame into a record batch that references
// the frame's payload (no copy for numbers and strings).
func decodeResult(f *frame) (columnar.Batch, error) {
	var rm resultMeta
	if err := json.Unmarshal(f.meta, &rm); err != nil {
		return nil, fmt.Errorf("bad result metadata from the worker: %w", err)
	}
	if rm.Rows < 0 {
		return nil, fmt.Errorf("bad result metadata from the worker: %d rows", rm.Rows)
	}
	bufs, err := f.buffers(rm.Columns)
	if err != nil {
		return nil, err
	}
	fields := make([]arrow.Field, 0, len(rm.Columns))
	cols := make([]arrow.Array, 0, len(rm.Columns))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	rows := rm.Rows
	batched := rm.Kind != "json"
	for i, c := range rm.Columns {
		vals, err := decodeValues(c, bufs[i])
		if err != nil {
			return nil, fmt.Errorf("output column %q: %w", c.Name, err)
		}
		shape := c.Shape
		colBatched := batched && len(shape) > 0 && shape[0] == rows
		field, col, err := columnar.NewTensorColumn(c.Name, shape, vals, colBatched)
		vals.Release()
		if err != nil {
			return nil, fmt.Errorf("output column %q: %w", c.Name, err)
		}
		if c.Kind == "json" {
			md := map[string]string{"mlship.json": "true"}
			for j, k := range field.Metadata.Keys() {
				md[k] = field.Metadata.Values()[j]
			}
			field.Metadata = arrow.MetadataFrom(md)
		}
		if !colBatched {
			rows = 1
		}
		fields = append(fields, field)
		cols = append(cols, col)
	}
	kind := map[string]string{"ndarray": "list", "dataframe": "records", "json": "json"}[rm.Kind]
	if kind == "" {
		return nil, fmt.Errorf("unknown result kind %q from the worker", rm.Kind)
	}
	md := arrow.NewMetadata([]string{metaOutput}, []string{kind})
	if len(cols) == 0 {
		rows = rm.Rows
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, &md), cols, rows), nil
}

func decodeValues(c colMeta, bufs [][]byte) (arrow.Array, error) {
	n, err := valueCount(c.Shape)
	if err != nil {
		return nil, err
	}
	var valid *memory.Buffer
	nulls := 0
	if c.Validity {
		if len(bufs) == 0 || len(bufs[len(bufs)-1]) != n {
			return nil, errors.New("bad validity buffer")
		}
		v := bufs[len(bufs)-1]
		bm := make([]byte, bitutil.BytesForBits(int64(n)))
		for i, b := range v {
			if b != 0 {
				bitutil.SetBit(bm, i)
			} else {
				nulls++
			}
		}
		valid = memory.NewBufferBytes(bm)
		bufs = bufs[:len(bufs)-1]
	}
	var dt arrow.DataType
	var buffers []*memory.Buffer
	switch c.Kind {
	case "num", "time":
		size := 8
		dt = &arrow.TimestampType{Unit: arrow.Nanosecond}
		if c.Kind == "num" {
			var ok bool
			if dt, size, ok = arrowType(c.DType); !ok {
				return nil, fmt.Errorf("unsupported dtype %q", c.DType)
			}
		}
		if len(bufs) != 1 || len(bufs[0]) != n*size {
			return nil, fmt.Errorf("%d buffers of %v bytes for %d values of %d bytes", len(bufs), bufLens(bufs), n, size)
		}
		buffers = []*memory.Buffer{valid, memory.NewBufferBytes(bufs[0])}
	case "bool":
		if len(bufs) != 1 || len(bufs[0]) != n {
			return nil, errors.New("bad boolean buffer")
		}
		bm := make([]byte, bitutil.BytesForBits(int64(n)))
		for i, b := range bufs[0] {
			if b != 0 {
				bitutil.SetBit(bm, i)
			}
		}
		dt = arrow.FixedWidthTypes.Boolean
		buffers = []*memory.Buffer{valid, memory.NewBufferBytes(bm)}
	case "str", "json", "bin":
		if len(bufs) != 2 || len(bufs[0]) != 4*(n+1) {
			return nil, errors.New("bad string buffers")
		}
		offs := unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(bufs[0]))), n+1)
		if offs[0] < 0 || int(offs[0]) > len(bufs[1]) {
			return nil, errors.New("bad string offsets")
		}
		for i := 0; i < n; i++ {
			if offs[i] > offs[i+1] || int(offs[i+1]) > len(bufs[1]) {
				return nil, errors.New("bad string offsets")
			}
		}
		dt = arrow.BinaryTypes.String
		if c.Kind == "bin" {
			dt = arrow.BinaryTypes.Binary
		} else {
			// Python encodes str as UTF-8, so invalid bytes mean a broken
			// worker; refusing them here keeps every later writer (JSON,
			// Parquet, Arrow IPC) from emitting an invalid string column.
			for i := 0; i < n; i++ {
				if !utf8.Valid(bufs[1][offs[i]:offs[i+1]]) {
					return nil, fmt.Errorf("string %d is not valid UTF-8", i)
				}
			}
		}
		buffers = []*memory.Buffer{valid, memory.NewBufferBytes(bufs[0]), memory.NewBufferBytes(bufs[1])}
	default:
		return nil, fmt.Errorf("unknown column kind %q", c.Kind)
	}
	d := array.NewData(dt, n, buffers, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

// valueCount is the number of values of a tensor of shape: dimensions are
// not negative, and no tensor holds more values than a frame has bytes
// (which also keeps byte counts from overflowing).
func valueCount(shape []int64) (int, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 || (d > 0 && n > maxFrame/d) {
			return 0, fmt.Errorf("bad shape %v", shape)
		}
		n *= d
	}
	return int(n), nil
}

func bufLens(bufs [][]byte) []int {
	out := make([]int, len(bufs))
	for i, b := range bufs {
		out[i] = len(b)
	}
	return out
}

// formOf reads the request form scoring put on the batch: "dataframe"
// (the model sees a pandas DataFrame) or "tensor" (ndarrays).
func formOf(b columnar.Batch) string {
	if md := b.Schema().Metadata(); md.Len() > 0 {
		if v, ok := md.GetValue("mlship.form"); ok && (v == "dataframe" || v == "tensor") {
			return v
		}
	}
	for _, f := range b.Schema().Fields() {
		if _, nested := f.Type.(*arrow.FixedSizeListType); nested || columnar.IsUnbatched(f) {
			return "tensor"
		}
	}
	return "dataframe"
}

var _ = strings.TrimSpace
