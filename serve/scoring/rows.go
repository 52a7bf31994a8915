package scoring

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/pyjson"
)

// Rows is an output batch seen one row at a time, for writers that emit a
// line per row (JSON lines, CSV) rather than one response. Every column
// must be batched over the same rows.
type Rows struct {
	views []*view
	n     int
}

// NewRows views out row by row. The caller keeps out alive while the Rows
// are used and releases the Rows after.
func NewRows(out columnar.Batch) (*Rows, error) {
	views, err := viewsOf(out)
	if err != nil {
		return nil, err
	}
	r := &Rows{views: views, n: int(out.NumRows())}
	for _, v := range views {
		if !v.batched || v.rows != r.n {
			r.Release()
			return nil, fmt.Errorf("output %q is not one value per row (it has %d values for %d rows)", v.name, v.rows, r.n)
		}
	}
	return r, nil
}

// Release frees the views.
func (r *Rows) Release() {
	for _, v := range r.views {
		v.release()
	}
	r.views = nil
}

// Len is the number of rows.
func (r *Rows) Len() int { return r.n }

// AppendRecord appends row i as a JSON object, formatted as MLflow's
// json.dumps formats one record of a DataFrame.
func (r *Rows) AppendRecord(dst []byte, i int) []byte {
	dst = append(dst, '{')
	for j, v := range r.views {
		if j > 0 {
			dst = append(dst, ", "...)
		}
		dst = appendName(dst, v.name)
		dst = v.appendRow(dst, i)
	}
	return append(dst, '}')
}

// AppendCell appends column j of row i as JSON text.
func (r *Rows) AppendCell(dst []byte, j, i int) []byte {
	return r.views[j].appendRow(dst, i)
}

// Text returns row i of column j when the column holds plain strings,
// which a CSV writer writes as they are rather than as JSON; ok is false
// for any other column.
func (r *Rows) Text(j, i int) (s string, null, ok bool) {
	v := r.views[j]
	if v.json || v.cells != nil || len(v.shape) != 1 {
		return "", false, false
	}
	if s, ok := v.values.(interface{ Value(int) string }); ok && v.values.DataType().ID() != arrow.BINARY {
		if v.values.IsNull(i) {
			return "", true, true
		}
		return s.Value(i), false, true
	}
	return "", false, false
}

func appendName(dst []byte, name string) []byte {
	dst = pyjson.AppendString(dst, name)
	return append(dst, ": "...)
}
