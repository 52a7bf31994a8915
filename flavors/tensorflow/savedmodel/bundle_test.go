package savedmodel

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/mlship/mlship/internal/tfpb"
)

// The tests below write TensorBundles the way TensorFlow's table builder
// does, to reach what the shared models do not: several shards and data
// blocks, uncompressed and compressed blocks, string vectors, and the
// headers and entries this package refuses.

// tableWriter builds a LevelDB-format table: data blocks of at most
// blockEntries entries with prefix-compressed keys, an index block, an
// empty metaindex block and the footer.
type tableWriter struct {
	buf         []byte
	compress    bool
	perBlock    int
	index       [][2][]byte // last key of a block, encoded handle
	block       [][2][]byte
	restartEach int
}

func (w *tableWriter) add(key, value []byte) {
	w.block = append(w.block, [2][]byte{key, value})
	if len(w.block) == w.perBlock {
		w.flush()
	}
}

func (w *tableWriter) flush() {
	if len(w.block) == 0 {
		return
	}
	h := w.writeBlock(w.block)
	w.index = append(w.index, [2][]byte{w.block[len(w.block)-1][0], h})
	w.block = nil
}

func encodeBlock(entries [][2][]byte, restartEach int) []byte {
	var b []byte
	var restarts []uint32
	var prev []byte
	for i, e := range entries {
		shared := 0
		if restartEach > 0 && i%restartEach == 0 {
			restarts = append(restarts, uint32(len(b)))
		} else {
			for shared < len(prev) && shared < len(e[0]) && prev[shared] == e[0][shared] {
				shared++
			}
		}
		b = binary.AppendUvarint(b, uint64(shared))
		b = binary.AppendUvarint(b, uint64(len(e[0])-shared))
		b = binary.AppendUvarint(b, uint64(len(e[1])))
		b = append(append(b, e[0][shared:]...), e[1]...)
		prev = e[0]
	}
	if len(restarts) == 0 {
		restarts = []uint32{0}
	}
	for _, r := range restarts {
		b = binary.LittleEndian.AppendUint32(b, r)
	}
	return binary.LittleEndian.AppendUint32(b, uint32(len(restarts)))
}

func (w *tableWriter) writeBlock(entries [][2][]byte) []byte {
	contents := encodeBlock(entries, w.restartEach)
	typ := byte(blockNoCompression)
	if w.compress {
		contents, typ = snappy.Encode(nil, contents), blockSnappyCompression
	}
	h := binary.AppendUvarint(binary.AppendUvarint(nil, uint64(len(w.buf))), uint64(len(contents)))
	w.buf = append(w.buf, contents...)
	crc := crc32.Update(crc32.Checksum(contents, castagnoli), castagnoli, []byte{typ})
	w.buf = append(append(w.buf, typ), binary.LittleEndian.AppendUint32(nil, maskCRC(crc))...)
	return h
}

func (w *tableWriter) finish() []byte {
	w.flush()
	meta := w.writeBlock(nil)
	index := w.writeBlock(w.index)
	footer := append(append([]byte{}, meta...), index...)
	footer = append(footer, make([]byte, 40-len(footer))...)
	footer = binary.LittleEndian.AppendUint64(footer, tableMagic)
	return append(w.buf, footer...)
}

type bundleTensor struct {
	key     string
	dtype   tfpb.DataType
	shape   []int64
	data    []byte   // fixed-size dtypes
	strings []string // DT_STRING
	shard   int32
}

