package pqread

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"
)

// Files other writers make: Parquet schemas written with the low-level
// schema and column chunk writer API (legacy list layouts, logical types,
// field ids), their levels chosen at random within what the schema
// allows, read the same as pqarrow reads them when this reader takes
// them, and come back ErrUnsupported otherwise.

func prim(t testing.TB, name string, rep parquet.Repetition, typ parquet.Type, lt schema.LogicalType, typeLen int, id int32) schema.Node {
	t.Helper()
	if lt == nil {
		lt = schema.NoLogicalType{}
	}
	n, err := schema.NewPrimitiveNodeLogical(name, rep, lt, typ, typeLen, id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func group(t testing.TB, name string, rep parquet.Repetition, lt schema.LogicalType, id int32, fields ...schema.Node) schema.Node {
	t.Helper()
	var n *schema.GroupNode
	var err error
	if lt == nil {
		n, err = schema.NewGroupNode(name, rep, fields, id)
	} else {
		n, err = schema.NewGroupNodeLogical(name, rep, fields, lt, id)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// repeatedDef is the definition level of the leaf's innermost repeated
// ancestor (0 when it has none): below it a row's list is null or empty.
func repeatedDef(c *schema.Column) int16 {
	var path []schema.Node
	for n := c.SchemaNode(); n != nil && n.Parent() != nil; n = n.Parent() {
		path = append([]schema.Node{n}, path...)
	}
	var def, rd int16
	for _, n := range path {
		switch n.RepetitionType() {
		case parquet.Repetitions.Optional:
			def++
		case parquet.Repetitions.Repeated:
			def++
			rd = def
		}
	}
	return rd
}

// levels makes rows rows of levels for a leaf: flat leaves get one level
// a row, singly repeated ones 0-5 elements a row (or a null/empty row),
// more deeply repeated ones only rows without elements.
func levels(rng *rand.Rand, c *schema.Column, rows int) (defs, reps []int16, nvals int) {
	maxDef, maxRep := c.MaxDefinitionLevel(), c.MaxRepetitionLevel()
	lowDef := func(lo, hi int16) int16 { // mostly hi
		if hi == lo || rng.IntN(4) > 0 {
			return hi
		}
		return lo + int16(rng.IntN(int(hi-lo)))
	}
	for range rows {
		switch {
		case maxRep == 0:
			d := lowDef(0, maxDef)
			defs = append(defs, d)
		case maxRep == 1:
			rd := repeatedDef(c)
			k := rng.IntN(6)
			if k == 0 {
				defs = append(defs, int16(rng.IntN(int(rd))))
				reps = append(reps, 0)
				continue
			}
			for i := range k {
				defs = append(defs, lowDef(rd, maxDef))
				reps = append(reps, int16(min(i, 1)))
			}
		default:
			defs = append(defs, 0)
			reps = append(reps, 0)
		}
	}
	for _, d := range defs {
		if d == maxDef {
			nvals++
		}
	}
	if maxDef == 0 {
		defs = nil
	}
	if maxRep == 0 {
		reps = nil
	}
	return defs, reps, nvals
}

// writeLowLevel writes root's columns with random levels and values,
// groups row groups of rows rows each.
func writeLowLevel(t testing.TB, rng *rand.Rand, root *schema.GroupNode, groups, rows int, props *parquet.WriterProperties) []byte {
	t.Helper()
	sizes := make([]int, groups)
	for i := range sizes {
		sizes[i] = rows
	}
	return writeGroups(t, rng, root, sizes, props)
}

// writeGroups is writeLowLevel with a row count for each row group.
func writeGroups(t testing.TB, rng *rand.Rand, root *schema.GroupNode, sizes []int, props *parquet.WriterProperties) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := file.NewParquetWriter(&buf, root, file.WithWriterProps(props))
	sc := schema.NewSchema(root)
	for _, rows := range sizes {
		rgw := w.AppendRowGroup()
		for i := range sc.NumColumns() {
			cw, err := rgw.NextColumn()
			if err != nil {
				t.Fatal(err)
			}
			defs, reps, n := levels(rng, sc.Column(i), rows)
			switch cw := cw.(type) {
			case *file.Float32ColumnChunkWriter:
				v := make([]float32, n)
				for j := range v {
					v[j] = rng.Float32()
				}
				_, err = cw.WriteBatch(v, defs, reps)
			case *file.Float64ColumnChunkWriter:
				v := make([]float64, n)
				for j := range v {
					v[j] = rng.NormFloat64()
				}
				_, err = cw.WriteBatch(v, defs, reps)
			case *file.Int32ColumnChunkWriter:
				v := make([]int32, n)
				for j := range v {
					v[j] = rng.Int32N(30000)
				}
				_, err = cw.WriteBatch(v, defs, reps)
			case *file.Int64ColumnChunkWriter:
				v := make([]int64, n)
				for j := range v {
					v[j] = rng.Int64N(1 << 40)
				}
				_, err = cw.WriteBatch(v, defs, reps)
			case *file.FixedLenByteArrayColumnChunkWriter:
				v := make([]parquet.FixedLenByteArray, n)
				for j := range v {
					v[j] = parquet.FixedLenByteArray{byte(rng.IntN(256)), 0x3c}
				}
				_, err = cw.WriteBatch(v, defs, reps)
			default:
				t.Fatalf("no values for a %T", cw)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := cw.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if err := rgw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newReader opens data and returns this reader's answer for leaves.
func newReader(t testing.TB, data []byte, leaves []int) error {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(pf, fr.Manifest, leaves, nil, 10)
	if err == nil {
		r.Close()
	}
	return err
}

func TestOtherWritersShapes(t *testing.T) {
	req, opt, rep := parquet.Repetitions.Required, parquet.Repetitions.Optional, parquet.Repetitions.Repeated
	F, D, I32, I64 := parquet.Types.Float, parquet.Types.Double, parquet.Types.Int32, parquet.Types.Int64
	list := schema.NewListLogicalType()
	for _, tc := range []struct {
		name      string
		node      func(id int32) schema.Node
		supported bool
	}{
		// Supported shapes, as other writers spell them.
		{"optional double", func(id int32) schema.Node { return prim(t, "c", opt, D, nil, -1, id) }, true},
		{"INT(32,signed)", func(id int32) schema.Node {
			return prim(t, "c", opt, I32, schema.NewIntLogicalType(32, true), -1, id)
		}, true},
		{"INT(64,signed)", func(id int32) schema.Node {
			return prim(t, "c", req, I64, schema.NewIntLogicalType(64, true), -1, id)
		}, true},
		{"1-level repeated float", func(id int32) schema.Node { return prim(t, "c", rep, F, nil, -1, id) }, true},
		{"1-level repeated int64", func(id int32) schema.Node { return prim(t, "c", rep, I64, nil, -1, id) }, true},
		{"2-level optional list", func(id int32) schema.Node {
			return group(t, "c", opt, list, id, prim(t, "element", rep, D, nil, -1, id+1))
		}, true},
		{"2-level required list", func(id int32) schema.Node {
			return group(t, "c", req, list, id, prim(t, "array", rep, I32, nil, -1, id+1))
		}, true},
		{"3-level, other names", func(id int32) schema.Node {
			return group(t, "c", opt, list, id, group(t, "bag", rep, nil, id+1, prim(t, "item", opt, F, nil, -1, id+2)))
		}, true},
		{"3-level, required element", func(id int32) schema.Node {
			return group(t, "c", req, list, id, group(t, "list", rep, nil, id+1, prim(t, "element", req, I64, nil, -1, id+2)))
		}, true},
		// Shapes pqarrow reads as something else than a list of numbers.
		{"3-level array is a struct", func(id int32) schema.Node {
			return group(t, "c", opt, list, id, group(t, "array", rep, nil, id+1, prim(t, "item", req, F, nil, -1, id+2)))
		}, false},
		{"3-level _tuple is a struct", func(id int32) schema.Node {
			return group(t, "c", opt, list, id, group(t, "c_tuple", rep, nil, id+1, prim(t, "item", req, F, nil, -1, id+2)))
		}, false},
		{"repeated element", func(id int32) schema.Node {
			return group(t, "c", opt, list, id, group(t, "list", rep, nil, id+1, prim(t, "element", rep, F, nil, -1, id+2)))
		}, false},
		{"list in optional group", func(id int32) schema.Node {
			return group(t, "c", opt, nil, id, group(t, "l", opt, list, id+1,
				group(t, "list", rep, nil, id+2, prim(t, "element", opt, F, nil, -1, id+3))))
		}, false},
		{"repeated group", func(id int32) schema.Node {
			return group(t, "c", rep, nil, id, prim(t, "v", req, F, nil, -1, id+1))
		}, false},
		{"INT(16)", func(id int32) schema.Node { return prim(t, "c", opt, I32, schema.NewIntLogicalType(16, true), -1, id) }, false},
		{"UINT(32)", func(id int32) schema.Node { return prim(t, "c", opt, I32, schema.NewIntLogicalType(32, false), -1, id) }, false},
		{"UINT(64)", func(id int32) schema.Node { return prim(t, "c", req, I64, schema.NewIntLogicalType(64, false), -1, id) }, false},
		{"DATE", func(id int32) schema.Node { return prim(t, "c", opt, I32, schema.DateLogicalType{}, -1, id) }, false},
		{"TIME(ms)", func(id int32) schema.Node {
			return prim(t, "c", opt, I32, schema.NewTimeLogicalType(true, schema.TimeUnitMillis), -1, id)
		}, false},
		{"DECIMAL int32", func(id int32) schema.Node {
			return prim(t, "c", opt, I32, schema.NewDecimalLogicalType(9, 2), -1, id)
		}, false},
		{"DECIMAL int64", func(id int32) schema.Node {
			return prim(t, "c", opt, I64, schema.NewDecimalLogicalType(18, 3), -1, id)
		}, false},
		{"TIMESTAMP", func(id int32) schema.Node {
			return prim(t, "c", opt, I64, schema.NewTimestampLogicalType(true, schema.TimeUnitMicros), -1, id)
		}, false},
		{"FLOAT16", func(id int32) schema.Node {
			return prim(t, "c", opt, parquet.Types.FixedLenByteArray, schema.Float16LogicalType{}, 2, id)
		}, false},
		{"list of INT(16)", func(id int32) schema.Node {
			return group(t, "c", opt, list, id, group(t, "list", rep, nil, id+1,
				prim(t, "element", opt, I32, schema.NewIntLogicalType(16, true), -1, id+2)))
		}, false},
		{"1-level repeated DATE", func(id int32) schema.Node { return prim(t, "c", rep, I32, schema.DateLogicalType{}, -1, id) }, false},
	} {
		for _, id := range []int32{-1, 10} { // without and with field ids
			t.Run(fmt.Sprintf("%s/id=%d", tc.name, id), func(t *testing.T) {
				root, err := schema.NewGroupNode("schema", req, schema.FieldList{
					prim(t, "x", opt, D, nil, -1, id),
					tc.node(id),
				}, -1)
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(uint64(id), 9))
				for _, props := range []*parquet.WriterProperties{
					parquet.NewWriterProperties(parquet.WithDictionaryDefault(false), parquet.WithDataPageSize(50), parquet.WithBatchSize(16)),
					parquet.NewWriterProperties(parquet.WithDataPageVersion(parquet.DataPageV2), parquet.WithDataPageSize(200), parquet.WithBatchSize(16)),
				} {
					data := writeLowLevel(t, rng, root, 3, 150, props)
					sc := schema.NewSchema(root)
					var leaves []int
					for i := 1; i < sc.NumColumns(); i++ {
						leaves = append(leaves, i)
					}
					err := newReader(t, data, leaves)
					if !tc.supported {
						if !errors.Is(err, ErrUnsupported) {
							t.Fatalf("New: %v, want ErrUnsupported", err)
						}
						compare(t, data, []int{0}, nil, 64)
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					for _, batch := range []int{1, 13, 150, 151, 1000} {
						compare(t, data, nil, nil, batch)
					}
					compare(t, data, []int{1}, []int{2, 0, 2}, 40)
				}
			})
		}
	}
}

// patchRowCount rewrites the k-th of want occurrences of a 300 written as
// a thrift compact i64 field (header 0x16, zigzag varint D8 04) in data's
// footer to to (which must also be a two-byte varint).
func patchRowCount(t testing.TB, data []byte, want, k int, to int64) []byte {
	t.Helper()
	data = bytes.Clone(data)
	n := int(data[len(data)-8]) | int(data[len(data)-7])<<8 | int(data[len(data)-6])<<16 | int(data[len(data)-5])<<24
	footer := data[len(data)-8-n : len(data)-8]
	pat := []byte{0x16, 0xd8, 0x04}
	var at []int
	for i := 0; i+len(pat) <= len(footer); i++ {
		if bytes.Equal(footer[i:i+len(pat)], pat) {
			at = append(at, i)
		}
	}
	if len(at) != want {
		t.Fatalf("%d occurrences of the row count in the footer, want %d", len(at), want)
	}
	z := uint64(to << 1)
	if z < 0x80 || z >= 0x4000 {
		t.Fatalf("%d is not a two-byte varint", to)
	}
	footer[at[k]+1], footer[at[k]+2] = byte(z)|0x80, byte(z>>7)
	return data
}

// A row group that declares fewer or more rows than its column chunks
// hold is an error: neither silently dropped rows (pqarrow returns all
// the chunks hold) nor a short batch.
func TestRowCountDisagrees(t *testing.T) {
	for _, tc := range []struct {
		name         string
		use          []shape
		occurrences  int
		k            int
		declared     int64
		wantGroupErr string
	}{
		{"flat fewer", []shape{shapes[0]}, 4, 1, 200, "more rows than"},
		{"flat more", []shape{shapes[1]}, 4, 1, 400, "ends after"},
		{"list fewer", []shape{shapes[4]}, 2, 0, 200, "more rows than"},
		{"list more", []shape{shapes[6]}, 2, 0, 400, "ends after"},
		{"fsl fewer", []shape{shapes[9]}, 2, 0, 250, "more rows than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 12))
			rec := gen(rng, memory.DefaultAllocator, tc.use, 600, 2, 0.1)
			defer rec.Release()
			data := patchRowCount(t, writeFile(t, rec, 300, false, 1<<20, false), tc.occurrences, tc.k, tc.declared)
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			pf, err := file.NewParquetReader(bytes.NewReader(data), file.WithReadProps(parquet.NewReaderProperties(mem)))
			if err != nil {
				t.Fatal(err)
			}
			defer pf.Close()
			if got := pf.MetaData().RowGroup(0).NumRows(); got != tc.declared {
				t.Fatalf("patched row group declares %d rows", got)
			}
			fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
			if err != nil {
				t.Fatal(err)
			}
			for _, batch := range []int{7, 300, 1000} {
				r, err := NewWithAllocator(pf, fr.Manifest, nil, nil, batch, mem)
				if err != nil {
					t.Fatal(err)
				}
				rows := 0
				for {
					b, err := r.Next(context.Background())
					if err != nil {
						if errors.Is(err, io.EOF) || !strings.Contains(err.Error(), tc.wantGroupErr) {
							t.Errorf("batch %d: after %d rows: %v, want an error saying %q", batch, rows, err, tc.wantGroupErr)
						}
						// The error stays: the columns are no longer at one row.
						if b, again := r.Next(context.Background()); b != nil || again != err {
							t.Errorf("batch %d: Next after %v gave %v, %v", batch, err, b, again)
						}
						break
					}
					rows += int(b.NumRows())
					b.Release()
				}
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// Leaves in another order than the file's, row groups repeated and out
// of order, batches that span the chosen groups.
func TestLeafAndGroupOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	rec := gen(rng, memory.DefaultAllocator, shapes, 500, 4, 0.3)
	defer rec.Release()
	data := writeFile(t, rec, 100, true, 300, true)
	for _, tc := range []struct {
		leaves, groups []int
	}{
		{[]int{10, 6, 1}, []int{4, 0, 2}},
		{[]int{4, 4, 0}, []int{1, 1}},
		{nil, []int{3, 3, 3}},
		{[]int{9}, []int{0}},
	} {
		for _, batch := range []int{1, 99, 101, 250} {
			t.Run(fmt.Sprintf("%v/%v/%d", tc.leaves, tc.groups, batch), func(t *testing.T) {
				compare(t, data, tc.leaves, tc.groups, batch)
			})
		}
	}
}

// Rows of very different lengths: the read-ahead estimate from the rows
// so far is far too small (short rows, then long ones) or too large, one
// row holds more levels than one read takes (maxRead), and rows start
// exactly where a read ends.
func TestListLengthsVary(t *testing.T) {
	mem := memory.DefaultAllocator
	for _, tc := range []struct {
		name string
		lens func(i int) int
		rows int
	}{
		{"short then long", func(i int) int {
			if i < 50 {
				return i % 2
			}
			return 5000 + i
		}, 120},
		{"long then empty", func(i int) int {
			if i < 3 {
				return 9000
			}
			return 0
		}, 3000},
		{"one huge row", func(i int) int {
			if i == 1 {
				return maxRead + 3
			}
			return 4096
		}, 3},
		{"exact reads", func(int) int { return 1024 }, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ := arrow.ListOf(arrow.PrimitiveTypes.Float32)
			b := array.NewListBuilder(mem, arrow.PrimitiveTypes.Float32)
			defer b.Release()
			vb := b.ValueBuilder().(*array.Float32Builder)
			for i := range tc.rows {
				if i%7 == 3 {
					b.AppendNull()
					continue
				}
				b.Append(true)
				for j := range tc.lens(i) {
					if j%1000 == 999 {
						vb.AppendNull()
					} else {
						vb.Append(float32(i*7 + j))
					}
				}
			}
			arr := b.NewArray()
			defer arr.Release()
			rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "l", Type: typ, Nullable: true}}, nil), []arrow.Array{arr}, int64(tc.rows))
			defer rec.Release()
			data := writeFile(t, rec, max(tc.rows/2, 1), false, 1<<16, false)
			for _, batch := range []int{1, 2, 64, tc.rows} {
				compare(t, data, nil, nil, batch)
			}
		})
	}
}

// Closing a reader part way, or after an error, returns every buffer to
// the allocator (the column chunk readers' page buffers included).
func TestCloseReleases(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	rec := gen(rng, memory.DefaultAllocator, shapes, 400, 5, 0.2)
	defer rec.Release()
	data := writeFile(t, rec, 150, true, 500, false)
	for _, tc := range []struct {
		stop     int
		buffered bool
	}{{0, true}, {1, true}, {3, true}, {1, false}, {3, false}} {
		stop := tc.stop
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			props := parquet.NewReaderProperties(mem)
			props.BufferedStreamEnabled = tc.buffered
			props.BufferSize = 1024
			pf, err := file.NewParquetReader(bytes.NewReader(data), file.WithReadProps(props))
			if err != nil {
				t.Fatal(err)
			}
			defer pf.Close()
			fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewWithAllocator(pf, fr.Manifest, nil, nil, 100, mem)
			if err != nil {
				t.Fatal(err)
			}
			if stop == 3 {
				r.left += 50 // the columns end early: an error part way
			}
			for range stop + 2 {
				b, err := r.Next(context.Background())
				if err != nil {
					break
				}
				b.Release()
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Bytes flipped anywhere before the footer give an error or data, never
// a panic, and never a batch that fails validation.
func TestCorruptPages(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	rec := gen(rng, memory.DefaultAllocator, shapes, 300, 3, 0.2)
	defer rec.Release()
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithDictionaryDefault(true), parquet.WithDataPageSize(200), parquet.WithMaxRowGroupLength(100))
	w, err := pqarrow.NewFileWriter(rec.Schema(), &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	clean := buf.Bytes()
	pf, err := file.NewParquetReader(bytes.NewReader(clean))
	if err != nil {
		t.Fatal(err)
	}
	body := int(pf.MetaData().Size()) // the footer's length
	pf.Close()
	body = len(clean) - 8 - body
	for k := range 400 {
		data := bytes.Clone(clean)
		for range 1 + rng.IntN(3) {
			data[4+rng.IntN(body-4)] ^= byte(1 + rng.IntN(255))
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("corruption %d: panic %v", k, p)
				}
			}()
			pf, err := file.NewParquetReader(bytes.NewReader(data))
			if err != nil {
				return
			}
			defer pf.Close()
			fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
			if err != nil {
				return
			}
			r, err := New(pf, fr.Manifest, nil, nil, 64)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for {
				b, err := r.Next(context.Background())
				if err != nil {
					return
				}
				for i, c := range b.Columns() {
					if err := array.ValidateFull(c); err != nil {
						t.Fatalf("corruption %d: column %d: %v", k, i, err)
					}
				}
				b.Release()
			}
		}()
	}
}

// No leaves at all is pqarrow's to refuse, not batches without columns.
func TestNoLeaves(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	rec := gen(rng, memory.DefaultAllocator, shapes[:2], 10, 1, 0)
	defer rec.Release()
	if err := newReader(t, writeFile(t, rec, 10, false, 1<<20, false), []int{}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("New with no leaves: %v, want ErrUnsupported", err)
	}
}

// Encodings other writers choose (byte stream split) and dictionaries that fall back to plain part way through a
// column chunk (a small dictionary page limit, many distinct values).
func TestEncodingsAndDictionaryFallback(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	rec := gen(rng, memory.DefaultAllocator, shapes, 2000, 6, 0.15)
	defer rec.Release()
	// Delta binary packing is left out: arrow-go's decoder of it keeps 64
	// bytes from the allocator per column chunk (pqarrow's reads too), and
	// compare's checked allocator would fail on that.
	bss := parquet.Encodings.ByteStreamSplit
	for _, tc := range []struct {
		name  string
		page  int64
		props []parquet.WriterProperty
	}{
		{"fallback", 40, []parquet.WriterProperty{parquet.WithDictionaryDefault(true), parquet.WithDictionaryPageSizeLimit(3000)}},
		{"byte stream split", 700, []parquet.WriterProperty{parquet.WithDictionaryDefault(false),
			parquet.WithEncodingFor("f32", bss), parquet.WithEncodingFor("f64_nulls", bss),
			parquet.WithEncodingFor("i32_nulls", bss), parquet.WithEncodingFor("i64", bss),
			parquet.WithEncodingFor("tensor.list.element", bss), parquet.WithEncodingFor("ragged_nulls.list.element", bss),
			parquet.WithEncodingFor("fsl.list.element", bss)}},
	} {
		for _, v2 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/v2=%v", tc.name, v2), func(t *testing.T) {
				version := parquet.DataPageV1
				if v2 {
					version = parquet.DataPageV2
				}
				props := parquet.NewWriterProperties(append(tc.props, parquet.WithDataPageSize(tc.page),
					parquet.WithBatchSize(50), parquet.WithDataPageVersion(version))...)
				var buf bytes.Buffer
				w, err := pqarrow.NewFileWriter(rec.Schema(), &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
				if err != nil {
					t.Fatal(err)
				}
				if err := w.WriteBuffered(rec); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				data := buf.Bytes()
				pf, err := file.NewParquetReader(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				encs := map[parquet.Encoding]bool{}
				for i := range pf.MetaData().Schema.NumColumns() {
					cc, err := pf.MetaData().RowGroup(0).ColumnChunk(i)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range cc.Encodings() {
						encs[e] = true
					}
					// A chunk whose data pages are both dictionary indices
					// and plain values fell back part way.
					kinds := map[bool]bool{}
					for _, st := range cc.EncodingStats() {
						if fmt.Sprint(st.PageType) != "DICTIONARY_PAGE" {
							kinds[st.Encoding == parquet.Encodings.Plain] = true
						}
					}
					if len(kinds) == 2 {
						encs[-1] = true
					}
				}
				pf.Close()
				if encs[parquet.Encodings.PlainDict] {
					encs[parquet.Encodings.RLEDict] = true
				}
				want := []parquet.Encoding{-1}
				if tc.name != "fallback" {
					want = []parquet.Encoding{bss}
				}
				for _, e := range want {
					if !encs[e] {
						t.Fatalf("no column chunk is %v encoded (-1: dictionary then plain) (%v)", e, encs)
					}
				}
				for _, batch := range []int{33, 2000} {
					compare(t, data, nil, nil, batch)
				}
			})
		}
	}
}

// Row groups without rows, between others or making the whole file.
func TestEmptyRowGroups(t *testing.T) {
	req, opt, rep := parquet.Repetitions.Required, parquet.Repetitions.Optional, parquet.Repetitions.Repeated
	root, err := schema.NewGroupNode("schema", req, schema.FieldList{
		prim(t, "x", opt, parquet.Types.Double, nil, -1, -1),
		group(t, "l", opt, schema.NewListLogicalType(), -1,
			group(t, "list", rep, nil, -1, prim(t, "element", opt, parquet.Types.Float, nil, -1, -1))),
		prim(t, "r", rep, parquet.Types.Int32, nil, -1, -1),
	}, -1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(23, 24))
	for _, sizes := range [][]int{{0}, {0, 0}, {0, 40, 0, 0, 25, 0}, {40, 0}} {
		data := writeGroups(t, rng, root, sizes, parquet.NewWriterProperties(parquet.WithDataPageSize(64)))
		if err := newReader(t, data, nil); err != nil {
			t.Fatal(err)
		}
		for _, batch := range []int{1, 40, 100} {
			t.Run(fmt.Sprintf("%v/%d", sizes, batch), func(t *testing.T) {
				compare(t, data, nil, nil, batch)
				if len(sizes) > 2 {
					compare(t, data, []int{2, 1}, []int{5, 1, 0, 4}, batch)
				}
			})
		}
	}
}

// reviewFloat is an extension type over float32, as a writer's Arrow
// schema may carry one.
type reviewFloat struct{ arrow.ExtensionBase }

type reviewFloatArray struct{ array.ExtensionArrayBase }

func newReviewFloat() *reviewFloat {
	return &reviewFloat{arrow.ExtensionBase{Storage: arrow.PrimitiveTypes.Float32}}
}
func (*reviewFloat) ArrayType() reflect.Type { return reflect.TypeOf(reviewFloatArray{}) }
func (*reviewFloat) ExtensionName() string   { return "mlship.review.float" }
func (*reviewFloat) Serialize() string       { return "" }
func (e *reviewFloat) ExtensionEquals(o arrow.ExtensionType) bool {
	return e.ExtensionName() == o.ExtensionName()
}
func (*reviewFloat) Deserialize(arrow.DataType, string) (arrow.ExtensionType, error) {
	return newReviewFloat(), nil
}

// The Arrow schema a writer stored: field and schema metadata, and an
// extension type over float32 (pqarrow v18.8.0 reads it as plain float32
// whether or not the extension is registered, carrying the extension's
// name in the field's metadata when not; this reader must agree).
func TestStoredSchemaMetadata(t *testing.T) {
	mem := memory.DefaultAllocator
	ext := newReviewFloat()
	schemaOf := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Float64, Nullable: true, Metadata: arrow.NewMetadata([]string{"unit"}, []string{"m"})},
		{Name: "e", Type: ext, Nullable: true},
		{Name: "l", Type: arrow.ListOfField(arrow.Field{Name: "v", Type: arrow.PrimitiveTypes.Int32, Nullable: false,
			Metadata: arrow.NewMetadata([]string{"k"}, []string{"v"})}), Nullable: false},
	}, func() *arrow.Metadata { m := arrow.NewMetadata([]string{"origin"}, []string{"review"}); return &m }())
	b := array.NewRecordBuilder(mem, schemaOf)
	defer b.Release()
	for i := range 300 {
		b.Field(0).(*array.Float64Builder).Append(float64(i) / 3)
		eb := b.Field(1).(*array.ExtensionBuilder).StorageBuilder().(*array.Float32Builder)
		if i%5 == 0 {
			b.Field(1).AppendNull()
		} else {
			eb.Append(float32(i))
		}
		lb := b.Field(2).(*array.ListBuilder)
		lb.Append(true)
		for j := range i % 4 {
			lb.ValueBuilder().(*array.Int32Builder).Append(int32(i + j))
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	if err := arrow.RegisterExtensionType(ext); err != nil {
		t.Fatal(err)
	}
	registered := true
	defer func() {
		if registered {
			arrow.UnregisterExtensionType(ext.ExtensionName())
		}
	}()
	data := writeFile(t, rec, 100, false, 256, false)
	for _, batch := range []int{1, 64, 300} {
		compare(t, data, nil, nil, batch)
	}
	if err := arrow.UnregisterExtensionType(ext.ExtensionName()); err != nil {
		t.Fatal(err)
	}
	registered = false
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatal(err)
	}
	got := fr.Manifest.Fields[1].Field
	pf.Close()
	if !strings.Contains(got.Metadata.String(), "mlship.review.float") {
		t.Fatalf("unregistered, the extension column reads as %v", got)
	}
	for _, batch := range []int{1, 64, 300} {
		compare(t, data, nil, nil, batch)
	}
}
