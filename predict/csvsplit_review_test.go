package predict

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// failingReader returns its data, then err instead of io.EOF.
type failingReader struct {
	r   io.Reader
	err error
}

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		err = f.err
	}
	return n, err
}

// TestCSVReadErrorMidRecord: when the input fails to read part-way through
// a record (a dropped network stream, an I/O error), the split reader hands
// the workers exactly what the single-stream reader does: never the cut-off
// record as if it were whole (it was: "12" read as "1"), and no batch the
// single stream would not have flushed before the error.
func TestCSVReadErrorMidRecord(t *testing.T) {
	boom := errors.New("boom")
	collect := func(read func(src io.Reader, emit emitFunc) error, data string) (got [][]string, err error) {
		err = read(failingReader{bytes.NewReader([]byte(data)), boom}, func(src rows) error {
			c := src.(*csvRows)
			c.parse()
			got = append(got, []string{"chunk"})
			got = append(got, c.records...)
			return nil
		})
		return got, err
	}
	for _, data := range []string{"a\n1\n2\n1", "a\n1\n2\n", "a\n1\n\"2\"\n\"1", "a\n1\n2\n\"1\"", "a\n1", "a\n"} {
		for _, batch := range []int{1, 2, 5} {
			r := &runner{opts: &Options{BatchRows: batch, OnError: OnErrorSkip}}
			want, wantErr := collect(func(src io.Reader, emit emitFunc) error {
				return r.readCSVStream(src, 4096, 0, nil, emit)
			}, data)
			got, gotErr := collect(func(src io.Reader, emit emitFunc) error {
				return r.readCSVFrom(src, 4096, emit)
			}, data)
			if !errors.Is(gotErr, boom) || !errors.Is(wantErr, boom) {
				t.Fatalf("%q batch %d: errors %v and %v, want boom from both", data, batch, gotErr, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%q batch %d: split reader emitted %q, single stream %q", data, batch, got, want)
			}
		}
	}
}