// writeBundle writes prefix.index and its data shards and returns prefix.
func writeBundle(t *testing.T, header *tfpb.BundleHeaderProto, tensors []bundleTensor, w tableWriter) string {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "variables")
	shards := make([][]byte, max(header.NumShards, 1))
	slices.SortFunc(tensors, func(a, b bundleTensor) int { return strings.Compare(a.key, b.key) })
	hb, err := proto.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	w.add(nil, hb)
	for _, tn := range tensors {
		raw := tn.data
		var sum uint32
		if tn.dtype == tfpb.DataType_DT_STRING {
			raw = nil
			crc := uint32(0)
			for _, s := range tn.strings {
				raw = binary.AppendUvarint(raw, uint64(len(s)))
				crc = crc32.Update(crc, castagnoli, le32(uint32(len(s))))
			}
			lc := le32(maskCRC(crc))
			raw = append(raw, lc...)
			crc = crc32.Update(crc, castagnoli, lc)
			for _, s := range tn.strings {
				raw = append(raw, s...)
				crc = crc32.Update(crc, castagnoli, []byte(s))
			}
			sum = maskCRC(crc)
		} else {
			sum = maskCRC(crc32.Checksum(raw, castagnoli))
		}
		shape := &tfpb.TensorShapeProto{}
		for _, d := range tn.shape {
			shape.Dim = append(shape.Dim, &tfpb.TensorShapeProto_Dim{Size: d})
		}
		e := &tfpb.BundleEntryProto{Dtype: tn.dtype, Shape: shape, ShardId: tn.shard,
			Offset: int64(len(shards[tn.shard])), Size: int64(len(raw)), Crc32C: sum}
		shards[tn.shard] = append(shards[tn.shard], raw...)
		eb, err := proto.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		w.add([]byte(tn.key), eb)
	}
	if err := os.WriteFile(prefix+".index", w.finish(), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, b := range shards {
		name := fmt.Sprintf("%s.data-%05d-of-%05d", prefix, i, len(shards))
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return prefix
}

func TestWrittenBundles(t *testing.T) {
	var tensors []bundleTensor
	for i := range 40 {
		tensors = append(tensors, bundleTensor{
			key: fmt.Sprintf("model/layer_%02d/kernel", i), dtype: f32, shape: []int64{2, 3},
			data: slices.Repeat(lef32(float32(i)), 6), shard: int32(i % 3)})
	}
	tensors = append(tensors,
		bundleTensor{key: "vocab", dtype: str, shape: []int64{4}, strings: []string{"a", "", "ccc", strings.Repeat("d", 200)}, shard: 1},
		bundleTensor{key: "empty", dtype: i64, shape: []int64{0, 5}, data: nil},
		bundleTensor{key: "half", dtype: tfpb.DataType_DT_HALF, shape: []int64{3}, data: []byte{1, 2, 3, 4, 5, 6}, shard: 2},
	)
	for _, w := range []tableWriter{
		{perBlock: 1000},
		{perBlock: 7, restartEach: 3},
		{perBlock: 5, compress: true, restartEach: 16},
		{perBlock: 1, compress: true},
	} {
		t.Run(fmt.Sprintf("perBlock=%d,compress=%v", w.perBlock, w.compress), func(t *testing.T) {
			prefix := writeBundle(t, &tfpb.BundleHeaderProto{NumShards: 3}, slices.Clone(tensors), w)
			ck, err := OpenCheckpoint(prefix)
			if err != nil {
				t.Fatal(err)
			}
			if len(ck.Keys()) != len(tensors) || !slices.IsSorted(ck.Keys()) {
				t.Fatalf("keys %v", ck.Keys())
			}
			for _, want := range tensors {
				got, err := ck.Tensor(want.key)
				if err != nil {
					t.Fatalf("%s: %v", want.key, err)
				}
				if got.DType != want.dtype || !slices.Equal(got.Shape, want.shape) || string(got.Data) != string(want.data) {
					t.Errorf("%s: %v %v % x", want.key, got.DType, got.Shape, got.Data)
				}
				for i, s := range want.strings {
					if string(got.Strings[i]) != s {
						t.Errorf("%s[%d] = %q, want %q", want.key, i, got.Strings[i], s)
					}
				}
			}
		})
	}
}

func TestRefusedBundles(t *testing.T) {
	ok := bundleTensor{key: "w", dtype: f32, shape: []int64{1}, data: lef32(1)}
	tests := []struct {
		name    string
		header  *tfpb.BundleHeaderProto
		tensors []bundleTensor
		edit    func(e *tfpb.BundleEntryProto) // applied to w's entry by rewriting the index
		openMsg string                         // error when opening
		readMsg string                         // error when reading "w"
	}{
		{name: "big-endian", header: &tfpb.BundleHeaderProto{NumShards: 1, Endianness: tfpb.BundleHeaderProto_BIG}, openMsg: "only little-endian"},
		{name: "shard out of range", edit: func(e *tfpb.BundleEntryProto) { e.ShardId = 1 }, openMsg: "shard 1 of 1"},
		{name: "negative offset", edit: func(e *tfpb.BundleEntryProto) { e.Offset = -4 }, openMsg: "negative"},
		{name: "size disagrees with shape", edit: func(e *tfpb.BundleEntryProto) { e.Shape.Dim[0].Size = 2 }, readMsg: "index says 4 bytes for 2 elements"},
		{name: "huge shape", edit: func(e *tfpb.BundleEntryProto) { e.Shape.Dim[0].Size = 1 << 62; e.Size = 1 << 62 }, readMsg: "bytes for"},
		{name: "past end of shard", edit: func(e *tfpb.BundleEntryProto) { e.Offset = 1 << 40 }, readMsg: "past its end"},
		{name: "partitioned", edit: func(e *tfpb.BundleEntryProto) { e.Slices = []*tfpb.TensorSliceProto{{}} }, readMsg: "partitioned variables are not supported"},
		{name: "resource dtype", edit: func(e *tfpb.BundleEntryProto) { e.Dtype = tfpb.DataType_DT_RESOURCE }, readMsg: "DT_RESOURCE is not supported"},
		{name: "unknown rank", edit: func(e *tfpb.BundleEntryProto) { e.Shape = &tfpb.TensorShapeProto{UnknownRank: true} }, readMsg: "unknown rank"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := tt.header
			if header == nil {
				header = &tfpb.BundleHeaderProto{NumShards: 1}
			}
			prefix := writeBundle(t, header, []bundleTensor{ok}, tableWriter{perBlock: 10})
			if tt.edit != nil {
				rewriteEntry(t, prefix, "w", tt.edit)
			}
			ck, err := OpenCheckpoint(prefix)
			if tt.openMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.openMsg) || !strings.Contains(err.Error(), prefix+".index") {
					t.Fatalf("open: %v, want an error naming the index and saying %q", err, tt.openMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ck.Tensor("w"); err == nil || !strings.Contains(err.Error(), tt.readMsg) {
				t.Fatalf("Tensor: %v, want %q", err, tt.readMsg)
			}
		})
	}
}

// rewriteEntry edits one BundleEntryProto of a written index and writes
// the index again (with valid checksums).
func rewriteEntry(t *testing.T, prefix, key string, edit func(*tfpb.BundleEntryProto)) {
	t.Helper()
	b, err := os.ReadFile(prefix + ".index")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := readTable(b)
	if err != nil {
		t.Fatal(err)
	}
	w := tableWriter{perBlock: 1000}
	for _, e := range entries {
		v := e.value
		if string(e.key) == key {
			be := &tfpb.BundleEntryProto{}
			if err := proto.Unmarshal(v, be); err != nil {
				t.Fatal(err)
			}
			edit(be)
			if v, err = proto.Marshal(be); err != nil {
				t.Fatal(err)
			}
		}
		w.add(e.key, v)
	}
	if err := os.WriteFile(prefix+".index", w.finish(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Structural errors inside a block with a valid checksum.
func TestBadTables(t *testing.T) {
	good := (&tableWriter{perBlock: 10}).finish()
	if _, err := readTable(good); err != nil {
		t.Fatalf("empty table: %v", err)
	}
	if _, err := ParseIndex(good); err == nil || !strings.Contains(err.Error(), "no bundle header") {
		t.Errorf("table without header: %v", err)
	}
	unsorted := tableWriter{perBlock: 10}
	unsorted.add([]byte("b"), nil)
	unsorted.add([]byte("a"), nil)
	if _, err := readTable(unsorted.finish()); err == nil || !strings.Contains(err.Error(), "sorts after") {
		t.Errorf("unsorted keys: %v", err)
	}
	// Keys out of order across blocks.
	across := tableWriter{perBlock: 1}
	across.add([]byte("b"), nil)
	across.add([]byte("a"), nil)
	if _, err := readTable(across.finish()); err == nil || !strings.Contains(err.Error(), "does not sort after") {
		t.Errorf("unsorted blocks: %v", err)
	}
	// Claim 1000 restart points in a tiny block: rewrite the block with a
	// valid checksum over the lie.
	blk := encodeBlock([][2][]byte{{[]byte("a"), nil}}, 0)
	binary.LittleEndian.PutUint32(blk[len(blk)-4:], 1000)
	w := tableWriter{}
	h := w.writeRaw(blk)
	w.index = [][2][]byte{{[]byte("a"), h}}
	if _, err := readTable(w.finish()); err == nil || !strings.Contains(err.Error(), "restart points") {
		t.Errorf("bad restart count: %v", err)
	}
}

func (w *tableWriter) writeRaw(contents []byte) []byte {
	h := binary.AppendUvarint(binary.AppendUvarint(nil, uint64(len(w.buf))), uint64(len(contents)))
	w.buf = append(w.buf, contents...)
	crc := crc32.Update(crc32.Checksum(contents, castagnoli), castagnoli, []byte{0})
	w.buf = append(append(w.buf, 0), binary.LittleEndian.AppendUint32(nil, maskCRC(crc))...)
	return h
}
