package search

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mlship/mlship/tracking"
)

func num(e Entity, key, op string, n float64) Comparison {
	return Comparison{Entity: e, Key: key, Op: op, Numeric: true, Number: n}
}

func str(e Entity, key, op, s string) Comparison {
	return Comparison{Entity: e, Key: key, Op: op, String: s}
}

func list(e Entity, key, op string, s ...string) Comparison {
	return Comparison{Entity: e, Key: key, Op: op, Strings: s}
}

func TestParseRunFilter(t *testing.T) {
	tests := []struct {
		name, in string
		want     Filter
	}{
		{"empty", "", nil},
		{"blank", " \t\n ", nil},
		{"metric", "metrics.acc > 0.9", Filter{num(Metric, "acc", ">", 0.9)}},
		{"metric singular", "metric.loss <= 1", Filter{num(Metric, "loss", "<=", 1)}},
		{"backticked key, negative exponent", "metrics.`my-metric` >= -1.5e3", Filter{num(Metric, "my-metric", ">=", -1500)}},
		{"double-quoted key", `metrics."train/loss" < 1E-3`, Filter{num(Metric, "train/loss", "<", 0.001)}},
		{"single-quoted key", `tags.'quoted key' = 'v'`, Filter{str(Tag, "quoted key", "=", "v")}},
		{"backticked prefix", "`metrics`.x != 2", Filter{num(Metric, "x", "!=", 2)}},
		{"numbers", "metrics.a = 5 AND metrics.b = -0.5 AND metrics.c = .5 AND metrics.d = 5. AND metrics.e > 1e+5",
			Filter{num(Metric, "a", "=", 5), num(Metric, "b", "=", -0.5), num(Metric, "c", "=", 0.5),
				num(Metric, "d", "=", 5), num(Metric, "e", ">", 1e5)}},
		{"huge integer", "metrics.x < 123456789012345678901234567890", Filter{num(Metric, "x", "<", 1.2345678901234568e29)}},
		{"underflow is zero", "metrics.x > 1e-400", Filter{num(Metric, "x", ">", 0)}},
		{"param", "params.lr = '0.1'", Filter{str(Param, "lr", "=", "0.1")}},
		{"param double-quoted value", `param.a != "b"`, Filter{str(Param, "a", "!=", "b")}},
		{"parameter LIKE", "parameter.a LIKE '%x_'", Filter{str(Param, "a", "LIKE", "%x_")}},
		{"parameters ilike", "parameters.a ilike 'X%'", Filter{str(Param, "a", "ILIKE", "X%")}},
		{"dotted tag key", "tags.mlflow.source.type = 'LOCAL'", Filter{str(Tag, "mlflow.source.type", "=", "LOCAL")}},
		{"empty value", "tag.`a b` = ''", Filter{str(Tag, "a b", "=", "")}},
		{"string attributes", "attributes.status = 'FINISHED' AND attr.user_id != 'bob' AND run.artifact_uri LIKE 's3://%'",
			Filter{str(Attribute, "status", "=", "FINISHED"), str(Attribute, "user_id", "!=", "bob"),
				str(Attribute, "artifact_uri", "LIKE", "s3://%")}},
		{"case-insensitive AND, any whitespace", "status = 'RUNNING' and\tstart_time > 0\nAnD end_time < 10",
			Filter{str(Attribute, "status", "=", "RUNNING"), num(Attribute, "start_time", ">", 0),
				num(Attribute, "end_time", "<", 10)}},
		{"no spaces", "params.x='a'AND params.y=\"b\"", Filter{str(Param, "x", "=", "a"), str(Param, "y", "=", "b")}},
		{"created", "created > 1700000000000", Filter{num(Attribute, "start_time", ">", 1700000000000)}},
		{"Created", "Created <= 5", Filter{num(Attribute, "start_time", "<=", 5)}},
		{"run name backticked", "`Run name` = 'x'", Filter{str(Attribute, "run_name", "=", "x")}},
		{"Run Name double-quoted", `"Run Name" = 'x'`, Filter{str(Attribute, "run_name", "=", "x")}},
		{"Run name bare", "Run name = 'x'", Filter{str(Attribute, "run_name", "=", "x")}},
		{"run name LIKE", "run name LIKE 'a%'", Filter{str(Attribute, "run_name", "LIKE", "a%")}},
		{"prefixed run name", "attributes.`run name` = 'x'", Filter{str(Attribute, "run_name", "=", "x")}},
		{"run_id IN", "run_id IN ('a', 'b')", Filter{list(Attribute, "run_id", "IN", "a", "b")}},
		{"run_id NOT IN", "attributes.run_id NOT IN ('abc')", Filter{list(Attribute, "run_id", "NOT IN", "abc")}},
		{"not in, lower case, tight", "run_id not in('a','b')", Filter{list(Attribute, "run_id", "NOT IN", "a", "b")}},
		{"dataset name", "dataset.name = 'd'", Filter{str(Dataset, "name", "=", "d")}},
		{"dataset digest IN", "datasets.digest IN ('x', 'y')", Filter{list(Dataset, "digest", "IN", "x", "y")}},
		{"dataset context NOT IN", "dataset.context NOT IN ('train')", Filter{list(Dataset, "context", "NOT IN", "train")}},
		{"injection stays a value", "params.x = 'a'' OR 1=1 --'", Filter{str(Param, "x", "=", "a' OR 1=1 --")}},
		{"backslash-escaped quote", `params.x = 'it\'s'`, Filter{str(Param, "x", "=", "it's")}},
		{"doubled double quote", `params.x = "say ""hi"""`, Filter{str(Param, "x", "=", `say "hi"`)}},
		{"other backslashes kept", `params.p = 'C:\path\_x'`, Filter{str(Param, "p", "=", `C:\path\_x`)}},
		{"doubled backslash", `params.p = 'a\\b'`, Filter{str(Param, "p", "=", `a\b`)}},
		{"list escapes", `run_id IN ('a''b', 'c\'d')`, Filter{list(Attribute, "run_id", "IN", "a'b", "c'd")}},
		{"unicode", "params.ключ = 'значение ✓' AND metrics.精度 > 0.5",
			Filter{str(Param, "ключ", "=", "значение ✓"), num(Metric, "精度", ">", 0.5)}},
		{"keywords are values", "params.x = 'OR' AND tags.`AND` = 'AND'", Filter{str(Param, "x", "=", "OR"), str(Tag, "AND", "=", "AND")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRunFilter(tt.in)
			if err != nil {
				t.Fatalf("ParseRunFilter(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRunFilter(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseRunFilterErrors(t *testing.T) {
	const (
		metricOps = `'{'>', '>=', '!=', '=', '<', '<='}`
		runKeys   = `'{'Created', 'Run Name', 'Run name', 'artifact_uri', 'created', 'end_time', 'run name', 'run_id', 'run_name', 'start_time', 'status', 'user_id'}'`
	)
	tooMany := strings.Repeat("metrics.x > 1 AND ", MaxClauses) + "metrics.x > 1"
	longList := "run_id IN ('a'" + strings.Repeat(", 'a'", MaxListValues) + ")"
	tests := []struct {
		name, in, want string
	}{
		// Value types.
		{"NaN", "metrics.x = NaN", "Expected numeric value type for metric. Found NaN"},
		{"inf", "metrics.x > inf", "Expected numeric value type for metric. Found inf"},
		{"quoted number", "metrics.x = '1'", "Expected numeric value type for metric. Found '1'"},
		{"hex", "metrics.x = 0x10", "Expected numeric value type for metric. Found 0x10"},
		{"plus sign", "metrics.x = +1", "Expected numeric value type for metric. Found +1"},
		{"trailing junk", "metrics.x = 1abc", "Expected numeric value type for metric. Found 1abc"},
		{"overflow", "metrics.x = 1e999", "Numeric value 1e999 is out of range."},
		{"negative overflow", "metrics.x = -1e999", "Numeric value -1e999 is out of range."},
		{"long overflow", "metrics.x > 1" + strings.Repeat("0", 400), "Numeric value 1" + strings.Repeat("0", 199) + "... is out of range."},
		{"bare word for param", "params.x = abc", "Parameter value is either not quoted or unidentified quote types used for string value abc. Use either single or double quotes."},
		{"backticks for param", "params.x = `abc`", "Parameter value is either not quoted or unidentified quote types used for string value `abc`. Use either single or double quotes."},
		{"number for param", "params.x > 1", "Expected a quoted string value for parameter (e.g. 'my-value'). Got value 1"},
		{"number for tag", "tags.x = 1", "Expected a quoted string value for tag (e.g. 'my-value'). Got value 1"},
		{"list for param", "params.x IN ('a')", "Expected a quoted string value for parameter (e.g. 'my-value'). Got value ('a')"},
		{"string for start_time", "start_time = 'a'", "Expected numeric value type for numeric attribute: start_time. Found 'a'"},
		{"string for created", "created = 'a'", "Expected numeric value type for numeric attribute: created. Found 'a'"},
		{"number for status", "status = 1", "Expected a quoted string value for attributes. Got value 1"},
		{"bare word for status", "status = FINISHED", "Parameter value is either not quoted or unidentified quote types used for string value FINISHED. Use either single or double quotes."},
		{"number for dataset", "dataset.name = 1", "Expected a quoted string value for dataset attributes. Got value 1"},
		{"list for run_name", "run_name IN ('a')", "Only the 'run_id' attribute supports comparison with a list of quoted string values."},
		// Comparators.
		{"LIKE on metric", "metrics.x LIKE 1", "Invalid comparator 'LIKE' not one of " + metricOps},
		{"<> on metric", "metrics.x <> 1", "Invalid comparator '<>' not one of " + metricOps},
		{"== on metric", "metrics.x == 1", "Invalid comparator '==' not one of " + metricOps},
		{"> on param", "params.x > 'a'", "Invalid comparator '>' not one of '{'!=', '=', 'LIKE', 'ILIKE'}'"},
		{"NOT LIKE on param", "params.x not like 'a'", "Invalid comparator 'NOT LIKE' not one of '{'!=', '=', 'LIKE', 'ILIKE'}'"},
		{"> on tag", "tags.x > 'a'", "Invalid comparator '>' not one of '{'!=', '=', 'LIKE', 'ILIKE'}"},
		{"IN on tag", "tags.x IN 'a'", "Invalid comparator 'IN' not one of '{'!=', '=', 'LIKE', 'ILIKE'}"},
		{"LIKE on start_time", "start_time LIKE 1", "Invalid comparator 'LIKE' not one of " + metricOps},
		{"> on status", "status > 'a'", "Invalid comparator '>' not one of '{'!=', '=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'}'"},
		{"> on dataset", "dataset.name > 'a'", "Invalid comparator '>' not one of '{'!=', '=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'}"},
		{"IN without list", "run_id IN 'a'", "Expected a list of quoted string values after IN, e.g. ('a', 'b'). Got value 'a'"},
		{"list without IN", "run_id = ('a')", "Invalid comparator '=' for a list of values: use IN or NOT IN."},
		// Lists.
		{"empty list", "run_id IN ()", "While parsing a list in the query, expected a non-empty list of string values, but got empty list"},
		{"missing comma", "run_id IN ('a' 'b')", "While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list."},
		{"trailing comma", "run_id IN ('a',)", "While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list."},
		{"double quotes in list", `run_id IN ("a")`, `While parsing a list in the query, expected string value, punctuation, or whitespace, but got different type in list: ("a")`},
		{"numbers in list", "run_id IN (1, 2)", "While parsing a list in the query, expected string value, punctuation, or whitespace, but got different type in list: (1, 2)"},
		{"nested list", "run_id IN (('a'))", "While parsing a list in the query, expected string value, punctuation, or whitespace, but got different type in list: (('a'))"},
		{"unclosed list", "run_id IN ('a', 'b'", "Invalid filter string: the parenthesis at byte 10 is never closed."},
		{"too many values", longList, "An IN list has more than 10000 values."},
		// Structure.
		{"or", "metrics.a > 1 or metrics.b < 2", "Invalid clause(s) in filter string: 'or'"},
		{"OR", "metrics.a > 1 OR metrics.b < 2", "Invalid clause(s) in filter string: 'OR'"},
		{"injection after a value", "params.x = 'a' OR 1=1 --", "Invalid clause(s) in filter string: 'OR'"},
		{"parentheses", "(metrics.x > 1)", "Invalid clause(s) in filter string: '(metrics.x > 1)'"},
		{"grouped OR", "metrics.x > 1 AND (params.y = 'a' OR params.y = 'b')", "Invalid clause(s) in filter string: '(params.y = 'a' OR params.y = 'b')'"},
		{"stray close", "metrics.x > 1)", "Invalid clause(s) in filter string: ')'"},
		{"comment", "metrics.x > 1 -- comment", "Invalid clause(s) in filter string: '--'"},
		{"two statements", "metrics.x > 1; DROP TABLE runs", "Search filter contained multiple expression 'metrics.x > 1; DROP TABLE runs'. Provide AND-ed expression list."},
		{"identifier only", "metrics.x", "Invalid clause(s) in filter string: 'metrics.x'"},
		{"no value", "metrics.x >", "Invalid clause(s) in filter string: 'metrics.x >'"},
		{"no identifier", "= 'a'", "Invalid clause(s) in filter string: '='"},
		{"leading value", "'a' = params.x", "Invalid clause(s) in filter string: ''a''"},
		{"trailing AND", "metrics.x > 1 AND", "Invalid clause(s) in filter string: 'AND'"},
		{"missing AND", "metrics.x > 1 metrics.y > 2", "Invalid clause(s) in filter string: 'metrics.y'"},
		{"unknown comparator word", "params.x IS NULL", "Invalid clause(s) in filter string: 'IS'"},
		{"unclosed quote", "params.x = 'abc", "Invalid filter string: the quote at byte 11 is never closed."},
		{"unclosed double quote", `params.x = "abc`, "Invalid filter string: the quote at byte 11 is never closed."},
		{"unclosed backtick", "tags.`abc = 'x'", "Invalid filter string: the quote at byte 5 is never closed."},
		{"escaped closing quote", `params.x = 'abc\'`, "Invalid filter string: the quote at byte 11 is never closed."},
		// Identifiers.
		{"entity case", "Metrics.x > 1", "Invalid entity type 'Metrics'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"},
		{"quoted entity", `"metrics".x > 1`, `Invalid entity type '"metrics"'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']`},
		{"unknown attribute", "foo = 'x'", "Invalid attribute key 'foo' specified. Valid keys are " + runKeys},
		{"lifecycle_stage is not searchable", "lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage' specified. Valid keys are " + runKeys},
		{"attribute case", "Status = 'x'", "Invalid attribute key 'Status' specified. Valid keys are " + runKeys},
		{"unknown dataset key", "dataset.foo = 'x'", "Invalid dataset key 'foo' specified. Valid keys are '{'name', 'digest', 'context'}'"},
		{"empty key", "metrics. > 1", "Invalid identifier 'metrics.'. Columns should be specified as 'attribute.<key>', 'metric.<key>', 'tag.<key>', 'dataset.<key>', or 'param.'."},
		{"empty quoted key", `tags."" = 'a'`, `Invalid identifier 'tags.""'. Columns should be specified as 'attribute.<key>', 'metric.<key>', 'tag.<key>', 'dataset.<key>', or 'param.'.`},
		{"unquoted special key", "metrics.train/loss > 1", "Invalid clause(s) in filter string: '/loss'"},
		// Hostile bytes and sizes.
		{"NUL", "metrics.x = 1\x00", "The filter string contains a NUL character at byte 13."},
		{"NUL in quotes", "params.x = 'a\x00b'", "The filter string contains a NUL character at byte 13."},
		{"invalid UTF-8", "params.x = '\xff'", "The filter string is not valid UTF-8."},
		{"too long", "params.x = '" + strings.Repeat("a", MaxFilterLength) + "'", "The filter string is too long: 131085 bytes (the limit is 131072)."},
		{"too many clauses", tooMany, "The filter string has more than 100 clauses."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseRunFilter(tt.in)
			if err == nil {
				t.Fatalf("ParseRunFilter(%q) = %v, want error %q", tt.in, f, tt.want)
			}
			checkErr(t, err, tt.want)
		})
	}
}

// checkErr asserts err is MLflow's INVALID_PARAMETER_VALUE with message want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	var te *tracking.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *tracking.Error", err, err)
	}
	if te.Code != tracking.InvalidParameterValue {
		t.Errorf("code = %s, want INVALID_PARAMETER_VALUE", te.Code)
	}
	if te.Message != want {
		t.Errorf("message:\n got %q\nwant %q", te.Message, want)
	}
}

func TestParseExperimentFilter(t *testing.T) {
	valid := []struct {
		in   string
		want Filter
	}{
		{"", nil},
		{"name = 'exp'", Filter{str(Attribute, "name", "=", "exp")}},
		{"attribute.name LIKE '%a%'", Filter{str(Attribute, "name", "LIKE", "%a%")}},
		{"tags.team = 'ml' AND tag.`a b` != 'c'", Filter{str(Tag, "team", "=", "ml"), str(Tag, "a b", "!=", "c")}},
		{"creation_time > 100 and last_update_time <= 5",
			Filter{num(Attribute, "creation_time", ">", 100), num(Attribute, "last_update_time", "<=", 5)}},
	}
	for _, tt := range valid {
		got, err := ParseExperimentFilter(tt.in)
		if err != nil {
			t.Errorf("ParseExperimentFilter(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseExperimentFilter(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	const keys = "'{'creation_time', 'last_update_time', 'name'}'"
	invalidCases := []struct{ in, want string }{
		{"metrics.x > 1", "Invalid entity type 'metrics'. Valid entity types are ('attribute', 'tag', 'tags')"},
		{"attributes.name = 'a'", "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', 'tags')"},
		{"`tag`.x = 'a'", "Invalid entity type '`tag`'. Valid entity types are ('attribute', 'tag', 'tags')"},
		{"run_id = 'a'", "Invalid attribute key 'run_id' specified. Valid keys are " + keys},
		{"created > 1", "Invalid attribute key 'created' specified. Valid keys are " + keys},
		{"name IN ('a')", "Only the 'run_id' attribute supports comparison with a list of quoted string values."},
		{"creation_time = 'a'", "Expected numeric value type for numeric attribute: creation_time. Found 'a'"},
		{"name > 'a'", "Invalid comparator '>' not one of '{'!=', '=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'}'"},
		{"name = 'a' or name = 'b'", "Invalid clause(s) in filter string: or"},
	}
	for _, tt := range invalidCases {
		f, err := ParseExperimentFilter(tt.in)
		if err == nil {
			t.Errorf("ParseExperimentFilter(%q) = %v, want error", tt.in, f)
			continue
		}
		checkErr(t, err, tt.want)
	}
}

func TestFilterStringRoundTrip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"metrics.`my-metric` >= -1.5e3", `metric."my-metric" >= -1500`},
		{"params.x = 'a'' OR 1=1 --'", "param.x = 'a'' OR 1=1 --'"},
		{`tags."a""b\c" = 'x\\y'`, `tag."a""b\\c" = 'x\\y'`},
		{"Run name = 'x' and created > 1700000000000", "attribute.run_name = 'x' AND attribute.start_time > 1700000000000"},
		{"metrics.a > 1e21 AND metrics.b < -2.5e-7 AND metrics.c = -0", "metric.a > 1e+21 AND metric.b < -2.5e-07 AND metric.c = -0"},
		{"run_id NOT IN ('a','b')", "attribute.run_id NOT IN ('a', 'b')"},
		{"datasets.context = 'eval'", "dataset.context = 'eval'"},
	}
	for _, tt := range tests {
		f, err := ParseRunFilter(tt.in)
		if err != nil {
			t.Fatalf("ParseRunFilter(%q): %v", tt.in, err)
		}
		if got := f.String(); got != tt.want {
			t.Errorf("String() of %q = %q, want %q", tt.in, got, tt.want)
		}
		again, err := ParseRunFilter(f.String())
		if err != nil {
			t.Fatalf("re-parsing %q: %v", f.String(), err)
		}
		if diff := cmp.Diff(f, again); diff != "" {
			t.Errorf("round trip of %q (-first +second):\n%s", tt.in, diff)
		}
	}
}
