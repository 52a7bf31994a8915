package pqread

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// shape is one kind of column the generator can make.
type shape struct {
	name string
	typ  arrow.DataType
	null bool // the field is nullable
}

var shapes = []shape{
	{"f32", arrow.PrimitiveTypes.Float32, false},
	{"f64_nulls", arrow.PrimitiveTypes.Float64, true},
	{"i32_nulls", arrow.PrimitiveTypes.Int32, true},
	{"i64", arrow.PrimitiveTypes.Int64, false},
	{"tensor", arrow.ListOfNonNullable(arrow.PrimitiveTypes.Float32), false},
	{"tensor_nullable_list", arrow.ListOfNonNullable(arrow.PrimitiveTypes.Float64), true},
	{"ragged_nulls", arrow.ListOf(arrow.PrimitiveTypes.Int64), true},
	{"ragged_required", arrow.ListOf(arrow.PrimitiveTypes.Int32), false},
	{"f64_required_nulls_free", arrow.PrimitiveTypes.Float64, true},
	// Fixed-size lists (their length is the generator's width + 1): what
	// mlship's own Parquet output and predictgen write for tensors.
	{"fsl", arrow.FixedSizeListOfNonNullable(1, arrow.PrimitiveTypes.Float32), false},
	{"fsl_null_values", arrow.FixedSizeListOf(1, arrow.PrimitiveTypes.Float64), false},
}

