package pqread

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// fixedSizeFile writes rows of the given lengths into a column whose
// stored Arrow schema says fixed_size_list<float32>[3]: the Parquet schema
// and key-value metadata of a real fixed-size-list file, levels written by
// hand (as a careless or hostile writer could).
func fixedSizeFile(t *testing.T, lengths []int) []byte {
	t.Helper()
	fsl := arrow.FixedSizeListOfNonNullable(3, arrow.PrimitiveTypes.Float32)
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema([]arrow.Field{{Name: "t", Type: fsl}}, nil))
	defer b.Release()
	b.Field(0).(*array.FixedSizeListBuilder).Append(true)
	b.Field(0).(*array.FixedSizeListBuilder).ValueBuilder().(*array.Float32Builder).AppendValues([]float32{1, 2, 3}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	model, err := file.NewParquetReader(bytes.NewReader(writeFile(t, rec, 10, false, 1<<20, false)))
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()

	var defs, reps []int16
	var vals []float32
	for _, n := range lengths {
		for k := range n {
			defs = append(defs, model.MetaData().Schema.Column(0).MaxDefinitionLevel())
			reps = append(reps, min(int16(k), 1))
			vals = append(vals, float32(len(vals)))
		}
	}
	var buf bytes.Buffer
	root := model.MetaData().Schema.Root()
	w := file.NewParquetWriter(&buf, root, file.WithWriterProps(parquet.NewWriterProperties(parquet.WithDictionaryDefault(false))),
		file.WithWriteMetadata(model.MetaData().KeyValueMetadata()))
	cw, err := w.AppendRowGroup().NextColumn()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cw.(*file.Float32ColumnChunkWriter).WriteBatch(vals, defs, reps); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads every batch of data with this package, or returns the
// first error.
func readAll(t *testing.T, data []byte, batch int) (int, error) {
	t.Helper()
	r := openReader(t, data, batch)
	if got := r.Schema().Field(0).Type; got.ID() != arrow.FIXED_SIZE_LIST {
		t.Fatalf("the column reads as %v, want a fixed-size list", got)
	}
	rows := 0
	for {
		b, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows += int(b.NumRows())
		b.Release()
	}
}

// Rows of a fixed-size-list column are read as fixed-size blocks of
// levels, so every block is checked: a row of another length is an error
// naming the sizes (pqarrow refuses the same files), never rows shifted
// into each other.
func TestFixedSizeRowsChecked(t *testing.T) {
	good := fixedSizeFile(t, []int{3, 3, 3, 3, 3})
	for _, batch := range []int{1, 2, 5, 7} {
		compare(t, good, nil, nil, batch)
	}
	for _, tc := range []struct {
		name    string
		lengths []int
		want    string
	}{
		{"a short row", []int{3, 3, 2, 3, 3, 1}, "size=2"},
		{"a long row", []int{3, 4, 3, 2}, "holds more values"},
		{"ends inside a row", []int{3, 3, 3, 3, 2}, "size=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := fixedSizeFile(t, tc.lengths)
			for _, batch := range []int{1, 2, 100} {
				if _, err := readAll(t, data, batch); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("batch %d: err = %v, want one saying %s", batch, err, tc.want)
				}
			}
			// pqarrow refuses it too.
			pf, err := file.NewParquetReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			defer pf.Close()
			fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 100}, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			if tbl, err := fr.ReadTable(context.Background()); err == nil {
				tbl.Release()
				t.Errorf("pqarrow read the file without an error")
			}
		})
	}
}

func TestAllEqual(t *testing.T) {
	for n := range 20 {
		s := make([]int16, n)
		for i := range s {
			s[i] = 7
		}
		if !allEqual(s, 7) {
			t.Fatalf("%d sevens: not all equal", n)
		}
		for i := range s {
			s[i] = 6
			if allEqual(s, 7) {
				t.Fatalf("%d levels, level %d differs: all equal", n, i)
			}
			s[i] = 7
		}
	}
	if !allEqual([]int16{-1, -1, -1, -1, -1}, -1) || allEqual([]int16{-1, -1, -1, -1, 1}, -1) {
		t.Error("negative levels")
	}
}

// A footer declaring a negative row count (zigzag 599 where 600 said
// 300) is refused when the reader is made, not turned into a batch of a
// negative size.
func TestNegativeRowCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	rec := gen(rng, memory.DefaultAllocator, []shape{shapes[9]}, 600, 2, 0)
	defer rec.Release()
	data := writeFile(t, rec, 300, false, 1<<20, false)
	n := int(data[len(data)-8]) | int(data[len(data)-7])<<8 | int(data[len(data)-6])<<16 | int(data[len(data)-5])<<24
	footer := data[len(data)-8-n : len(data)-8]
	i := bytes.Index(footer, []byte{0x16, 0xd8, 0x04})
	if i < 0 {
		t.Fatal("the row count is not in the footer")
	}
	footer[i+1] = 0xd7 // zigzag 599: -300
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		return // refused at open: as good
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return
	}
	if pf.MetaData().RowGroup(0).NumRows() != -300 {
		t.Fatalf("the patched row group declares %d rows, want -300", pf.MetaData().RowGroup(0).NumRows())
	}
	if _, err := New(pf, fr.Manifest, nil, nil, 64); err == nil || !strings.Contains(err.Error(), "declares -300 rows") {
		t.Errorf("err = %v, want the negative row count named", err)
	}
}
