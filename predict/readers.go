package predict

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/pqread"
	"github.com/mlship/mlship/serve/scoring"
)

// maxLine bounds one JSON line or CSV record: a longer one is an error, not
// an unbounded allocation.
const maxLine = 64 << 20

// emitFunc hands a chunk to the pipeline; it blocks while too many chunks
// are in flight and fails when the run is cancelled.
type emitFunc func(rows) error

// countingReader counts the bytes read from an input, for the progress bar.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// open returns the input's bytes as a stream.
func (r *runner) open(in *input) (io.ReadCloser, error) {
	if in.path == "-" {
		return io.NopCloser(countingReader{r: r.opts.Stdin, n: &r.bytesRead}), nil
	}
	f, err := os.Open(in.path)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{countingReader{r: f, n: &r.bytesRead}, f}, nil
}

func (r *runner) read(ctx context.Context, in *input, emit emitFunc) error {
	switch in.format {
	case Parquet:
		return r.readParquet(ctx, in, emit)
	case Arrow:
		return r.readArrow(in, emit)
	case CSV:
		return r.readCSV(in, emit)
	case JSONL:
		return r.readJSONL(in, emit)
	case JSON:
		return r.readJSON(in, emit)
	}
	return fmt.Errorf("unsupported input format %q", in.format)
}

// readParquet streams the input's row groups in batches of BatchRows rows,
// reading only the columns the model and the pass-through need.
func (r *runner) readParquet(ctx context.Context, in *input, emit emitFunc) error {
	var pf *file.Reader
	props := parquet.NewReaderProperties(r.mem)
	// Read pages through a bounded buffer instead of whole column chunks:
	// memory follows the batch, not the row group.
	props.BufferedStreamEnabled = true
	props.BufferSize = 1 << 20
	if in.path == "-" {
		// Parquet needs random access (the footer is at the end): spool
		// stdin to a temporary file.
		tmp, err := spool(r.opts.Stdin, &r.bytesRead)
		if err != nil {
			return fmt.Errorf("reading Parquet from stdin: %w", err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if pf, err = file.NewParquetReader(tmp, file.WithReadProps(props)); err != nil {
			return fmt.Errorf("stdin: not a readable Parquet file: %w", err)
		}
	} else {
		var err error
		if pf, err = file.OpenParquetFile(in.path, false, file.WithReadProps(props)); err != nil {
			return fmt.Errorf("not a readable Parquet file: %w", err)
		}
		defer pf.Close()
	}
	// Not Parallel: arrow-go's page reader panics on some corrupt page
	// headers, and only a panic in this goroutine can become an error
	// (pqarrowNext). pqread, which reads the common numeric shapes,
	// decodes columns in parallel and recovers in each.
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(r.opts.BatchRows)}, r.mem)
	if err != nil {
		return fmt.Errorf("reading the Parquet schema: %w", err)
	}
	cols := r.columnsToRead(pf)
	groups := in.rowGroups
	if groups == nil {
		for g := 0; g < pf.NumRowGroups(); g++ {
			groups = append(groups, g)
		}
	}
	if in.path != "-" {
		// Progress for Parquet counts rows (the file says how many), and
		// bytes as the row groups go by.
		defer func() { r.bytesRead.Add(in.size) }()
	}
	if len(groups) == 0 {
		return nil
	}
	if os.Getenv("MLSHIP_PARQUET_READER") != "pqarrow" {
		// Numeric and tensor (list of numbers) columns decode several
		// times faster through pqread; other shapes come back
		// ErrUnsupported and go through pqarrow below.
		pr, err := pqread.NewWithAllocator(pf, fr.Manifest, cols, groups, r.opts.BatchRows, r.mem)
		if err == nil {
			defer pr.Close()
			for {
				rec, err := pr.Next(ctx)
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("reading Parquet data: %w", err)
				}
				if err := emit(&tableRows{b: rec, mem: r.mem}); err != nil {
					return err
				}
			}
		}
		if !errors.Is(err, pqread.ErrUnsupported) {
			return fmt.Errorf("reading Parquet row groups: %w", err)
		}
	}
	rr, err := fr.GetRecordReader(ctx, cols, groups)
	if err != nil {
		return fmt.Errorf("reading Parquet row groups: %w", err)
	}
	defer rr.Release()
	for {
		if more, err := pqarrowNext(rr); err != nil {
			return err
		} else if !more {
			break
		}
		rec := rr.RecordBatch()
		rec.Retain()
		if err := emit(&tableRows{b: rec, mem: r.mem}); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading Parquet data: %w", err)
	}
	return nil
}

// pqarrowNext advances rr; a panic in arrow-go's decoders (a corrupt
// dictionary page header dereferences nil) is an error naming the file as
// corrupt instead of the end of the process.
func pqarrowNext(rr pqarrow.RecordReader) (more bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			more, err = false, fmt.Errorf("reading Parquet data: corrupt column chunk: the page decoder failed: %v", p)
		}
	}()
	return rr.Next(), nil
}

