package predict

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// csvRow is one row as the scoring workers see it.
type csvRow struct {
	rec  []string
	line int
	bad  string
}

// csvOutcome is what reading a CSV input hands the pipeline.
type csvOutcome struct {
	header []string
	chunks []int // rows per chunk
	rows   []csvRow
	err    string
}

// refReadCSV is the reader as it was before chunks were split: one
// encoding/csv pass in one goroutine, chunks of batch records. It is the
// reference the split reader must match exactly.
func refReadCSV(data []byte, batch int, fail bool) csvOutcome {
	var out csvOutcome
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		out.err = "the CSV file is empty: it needs a header row naming the columns"
		return out
	}
	if err != nil {
		out.err = fmt.Errorf("reading the CSV header: %w", err).Error()
		return out
	}
	out.header = header
	inChunk := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		row := csvRow{rec: rec}
		if err == nil {
			row.line, _ = cr.FieldPos(0)
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if fail {
				out.err = fmt.Sprintf("line %d: %v", pe.Line, pe.Err)
				return out
			}
			row = csvRow{rec: []string{}, line: pe.StartLine, bad: pe.Err.Error()}
		} else if err != nil {
			out.err = err.Error()
			return out
		} else if len(rec) > len(header) {
			reason := fmt.Sprintf("expected %d fields, saw %d", len(header), len(rec))
			if fail {
				out.err = fmt.Sprintf("line %d: %s", row.line, reason)
				return out
			}
			row = csvRow{rec: []string{}, line: row.line, bad: reason}
		}
		out.rows = append(out.rows, row)
		if inChunk++; inChunk == batch {
			out.chunks = append(out.chunks, inChunk)
			inChunk = 0
		}
	}
	if inChunk > 0 {
		out.chunks = append(out.chunks, inChunk)
	}
	return out
}

// shortReader returns at most n bytes a Read, to put block ends anywhere.
type shortReader struct {
	r io.Reader
	n int
}

func (s shortReader) Read(p []byte) (int, error) {
	return s.r.Read(p[:min(len(p), s.n)])
}

// splitReadCSV reads data through readCSVFrom, reading at most read bytes
// at a time in blocks of block, and parses each chunk as a worker would.
// split counts the chunks that reached the pipeline unparsed.
func splitReadCSV(t testing.TB, data []byte, batch, read, block int, fail bool) (out csvOutcome, split int) {
	onErr := OnErrorSkip
	if fail {
		onErr = OnErrorFail
	}
	r := &runner{opts: &Options{BatchRows: batch, OnError: onErr}}
	err := r.readCSVFrom(shortReader{bytes.NewReader(data), read}, block, func(src rows) error {
		c := src.(*csvRows)
		if !c.parsed {
			split++
		}
		n := c.Len()
		if n == 0 || n > batch {
			t.Fatalf("a chunk of %d rows (batch %d)", n, batch)
		}
		bad := c.unreadable()
		if c.parseErr != nil {
			t.Fatal(c.parseErr)
		}
		if c.Len() != n {
			t.Fatalf("Len went from %d to %d on parsing", n, c.Len())
		}
		if out.header == nil {
			out.header = c.header
		} else if !reflect.DeepEqual(out.header, c.header) {
			t.Fatalf("header %q then %q", out.header, c.header)
		}
		out.chunks = append(out.chunks, n)
		for i := range n {
			out.rows = append(out.rows, csvRow{rec: c.records[i], line: c.line(i), bad: bad[i]})
		}
		return nil
	})
	if err != nil {
		out.err = err.Error()
	}
	return out, split
}

func diffCSV(t testing.TB, data []byte, batch, read, block int, fail bool) int {
	t.Helper()
	return diffCSVWith(t, refReadCSV(data, batch, fail), data, batch, read, block, fail)
}

