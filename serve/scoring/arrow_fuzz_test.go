package scoring_test

import (
	"bytes"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/serve/scoring"
)

// arrowStream writes batches as an Arrow IPC stream, as a client's
// ipc.Writer (or pyarrow's RecordBatchStreamWriter) would.
func arrowStream(tb testing.TB, schema *arrow.Schema, batches []arrow.RecordBatch, opts ...ipc.Option) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, append([]ipc.Option{ipc.WithSchema(schema)}, opts...)...)
	for _, b := range batches {
		if err := w.Write(b); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// arrowSeeds are valid streams whose columns the fuzz decoders' signatures
// name ("input", "a", "b", "d", "l", "s", "tags", ...), in plain, LZ4 and
// zstd framing, plus broken ones.
func arrowSeeds(tb testing.TB) [][]byte {
	mem := memory.NewGoAllocator()
	var seeds [][]byte
	add := func(schema *arrow.Schema, build func(*array.RecordBuilder), nbatches int) {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		var recs []arrow.RecordBatch
		for range nbatches {
			build(b)
			recs = append(recs, b.NewRecordBatch())
		}
		for _, opts := range [][]ipc.Option{nil, {ipc.WithLZ4()}, {ipc.WithZstd()}} {
			seeds = append(seeds, arrowStream(tb, schema, recs, opts...))
		}
		for _, r := range recs {
			r.Release()
		}
	}

	// A table of typed columns, with nulls, in two batches.
	table := arrow.NewSchema([]arrow.Field{
		{Name: "d", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "l", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "dt", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	}, nil)
	add(table, func(b *array.RecordBuilder) {
		b.Field(0).(*array.Float64Builder).AppendValues([]float64{1.5, 2}, []bool{true, false})
		b.Field(1).(*array.Int64Builder).AppendValues([]int64{7, -1}, nil)
		b.Field(2).(*array.StringBuilder).AppendValues([]string{"x", "é"}, []bool{true, false})
		b.Field(3).(*array.BooleanBuilder).AppendValues([]bool{true, false}, nil)
		b.Field(4).(*array.BinaryBuilder).AppendValues([][]byte{[]byte("hi"), nil}, nil)
		b.Field(5).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1704103200000000, 0}, nil)
		lb := b.Field(6).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.StringBuilder).AppendValues([]string{"a", "b"}, nil)
		lb.AppendNull()
	}, 2)

	// A float32 [-1, 4] tensor as a FixedSizeList column.
	tensor := arrow.NewSchema([]arrow.Field{{Name: "input", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float32)}}, nil)
	add(tensor, func(b *array.RecordBuilder) {
		fb := b.Field(0).(*array.FixedSizeListBuilder)
		for i := range 3 {
			fb.Append(true)
			fb.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{float32(i), 1, 2, 3}, nil)
		}
	}, 1)

	// Named tensors a int64 [-1] and b float32 [-1, 2], plus an extra
	// column the signature drops.
	ab := arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Int32},
		{Name: "b", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32)},
		{Name: "a", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	add(ab, func(b *array.RecordBuilder) {
		b.Field(0).(*array.Int32Builder).AppendValues([]int32{1, 2}, nil)
		fb := b.Field(1).(*array.FixedSizeListBuilder)
		fb.AppendValues([]bool{true, true})
		fb.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{1, 2, 3, 4}, nil)
		b.Field(2).(*array.Int64Builder).AppendValues([]int64{10, 20}, nil)
	}, 1)

	// Two double columns (an unnamed [-1, 2] tensor), dictionary-encoded
	// strings, and an empty batch.
	two := arrow.NewSchema([]arrow.Field{
		{Name: "p", Type: arrow.PrimitiveTypes.Float64},
		{Name: "q", Type: arrow.PrimitiveTypes.Float64},
		{Name: "cat", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}},
	}, nil)
	add(two, func(b *array.RecordBuilder) {
		b.Field(0).(*array.Float64Builder).AppendValues([]float64{1, 2, 3}, nil)
		b.Field(1).(*array.Float64Builder).AppendValues([]float64{4, 5, 6}, nil)
		if err := b.Field(2).(*array.BinaryDictionaryBuilder).AppendValueFromString("u"); err != nil {
			tb.Fatal(err)
		}
		b.Field(2).AppendNull()
		if err := b.Field(2).(*array.BinaryDictionaryBuilder).AppendValueFromString("u"); err != nil {
			tb.Fatal(err)
		}
	}, 1)
	add(table, func(*array.RecordBuilder) {}, 1)

	// Broken: a schema without batches, truncations, an Arrow file
	// instead of a stream, JSON, nothing.
	first := seeds[0]
	seeds = append(seeds,
		arrowStream(tb, table, nil),
		first[:len(first)/2], first[:len(first)-8], first[:12],
		append([]byte("ARROW1\x00\x00"), first...),
		[]byte(`{"inputs": [1]}`), nil,
		[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // a 2 GiB metadata claim
	)
	return seeds
}

