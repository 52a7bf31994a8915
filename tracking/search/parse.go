package search

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The filter grammar (MLFLOW_COMPAT.md §7.3), as MLflow's sqlparse-based
// parser accepts it, written as a small hand-made scanner so that nothing
// the user typed ever reaches SQL as text:
//
//	filter     = [ clause { AND clause } ]          AND in any case; no OR, no parentheses
//	clause     = identifier comparator value
//	identifier = [ prefix "." ] key                 no prefix: an attribute
//	prefix     = word | `word`
//	key        = word { "." word } | 'text' | "text" | `text`
//	comparator = "=" | "!=" | ">" | ">=" | "<" | "<=" | LIKE | ILIKE | IN | NOT IN   (any case)
//	value      = number | 'text' | "text" | "(" 'text' { "," 'text' } ")"
//	number     = [ "-" ] ( digits [ "." digits ] | "." digits ) [ ( "e" | "E" ) [ "+" | "-" ] digits ]
//
// Inside quotes a doubled quote or a backslash-escaped quote stands for the
// quote itself and a doubled backslash for one backslash; any other
// backslash is kept as written (so LIKE patterns pass through unchanged).
// MLflow itself keeps the escapes verbatim, which makes a value containing a
// quote impossible to search for.

type parser struct {
	src string
	pos int
	r   *rules
}

func parseFilter(s string, r *rules) (Filter, error) {
	if err := checkInput("filter string", s); err != nil {
		return nil, err
	}
	p := &parser{src: s, r: r}
	p.skipSpace()
	if p.eof() {
		return nil, nil
	}
	var f Filter
	for {
		if len(f) == MaxClauses {
			return nil, invalid("The filter string has more than %d clauses.", MaxClauses)
		}
		c, err := p.clause()
		if err != nil {
			return nil, err
		}
		f = append(f, c)
		p.skipSpace()
		if p.eof() {
			return f, nil
		}
		at := p.pos
		if p.src[at] == ';' {
			return nil, invalid("Search filter contained multiple expression '%s'. Provide AND-ed expression list.", echo(s))
		}
		if w := p.word(false); !strings.EqualFold(w, "and") {
			return nil, p.invalidClause(p.chunkAt(at))
		}
		p.skipSpace()
		if p.eof() {
			return nil, p.invalidClause(p.src[at : at+3])
		}
	}
}

// invalidClause is MLflow's answer to text that is not part of a
// comparison: OR, parentheses, stray words or symbols.
func (p *parser) invalidClause(text string) error {
	if p.r.experiments {
		return invalid("Invalid clause(s) in filter string: %s", echo(text))
	}
	return invalid("Invalid clause(s) in filter string: '%s'", echo(text))
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		r, n := utf8.DecodeRuneInString(p.src[p.pos:])
		if !unicode.IsSpace(r) {
			return
		}
		p.pos += n
	}
}

// chunkAt is the whitespace-delimited piece of input starting at i, for
// error messages.
func (p *parser) chunkAt(i int) string {
	j := i
	for j < len(p.src) {
		r, n := utf8.DecodeRuneInString(p.src[j:])
		if unicode.IsSpace(r) {
			break
		}
		j += n
	}
	if j == i {
		return p.src[i:]
	}
	return p.src[i:j]
}

func isWordRune(r rune) bool {
	return r == '_' || r == '$' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// word reads a run of identifier characters (and dots, when dots is set).
func (p *parser) word(dots bool) string {
	start := p.pos
	for p.pos < len(p.src) {
		r, n := utf8.DecodeRuneInString(p.src[p.pos:])
		if !isWordRune(r) && !(dots && r == '.') {
			break
		}
		p.pos += n
	}
	return p.src[start:p.pos]
}

// scanQuoted reads the quoted text opening at s[i]. It returns the text
// with escapes resolved and the index after the closing quote, or ok false
// if the quote is never closed.
func scanQuoted(s string, i int) (text string, end int, ok bool) {
	q := s[i]
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '\\' && j+1 < len(s) && (s[j+1] == q || s[j+1] == '\\'):
			b.WriteByte(s[j+1])
			j++
		case c == q && j+1 < len(s) && s[j+1] == q:
			b.WriteByte(q)
			j++
		case c == q:
			return b.String(), j + 1, true
		default:
			b.WriteByte(c)
		}
	}
	return "", len(s), false
}