// columnsToRead returns the Parquet leaf columns under the top-level
// fields the model's signature names plus the pass-through ones, or nil
// (all) when the signature does not name its inputs.
func (r *runner) columnsToRead(pf *file.Reader) []int {
	names := r.dec.Inputs.Names()
	if r.opts.KeepAll || len(names) == 0 || !r.dec.Inputs.HasNames() {
		return nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, n := range r.opts.KeepColumns {
		want[n] = true
	}
	schema := pf.MetaData().Schema
	var cols []int
	for i := 0; i < schema.NumColumns(); i++ {
		if path := schema.Column(i).ColumnPath(); len(path) > 0 && want[path[0]] {
			cols = append(cols, i)
		}
	}
	if len(cols) == 0 {
		return nil // let the signature check name what is missing
	}
	return cols
}

// spool copies stdin to an unlinked-on-return temporary file.
func spool(src io.Reader, n *atomic.Int64) (*os.File, error) {
	tmp, err := os.CreateTemp("", "mlship-stdin-*.parquet")
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(tmp, countingReader{r: src, n: n}); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return tmp, nil
}

// arrowBudget bounds what the Arrow IPC reader may hold at once: a record
// batch as large as this would not be scored in bounded memory anyway,
// and a file claiming more (a corrupt length, a compression bomb) gets an
// error instead of exhausting memory.
const arrowBudget = 4 << 30

// readArrow reads an Arrow IPC stream or file (a file holds a stream after
// its magic, which is how both are read: in order, from the start, so
// stdin works too), slicing record batches larger than BatchRows.
func (r *runner) readArrow(in *input, emit emitFunc) error {
	src, err := r.open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	sr, err := scoring.NewArrowStreamReader(src, r.mem, arrowBudget)
	if err != nil {
		return fmt.Errorf("not a readable Arrow IPC stream or file: %w", err)
	}
	defer sr.Release()
	for sr.Next() {
		if err := r.emitSliced(sr.RecordBatch(), emit); err != nil {
			return err
		}
	}
	if err := sr.Err(); err != nil {
		return fmt.Errorf("reading Arrow IPC data: %w", err)
	}
	return nil
}

// emitSliced emits rec in slices of at most BatchRows rows. rec belongs
// to its reader; the slices hold their own references.
func (r *runner) emitSliced(rec columnar.Batch, emit emitFunc) error {
	// An IPC file's buffers are whatever the file says: check them before
	// a flavor reads them, as the server checks Arrow request bodies.
	rec, err := scoring.ValidBatch(rec)
	if err != nil {
		return fmt.Errorf("malformed Arrow IPC data: %w", err)
	}
	defer rec.Release()
	n := rec.NumRows()
	step := int64(r.opts.BatchRows)
	for off := int64(0); off < n; off += step {
		if err := emit(&tableRows{b: rec.NewSlice(off, min(off+step, n)), mem: r.mem}); err != nil {
			return err
		}
	}
	return nil
}

// readCSV reads a CSV file with a header row as a stream of records. The
// reader goroutine only cuts the input into chunks of BatchRows whole
// records (csvSplitter); the workers parse them (csvRows.parse). Input the
// splitter cannot cut safely is parsed here in one stream from there on.
func (r *runner) readCSV(in *input, emit emitFunc) error {
	src, err := r.open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	return r.readCSVFrom(src, 1<<20, emit)
}

// readCSVFrom is readCSV over src read block bytes at a time.
func (r *runner) readCSVFrom(src io.Reader, block int, emit emitFunc) error {
	fail := r.opts.OnError == OnErrorFail
	s := newCSVSplitter(src, block)
	first, err := s.next(1)
	if errors.Is(err, io.EOF) {
		return errEmptyCSV
	}
	if errors.Is(err, errCSVUnsure) {
		rest, line := s.rest()
		return r.readCSVStream(rest, block, line-1, nil, emit)
	}
	if err != nil {
		return fmt.Errorf("reading the CSV header: %w", err)
	}
	// The header chunk holds only whole, well-formed records.
	header, err := newCSVReader(bytes.NewReader(first.data)).Read()
	if err != nil {
		return fmt.Errorf("reading the CSV header: %w", err)
	}
	if fail {
		// A row of too many fields stops the run where the reader
		// reaches it, as the single-stream parse does.
		s.width = len(header)
	}
	for {
		c, err := s.next(r.opts.BatchRows)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, errCSVUnsure) {
			rest, line := s.rest()
			return r.readCSVStream(rest, block, line-1, header, emit)
		}
		if err != nil {
			return err
		}
		if err := emit(&csvRows{header: header, raw: c.data, rawLine: c.line, n: c.n}); err != nil {
			return err
		}
	}
}

var errEmptyCSV = errors.New("the CSV file is empty: it needs a header row naming the columns")

