package onnx

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
)

// ONNX Runtime reports a tensor without a declared shape and a 0-d tensor
// the same way: zero dimensions. The difference matters (a [1] tensor may
// be fed to a scalar input as a scalar, but must stay [1] for an input of
// unknown rank; a scalar output can be pre-allocated, an output of unknown
// rank cannot), so the model file itself is read for which graph inputs and
// outputs declare a shape. It also gives the names of symbolic dimensions
// ("batch"), which ONNX Runtime reports as -1: an output dimension named
// like an input's is known once the input is.

// declaredShape is what a graph input or output declares about its shape.
type declaredShape struct {
	hasShape bool     // a shape is declared, possibly of rank 0
	params   []string // per dimension, its symbolic name or ""
}

// declaredShapes maps graph input and output names to their declarations.
type declaredShapes map[string]declaredShape

// maxValueInfo bounds the size of one ValueInfoProto: they hold a name, a
// type and maybe a doc string, never tensor data.
const maxValueInfo = 1 << 20

// readDeclaredShapes reads the graph's inputs and outputs from an ONNX
// model file, seeking past everything else (initializers can be most of a
// 2 GB file).
func readDeclaredShapes(path string) (declaredShapes, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	out, err := parseDeclaredShapes(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("reading graph inputs and outputs of %s: %w", path, err)
	}
	return out, nil
}

// parseDeclaredShapes reads the declarations from a model of size bytes.
func parseDeclaredShapes(f io.ReadSeeker, size int64) (declaredShapes, error) {
	r := &pbReader{f: f, br: bufio.NewReaderSize(f, 64<<10)}
	out := declaredShapes{}
	// ModelProto.graph (7) holds GraphProto.input (11) and output (12).
	err := r.walk(size, func(num protowire.Number, typ protowire.Type, n int64) error {
		if num != 7 || typ != protowire.BytesType {
			return r.skip(typ, n)
		}
		end := r.pos + n
		return r.walk(end, func(num protowire.Number, typ protowire.Type, n int64) error {
			if (num != 11 && num != 12) || typ != protowire.BytesType {
				return r.skip(typ, n)
			}
			if n > maxValueInfo {
				return fmt.Errorf("value info of %d bytes", n)
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(r.br, b); err != nil {
				return err
			}
			r.pos += n
			if name, decl := valueInfoShape(b); name != "" {
				out[name] = decl
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// pbReader walks protobuf fields in a file without loading it.
type pbReader struct {
	f   io.ReadSeeker
	br  *bufio.Reader
	pos int64 // file offset of the next unread byte
}

// walk reads fields up to offset end. fn sees each field's number, wire
// type and, for length-delimited fields, the payload length; it must
// consume the payload (skip or read it).
func (r *pbReader) walk(end int64, fn func(protowire.Number, protowire.Type, int64) error) error {
	for r.pos < end {
		x, err := r.varint()
		if err != nil {
			return err
		}
		num, typ := protowire.DecodeTag(x)
		if num < protowire.MinValidNumber {
			return fmt.Errorf("invalid field number %d at offset %d", num, r.pos)
		}
		var n int64
		if typ == protowire.BytesType {
			l, err := r.varint()
			if err != nil {
				return err
			}
			// The tag and length themselves may have run past end.
			if r.pos > end || l > uint64(end-r.pos) {
				return fmt.Errorf("field %d of %d bytes at offset %d overruns its message", num, l, r.pos)
			}
			n = int64(l)
		}
		if err := fn(num, typ, n); err != nil {
			return err
		}
	}
	if r.pos != end {
		return errors.New("message overruns its length")
	}
	return nil
}

func (r *pbReader) varint() (uint64, error) {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c, err := r.br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
		r.pos++
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x, nil
		}
	}
	return 0, errors.New("varint overflows 64 bits")
}

// skip passes over a field's value; n is the payload length of a
// length-delimited field. Long payloads are seeked over, not read.
func (r *pbReader) skip(typ protowire.Type, n int64) error {
	switch typ {
	case protowire.VarintType:
		_, err := r.varint()
		return err
	case protowire.Fixed32Type:
		n = 4
	case protowire.Fixed64Type:
		n = 8
	case protowire.BytesType:
	default:
		return fmt.Errorf("unsupported wire type %d", typ)
	}
	if n <= int64(r.br.Buffered()) {
		_, err := r.br.Discard(int(n))
		r.pos += n
		return err
	}
	r.pos += n
	if _, err := r.f.Seek(r.pos, io.SeekStart); err != nil {
		return err
	}
	r.br.Reset(r.f)
	return nil
}

// valueInfoShape returns a ValueInfoProto's name and what its tensor type
// declares about the shape (TypeProto.tensor_type.shape).
func valueInfoShape(b []byte) (name string, decl declaredShape) {
	for _, f := range fields(b) {
		switch f.num {
		case 1:
			name = string(f.v)
		case 2: // TypeProto
			for _, t := range fields(f.v) {
				if t.num != 1 && t.num != 8 { // tensor_type, sparse_tensor_type
					continue
				}
				for _, tf := range fields(t.v) {
					if tf.num != 2 { // shape
						continue
					}
					decl.hasShape = true
					for _, d := range fields(tf.v) {
						if d.num != 1 { // TensorShapeProto.dim
							continue
						}
						param := ""
						for _, df := range fields(d.v) {
							if df.num == 2 { // dim_param
								param = string(df.v)
							}
						}
						decl.params = append(decl.params, param)
					}
				}
			}
		}
	}
	return name, decl
}

type field struct {
	num protowire.Number
	v   []byte // payload of length-delimited fields, nil otherwise
}

// fields splits a message into its fields; a malformed tail is dropped.
func fields(b []byte) []field {
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return out
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return out
		}
		b = b[n:]
		out = append(out, field{num, v})
	}
	return out
}
