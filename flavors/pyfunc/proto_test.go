package pyfunc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
)

// resultFrame encodes b as the worker sends a RESULT frame.
func resultFrame(tb testing.TB, kind string, b arrow.RecordBatch) []byte {
	tb.Helper()
	metas, bufs, err := encodeBatch(b)
	if err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	if err := writeFrame(&out, frameResult, resultMeta{Kind: kind, Rows: b.NumRows(), Columns: metas}, bufs); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// frameHeader is a bare 16-byte header claiming a payload of n bytes.
func frameHeader(kind byte, n uint64) []byte {
	h := make([]byte, headerSize)
	copy(h, magic[:])
	h[4] = kind
	binary.LittleEndian.PutUint64(h[8:], n)
	return h
}

// protoSeeds are frames as mlship_worker.py sends them (results of each
// kind and column kind, errors, the handshake) and broken ones.
func protoSeeds(tb testing.TB) [][]byte {
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int32},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "t", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
		{Name: "bin", Type: arrow.BinaryTypes.Binary},
		{Name: "h", Type: arrow.FixedWidthTypes.Float16},
	}, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	rb.Field(0).(*array.Float64Builder).AppendValues([]float64{0.5, 0, 2}, []bool{true, false, true})
	rb.Field(1).(*array.Int32Builder).AppendValues([]int32{1, -2, 3}, nil)
	rb.Field(2).(*array.StringBuilder).AppendValues([]string{"a", "", "ünï"}, []bool{true, false, true})
	rb.Field(3).(*array.BooleanBuilder).AppendValues([]bool{true, false, true}, nil)
	rb.Field(4).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{0, 1704103200000, -1}, nil)
	rb.Field(5).(*array.BinaryBuilder).AppendValues([][]byte{{0}, {1, 2}, nil}, nil)
	rb.Field(6).(*array.Float16Builder).AppendValues(nil, nil)
	for range 3 {
		rb.Field(6).AppendNull()
	}
	table := rb.NewRecordBatch()
	defer table.Release()

	vals := array.NewFloat32Builder(mem)
	vals.AppendValues([]float32{1, 2, 3, 4, 5, 6}, nil)
	flat := vals.NewArray()
	vals.Release()
	defer flat.Release()
	field, tensor, err := columnar.NewTensorColumn("predictions", []int64{3, 2}, flat, true)
	if err != nil {
		tb.Fatal(err)
	}
	defer tensor.Release()
	nd := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{field}, nil), []arrow.Array{tensor}, 3)
	defer nd.Release()

	seeds := [][]byte{resultFrame(tb, "dataframe", table), resultFrame(tb, "ndarray", nd)}

	var js bytes.Buffer // a scalar JSON result, as the worker sends dicts
	if err := writeFrame(&js, frameResult, resultMeta{Kind: "json", Rows: 1, Columns: []colMeta{
		{Name: "predictions", Kind: "json", Shape: []int64{}, Buffers: []int{8, 7}},
	}}, [][]byte{{0, 0, 0, 0, 7, 0, 0, 0}, []byte(`{"a":1}`)}); err != nil {
		tb.Fatal(err)
	}
	seeds = append(seeds, js.Bytes())
	for kind, meta := range map[byte]any{
		frameError: map[string]string{"error_code": "BAD_REQUEST", "message": "boom", "stack_trace": "Traceback"},
		frameReady: map[string]any{"protocol": protocolVersion, "python": "3.11.2", "loaded_by": "mlflow.sklearn"},
		frameFatal: map[string]string{"error": "no module", "traceback": "Traceback"},
	} {
		var b bytes.Buffer
		if err := writeFrame(&b, kind, meta, nil); err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b.Bytes())
	}
	first := seeds[0]
	seeds = append(seeds,
		first[:len(first)-3], first[:headerSize+2], first[:10], nil,
		append([]byte("XLSP"), first[4:]...),
		frameHeader(frameResult, maxFrame), // a claim with nothing behind it
		append(frameHeader(frameResult, 1<<40), 0, 0, 0, 0),
		append(frameHeader(frameResult, 8), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0), // metadata past the payload
		// Hand-made metadata: huge buffer lengths, shapes and rows.
		jsonFrame(`{"kind":"ndarray","rows":2,"columns":[{"name":"x","kind":"num","dtype":"<f8","shape":[2],"buffers":[9223372036854775807]}]}`),
		jsonFrame(`{"kind":"ndarray","rows":2,"columns":[{"name":"x","kind":"num","dtype":"<f8","shape":[2305843009213693952],"buffers":[0]}]}`),
		jsonFrame(`{"kind":"ndarray","rows":1,"columns":[{"name":"x","kind":"str","shape":[4611686018427387903],"buffers":[0,0]}]}`),
		jsonFrame(`{"kind":"ndarray","rows":1,"columns":[{"name":"x","kind":"num","dtype":"<i8","shape":[1],"buffers":[]}]}`),
		jsonFrame(`{"kind":"dataframe","rows":-1,"columns":[]}`),
		// A string column whose bytes are not UTF-8 (found by FuzzFrames in CI).
		rawFrame(resultMeta{Kind: "dataframe", Rows: 1, Columns: []colMeta{{Name: "s", Kind: "str", Shape: []int64{1}, Buffers: []int{8, 2}}}},
			[]byte{0, 0, 0, 0, 2, 0, 0, 0}, []byte{0xf0, 0x30}),
		// A result of 2 rows with a column of shape [1]: an unbatched
		// tensor in a batch of one row (found by FuzzFrames in CI; the
		// round trip wrote the batch's row count, 1, which made it batched).
		rawFrame(resultMeta{Kind: "dataframe", Rows: 2, Columns: []colMeta{{Name: "", Kind: "str", Shape: []int64{1}, Buffers: []int{8, 2}}}},
			[]byte{0, 0, 0, 0, 2, 0, 0, 0}, []byte("00")),
	)
	return seeds
}

