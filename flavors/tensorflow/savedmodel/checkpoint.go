package savedmodel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/mlship/mlship/internal/tfpb"
)

// ObjectGraphKey is the checkpoint key of the serialized
// tfpb.TrackableObjectGraph that TF2 checkpoints carry: it names, for each
// object of the saved object graph, the checkpoint keys of its tensors.
const ObjectGraphKey = "_CHECKPOINTABLE_OBJECT_GRAPH"

// maxShards bounds num_shards from a (possibly corrupt) header; TensorFlow
// writes one shard per device, so real values are small.
const maxShards = 1 << 16

// Checkpoint is a TensorBundle checkpoint: an index (prefix.index) mapping
// tensor keys to BundleEntryProtos, and data shards
// (prefix.data-00000-of-0000N) holding the tensor bytes. The index is read
// and verified when the checkpoint is opened; tensor data is read, and its
// checksum verified, by Tensor. A Checkpoint is safe for concurrent use.
type Checkpoint struct {
	// Prefix is the path prefix of the bundle's files ("dir/variables/variables"),
	// empty for a SavedModel without variables.
	Prefix string
	// Header is the bundle header (the index's "" entry).
	Header *tfpb.BundleHeaderProto

	keys    []string
	entries map[string]*tfpb.BundleEntryProto

	// readData reads size bytes at off of a data shard; nil means from the
	// file (readAt). Fuzz tests read from memory instead.
	readData func(name string, off, size int64) ([]byte, error)

	ogOnce sync.Once
	og     *tfpb.TrackableObjectGraph
	ogErr  error
}

// emptyCheckpoint is the variable set of a SavedModel that has none.
func emptyCheckpoint() *Checkpoint {
	return &Checkpoint{Header: &tfpb.BundleHeaderProto{}, entries: map[string]*tfpb.BundleEntryProto{}}
}

// OpenCheckpoint opens the TensorBundle whose files start with prefix
// (reading prefix.index; a SavedModel's is "dir/variables/variables").
func OpenCheckpoint(prefix string) (*Checkpoint, error) {
	name := prefix + ".index"
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint index: %w", err)
	}
	ck, err := ParseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint index %s: %w", name, err)
	}
	ck.Prefix = prefix
	return ck, nil
}

// ParseIndex parses the bytes of a TensorBundle index file. The result has
// no Prefix, so its Tensor method cannot read data until Prefix is set.
func ParseIndex(data []byte) (*Checkpoint, error) {
	entries, err := readTable(data)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 || len(entries[0].key) != 0 {
		return nil, errors.New("no bundle header (the table's first key must be empty)")
	}
	ck := &Checkpoint{Header: &tfpb.BundleHeaderProto{}, entries: make(map[string]*tfpb.BundleEntryProto, len(entries)-1)}
	if err := proto.Unmarshal(entries[0].value, ck.Header); err != nil {
		return nil, fmt.Errorf("bundle header: %w", err)
	}
	if ck.Header.Endianness != tfpb.BundleHeaderProto_LITTLE {
		return nil, fmt.Errorf("bundle is %v-endian; only little-endian bundles are supported", ck.Header.Endianness)
	}
	if ck.Header.NumShards < 0 || ck.Header.NumShards > maxShards {
		return nil, fmt.Errorf("bundle header: %d shards", ck.Header.NumShards)
	}
	for _, e := range entries[1:] {
		key := string(e.key)
		be := &tfpb.BundleEntryProto{}
		if err := proto.Unmarshal(e.value, be); err != nil {
			return nil, fmt.Errorf("entry %q: %w", key, err)
		}
		if len(be.Slices) == 0 {
			// Partitioned variables list their slices, whose own entries
			// carry the data; those are not checked here.
			if be.ShardId < 0 || be.ShardId >= max(ck.Header.NumShards, 1) {
				return nil, fmt.Errorf("entry %q: shard %d of %d", key, be.ShardId, ck.Header.NumShards)
			}
			if be.Offset < 0 || be.Size < 0 {
				return nil, fmt.Errorf("entry %q: negative offset or size", key)
			}
		}
		ck.keys = append(ck.keys, key)
		ck.entries[key] = be
	}
	return ck, nil
}

// Keys returns the checkpoint's tensor keys in sorted order.
func (c *Checkpoint) Keys() []string { return slices.Clone(c.keys) }

// Has reports whether key names a tensor of the checkpoint.
func (c *Checkpoint) Has(key string) bool { _, ok := c.entries[key]; return ok }