// gen builds a table of rows rows with the given shapes; nulls, empty
// lists and list lengths come from rng. width is the fixed length of the
// "tensor" columns.
func gen(rng *rand.Rand, mem memory.Allocator, use []shape, rows, width int, nullRate float64) arrow.RecordBatch {
	var fields []arrow.Field
	var cols []arrow.Array
	for _, s := range use {
		if fl, ok := s.typ.(*arrow.FixedSizeListType); ok {
			s.typ = arrow.FixedSizeListOfField(int32(width+1), fl.ElemField())
		}
		fields = append(fields, arrow.Field{Name: s.name, Type: s.typ, Nullable: s.null})
		b := array.NewBuilder(mem, s.typ)
		for range rows {
			isNull := s.null && s.name != "f64_required_nulls_free" && rng.Float64() < nullRate
			if isNull {
				b.AppendNull()
				continue
			}
			switch bb := b.(type) {
			case *array.Float32Builder:
				bb.Append(rng.Float32())
			case *array.Float64Builder:
				bb.Append(rng.NormFloat64())
			case *array.Int32Builder:
				bb.Append(rng.Int32() - 1<<30)
			case *array.Int64Builder:
				bb.Append(rng.Int64N(1000) - 500)
			case *array.ListBuilder:
				n := width
				if s.name == "ragged_nulls" || s.name == "ragged_required" {
					n = rng.IntN(6) // 0 makes an empty list
				}
				bb.Append(true)
				vb := bb.ValueBuilder()
				for range n {
					if s.typ.(*arrow.ListType).ElemField().Nullable && rng.Float64() < nullRate {
						vb.AppendNull()
						continue
					}
					appendNumber(rng, vb)
				}
			case *array.FixedSizeListBuilder:
				bb.Append(true)
				vb := bb.ValueBuilder()
				for range width + 1 {
					if s.typ.(*arrow.FixedSizeListType).ElemField().Nullable && rng.Float64() < nullRate {
						vb.AppendNull()
						continue
					}
					appendNumber(rng, vb)
				}
			}
		}
		cols = append(cols, b.NewArray())
		b.Release()
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(rows))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// appendNumber appends a random value of the builder's type.
func appendNumber(rng *rand.Rand, b array.Builder) {
	switch v := b.(type) {
	case *array.Float32Builder:
		v.Append(rng.Float32())
	case *array.Float64Builder:
		v.Append(rng.Float64())
	case *array.Int32Builder:
		v.Append(rng.Int32())
	case *array.Int64Builder:
		v.Append(rng.Int64())
	}
}

// writeFile writes rec as Parquet with the given writer settings, storing
// the Arrow schema (as mlship's writer does: fixed-size lists read back as
// such only then).
func writeFile(t testing.TB, rec arrow.RecordBatch, groupRows int, dict bool, pageSize int64, v2 bool) []byte {
	return writeFileSchema(t, rec, groupRows, dict, pageSize, v2, true)
}

func writeFileSchema(t testing.TB, rec arrow.RecordBatch, groupRows int, dict bool, pageSize int64, v2, store bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	version := parquet.DataPageV1
	if v2 {
		version = parquet.DataPageV2
	}
	props := parquet.NewWriterProperties(
		parquet.WithDictionaryDefault(dict),
		parquet.WithDataPageSize(pageSize),
		parquet.WithBatchSize(64),
		parquet.WithMaxRowGroupLength(int64(groupRows)),
		parquet.WithDataPageVersion(version),
		parquet.WithCompression(compress.Codecs.Snappy),
	)
	arrowProps := pqarrow.DefaultWriterProps()
	if store {
		arrowProps = pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())
	}
	w, err := pqarrow.NewFileWriter(rec.Schema(), &buf, props, arrowProps)
	if err != nil {
		t.Fatal(err)
	}
	tbl := array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{rec})
	defer tbl.Release()
	if err := w.WriteTable(tbl, int64(groupRows)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compare reads data with pqarrow and with this package, leaves and groups
// selected, in batches of batch rows, and fails on any difference.
func compare(t testing.TB, data []byte, leaves, groups []int, batch int) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	open := func() *file.Reader {
		props := parquet.NewReaderProperties(mem)
		props.BufferedStreamEnabled = true
		props.BufferSize = 4096
		pf, err := file.NewParquetReader(bytes.NewReader(data), file.WithReadProps(props))
		if err != nil {
			t.Fatal(err)
		}
		return pf
	}
	pfA, pfB := open(), open()
	defer pfA.Close()
	defer pfB.Close()
	fr, err := pqarrow.NewFileReader(pfA, pqarrow.ArrowReadProperties{BatchSize: int64(batch), Parallel: true}, mem)
	if err != nil {
		t.Fatal(err)
	}
	want, err := fr.GetRecordReader(context.Background(), leaves, groups)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Release()
	frB, err := pqarrow.NewFileReader(pfB, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewWithAllocator(pfB, frB.Manifest, leaves, groups, batch, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if !got.Schema().Equal(want.Schema()) {
		t.Fatalf("schema\n%v\nwant\n%v", got.Schema(), want.Schema())
	}
	for k := 0; ; k++ {
		g, gerr := got.Next(context.Background())
		if !want.Next() {
			if err := want.Err(); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			if !errors.Is(gerr, io.EOF) {
				t.Fatalf("batch %d: pqarrow is done, this reader gave %v, %v", k, g, gerr)
			}
			return
		}
		if gerr != nil {
			t.Fatalf("batch %d: %v", k, gerr)
		}
		w := want.RecordBatch()
		if g.NumRows() != w.NumRows() {
			t.Fatalf("batch %d: %d rows, pqarrow %d", k, g.NumRows(), w.NumRows())
		}
		for i := range w.NumCols() {
			if err := array.ValidateFull(g.Column(int(i))); err != nil {
				t.Fatalf("batch %d column %s: %v", k, w.ColumnName(int(i)), err)
			}
			if !array.Equal(g.Column(int(i)), w.Column(int(i))) {
				t.Fatalf("batch %d column %s:\n%v\nwant\n%v", k, w.ColumnName(int(i)), g.Column(int(i)), w.Column(int(i)))
			}
		}
		g.Release()
	}
}

// openReader opens data and returns this package's reader of every
// column in batches of batch rows, closed (with the file) when the test ends.
func openReader(t testing.TB, data []byte, batch int) *Reader {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pf.Close() })
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(pf, fr.Manifest, nil, nil, batch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Every supported shape, with every writer setting that changes how
// levels and values sit in pages, in batches that do and do not line up
// with row groups and pages, read the same as pqarrow reads them.
func TestMatchesPQArrow(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rec := gen(rng, memory.DefaultAllocator, shapes, 1000, 7, 0.2)
	defer rec.Release()
	for _, dict := range []bool{false, true} {
		for _, v2 := range []bool{false, true} {
			for _, pageSize := range []int64{97, 1 << 20} {
				data := writeFile(t, rec, 300, dict, pageSize, v2)
				for _, batch := range []int{1, 7, 64, 299, 300, 301, 1000, 5000} {
					t.Run(fmt.Sprintf("dict=%v/v2=%v/page=%d/batch=%d", dict, v2, pageSize, batch), func(t *testing.T) {
						compare(t, data, nil, nil, batch)
					})
				}
				// Some columns, some row groups (in a chosen order).
				t.Run(fmt.Sprintf("dict=%v/v2=%v/page=%d/subset", dict, v2, pageSize), func(t *testing.T) {
					compare(t, data, []int{1, 5, 6}, []int{3, 1}, 128)
				})
			}
		}
	}
}

// The MLP's input: 256 floats a row, non-null, in large row groups, as a
// list and as the fixed-size list mlship's predictgen writes.
func TestTensorColumn(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rec := gen(rng, memory.DefaultAllocator, []shape{shapes[4], shapes[9]}, 5000, 255, 0)
	defer rec.Release()
	data := writeFile(t, rec, 4096, false, 1<<20, false)
	r := openReader(t, data, 10)
	if got := r.Schema().Field(1).Type; !arrow.TypeEqual(got, arrow.FixedSizeListOfNonNullable(256, arrow.PrimitiveTypes.Float32)) {
		t.Fatalf("the fixed-size list column reads as %v", got)
	}
	for _, batch := range []int{1, 100, 4096, 10000} {
		compare(t, data, nil, nil, batch)
	}
}

// Shapes this reader leaves to pqarrow say so, before anything is read.
func TestUnsupported(t *testing.T) {
	mem := memory.DefaultAllocator
	for _, tc := range []struct {
		name string
		typ  arrow.DataType
	}{
		{"string", arrow.BinaryTypes.String},
		{"date", arrow.FixedWidthTypes.Date32},
		{"int8", arrow.PrimitiveTypes.Int8},
		{"uint32", arrow.PrimitiveTypes.Uint32},
		{"bool", arrow.FixedWidthTypes.Boolean},
		{"timestamp", arrow.FixedWidthTypes.Timestamp_us},
		{"nested list", arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Float32))},
		{"struct", arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Float64})},
		{"list of strings", arrow.ListOf(arrow.BinaryTypes.String)},
		{"nullable fixed-size list", arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float32)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema := arrow.NewSchema([]arrow.Field{
				{Name: "x", Type: arrow.PrimitiveTypes.Float64},
				{Name: "odd", Type: tc.typ, Nullable: true},
			}, nil)
			b := array.NewRecordBuilder(mem, schema)
			defer b.Release()
			b.Field(0).(*array.Float64Builder).Append(1)
			b.Field(1).AppendNull()
			rec := b.NewRecordBatch()
			defer rec.Release()
			data := writeFile(t, rec, 10, true, 1<<20, false)
			pf, err := file.NewParquetReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := New(pf, fr.Manifest, nil, nil, 10); !errors.Is(err, ErrUnsupported) {
				t.Errorf("all columns: err = %v, want ErrUnsupported", err)
			}
			// Without the odd column, the file reads.
			compare(t, data, []int{0}, nil, 10)
		})
	}
}