// jsonFrame is a RESULT frame with metadata js and 16 zero bytes of
// buffers.
func jsonFrame(js string) []byte {
	payload := binary.LittleEndian.AppendUint32(nil, uint32(len(js)))
	payload = append(payload, js...)
	payload = append(payload, make([]byte, 16)...)
	return append(frameHeader(frameResult, uint64(len(payload))), payload...)
}

// rawFrame is a frame of kind RESULT written from meta and bufs.
func rawFrame(meta resultMeta, bufs ...[]byte) []byte {
	var b bytes.Buffer
	if err := writeFrame(&b, frameResult, meta, bufs); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// A worker that sends a string column holding bytes that are not UTF-8 is
// broken; the result is refused with the row, not passed on as an invalid
// Arrow string array (and "bin" columns may hold any bytes).
func TestDecodeResultInvalidUTF8(t *testing.T) {
	for _, tc := range []struct {
		kind, want string
	}{{"str", "string 1 is not valid UTF-8"}, {"json", "string 1 is not valid UTF-8"}, {"bin", ""}} {
		data := rawFrame(resultMeta{Kind: "dataframe", Rows: 2, Columns: []colMeta{{Name: "s", Kind: tc.kind, Shape: []int64{2}, Buffers: []int{12, 3}}}},
			[]byte{0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0}, []byte{'a', 0xe2, 0x28})
		fr, err := readFrame(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := decodeResult(fr)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s column: %v", tc.kind, err)
			} else {
				b.Release()
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s column: error %v, want %q", tc.kind, err, tc.want)
		}
	}
}

// FuzzFrames reads arbitrary worker output as frames and decodes RESULT
// frames. Nothing may panic, and no header may make the reader allocate
// far beyond what was sent. A frame read is the bytes its header
// announces; a decoded result is valid Arrow, and encoding it back (as
// the Go side encodes requests) and decoding that gives it again.
func FuzzFrames(f *testing.F) {
	for _, s := range protoSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			fr, err := readFrame(r)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("an error without a message")
				}
				return
			}
			n := binary.LittleEndian.Uint64(data[8:])
			if uint64(len(fr.payload)) != n || fr.kind != data[4] {
				t.Fatalf("frame of kind %d with %d bytes; the header says %d, %d", fr.kind, len(fr.payload), data[4], n)
			}
			if fr.bufOff > len(fr.payload) || !bytes.Equal(fr.meta, fr.payload[4:fr.bufOff]) {
				t.Fatalf("metadata %q and buffers at %d in a payload of %d", fr.meta, fr.bufOff, len(fr.payload))
			}
			data = data[headerSize+len(fr.payload):]
			if fr.kind == frameResult {
				checkResult(t, fr)
			}
		}
	})
}

