package scoring

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/mlship/mlship/columnar"
)

// DecodeArrow reads an Arrow IPC stream body (application/vnd.apache.
// arrow.stream): its record batches, concatenated, are the table. The
// signature applies as for JSON tables (required columns, order); column
// types are the client's own, converted by the flavor as it converts JSON
// numbers. Params cannot be carried.
//
// The body is untrusted and arrow-go trusts what a stream says of itself,
// so it reads through arrowMessages and arrowAllocator (see them), rows
// are bounded, and every column is validated: flavors index into the
// buffers.
func (d *Decoder) DecodeArrow(body []byte) (req *Request, err error) {
	mem := newArrowAllocator(d.mem(), len(body))
	defer func() {
		if err != nil {
			mem.freeLeaked()
		}
	}()
	// On error the reader has released its message reader.
	r, err := ipc.NewReaderFromMessageReader(newArrowMessages(body, mem), ipc.WithAllocator(mem))
	if err != nil {
		return nil, arrowError(err)
	}
	defer r.Release()
	var batches []columnar.Batch
	var rows int64
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, arrowError(err)
		}
		if rows += rec.NumRows(); rows > mem.maxRows() {
			return nil, badRequest("Invalid Arrow IPC stream: more than %d rows, more than its size can hold", mem.maxRows())
		}
		rec, err = validBatch(rec)
		if err != nil {
			return nil, badRequest("Invalid Arrow IPC stream: %v", err)
		}
		batches = append(batches, rec)
	}
	var b columnar.Batch
	if len(batches) == 0 {
		return nil, badRequest("Invalid Arrow IPC stream: it holds no record batch")
	}
	b, err = columnar.Concat(d.mem(), batches)
	if err != nil {
		return nil, badRequest("Invalid Arrow IPC stream: %v", err)
	}
	return d.FromBatch(b)
}

// FromBatch makes a request of a table that arrived as Arrow (an IPC
// body, a Parquet row group): the signature applies as for JSON tables
// (required columns present, extra ones dropped, signature order), and the
// params are the schema's defaults. It consumes b.
func (d *Decoder) FromBatch(b columnar.Batch) (*Request, error) {
	b, err := d.conform(b, nil)
	if err != nil {
		return nil, err
	}
	form := d.form("dataframe_split")
	return &Request{Form: form, Batch: d.stamp(b, form), Params: d.defaultParams()}, nil
}

// EncodeArrow appends the output batch as an Arrow IPC stream.
func EncodeArrow(dst []byte, out columnar.Batch) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w := ipc.NewWriter(buf, ipc.WithSchema(out.Schema()))
	if err := w.Write(out); err != nil {
		return nil, fmt.Errorf("writing Arrow IPC: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("writing Arrow IPC: %w", err)
	}
	return buf.Bytes(), nil
}
