package columnar

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"
)

func float32s(mem memory.Allocator, n int) arrow.Array {
	b := array.NewFloat32Builder(mem)
	defer b.Release()
	for i := 0; i < n; i++ {
		b.Append(float32(i))
	}
	return b.NewArray()
}

func TestTensorRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		shape   []int64
		batched bool
		rows    int
	}{
		{"batched rank 1", []int64{5}, true, 5},
		{"batched rank 2", []int64{3, 4}, true, 3},
		{"batched rank 3", []int64{2, 2, 3}, true, 2},
		{"batched empty rows", []int64{0, 4}, true, 0},
		{"batched zero inner dim", []int64{3, 0}, true, 3},
		{"unbatched rank 1", []int64{10}, false, 1},
		{"unbatched rank 2", []int64{2, 3}, false, 1},
		{"scalar", []int64{}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			vals := float32s(mem, int(ShapeSize(tt.shape)))
			f, col, err := NewTensorColumn("x", tt.shape, vals, tt.batched)
			vals.Release()
			if err != nil {
				t.Fatal(err)
			}
			defer col.Release()
			if col.Len() != tt.rows {
				t.Fatalf("rows = %d, want %d", col.Len(), tt.rows)
			}
			if IsUnbatched(f) == tt.batched {
				t.Fatalf("IsUnbatched = %v, batched %v", IsUnbatched(f), tt.batched)
			}
			tv, err := TensorOf(f, col)
			if err != nil {
				t.Fatal(err)
			}
			defer tv.Values.Release()
			if diff := cmp.Diff(tt.shape, tv.Shape); diff != "" {
				t.Fatalf("shape (-want +got):\n%s", diff)
			}
			got := tv.Values.(*array.Float32).Float32Values()
			for i, v := range got {
				if v != float32(i) {
					t.Fatalf("value %d = %v", i, v)
				}
			}
		})
	}
}

func TestTensorOfSlice(t *testing.T) {
	// A row slice of a batched tensor column views the right values.
	vals := float32s(memory.DefaultAllocator, 12)
	f, col, err := NewTensorColumn("x", []int64{4, 3}, vals, true)
	if err != nil {
		t.Fatal(err)
	}
	sl := array.NewSlice(col, 1, 3)
	tv, err := TensorOf(f, sl)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{2, 3}, tv.Shape); diff != "" {
		t.Fatal(diff)
	}
	if diff := cmp.Diff([]float32{3, 4, 5, 6, 7, 8}, tv.Values.(*array.Float32).Float32Values()); diff != "" {
		t.Fatal(diff)
	}
}

func TestNewTensorColumnErrors(t *testing.T) {
	vals := float32s(memory.DefaultAllocator, 6)
	if _, _, err := NewTensorColumn("x", []int64{4, 2}, vals, true); err == nil {
		t.Error("shape/value count mismatch accepted")
	}
	if _, _, err := NewTensorColumn("x", []int64{}, vals, true); err == nil {
		t.Error("batched scalar accepted")
	}
	if _, _, err := NewTensorColumn("x", []int64{-1, 6}, vals, true); err == nil {
		t.Error("negative dimension accepted")
	}
}

// A column of a type no tensor holds (a dictionary, a decimal) is an
// error naming the type, not a use of the released values.
func TestTensorOfUnsupportedType(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	db := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String})
	defer db.Release()
	if err := db.(*array.BinaryDictionaryBuilder).AppendString("a"); err != nil {
		t.Fatal(err)
	}
	dict := db.NewArray()
	defer dict.Release()
	fsl := array.NewFixedSizeListBuilder(mem, 2, &arrow.Decimal128Type{Precision: 10, Scale: 2})
	defer fsl.Release()
	fsl.Append(true)
	fsl.ValueBuilder().(*array.Decimal128Builder).AppendEmptyValues(2)
	decimals := fsl.NewArray()
	defer decimals.Release()
	for _, col := range []arrow.Array{dict, decimals} {
		_, err := TensorOf(arrow.Field{Name: "c", Type: col.DataType()}, col)
		if err == nil {
			t.Fatalf("%s: no error", col.DataType())
		}
		if want := "cannot be a tensor element"; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q, want one saying %q", col.DataType(), err, want)
		}
	}
}

func TestTensorBatch(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	floats := func(n int) arrow.Array {
		b := array.NewFloat32Builder(mem)
		defer b.Release()
		for i := range n {
			b.Append(float32(i))
		}
		return b.NewArray()
	}
	for _, tc := range []struct {
		name     string
		shapes   [][]int64
		rows     int64
		unbatchd bool
		err      string
	}{
		{name: "shared first dimension", shapes: [][]int64{{3, 2}, {3}}, rows: 3},
		{name: "different first dimensions", shapes: [][]int64{{3, 2}, {2}}, rows: 1, unbatchd: true},
		{name: "a scalar", shapes: [][]int64{{3}, {}}, rows: 1, unbatchd: true},
		{name: "none", rows: 0},
		{name: "shape does not fit", shapes: [][]int64{{3}, {5}}, err: `tensor "t1": shape [5] needs 5 values, got 3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ts []NamedTensor
			for i, s := range tc.shapes {
				n := int(ShapeSize(s))
				if tc.err != "" {
					n = 3
				}
				ts = append(ts, NamedTensor{Name: fmt.Sprintf("t%d", i), Shape: s, Values: floats(n)})
			}
			defer func() {
				for _, x := range ts {
					x.Values.Release()
				}
			}()
			b, err := TensorBatch(ts)
			if tc.err != "" {
				var te *TensorColumnError
				if !errors.As(err, &te) || te.Name != "t1" || err.Error() != tc.err {
					t.Fatalf("error %v (%T), want %q naming t1", err, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Release()
			if b.NumRows() != tc.rows || int(b.NumCols()) != len(ts) {
				t.Fatalf("%d rows × %d columns, want %d × %d", b.NumRows(), b.NumCols(), tc.rows, len(ts))
			}
			if len(ts) > 0 && IsBatched(b) == tc.unbatchd {
				t.Errorf("IsBatched = %v, want %v", IsBatched(b), !tc.unbatchd)
			}
		})
	}
}
