package scoring

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/mlship/mlship/internal/jsonarrow"
	"github.com/mlship/mlship/internal/jsonscan"
	"github.com/mlship/mlship/mlmodel"
)

// decodeParams reads the request's "params" object and applies the params
// schema as MLflow's _enforce_params_schema does: unknown keys are dropped
// (with a warning), absent ones take their default, values are converted
// where MLflow allows it (integer → long/float/double, long →
// float/double, float → double) and rejected otherwise. Without a params
// schema the params are ignored with a warning, as MLflow does.
func (d *Decoder) decodeParams(raw []byte) (map[string]any, []string, error) {
	s := jsonscan.New(raw)
	v, err := s.Value()
	if err != nil {
		return nil, nil, badRequest("Invalid input. Ensure that input is a valid JSON formatted string. Error: '%s'", err)
	}
	if v == nil {
		return nil, nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil, invalidInput("Parameters must be a dictionary. Got type '%s'.", pyValueType(v))
	}
	return enforceParams(d.Params, m)
}

// EnforceParams applies a params schema to parameters that arrived some
// other way than MLflow's "params" (the Open Inference Protocol's
// "parameters", already decoded to int64, float64, string and bool), with
// the same conversions, defaults, warnings and errors as /invocations.
func EnforceParams(schema *mlmodel.ParamSchema, params map[string]any) (map[string]any, []string, error) {
	m := make(map[string]any, len(params))
	for k, v := range params {
		switch x := v.(type) {
		case int64:
			v = jsonscan.Num{Raw: strconv.AppendInt(nil, x, 10), IsInt: true}
		case float64:
			v = floatNum(x)
		}
		m[k] = v
	}
	return enforceParams(schema, m)
}

func floatNum(f float64) jsonscan.Num {
	switch {
	case math.IsInf(f, 1):
		return jsonscan.Num{Raw: []byte("Infinity")}
	case math.IsInf(f, -1):
		return jsonscan.Num{Raw: []byte("-Infinity")}
	}
	return jsonscan.Num{Raw: strconv.AppendFloat(nil, f, 'g', -1, 64)}
}

func enforceParams(schema *mlmodel.ParamSchema, m map[string]any) (map[string]any, []string, error) {
	if schema == nil {
		if len(m) == 0 {
			return nil, nil, nil
		}
		keys := sortedKeys(m)
		return nil, []string{fmt.Sprintf("`params` can only be specified at inference time if the model signature defines a params schema. This model does not define a params schema. Ignoring provided params: %s", pyList(keys))}, nil
	}
	out := map[string]any{}
	var warnings []string
	var unknown []string
	for _, k := range sortedKeys(m) {
		if _, ok := schema.Lookup(k); !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		warnings = append(warnings, fmt.Sprintf("Unrecognized params %s are ignored for inference. Supported params are: %s.", pyList(unknown), pySet(paramNames(schema))))
	}
	invalid := map[string]string{}
	for _, spec := range schema.Params {
		val, present := m[spec.Name]
		if !present {
			out[spec.Name] = plain(spec.Default)
			continue
		}
		conv, err := convertParam(val, spec)
		if err != nil {
			invalid[spec.Name] = err.Error()
			continue
		}
		out[spec.Name] = conv
	}
	if len(invalid) > 0 {
		var parts []string
		for _, k := range sortedKeys(invalid) {
			parts = append(parts, fmt.Sprintf("'%s': '%s'", k, invalid[k]))
		}
		return nil, nil, invalidInput("Invalid parameters found: {%s}", strings.Join(parts, ", "))
	}
	return out, warnings, nil
}

// defaultParams is what a request without params runs with: MLflow's
// pyfunc predict enforces the params schema on None too, so the model
// always sees every declared param, defaulted.
func (d *Decoder) defaultParams() map[string]any {
	if d.Params == nil {
		return nil
	}
	out, _, _ := enforceParams(d.Params, nil)
	return out
}

func paramNames(p *mlmodel.ParamSchema) []string {
	var out []string
	for _, s := range p.Params {
		out = append(out, s.Name)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func convertParam(v any, spec mlmodel.ParamSpec) (any, error) {
	if v == nil {
		return nil, nil
	}
	if spec.Shape != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("Value must be a 1D array with shape (-1,) for param '%s': %s, received %s", spec.Name, spec.Type.Kind, pyValueType(v))
		}
		out := make([]any, len(list))
		for i, e := range list {
			c, err := convertScalarParam(e, spec)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out[i] = c
		}
		return out, nil
	}
	return convertScalarParam(v, spec)
}

func convertScalarParam(v any, spec mlmodel.ParamSpec) (any, error) {
	k := spec.Type.Kind
	if k == mlmodel.Object {
		if err := validateValue(v, spec.Type); err != nil {
			return nil, err
		}
		return plain(v), nil
	}
	switch v.(type) {
	case []any, map[string]any:
		return nil, fmt.Errorf("Value must be a scalar for type `%s`", k)
	}
	fail := func() error {
		return fmt.Errorf("Failed to convert value `%s` from type `%s` to `%s`", pyRepr(v), pyValueType(v), k)
	}
	switch k {
	case mlmodel.Boolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case mlmodel.Integer, mlmodel.Long:
		if n, ok := v.(jsonscan.Num); ok {
			if i, ok := n.Int(); ok {
				if k == mlmodel.Integer && (i < math.MinInt32 || i > math.MaxInt32) {
					return nil, fmt.Errorf("Value %d is out of range for type `integer`", i)
				}
				return i, nil
			}
		}
	case mlmodel.Float, mlmodel.Double:
		if n, ok := v.(jsonscan.Num); ok {
			f := n.Float()
			if k == mlmodel.Float {
				f = float64(float32(f))
			}
			return f, nil
		}
	case mlmodel.String:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case mlmodel.Datetime:
		if s, ok := v.(string); ok {
			if _, ok := jsonarrow.ParseTime(s); ok {
				return s, nil
			}
		}
	}
	return nil, fail()
}

// plain converts decoded JSON (with jsonscan.Num numbers) into plain Go
// values: int64 for integer tokens, float64 otherwise.
func plain(v any) any {
	switch x := v.(type) {
	case jsonscan.Num:
		if i, ok := x.Int(); ok {
			return i
		}
		return x.Float()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	case interface{ String() string }:
		// json.Number defaults from the MLmodel params schema
		s := x.String()
		return plain(mustNum(s))
	}
	return v
}

func mustNum(s string) any {
	sc := jsonscan.New([]byte(s))
	v, err := sc.Value()
	if err != nil {
		return s
	}
	return v
}

func pyValueType(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case jsonscan.Num:
		if x.IsInt {
			return "int"
		}
		return "float"
	case string:
		return "str"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

func pyRepr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case jsonscan.Num:
		return x.String()
	case bool:
		if x {
			return "True"
		}
		return "False"
	}
	return fmt.Sprint(v)
}
