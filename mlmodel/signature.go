package mlmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/mlship/mlship/internal/pyjson"
)

// Signature is a model's input, output and parameter schema. In MLmodel each
// part is stored as a JSON string (or null) under `signature:`.
type Signature struct {
	Inputs  *Schema      // nil: no input enforcement
	Outputs *Schema      // nil: outputs not described
	Params  *ParamSchema // nil: the model takes no params

	extra map[string]any // keys other than inputs/outputs/params, kept verbatim
}

// Kind names a column value type: one of the scalar data types or a
// composite type.
type Kind string

// Scalar data types (MLflow's DataType) and composite types (2.10+).
const (
	Boolean  Kind = "boolean"
	Integer  Kind = "integer"
	Long     Kind = "long"
	Float    Kind = "float"
	Double   Kind = "double"
	String   Kind = "string"
	Binary   Kind = "binary"
	Datetime Kind = "datetime"

	Array         Kind = "array"
	Object        Kind = "object"
	Map           Kind = "map"
	AnyType       Kind = "any"
	SparkMLVector Kind = "sparkml_vector"
)

// IsScalar reports whether k is one of MLflow's scalar DataTypes.
func (k Kind) IsScalar() bool {
	switch k {
	case Boolean, Integer, Long, Float, Double, String, Binary, Datetime:
		return true
	}
	return false
}

func (k Kind) valid() bool {
	switch k {
	case Array, Object, Map, AnyType, SparkMLVector:
		return true
	}
	return k.IsScalar()
}

// Type is a ColSpec type: a scalar kind, or an array (Items), object
// (Properties, sorted by name) or map (Values, string keys).
type Type struct {
	Kind       Kind
	Items      *Type
	Properties []Property
	Values     *Type
}

func (t Type) String() string {
	switch t.Kind {
	case Array:
		if t.Items != nil {
			return "Array(" + t.Items.String() + ")"
		}
	case Map:
		if t.Values != nil {
			return "Map(str -> " + t.Values.String() + ")"
		}
	case Object:
		parts := make([]string, len(t.Properties))
		for i, p := range t.Properties {
			req := ""
			if !p.Required {
				req = " (optional)"
			}
			parts[i] = p.Name + ": " + p.Type.String() + req
		}
		return "Object(" + strings.Join(parts, ", ") + ")"
	}
	return string(t.Kind)
}

// Property is one field of an Object type.
type Property struct {
	Name     string
	Type     Type
	Required bool
}

// Spelling records how a ColSpec said whether it is required: MLflow
// 2.4–2.9 wrote `"optional": true` (only for optional columns), 2.10+ write
// `"required"` always, ≤2.3 wrote neither. Newer MLflow cannot read
// `optional` and older MLflow cannot read `required`, so a round trip keeps
// the spelling it found.
type Spelling int

const (
	SpellRequired Spelling = iota // "required": true|false (MLflow ≥ 2.10; the default)
	SpellOptional                 // "optional": true on optional columns only (2.4–2.9)
	SpellNone                     // no key; every column required (≤ 2.3)
)

// ColSpec is a column of a column-based (DataFrame) schema.
type ColSpec struct {
	Name     string // "" when the schema is unnamed
	Type     Type
	Required bool
	Spelling Spelling
}

// TensorSpec is one tensor of a tensor-based schema. DType is a numpy dtype
// name; -1 in Shape is a variable dimension.
type TensorSpec struct {
	Name  string
	DType string
	Shape []int64
}

// Schema is either column-based (Columns) or tensor-based (Tensors), never
// both; MLflow rejects mixed schemas.
type Schema struct {
	Columns []ColSpec
	Tensors []TensorSpec
}

// IsTensorBased reports whether the schema lists TensorSpecs.
func (s *Schema) IsTensorBased() bool { return s != nil && len(s.Tensors) > 0 }

