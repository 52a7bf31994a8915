package scoring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// arrowMessages is an ipc.MessageReader over a stream held in memory that
// checks each message before arrow-go reads it. arrow-go trusts the counts
// in a message's flatbuffer metadata and sizes allocations by them before
// reading anything (make([]arrow.Field, n) for a schema's fields, n up to
// 2^31, from a few bytes; a field tree that shares children grows
// exponentially), and its own stream reader applies no size limits: an
// out-of-memory crash cannot be recovered from. So the framing is read
// here, within the body, and the metadata's vectors must lie inside it.
type arrowMessages struct {
	data []byte
	pos  int
	mem  memory.Allocator
	msg  *ipc.Message
	refs atomic.Int64
}

var _ ipc.MessageReader = (*arrowMessages)(nil)

func newArrowMessages(data []byte, mem memory.Allocator) *arrowMessages {
	r := &arrowMessages{data: data, mem: mem}
	r.refs.Add(1)
	return r
}

func (r *arrowMessages) Retain() { r.refs.Add(1) }

func (r *arrowMessages) Release() {
	if r.refs.Add(-1) == 0 && r.msg != nil {
		r.msg.Release()
		r.msg = nil
	}
}

// Message reads the next message; it is valid until the next call, as
// with ipc.NewMessageReader's.
func (r *arrowMessages) Message() (*ipc.Message, error) {
	if r.msg != nil {
		r.msg.Release()
		r.msg = nil
	}
	if r.pos == len(r.data) {
		return nil, io.EOF // the end-of-stream marker is optional
	}
	n, err := r.u32()
	if err != nil {
		return nil, fmt.Errorf("reading the continuation marker: %w", err)
	}
	metaLen := int64(int32(n)) // before Arrow 0.15, no marker: the length itself
	if n == 0xFFFFFFFF {
		if n, err = r.u32(); err != nil {
			return nil, fmt.Errorf("reading the message length: %w", err)
		}
		metaLen = int64(int32(n))
	}
	if n == 0 {
		return nil, io.EOF
	}
	if metaLen < 8 || metaLen > int64(len(r.data)-r.pos) {
		return nil, fmt.Errorf("message metadata of %d bytes at offset %d, with %d bytes left", metaLen, r.pos, len(r.data)-r.pos)
	}
	meta := append([]byte(nil), r.data[r.pos:r.pos+int(metaLen)]...)
	r.pos += int(metaLen)
	bodyLen, err := checkMessageMeta(meta)
	if err != nil {
		return nil, fmt.Errorf("message metadata: %w", err)
	}
	if bodyLen < 0 || bodyLen > int64(len(r.data)-r.pos) {
		return nil, fmt.Errorf("message body of %d bytes at offset %d, with %d bytes left", bodyLen, r.pos, len(r.data)-r.pos)
	}
	// The body is copied: the batch must not alias the request body.
	body := memory.NewResizableBuffer(r.mem)
	defer body.Release()
	body.Resize(int(bodyLen))
	copy(body.Bytes(), r.data[r.pos:])
	r.pos += int(bodyLen)
	mb := memory.NewBufferBytes(meta)
	defer mb.Release()
	r.msg = ipc.NewMessage(mb, body)
	return r.msg, nil
}

func (r *arrowMessages) u32() (uint32, error) {
	if len(r.data)-r.pos < 4 {
		return 0, io.ErrUnexpectedEOF
	}
	v := binary.LittleEndian.Uint32(r.data[r.pos:])
	r.pos += 4
	return v, nil
}

// Flatbuffer slots (field numbers) of the Arrow format's tables
// (format/Message.fbs and Schema.fbs).
const (
	slotMessageHeaderType = 1
	slotMessageHeader     = 2
	slotMessageBodyLength = 3
	slotMessageMetadata   = 4

	slotSchemaFields   = 1
	slotSchemaMetadata = 2
	slotSchemaFeatures = 3

	slotFieldName       = 0
	slotFieldTypeType   = 2
	slotFieldType       = 3
	slotFieldDictionary = 4
	slotFieldChildren   = 5
	slotFieldMetadata   = 6

	slotUnionTypeIDs = 1

	slotBatchNodes    = 1
	slotBatchBuffers  = 2
	slotBatchVariadic = 4

	slotDictData = 1

	headerSchema     = 1
	headerDictionary = 2
	headerBatch      = 3
	typeUnion        = 14

	maxFieldDepth = 64
)

// fbuf reads an untrusted flatbuffer: every offset is checked against the
// buffer, every vector's length against the bytes after it. Tables and
// vectors can be shared, so a small buffer can describe a huge tree (which
// arrow-go would build): what is visited is accounted against the buffer's
// size, as what an unshared buffer holds fits in it.
type fbuf struct {
	b    []byte
	left int // bytes of b not yet accounted for
}

