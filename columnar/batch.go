package columnar

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Concat joins batches with the same schema into one, copying their
// columns into new contiguous buffers (a tensor column stays one buffer).
func Concat(mem memory.Allocator, batches []Batch) (Batch, error) {
	if len(batches) == 0 {
		return nil, fmt.Errorf("concat: no batches")
	}
	if len(batches) == 1 {
		batches[0].Retain()
		return batches[0], nil
	}
	schema := batches[0].Schema()
	rows := int64(0)
	for i, b := range batches {
		if !b.Schema().Equal(schema) {
			return nil, fmt.Errorf("concat: batch %d has schema %s, want %s", i, b.Schema(), schema)
		}
		rows += b.NumRows()
	}
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(batches))
	for j := range cols {
		for i, b := range batches {
			parts[i] = b.Column(j)
		}
		c, err := array.Concatenate(parts, mem)
		if err != nil {
			return nil, fmt.Errorf("concat column %q: %w", schema.Field(j).Name, err)
		}
		cols[j] = c
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}

// IsBatched reports whether every column of b is row-aligned (no column
// holds a whole unbatched tensor), so rows can be merged with other
// batches and split back.
func IsBatched(b Batch) bool {
	for _, f := range b.Schema().Fields() {
		if IsUnbatched(f) {
			return false
		}
	}
	return true
}