// FuzzDecodeArrow decodes arbitrary Arrow IPC stream bodies with every
// fuzz decoder (with and without a signature). Failures are client errors
// that free everything; a decoded batch is valid Arrow that matches the
// signature, does not alias the body, and survives an Arrow round trip.
func FuzzDecodeArrow(f *testing.F) {
	for _, s := range arrowSeeds(f) {
		f.Add(s)
	}
	decs := fuzzDecoders(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, dc := range decs {
			checkDecodedArrow(t, dc, body)
		}
	})
}

func checkDecodedArrow(t *testing.T, dc fuzzDecoder, body []byte) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	peak := &peakAllocator{Allocator: mem}
	d := &scoring.Decoder{Inputs: dc.inputs, Params: dc.params, Mem: peak}
	buf := slices.Clone(body)
	req, err := d.DecodeArrow(buf)
	// No stream may make the decoder hold much more than its own size:
	// the decoder's budget (64 times the body, at least 16 MiB) for what
	// it reads, as much again for concatenating batches.
	if limit := 2 * max(64*int64(len(body)), 16<<20); peak.peak > limit {
		t.Fatalf("%s: %d bytes held at once for a body of %d bytes", dc.name, peak.peak, len(body))
	}
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
		if ae.Message == "" {
			t.Fatalf("%s: error with an empty message", dc.name)
		}
		return
	}
	if req == nil || req.Batch == nil {
		t.Fatalf("%s: no error and no batch", dc.name)
	}
	b := req.Batch
	fields := b.Schema().Fields()
	for i, col := range b.Columns() {
		if int64(col.Len()) != b.NumRows() {
			t.Fatalf("%s: column %q has %d rows, the batch %d", dc.name, fields[i].Name, col.Len(), b.NumRows())
		}
		if err := array.ValidateFull(col); err != nil {
			t.Fatalf("%s: column %q is not valid Arrow: %v", dc.name, fields[i].Name, err)
		}
	}

	// The signature decides the form and which columns the model sees;
	// Arrow columns keep the client's types.
	in := dc.inputs
	wantForm := scoring.FormDataFrame
	if in.IsTensorBased() {
		wantForm = scoring.FormTensor
	}
	if req.Form != wantForm {
		t.Errorf("%s: form %s, want %s", dc.name, req.Form, wantForm)
	}
	switch {
	case in == nil || (in.IsTensorBased() && !in.HasNames()):
	case !in.HasNames():
		if len(fields) != in.Len() {
			t.Fatalf("%s: %d columns for %d unnamed specs", dc.name, len(fields), in.Len())
		}
	default:
		names, last := in.Names(), -1
		for _, f := range fields {
			i := slices.Index(names, f.Name)
			if i <= last {
				t.Fatalf("%s: columns %v are not a subset of %v in signature order", dc.name, fieldNames(fields), names)
			}
			last = i
		}
	}
	// Arrow carries no params: a params schema gives its defaults.
	if (dc.params == nil) != (req.Params == nil) || (dc.params != nil && len(req.Params) != len(dc.params.Params)) {
		t.Errorf("%s: params %v, want the %d defaults of the schema", dc.name, req.Params, paramCount(dc))
	}

	// The batch goes back out as Arrow unchanged (an identity model), and
	// does not depend on the body's buffer, which the server reuses.
	out, err := scoring.EncodeArrow(nil, b)
	if err != nil {
		t.Fatalf("%s: EncodeArrow: %v", dc.name, err)
	}
	for i := range buf {
		buf[i] = '#'
	}
	again, err := (&scoring.Decoder{}).DecodeArrow(out)
	if err != nil {
		t.Fatalf("%s: decoding the re-encoded batch: %v", dc.name, err)
	}
	if !again.Batch.Schema().Equal(b.Schema()) {
		t.Errorf("%s: round trip changed the schema from %s to %s", dc.name, b.Schema(), again.Batch.Schema())
	}
	if !array.RecordApproxEqual(again.Batch, b, array.WithNaNsEqual(true)) {
		t.Errorf("%s: round trip (or overwriting the body) changed the batch", dc.name)
	}
	again.Release()
	if b.NumRows() <= 1<<16 { // JSON for millions of null rows is slow, not wrong
		encodeBoth(t, dc, b)
	}

	req.Release()
	if n := mem.CurrentAlloc(); n != 0 {
		mem.AssertSize(t, 0)
		t.Fatalf("%s: %d bytes still allocated after Request.Release", dc.name, n)
	}
}

func paramCount(dc fuzzDecoder) int {
	if dc.params == nil {
		return 0
	}
	return len(dc.params.Params)
}

// peakAllocator records the most bytes it held at once.
type peakAllocator struct {
	memory.Allocator
	mu        sync.Mutex
	cur, peak int64
}

func (a *peakAllocator) add(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cur += int64(n)
	a.peak = max(a.peak, a.cur)
}

func (a *peakAllocator) Allocate(size int) []byte {
	a.add(size)
	return a.Allocator.Allocate(size)
}

func (a *peakAllocator) Reallocate(size int, b []byte) []byte {
	a.add(size - len(b))
	return a.Allocator.Reallocate(size, b)
}

func (a *peakAllocator) Free(b []byte) {
	a.add(-len(b))
	a.Allocator.Free(b)
}