func diffCSVWith(t testing.TB, want csvOutcome, data []byte, batch, read, block int, fail bool) int {
	t.Helper()
	got, split := splitReadCSV(t, data, batch, read, block, fail)
	if want.err != got.err {
		t.Fatalf("%q (batch %d, reads of %d, block %d, fail %v): error %q, want %q", data, batch, read, block, fail, got.err, want.err)
	}
	if want.err != "" {
		return split // the run stops: what was emitted before does not matter
	}
	if len(want.rows) > 0 && !reflect.DeepEqual(want.header, got.header) {
		t.Fatalf("%q: header %q, want %q", data, got.header, want.header)
	}
	if !reflect.DeepEqual(want.chunks, got.chunks) {
		t.Fatalf("%q (batch %d, reads of %d, block %d): chunks of %v rows, want %v", data, batch, read, block, got.chunks, want.chunks)
	}
	if len(want.rows) != len(got.rows) {
		t.Fatalf("%q: %d rows, want %d", data, len(got.rows), len(want.rows))
	}
	for i := range want.rows {
		w, g := want.rows[i], got.rows[i]
		if !reflect.DeepEqual(w, g) {
			t.Fatalf("%q (batch %d, reads of %d, block %d, fail %v): row %d is %q line %d bad %q, want %q line %d bad %q",
				data, batch, read, block, fail, i, g.rec, g.line, g.bad, w.rec, w.line, w.bad)
		}
	}
	return split
}

// TestCSVChunks compares the split reader with the single-stream one over
// inputs that put quoted newlines, escaped quotes, CRLF, empty lines and
// malformed quotes at every chunk and read boundary.
func TestCSVChunks(t *testing.T) {
	cases := []struct {
		name, data string
		// split: the input is well-formed, so every chunk must reach the
		// workers unparsed (no fallback to the single stream).
		split bool
	}{
		{"plain", "a,b\n1,2\n3,4\n5,6\n7,8\n", true},
		{"no final newline", "a,b\n1,2\n3,4", true},
		{"crlf", "a,b\r\n1,2\r\n3,4\r\n\r\n5,6\r\n", true},
		{"empty lines", "\n\r\na,b\n\n1,2\n\n\n3,4\n\n", true},
		{"quoted", "\"a\",\"b\"\n\"1\",\"2\"\n\"x,y\",\"\"\"q\"\"\"\n", true},
		{"quoted newlines", "a,b\n\"1\n2\n\",3\n4,\"5\r\n\n6\"\n7,8\n\"\",\"\n\"\n9,10\n", true},
		{"quoted crlf end", "a,b\r\n\"1\",\"2\"\r\n\"3\",4\r\n", true},
		{"quoted at end", "a,b\n1,\"2\"", true},
		{"trailing cr", "a,b\n1,2\r", true},
		{"trailing cr quoted", "a,b\n1,\"2\"\r", true},
		{"lone cr", "a,b\n1\r2,3\n\r\r\n4,5\n", true},
		{"too many fields", "a,b\n1,2\n3,4,5\n6\n7,\"8\",\"9\n\"\n10,11\n", true},
		{"fewer fields", "a,b,c\n1\n2,3\n,\n", true},
		{"header only", "a,b\n", true},
		{"empty", "", true},
		{"only empty lines", "\n\r\n\n", true},
		{"bare quote", "a,b\n1,2\n3,x\"y\n4,5\n6,7\n", false},
		{"text after quote", "a,b\n1,2\n\"3\"x,4\n5,6\n\"7\n8\",9\n", false},
		{"unclosed quote", "a,b\n1,2\n3,4\n\"5,6\n7,8\n", false},
		{"bare quote in a multi-line record", "a,b\n\"1\n2\",x\"\n3,4\n5,6\n", false},
		{"cr after quote", "a,b\n\"1\"\r2,3\n4,5\n", false},
		{"bad header", "a,\"b\nc\"d\n1,2\n", false},
		{"bad header quote", "a\"b,c\n1,2\n", false},
		{"unclosed header", "\"a,b\n", false},
		{"unicode", "é,ü\n\"ä\",ö\n€,\"😀\n\"\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(c.data)
			for _, fail := range []bool{false, true} {
				for batch := 1; batch <= 4; batch++ {
					want := refReadCSV(data, batch, fail)
					for _, read := range []int{1, 2, 3, 5, 7, 64, 1 << 20} {
						for _, block := range []int{1, 4, 4096} {
							split := diffCSVWith(t, want, data, batch, read, block, fail)
							if c.split && want.err == "" && split != len(want.chunks) {
								t.Fatalf("batch %d, reads of %d: %d of %d chunks were split, want all", batch, read, split, len(want.chunks))
							}
						}
					}
				}
			}
		})
	}
}