// A file whose pages hold fewer rows than its row groups declare is an
// error naming the column, not a short or misaligned batch.
func TestShortColumn(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	rec := gen(rng, memory.DefaultAllocator, []shape{shapes[0], shapes[4]}, 100, 3, 0)
	defer rec.Release()
	data := writeFile(t, rec, 100, false, 1<<20, false)
	r := openReader(t, data, 64)
	r.left += 10 // as if the metadata declared 110 rows
	var errs []error
	for {
		b, err := r.Next(context.Background())
		if err != nil {
			errs = append(errs, err)
			break
		}
		b.Release()
	}
	if len(errs) != 1 || errors.Is(errs[0], io.EOF) || !bytes.Contains([]byte(errs[0].Error()), []byte("ends after 36 of the 46 rows")) {
		t.Errorf("errors %v, want the short column named", errs)
	}
}

// FuzzMatchesPQArrow generates tables from the fuzzer's numbers (which
// shapes, how many rows, how many nulls, list width, row group size, page
// size, dictionary, page version, batch size) and holds this reader to
// pqarrow's result on them.
func FuzzMatchesPQArrow(f *testing.F) {
	f.Add(uint64(1), uint16(0x7ff), uint16(200), uint8(20), uint8(3), uint16(50), uint16(100), uint8(0), uint16(33))
	f.Add(uint64(2), uint16(0x10), uint16(1), uint8(0), uint8(0), uint16(1), uint16(1), uint8(3), uint16(1))
	f.Add(uint64(3), uint16(0x40), uint16(500), uint8(90), uint8(5), uint16(499), uint16(8), uint8(1), uint16(1000))
	f.Fuzz(func(t *testing.T, seed uint64, mask, rows uint16, nullPct, width uint8, groupRows, pageSize uint16, flags uint8, batch uint16) {
		var use []shape
		for i, s := range shapes {
			if mask&(1<<i) != 0 {
				use = append(use, s)
			}
		}
		if len(use) == 0 {
			return
		}
		rows %= 2000
		rng := rand.New(rand.NewPCG(seed, 7))
		rec := gen(rng, memory.DefaultAllocator, use, int(rows), int(width%40), float64(nullPct%101)/100)
		defer rec.Release()
		data := writeFileSchema(t, rec, int(groupRows%1000)+1, flags&1 != 0, int64(pageSize)+1, flags&2 != 0, flags&4 == 0)
		compare(t, data, nil, nil, int(batch%3000)+1)
	})
}
