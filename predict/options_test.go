package predict

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mlship/mlship/mlmodel"
)

func TestAutoBatchRows(t *testing.T) {
	schema := func(js string) *mlmodel.Schema {
		s, err := mlmodel.ParseSchema([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		name string
		in   *mlmodel.Schema
		want int
	}{
		{"no signature", nil, 10000},
		{"iris tensor", schema(`[{"name": "input", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]`), 4 << 20 / 16},
		{"256-float tensor", schema(`[{"name": "input", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 256]}}]`), 4096},
		{"image", schema(`[{"name": "x", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3, 224, 224]}}]`), 256},
		{"4 doubles", schema(`[{"name": "a", "type": "double"}, {"name": "b", "type": "double"}, {"name": "c", "type": "double"}, {"name": "d", "type": "double"}]`), 4 << 20 / 32},
		{"one byte", schema(`[{"name": "x", "type": "tensor", "tensor-spec": {"dtype": "uint8", "shape": [-1]}}]`), 1 << 20},
		{"4 strings", schema(`[{"name": "a", "type": "string"}, {"name": "b", "type": "string"}, {"name": "c", "type": "string"}, {"name": "d", "type": "string"}]`), 4 << 20 / 128},
		{"variable-length tensor", schema(`[{"name": "x", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, -1]}}]`), 10000},
		{"array column", schema(`[{"name": "a", "type": "array", "items": {"type": "double"}}]`), 10000},
		{"wide table", schema(wideTable(2000)), 4 << 20 / (2000 * 8)},
	} {
		if got := autoBatchRows(c.in); got != c.want {
			t.Errorf("%s: %d rows, want %d", c.name, got, c.want)
		}
	}
}

func wideTable(n int) string {
	cols := make([]string, n)
	for i := range cols {
		cols[i] = fmt.Sprintf(`{"name": "c%d", "type": "double"}`, i)
	}
	return "[" + strings.Join(cols, ", ") + "]"
}
