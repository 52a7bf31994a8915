package scoring

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// maxStreamMeta bounds one message's flatbuffer metadata in a stream read
// from a file or pipe (a schema of thousands of columns is well under it).
const maxStreamMeta = 64 << 20

// NewArrowStreamReader reads an Arrow IPC stream from r — a file or a
// pipe too large to hold, as `mlship predict` reads — with the checks
// DecodeArrow applies to request bodies, one message at a time: framing
// read here, metadata vectors inside their message, a body read only as
// its bytes arrive, and arrow-go's allocations for the stream held under
// budget bytes at once. An IPC *file* (ARROW1 magic) is read the same way:
// it holds a stream after its 8-byte magic.
//
// Batches read must still be checked with ValidBatch before use.
func NewArrowStreamReader(r io.Reader, mem memory.Allocator, budget int64) (*ipc.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	if magic, err := br.Peek(6); err == nil && string(magic) == "ARROW1" {
		if _, err := br.Discard(8); err != nil {
			return nil, arrowError(err)
		}
	}
	alloc := &arrowAllocator{mem: mem, budget: budget, live: map[*byte][]byte{}}
	alloc.left.Store(budget)
	msgs := &streamMessages{r: br, mem: alloc, budget: budget}
	msgs.refs.Add(1)
	rd, err := ipc.NewReaderFromMessageReader(msgs, ipc.WithAllocator(alloc))
	if err != nil {
		msgs.Release()
		return nil, arrowError(err)
	}
	return rd, nil
}

// streamMessages is arrowMessages over an io.Reader.
type streamMessages struct {
	r      *bufio.Reader
	mem    memory.Allocator
	budget int64
	off    int64
	msg    *ipc.Message
	refs   atomic.Int64
}

var _ ipc.MessageReader = (*streamMessages)(nil)

func (s *streamMessages) Retain() { s.refs.Add(1) }

func (s *streamMessages) Release() {
	if s.refs.Add(-1) == 0 && s.msg != nil {
		s.msg.Release()
		s.msg = nil
	}
}

func (s *streamMessages) u32() (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(s.r, b[:]); err != nil {
		return 0, err
	}
	s.off += 4
	return binary.LittleEndian.Uint32(b[:]), nil
}

func (s *streamMessages) Message() (*ipc.Message, error) {
	if s.msg != nil {
		s.msg.Release()
		s.msg = nil
	}
	n, err := s.u32()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF // the end-of-stream marker is optional
	}
	if err != nil {
		return nil, fmt.Errorf("reading the continuation marker at offset %d: %w", s.off, err)
	}
	metaLen := int64(int32(n))
	if n == 0xFFFFFFFF {
		if n, err = s.u32(); err != nil {
			return nil, fmt.Errorf("reading the message length at offset %d: %w", s.off, err)
		}
		metaLen = int64(int32(n))
	}
	if n == 0 {
		return nil, io.EOF
	}
	if metaLen < 8 || metaLen > maxStreamMeta {
		return nil, fmt.Errorf("message metadata of %d bytes at offset %d", metaLen, s.off)
	}
	meta, err := s.read(metaLen)
	if err != nil {
		return nil, fmt.Errorf("message metadata at offset %d: %w", s.off, err)
	}
	bodyLen, err := checkMessageMeta(meta)
	if err != nil {
		return nil, fmt.Errorf("message metadata at offset %d: %w", s.off, err)
	}
	if bodyLen < 0 || bodyLen > s.budget {
		return nil, fmt.Errorf("message body of %d bytes at offset %d (at most %d)", bodyLen, s.off, s.budget)
	}
	data, err := s.read(bodyLen)
	if err != nil {
		return nil, fmt.Errorf("message body at offset %d: %w", s.off, err)
	}
	body := memory.NewResizableBuffer(s.mem)
	defer body.Release()
	body.Resize(len(data))
	copy(body.Bytes(), data)
	mb := memory.NewBufferBytes(meta)
	defer mb.Release()
	s.msg = ipc.NewMessage(mb, body)
	return s.msg, nil
}

// trustedLen is how much of a claimed length is reserved before the bytes
// arrive: a batch up to this size (any a predict run makes) is read into
// one allocation, and a corrupt length costs no more than this.
const trustedLen = 64 << 20

// read returns the next n bytes, growing its buffer as they arrive past
// trustedLen rather than trusting n up front.
func (s *streamMessages) read(n int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(n, trustedLen)))
	got, err := io.CopyN(&buf, s.r, n)
	s.off += got
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w after %d of %d bytes", err, got, n)
	}
	return buf.Bytes(), nil
}
