package predict

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/serve/scoring"
)

// formatWriter writes batches, in order, in one format. Batches after the
// first are cast to the first one's schema where types differ.
type formatWriter interface {
	write(b columnar.Batch) error
	// close finishes the format (footer, closing brackets). It is called
	// once, also when nothing was written.
	close() error
}

func (r *runner) newWriter(s *sink) formatWriter {
	switch s.format {
	case Parquet:
		return &parquetWriter{r: r, s: s}
	case Arrow:
		// The IPC file format needs a seekable, finished file; stdout and
		// .arrows names get the stream format, which Spark and pyarrow's
		// ipc.open_stream read.
		file := s.path != "-" && !strings.HasSuffix(strings.ToLower(s.path), ".arrows")
		return &arrowWriter{r: r, s: s, file: file}
	case CSV:
		return &csvWriter{r: r, s: s}
	case JSONL:
		return &jsonlWriter{s: s}
	default:
		return &jsonWriter{r: r, s: s}
	}
}

// fixed holds the schema the first batch set and conforms later ones.
type fixed struct{ schema *arrow.Schema }

func (f *fixed) conform(b columnar.Batch) (columnar.Batch, error) {
	if f.schema == nil {
		f.schema = b.Schema()
	}
	if b.Schema().Equal(f.schema) {
		b.Retain()
		return b, nil
	}
	return conformTo(b, f.schema)
}

// emptySchema is what an output with no rows declares: the signature's
// outputs when they are known.
func (r *runner) emptySchema() *arrow.Schema {
	if r.predSchema != nil {
		return r.predSchema
	}
	if s, err := schemaOf(r.outSpec); err == nil {
		return s
	}
	return arrow.NewSchema(nil, nil)
}

// codec maps --compression to Parquet's codec.
func codec(name string) (compress.Compression, error) {
	switch strings.ToLower(name) {
	case "", "snappy":
		return compress.Codecs.Snappy, nil
	case "zstd":
		return compress.Codecs.Zstd, nil
	case "gzip":
		return compress.Codecs.Gzip, nil
	case "lz4", "lz4_raw":
		return compress.Codecs.Lz4Raw, nil
	case "brotli":
		return compress.Codecs.Brotli, nil
	case "none", "uncompressed":
		return compress.Codecs.Uncompressed, nil
	}
	return 0, fmt.Errorf("--compression must be snappy, zstd, gzip, lz4, brotli or none, not %q", name)
}

// rowGroupBytes starts a new Parquet row group once the buffered one holds
// this much, whatever --row-group-rows says: the writer keeps a whole row
// group in memory.
const rowGroupBytes = 128 << 20

type parquetWriter struct {
	r  *runner
	s  *sink
	fw *pqarrow.FileWriter
	fixed
}

func (w *parquetWriter) init(schema *arrow.Schema) error {
	c, _ := codec(w.r.opts.Compression)
	props := parquet.NewWriterProperties(
		parquet.WithCompression(c),
		parquet.WithMaxRowGroupLength(int64(w.r.opts.RowGroupRows)),
		parquet.WithAllocator(w.r.mem),
		parquet.WithCreatedBy("mlship"),
		// A column whose values barely repeat (scores, probabilities,
		// passed-through measurements) gains nothing from a dictionary,
		// yet arrow-go hashes every value until the dictionary reaches
		// this limit and then falls back to plain encoding: 64 KiB ends
		// that after ~16k distinct values instead of 1 MiB's ~262k
		// (5 % of the CPU of scoring the MLP example). Class labels and
		// other low-cardinality columns stay dictionary-encoded.
		parquet.WithDictionaryPageSizeLimit(64<<10),
	)
	fw, err := pqarrow.NewFileWriter(schema, w.s.buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(w.r.mem)))
	if err != nil {
		return err
	}
	w.fw = fw
	return nil
}

func (w *parquetWriter) write(b columnar.Batch) error {
	b, err := w.conform(b)
	if err != nil {
		return err
	}
	defer b.Release()
	if w.fw == nil {
		if err := w.init(b.Schema()); err != nil {
			return err
		}
	}
	if err := w.fw.WriteBuffered(b); err != nil {
		return err
	}
	if w.fw.RowGroupTotalBytesWritten() >= rowGroupBytes {
		return w.fw.NewBufferedRowGroupChecked()
	}
	return nil
}

func (w *parquetWriter) close() error {
	if w.fw == nil {
		if err := w.init(w.r.emptySchema()); err != nil {
			return err
		}
	}
	return w.fw.Close()
}

type arrowWriter struct {
	r    *runner
	s    *sink
	file bool
	iw   interface {
		Write(arrow.RecordBatch) error
		Close() error
	}
	fixed
}

func (w *arrowWriter) init(schema *arrow.Schema) error {
	if w.file {
		fw, err := ipc.NewFileWriter(w.s.buf, ipc.WithSchema(schema), ipc.WithAllocator(w.r.mem))
		if err != nil {
			return err
		}
		w.iw = fw
		return nil
	}
	w.iw = ipc.NewWriter(w.s.buf, ipc.WithSchema(schema), ipc.WithAllocator(w.r.mem))
	return nil
}

func (w *arrowWriter) write(b columnar.Batch) error {
	b, err := w.conform(b)
	if err != nil {
		return err
	}
	defer b.Release()
	if w.iw == nil {
		if err := w.init(b.Schema()); err != nil {
			return err
		}
	}
	return w.iw.Write(b)
}

