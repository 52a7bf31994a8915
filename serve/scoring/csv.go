package scoring

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/mlship/mlship/internal/jsonarrow"
	"github.com/mlship/mlship/internal/jsonscan"
	"github.com/mlship/mlship/mlmodel"
)

// naValues are the cells pandas.read_csv reads as missing by default.
var naValues = map[string]bool{
	"": true, "#N/A": true, "#N/A N/A": true, "#NA": true, "-1.#IND": true, "-1.#QNAN": true,
	"-NaN": true, "-nan": true, "1.#IND": true, "1.#QNAN": true, "<NA>": true, "N/A": true,
	"NA": true, "NULL": true, "NaN": true, "None": true, "n/a": true, "nan": true, "null": true,
}

// DecodeCSV decodes a text/csv body as pandas.read_csv would: a header row
// names the columns; with a signature the column types are forced,
// otherwise inferred (integers, floats, booleans, strings). CSV requests
// carry no params.
func (d *Decoder) DecodeCSV(body []byte) (*Request, error) {
	if !utf8.Valid(body) {
		return nil, csvError("'utf-8' codec can't decode the body: it is not valid UTF-8")
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, csvError("No columns to parse from file")
	}
	if err != nil {
		return nil, csvError(err.Error())
	}
	var records [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err.Error())
		}
		if len(rec) > len(header) {
			return nil, csvError("Error tokenizing data. C error: Expected " + itoa(len(header)) + " fields in line " + itoa(len(records)+2) + ", saw " + itoa(len(rec)))
		}
		records = append(records, rec)
	}
	return d.DecodeCSVRecords(header, records)
}

// DecodeCSVRecords decodes rows already split into fields (a chunk of a
// CSV file read as a stream) under header, with DecodeCSV's typing rules.
// Short rows are padded with missing values; a row longer than the header
// is an error.
func (d *Decoder) DecodeCSVRecords(header []string, records [][]string) (*Request, error) {
	cells := make([][]string, len(header))
	for j := range cells {
		cells[j] = make([]string, 0, len(records))
	}
	for i, rec := range records {
		if len(rec) > len(header) {
			return nil, csvError("Error tokenizing data. C error: Expected " + itoa(len(header)) + " fields in line " + itoa(i+2) + ", saw " + itoa(len(rec)))
		}
		for j := range header {
			v := ""
			if j < len(rec) {
				v = rec[j]
			}
			cells[j] = append(cells[j], v)
		}
	}
	rows := len(records)
	t := &table{schemas: &d.schemas}
	defer t.Release()
	for j, name := range header {
		c := d.columnFor(name, j)
		if fc := d.floatCells(c, len(cells[j])); fc != nil {
			c.Release()
			t.add(name, fc)
			for i, v := range cells[j] {
				if err := cellErr(name, i, fc.add(v)); err != nil {
					return nil, err
				}
			}
			continue
		}
		t.add(name, c)
		textCol := wantsText(c)
		for i, v := range cells[j] {
			if err := cellErr(name, i, csvCell(c, v, textCol)); err != nil {
				return nil, err
			}
		}
	}
	b, dropped, err := t.Build(rows)
	if err != nil {
		return nil, err
	}
	b, err = d.conform(b, dropped)
	if err != nil {
		return nil, err
	}
	form := d.form("csv")
	return &Request{Form: form, Batch: d.stamp(b, form), Params: d.defaultParams()}, nil
}

func itoa(n int) string { return strconv.Itoa(n) }

func csvError(msg string) error {
	return badRequest("Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas DataFrame produced using the pandas.DataFrame.to_csv() method. Error: '%s'", msg)
}

// wantsText reports whether a column takes its cells as text (string,
// binary, datetime, JSON columns) rather than as numbers or booleans.
func wantsText(c column) bool {
	var s jsonarrow.Sink
	switch x := c.(type) {
	case *scalarColumn:
		s = x.sink
	case *jsonColumn:
		return true
	case *inferColumn:
		return false
	default:
		return false
	}
	return jsonarrow.TakesText(s)
}

