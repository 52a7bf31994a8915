// Package pqread reads Parquet files into Arrow record batches for the
// column shapes batch scoring meets most — top-level numeric columns and
// lists of numbers (tensors stored one row per list) — straight from the
// column chunk readers.
//
// pqarrow's generic record reader rebuilds nesting from the repetition and
// definition levels in several passes and grows its value buffers by
// doubling from one value per row: for a 256-float list it costs about
// 7 µs a row, where decoding the levels and values themselves costs under
// 1 µs (docs/performance.md, "Batch scoring"). This reader decodes levels
// and values with arrow-go's own page decoders and builds the arrays in
// one pass. It produces exactly the schema and arrays pqarrow produces
// for the same columns and batch size (a differential test and fuzz
// target hold it to that); for any other shape New returns ErrUnsupported
// and the caller reads with pqarrow.
package pqread

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"golang.org/x/sync/errgroup"
)

// ErrUnsupported says a selected column has a shape this reader does not
// handle (strings, structs, nested lists, logical types such as dates);
// pqarrow reads those.
var ErrUnsupported = errors.New("pqread: unsupported column shape")

// Reader yields record batches of up to the batch size over the chosen
// row groups, in order; a batch may span row groups, as pqarrow's do.
type Reader struct {
	schema *arrow.Schema
	cols   []column
	names  []string
	batch  int64
	left   int64 // rows still to read
	rows   int64 // rows the row groups declare
	mem    memory.Allocator
	err    error // the error that ended reading: Next returns it again
}

// column reads the next n rows of one top-level field; fewer only when its
// data ends early (a corrupt file: the row groups' row counts say n).
type column interface {
	read(n int, mem memory.Allocator) (arrow.Array, error)
	// more says whether data is left after the rows read: once all the
	// rows the row groups declare are read, a corrupt file (pqarrow would
	// return the extra rows).
	more() (bool, error)
	close() error
}

// New returns a reader of the top-level fields holding the given leaf
// columns (all when leaves is nil) over the given row groups (all when
// nil), in batches of batchRows rows. manifest is pqarrow's mapping of the
// file's schema, whose Arrow fields the batches carry.
func New(pf *file.Reader, manifest *pqarrow.SchemaManifest, leaves, groups []int, batchRows int) (*Reader, error) {
	return NewWithAllocator(pf, manifest, leaves, groups, batchRows, memory.DefaultAllocator)
}

// NewWithAllocator is New with the allocator the arrays' buffers come from.
func NewWithAllocator(pf *file.Reader, manifest *pqarrow.SchemaManifest, leaves, groups []int, batchRows int, mem memory.Allocator) (*Reader, error) {
	if batchRows <= 0 {
		return nil, fmt.Errorf("pqread: batch size %d", batchRows)
	}
	descr := pf.MetaData().Schema
	if leaves == nil {
		leaves = make([]int, descr.NumColumns())
		for i := range leaves {
			leaves[i] = i
		}
	}
	if groups == nil {
		groups = make([]int, pf.NumRowGroups())
		for i := range groups {
			groups[i] = i
		}
	}
	var rows int64
	for _, g := range groups {
		if g < 0 || g >= pf.NumRowGroups() {
			return nil, fmt.Errorf("pqread: row group %d of %d", g, pf.NumRowGroups())
		}
		n := pf.MetaData().RowGroup(g).NumRows()
		if n < 0 || rows+n < rows {
			return nil, fmt.Errorf("pqread: row group %d declares %d rows", g, n)
		}
		rows += n
	}
	included := map[int]bool{}
	for _, l := range leaves {
		included[l] = true
	}
	fields, err := manifest.GetFieldIndices(leaves)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		// pqarrow refuses to read no columns (rather than batches of
		// rows without columns); it says so.
		return nil, ErrUnsupported
	}
	r := &Reader{batch: int64(batchRows), left: rows, rows: rows, mem: mem}
	var out []arrow.Field
	for _, fi := range fields {
		sf := &manifest.Fields[fi]
		col, err := newColumn(pf, sf, groups, included)
		if err != nil {
			return nil, err
		}
		r.cols = append(r.cols, col)
		r.names = append(r.names, sf.Field.Name)
		out = append(out, *sf.Field)
	}
	r.schema = arrow.NewSchema(out, manifest.SchemaMeta)
	return r, nil
}

