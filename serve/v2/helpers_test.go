package v2

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mlship/mlship/columnar"
)

// columnarBatch assembles alternating (field, column) pairs into a batch.
func columnarBatch(parts ...any) columnar.Batch {
	var fields []arrow.Field
	var cols []arrow.Array
	for i := 0; i < len(parts); i += 2 {
		fields = append(fields, parts[i].(arrow.Field))
		cols = append(cols, parts[i+1].(arrow.Array))
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(cols[0].Len()))
}
