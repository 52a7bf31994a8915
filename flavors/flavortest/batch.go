package flavortest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/columnar"
)

// poison is the byte freed input memory is overwritten with, so that an
// output still reading it shows garbage instead of passing by luck (Go's
// allocator never reuses memory something still points to).
const poison = 0xA5

// allocator is a checked allocator that poisons what it frees.
type allocator struct {
	*memory.CheckedAllocator
}

func newAllocator() *allocator {
	return &allocator{memory.NewCheckedAllocator(memory.NewGoAllocator())}
}

func (a *allocator) Free(b []byte) {
	for i := range b {
		b[i] = poison
	}
	a.CheckedAllocator.Free(b)
}

// copyBatch copies b into fresh, compact (zero-offset) buffers from mem.
func copyBatch(mem memory.Allocator, b columnar.Batch) (columnar.Batch, error) {
	cols := make([]arrow.Array, b.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range b.Columns() {
		cp, err := array.Concatenate([]arrow.Array{c}, mem)
		if err != nil {
			return nil, fmt.Errorf("copying column %q: %w", b.Schema().Field(i).Name, err)
		}
		cols[i] = cp
	}
	return array.NewRecordBatch(b.Schema(), cols, b.NumRows()), nil
}

// diff describes the first difference between two batches, or returns ""
// when they are equal: same field names, types and metadata, same rows,
// values equal within tol (NaN equals NaN: a model may output it).
func diff(want, got columnar.Batch, tol float64) string {
	ws, gs := want.Schema(), got.Schema()
	if !sameFields(ws, gs) {
		return fmt.Sprintf("schema %s, want %s", fieldsString(gs), fieldsString(ws))
	}
	if want.NumRows() != got.NumRows() {
		return fmt.Sprintf("%d rows, want %d", got.NumRows(), want.NumRows())
	}
	opts := []array.EqualOption{array.WithAbsTolerance(tol), array.WithNaNsEqual(true)}
	for i := range ws.Fields() {
		w, g := want.Column(i), got.Column(i)
		if array.ApproxEqual(w, g, opts...) {
			continue
		}
		for r := 0; r < w.Len(); r++ {
			wr, gr := array.NewSlice(w, int64(r), int64(r+1)), array.NewSlice(g, int64(r), int64(r+1))
			same := array.ApproxEqual(wr, gr, opts...)
			msg := fmt.Sprintf("column %q row %d: %v, want %v", ws.Field(i).Name, r, gr, wr)
			wr.Release()
			gr.Release()
			if !same {
				return msg
			}
		}
		return fmt.Sprintf("column %q differs", ws.Field(i).Name)
	}
	return ""
}

func sameFields(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.Fields() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || !arrow.TypeEqual(fa.Type, fb.Type) || !fa.Metadata.Equal(fb.Metadata) {
			return false
		}
	}
	return true
}

func fieldsString(s *arrow.Schema) string {
	parts := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		parts[i] = f.Name + " " + f.Type.String()
		if f.HasMetadata() {
			parts[i] += " " + f.Metadata.String()
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// validate checks that out is a well-formed record batch: the columns agree
// with the schema and with NumRows. rows, when >= 0, is the row count out
// must have.
func validate(out columnar.Batch, rows int64) error {
	var errs []error
	s := out.Schema()
	if s == nil {
		return errors.New("the result has no schema")
	}
	if int(out.NumCols()) != s.NumFields() {
		return fmt.Errorf("the result has %d columns but its schema %d fields", out.NumCols(), s.NumFields())
	}
	seen := map[string]bool{}
	for i, f := range s.Fields() {
		col := out.Column(i)
		switch {
		case f.Name == "":
			errs = append(errs, fmt.Errorf("result column %d has no name", i))
		case seen[f.Name]:
			errs = append(errs, fmt.Errorf("result column name %q appears twice", f.Name))
		}
		seen[f.Name] = true
		if col == nil {
			errs = append(errs, fmt.Errorf("result column %q is nil", f.Name))
			continue
		}
		if !arrow.TypeEqual(f.Type, col.DataType()) {
			errs = append(errs, fmt.Errorf("result column %q is %s but its field says %s", f.Name, col.DataType(), f.Type))
		}
		if int64(col.Len()) != out.NumRows() {
			errs = append(errs, fmt.Errorf("result column %q has %d rows but the batch %d", f.Name, col.Len(), out.NumRows()))
		}
		if v, ok := col.(interface{ ValidateFull() error }); ok {
			if err := v.ValidateFull(); err != nil {
				errs = append(errs, fmt.Errorf("result column %q is malformed: %w", f.Name, err))
			}
		}
	}
	if rows >= 0 && out.NumRows() != rows {
		errs = append(errs, fmt.Errorf("the result has %d rows for %d input rows; a batch-safe model must return one row per input row (the batcher splits results by row)", out.NumRows(), rows))
	}
	return errors.Join(errs...)
}