var errShared = errors.New("the metadata refers to more than it holds")

var errFlatbuffer = errors.New("malformed flatbuffer")

func (f *fbuf) u32(at int) (uint32, error) {
	if at < 0 || at > len(f.b)-4 {
		return 0, errFlatbuffer
	}
	return binary.LittleEndian.Uint32(f.b[at:]), nil
}

// table returns the vtable of the table at pos, and checks its bounds.
func (f *fbuf) table(pos int) (vt []byte, err error) {
	so, err := f.u32(pos)
	if err != nil {
		return nil, err
	}
	v := pos - int(int32(so))
	if v < 0 || v > len(f.b)-4 {
		return nil, errFlatbuffer
	}
	size := int(binary.LittleEndian.Uint16(f.b[v:]))
	if size < 4 || size%2 != 0 || size > len(f.b)-v {
		return nil, errFlatbuffer
	}
	return f.b[v : v+size], nil
}

// field is where slot's value is in the table at pos, 0 when absent.
func (f *fbuf) field(pos int, vt []byte, slot, size int) (int, error) {
	at := 4 + 2*slot
	if at+2 > len(vt) {
		return 0, nil
	}
	off := int(binary.LittleEndian.Uint16(vt[at:]))
	if off == 0 {
		return 0, nil
	}
	if pos+off > len(f.b)-size {
		return 0, errFlatbuffer
	}
	return pos + off, nil
}

// ref follows the offset stored in slot (a table, vector or string); 0
// when absent.
func (f *fbuf) ref(pos int, vt []byte, slot int) (int, error) {
	at, err := f.field(pos, vt, slot, 4)
	if at == 0 || err != nil {
		return 0, err
	}
	u, _ := f.u32(at)
	to := at + int(u)
	if to >= len(f.b) {
		return 0, errFlatbuffer
	}
	return to, nil
}

// vector returns the start and length of the vector in slot, checking
// that n elements of elem bytes fit.
func (f *fbuf) vector(pos int, vt []byte, slot, elem int) (start, n int, err error) {
	v, err := f.ref(pos, vt, slot)
	if v == 0 || err != nil {
		return 0, 0, err
	}
	l, err := f.u32(v)
	if err != nil {
		return 0, 0, err
	}
	size := int64(l) * int64(elem)
	if size > int64(len(f.b)-v-4) {
		return 0, 0, fmt.Errorf("a vector of %d elements overruns the metadata", l)
	}
	if f.left -= int(size); f.left < 0 {
		return 0, 0, errShared
	}
	return v + 4, int(l), nil
}

// tables calls fn on each table of the vector of tables in slot.
func (f *fbuf) tables(pos int, vt []byte, slot int, fn func(int) error) error {
	start, n, err := f.vector(pos, vt, slot, 4)
	if err != nil {
		return err
	}
	for i := range n {
		at := start + 4*i
		u, _ := f.u32(at)
		if at+int(u) >= len(f.b) {
			return errFlatbuffer
		}
		if err := fn(at + int(u)); err != nil {
			return err
		}
	}
	return nil
}

func (f *fbuf) u8(pos int, vt []byte, slot int) (byte, error) {
	at, err := f.field(pos, vt, slot, 1)
	if at == 0 || err != nil {
		return 0, err
	}
	return f.b[at], nil
}

// checkMessageMeta checks the parts of a Message that arrow-go allocates
// by, and returns its body length.
func checkMessageMeta(b []byte) (bodyLen int64, err error) {
	f := &fbuf{b: b, left: len(b)}
	root, err := f.u32(0)
	if err != nil {
		return 0, err
	}
	pos := int(root)
	vt, err := f.table(pos)
	if err != nil {
		return 0, err
	}
	if at, err := f.field(pos, vt, slotMessageBodyLength, 8); err != nil {
		return 0, err
	} else if at != 0 {
		bodyLen = int64(binary.LittleEndian.Uint64(b[at:]))
	}
	if err := f.keyValues(pos, vt, slotMessageMetadata); err != nil {
		return 0, err
	}
	kind, err := f.u8(pos, vt, slotMessageHeaderType)
	if err != nil {
		return 0, err
	}
	h, err := f.ref(pos, vt, slotMessageHeader)
	if h == 0 || err != nil {
		return bodyLen, err
	}
	hvt, err := f.table(h)
	if err != nil {
		return 0, err
	}
	switch kind {
	case headerSchema:
		if err := f.tables(h, hvt, slotSchemaFields, func(p int) error { return f.checkField(p, 0) }); err != nil {
			return 0, err
		}
		if err := f.keyValues(h, hvt, slotSchemaMetadata); err != nil {
			return 0, err
		}
		if _, _, err := f.vector(h, hvt, slotSchemaFeatures, 8); err != nil {
			return 0, err
		}
	case headerBatch:
		err = f.checkBatch(h, hvt)
	case headerDictionary:
		var d int
		if d, err = f.ref(h, hvt, slotDictData); d != 0 && err == nil {
			var dvt []byte
			if dvt, err = f.table(d); err == nil {
				err = f.checkBatch(d, dvt)
			}
		}
	}
	return bodyLen, err
}