// readCSVStream parses src in this goroutine, as readCSV did before
// chunks were parsed by the workers: src starts at a record boundary after
// lineBase lines of the input, with the header row when header is nil.
func (r *runner) readCSVStream(src io.Reader, block, lineBase int, header []string, emit emitFunc) error {
	cr := newCSVReader(bufio.NewReaderSize(src, block))
	if header == nil {
		var err error
		header, err = cr.Read()
		if errors.Is(err, io.EOF) {
			return errEmptyCSV
		}
		if err != nil {
			return fmt.Errorf("reading the CSV header: %w", err)
		}
	}
	// A chunk's rows are allocated for a whole batch up front (up to
	// 65,536; growing past that is rare and amortised): grown from empty
	// by append, copying the slices of a 131,072-row chunk took as much of
	// the reader's CPU as encoding/csv's parsing.
	size := min(r.opts.BatchRows, 1<<16)
	newChunk := func() *csvRows {
		return &csvRows{header: header, records: make([][]string, 0, size), lines: make([]int, 0, size), parsed: true}
	}
	chunk := newChunk()
	flush := func() error {
		if len(chunk.records) == 0 {
			return nil
		}
		c := chunk
		chunk = newChunk()
		return emit(c)
	}
	err := eachCSVRecord(cr, lineBase, len(header), r.opts.OnError == OnErrorFail, func(rec []string, line int, bad string) error {
		chunk.add(rec, line, bad)
		if len(chunk.records) >= r.opts.BatchRows {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// readJSONL reads one JSON object per line; blank lines are skipped.
func (r *runner) readJSONL(in *input, emit emitFunc) error {
	src, err := r.open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	br := bufio.NewReaderSize(src, 1<<20)
	chunk := &jsonlRows{}
	lineNo := 0
	for {
		line, err := readLine(br)
		if len(line) > 0 || err == nil {
			lineNo++
		}
		if errors.Is(err, errLongLine) {
			return fmt.Errorf("line %d: longer than %d MiB", lineNo, maxLine>>20)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			var reason string
			switch {
			case !json.Valid(t):
				reason = "not valid JSON"
			case t[0] != '{':
				reason = "not a JSON object (each line must be one record: {\"column\": value, ...})"
			}
			if reason != "" {
				if r.opts.OnError == OnErrorFail {
					return fmt.Errorf("line %d: %s", lineNo, reason)
				}
				if chunk.bad == nil {
					chunk.bad = map[int]string{}
				}
				chunk.bad[len(chunk.lines)] = reason
				t = []byte("{}")
			}
			chunk.lines = append(chunk.lines, bytes.Clone(t))
			chunk.lineNos = append(chunk.lineNos, lineNo)
			if len(chunk.lines) >= r.opts.BatchRows {
				if err := emit(chunk); err != nil {
					return err
				}
				chunk = &jsonlRows{}
			}
		}
		if err != nil {
			break
		}
	}
	if len(chunk.lines) > 0 {
		return emit(chunk)
	}
	return nil
}

var errLongLine = errors.New("line too long")

// readLine returns the next line without its newline, io.EOF after the
// last one.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		part, err := br.ReadSlice('\n')
		buf = append(buf, part...)
		if len(buf) > maxLine {
			return nil, errLongLine
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == nil {
			return bytes.TrimRight(buf, "\r\n"), nil
		}
		return buf, err
	}
}

// readJSON decodes a whole MLflow request body (the format of
// `mlflow models predict -t json`): it cannot be streamed, so the file is
// read at once and its rows are then scored in batches.
func (r *runner) readJSON(in *input, emit emitFunc) error {
	src, err := r.open(in)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(src)
	src.Close()
	if err != nil {
		return err
	}
	req, err := r.dec.DecodeJSON(body)
	if err != nil {
		return err
	}
	if len(req.Warnings) > 0 {
		for _, w := range req.Warnings {
			r.log.Warn(w)
		}
	}
	defer req.Release()
	var keep columnar.Batch
	if r.keeping() {
		k, err := r.keepDec.DecodeJSON(body)
		if err != nil {
			return err
		}
		keep = unstamp(k.Batch)
		defer keep.Release()
	}
	n := req.Batch.NumRows()
	if !columnar.IsBatched(req.Batch) || n == 0 {
		req.Batch.Retain()
		if keep != nil {
			keep.Retain()
		}
		return emit(&requestRows{req: &scoring.Request{Form: req.Form, Batch: req.Batch, Params: req.Params}, keep: keep, mem: r.mem})
	}
	step := int64(r.opts.BatchRows)
	for off := int64(0); off < n; off += step {
		end := min(off+step, n)
		rr := &requestRows{req: &scoring.Request{Form: req.Form, Batch: req.Batch.NewSlice(off, end), Params: req.Params}, mem: r.mem}
		if keep != nil {
			rr.keep = keep.NewSlice(off, end)
		}
		if err := emit(rr); err != nil {
			return err
		}
	}
	return nil
}
