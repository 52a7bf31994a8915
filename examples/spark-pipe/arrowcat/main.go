// Command arrowcat converts between JSON lines and Arrow IPC streams, to
// play the Spark side of examples/spark-pipe without Spark: a Spark task
// writes its partition to `mlship predict` as an Arrow IPC stream and reads
// the scored stream back, which is what
//
//	arrowcat encode < part.jsonl | mlship predict ... -i - -o - | arrowcat decode
//
// does. encode reads records {"id": int, "input": [4 floats]} (the iris
// example's input) in batches of -batch rows.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func main() {
	batch := flag.Int("batch", 1000, "rows per record batch (encode)")
	flag.Parse()
	var err error
	switch flag.Arg(0) {
	case "encode":
		err = encode(os.Stdin, os.Stdout, *batch)
	case "decode":
		err = decode(os.Stdin, os.Stdout)
	default:
		err = errors.New("usage: arrowcat encode|decode < in > out")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "arrowcat:", err)
		os.Exit(1)
	}
}

var irisInput = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "input", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float32)},
}, nil)

func encode(in io.Reader, out io.Writer, batch int) error {
	jr := array.NewJSONReader(in, irisInput, array.WithChunk(batch), array.WithAllocator(memory.DefaultAllocator))
	defer jr.Release()
	w := ipc.NewWriter(out, ipc.WithSchema(irisInput))
	for jr.Next() {
		if err := w.Write(jr.RecordBatch()); err != nil {
			return err
		}
	}
	if err := jr.Err(); err != nil {
		return err
	}
	return w.Close()
}

func decode(in io.Reader, out io.Writer) error {
	r, err := ipc.NewReader(in)
	if err != nil {
		return err
	}
	defer r.Release()
	bw := bufio.NewWriter(out)
	for r.Next() {
		rec := r.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := rec.NewSlice(int64(i), int64(i+1))
			b, err := row.MarshalJSON()
			row.Release()
			if err != nil {
				return err
			}
			// MarshalJSON writes a one-element array: [{...}]
			bw.Write(b[1 : len(b)-2])
			bw.WriteByte('\n')
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	return bw.Flush()
}
