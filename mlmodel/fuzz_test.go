package mlmodel

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fuzzCmp compares parsed descriptors. NaN floats are equal to themselves
// (a `.nan` in a flavor block must survive); the load directory is not
// part of the file.
var fuzzCmp = []cmp.Option{
	cmp.AllowUnexported(Signature{}, InputExampleInfo{}),
	cmpopts.IgnoreFields(Model{}, "Dir"),
	cmpopts.EquateNaNs(),
}

// FuzzParse: Parse never panics, and whatever it accepts it can write back
// and read again unchanged (unknown keys included, which is the point of
// keeping them). The corpus in testdata/fuzz/FuzzParse holds copies of
// every MLmodel file under ../shared/testdata/mlflow (real MLflow 1.x–3.x
// output); the seeds below add the YAML features that are easy to get
// wrong.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"flavors: {}\n",
		"flavors:\n  python_function:\n    loader_module: m\n    env: conda.yaml\n",
		"flavors: null\nrun_id: 123\nmodel_size_bytes: 1.0e3\nmlflow_version: 2.1\n",
		"flavors: {x: null}\nutc_time_created: 2024-05-17 10:00:00.5\nmodel_uuid: '2024-05-17'\n",
		"flavors: {}\nsignature:\n  inputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"float32\", \"shape\": [-1, 4]}}]'\n  params: '[{\"name\": \"k\", \"type\": \"long\", \"default\": 1, \"shape\": null}]'\n",
		"flavors: {}\nsaved_input_example_info: {artifact_path: input_example.json, type: dataframe, params: true}\n",
		"flavors: {}\nextra: [1, 2.5, .nan, -.inf, 'yes', yes, ~, 0x1F, 0o17, 1_000, 99999999999999999999]\n",
		"flavors: {}\nextra: {'<<': 1, '': 2, 'a: b': 3, '#': 4, '- ': 5, ' x ': 6}\n",
		"flavors: {}\nextra: [\"\\t\", \"\\n\", \"a\\u0085b\", \"\\u2028\", \"\\ufeff\", \"\\x7f\", \"é\"]\n",
		"flavors: {}\nextra: !!binary aGVsbG8=\nother: !custom tagged\nn: !!int '12'\nf: !!float '1'\n",
		"flavors: {}\nextra: |+\n  keep\n\n",
		"flavors: {}\nextra: \"a  long  string  with  double  spaces  that  the  emitter  may  fold  across  lines  at  eighty\"\n",
		"flavors: {}\nextra: {\"k\\u00e9\": \"v\\u2029\", \"é\": é, 'it''s': \"\\\"\"}\n",
		"flavors: {}\nextra: [2001-12-14t21:59:43.10-05:00, 2002-12-14, '2002-12-14', !!timestamp x, 1:20, 0x_1, +.5, -0.0]\n",
		"flavors: {}\na: &x [1, 2]\nb: *x\n",
		"flavors: {}\nbase: &b {k: 1}\nmerged: {<<: *b}\n",
		"flavors: {}\n---\nflavors: {x: {}}\n",
		"- flavors\n", "", "---\n", "flavors: [\n", "? [a]\n: b\nflavors: {}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "")
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Path != FileName {
				t.Fatalf("error %v (%T) is not a *ParseError naming %s", err, err, FileName)
			}
			return
		}
		// Every value needs some bytes of input, except what a YAML alias
		// repeats: the parsed descriptor must stay proportional to the
		// file, or a few hundred bytes of nested aliases ("billion
		// laughs") exhaust memory.
		if n, limit := modelValues(m), 2*len(data)+64; n > limit {
			t.Fatalf("a %d-byte file parsed into %d values (limit %d): aliases were expanded without bound", len(data), n, limit)
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed descriptor: %v", err)
		}
		m2, err := Parse(out, "marshalled")
		if err != nil {
			t.Fatalf("re-parse of what Marshal wrote: %v\n--- input:\n%s\n--- written:\n%s", err, data, out)
		}
		if diff := cmp.Diff(m, m2, fuzzCmp...); diff != "" {
			t.Fatalf("round trip changed the descriptor (-parsed +re-parsed):\n%s\n--- input:\n%s\n--- written:\n%s", diff, data, out)
		}
		// The written form is canonical: writing the re-parsed descriptor
		// gives the same bytes (files stay diff-clean).
		out2, err := m2.Marshal()
		if err != nil || string(out2) != string(out) {
			t.Fatalf("second Marshal differs (err %v):\n%s\n---\n%s", err, out, out2)
		}
	})
}

// modelValues counts the free-form values a descriptor holds (map keys
// included), where aliases could multiply them.
func modelValues(m *Model) int {
	n := countValues(m.Extra) + countValues(m.Metadata) + countValues(m.Resources) + countValues(m.AuthPolicy)
	for _, fc := range m.Flavors {
		n += countValues(map[string]any(fc))
	}
	if m.Signature != nil {
		n += countValues(m.Signature.extra)
	}
	if m.SavedInputExampleInfo != nil {
		n += countValues(m.SavedInputExampleInfo.extra)
	}
	return n
}