func (f *fbuf) checkField(pos, depth int) error {
	if depth > maxFieldDepth {
		return fmt.Errorf("fields nest deeper than %d levels", maxFieldDepth)
	}
	if f.left -= 8; f.left < 0 { // a Field table takes at least 8 bytes
		return errShared
	}
	vt, err := f.table(pos)
	if err != nil {
		return err
	}
	if _, _, err := f.vector(pos, vt, slotFieldName, 1); err != nil {
		return err
	}
	if err := f.keyValues(pos, vt, slotFieldMetadata); err != nil {
		return err
	}
	if d, err := f.ref(pos, vt, slotFieldDictionary); err != nil {
		return err
	} else if d != 0 {
		if _, err := f.table(d); err != nil {
			return err
		}
	}
	if t, err := f.u8(pos, vt, slotFieldTypeType); err != nil {
		return err
	} else if t == typeUnion {
		if u, err := f.ref(pos, vt, slotFieldType); err != nil {
			return err
		} else if u != 0 {
			uvt, err := f.table(u)
			if err != nil {
				return err
			}
			if _, _, err := f.vector(u, uvt, slotUnionTypeIDs, 4); err != nil {
				return err
			}
		}
	}
	return f.tables(pos, vt, slotFieldChildren, func(p int) error { return f.checkField(p, depth+1) })
}

func (f *fbuf) keyValues(pos int, vt []byte, slot int) error {
	return f.tables(pos, vt, slot, func(p int) error {
		kvt, err := f.table(p)
		if err != nil {
			return err
		}
		for s := range 2 { // key, value
			if _, _, err := f.vector(p, kvt, s, 1); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkBatch checks a RecordBatch: nodes and buffers (16-byte structs)
// inside the metadata, and variadic buffer counts (which arrow-go
// allocates by) within the buffers there are.
func (f *fbuf) checkBatch(pos int, vt []byte) error {
	if _, _, err := f.vector(pos, vt, slotBatchNodes, 16); err != nil {
		return err
	}
	_, nbufs, err := f.vector(pos, vt, slotBatchBuffers, 16)
	if err != nil {
		return err
	}
	start, n, err := f.vector(pos, vt, slotBatchVariadic, 8)
	if err != nil {
		return err
	}
	total := int64(0)
	for i := range n {
		c := int64(binary.LittleEndian.Uint64(f.b[start+8*i:]))
		if c < 0 || c > int64(nbufs)-total {
			return fmt.Errorf("variadic buffer count %d with %d buffers", c, nbufs)
		}
		total += c
	}
	return nil
}

// Memory bounds for decoding an Arrow stream: compressed buffers declare
// their own uncompressed size, which arrow-go allocates before inflating.
const (
	arrowInflation = 64       // times the body
	minArrowBudget = 16 << 20 // for small bodies
)

// errArrowBudget is what arrowAllocator panics with; the IPC reader turns
// panics into errors.
var errArrowBudget = errors.New("over the memory budget")

// arrowAllocator is the allocator arrow-go reads a request with. It
// refuses (by panicking, as an allocator can only) to hold more than the
// budget at once. And it knows what it holds: arrow-go recovers from
// panics halfway through reading a batch without releasing what it had
// allocated, so on error whatever is left is freed (nothing escapes a
// failed decode).
type arrowAllocator struct {
	mem    memory.Allocator
	budget int64
	left   atomic.Int64 // the decoded batch's buffers are freed later, maybe elsewhere

	mu   sync.Mutex
	live map[*byte][]byte
}

func newArrowAllocator(mem memory.Allocator, bodyLen int) *arrowAllocator {
	a := &arrowAllocator{mem: mem, budget: max(arrowInflation*int64(bodyLen), minArrowBudget), live: map[*byte][]byte{}}
	a.left.Store(a.budget)
	return a
}

// maxRows bounds the rows of a stream: a row takes at least a bit, in the
// budget. Null columns and batches without columns take nothing, and
// could otherwise claim any number.
func (a *arrowAllocator) maxRows() int64 { return 8 * a.budget }

func (a *arrowAllocator) take(n int) {
	if n < 0 {
		panic(fmt.Errorf("allocating %d bytes", n))
	}
	if a.left.Add(-int64(n)) < 0 {
		a.left.Add(int64(n))
		panic(errArrowBudget)
	}
}

func (a *arrowAllocator) track(old, b []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(old) > 0 {
		delete(a.live, &old[0])
	}
	if len(b) > 0 {
		a.live[&b[0]] = b
	}
}

func (a *arrowAllocator) Allocate(size int) []byte {
	a.take(size)
	b := a.mem.Allocate(size)
	a.track(nil, b)
	return b
}

func (a *arrowAllocator) Reallocate(size int, b []byte) []byte {
	if size < 0 {
		a.take(size)
	}
	if grow := size - len(b); grow > 0 {
		a.take(grow)
	} else {
		a.left.Add(int64(-grow))
	}
	out := a.mem.Reallocate(size, b)
	a.track(b, out)
	return out
}

func (a *arrowAllocator) Free(b []byte) {
	a.track(b, nil)
	a.left.Add(int64(len(b)))
	a.mem.Free(b)
}

// freeLeaked frees what is still allocated after a failed decode.
func (a *arrowAllocator) freeLeaked() {
	a.mu.Lock()
	live := a.live
	a.live = map[*byte][]byte{}
	a.mu.Unlock()
	for _, b := range live {
		a.left.Add(int64(len(b)))
		a.mem.Free(b)
	}
}

// validBatch validates every column of rec, and returns rec with its null
// arrays in the form the rest of arrow-go expects, or an error.
func validBatch(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := rec.Columns()
	fixed := false
	for i, col := range cols {
		if hasNullType(col.DataType()) {
			if !fixed {
				cols, fixed = slices.Clone(cols), true
				defer func() {
					for _, c := range cols {
						c.Release()
					}
				}()
				for _, c := range cols {
					c.Retain()
				}
			}
			d := canonicalNulls(col.Data())
			cols[i].Release()
			cols[i] = array.MakeFromData(d)
			d.Release()
		}
		if err := validArray(cols[i]); err != nil {
			return nil, fmt.Errorf("column %q: %w", rec.ColumnName(i), err)
		}
	}
	if !fixed {
		rec.Retain()
		return rec, nil
	}
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows()), nil
}

// validArray is array.ValidateFull, which may itself panic on data
// malformed in ways it does not foresee.
func validArray(a arrow.Array) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed array: %v", p)
		}
	}()
	return array.ValidateFull(a)
}