// floatCells returns a column that decodes CSV cells straight into
// doubles (or floats) when c is a signature's double or float column, and
// nil otherwise. Plain decimal cells, nearly all of a numeric CSV, are
// parsed in place (parseDecimal); any other cell goes csvCell's way. For a
// LogisticRegression scored from CSV, csvCell's way (a missing-value
// lookup, isCSVNumber, rewriting the cell as a JSON token, a JSON
// scanner, then strconv.ParseFloat) was 82% of mlship's CPU.
func (d *Decoder) floatCells(c column, rows int) *csvFloats {
	sc, ok := c.(*scalarColumn)
	if !ok {
		return nil
	}
	f := &csvFloats{name: sc.sink.TypeName(), mem: d.mem(), vals: make([]float64, 0, rows)}
	switch f.name {
	case string(mlmodel.Double):
		f.dt = arrow.PrimitiveTypes.Float64
	case string(mlmodel.Float):
		f.dt = arrow.PrimitiveTypes.Float32
	default:
		return nil
	}
	return f
}

// csvFloats is a double or float column read from CSV cells: what a
// scalarColumn of that type builds from the same cells.
type csvFloats struct {
	dt    arrow.DataType
	name  string
	mem   memory.Allocator
	vals  []float64
	valid []bool // nil until the first missing value
}

// add decodes one cell.
func (c *csvFloats) add(v string) error {
	if f, ok := parseDecimal(v); ok {
		c.vals = append(c.vals, f)
		if c.valid != nil {
			c.valid = append(c.valid, true)
		}
		return nil
	}
	// Anything else (missing-value spellings, inf, long or huge numbers,
	// text) the general way, through a sink of the column's type.
	one := &scalarColumn{sink: jsonarrow.NewSink(c.mem, c.dt, c.name)}
	defer one.Release()
	if err := csvCell(one, v, false); err != nil {
		return err
	}
	a := one.sink.Build()
	defer a.Release()
	return c.take(a)
}

// take appends the one value of a, as the general way decoded it.
func (c *csvFloats) take(a arrow.Array) error {
	if a.Len() != 1 {
		return fmt.Errorf("internal error: %d values for one CSV cell", a.Len())
	}
	if a.IsNull(0) {
		return c.missing()
	}
	switch a := a.(type) {
	case *array.Float64:
		c.vals = append(c.vals, a.Value(0))
	case *array.Float32:
		c.vals = append(c.vals, float64(a.Value(0)))
	default:
		return fmt.Errorf("internal error: a %s column decoded a cell as %s", c.name, a.DataType())
	}
	if c.valid != nil {
		c.valid = append(c.valid, true)
	}
	return nil
}

func (c *csvFloats) cell(s *jsonscan.Scanner) error {
	one := &scalarColumn{sink: jsonarrow.NewSink(c.mem, c.dt, c.name)}
	defer one.Release()
	if err := one.cell(s); err != nil {
		return err
	}
	a := one.sink.Build()
	defer a.Release()
	return c.take(a)
}

// missing is NaN, as pandas stores a missing float.
func (c *csvFloats) missing() error {
	if c.valid == nil {
		c.valid = make([]bool, len(c.vals), cap(c.vals))
		for i := range c.valid {
			c.valid[i] = true
		}
	}
	c.vals = append(c.vals, math.NaN())
	c.valid = append(c.valid, false)
	return nil
}

func (c *csvFloats) rows() int { return len(c.vals) }

func (c *csvFloats) finish(name string) (arrow.Field, arrow.Array, error) {
	var a arrow.Array
	if c.dt.ID() == arrow.FLOAT32 {
		// float32(float64) as the float sink rounds: both come from the
		// correctly rounded double.
		f32 := make([]float32, len(c.vals))
		for i, v := range c.vals {
			f32[i] = float32(v)
		}
		a = jsonarrow.WrapSlice(c.dt, f32, c.valid)
	} else {
		a = jsonarrow.WrapSlice(c.dt, c.vals, c.valid)
	}
	c.vals, c.valid = nil, nil
	return arrow.Field{Name: name, Type: a.DataType(), Nullable: true}, a, nil
}

func (c *csvFloats) Release() {}

