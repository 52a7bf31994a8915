package columnar

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestStableTypesAndSchemaCache(t *testing.T) {
	mk := func(n int) arrow.Array {
		b := array.NewFloat32Builder(memory.DefaultAllocator)
		defer b.Release()
		b.AppendValues(make([]float32, n), nil)
		return b.NewArray()
	}
	f1, _, _ := NewTensorColumn("x", []int64{2, 3, 4}, mk(24), true)
	f2, _, _ := NewTensorColumn("x", []int64{5, 3, 4}, mk(60), true)
	if f1.Type != f2.Type {
		t.Fatal("the same tensor layout built twice has different type values")
	}
	f3, _, _ := NewTensorColumn("x", []int64{2, 4, 3}, mk(24), true)
	if f3.Type == f1.Type || arrow.TypeEqual(f3.Type, f1.Type) {
		t.Fatal("different inner shapes share a type")
	}
	var c SchemaCache
	s1 := c.Schema([]arrow.Field{f1}, nil)
	if s2 := c.Schema([]arrow.Field{f2}, nil); s2 != s1 {
		t.Error("same fields did not reuse the schema")
	}
	if s3 := c.Schema([]arrow.Field{f3}, nil); s3 == s1 || !arrow.TypeEqual(s3.Field(0).Type, f3.Type) {
		t.Error("different fields reused a stale schema")
	}
	u, _, _ := NewTensorColumn("x", []int64{3, 4}, mk(12), false)
	if s := c.Schema([]arrow.Field{u}, nil); !IsUnbatched(s.Field(0)) {
		t.Error("unbatched metadata lost")
	}
	renamed := f1
	renamed.Name = "y"
	if s := c.Schema([]arrow.Field{renamed}, nil); s.Field(0).Name != "y" {
		t.Error("a renamed field reused the old schema")
	}
}