func (p *parser) quoted() (string, error) {
	text, end, ok := scanQuoted(p.src, p.pos)
	if !ok {
		return "", invalid("Invalid filter string: the quote at byte %d is never closed.", p.pos)
	}
	p.pos = end
	return text, nil
}

// ident is an identifier as written.
type ident struct {
	prefix    string // the entity prefix as written, "" if none
	hasPrefix bool
	key       string
	quoted    bool // key was quoted
}

func (p *parser) ident() (ident, error) {
	start := p.pos
	var id ident
	var first string
	firstQuoted := false
	switch c := p.src[p.pos]; c {
	case '`', '"':
		t, err := p.quoted()
		if err != nil {
			return id, err
		}
		first, firstQuoted = t, true
	case '(':
		// Grouping: MLflow quotes the whole parenthesised group back.
		if end, err := p.groupEnd(); err == nil {
			return id, p.invalidClause(p.src[start:end])
		}
		return id, p.invalidClause(p.chunkAt(start))
	default:
		first = p.word(false)
		if first == "" {
			return id, p.invalidClause(p.chunkAt(start))
		}
	}
	if p.eof() || p.src[p.pos] != '.' {
		id.key, id.quoted = first, firstQuoted
		p.aliasWithSpace(&id)
		return id, nil
	}
	// first was the entity prefix: as written (MLflow drops backticks from
	// a prefix but keeps double quotes, which then name no entity).
	id.hasPrefix = true
	id.prefix = p.src[start:p.pos]
	p.pos++ // "."
	if !p.eof() {
		switch p.src[p.pos] {
		case '`', '"', '\'':
			t, err := p.quoted()
			if err != nil {
				return id, err
			}
			id.key, id.quoted = t, true
		default:
			id.key = p.word(true)
		}
	}
	if id.key == "" {
		return id, invalid("Invalid identifier '%s'. Columns should be specified as 'attribute.<key>', "+
			"'metric.<key>', 'tag.<key>', 'dataset.<key>', or 'param.'.", echo(strings.TrimSpace(p.src[start:p.pos])))
	}
	if !id.quoted {
		p.aliasWithSpace(&id)
	}
	return id, nil
}

// aliasWithSpace joins an unquoted key and the word after it when together
// they spell one of MLflow's spaced attribute aliases ("Run name"), which
// MLflow's SQL tokenizer reads as one identifier.
func (p *parser) aliasWithSpace(id *ident) {
	if id.quoted || p.r.aliases == nil {
		return
	}
	save := p.pos
	p.skipSpace()
	if p.pos == save {
		return
	}
	if w := p.word(false); w != "" {
		if _, ok := p.r.aliases[id.key+" "+w]; ok {
			id.key += " " + w
			return
		}
	}
	p.pos = save
}

// comparator reads a comparator as written, upper-cased; "" if there is
// none here. Symbols are read greedily so "<>" or "==" come out whole and
// get MLflow's "Invalid comparator" message.
func (p *parser) comparator() string {
	start := p.pos
	for p.pos < len(p.src) && strings.IndexByte("=!<>", p.src[p.pos]) >= 0 {
		p.pos++
	}
	if p.pos > start {
		return p.src[start:p.pos]
	}
	w := strings.ToUpper(p.word(false))
	switch w {
	case "LIKE", "ILIKE", "RLIKE", "IN":
		return w
	case "NOT":
		save := p.pos
		p.skipSpace()
		w2 := strings.ToUpper(p.word(false))
		switch w2 {
		case "LIKE", "ILIKE", "RLIKE", "IN":
			return "NOT " + w2
		}
		p.pos = save
	}
	p.pos = start
	return ""
}

type valueKind int

const (
	vString   valueKind = iota // 'text' or "text"
	vNumber                    // a numeric literal
	vWord                      // a bare word: abc, NaN, TRUE
	vBacktick                  // `text`
	vList                      // ('a', 'b')
	vOther                     // anything else, as written
)

type value struct {
	kind valueKind
	raw  string // as written, for messages
	str  string
	num  float64
	list []string
}

// boundary reports whether a value may end at i.
func (p *parser) boundary(i int) bool {
	if i >= len(p.src) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(p.src[i:])
	return unicode.IsSpace(r) || r == ')' || r == ';'
}