func countValues(v any) int {
	n := 1
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			n += 1 + countValues(e)
		}
	case []any:
		for _, e := range x {
			n += countValues(e)
		}
	}
	return n
}

// FuzzParseSchema: ParseSchema never panics; an accepted schema was a
// single JSON document (Python's json.loads rejects trailing data), and
// MarshalJSON writes it so that it parses back to the same schema.
func FuzzParseSchema(f *testing.F) {
	for _, s := range []string{
		`[{"type": "double", "name": "a", "required": true}, {"type": "long", "name": "b", "required": false}]`,
		`[{"type": "double", "name": "a"}, {"type": "string", "name": "b", "optional": true}]`,
		`[{"type": "double"}, {"type": "string"}]`,
		`[{"type": "boolean", "name": "a"}, {"type": "integer", "name": "b"}, {"type": "float", "name": "c"}, {"type": "binary", "name": "d"}, {"type": "datetime", "name": "e"}]`,
		`[{"type": "array", "items": {"type": "object", "properties": {"content": {"type": "string", "required": true}, "role": {"type": "string", "required": false}}}, "name": "messages", "required": true}]`,
		`[{"type": "map", "values": {"type": "array", "items": {"type": "long"}}, "name": "m", "required": true}, {"type": "any", "name": "x", "required": false}]`,
		`[{"type": "sparkml_vector", "name": "v"}]`,
		`[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}, "name": "input"}]`,
		`[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]`,
		`[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1, 0, 3]}, "name": "a"}, {"type": "tensor", "tensor-spec": {"dtype": "str", "shape": []}, "name": "b"}]`,
		`[{"type": "tensor", "tensor-spec": {"dtype": "<U10", "shape": [-1]}}]`,
		`[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-2]}}]`,
		`[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [1.0]}}]`,
		`[{"type": "double", "name": "\u00e9\ud83d\ude00\u007f"}]`,
		`[{"type": "double", "name": "a"}, {"type": "double", "name": "a"}]`,
		`[{"type": "double", "name": "a"}] x`,
		`[]`, `null`, `[null]`, `{}`, `[{"type": "double", "name": null}]`, `[{"type": "double", "required": false}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSchema(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("ParseSchema accepted %q, which is not one JSON document", data)
		}
		out, err := s.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		s2, err := ParseSchema(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v (input %q)", out, err, data)
		}
		if diff := cmp.Diff(s, s2); diff != "" {
			t.Fatalf("round trip changed the schema (-parsed +re-parsed):\n%s\ninput: %s\nwritten: %s", diff, data, out)
		}
	})
}

// FuzzParseParamSchema: as FuzzParseSchema, for `signature.params`.
// Defaults are compared as the JSON values they decode to.
func FuzzParseParamSchema(f *testing.F) {
	for _, s := range []string{
		`[{"name": "temperature", "type": "float", "default": 0.5, "shape": null}]`,
		`[{"name": "temperature", "dtype": "float", "default": 0.5, "shape": null}]`,
		`[{"name": "n", "type": "long", "default": 1, "shape": [-1]}, {"name": "s", "type": "string", "default": "a\u00e9", "shape": null}]`,
		`[{"name": "b", "type": "boolean", "default": true}, {"name": "d", "type": "datetime", "default": "2024-01-01T00:00:00"}, {"name": "i", "type": "integer", "default": null}]`,
		`[{"name": "o", "type": "object", "properties": {"a": {"type": "double", "required": true}}, "default": {"a": 1.0}, "shape": null}]`,
		`[{"name": "o", "type": {"type": "object", "properties": {"a": {"type": "long", "required": false}}}, "default": {"a": 1}}]`,
		`[{"name": "x", "type": "double", "default": 1E+400}]`,
		`[{"name": "x", "type": "binary", "default": ""}]`, `[{"name": "x", "type": "array", "default": []}]`,
		`[{"name": "x", "type": "long", "default": 1, "shape": [2]}]`, `[{"name": "x"}]`, `[{"name": ""}]`,
		`[{"name": "x", "type": "long"}, {"name": "x", "type": "long"}]`,
		`[{"name": "x", "type": "long", "default": 1, "extra": 1}]`,
		`[]`, `null`, `[null]`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseParamSchema(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("ParseParamSchema accepted %q, which is not one JSON document", data)
		}
		out, err := p.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		p2, err := ParseParamSchema(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v (input %q)", out, err, data)
		}
		if diff := cmp.Diff(p, p2); diff != "" {
			t.Fatalf("round trip changed the params schema (-parsed +re-parsed):\n%s\ninput: %s\nwritten: %s", diff, data, out)
		}
	})
}
