package scoring

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

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
		t.add(name, c)
		textCol := wantsText(c)
		fast := floatColumn(c)
		for i, v := range cells[j] {
			if fast != nil && plainDecimal(v) {
				fast.n++
				_ = fast.sink.Num(jsonscan.Num{Raw: unsafe.Slice(unsafe.StringData(v), len(v))})
				continue
			}
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

// floatColumn returns c when it is a signature's double or float column,
// whose cells can take CSV's plain decimals as they are (see
// plainDecimal), and nil otherwise.
func floatColumn(c column) *scalarColumn {
	sc, ok := c.(*scalarColumn)
	if !ok {
		return nil
	}
	switch sc.sink.TypeName() {
	case string(mlmodel.Double), string(mlmodel.Float):
		return sc
	}
	return nil
}

// plainDecimal reports whether s is a decimal number the float sinks can
// parse as it is: an optional sign, digits with an optional point (and at
// least one digit), an optional exponent. That is the common CSV cell, and
// for it csvCell's way (a missing-value lookup, isCSVNumber, rewriting the
// cell into a JSON token, a JSON scanner) costs four times the
// strconv.ParseFloat that both end in: ParseFloat reads "+5", ".5", "5."
// and "007" as their JSON forms "5", "0.5", "5.0" and "7" (FuzzCSVFloatCells
// checks the two ways agree). No such cell is one of pandas' missing-value
// spellings, so nothing else applies to it.
func plainDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		e := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			e++
		}
		if e == 0 {
			return false
		}
	}
	return i == len(s)
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