// TestCSVChunksLarge reads a large file in the reader's real block size
// and checks the chunks were all parsed by the workers.
func TestCSVChunksLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("x,\"y\",z\r\n")
	for i := range 20000 {
		switch i % 7 {
		case 0:
			fmt.Fprintf(&b, "%d,\"%d\n%d\",\"a\"\"b\"\r\n", i, i, i)
		case 3:
			b.WriteString("\n")
		default:
			fmt.Fprintf(&b, "%d,%d.5,%d\n", i, i, -i)
		}
	}
	data := []byte(b.String())
	for _, fail := range []bool{false, true} {
		for _, batch := range []int{1000, 4096, 1 << 20} {
			split := diffCSV(t, data, batch, 1<<20, 1<<20, fail)
			if want := refReadCSV(data, batch, fail); split != len(want.chunks) {
				t.Fatalf("%d of %d chunks split", split, len(want.chunks))
			}
		}
	}
	// A stray quote half-way: the first half is still split, the rest read
	// in one stream, with the same rows and lines.
	bad := append(bytes.Clone(data[:len(data)/2]), "1,x\"y,2\n"...)
	bad = append(bad, data[len(data)/2:]...)
	split := diffCSV(t, bad, 1000, 1<<20, 1<<20, false)
	if split == 0 {
		t.Fatal("nothing before the stray quote was split")
	}
}

// TestReadCSVCountsBytes: progress still sees every byte of a CSV input.
func TestReadCSVCountsBytes(t *testing.T) {
	data := []byte("a,b\n1,2\n3,\"4\n\"\n")
	r := &runner{opts: &Options{BatchRows: 1, OnError: OnErrorFail, Stdin: bytes.NewReader(data)}}
	rowsSeen := 0
	if err := r.readCSV(&input{path: "-", format: CSV}, func(src rows) error {
		rowsSeen += src.Len()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := r.bytesRead.Load(); got != int64(len(data)) || rowsSeen != 2 {
		t.Fatalf("read %d bytes and %d rows, want %d and 2", got, rowsSeen, len(data))
	}
}

// FuzzCSVChunks: for any input, chunk size and read size, the split reader
// hands the workers the same rows, bad rows, reasons, line numbers and
// chunk boundaries as one encoding/csv pass, and stops with the same error.
func FuzzCSVChunks(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n3,4\n",
		"a,b\r\n\"1\r\n2\",\"\"\"\"\r\n\r\n3,4",
		"a,b\n1,x\"y\n\"2\"z,3\n\"4\n",
		"a\n\n1,2,3\n\"4\",\"5\n\"\n6\r",
		"\"a\"\"\",b\n\"\n\",\"\n\"\n",
	} {
		f.Add([]byte(s), uint8(1), uint8(3), false)
		f.Add([]byte(s), uint8(2), uint8(1), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, batch, read uint8, fail bool) {
		diffCSV(t, data, int(batch%8)+1, int(read%16)+1, int(read%3)*8+1, fail)
	})
}

// benchCSV is 100,000 rows of 4 doubles, as bench/predictgen writes them.
func benchCSV() []byte {
	var b bytes.Buffer
	b.WriteString("\"a\",\"b\",\"c\",\"d\"\n")
	for i := range 100000 {
		x := float64(i) * 1.000123456789
		fmt.Fprintf(&b, "%v,%v,%v,%v\n", x, x/3, x/7, x/11)
	}
	return b.Bytes()
}

// BenchmarkCSVReader is the reader goroutine's work per input: cutting
// chunks (split) against parsing every record in one stream (stream, as
// before chunks were parsed by the workers).
func BenchmarkCSVReader(b *testing.B) {
	data := benchCSV()
	for _, mode := range []string{"split", "stream"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			r := &runner{opts: &Options{BatchRows: 131072, OnError: OnErrorFail}}
			for b.Loop() {
				var err error
				if mode == "split" {
					err = r.readCSVFrom(bytes.NewReader(data), 1<<20, func(rows) error { return nil })
				} else {
					err = r.readCSVStream(bytes.NewReader(data), 1<<20, 0, nil, func(rows) error { return nil })
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCSVChunkParse is a worker's parse of one chunk.
func BenchmarkCSVChunkParse(b *testing.B) {
	data := benchCSV()
	r := &runner{opts: &Options{BatchRows: 1 << 20, OnError: OnErrorFail}}
	var chunk *csvRows
	if err := r.readCSVFrom(bytes.NewReader(data), 1<<20, func(src rows) error {
		chunk = src.(*csvRows)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(chunk.raw)))
	for b.Loop() {
		c := &csvRows{header: chunk.header, raw: chunk.raw, rawLine: chunk.rawLine, n: chunk.n}
		c.parse()
		if c.parseErr != nil {
			b.Fatal(c.parseErr)
		}
	}
}