// Len is the number of columns or tensors.
func (s *Schema) Len() int {
	if s == nil {
		return 0
	}
	return len(s.Columns) + len(s.Tensors)
}

// HasNames reports whether the entries are named (schemas are all-named or
// all-unnamed).
func (s *Schema) HasNames() bool {
	if s == nil {
		return false
	}
	for _, c := range s.Columns {
		if c.Name != "" {
			return true
		}
	}
	for _, t := range s.Tensors {
		if t.Name != "" {
			return true
		}
	}
	return false
}

// Names returns the column or tensor names in schema order.
func (s *Schema) Names() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, c := range s.Columns {
		out = append(out, c.Name)
	}
	for _, t := range s.Tensors {
		out = append(out, t.Name)
	}
	return out
}

// numpy dtype names a TensorSpec may carry. Sized flexible types such as
// "<U10" are rejected, as MLflow rejects them.
var tensorDTypes = map[string]bool{
	"bool": true, "int8": true, "int16": true, "int32": true, "int64": true,
	"uint8": true, "uint16": true, "uint32": true, "uint64": true,
	"float16": true, "float32": true, "float64": true, "float128": true,
	"complex64": true, "complex128": true,
	"str": true, "bytes": true, "object": true,
	"datetime64[ns]": true, "datetime64[us]": true, "datetime64[ms]": true, "datetime64[s]": true,
	"timedelta64[ns]": true,
}

