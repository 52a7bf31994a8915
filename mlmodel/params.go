package mlmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mlship/mlship/internal/pyjson"
)

// ParamSchema lists the inference parameters a model accepts
// (`signature.params`, MLflow 2.6+).
type ParamSchema struct {
	Params []ParamSpec
}

// ParamSpec is one parameter: a scalar type or an object, a default, and a
// shape that is nil (a scalar) or [-1] (a 1-D list).
type ParamSpec struct {
	Name    string
	Type    Type
	Default any     // decoded JSON (numbers as json.Number), nil when null
	Shape   []int64 // nil: scalar; [-1]: list
	// TypeKey is the key the type was read from: "type" (current) or
	// "dtype" (older writers). Written back unchanged.
	TypeKey string
}

// Lookup returns the spec named name.
func (p *ParamSchema) Lookup(name string) (ParamSpec, bool) {
	if p == nil {
		return ParamSpec{}, false
	}
	for _, s := range p.Params {
		if s.Name == name {
			return s, true
		}
	}
	return ParamSpec{}, false
}

// ParseParamSchema parses the JSON form of `signature.params`.
func ParseParamSchema(data []byte) (*ParamSchema, error) {
	var items []map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&items); err != nil {
		return nil, fmt.Errorf("params schema is not a JSON list: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("params schema has trailing data after the JSON list")
	}
	ps := &ParamSchema{}
	seen := map[string]bool{}
	for i, it := range items {
		if it == nil {
			return nil, fmt.Errorf("param %d: expected a JSON object", i)
		}
		name, ok := it["name"].(string)
		if !ok || name == "" {
			return nil, fmt.Errorf("param %d: needs a string \"name\"", i)
		}
		if seen[name] {
			return nil, fmt.Errorf("duplicated names found in params schema: %q", name)
		}
		seen[name] = true
		spec := ParamSpec{Name: name, TypeKey: "type"}
		tv, hasType := it["type"]
		if !hasType {
			if dv, ok := it["dtype"]; ok {
				tv, spec.TypeKey = dv, "dtype"
			} else {
				return nil, fmt.Errorf("param %q: needs a \"type\" (or the older \"dtype\")", name)
			}
		}
		switch x := tv.(type) {
		case string:
			if k := Kind(x); !k.IsScalar() && k != Object {
				return nil, fmt.Errorf("param %q: unsupported type %q (params are scalars, lists of scalars via shape [-1], or objects)", name, x)
			}
			typeObj := map[string]any{"type": x}
			if p, ok := it["properties"]; ok {
				typeObj["properties"] = p
			}
			t, err := parseType(typeObj, "param", nil)
			if err != nil {
				return nil, fmt.Errorf("param %q: %w", name, err)
			}
			spec.Type = t
		case map[string]any:
			t, err := parseType(x, "param", nil)
			if err != nil {
				return nil, fmt.Errorf("param %q: %w", name, err)
			}
			spec.Type = t
		default:
			return nil, fmt.Errorf("param %q: type must be a string", name)
		}
		if spec.Type.Kind == Binary {
			return nil, fmt.Errorf("param %q: binary type is not supported for parameters", name)
		}
		if spec.Type.Kind != Object && !spec.Type.Kind.IsScalar() {
			return nil, fmt.Errorf("param %q: unsupported type %q", name, spec.Type.Kind)
		}
		spec.Default = it["default"]
		switch sh := it["shape"].(type) {
		case nil:
		case []any:
			if len(sh) != 1 || sh[0] != json.Number("-1") {
				return nil, fmt.Errorf("param %q: shape must be null or [-1]", name)
			}
			spec.Shape = []int64{-1}
		default:
			return nil, fmt.Errorf("param %q: shape must be null or [-1]", name)
		}
		for k := range it {
			switch k {
			case "name", "type", "dtype", "default", "shape", "properties":
			default:
				return nil, fmt.Errorf("param %q: unknown key %q", name, k)
			}
		}
		ps.Params = append(ps.Params, spec)
	}
	return ps, nil
}

// MarshalJSON writes the params schema as MLflow's json.dumps does.
func (p *ParamSchema) MarshalJSON() ([]byte, error) {
	return p.appendJSON(nil), nil
}

func (p *ParamSchema) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, s := range p.Params {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"name": `...)
		b = pyjson.AppendString(b, s.Name)
		key := s.TypeKey
		if key == "" {
			key = "type"
		}
		b = append(b, ", "...)
		b = pyjson.AppendString(b, key)
		b = append(b, ": "...)
		b = pyjson.AppendString(b, string(s.Type.Kind))
		if s.Type.Kind == Object {
			// properties as Object columns carry them
			obj := appendTypeFields(nil, s.Type)
			b = append(b, obj[len(`"type": "object"`):]...)
		}
		b = append(b, `, "default": `...)
		b = pyjson.AppendValue(b, s.Default)
		b = append(b, `, "shape": `...)
		if s.Shape == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, "[-1]"...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

var errNotJSONString = errors.New("expected a JSON string (or null)")