func checkResult(t *testing.T, fr *frame) {
	b, err := decodeResult(fr)
	if err != nil {
		if err.Error() == "" {
			t.Fatal("an error without a message")
		}
		return
	}
	defer b.Release()
	for i, col := range b.Columns() {
		if int64(col.Len()) < b.NumRows() {
			t.Fatalf("column %d has %d rows, the batch %d", i, col.Len(), b.NumRows())
		}
		if err := array.ValidateFull(col); err != nil {
			t.Fatalf("column %d (%s) is not valid Arrow: %v", i, col.DataType(), err)
		}
	}
	kind := map[string]string{"list": "ndarray", "records": "dataframe", "json": "json"}
	out, _ := b.Schema().Metadata().GetValue(metaOutput)
	if kind[out] == "" {
		t.Fatalf("output metadata %q", out)
	}
	metas, bufs, err := encodeBatch(b)
	if err != nil {
		// The request encoder takes only what requests hold; a result
		// may be a tensor it refuses, never one it breaks on.
		return
	}
	// The frame's row count is the worker's, not the batch's: a column
	// is unbatched because its first dimension differs from it, and the
	// batch of a result with an unbatched column has one row, which may
	// equal that column's first dimension.
	var rm resultMeta
	if err := json.Unmarshal(fr.meta, &rm); err != nil {
		t.Fatalf("a decoded result with metadata that does not parse: %v", err)
	}
	var wire bytes.Buffer
	if err := writeFrame(&wire, frameResult, resultMeta{Kind: kind[out], Rows: rm.Rows, Columns: metas}, bufs); err != nil {
		t.Fatal(err)
	}
	again, err := readFrame(bufio.NewReader(&wire))
	if err != nil {
		t.Fatalf("reading back a frame written from %s: %v", b.Schema(), err)
	}
	b2, err := decodeResult(again)
	if err != nil {
		t.Fatalf("decoding back a result written from %s: %v", b.Schema(), err)
	}
	defer b2.Release()
	if !b2.Schema().Equal(b.Schema()) || !array.RecordApproxEqual(b, b2, array.WithNaNsEqual(true)) {
		t.Fatalf("round trip changed the result:\n%v\n%v", b, b2)
	}
}

// A header claiming a payload far larger than what follows is an error
// once the bytes run out, and the reader did not allocate the claim.
func TestReadFrameHugeLength(t *testing.T) {
	for _, claim := range []uint64{maxFrame, 1 << 30, 64 << 20} {
		data := append(frameHeader(frameResult, claim), make([]byte, 100)...)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := readFrame(bufio.NewReader(bytes.NewReader(data)))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "ends after 100") {
			t.Errorf("claim of %d bytes: error %v, want one saying the frame ends after 100 bytes", claim, err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 2*frameChunk {
			t.Errorf("claim of %d bytes: allocated %d bytes for a 100-byte payload", claim, got)
		}
	}
	// Beyond maxFrame, the header alone is refused.
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(frameHeader(frameResult, maxFrame+1)))); err == nil || !strings.Contains(err.Error(), "bad frame length") {
		t.Errorf("claim over maxFrame: error %v", err)
	}
}

// Payloads larger than the first chunk grow as they arrive and come out
// whole, and the next frame still starts where it should.
func TestReadFrameLarge(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (5*frameChunk+3)/16)
	var wire bytes.Buffer
	for _, b := range [][]byte{big, []byte("x")} {
		if err := writeFrame(&wire, frameResult, map[string]int{"n": len(b)}, [][]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&wire)
	for _, want := range [][]byte{big, []byte("x")} {
		f, err := readFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		bufs, err := f.buffers([]colMeta{{Buffers: []int{len(want)}}})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bufs[0][0], want) {
			t.Fatalf("payload of %d bytes came back as %d different bytes", len(want), len(bufs[0][0]))
		}
	}
	if _, err := readFrame(r); !errors.Is(err, io.EOF) {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
}