// ParseSchema parses the JSON form of a schema as stored in MLmodel.
func ParseSchema(data []byte) (*Schema, error) {
	var items []map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&items); err != nil {
		return nil, fmt.Errorf("schema is not a JSON list of specs: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("schema has trailing data after the JSON list")
	}
	if len(items) == 0 {
		return nil, errors.New("creating a schema with empty inputs is not allowed")
	}
	s := &Schema{}
	for i, it := range items {
		if it == nil {
			return nil, fmt.Errorf("spec %d: expected a JSON object", i)
		}
		if it["type"] == "tensor" {
			t, err := parseTensorSpec(it)
			if err != nil {
				return nil, fmt.Errorf("spec %d: %w", i, err)
			}
			s.Tensors = append(s.Tensors, t)
			continue
		}
		c, err := parseColSpec(it)
		if err != nil {
			return nil, fmt.Errorf("spec %d: %w", i, err)
		}
		s.Columns = append(s.Columns, c)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate applies MLflow's schema rules.
func (s *Schema) Validate() error {
	if s.Len() == 0 {
		return errors.New("creating a schema with empty inputs is not allowed")
	}
	if len(s.Columns) > 0 && len(s.Tensors) > 0 {
		return errors.New("please choose either column-based or tensor-based specs, not both")
	}
	named, unnamed := 0, 0
	for _, n := range s.Names() {
		if n == "" {
			unnamed++
		} else {
			named++
		}
	}
	if named > 0 && unnamed > 0 {
		return errors.New("creating a schema with a mix of named and unnamed entries is not allowed")
	}
	if unnamed > 1 && len(s.Tensors) > 0 {
		return errors.New("creating a schema with multiple unnamed tensor specs is not supported")
	}
	seen := map[string]bool{}
	for _, n := range s.Names() {
		if n == "" {
			continue
		}
		if seen[n] {
			return fmt.Errorf("duplicate name %q in schema", n)
		}
		seen[n] = true
	}
	for _, c := range s.Columns {
		if c.Name == "" && !c.Required {
			return errors.New("creating a schema with unnamed optional columns is not supported")
		}
	}
	return nil
}

func parseTensorSpec(m map[string]any) (TensorSpec, error) {
	var t TensorSpec
	for k := range m {
		switch k {
		case "type", "tensor-spec", "name":
		default:
			return t, fmt.Errorf("unknown key %q in tensor spec", k)
		}
	}
	if n, ok := m["name"]; ok && n != nil {
		s, ok := n.(string)
		if !ok {
			return t, errors.New(`tensor spec "name" must be a string`)
		}
		t.Name = s
	}
	ts, ok := m["tensor-spec"].(map[string]any)
	if !ok {
		return t, errors.New(`tensor spec needs a "tensor-spec" object with "dtype" and "shape"`)
	}
	dt, ok := ts["dtype"].(string)
	if !ok {
		return t, errors.New(`tensor spec needs a string "dtype"`)
	}
	if !tensorDTypes[dt] {
		return t, fmt.Errorf("unsupported tensor dtype %q (sized flexible types like <U10 are not allowed)", dt)
	}
	t.DType = dt
	shape, ok := ts["shape"].([]any)
	if !ok {
		return t, errors.New(`tensor spec needs a "shape" list`)
	}
	t.Shape = make([]int64, len(shape))
	for i, d := range shape {
		num, ok := d.(json.Number)
		if !ok {
			return t, fmt.Errorf("shape[%d] is not an integer", i)
		}
		v, err := num.Int64()
		if err != nil || v < -1 {
			return t, fmt.Errorf("shape[%d] = %s is not a dimension (a size or -1)", i, num)
		}
		t.Shape[i] = v
	}
	return t, nil
}

func parseColSpec(m map[string]any) (ColSpec, error) {
	c := ColSpec{Required: true, Spelling: SpellNone}
	if n, ok := m["name"]; ok && n != nil {
		s, ok := n.(string)
		if !ok {
			return c, errors.New(`column spec "name" must be a string`)
		}
		c.Name = s
	}
	_, hasReq := m["required"]
	_, hasOpt := m["optional"]
	if hasReq && hasOpt {
		return c, errors.New(`column spec has both "required" and "optional"`)
	}
	if hasReq {
		b, ok := m["required"].(bool)
		if !ok {
			return c, errors.New(`"required" must be true or false`)
		}
		c.Required, c.Spelling = b, SpellRequired
	}
	if hasOpt {
		b, ok := m["optional"].(bool)
		if !ok {
			return c, errors.New(`"optional" must be true or false`)
		}
		// 2.4–2.9 wrote the key only on optional columns; "optional": false
		// reads as the key's absence (required), which is how it writes back.
		c.Required, c.Spelling = !b, SpellNone
		if b {
			c.Spelling = SpellOptional
		}
	}
	t, err := parseType(m, "column spec", map[string]bool{"name": true, "required": true, "optional": true})
	if err != nil {
		if c.Name != "" {
			return c, fmt.Errorf("column %q: %w", c.Name, err)
		}
		return c, err
	}
	c.Type = t
	return c, nil
}

// parseType reads {"type": ..., "items"|"properties"|"values": ...}.
// allowed lists the extra keys the enclosing object may carry.
func parseType(m map[string]any, what string, allowed map[string]bool) (Type, error) {
	var t Type
	name, ok := m["type"].(string)
	if !ok {
		return t, fmt.Errorf(`%s needs a string "type"`, what)
	}
	t.Kind = Kind(name)
	if !t.Kind.valid() {
		return t, fmt.Errorf("unsupported data type %q", name)
	}
	for k := range m {
		switch {
		case k == "type" || allowed[k]:
		case k == "items" && t.Kind == Array, k == "properties" && t.Kind == Object, k == "values" && t.Kind == Map:
		default:
			return t, fmt.Errorf("unknown key %q in %s of type %q", k, what, name)
		}
	}
	switch t.Kind {
	case Array:
		im, ok := m["items"].(map[string]any)
		if !ok {
			return t, errors.New(`array type needs an "items" object`)
		}
		it, err := parseType(im, "array items", nil)
		if err != nil {
			return t, fmt.Errorf("array items: %w", err)
		}
		t.Items = &it
	case Map:
		vm, ok := m["values"].(map[string]any)
		if !ok {
			return t, errors.New(`map type needs a "values" object`)
		}
		vt, err := parseType(vm, "map values", nil)
		if err != nil {
			return t, fmt.Errorf("map values: %w", err)
		}
		t.Values = &vt
	case Object:
		pm, ok := m["properties"].(map[string]any)
		if !ok || len(pm) == 0 {
			return t, errors.New(`object type needs a non-empty "properties" object`)
		}
		names := make([]string, 0, len(pm))
		for k := range pm {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, pn := range names {
			spec, ok := pm[pn].(map[string]any)
			if !ok {
				return t, fmt.Errorf("property %q must be an object", pn)
			}
			p := Property{Name: pn, Required: true}
			if r, ok := spec["required"]; ok {
				b, ok := r.(bool)
				if !ok {
					return t, fmt.Errorf(`property %q: "required" must be true or false`, pn)
				}
				p.Required = b
			}
			pt, err := parseType(spec, "property", map[string]bool{"required": true})
			if err != nil {
				return t, fmt.Errorf("property %q: %w", pn, err)
			}
			p.Type = pt
			t.Properties = append(t.Properties, p)
		}
	}
	return t, nil
}

// MarshalJSON writes the schema exactly as MLflow's json.dumps does.
func (s *Schema) MarshalJSON() ([]byte, error) {
	return s.appendJSON(nil), nil
}

func (s *Schema) appendJSON(b []byte) []byte {
	b = append(b, '[')
	first := true
	sep := func() {
		if !first {
			b = append(b, ", "...)
		}
		first = false
	}
	for _, c := range s.Columns {
		sep()
		b = append(b, '{')
		b = appendTypeFields(b, c.Type)
		if c.Name != "" {
			b = append(b, `, "name": `...)
			b = pyjson.AppendString(b, c.Name)
		}
		switch c.Spelling {
		case SpellRequired:
			b = appendBoolField(b, "required", c.Required)
		case SpellOptional:
			if !c.Required {
				b = appendBoolField(b, "optional", true)
			}
		case SpellNone:
			if !c.Required {
				b = appendBoolField(b, "required", false)
			}
		}
		b = append(b, '}')
	}
	for _, t := range s.Tensors {
		sep()
		// TensorSpec.to_dict puts the name first (ColSpec puts it after the
		// type).
		b = append(b, '{')
		if t.Name != "" {
			b = append(b, `"name": `...)
			b = pyjson.AppendString(b, t.Name)
			b = append(b, ", "...)
		}
		b = append(b, `"type": "tensor", "tensor-spec": {"dtype": `...)
		b = pyjson.AppendString(b, t.DType)
		b = append(b, `, "shape": [`...)
		for i, d := range t.Shape {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = fmt.Appendf(b, "%d", d)
		}
		b = append(b, "]}}"...)
	}
	return append(b, ']')
}

func appendBoolField(b []byte, key string, v bool) []byte {
	b = append(b, ", "...)
	b = pyjson.AppendString(b, key)
	if v {
		return append(b, ": true"...)
	}
	return append(b, ": false"...)
}

// appendTypeFields writes `"type": ...` plus the type-specific key, without
// braces, in MLflow's key order.
func appendTypeFields(b []byte, t Type) []byte {
	b = append(b, `"type": `...)
	b = pyjson.AppendString(b, string(t.Kind))
	switch t.Kind {
	case Array:
		b = append(b, `, "items": {`...)
		if t.Items != nil {
			b = appendTypeFields(b, *t.Items)
		}
		b = append(b, '}')
	case Map:
		b = append(b, `, "values": {`...)
		if t.Values != nil {
			b = appendTypeFields(b, *t.Values)
		}
		b = append(b, '}')
	case Object:
		b = append(b, `, "properties": {`...)
		for i, p := range t.Properties {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = pyjson.AppendString(b, p.Name)
			b = append(b, ": {"...)
			b = appendTypeFields(b, p.Type)
			b = appendBoolField(b, "required", p.Required)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return b
}
