package predict

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"
)

// CSV inputs are parsed by the scoring workers, not the reader: the reader
// only cuts the stream into chunks of whole records (csvSplitter), which
// costs a few byte scans a record, and each worker runs encoding/csv over
// its own chunk. For a cheap model the single reader goroutine running
// encoding/csv was the bottleneck of the whole run.
//
// A chunk boundary must be exactly where a single encoding/csv pass over
// the whole input would start a record, or rows and line numbers would
// change. The splitter therefore only cuts input it fully understands:
// fields either unquoted without a quote in them or quoted and closed
// properly. At anything encoding/csv would reject (a quote inside an
// unquoted field, text after a closing quote, an unclosed quote at the end)
// it gives up, and the rest of the input is parsed in one stream as
// before (csvSplitter.rest).

// csvChunk is a run of whole records cut from a CSV input.
type csvChunk struct {
	data []byte // the records' bytes, ending after a newline or at the end of the input
	line int    // line of data[0] in the input, 1-based
	n    int    // records in data (empty lines are not records)
}

// errCSVUnsure stops the splitter at input encoding/csv would reject; the
// caller parses csvSplitter.rest in one stream.
var errCSVUnsure = errors.New("the CSV input cannot be split past here")

type scanStatus int

const (
	scanFull    scanStatus = iota // the records wanted were found
	scanEnd                       // the input ended
	scanMore                      // a record runs past the bytes read so far
	scanUnsure                    // input encoding/csv rejects: stop splitting
	scanTooMany                   // a record has more fields than width (fail mode)
)

// csvSplitter cuts a CSV stream into chunks of whole records.
type csvSplitter struct {
	src   io.Reader
	block int    // bytes read at a time
	buf   []byte // buf[0] starts the pending chunk, at a record boundary
	eof   bool
	err   error // a read error, returned once buf is used up
	line  int   // line of buf[0]
	// Scan state over the pending chunk: pos starts the next record to
	// scan, lines counts the newlines and n the records before it.
	pos, lines, n int
	// qpos is the first '"' at or after pos when qpos >= pos, and -1 when
	// there is none in buf[pos:qdone] (qdone: how far buf was searched).
	qpos, qdone int
	// width, when above zero, makes a record of more fields than that
	// stop the split with tooMany (--on-error fail stops the run there).
	width   int
	tooMany struct{ line, fields int }
	// last is the size of the last chunk, which sizes the next buffer.
	last int
}

func newCSVSplitter(src io.Reader, block int) *csvSplitter {
	return &csvSplitter{src: src, block: block, line: 1, qpos: -1}
}

// next returns the next chunk of up to want records (fewer only at the end
// of the input), io.EOF after the last, errCSVUnsure where the input stops
// being splittable (see rest), or a "line N: expected W fields, saw F"
// error when width is set and a record has too many fields.
func (s *csvSplitter) next(want int) (csvChunk, error) {
	for {
		switch st := s.scan(want); st {
		case scanFull, scanEnd:
			if s.err != nil && s.pos == len(s.buf) && (st == scanEnd || s.buf[s.pos-1] != '\n') {
				// The read failed where the last record ends: it may be
				// cut off, and one encoding/csv stream returns the error
				// with it, before flushing a batch it completes.
				return csvChunk{}, s.err
			}
			if s.n == 0 {
				// Only empty lines (or nothing) are left.
				if s.err != nil {
					return csvChunk{}, s.err
				}
				return csvChunk{}, io.EOF
			}
			return s.cut(), nil
		case scanUnsure:
			return csvChunk{}, errCSVUnsure
		case scanTooMany:
			return csvChunk{}, fmt.Errorf("line %d: expected %d fields, saw %d", s.tooMany.line, s.width, s.tooMany.fields)
		case scanMore:
			s.fill()
		}
	}
}

// cut hands out buf[:pos] as a chunk; the rest moves to a new buffer, since
// the chunk's bytes now belong to the worker that parses them.
func (s *csvSplitter) cut() csvChunk {
	c := csvChunk{data: s.buf[:s.pos:s.pos], line: s.line, n: s.n}
	rest := s.buf[s.pos:]
	s.last = s.pos
	nb := make([]byte, len(rest), max(len(rest)+s.block, s.last+s.block))
	copy(nb, rest)
	s.buf = nb
	s.line += s.lines
	switch {
	case s.qpos >= s.pos:
		s.qpos -= s.pos
		s.qdone -= s.pos
	case s.qpos < 0:
		s.qdone = max(s.qdone-s.pos, 0)
	default: // passed: search again
		s.qpos, s.qdone = -1, 0
	}
	s.pos, s.lines, s.n = 0, 0, 0
	return c
}

