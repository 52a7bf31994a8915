// Command predictgen writes a large input file for `mlship predict` shaped
// like a model's input signature, streaming: rows are generated and written
// one chunk at a time, so memory stays at about one Parquet row group
// whatever -rows says.
//
//   - a tensor input float32/float64 [-1, K] becomes a column named after
//     the input holding a fixed-size list of K values (how `mlship predict`
//     reads tensor inputs from Parquet and Arrow);
//   - column-based inputs (double, float, long, integer) become one scalar
//     column each.
//
// Values are uniform in [0, 8), from a PCG generator seeded by -seed, so the
// same flags write the same file. -id adds an int64 row-number column first
// (for --keep-columns). Parquet is written with pqarrow, one buffered row
// group of -row-group-rows rows at a time, plain encoding (random floats do
// not dictionary-encode) and -compression; CSV (-format csv, scalar columns
// only) has a header row and shortest-round-trip float formatting; Arrow
// (-format arrow) is an IPC file of -chunk-rows record batches.
//
//	go run ./bench/predictgen -model examples/mlp-onnx/model -rows 1000000 -id id -o /tmp/mlp.parquet
//	go run ./bench/predictgen -model examples/sklearn-iris/model -rows 1000000 -format csv -o /tmp/iris.csv
//
// bench/predict.sh uses it.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/mlship/mlship/mlmodel"
)

type options struct {
	model        string
	out          string
	format       string
	rows         int64
	rowGroupRows int64
	chunkRows    int64
	seed         uint64
	id           string
	compression  string
}

func main() {
	var o options
	flag.StringVar(&o.model, "model", "", "model directory whose input signature shapes the file (required)")
	flag.StringVar(&o.out, "o", "", "output file (required)")
	flag.StringVar(&o.format, "format", "parquet", "parquet, arrow (an Arrow IPC file of -chunk-rows batches) or csv (column-based signatures only)")
	flag.Int64Var(&o.rows, "rows", 1_000_000, "rows to write")
	flag.Int64Var(&o.rowGroupRows, "row-group-rows", 65536, "rows per Parquet row group")
	flag.Int64Var(&o.chunkRows, "chunk-rows", 8192, "rows generated at a time")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed")
	flag.StringVar(&o.id, "id", "", "name of an int64 row-number column to write first (none when empty)")
	flag.StringVar(&o.compression, "compression", "snappy", "Parquet compression: snappy, zstd, gzip, lz4, brotli, none")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "predictgen:", err)
		os.Exit(1)
	}
}

// column is one generated column: a scalar, or a fixed-size list of width
// values.
type column struct {
	name  string
	elem  arrow.DataType // float32, float64, int32 or int64
	width int            // 0: scalar
}

func columnsOf(m *mlmodel.Model) ([]column, error) {
	if m.Signature == nil || m.Signature.Inputs == nil {
		return nil, errors.New("the model has no input signature")
	}
	in := m.Signature.Inputs
	var cols []column
	for _, t := range in.Tensors {
		elem, ok := map[string]arrow.DataType{"float32": arrow.PrimitiveTypes.Float32, "float64": arrow.PrimitiveTypes.Float64}[t.DType]
		if !ok || len(t.Shape) != 2 || t.Shape[0] != -1 || t.Shape[1] < 1 {
			return nil, fmt.Errorf("tensor input %q %s%v: only float32/float64 [-1, K] inputs are generated", t.Name, t.DType, t.Shape)
		}
		if t.Name == "" {
			return nil, errors.New("unnamed tensor input: name the column yourself")
		}
		cols = append(cols, column{name: t.Name, elem: elem, width: int(t.Shape[1])})
	}
	for _, c := range in.Columns {
		elem, ok := map[mlmodel.Kind]arrow.DataType{
			mlmodel.Double: arrow.PrimitiveTypes.Float64, mlmodel.Float: arrow.PrimitiveTypes.Float32,
			mlmodel.Long: arrow.PrimitiveTypes.Int64, mlmodel.Integer: arrow.PrimitiveTypes.Int32,
		}[c.Type.Kind]
		if !ok || c.Name == "" {
			return nil, fmt.Errorf("column %q of type %s: only named double, float, long and integer columns are generated", c.Name, c.Type)
		}
		cols = append(cols, column{name: c.Name, elem: elem})
	}
	return cols, nil
}

func run(o options) error {
	if o.model == "" || o.out == "" {
		return errors.New("-model and -o are required")
	}
	if o.rows < 0 || o.rowGroupRows < 1 || o.chunkRows < 1 {
		return errors.New("-rows must be ≥ 0, -row-group-rows and -chunk-rows ≥ 1")
	}
	m, err := mlmodel.Load(o.model)
	if err != nil {
		return err
	}
	cols, err := columnsOf(m)
	if err != nil {
		return err
	}
	if o.id != "" {
		cols = append([]column{{name: o.id, elem: arrow.PrimitiveTypes.Int64}}, cols...)
	}
	f, err := os.Create(o.out)
	if err != nil {
		return err
	}
	start := time.Now()
	g := &gen{cols: cols, rng: rand.New(rand.NewPCG(o.seed, 0x6d6c73686970)), idCol: o.id != "", mem: memory.DefaultAllocator}
	switch o.format {
	case "parquet":
		err = writeParquet(f, g, o)
	case "arrow":
		err = writeArrow(f, g, o)
	case "csv":
		err = writeCSV(f, g, o)
	default:
		err = fmt.Errorf("-format must be parquet, arrow or csv, not %q", o.format)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(o.out)
		return err
	}
	st, err := os.Stat(o.out)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "predictgen: wrote %s: %d rows, %d bytes (%.2f GiB) in %s\n",
		o.out, o.rows, st.Size(), float64(st.Size())/(1<<30), time.Since(start).Round(time.Millisecond))
	return nil
}

