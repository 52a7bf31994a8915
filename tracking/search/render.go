package search

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// String renders f in the filter language, canonically (singular entity
// prefixes, canonical keys, single-quoted strings), so that parsing it
// again gives f. An empty filter renders as "".
func (f Filter) String() string {
	var b strings.Builder
	for i, c := range f {
		if i > 0 {
			b.WriteString(" AND ")
		}
		writeComparison(&b, c)
	}
	return b.String()
}

// writeComparison renders one comparison (Comparison cannot have a String
// method: it has a String field).
func writeComparison(b *strings.Builder, c Comparison) {
	writeIdent(b, c.Entity, c.Key)
	b.WriteByte(' ')
	b.WriteString(c.Op)
	b.WriteByte(' ')
	switch {
	case c.Op == "IN" || c.Op == "NOT IN":
		b.WriteByte('(')
		for i, s := range c.Strings {
			if i > 0 {
				b.WriteString(", ")
			}
			writeQuoted(b, s, '\'')
		}
		b.WriteByte(')')
	case c.Numeric:
		b.WriteString(formatNumber(c.Number))
	default:
		writeQuoted(b, c.String, '\'')
	}
}

// String renders one order_by clause.
func (o OrderBy) String() string {
	var b strings.Builder
	writeIdent(&b, o.Entity, o.Key)
	if o.Ascending {
		b.WriteString(" ASC")
	} else {
		b.WriteString(" DESC")
	}
	return b.String()
}

func writeIdent(b *strings.Builder, e Entity, key string) {
	b.WriteString(string(e))
	b.WriteByte('.')
	if plainKey(key) {
		b.WriteString(key)
		return
	}
	writeQuoted(b, key, '"')
}

// plainKey reports whether key can be written unquoted after a prefix.
func plainKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if !isWordRune(r) && r != '.' {
			return false
		}
	}
	r, _ := utf8.DecodeRuneInString(key)
	return r != '.'
}

func writeQuoted(b *strings.Builder, s string, q byte) {
	b.WriteByte(q)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case q:
			b.WriteByte(q)
		case '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte(q)
}

// formatNumber writes integral values such as millisecond timestamps in
// plain decimal and everything else in the shortest form that parses back
// to the same float64.
func formatNumber(n float64) string {
	if n == math.Trunc(n) && math.Abs(n) < 1e21 {
		return strconv.FormatFloat(n, 'f', -1, 64)
	}
	return strconv.FormatFloat(n, 'g', -1, 64)
}