// fill reads at least one more byte into buf, or sets eof.
func (s *csvSplitter) fill() {
	if cap(s.buf)-len(s.buf) < s.block/2+1 {
		nb := make([]byte, len(s.buf), max(2*cap(s.buf), len(s.buf)+s.block))
		copy(nb, s.buf)
		s.buf = nb
	}
	for empty := 0; ; empty++ {
		n, err := s.src.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err == nil && n == 0 && empty == 100 {
			err = io.ErrNoProgress // as bufio gives up on such a reader
		}
		if err != nil {
			s.eof = true
			if !errors.Is(err, io.EOF) {
				s.err = err
			}
			return
		}
		if n > 0 {
			return
		}
	}
}

// rest is the input from the start of the pending chunk on (a record
// boundary, on line startLine), for a single-stream parse.
func (s *csvSplitter) rest() (r io.Reader, startLine int) {
	pending := bytes.NewReader(s.buf)
	if s.eof {
		if s.err != nil {
			return io.MultiReader(pending, errReader{s.err}), s.line
		}
		return pending, s.line
	}
	return io.MultiReader(pending, s.src), s.line
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// nextQuote returns the index of the first '"' in buf[pos:], or -1.
func (s *csvSplitter) nextQuote() int {
	if s.qpos >= s.pos {
		return s.qpos
	}
	from := s.pos
	if s.qpos < 0 {
		from = max(s.pos, s.qdone) // none before qdone
	}
	s.qdone = len(s.buf)
	if i := bytes.IndexByte(s.buf[from:], '"'); i >= 0 {
		s.qpos = from + i
	} else {
		s.qpos = -1
	}
	return s.qpos
}

// scan moves pos over whole records until it has want of them.
func (s *csvSplitter) scan(want int) scanStatus {
	buf := s.buf
	for s.n < want {
		p := s.pos
		if p == len(buf) {
			if s.eof {
				return scanEnd
			}
			return scanMore
		}
		limit := len(buf)
		if q := s.nextQuote(); q >= 0 {
			limit = q
		}
		// Lines before the next quote are records of unquoted fields, or
		// empty lines (encoding/csv skips "\n" and "\r\n").
		if e := bytes.IndexByte(buf[p:limit], '\n'); e >= 0 {
			e += p
			text := buf[p:e]
			if k := len(text); k > 0 && text[k-1] == '\r' {
				text = text[:k-1]
			}
			if len(text) > 0 {
				if s.width > 0 {
					if f := bytes.Count(text, comma) + 1; f > s.width {
						s.tooMany.line, s.tooMany.fields = s.line+s.lines, f
						return scanTooMany
					}
				}
				s.n++
			}
			s.lines++
			s.pos = e + 1
			continue
		}
		if limit == len(buf) {
			if !s.eof {
				return scanMore
			}
			// The last line, with no newline: a trailing "\r" is
			// dropped (as encoding/csv does before the end).
			text := buf[p:]
			if k := len(text); text[k-1] == '\r' {
				text = text[:k-1]
			}
			if len(text) > 0 {
				if f := bytes.Count(text, comma) + 1; s.width > 0 && f > s.width {
					s.tooMany.line, s.tooMany.fields = s.line+s.lines, f
					return scanTooMany
				}
				s.n++
			}
			s.pos = len(buf)
			continue
		}
		// This line has a quote: the record may span lines.
		end, fields, nl, st := scanQuoted(buf, p, s.eof)
		if st != scanFull {
			return st
		}
		if s.width > 0 && fields > s.width {
			s.tooMany.line, s.tooMany.fields = s.line+s.lines, fields
			return scanTooMany
		}
		s.n++
		s.lines += nl
		s.pos = end
	}
	return scanFull
}

var comma, newline = []byte{','}, []byte{'\n'}

// scanQuoted finds the end of the record starting at buf[p] (a line that is
// not empty), reading quoted fields as encoding/csv does with LazyQuotes
// off: it returns the record's end (after its newline, or len(buf) at the
// end of the input), its fields and the newlines in it, or scanMore or
// scanUnsure.
func scanQuoted(buf []byte, p int, eof bool) (end, fields, nl int, st scanStatus) {
	i := p
	fields = 1
field:
	for {
		if i < len(buf) && buf[i] == '"' {
			i++
			for {
				j := bytes.IndexByte(buf[i:], '"')
				if j < 0 {
					if eof {
						return 0, 0, 0, scanUnsure // unclosed quote: ErrQuote
					}
					return 0, 0, 0, scanMore
				}
				nl += bytes.Count(buf[i:i+j], newline)
				i += j + 1
				if i == len(buf) {
					if eof {
						return i, fields, nl, scanFull
					}
					return 0, 0, 0, scanMore
				}
				switch buf[i] {
				case '"': // "" is a quote inside the field
					i++
					continue
				case ',':
					fields++
					i++
					continue field
				case '\n':
					return i + 1, fields, nl + 1, scanFull
				case '\r':
					switch {
					case i+1 == len(buf) && eof:
						return i + 1, fields, nl, scanFull // a trailing "\r" is dropped
					case i+1 == len(buf):
						return 0, 0, 0, scanMore
					case buf[i+1] == '\n':
						return i + 2, fields, nl + 1, scanFull
					}
					return 0, 0, 0, scanUnsure
				default: // text after the closing quote: ErrQuote
					return 0, 0, 0, scanUnsure
				}
			}
		}
		j := bytes.IndexAny(buf[i:], ",\n\"")
		if j < 0 {
			if eof {
				return len(buf), fields, nl, scanFull
			}
			return 0, 0, 0, scanMore
		}
		i += j
		switch buf[i] {
		case ',':
			fields++
			i++
		case '\n':
			return i + 1, fields, nl + 1, scanFull
		default: // a quote in an unquoted field: ErrBareQuote
			return 0, 0, 0, scanUnsure
		}
	}
}

// eachCSVRecord reads cr to its end as an input's rows: add gets each
// record with its line (lineBase added to encoding/csv's) and, for a row
// that cannot be read, the reason (the record is then empty). With fail,
// the first such row is the error instead.
func eachCSVRecord(cr *csv.Reader, lineBase, width int, fail bool, add func(rec []string, line int, bad string) error) error {
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			if fail {
				return fmt.Errorf("line %d: %w", pe.Line+lineBase, pe.Err)
			}
			// The rest of the line is unreadable: a row that scores as
			// bad, so it is counted (and nulled) like any other.
			err = add([]string{}, pe.StartLine+lineBase, pe.Err.Error())
		case err != nil:
			return err
		default:
			line, _ := cr.FieldPos(0) // (it panics for a record it did not return)
			line += lineBase
			if len(rec) > width {
				reason := fmt.Sprintf("expected %d fields, saw %d", width, len(rec))
				if fail {
					return fmt.Errorf("line %d: %s", line, reason)
				}
				err = add([]string{}, line, reason)
			} else {
				err = add(rec, line, "")
			}
		}
		if err != nil {
			return err
		}
	}
}