// pow10 are the powers of ten a double holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseDecimal parses a plain decimal — an optional sign, digits with an
// optional point (at least one digit), an optional exponent — as
// strconv.ParseFloat does, and reports false for anything else. Such a
// cell is never one of pandas' missing-value spellings, and csvCell
// would read it through its JSON form with ParseFloat: the same value
// ("+5", ".5", "5." and "007" are "5", "0.5", "5.0" and "7").
//
// The value is exact when the digits make an integer below 2^53 and the
// power of ten is at most 22 either way (both are doubles exactly, and
// one IEEE multiplication or division rounds correctly, Clinger's fast
// path): that covers decimals of up to 15-16 significant digits. Longer
// or huge cells go to strconv.ParseFloat after the same syntax check.
// FuzzCSVFloatCells compares both ways bit for bit.
func parseDecimal(s string) (float64, bool) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	var mant uint64
	digits, sig, exp := 0, 0, 0
	exact := true
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if mant != 0 || s[i] != '0' {
			if sig < 19 {
				mant = mant*10 + uint64(s[i]-'0')
			} else {
				exact = false
			}
			sig++
		}
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if mant != 0 || s[i] != '0' {
				if sig < 19 {
					mant = mant*10 + uint64(s[i]-'0')
				} else {
					exact = false
				}
				sig++
			}
			exp--
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		e, edigits := 0, 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if e < 100000 {
				e = e*10 + int(s[i]-'0')
			}
			i++
			edigits++
		}
		if edigits == 0 {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != len(s) {
		return 0, false
	}
	if exact && mant < 1<<53 {
		f := float64(mant)
		switch {
		case mant == 0:
		case exp == 0:
		case exp > 0 && exp <= 22:
			f *= pow10[exp]
		case exp < 0 && exp >= -22:
			f /= pow10[-exp]
		default:
			exact = false
		}
		if exact {
			if neg {
				f = -f
			}
			return f, true
		}
	}
	f, _ := strconv.ParseFloat(s, 64) // out of range: ±Inf or 0, as csvCell has it
	return f, true
}

// csvCell feeds one CSV field to a column. Fields are fed as JSON-like
// tokens so the same typing rules apply to CSV and JSON.
func csvCell(c column, v string, text bool) error {
	if naValues[v] {
		return c.missing()
	}
	if text {
		return c.cell(jsonscan.New(quoteJSON(v)))
	}
	if isCSVNumber(v) {
		return c.cell(jsonscan.New(numberToken(v)))
	}
	switch v {
	case "True", "true", "TRUE":
		return c.cell(jsonscan.New([]byte("true")))
	case "False", "false", "FALSE":
		return c.cell(jsonscan.New([]byte("false")))
	}
	return c.cell(jsonscan.New(quoteJSON(v)))
}

// isCSVNumber accepts what pandas' C parser reads as a number: an optional
// sign, digits with an optional point (".5" and "5." included), an optional
// exponent, or inf.
func isCSVNumber(s string) bool {
	t := strings.TrimLeft(s, "+-")
	if len(s)-len(t) > 1 {
		return false
	}
	switch strings.ToLower(t) {
	case "inf", "infinity":
		return true
	}
	digits, i := 0, 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
		digits++
	}
	if i < len(t) && t[i] == '.' {
		i++
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		e := 0
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
			e++
		}
		if e == 0 {
			return false
		}
	}
	return i == len(t)
}

// numberToken rewrites a CSV number into a JSON number token.
func numberToken(s string) []byte {
	neg := strings.HasPrefix(s, "-")
	t := strings.TrimLeft(s, "+-")
	switch strings.ToLower(t) {
	case "inf", "infinity":
		if neg {
			return []byte("-Infinity")
		}
		return []byte("Infinity")
	}
	if strings.HasPrefix(t, ".") {
		t = "0" + t
	}
	t = strings.Replace(t, ".e", ".0e", 1)
	t = strings.Replace(t, ".E", ".0E", 1)
	if strings.HasSuffix(t, ".") {
		t += "0"
	}
	// Strip leading zeros JSON does not allow ("007" is 7 to pandas).
	intPart := t
	if i := strings.IndexAny(t, ".eE"); i >= 0 {
		intPart = t[:i]
	}
	trimmed := strings.TrimLeft(intPart, "0")
	if trimmed == "" {
		trimmed = "0"
	}
	t = trimmed + t[len(intPart):]
	if neg {
		t = "-" + t
	}
	return []byte(t)
}

func quoteJSON(s string) []byte {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xF])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

const hexd = "0123456789abcdef"
