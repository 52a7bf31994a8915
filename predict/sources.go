package predict

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/serve/scoring"
)

// rows is one chunk of an input as its reader produced it, decoded only
// by the worker that scores it (so CSV and JSON parsing run in parallel),
// and able to decode any subset of its rows again, which is how bad rows
// are told from good ones.
type rows interface {
	Len() int
	// decode makes the model's request from the rows at idx (all when nil).
	decode(d *scoring.Decoder, idx []int) (*scoring.Request, error)
	// passThrough returns the input columns named (every one when all) for
	// the rows at idx, typed as they came (Arrow, Parquet) or as pandas
	// would infer them (CSV, JSON).
	passThrough(d *scoring.Decoder, names []string, all bool, idx []int) (columnar.Batch, error)
	// line is the 1-based line of row i in a text input, 0 otherwise.
	line(i int) int
	// unreadable holds rows the reader could not parse at all (a CSV line
	// with a stray quote, a JSON line that is not JSON), with the reason;
	// it is set only when bad rows are skipped or nulled.
	unreadable() map[int]string
	release()
}

// --- Arrow tables (Arrow IPC, Parquet) -------------------------------------

type tableRows struct {
	b   columnar.Batch
	mem memory.Allocator
}

func (t *tableRows) Len() int                   { return int(t.b.NumRows()) }
func (t *tableRows) line(int) int               { return 0 }
func (t *tableRows) unreadable() map[int]string { return nil }
func (t *tableRows) release()                   { t.b.Release() }

func (t *tableRows) decode(d *scoring.Decoder, idx []int) (*scoring.Request, error) {
	sub, err := take(t.mem, t.b, idx)
	if err != nil {
		return nil, err
	}
	return d.FromBatch(sub)
}

func (t *tableRows) passThrough(_ *scoring.Decoder, names []string, all bool, idx []int) (columnar.Batch, error) {
	sel, err := selectColumns(t.b, names, all)
	if err != nil {
		return nil, err
	}
	defer sel.Release()
	return take(t.mem, sel, idx)
}

// --- CSV -------------------------------------------------------------------

// csvRows is a chunk of CSV records. A chunk cut by csvSplitter arrives
// as raw bytes (raw, from line rawLine, n records) and is parsed by the
// worker that first asks for its rows; the single-stream reader fills
// records directly.
type csvRows struct {
	header  []string
	records [][]string
	lines   []int
	bad     map[int]string

	raw      []byte
	rawLine  int
	n        int
	parsed   bool
	parseErr error // the chunk did not parse as it was cut (a bug)
}

// add appends a record read at line; a non-empty bad says why the line
// could not be read (the record is then empty and scores as a bad row).
func (c *csvRows) add(rec []string, line int, bad string) {
	if bad != "" {
		if c.bad == nil {
			c.bad = map[int]string{}
		}
		c.bad[len(c.records)] = bad
	}
	c.records = append(c.records, rec)
	c.lines = append(c.lines, line)
}

func (c *csvRows) Len() int {
	if !c.parsed {
		return c.n
	}
	return len(c.records)
}

func (c *csvRows) line(i int) int {
	c.parse()
	return c.lines[i]
}

func (c *csvRows) unreadable() map[int]string {
	c.parse()
	return c.bad
}

func (c *csvRows) release() {}

func (c *csvRows) pick(idx []int) [][]string {
	if idx == nil {
		return c.records
	}
	out := make([][]string, len(idx))
	for k, i := range idx {
		out[k] = c.records[i]
	}
	return out
}

func (c *csvRows) decode(d *scoring.Decoder, idx []int) (*scoring.Request, error) {
	c.parse()
	if c.parseErr != nil {
		return nil, c.parseErr
	}
	return d.DecodeCSVRecords(c.header, c.pick(idx))
}

func (c *csvRows) passThrough(d *scoring.Decoder, names []string, all bool, idx []int) (columnar.Batch, error) {
	c.parse()
	var cols []int
	if all {
		for j := range c.header {
			cols = append(cols, j)
		}
	} else {
		for _, n := range names {
			j := slices.Index(c.header, n)
			if j < 0 {
				return nil, fmt.Errorf("--keep-columns: the input has no column %q (it has %v)", n, c.header)
			}
			cols = append(cols, j)
		}
	}
	header := make([]string, len(cols))
	for k, j := range cols {
		header[k] = c.header[j]
	}
	recs := c.pick(idx)
	sub := make([][]string, len(recs))
	for r, rec := range recs {
		row := make([]string, len(cols))
		for k, j := range cols {
			if j < len(rec) {
				row[k] = rec[j]
			}
		}
		sub[r] = row
	}
	req, err := d.DecodeCSVRecords(header, sub)
	if err != nil {
		return nil, err
	}
	return unstamp(req.Batch), nil
}

// --- JSON lines --------------------------------------------------------------

type jsonlRows struct {
	lines   [][]byte
	lineNos []int
	bad     map[int]string
}

func (j *jsonlRows) Len() int                   { return len(j.lines) }
func (j *jsonlRows) line(i int) int             { return j.lineNos[i] }
func (j *jsonlRows) unreadable() map[int]string { return j.bad }
func (j *jsonlRows) release()                   {}