// Entry returns the index entry of key (dtype, shape, location, checksum).
func (c *Checkpoint) Entry(key string) (*tfpb.BundleEntryProto, bool) {
	e, ok := c.entries[key]
	return e, ok
}

// ShardFile returns the path of data shard id.
func (c *Checkpoint) ShardFile(id int32) string {
	return fmt.Sprintf("%s.data-%05d-of-%05d", c.Prefix, id, max(c.Header.NumShards, 1))
}

// Tensor is one tensor read from a checkpoint.
type Tensor struct {
	DType tfpb.DataType
	Shape []int64
	// Data holds the elements in row-major order, little-endian, for
	// every dtype but DT_STRING.
	Data []byte
	// Strings holds the elements of a DT_STRING tensor.
	Strings [][]byte
}

// NumElements is the product of the tensor's dimensions (1 for a scalar).
func (t *Tensor) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32s returns a DT_FLOAT tensor's elements.
func (t *Tensor) Float32s() ([]float32, error) {
	if t.DType != tfpb.DataType_DT_FLOAT {
		return nil, fmt.Errorf("tensor is %v, not DT_FLOAT", t.DType)
	}
	out := make([]float32, len(t.Data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// DTypeSize is the size in bytes of one element of dt, or 0 if dt has no
// fixed-size little-endian encoding this package reads (strings, resources,
// variants, 4-bit types, reference types).
func DTypeSize(dt tfpb.DataType) int {
	switch dt {
	case tfpb.DataType_DT_UINT8, tfpb.DataType_DT_INT8, tfpb.DataType_DT_BOOL,
		tfpb.DataType_DT_QINT8, tfpb.DataType_DT_QUINT8,
		tfpb.DataType_DT_FLOAT8_E5M2, tfpb.DataType_DT_FLOAT8_E4M3FN:
		return 1
	case tfpb.DataType_DT_INT16, tfpb.DataType_DT_UINT16, tfpb.DataType_DT_QINT16,
		tfpb.DataType_DT_QUINT16, tfpb.DataType_DT_HALF, tfpb.DataType_DT_BFLOAT16:
		return 2
	case tfpb.DataType_DT_FLOAT, tfpb.DataType_DT_INT32, tfpb.DataType_DT_UINT32, tfpb.DataType_DT_QINT32:
		return 4
	case tfpb.DataType_DT_DOUBLE, tfpb.DataType_DT_INT64, tfpb.DataType_DT_UINT64, tfpb.DataType_DT_COMPLEX64:
		return 8
	case tfpb.DataType_DT_COMPLEX128:
		return 16
	}
	return 0
}

// shapeOf converts a fully defined shape proto; a checkpoint tensor always
// has one.
func shapeOf(s *tfpb.TensorShapeProto) ([]int64, int64, error) {
	if s.GetUnknownRank() {
		return nil, 0, errors.New("shape has unknown rank")
	}
	dims := make([]int64, len(s.GetDim()))
	n := int64(1)
	for i, d := range s.GetDim() {
		if d.Size < 0 {
			return nil, 0, fmt.Errorf("dimension %d is %d", i, d.Size)
		}
		dims[i] = d.Size
		if d.Size != 0 && n > math.MaxInt64/d.Size {
			return nil, 0, errors.New("element count overflows")
		}
		n *= d.Size
	}
	return dims, n, nil
}

// Tensor reads the tensor stored under key and verifies its checksum.
// Partitioned (sliced) variables, resources and variants are reported as
// unsupported.
func (c *Checkpoint) Tensor(key string) (*Tensor, error) {
	e, ok := c.entries[key]
	if !ok {
		return nil, fmt.Errorf("checkpoint has no tensor %q", key)
	}
	if len(e.Slices) > 0 {
		return nil, fmt.Errorf("tensor %q is a partitioned variable (%d slices); partitioned variables are not supported", key, len(e.Slices))
	}
	shape, n, err := shapeOf(e.Shape)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", key, err)
	}
	t := &Tensor{DType: e.Dtype, Shape: shape}
	elem := DTypeSize(e.Dtype)
	if elem == 0 && e.Dtype != tfpb.DataType_DT_STRING {
		return nil, fmt.Errorf("tensor %q: dtype %v is not supported", key, e.Dtype)
	}
	if elem > 0 && (n > math.MaxInt64/int64(elem) || n*int64(elem) != e.Size) {
		return nil, fmt.Errorf("tensor %q: index says %d bytes for %d elements of %v", key, e.Size, n, e.Dtype)
	}
	if c.Prefix == "" {
		return nil, fmt.Errorf("tensor %q: checkpoint has no data files", key)
	}
	name := c.ShardFile(e.ShardId)
	read := c.readData
	if read == nil {
		read = readAt
	}
	raw, err := read(name, e.Offset, e.Size)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", key, err)
	}
	if got := maskCRC(crc32.Checksum(raw, castagnoli)); got != e.Crc32C && e.Dtype != tfpb.DataType_DT_STRING {
		return nil, fmt.Errorf("tensor %q in %s: checksum mismatch (index %#08x, data %#08x): the file is corrupt", key, name, e.Crc32C, got)
	}
	if e.Dtype == tfpb.DataType_DT_STRING {
		t.Strings, err = decodeStrings(raw, n, e.Crc32C)
		if err != nil {
			return nil, fmt.Errorf("tensor %q in %s: %w", key, name, err)
		}
		return t, nil
	}
	t.Data = raw
	return t, nil
}

// readAt reads size bytes at off from the named file, checking the range
// against the file's size before allocating.
func readAt(name string, off, size int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if off > st.Size() || size > st.Size()-off {
		return nil, fmt.Errorf("%s: bytes [%d, +%d) are past its end (%d bytes): the file is truncated or corrupt", name, off, size, st.Size())
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return buf, nil
}

// decodeStrings decodes a DT_STRING tensor as TensorBundle writes it:
//
//	varint64 length of each of the n elements
//	uint32 masked CRC32C of the lengths, each taken as a little-endian uint32
//	the element bytes, back to back
//
// The entry's checksum covers the lengths (as uint32s), the stored length
// checksum and the bytes: not the varints themselves.
func decodeStrings(raw []byte, n int64, want uint32) ([][]byte, error) {
	if n > int64(len(raw)) {
		// Every element takes at least one varint byte.
		return nil, fmt.Errorf("%d string elements in %d bytes", n, len(raw))
	}
	lens := make([]uint64, n)
	crc := uint32(0)
	p := raw
	var total uint64
	for i := range lens {
		l, k := binary.Uvarint(p)
		if k <= 0 {
			return nil, fmt.Errorf("string element %d: bad length", i)
		}
		p = p[k:]
		lens[i] = l
		total += l
		if l > uint64(len(raw)) || total > uint64(len(raw)) {
			return nil, fmt.Errorf("string element %d: length %d exceeds the tensor's %d bytes", i, l, len(raw))
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(l))
		crc = crc32.Update(crc, castagnoli, b[:])
	}
	if len(p) < 4 {
		return nil, errors.New("string tensor: missing length checksum")
	}
	if stored := binary.LittleEndian.Uint32(p); stored != maskCRC(crc) {
		return nil, fmt.Errorf("string tensor: length checksum mismatch (stored %#08x, computed %#08x): the file is corrupt", stored, maskCRC(crc))
	}
	crc = crc32.Update(crc, castagnoli, p[:4])
	p = p[4:]
	if uint64(len(p)) != total {
		return nil, fmt.Errorf("string tensor: %d bytes of strings, lengths say %d", len(p), total)
	}
	out := make([][]byte, n)
	for i, l := range lens {
		out[i] = p[:l:l]
		crc = crc32.Update(crc, castagnoli, p[:l])
		p = p[l:]
	}
	if got := maskCRC(crc); got != want {
		return nil, fmt.Errorf("string tensor: checksum mismatch (index %#08x, data %#08x): the file is corrupt", want, got)
	}
	return out, nil
}

// ObjectGraph returns the checkpoint's TrackableObjectGraph (TF2
// checkpoints), or an error if it has none (TF1 checkpoints).
func (c *Checkpoint) ObjectGraph() (*tfpb.TrackableObjectGraph, error) {
	c.ogOnce.Do(func() {
		if !c.Has(ObjectGraphKey) {
			c.ogErr = fmt.Errorf("checkpoint has no %s (not a TF2 object-based checkpoint)", ObjectGraphKey)
			return
		}
		t, err := c.Tensor(ObjectGraphKey)
		if err != nil {
			c.ogErr = err
			return
		}
		if len(t.Strings) != 1 {
			c.ogErr = fmt.Errorf("%s has %d elements, want 1", ObjectGraphKey, len(t.Strings))
			return
		}
		og := &tfpb.TrackableObjectGraph{}
		if err := proto.Unmarshal(t.Strings[0], og); err != nil {
			c.ogErr = fmt.Errorf("%s: %w", ObjectGraphKey, err)
			return
		}
		c.og = og
	})
	return c.og, c.ogErr
}

// variablesPrefix is where a SavedModel keeps its checkpoint.
func variablesPrefix(dir string) string { return filepath.Join(dir, "variables", "variables") }
