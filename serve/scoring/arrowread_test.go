package scoring_test

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/serve/scoring"
)

// Null columns (pandas columns of None) decode: arrow-go's IPC reader and
// its validation disagree on their layout.
func TestDecodeArrowNullColumn(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "none", Type: arrow.Null, Nullable: true},
		{Name: "nested", Type: arrow.StructOf(arrow.Field{Name: "n", Type: arrow.Null, Nullable: true}), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer b.Release()
	b.Field(0).(*array.Float64Builder).AppendValues([]float64{1, 2, 3}, nil)
	b.Field(1).AppendNulls(3)
	sb := b.Field(2).(*array.StructBuilder)
	sb.AppendValues([]bool{true, false, true})
	sb.FieldBuilder(0).AppendNulls(3)
	rec := b.NewRecordBatch()
	defer rec.Release()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	req, err := (&scoring.Decoder{Mem: mem}).DecodeArrow(arrowStream(t, schema, []arrow.RecordBatch{rec, rec}))
	if err != nil {
		t.Fatal(err)
	}
	defer req.Release()
	if req.Batch.NumRows() != 6 || req.Batch.NumCols() != 3 {
		t.Fatalf("%d rows, %d columns; want 6, 3", req.Batch.NumRows(), req.Batch.NumCols())
	}
	for i, col := range req.Batch.Columns() {
		if err := array.ValidateFull(col); err != nil {
			t.Errorf("column %d: %v", i, err)
		}
	}
}

// Streams that claim sizes they do not hold are refused without
// allocating what they claim.
func TestDecodeArrowClaims(t *testing.T) {
	ints := arrow.NewSchema([]arrow.Field{{Name: "l", Type: arrow.PrimitiveTypes.Int64}}, nil)
	ib := array.NewInt64Builder(memory.NewGoAllocator())
	ib.AppendValues(make([]int64, 1000), nil)
	col := ib.NewArray()
	ib.Release()
	rec := array.NewRecordBatch(ints, []arrow.Array{col}, 1000)
	col.Release()
	defer rec.Release()
	// The LZ4 buffer of 1000 int64 starts with its uncompressed length,
	// 8000; claim 1 TiB instead.
	bomb := arrowStream(t, ints, []arrow.RecordBatch{rec}, ipc.WithLZ4())
	i := bytes.LastIndex(bomb, binary.LittleEndian.AppendUint64(nil, 8000))
	if i < 0 {
		t.Fatal("no uncompressed length in the stream")
	}
	binary.LittleEndian.PutUint64(bomb[i:], 1<<40)

	nulls := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.Null, Nullable: true}}, nil)
	many := array.NewRecordBatch(nulls, []arrow.Array{array.NewNull(1 << 40)}, 1<<40)
	defer many.Release()
	empty := arrow.NewSchema(nil, nil)
	noCols := array.NewRecordBatch(empty, nil, 1<<40)
	defer noCols.Release()

	for _, tc := range []struct {
		name, body, want string
	}{
		{"metadata length", "\xff\xff\xff\xff\xff\xff\xff\x7f", "metadata of 2147483647 bytes"},
		{"legacy metadata length", "ARROW1\x00\x00", "metadata of"},
		{"inflated buffer", string(bomb), "times its size"},
		{"null rows", string(arrowStream(t, nulls, []arrow.RecordBatch{many})), "rows"},
		{"rows without columns", string(arrowStream(t, empty, []arrow.RecordBatch{noCols})), "rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := (&scoring.Decoder{}).DecodeArrow([]byte(tc.body))
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Errorf("allocated %d bytes for a %d-byte body", got, len(tc.body))
			}
		})
	}
}

// sharedFieldTree is a schema message whose field tree shares children:
// depth levels of structs with two children that are the same table, and
// null leaves, 2^depth fields described in a few hundred bytes
// (flatbuffers allow it; arrow-go would build every one of them).
func sharedFieldTree(depth int) []byte {
	var b []byte
	u16s := func(vs ...int) {
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint16(b, uint16(v))
		}
	}
	u32 := func(v int) { b = binary.LittleEndian.AppendUint32(b, uint32(v)) }
	ref := func(to int) { u32(to - len(b)) } // offsets point forward from where they are
	const (
		vtMessage = 4  // header_type at 4, header at 8
		vtSchema  = 16 // fields at 4
		vtField   = 24 // children at 4, type at 8, type_type at 12
		vtLeaf    = 40 // type at 4, type_type at 8
		vtEmpty   = 52
		message   = 56
		schema    = message + 12
		fields    = schema + 8
		level0    = fields + 8
		typeNull  = 1
		typeStruc = 13
	)
	field := func(level int) int { return level0 + 28*level } // table (16) + vector of 2 (12)
	leaf := field(depth)
	empty := leaf + 12 // the type tables (Null, Struct_) have no fields
	u32(message)
	u16s(12, 12, 0, 4, 8, 0)
	u16s(8, 8, 0, 4)
	u16s(16, 16, 0, 0, 12, 8, 0, 4)
	u16s(12, 12, 0, 0, 8, 4)
	u16s(4, 4)
	u32(message - vtMessage)  // Message
	b = append(b, 1, 0, 0, 0) // header_type Schema
	ref(schema)
	u32(schema - vtSchema) // Schema
	ref(fields)
	u32(1) // fields: [level 0]
	ref(field(0))
	for l := range depth {
		u32(field(l) - vtField) // a struct Field
		ref(field(l) + 16)
		ref(empty)
		b = append(b, typeStruc, 0, 0, 0)
		u32(2) // children: twice the next level
		ref(field(l + 1))
		ref(field(l + 1))
	}
	u32(leaf - vtLeaf) // a null Field
	ref(empty)
	b = append(b, typeNull, 0, 0, 0)
	u32(empty - vtEmpty)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	stream := binary.LittleEndian.AppendUint32(nil, 0xFFFFFFFF)
	stream = binary.LittleEndian.AppendUint32(stream, uint32(len(b)))
	return append(append(stream, b...), 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0)
}

// A field tree that shares its children is refused before arrow-go
// builds it; unshared, the same tree reads.
func TestDecodeArrowSharedFields(t *testing.T) {
	if _, err := (&scoring.Decoder{}).DecodeArrow(sharedFieldTree(2)); err == nil || !strings.Contains(err.Error(), "no record batch") {
		t.Fatalf("4 shared fields: error %v, want the schema read and no record batch", err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := (&scoring.Decoder{}).DecodeArrow(sharedFieldTree(40))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "refers to more than it holds") {
		t.Errorf("2^40 shared fields: error %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("allocated %d bytes", got)
	}
}