// body wraps the chosen lines as a dataframe_records request, the form
// MLflow reads a list of row objects in.
func (j *jsonlRows) body(idx []int) []byte {
	n := len(j.lines)
	if idx != nil {
		n = len(idx)
	}
	size := 32
	for i := 0; i < n; i++ {
		size += len(j.lines[j.at(idx, i)]) + 2
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"dataframe_records": [`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, j.lines[j.at(idx, i)]...)
	}
	return append(buf, "]}"...)
}

func (j *jsonlRows) at(idx []int, i int) int {
	if idx == nil {
		return i
	}
	return idx[i]
}

func (j *jsonlRows) decode(d *scoring.Decoder, idx []int) (*scoring.Request, error) {
	return d.DecodeJSON(j.body(idx))
}

func (j *jsonlRows) passThrough(d *scoring.Decoder, names []string, all bool, idx []int) (columnar.Batch, error) {
	req, err := d.DecodeJSON(j.body(idx))
	if err != nil && !all {
		// A column that is not kept need not make an Arrow column (lists
		// of several lengths in a bad row kept with --on-error null, mixed
		// types): decode the kept keys alone, as CSV does.
		req, err = d.DecodeJSON(j.projected(idx, names))
	}
	if err != nil {
		return nil, err
	}
	b := unstamp(req.Batch)
	defer b.Release()
	return selectColumns(b, names, all)
}

// projected is body(idx) with each line cut down to the keys in names.
// Every line is a JSON object (the reader puts {} for one that is not).
func (j *jsonlRows) projected(idx []int, names []string) []byte {
	n := len(j.lines)
	if idx != nil {
		n = len(idx)
	}
	keys := make([][]byte, len(names))
	for k, name := range names {
		keys[k], _ = json.Marshal(name)
	}
	buf := []byte(`{"dataframe_records": [`)
	for i := 0; i < n; i++ {
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(j.lines[j.at(idx, i)], &obj)
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '{')
		first := true
		for k, name := range names {
			v, ok := obj[name]
			if !ok {
				continue
			}
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = append(buf, keys[k]...)
			buf = append(buf, ':')
			buf = append(buf, v...)
		}
		buf = append(buf, '}')
	}
	return append(buf, "]}"...)
}

// --- MLflow JSON request (one whole file) -------------------------------------

// requestRows is a slice of a request decoded once from a whole JSON file:
// the model batch and, when columns pass through, the same rows decoded
// without the signature.
type requestRows struct {
	req  *scoring.Request
	keep columnar.Batch // nil unless columns pass through
	mem  memory.Allocator
}

func (r *requestRows) Len() int                   { return int(r.req.Batch.NumRows()) }
func (r *requestRows) line(int) int               { return 0 }
func (r *requestRows) unreadable() map[int]string { return nil }

func (r *requestRows) release() {
	r.req.Release()
	if r.keep != nil {
		r.keep.Release()
	}
}

func (r *requestRows) decode(_ *scoring.Decoder, idx []int) (*scoring.Request, error) {
	b, err := take(r.mem, r.req.Batch, idx)
	if err != nil {
		return nil, err
	}
	return &scoring.Request{Form: r.req.Form, Batch: b, Params: r.req.Params}, nil
}

func (r *requestRows) passThrough(_ *scoring.Decoder, names []string, all bool, idx []int) (columnar.Batch, error) {
	if r.keep == nil {
		return nil, fmt.Errorf("--keep-columns needs a table input (dataframe_split or dataframe_records)")
	}
	sel, err := selectColumns(r.keep, names, all)
	if err != nil {
		return nil, err
	}
	defer sel.Release()
	return take(r.mem, sel, idx)
}

// --- helpers -------------------------------------------------------------------

// take returns the rows of b at idx (ascending), all of them when idx is
// nil. Runs of consecutive rows are sliced, not copied, when idx is one run.
func take(mem memory.Allocator, b columnar.Batch, idx []int) (columnar.Batch, error) {
	if idx == nil {
		b.Retain()
		return b, nil
	}
	var parts []columnar.Batch
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	for start := 0; start < len(idx); {
		end := start + 1
		for end < len(idx) && idx[end] == idx[end-1]+1 {
			end++
		}
		parts = append(parts, b.NewSlice(int64(idx[start]), int64(idx[end-1]+1)))
		start = end
	}
	if len(parts) == 0 {
		return b.NewSlice(0, 0), nil
	}
	return columnar.Concat(mem, parts)
}

// selectColumns keeps the named columns of b, in the order named.
func selectColumns(b columnar.Batch, names []string, all bool) (columnar.Batch, error) {
	if all {
		b.Retain()
		return b, nil
	}
	fields := make([]arrow.Field, 0, len(names))
	cols := make([]arrow.Array, 0, len(names))
	for _, n := range names {
		idx := b.Schema().FieldIndices(n)
		if len(idx) == 0 {
			have := make([]string, 0, b.NumCols())
			for _, f := range b.Schema().Fields() {
				have = append(have, f.Name)
			}
			return nil, fmt.Errorf("--keep-columns: the input has no column %q (it has %v)", n, have)
		}
		fields = append(fields, b.Schema().Field(idx[0]))
		cols = append(cols, b.Column(idx[0]))
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows()), nil
}

// unstamp drops the request metadata the decoder put on a batch, which a
// pass-through table does not carry (consumes b).
func unstamp(b columnar.Batch) columnar.Batch {
	out := array.NewRecordBatch(arrow.NewSchema(b.Schema().Fields(), nil), b.Columns(), b.NumRows())
	b.Release()
	return out
}