// Close releases the page buffers of the column chunks being read; the
// reader must be closed whether or not it was read to the end.
func (r *Reader) Close() error {
	var errs []error
	for _, c := range r.cols {
		errs = append(errs, c.close())
	}
	return errors.Join(errs...)
}

// Schema is the batches' schema: pqarrow's for the same fields.
func (r *Reader) Schema() *arrow.Schema { return r.schema }

// Next returns the next batch, or io.EOF after the last. The caller owns
// (and releases) the batch.
func (r *Reader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.err != nil {
		// A failed batch leaves the columns at different rows.
		return nil, r.err
	}
	if r.left == 0 {
		return nil, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := int(min(r.batch, r.left))
	arrs := make([]arrow.Array, len(r.cols))
	release := func() {
		for _, a := range arrs {
			if a != nil {
				a.Release()
			}
		}
	}
	// Columns decode at once, one goroutine each, as with pqarrow's
	// Parallel: the reader is one goroutine ahead of the scoring workers.
	g, _ := errgroup.WithContext(ctx)
	for i, c := range r.cols {
		read := func() error {
			a, err := c.read(n, r.mem)
			if err != nil {
				return fmt.Errorf("column %q: %w", r.names[i], err)
			}
			arrs[i] = a
			if a.Len() != n {
				return fmt.Errorf("column %q: its data ends after %d of the %d rows its row groups declare", r.names[i], a.Len(), n)
			}
			return nil
		}
		if len(r.cols) == 1 {
			if err := read(); err != nil {
				release()
				r.err = err
				return nil, err
			}
			break
		}
		g.Go(read)
	}
	if err := g.Wait(); err != nil {
		release()
		r.err = err
		return nil, err
	}
	r.left -= int64(n)
	if r.left == 0 {
		// Rows past the declared count would otherwise go unread, silently.
		for i, c := range r.cols {
			more, err := c.more()
			if err == nil && more {
				err = fmt.Errorf("more rows than the %d its row groups declare", r.rows)
			}
			if err != nil {
				release()
				r.err = fmt.Errorf("column %q: %w", r.names[i], err)
				return nil, r.err
			}
		}
	}
	rec := array.NewRecordBatch(r.schema, arrs, int64(n))
	release() // the batch holds its own references
	return rec, nil
}

func newColumn(pf *file.Reader, sf *pqarrow.SchemaField, groups []int, included map[int]bool) (column, error) {
	descr := pf.MetaData().Schema
	switch {
	case sf.IsLeaf():
		d := descr.Column(sf.ColIndex)
		if !included[sf.ColIndex] || d.MaxRepetitionLevel() != 0 || sf.LevelInfo.DefLevel != d.MaxDefinitionLevel() {
			return nil, ErrUnsupported
		}
		return numericColumn(sf.Field.Type, d.PhysicalType(), func(nc numberColumn) (column, error) {
			return nc.flat(pf, sf.ColIndex, groups, sf.Field.Type, d.MaxDefinitionLevel()), nil
		})
	case (sf.Field.Type.ID() == arrow.LIST || sf.Field.Type.ID() == arrow.FIXED_SIZE_LIST) && len(sf.Children) == 1 && sf.Children[0].IsLeaf():
		leaf := &sf.Children[0]
		d := descr.Column(leaf.ColIndex)
		lt := sf.Field.Type.(arrow.ListLikeType)
		fixed := 0
		if fl, ok := lt.(*arrow.FixedSizeListType); ok {
			// A null fixed-size row takes slots in the child that its
			// levels do not hold; pqarrow reads those.
			if fixed = int(fl.Len()); fixed <= 0 || sf.Field.Nullable {
				return nil, ErrUnsupported
			}
		}
		if !included[leaf.ColIndex] || d.MaxRepetitionLevel() != 1 || sf.LevelInfo.RepLevel != 1 ||
			sf.LevelInfo.RepeatedAncestorDefLevel != 0 || leaf.LevelInfo.DefLevel != d.MaxDefinitionLevel() ||
			sf.LevelInfo.DefLevel < 1 || sf.LevelInfo.DefLevel > d.MaxDefinitionLevel() {
			return nil, ErrUnsupported
		}
		return numericColumn(lt.Elem(), d.PhysicalType(), func(nc numberColumn) (column, error) {
			if fixed > 0 {
				return nc.fixedList(pf, leaf.ColIndex, groups, lt, fixed, sf.LevelInfo.DefLevel, d.MaxDefinitionLevel()), nil
			}
			return nc.list(pf, leaf.ColIndex, groups, lt, sf.LevelInfo.DefLevel, d.MaxDefinitionLevel()), nil
		})
	}
	return nil, ErrUnsupported
}

// numberColumn makes the column reader of one element type.
type numberColumn interface {
	flat(pf *file.Reader, leaf int, groups []int, dt arrow.DataType, maxDef int16) column
	list(pf *file.Reader, leaf int, groups []int, lt arrow.ListLikeType, listDef, maxDef int16) column
	fixedList(pf *file.Reader, leaf int, groups []int, lt arrow.ListLikeType, fixed int, listDef, maxDef int16) column
}

type maker[T number] struct{}

func (maker[T]) flat(pf *file.Reader, leaf int, groups []int, dt arrow.DataType, maxDef int16) column {
	return &flatColumn[T]{src: source[T]{pf: pf, leaf: leaf, groups: groups}, dt: dt, maxDef: maxDef}
}

func (maker[T]) list(pf *file.Reader, leaf int, groups []int, lt arrow.ListLikeType, listDef, maxDef int16) column {
	return &listColumn[T]{src: source[T]{pf: pf, leaf: leaf, groups: groups}, lt: lt, listDef: listDef, maxDef: maxDef}
}

func (maker[T]) fixedList(pf *file.Reader, leaf int, groups []int, lt arrow.ListLikeType, fixed int, listDef, maxDef int16) column {
	return &fixedColumn[T]{src: source[T]{pf: pf, leaf: leaf, groups: groups}, lt: lt, fixed: fixed, listDef: listDef, maxDef: maxDef}
}

// numericColumn matches an Arrow type with the Parquet physical type that
// pqarrow reads into it unchanged; anything with a conversion (dates,
// timestamps, decimals, small or unsigned integers) is unsupported.
func numericColumn(dt arrow.DataType, phys parquet.Type, make func(numberColumn) (column, error)) (column, error) {
	switch {
	case arrow.TypeEqual(dt, arrow.PrimitiveTypes.Float32) && phys == parquet.Types.Float:
		return make(maker[float32]{})
	case arrow.TypeEqual(dt, arrow.PrimitiveTypes.Float64) && phys == parquet.Types.Double:
		return make(maker[float64]{})
	case arrow.TypeEqual(dt, arrow.PrimitiveTypes.Int32) && phys == parquet.Types.Int32:
		return make(maker[int32]{})
	case arrow.TypeEqual(dt, arrow.PrimitiveTypes.Int64) && phys == parquet.Types.Int64:
		return make(maker[int64]{})
	}
	return nil, ErrUnsupported
}

type number interface {
	~int32 | ~int64 | ~float32 | ~float64
}

// batchReader is what arrow-go's typed column chunk readers
// (file.Float32ColumnChunkReader, ...) provide: up to n levels, with the
// non-null values packed at the front of values.
type batchReader[T number] interface {
	ReadBatch(n int64, values []T, defs, reps []int16) (levels int64, valuesRead int, err error)
}

// source walks one leaf column through the chosen row groups.
type source[T number] struct {
	pf     *file.Reader
	leaf   int
	groups []int
	next   int // index in groups of the next row group
	cur    batchReader[T]
	chunk  file.ColumnChunkReader // cur, to close
}

// close releases the current column chunk's page buffers.
func (s *source[T]) close() error {
	if s.chunk == nil {
		return nil
	}
	err := s.chunk.Close()
	s.cur, s.chunk = nil, nil
	return err
}

// levels reads up to len(defs) levels (and their values) from the column,
// moving on to the next row group when one ends; 0 levels means the
// column is exhausted. defs or reps is nil when the column has none.
func (s *source[T]) levels(vals []T, defs, reps []int16) (lv, nv int, err error) {
	defer func() {
		// arrow-go's page reader panics on some corrupt page headers (a
		// dictionary page without its header: a nil dereference); in a
		// column's goroutine that would end the process.
		if p := recover(); p != nil {
			lv, nv, err = 0, 0, fmt.Errorf("corrupt column chunk: the Parquet page decoder failed: %v", p)
		}
	}()
	n := len(vals)
	for {
		if s.cur == nil {
			if s.next == len(s.groups) {
				return 0, 0, nil
			}
			g := s.groups[s.next]
			s.next++
			cr, err := s.pf.RowGroup(g).Column(s.leaf)
			if err != nil {
				return 0, 0, fmt.Errorf("row group %d: %w", g, err)
			}
			br, ok := cr.(batchReader[T])
			if !ok {
				cr.Close()
				return 0, 0, fmt.Errorf("row group %d: a %T for a column of %T", g, cr, *new(T))
			}
			s.cur, s.chunk = br, cr
		}
		lv, nv, err := s.cur.ReadBatch(int64(n), vals, defs, reps)
		if err != nil {
			return 0, 0, fmt.Errorf("row group %d: %w", s.groups[s.next-1], err)
		}
		if lv > 0 {
			if nv > int(lv) {
				return 0, 0, fmt.Errorf("row group %d: %d values for %d levels", s.groups[s.next-1], nv, lv)
			}
			return int(lv), nv, nil
		}
		if err := s.close(); err != nil {
			return 0, 0, fmt.Errorf("row group %d: %w", s.groups[s.next-1], err)
		}
	}
}

// flatColumn is a top-level required or optional number: one level per row.
type flatColumn[T number] struct {
	src    source[T]
	dt     arrow.DataType
	maxDef int16
	defs   []int16
}

func (c *flatColumn[T]) close() error { return c.src.close() }

func (c *flatColumn[T]) more() (bool, error) {
	var v [1]T
	var d [1]int16
	defs := d[:]
	if c.maxDef == 0 {
		defs = nil
	}
	lv, _, err := c.src.levels(v[:], defs, nil)
	return lv > 0, err
}

func (c *flatColumn[T]) read(n int, mem memory.Allocator) (arrow.Array, error) {
	size := int(unsafe.Sizeof(*new(T)))
	vbuf := memory.NewResizableBuffer(mem)
	defer vbuf.Release()
	vbuf.Resize(n * size)
	vals := asSlice[T](vbuf.Bytes(), n)
	var defs []int16
	if c.maxDef > 0 {
		if cap(c.defs) < n {
			c.defs = make([]int16, n)
		}
		defs = c.defs[:n]
	}
	got, nulls := 0, 0
	for got < n {
		var d []int16
		if defs != nil {
			d = defs[got:]
		}
		lv, nv, err := c.src.levels(vals[got:], d, nil)
		if err != nil {
			return nil, err
		}
		if lv == 0 {
			break
		}
		if nv < lv {
			if defs == nil {
				return nil, fmt.Errorf("%d values for %d rows of a required column", nv, lv)
			}
			// The values came packed: move each to its row, from the back
			// (a value only ever moves to a later slot).
			j := got + nv - 1
			for i := got + lv - 1; i >= got; i-- {
				if defs[i] == c.maxDef {
					if j < got {
						return nil, errors.New("definition levels announce more values than the page holds")
					}
					vals[i] = vals[j]
					j--
				} else {
					vals[i] = 0
					nulls++
				}
			}
		}
		got += lv
	}
	var valid *memory.Buffer
	if nulls > 0 {
		valid = bitmap(mem, got, func(i int) bool { return defs[i] == c.maxDef })
		defer valid.Release()
	}
	vbuf.ResizeNoShrink(got * size)
	d := array.NewData(c.dt, got, []*memory.Buffer{valid, vbuf}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

// listColumn is a top-level list of numbers (optional or required, its
// elements optional or required): a row begins at repetition level 0.
type listColumn[T number] struct {
	src source[T]
	lt  arrow.ListLikeType
	// listDef is the definition level from which a row's list holds an
	// element (one less: an empty list; less again: a null list); maxDef
	// the level of a present element.
	listDef, maxDef int16

	// Levels and values read but not yet returned: levels [pos:end],
	// values [vpos:vend]. A batch ends where a row begins, which is only
	// known once its first level has been read.
	defs, reps []int16
	vals       []T
	pos, end   int
	vpos, vend int
	done       bool
}

// maxRead bounds one read of levels, and so the scratch a wrong estimate
// could ask for.
const maxRead = 1 << 22

func (c *listColumn[T]) close() error { return c.src.close() }

// more: read stops at the level where the row after its last begins, or
// at the end of the data.
func (c *listColumn[T]) more() (bool, error) { return c.pos < c.end, nil }

func (c *listColumn[T]) read(n int, mem memory.Allocator) (arrow.Array, error) {
	// Find e, the level where row n begins (or the end of the data).
	rows, x := 0, c.pos
	for {
		for ; x < c.end; x++ {
			if c.reps[x] == 0 {
				if rows == n {
					break
				}
				rows++
			} else if x == c.pos {
				return nil, errors.New("a row continues a list that no row began")
			}
		}
		if x < c.end || c.done {
			break
		}
		// Keep what is buffered, read about as many levels as the rest of
		// the batch needs at the rows' average length so far.
		if c.pos > 0 {
			copy(c.defs, c.defs[c.pos:c.end])
			copy(c.reps, c.reps[c.pos:c.end])
			copy(c.vals, c.vals[c.vpos:c.vend])
			x -= c.pos
			c.end -= c.pos
			c.vend -= c.vpos
			c.pos, c.vpos = 0, 0
		}
		want := 4096
		if rows > 0 {
			want = (n-rows+1)*(x/rows) + 1024
		}
		want = min(want, maxRead)
		if need := c.end + want; need > len(c.defs) {
			grow := max(need, 2*len(c.defs))
			c.defs = append(c.defs[:c.end], make([]int16, grow-c.end)...)
			c.reps = append(c.reps[:c.end], make([]int16, grow-c.end)...)
			c.vals = append(c.vals[:c.vend], make([]T, grow-c.vend)...)
		}
		lv, nv, err := c.src.levels(c.vals[c.vend:c.vend+want], c.defs[c.end:c.end+want], c.reps[c.end:c.end+want])
		if err != nil {
			return nil, err
		}
		if lv == 0 {
			c.done = true
			continue
		}
		c.end += lv
		c.vend += nv
	}
	e := x
	slots := e - c.pos // at most one element per level
	if slots > math.MaxInt32 {
		return nil, fmt.Errorf("%d list elements in one batch: more than Arrow's 32-bit offsets hold", slots)
	}

	size := int(unsafe.Sizeof(*new(T)))
	obuf := memory.NewResizableBuffer(mem)
	defer obuf.Release()
	obuf.Resize((rows + 1) * 4)
	offs := asSlice[int32](obuf.Bytes(), rows+1)
	vbuf := memory.NewResizableBuffer(mem)
	defer vbuf.Release()
	vbuf.Resize(slots * size)
	out := asSlice[T](vbuf.Bytes(), slots)
	var nullRowList, nullElems []int
	elems, vp, row := 0, c.vpos, -1
	allPresent := true
	for _, d := range c.defs[c.pos:e] {
		if d != c.maxDef {
			allPresent = false
			break
		}
	}
	if allPresent {
		// The common case (tensors): no null or empty list, no null
		// element. Every level is an element, the values are the elements
		// in order, and a row's offset is where its first level is.
		if c.vend-c.vpos < slots {
			return nil, errors.New("definition levels announce more values than the pages hold")
		}
		copy(out, c.vals[c.vpos:c.vpos+slots])
		row = 0
		for x, r := range c.reps[c.pos:e] {
			if r == 0 {
				offs[row] = int32(x)
				row++
			}
		}
		elems, vp = slots, c.vpos+slots
	}
	for x := c.pos; x < e && !allPresent; x++ {
		d := c.defs[x]
		if c.reps[x] == 0 {
			row++
			offs[row] = int32(elems)
			if d < c.listDef {
				if d < c.listDef-1 {
					nullRowList = append(nullRowList, row)
				}
				continue
			}
		}
		if d == c.maxDef {
			if vp == c.vend {
				return nil, errors.New("definition levels announce more values than the pages hold")
			}
			out[elems] = c.vals[vp]
			vp++
		} else {
			out[elems] = 0
			nullElems = append(nullElems, elems)
		}
		elems++
	}
	offs[rows] = int32(elems)
	c.pos, c.vpos = e, vp

	vbuf.ResizeNoShrink(elems * size)
	var elemValid, rowValid *memory.Buffer
	if len(nullElems) > 0 {
		elemValid = clearedBitmap(mem, elems, nullElems)
		defer elemValid.Release()
	}
	if len(nullRowList) > 0 {
		rowValid = clearedBitmap(mem, rows, nullRowList)
		defer rowValid.Release()
	}
	child := array.NewData(c.lt.Elem(), elems, []*memory.Buffer{elemValid, vbuf}, nil, len(nullElems), 0)
	defer child.Release()
	d := array.NewData(c.lt, rows, []*memory.Buffer{rowValid, obuf}, []arrow.ArrayData{child}, len(nullRowList), 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

// fixedColumn is a non-nullable fixed-size list of numbers (pqarrow
// restores one from the Arrow schema a writer stored: what tensor columns
// written by mlship and most Arrow writers are). A row is exactly fixed
// levels, so n rows are the next n × fixed levels: values are read straight
// into the child array's buffer, with no carry-over between batches, and
// the levels are only checked — a row that is not fixed values long is an
// error, as with pqarrow.
type fixedColumn[T number] struct {
	src             source[T]
	lt              arrow.ListLikeType
	fixed           int
	listDef, maxDef int16
	defs, reps      []int16
}

func (c *fixedColumn[T]) close() error { return c.src.close() }

func (c *fixedColumn[T]) more() (bool, error) {
	var v [1]T
	var d, r [1]int16
	lv, _, err := c.src.levels(v[:], d[:], r[:])
	return lv > 0, err
}

func (c *fixedColumn[T]) read(n int, mem memory.Allocator) (arrow.Array, error) {
	want := n * c.fixed
	if want/c.fixed != n || want > math.MaxInt32 {
		return nil, fmt.Errorf("%d rows of %d values in one batch: more than Arrow's 32-bit offsets hold", n, c.fixed)
	}
	if len(c.defs) < want {
		c.defs, c.reps = make([]int16, want), make([]int16, want)
	}
	defs, reps := c.defs[:want], c.reps[:want]
	size := int(unsafe.Sizeof(*new(T)))
	vbuf := memory.NewResizableBuffer(mem)
	defer vbuf.Release()
	vbuf.Resize(want * size)
	out := asSlice[T](vbuf.Bytes(), want)
	// Values arrive packed (none for a null element): out[:nv] so far.
	got, nv := 0, 0
	for got < want {
		lv, vals, err := c.src.levels(out[nv:nv+want-got], defs[got:], reps[got:])
		if err != nil {
			return nil, err
		}
		if lv == 0 {
			break
		}
		got += lv
		nv += vals
	}
	rows := got / c.fixed
	for r := range rows {
		row := reps[r*c.fixed : (r+1)*c.fixed]
		if row[0] != 0 || !allEqual(row[1:], 1) {
			return nil, c.sizeError(r, reps[r*c.fixed:got])
		}
	}
	if got%c.fixed != 0 {
		return nil, c.sizeError(rows, reps[rows*c.fixed:got])
	}
	defs = defs[:got]
	var nulls []int
	if nv < got || !allEqual(defs, c.maxDef) {
		// Null elements: spread the packed values out to their slots,
		// from the back (a value only ever moves to a later slot).
		j := nv - 1
		for i := got - 1; i >= 0; i-- {
			switch d := defs[i]; {
			case d == c.maxDef:
				if j < 0 {
					return nil, errors.New("definition levels announce more values than the pages hold")
				}
				out[i] = out[j]
				j--
			case d >= c.listDef:
				out[i] = 0
				nulls = append(nulls, i)
			default: // an empty or null list where every row holds fixed values
				return nil, fmt.Errorf("expected all lists to be of size=%d, but row %d of the batch had size=0", c.fixed, i/c.fixed)
			}
		}
		if j != -1 {
			return nil, fmt.Errorf("%d values for %d present elements", nv, nv-1-j)
		}
	}
	vbuf.ResizeNoShrink(got * size)
	var valid *memory.Buffer
	if len(nulls) > 0 {
		valid = clearedBitmap(mem, got, nulls)
		defer valid.Release()
	}
	child := array.NewData(c.lt.Elem(), got, []*memory.Buffer{valid, vbuf}, nil, len(nulls), 0)
	defer child.Release()
	d := array.NewData(c.lt, rows, []*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

// sizeError describes row r of a batch whose repetition levels, from its
// first on, are reps: how many values it holds.
func (c *fixedColumn[T]) sizeError(r int, reps []int16) error {
	size := 1
	for size < len(reps) && reps[size] != 0 {
		size++
	}
	if len(reps) > 0 && reps[0] != 0 {
		return fmt.Errorf("expected all lists to be of size=%d, but the row before row %d of the batch holds more values", c.fixed, r)
	}
	return fmt.Errorf("expected all lists to be of size=%d, but row %d of the batch had size=%d", c.fixed, r, size)
}

// allEqual reports whether every level in s is v, eight bytes at a time:
// for a tensor column this check runs over every level of every row.
func allEqual(s []int16, v int16) bool {
	w := uint64(uint16(v)) * 0x0001_0001_0001_0001
	words := len(s) / 4
	if words > 0 {
		for _, x := range unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(s))), words) {
			if x != w {
				return false
			}
		}
	}
	for _, x := range s[words*4:] {
		if x != v {
			return false
		}
	}
	return true
}

// asSlice views the first n elements of buf as []E.
func asSlice[E any](buf []byte, n int) []E {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*E)(unsafe.Pointer(unsafe.SliceData(buf))), n)
}

// bitmap is a validity bitmap of n bits, bit i set when valid(i).
func bitmap(mem memory.Allocator, n int, valid func(int) bool) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Resize(int(bitutil.BytesForBits(int64(n))))
	bits := b.Bytes()
	clear(bits)
	for i := range n {
		if valid(i) {
			bitutil.SetBit(bits, i)
		}
	}
	return b
}

// clearedBitmap is a validity bitmap of n bits, all set but those listed.
func clearedBitmap(mem memory.Allocator, n int, nulls []int) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Resize(int(bitutil.BytesForBits(int64(n))))
	bits := b.Bytes()
	bitutil.SetBitsTo(bits, 0, int64(n), true)
	for _, i := range nulls {
		bitutil.ClearBit(bits, i)
	}
	return b
}
