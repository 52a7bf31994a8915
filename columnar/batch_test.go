package columnar

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"
)

func tensorBatch(t *testing.T, mem memory.Allocator, start float32, rows int) Batch {
	t.Helper()
	b := array.NewFloat32Builder(mem)
	defer b.Release()
	for i := 0; i < rows*2; i++ {
		b.Append(start + float32(i))
	}
	vals := b.NewArray()
	defer vals.Release()
	f, col, err := NewTensorColumn("x", []int64{int64(rows), 2}, vals, true)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Release()
	return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{f}, nil), []arrow.Array{col}, int64(rows))
}

func TestConcat(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	a, b := tensorBatch(t, mem, 0, 2), tensorBatch(t, mem, 100, 1)
	defer a.Release()
	defer b.Release()
	// A slice with an offset must contribute its own rows only.
	full := tensorBatch(t, mem, 200, 3)
	defer full.Release()
	sl := full.NewSlice(1, 3)
	defer sl.Release()
	out, err := Concat(mem, []Batch{a, b, sl})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if out.NumRows() != 5 {
		t.Fatalf("rows = %d", out.NumRows())
	}
	tv, err := TensorOf(out.Schema().Field(0), out.Column(0))
	if err != nil {
		t.Fatal(err)
	}
	defer tv.Values.Release()
	want := []float32{0, 1, 2, 3, 100, 101, 202, 203, 204, 205}
	if diff := cmp.Diff(want, tv.Values.(*array.Float32).Float32Values()); diff != "" {
		t.Fatal(diff)
	}
	if diff := cmp.Diff([]int64{5, 2}, tv.Shape); diff != "" {
		t.Fatal(diff)
	}
}

func TestConcatSchemaMismatch(t *testing.T) {
	a := tensorBatch(t, memory.DefaultAllocator, 0, 1)
	bld := array.NewInt64Builder(memory.DefaultAllocator)
	bld.Append(1)
	col := bld.NewArray()
	b := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{col}, 1)
	if _, err := Concat(memory.DefaultAllocator, []Batch{a, b}); err == nil {
		t.Fatal("batches with different schemas were concatenated")
	}
	if _, err := Concat(memory.DefaultAllocator, nil); err == nil {
		t.Fatal("empty concat accepted")
	}
}

func TestIsBatched(t *testing.T) {
	a := tensorBatch(t, memory.DefaultAllocator, 0, 2)
	if !IsBatched(a) {
		t.Error("batched tensor reported unbatched")
	}
	vals := array.NewFloat32Builder(memory.DefaultAllocator)
	vals.AppendValues([]float32{1, 2, 3}, nil)
	v := vals.NewArray()
	f, col, _ := NewTensorColumn("w", []int64{3}, v, false)
	b := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{f}, nil), []arrow.Array{col}, 1)
	if IsBatched(b) {
		t.Error("unbatched tensor reported batched")
	}
}