func (p *parser) value(clauseStart int) (value, error) {
	start := p.pos
	if p.eof() {
		return value{}, p.invalidClause(strings.TrimSpace(p.src[clauseStart:]))
	}
	switch p.src[p.pos] {
	case '\'', '"':
		s, err := p.quoted()
		return value{kind: vString, raw: p.src[start:p.pos], str: s}, err
	case '`':
		_, err := p.quoted()
		return value{kind: vBacktick, raw: p.src[start:p.pos]}, err
	case '(':
		return p.list()
	}
	if end := scanNumber(p.src, p.pos); end > p.pos && p.boundary(end) {
		p.pos = end
		raw := p.src[start:end]
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil && !math.IsInf(f, 0) {
			// Underflow to zero or a denormal is still a fine number.
			if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
				return value{}, invalid("Invalid numeric value %s.", echo(raw))
			}
		}
		if math.IsInf(f, 0) {
			return value{}, invalid("Numeric value %s is out of range.", echo(raw))
		}
		return value{kind: vNumber, raw: raw, num: f}, nil
	}
	if w := p.word(true); w != "" && p.boundary(p.pos) {
		return value{kind: vWord, raw: w}, nil
	}
	p.pos = start
	raw := p.chunkAt(start)
	p.pos += len(raw)
	return value{kind: vOther, raw: raw}, nil
}

// scanNumber returns the end of the numeric literal at s[i], or i if there
// is none.
func scanNumber(s string, i int) int {
	j := i
	if j < len(s) && s[j] == '-' {
		j++
	}
	digits := func() int {
		k := j
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		return j - k
	}
	n := digits()
	if j < len(s) && s[j] == '.' {
		j++
		n += digits()
	}
	if n == 0 {
		return i
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j
		j++
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if digits() == 0 {
			return k // "1e" is the number 1 followed by junk
		}
	}
	return j
}

// list reads ('a', 'b', ...): single-quoted strings only, as MLflow.
func (p *parser) list() (value, error) {
	start := p.pos
	end, err := p.groupEnd()
	if err != nil {
		return value{}, err
	}
	raw := p.src[start:end]
	v := value{kind: vList, raw: raw}
	p.pos++ // "("
	p.skipSpace()
	if p.src[p.pos] == ')' {
		return v, invalid("While parsing a list in the query, expected a non-empty list of string values, but got empty list")
	}
	for {
		if p.src[p.pos] != '\'' {
			return v, invalid("While parsing a list in the query, expected string value, punctuation, "+
				"or whitespace, but got different type in list: %s", echo(raw))
		}
		s, err := p.quoted()
		if err != nil {
			return v, err
		}
		if len(v.list) == MaxListValues {
			return v, invalid("An IN list has more than %d values.", MaxListValues)
		}
		v.list = append(v.list, s)
		p.skipSpace()
		switch p.src[p.pos] {
		case ')':
			p.pos++
			return v, nil
		case ',':
			p.pos++
			p.skipSpace()
			if p.src[p.pos] == ')' {
				return v, illFormedList()
			}
		default:
			return v, illFormedList()
		}
	}
}

func illFormedList() error {
	return invalid("While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list.")
}