func newCSVReader(r io.Reader) *csv.Reader {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	return cr
}

// parseChunk reads a chunk's records, the first time its rows are asked
// for (by the worker scoring it).
func (c *csvRows) parse() {
	if c.parsed {
		return
	}
	c.parsed = true
	c.records = make([][]string, 0, c.n)
	c.lines = make([]int, 0, c.n)
	var err error
	if bytes.IndexByte(c.raw, '"') < 0 {
		c.parseUnquoted()
	} else {
		err = c.parseQuoted()
	}
	if err == nil && len(c.records) != c.n {
		err = fmt.Errorf("internal error: a CSV chunk from line %d parsed to %d records, not the %d it was cut with", c.rawLine, len(c.records), c.n)
	}
	if err != nil {
		c.parseErr = err
	}
	// Len must not change under the scorer.
	for len(c.records) < c.n {
		c.records = append(c.records, []string{})
		c.lines = append(c.lines, 0)
	}
	c.records, c.lines = c.records[:c.n], c.lines[:c.n]
	c.raw = nil
}

// parseUnquoted splits a chunk with no quote in it, which is what
// encoding/csv does with such input, at a fraction of its cost: its
// fields share one string and one slice. Lines end at "\n" (one "\r"
// before it is dropped, as is a "\r" ending the input), empty lines are
// not records, fields end at commas.
func (c *csvRows) parseUnquoted() {
	// The fields point into raw, without a copy: nothing writes a chunk's
	// bytes once csvSplitter.cut has handed them out (the rest of the
	// input goes to a new buffer), and parse drops raw afterwards.
	text := unsafe.String(unsafe.SliceData(c.raw), len(c.raw))
	slab := make([]string, strings.Count(text, ",")+c.n)
	width := len(c.header)
	line := c.rawLine
	for len(text) > 0 {
		rec := text
		if e := strings.IndexByte(text, '\n'); e >= 0 {
			rec, text = text[:e], text[e+1:]
		} else {
			text = ""
		}
		rec = strings.TrimSuffix(rec, "\r")
		if rec != "" {
			f := strings.Count(rec, ",") + 1
			if f > len(slab) {
				return // more than the splitter counted: the caller reports it
			}
			fields := slab[:f:f]
			slab = slab[f:]
			for k := 0; k < f-1; k++ {
				i := strings.IndexByte(rec, ',')
				fields[k], rec = rec[:i], rec[i+1:]
			}
			fields[f-1] = rec
			if f > width {
				c.add([]string{}, line, fmt.Sprintf("expected %d fields, saw %d", width, f))
			} else {
				c.add(fields, line, "")
			}
		}
		line++
	}
}

// parseQuoted parses a chunk with encoding/csv.
func (c *csvRows) parseQuoted() error {
	return eachCSVRecord(newCSVReader(bytes.NewReader(c.raw)), c.rawLine-1, len(c.header), false, func(rec []string, line int, bad string) error {
		c.add(rec, line, bad)
		return nil
	})
}