// gen produces the rows in order.
type gen struct {
	cols  []column
	rng   *rand.Rand
	idCol bool
	next  int64 // row number of the next row
	mem   memory.Allocator
}

func (g *gen) schema() *arrow.Schema {
	fields := make([]arrow.Field, len(g.cols))
	for i, c := range g.cols {
		t := c.elem
		if c.width > 0 {
			t = arrow.FixedSizeListOfNonNullable(int32(c.width), c.elem)
		}
		fields[i] = arrow.Field{Name: c.name, Type: t}
	}
	return arrow.NewSchema(fields, nil)
}

func (g *gen) value() float64 { return 8 * g.rng.Float64() }

// batch generates the next n rows as a record batch. Values are drawn row
// by row, so a file holds the same values whatever its format and
// -chunk-rows.
func (g *gen) batch(schema *arrow.Schema, n int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(g.mem, schema)
	defer b.Release()
	for k := range n {
		for i, c := range g.cols {
			fb := b.Field(i)
			switch {
			case c.width > 0:
				lb := fb.(*array.FixedSizeListBuilder)
				lb.Append(true)
				g.appendValue(lb.ValueBuilder(), c.width)
			case g.idCol && i == 0:
				fb.(*array.Int64Builder).Append(g.next + k)
			default:
				g.appendValue(fb, 1)
			}
		}
	}
	g.next += n
	return b.NewRecordBatch()
}

func (g *gen) appendValue(b array.Builder, count int) {
	switch vb := b.(type) {
	case *array.Float32Builder:
		for range count {
			vb.Append(float32(g.value()))
		}
	case *array.Float64Builder:
		for range count {
			vb.Append(g.value())
		}
	case *array.Int64Builder:
		for range count {
			vb.Append(int64(g.value()))
		}
	case *array.Int32Builder:
		for range count {
			vb.Append(int32(g.value()))
		}
	}
}

func writeParquet(f *os.File, g *gen, o options) error {
	codec, ok := map[string]compress.Compression{
		"snappy": compress.Codecs.Snappy, "zstd": compress.Codecs.Zstd, "gzip": compress.Codecs.Gzip,
		"lz4": compress.Codecs.Lz4Raw, "brotli": compress.Codecs.Brotli, "none": compress.Codecs.Uncompressed,
	}[o.compression]
	if !ok {
		return fmt.Errorf("unknown -compression %q", o.compression)
	}
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(g.mem),
		parquet.WithCompression(codec),
		parquet.WithDictionaryDefault(false),
		parquet.WithMaxRowGroupLength(o.rowGroupRows),
	)
	schema := g.schema()
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := pqarrow.NewFileWriter(schema, bw, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return err
	}
	for left := o.rows; left > 0; {
		n := min(left, o.chunkRows)
		rec := g.batch(schema, n)
		err := w.WriteBuffered(rec)
		rec.Release()
		if err != nil {
			w.Close()
			return err
		}
		left -= n
	}
	if err := w.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// writeArrow writes an Arrow IPC file of -chunk-rows record batches.
func writeArrow(f *os.File, g *gen, o options) error {
	schema := g.schema()
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := ipc.NewFileWriter(bw, ipc.WithSchema(schema), ipc.WithAllocator(g.mem))
	if err != nil {
		return err
	}
	for left := o.rows; left > 0; {
		n := min(left, o.chunkRows)
		rec := g.batch(schema, n)
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			w.Close()
			return err
		}
		left -= n
	}
	if err := w.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

func writeCSV(f *os.File, g *gen, o options) error {
	bw := bufio.NewWriterSize(f, 1<<20)
	var line []byte
	for i, c := range g.cols {
		if c.width > 0 {
			return fmt.Errorf("column %q is a tensor: CSV holds scalar columns only", c.name)
		}
		if i > 0 {
			line = append(line, ',')
		}
		line = strconv.AppendQuote(line, c.name)
	}
	line = append(line, '\n')
	for r := int64(0); r < o.rows; r++ {
		if _, err := bw.Write(line); err != nil {
			return err
		}
		line = line[:0]
		for i, c := range g.cols {
			if i > 0 {
				line = append(line, ',')
			}
			switch {
			case g.idCol && i == 0:
				line = strconv.AppendInt(line, r, 10)
			case c.elem.ID() == arrow.INT64 || c.elem.ID() == arrow.INT32:
				line = strconv.AppendInt(line, int64(g.value()), 10)
			case c.elem.ID() == arrow.FLOAT32:
				line = strconv.AppendFloat(line, float64(float32(g.value())), 'g', -1, 32)
			default:
				line = strconv.AppendFloat(line, g.value(), 'g', -1, 64)
			}
		}
		line = append(line, '\n')
	}
	if _, err := bw.Write(line); err != nil {
		return err
	}
	return bw.Flush()
}