// groupEnd finds the end of the parenthesised group opening at p.pos,
// skipping quoted text.
func (p *parser) groupEnd() (int, error) {
	depth := 0
	for i := p.pos; i < len(p.src); i++ {
		switch p.src[i] {
		case '\'', '"', '`':
			_, end, ok := scanQuoted(p.src, i)
			if !ok {
				return 0, invalid("Invalid filter string: the quote at byte %d is never closed.", i)
			}
			i = end - 1
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	return 0, invalid("Invalid filter string: the parenthesis at byte %d is never closed.", p.pos)
}

// clause reads one comparison and checks it in MLflow's order: the
// identifier, then the value's type, then the comparator.
func (p *parser) clause() (Comparison, error) {
	start := p.pos
	id, err := p.ident()
	if err != nil {
		return Comparison{}, err
	}
	p.skipSpace()
	opAt := p.pos
	op := p.comparator()
	if op == "" {
		if p.eof() {
			return Comparison{}, p.invalidClause(strings.TrimSpace(p.src[start:]))
		}
		return Comparison{}, p.invalidClause(p.chunkAt(opAt))
	}
	p.skipSpace()
	v, err := p.value(start)
	if err != nil {
		return Comparison{}, err
	}
	entity := Attribute
	if id.hasPrefix {
		name := id.prefix
		if len(name) >= 2 && name[0] == '`' && name[len(name)-1] == '`' {
			name = name[1 : len(name)-1]
		}
		if entity, err = p.r.entity(id.prefix, name); err != nil {
			return Comparison{}, err
		}
	}
	if err := p.r.checkKey(entity, id.key, p.r.searchKeys); err != nil {
		return Comparison{}, err
	}
	c := Comparison{Entity: entity, Key: id.key, Op: op}
	if entity == Attribute {
		c.Key = p.r.canonical(id.key)
	}
	if err := p.r.setValue(&c, id.key, v); err != nil {
		return Comparison{}, err
	}
	return c, p.r.checkOp(&c, id.key, v)
}

// notQuoted is MLflow's answer to a bare word or backticked text where a
// string belongs.
func notQuoted(v value) error {
	return invalid("Parameter value is either not quoted or unidentified quote types used for "+
		"string value %s. Use either single or double quotes.", echo(v.raw))
}

// setValue checks the value's type against the entity, with MLflow's
// messages, and stores it in c. key is the key as written (MLflow's
// messages name it so).
func (r *rules) setValue(c *Comparison, key string, v value) error {
	switch c.Entity {
	case Metric:
		if v.kind != vNumber {
			return invalid("Expected numeric value type for metric. Found %s", echo(v.raw))
		}
	case Param, Tag:
		switch v.kind {
		case vString:
		case vWord, vBacktick:
			return notQuoted(v)
		default:
			what := "tag"
			if c.Entity == Param {
				what = "parameter"
			}
			return invalid("Expected a quoted string value for %s (e.g. 'my-value'). Got value %s", what, echo(v.raw))
		}
	case Attribute:
		if r.numeric[key] {
			if v.kind != vNumber {
				return invalid("Expected numeric value type for numeric attribute: %s. Found %s", key, echo(v.raw))
			}
			break
		}
		switch v.kind {
		case vString:
		case vWord, vBacktick:
			return notQuoted(v)
		case vList:
			if r.experiments || key != "run_id" {
				return invalid("Only the 'run_id' attribute supports comparison with a list of quoted string values.")
			}
		default:
			return invalid("Expected a quoted string value for attributes. Got value %s", echo(v.raw))
		}
	case Dataset:
		switch v.kind {
		case vString, vList:
		case vWord, vBacktick:
			return notQuoted(v)
		default:
			return invalid("Expected a quoted string value for dataset attributes. Got value %s", echo(v.raw))
		}
	}
	switch v.kind {
	case vNumber:
		c.Numeric, c.Number = true, v.num
	case vList:
		c.Strings = v.list
		if c.Strings == nil {
			c.Strings = []string{}
		}
	default:
		c.String = v.str
	}
	return nil
}

// checkOp checks the comparator against the entity with MLflow's messages
// (including their unbalanced quotes, which clients may match on), then
// that lists and IN go together.
func (r *rules) checkOp(c *Comparison, key string, v value) error {
	var valid []string
	closing := "'"
	switch {
	case c.Entity == Metric:
		valid, closing = numericOps, ""
	case c.Entity == Param:
		valid = stringOps
	case c.Entity == Tag:
		valid, closing = stringOps, ""
	case c.Entity == Dataset:
		valid, closing = listOps, ""
	case r.numeric[key]:
		valid, closing = numericOps, ""
	default:
		valid = listOps
	}
	ok := false
	for _, o := range valid {
		ok = ok || o == c.Op
	}
	if !ok {
		return invalid("Invalid comparator '%s' not one of '%s%s", c.Op, pySet(valid), closing)
	}
	isList := c.Op == "IN" || c.Op == "NOT IN"
	switch {
	case isList && v.kind != vList:
		return invalid("Expected a list of quoted string values after %s, e.g. ('a', 'b'). Got value %s", c.Op, echo(v.raw))
	case !isList && v.kind == vList:
		return invalid("Invalid comparator '%s' for a list of values: use IN or NOT IN.", c.Op)
	}
	return nil
}