func hasNullType(dt arrow.DataType) bool {
	switch dt := dt.(type) {
	case *arrow.NullType:
		return true
	case *arrow.DictionaryType:
		return hasNullType(dt.ValueType)
	case arrow.NestedType:
		for _, f := range dt.Fields() {
			if hasNullType(f.Type) {
				return true
			}
		}
	}
	return false
}

// canonicalNulls rebuilds d with one (nil) buffer for each null array in
// it: arrow-go's IPC reader gives them none, while its constructors and
// its validation want one.
func canonicalNulls(d arrow.ArrayData) arrow.ArrayData {
	kids := make([]arrow.ArrayData, len(d.Children()))
	for i, c := range d.Children() {
		kids[i] = canonicalNulls(c)
	}
	bufs := d.Buffers()
	if d.DataType().ID() == arrow.NULL && len(bufs) == 0 {
		bufs = []*memory.Buffer{nil}
	}
	out := array.NewData(d.DataType(), d.Len(), bufs, kids, d.NullN(), d.Offset())
	for _, k := range kids {
		k.Release()
	}
	if dict, ok := d.Dictionary().(*array.Data); ok && dict != nil { // a typed nil otherwise
		fd := canonicalNulls(dict)
		out.SetDictionary(fd)
		fd.Release()
	}
	return out
}

func arrowError(err error) error {
	if errors.Is(err, errArrowBudget) {
		return badRequest("Invalid Arrow IPC stream: its buffers would take more than %d times its size in memory (or %d bytes)", arrowInflation, minArrowBudget)
	}
	return badRequest("Invalid Arrow IPC stream: %v", err)
}

// ValidBatch checks a record batch read from an Arrow source the caller
// does not control (an IPC file given to mlship predict) as DecodeArrow
// checks request bodies: every column's buffers must hold what its length
// and offsets claim, since flavors index into them (ONNX Runtime reads the
// value buffer directly). It returns the batch to use (rec itself, or a
// copy with null-type columns in canonical form; release it) or an error.
func ValidBatch(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	return validBatch(rec)
}
