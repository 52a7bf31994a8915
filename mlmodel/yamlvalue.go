package mlmodel

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/internal/pyjson"
)

// converter turns YAML nodes into plain Go values, guarding against
// aliases: a cycle (`a: &x [*x]`) would recurse forever, and nested
// aliases can expand a few hundred bytes into gigabytes ("billion laughs").
// PyYAML shares aliased objects instead of copying them, so MLflow is
// immune; copying, we bound the number of values instead.
type converter struct {
	budget    int                 // values left to produce
	expanding map[*yaml.Node]bool // aliases being expanded right now
}

// newConverter allows a document of n bytes a generous number of values:
// an alias-free document produces fewer values than it has bytes.
func newConverter(n int) *converter {
	return &converter{budget: 2*n + 64, expanding: map[*yaml.Node]bool{}}
}

// fromNode converts a YAML node into plain Go values (nil, bool, int64,
// float64, string, []any, map[string]any). Unlike decoding into `any`, it
// keeps timestamps as the strings they were written as, so that a round trip
// does not turn `2024-05-17` into `2024-05-17T00:00:00Z`.
func (c *converter) fromNode(n *yaml.Node) (any, error) {
	if c.budget--; c.budget < 0 {
		return nil, fmt.Errorf("line %d: the document expands to too many values (YAML aliases?)", n.Line)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.fromNode(n.Content[0])
	case yaml.AliasNode:
		if c.expanding[n.Alias] {
			return nil, fmt.Errorf("line %d: alias *%s refers to itself", n.Line, n.Value)
		}
		c.expanding[n.Alias] = true
		defer delete(c.expanding, n.Alias)
		return c.fromNode(n.Alias)
	case yaml.ScalarNode:
		return scalarValue(n)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.fromNode(e)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping keys must be scalars", k.Line)
			}
			if k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: YAML merge keys are not supported", k.Line)
			}
			val, err := c.fromNode(v)
			if err != nil {
				return nil, err
			}
			out[k.Value] = val
		}
		return out, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func scalarValue(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, nil
		}
		// Out of int64 range: keep the digits rather than lose them.
		return n.Value, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return f, nil
	case "!!timestamp":
		// Only a plain scalar that YAML itself resolved as a date is kept as
		// one. An explicit `!!timestamp` tag may sit on any text ("0:"), which
		// written back unquoted would not parse, so such values stay strings.
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.TaggedStyle) == 0 {
			return timestamp(n.Value), nil
		}
		return n.Value, nil
	default: // !!str, !!binary and custom tags keep their text
		return n.Value, nil
	}
}

// timestamp is an unquoted YAML date or date-time. It is kept as written so
// that a round trip writes it unquoted again: PyYAML reads it as a date,
// and quoting it would turn it into a string.
type timestamp string

// toNode converts plain Go values into a YAML node tree formatted the way
// PyYAML's safe_dump(default_flow_style=False) formats it: block style,
// mapping keys sorted, strings quoted (single quotes) only when needed.
func toNode(v any) *yaml.Node {
	switch x := v.(type) {
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(x)}
	case int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(x)}
	case int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(x, 10)}
	case float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: string(pyjson.AppendYAMLFloat(nil, x))}
	case string:
		return stringNode(x)
	case timestamp:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!timestamp", Value: string(x)}
	case []string:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, s := range x {
			n.Content = append(n.Content, stringNode(s))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range x {
			n.Content = append(n.Content, toNode(e))
		}
		return n
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			n.Content = append(n.Content, stringNode(k), toNode(x[k]))
		}
		return n
	case FlavorConfig:
		return toNode(map[string]any(x))
	}
	// Values built by callers with other types: fall back to the YAML
	// library's own encoding.
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return stringNode(fmt.Sprint(v))
	}
	return &n
}

func stringNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if needsQuotes(s) {
		// PyYAML prefers single quotes; strings with characters that need
		// escapes are left to the emitter, which double-quotes them.
		if isSingleQuotable(s) {
			n.Style = yaml.SingleQuotedStyle
		} else {
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	return n
}

// needsQuotes reports whether a plain scalar would be read back as
// something other than this string (a number, bool, null or timestamp,
// including YAML 1.1 spellings that PyYAML resolves), or is not a valid
// plain scalar at all.
func needsQuotes(s string) bool {
	if s == "" || s != strings.TrimSpace(s) {
		return true
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
		".nan", ".inf", "-.inf", "+.inf":
		return true
	}
	if strings.ContainsAny(s[:1], "#,[]{}&*!|>'\"%@`") {
		return true
	}
	if strings.ContainsAny(s[:1], "?:-") && (len(s) == 1 || s[1] == ' ') {
		return true
	}
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		return true
	}
	if strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.HasSuffix(s, ":") {
		return true
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	// Ask the YAML resolver: anything that does not come back as !!str must
	// be quoted.
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		return true
	}
	if len(n.Content) != 1 || n.Content[0].Kind != yaml.ScalarNode || n.Content[0].Value != s {
		return true
	}
	if n.Content[0].ShortTag() != "!!str" {
		return true
	}
	return looksNumericOrDate(s)
}

// looksNumericOrDate catches YAML 1.1 forms PyYAML resolves but a YAML 1.2
// resolver reads as strings: 1_000, 0x1F, 1:20 (sexagesimal), dates.
func looksNumericOrDate(s string) bool {
	if _, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
		return true
	}
	if _, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64); err == nil {
		return true
	}
	if len(s) >= 10 && s[4] == '-' && s[7] == '-' && isDigits(s[:4]) && isDigits(s[5:7]) && isDigits(s[8:10]) {
		return true
	}
	return false
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func isSingleQuotable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\n' {
			return false
		}
	}
	return true
}

// asString, asBool ... convert decoded values for the typed fields, with
// errors that name the key.
func asString(key string, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case timestamp:
		return string(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return string(pyjson.AppendFloat(nil, x)), nil
	}
	return "", fmt.Errorf("%s: expected a string, got %s", key, describe(v))
}

func asBoolPtr(key string, v any) (*bool, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool:
		return &x, nil
	}
	return nil, fmt.Errorf("%s: expected true or false, got %s", key, describe(v))
}

func asInt64Ptr(key string, v any) (*int64, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		return &x, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			i := int64(x)
			return &i, nil
		}
	}
	return nil, fmt.Errorf("%s: expected an integer, got %s", key, describe(v))
}

func asMap(key string, v any) (map[string]any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return x, nil
	}
	return nil, fmt.Errorf("%s: expected a mapping, got %s", key, describe(v))
}

func asStrings(key string, v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s[%d]: expected a string, got %s", key, i, describe(e))
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: expected a list of strings, got %s", key, describe(v))
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case string:
		return fmt.Sprintf("the string %q", x)
	case timestamp:
		return fmt.Sprintf("the date %s", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
