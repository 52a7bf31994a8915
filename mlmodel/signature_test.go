package mlmodel

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSchemaJSON: schemas as MLflow releases wrote them parse, and write
// back byte for byte (json.dumps separators, MLflow's key order, the
// required/optional spelling they came with).
func TestSchemaJSON(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		check func(t *testing.T, s *Schema)
	}{
		{"2.10+ required", `[{"type": "double", "name": "a", "required": true}, {"type": "long", "name": "b", "required": false}]`,
			func(t *testing.T, s *Schema) {
				if !s.Columns[0].Required || s.Columns[1].Required || s.Columns[1].Spelling != SpellRequired {
					t.Errorf("columns = %+v", s.Columns)
				}
			}},
		{"2.4-2.9 optional", `[{"type": "double", "name": "a"}, {"type": "string", "name": "b", "optional": true}]`,
			func(t *testing.T, s *Schema) {
				if !s.Columns[0].Required || s.Columns[1].Required || s.Columns[1].Spelling != SpellOptional {
					t.Errorf("columns = %+v", s.Columns)
				}
			}},
		{"all scalar types", `[{"type": "boolean", "name": "a", "required": true}, {"type": "integer", "name": "b", "required": true}, {"type": "long", "name": "c", "required": true}, {"type": "float", "name": "d", "required": true}, {"type": "double", "name": "e", "required": true}, {"type": "string", "name": "f", "required": true}, {"type": "binary", "name": "g", "required": true}, {"type": "datetime", "name": "h", "required": true}]`,
			func(t *testing.T, s *Schema) {
				for _, c := range s.Columns {
					if !c.Type.Kind.IsScalar() {
						t.Errorf("%s not scalar", c.Type)
					}
				}
			}},
		{"unnamed", `[{"type": "double", "required": true}, {"type": "double", "required": true}]`,
			func(t *testing.T, s *Schema) {
				if s.HasNames() || s.Len() != 2 {
					t.Errorf("schema = %+v", s)
				}
			}},
		{"array of object", `[{"type": "array", "items": {"type": "object", "properties": {"content": {"type": "string", "required": true}, "role": {"type": "string", "required": false}}}, "name": "messages", "required": true}]`,
			func(t *testing.T, s *Schema) {
				it := s.Columns[0].Type.Items
				if it.Kind != Object || it.Properties[1].Name != "role" || it.Properties[1].Required {
					t.Errorf("items = %+v", it)
				}
			}},
		{"map and any", `[{"type": "map", "values": {"type": "array", "items": {"type": "long"}}, "name": "m", "required": true}, {"type": "any", "name": "x", "required": false}]`,
			func(t *testing.T, s *Schema) {
				if s.Columns[0].Type.Values.Items.Kind != Long || s.Columns[1].Type.Kind != AnyType {
					t.Errorf("schema = %+v", s.Columns)
				}
			}},
		{"nested object property", `[{"type": "object", "properties": {"a": {"type": "array", "items": {"type": "double"}, "required": true}, "b": {"type": "object", "properties": {"c": {"type": "binary", "required": false}}, "required": true}}, "name": "o", "required": true}]`,
			func(t *testing.T, s *Schema) {
				p := s.Columns[0].Type.Properties
				if p[0].Type.Items.Kind != Double || p[1].Type.Properties[0].Type.Kind != Binary {
					t.Errorf("properties = %+v", p)
				}
			}},
		{"sparkml vector", `[{"type": "sparkml_vector", "name": "features", "required": true}]`, nil},
		{"tensors", `[{"name": "image", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 28, 28]}}, {"name": "text", "type": "tensor", "tensor-spec": {"dtype": "str", "shape": [-1]}}]`,
			func(t *testing.T, s *Schema) {
				if !s.IsTensorBased() || !cmp.Equal(s.Tensors[0].Shape, []int64{-1, 28, 28}) || s.Tensors[1].DType != "str" {
					t.Errorf("tensors = %+v", s.Tensors)
				}
			}},
		{"unnamed tensor", `[{"type": "tensor", "tensor-spec": {"dtype": "uint8", "shape": [-1, 3, 224, 224]}}]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSchema([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
			got, _ := s.MarshalJSON()
			if string(got) != tt.json {
				t.Errorf("MarshalJSON:\n got %s\nwant %s", got, tt.json)
			}
			if !json.Valid(got) {
				t.Error("not valid JSON")
			}
		})
	}
}

// TestSchemaNoSpelling: files from MLflow <= 2.3 have neither key; a
// required column writes back without one, an optional one gets
// "required": false.
func TestSchemaNoSpelling(t *testing.T) {
	s, err := ParseSchema([]byte(`[{"type": "double", "name": "a"}]`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.MarshalJSON()
	if string(got) != `[{"type": "double", "name": "a"}]` {
		t.Errorf("got %s", got)
	}
	s.Columns[0].Required = false
	got, _ = s.MarshalJSON()
	if string(got) != `[{"type": "double", "name": "a", "required": false}]` {
		t.Errorf("got %s", got)
	}
}

func TestSchemaErrors(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"not json", `[{`, "not a JSON list"},
		{"not a list", `{"type": "double"}`, "not a JSON list"},
		{"empty", `[]`, "empty"},
		{"mixed", `[{"type": "double", "name": "a"}, {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}, "name": "b"}]`, "not both"},
		{"named and unnamed", `[{"type": "double", "name": "a"}, {"type": "double"}]`, "mix of named and unnamed"},
		{"two unnamed tensors", `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}, {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}]`, "multiple unnamed tensor"},
		{"unnamed optional", `[{"type": "double", "required": false}]`, "unnamed optional"},
		{"duplicate", `[{"type": "double", "name": "a"}, {"type": "long", "name": "a"}]`, "duplicate name"},
		{"unknown type", `[{"type": "decimal", "name": "a"}]`, `unsupported data type "decimal"`},
		{"sized dtype", `[{"type": "tensor", "tensor-spec": {"dtype": "<U10", "shape": [-1]}}]`, "sized flexible"},
		{"bad shape", `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-2]}}]`, "shape[0]"},
		{"fractional shape", `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [1.5]}}]`, "shape[0]"},
		{"array without items", `[{"type": "array", "name": "a"}]`, `"items"`},
		{"object without properties", `[{"type": "object", "name": "a", "properties": {}}]`, `"properties"`},
		{"unknown key", `[{"type": "double", "name": "a", "nullable": true}]`, `unknown key "nullable"`},
		{"both spellings", `[{"type": "double", "name": "a", "required": true, "optional": false}]`, "both"},
		{"required not bool", `[{"type": "double", "name": "a", "required": "yes"}]`, "true or false"},
		{"null element", `[null]`, "expected a JSON object"},
		{"trailing", `[{"type": "double"}] x`, "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSchema([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParamSchema(t *testing.T) {
	tests := []struct {
		name, json string
		check      func(t *testing.T, p *ParamSchema)
	}{
		{"current", `[{"name": "temperature", "type": "float", "default": 0.5, "shape": null}, {"name": "stop", "type": "string", "default": ["a", "b"], "shape": [-1]}, {"name": "n", "type": "long", "default": 1.0, "shape": null}]`,
			func(t *testing.T, p *ParamSchema) {
				s, ok := p.Lookup("stop")
				if !ok || s.Shape == nil || s.Type.Kind != String {
					t.Errorf("stop = %+v", s)
				}
				if n, _ := p.Lookup("n"); n.Default != json.Number("1.0") {
					t.Errorf("default spelling lost: %v", n.Default)
				}
			}},
		{"old dtype key", `[{"name": "k", "dtype": "long", "default": 3, "shape": null}]`,
			func(t *testing.T, p *ParamSchema) {
				if p.Params[0].TypeKey != "dtype" || p.Params[0].Type.Kind != Long {
					t.Errorf("param = %+v", p.Params[0])
				}
			}},
		{"datetime and null default", `[{"name": "when", "type": "datetime", "default": "2024-01-01T00:00:00", "shape": null}, {"name": "x", "type": "double", "default": null, "shape": null}]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseParamSchema([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
			got, _ := p.MarshalJSON()
			if string(got) != tt.json {
				t.Errorf("MarshalJSON:\n got %s\nwant %s", got, tt.json)
			}
		})
	}
	for _, bad := range []struct{ json, want string }{
		{`[{"name": "b", "type": "binary", "default": null, "shape": null}]`, "binary"},
		{`[{"name": "a", "type": "long"}, {"name": "a", "type": "long"}]`, "duplicated"},
		{`[{"type": "long"}]`, `"name"`},
		{`[{"name": "a"}]`, `"type"`},
		{`[{"name": "a", "type": "long", "shape": [2]}]`, "shape"},
		{`[{"name": "a", "type": "array", "items": {"type": "long"}}]`, "unsupported type"},
		{`[{"name": "a", "type": "long", "bogus": 1}]`, "unknown key"},
	} {
		if _, err := ParseParamSchema([]byte(bad.json)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want %q", bad.json, err, bad.want)
		}
	}
}
