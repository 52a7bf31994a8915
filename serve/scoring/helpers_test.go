package scoring

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/mlmodel"
)

// describe renders a batch compactly for assertions:
// "name:type[shape]=v1,v2;..." (tensor columns), "name:type=v1,v2" (others).
func describe(t *testing.T, b columnar.Batch) string {
	t.Helper()
	var parts []string
	for i, f := range b.Schema().Fields() {
		col := b.Column(i)
		if col.Len() != int(b.NumRows()) {
			t.Fatalf("column %q has %d rows, batch %d", f.Name, col.Len(), b.NumRows())
		}
		switch col.DataType().ID() {
		case arrow.MAP, arrow.LIST, arrow.STRUCT:
			parts = append(parts, fmt.Sprintf("%s:%s=%s", f.Name, col.DataType(), values(col)))
			continue
		}
		if f.HasMetadata() {
			if v, ok := f.Metadata.GetValue(MetaJSON); ok && v == "true" {
				parts = append(parts, fmt.Sprintf("%s:json=%s", f.Name, values(col)))
				continue
			}
		}
		tv, err := columnar.TensorOf(f, col)
		if err != nil {
			t.Fatalf("column %q: %v", f.Name, err)
		}
		kind := ""
		if columnar.IsUnbatched(f) {
			kind = "!"
		}
		parts = append(parts, fmt.Sprintf("%s:%s%s%v=%s", f.Name, tv.Values.DataType(), kind, tv.Shape, values(tv.Values)))
		tv.Values.Release()
	}
	return strings.Join(parts, "; ")
}

func values(a arrow.Array) string {
	out := make([]string, a.Len())
	for i := range out {
		if a.IsNull(i) {
			out[i] = "null"
			continue
		}
		out[i] = a.ValueStr(i)
		if s, ok := a.(*array.String); ok {
			out[i] = fmt.Sprintf("%q", s.Value(i))
		}
	}
	return strings.Join(out, ",")
}

func schema(t *testing.T, js string) *mlmodel.Schema {
	t.Helper()
	if js == "" {
		return nil
	}
	s, err := mlmodel.ParseSchema([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func params(t *testing.T, js string) *mlmodel.ParamSchema {
	t.Helper()
	if js == "" {
		return nil
	}
	p, err := mlmodel.ParseParamSchema([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
