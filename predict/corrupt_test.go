package predict

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// A Parquet file damaged anywhere in its pages ends the run with an error
// or scores what it holds; it never crashes the process, whether its
// columns go through pqread (the signature's double column) or pqarrow (a
// string column kept with --keep-all). arrow-go's page reader panics on
// some damaged dictionary page headers.
func TestCorruptParquet(t *testing.T) {
	mem := memory.DefaultAllocator
	ids, xs, names := array.NewInt64Builder(mem), array.NewFloat64Builder(mem), array.NewStringBuilder(mem)
	for i := range 600 {
		ids.Append(int64(i))
		xs.Append(float64(i % 7))
		names.Append(fmt.Sprint("name-", i%5))
	}
	cols := []arrow.Array{ids.NewArray(), xs.NewArray(), names.NewArray()}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "name", Type: arrow.BinaryTypes.String},
	}, nil)
	rec := array.NewRecordBatch(schema, cols, 600)
	defer rec.Release()
	for _, c := range cols {
		c.Release()
	}
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithDictionaryDefault(true), parquet.WithDataPageSize(256), parquet.WithMaxRowGroupLength(200))
	w, err := pqarrow.NewFileWriter(schema, &buf, props, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	clean := buf.Bytes()
	// The footer (its length is in the last 8 bytes) is left alone: a
	// damaged footer fails when the file is opened, which is tested
	// elsewhere; the pages are what the column readers decode.
	footer := int(uint32(clean[len(clean)-8]) | uint32(clean[len(clean)-7])<<8 | uint32(clean[len(clean)-6])<<16 | uint32(clean[len(clean)-5])<<24)
	body := len(clean) - 8 - footer
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(21, 22))
	var failed, scored int
	for k := range 300 {
		data := bytes.Clone(clean)
		for range 1 + rng.IntN(3) {
			data[4+rng.IntN(body-4)] ^= byte(1 + rng.IntN(255))
		}
		in := filepath.Join(dir, "in.parquet")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := tryRun(t, &doubler{}, doublerModel(t), Options{Inputs: []string{in}, Output: filepath.Join(dir, fmt.Sprint("out", k, ".parquet")), BatchRows: 64, KeepAll: k%2 == 1})
		if err != nil {
			failed++
		} else {
			scored++
		}
	}
	t.Logf("300 damaged files: %d runs failed with an error, %d scored", failed, scored)
	if failed == 0 {
		t.Error("no damaged file was refused: the damage did not reach the pages")
	}

	// A row group declaring a negative row count (zigzag 399 where 400
	// said 200): an error through either reader.
	neg := bytes.Clone(clean)
	footerBytes := neg[body : len(neg)-8]
	i := bytes.Index(footerBytes, []byte{0x16, 0x90, 0x03})
	if i < 0 {
		t.Fatal("the row group's row count is not in the footer")
	}
	footerBytes[i+1] = 0x8f
	in := filepath.Join(dir, "negative.parquet")
	if err := os.WriteFile(in, neg, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, keepAll := range []bool{false, true} {
		if _, err := tryRun(t, &doubler{}, doublerModel(t), Options{Inputs: []string{in}, Output: filepath.Join(dir, fmt.Sprint("negative", keepAll, ".parquet")), BatchRows: 64, KeepAll: keepAll}); err == nil {
			t.Errorf("keep-all %v: a row group of -200 rows was scored", keepAll)
		}
	}

	// The footer (the file's schema and row groups, Thrift-encoded), the
	// magic and the footer length: an error, never a crash.
	failed = 0
	for k := range 300 {
		data := bytes.Clone(clean)
		for range 1 + rng.IntN(3) {
			data[body+rng.IntN(len(clean)-body)] ^= byte(1 + rng.IntN(255))
		}
		in := filepath.Join(dir, "footer.parquet")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := tryRun(t, &doubler{}, doublerModel(t), Options{Inputs: []string{in}, Output: filepath.Join(dir, fmt.Sprint("footer", k, ".parquet")), BatchRows: 64, KeepAll: k%2 == 1}); err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Error("no file with a damaged footer was refused")
	}
}