func (w *arrowWriter) close() error {
	if w.iw == nil {
		if err := w.init(w.r.emptySchema()); err != nil {
			return err
		}
	}
	return w.iw.Close()
}

// csvWriter writes what pandas' DataFrame.to_csv(index=False) writes: a
// header, missing values and NaN as empty fields, True/False, and tensor
// cells as their JSON lists.
type csvWriter struct {
	r      *runner
	s      *sink
	cw     *csv.Writer
	header bool
	fixed
	buf []byte
	rec []string
}

func (w *csvWriter) writeHeader(schema *arrow.Schema) error {
	w.cw = csv.NewWriter(w.s.buf)
	names := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		names[i] = f.Name
	}
	w.header = true
	return w.cw.Write(names)
}

func (w *csvWriter) write(b columnar.Batch) error {
	b, err := w.conform(b)
	if err != nil {
		return err
	}
	defer b.Release()
	if !w.header {
		if err := w.writeHeader(b.Schema()); err != nil {
			return err
		}
	}
	rows, err := scoring.NewRows(b)
	if err != nil {
		return err
	}
	defer rows.Release()
	nc := int(b.NumCols())
	bools := make([]bool, nc)
	for j, f := range b.Schema().Fields() {
		bools[j] = f.Type.ID() == arrow.BOOL
	}
	for i := 0; i < rows.Len(); i++ {
		w.rec = w.rec[:0]
		for j := 0; j < nc; j++ {
			if s, null, ok := rows.Text(j, i); ok {
				if null {
					s = ""
				}
				w.rec = append(w.rec, s)
				continue
			}
			w.buf = rows.AppendCell(w.buf[:0], j, i)
			cell := string(w.buf)
			switch {
			case cell == "NaN" || cell == "null":
				cell = ""
			case bools[j] && cell == "true":
				cell = "True"
			case bools[j] && cell == "false":
				cell = "False"
			}
			w.rec = append(w.rec, cell)
		}
		if err := w.cw.Write(w.rec); err != nil {
			return err
		}
	}
	w.cw.Flush()
	return w.cw.Error()
}

func (w *csvWriter) close() error {
	if !w.header {
		if err := w.writeHeader(w.r.emptySchema()); err != nil {
			return err
		}
	}
	w.cw.Flush()
	return w.cw.Error()
}

// jsonlWriter writes one JSON object per row, as MLflow's json.dumps
// writes a DataFrame record.
type jsonlWriter struct {
	s   *sink
	buf []byte
}

func (w *jsonlWriter) write(b columnar.Batch) error {
	rows, err := scoring.NewRows(b)
	if err != nil {
		return err
	}
	defer rows.Release()
	for i := 0; i < rows.Len(); i++ {
		w.buf = rows.AppendRecord(w.buf[:0], i)
		w.buf = append(w.buf, '\n')
		if _, err := w.s.buf.Write(w.buf); err != nil {
			return err
		}
	}
	return nil
}

func (w *jsonlWriter) close() error { return nil }

// jsonWriter writes MLflow's response, {"predictions": ...}, exactly as
// `mlflow models predict` writes it. Records and lists are streamed batch
// by batch (their concatenation is the whole answer); a dict of arrays, or
// a value that is not row-aligned, is assembled at the end.
type jsonWriter struct {
	r       *runner
	s       *sink
	kind    string
	n       int
	held    []columnar.Batch
	started bool
	buf     []byte
}

func (w *jsonWriter) write(b columnar.Batch) error {
	kind, _ := b.Schema().Metadata().GetValue(scoring.MetaOutput)
	if !w.started {
		w.started, w.kind = true, kind
		if _, err := w.s.buf.WriteString(`{"predictions": `); err != nil {
			return err
		}
		if kind == "records" || kind == "list" {
			if err := w.s.buf.WriteByte('['); err != nil {
				return err
			}
		}
	}
	if kind != w.kind {
		return fmt.Errorf("the model's output changed shape between batches (%s, then %s)", w.kind, kind)
	}
	if kind != "records" && kind != "list" {
		b.Retain()
		w.held = append(w.held, b)
		return nil
	}
	var err error
	w.buf, err = scoring.AppendPredictions(w.buf[:0], b, 0)
	if err != nil {
		return err
	}
	inner := bytes.TrimSuffix(bytes.TrimPrefix(w.buf, []byte("[")), []byte("]"))
	if len(inner) == 0 {
		return nil
	}
	if w.n > 0 {
		if _, err := w.s.buf.WriteString(", "); err != nil {
			return err
		}
	}
	w.n++
	_, err = w.s.buf.Write(inner)
	return err
}

func (w *jsonWriter) close() error {
	defer func() {
		for _, b := range w.held {
			b.Release()
		}
	}()
	if !w.started {
		_, err := w.s.buf.WriteString(`{"predictions": []}`)
		return err
	}
	if w.kind == "records" || w.kind == "list" {
		_, err := w.s.buf.WriteString("]}")
		return err
	}
	whole := w.held[0]
	if len(w.held) > 1 {
		var err error
		if whole, err = columnar.Concat(w.r.mem, w.held); err != nil {
			return fmt.Errorf("joining the model's outputs: %w", err)
		}
		defer whole.Release()
	}
	out, err := scoring.AppendPredictions(nil, whole, 0)
	if err != nil {
		return err
	}
	if _, err := w.s.buf.Write(out); err != nil {
		return err
	}
	return w.s.buf.WriteByte('}')
}
