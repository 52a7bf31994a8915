package scoring

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/internal/apierr"
)

const paramSchema = `[{"name": "temperature", "type": "float", "default": 0.5, "shape": null}, {"name": "k", "type": "long", "default": 3, "shape": null}, {"name": "n", "type": "integer", "default": 1, "shape": null}, {"name": "stop", "type": "string", "default": ["."], "shape": [-1]}, {"name": "greedy", "type": "boolean", "default": false, "shape": null}, {"name": "when", "type": "datetime", "default": null, "shape": null}, {"name": "ratio", "type": "double", "default": 1.0, "shape": null}]`

func TestParams(t *testing.T) {
	tests := []struct {
		name    string
		params  string
		want    map[string]any
		warning string
		msg     string // error substring
	}{
		{name: "defaults fill in", params: `{}`,
			want: map[string]any{"temperature": 0.5, "k": int64(3), "n": int64(1), "stop": []any{"."}, "greedy": false, "when": nil, "ratio": 1.0}},
		{name: "conversions MLflow allows", params: `{"temperature": 1, "k": 7, "ratio": 2, "stop": ["a", "b"], "greedy": true, "when": "2024-01-02T03:04:05"}`,
			want: map[string]any{"temperature": 1.0, "k": int64(7), "n": int64(1), "stop": []any{"a", "b"}, "greedy": true, "when": "2024-01-02T03:04:05", "ratio": 2.0}},
		{name: "float param rounds to float32", params: `{"temperature": 0.1}`,
			want: map[string]any{"temperature": float64(float32(0.1)), "k": int64(3), "n": int64(1), "stop": []any{"."}, "greedy": false, "when": nil, "ratio": 1.0}},
		{name: "unknown params dropped with a warning", params: `{"top_p": 0.9}`,
			want:    map[string]any{"temperature": 0.5, "k": int64(3), "n": int64(1), "stop": []any{"."}, "greedy": false, "when": nil, "ratio": 1.0},
			warning: "Unrecognized params ['top_p'] are ignored for inference."},
		{name: "float for long", params: `{"k": 1.5}`, msg: "'k': 'Failed to convert value `1.5` from type `float` to `long`'"},
		{name: "string for double", params: `{"ratio": "x"}`, msg: "from type `str` to `double`"},
		{name: "list for scalar", params: `{"k": [1]}`, msg: "Value must be a scalar for type `long`"},
		{name: "scalar for list", params: `{"stop": "x"}`, msg: "Value must be a 1D array with shape (-1,)"},
		{name: "integer out of range", params: `{"n": 3000000000}`, msg: "out of range for type `integer`"},
		{name: "bad datetime", params: `{"when": "yesterday"}`, msg: "to `datetime`"},
		{name: "several errors sorted", params: `{"k": "a", "greedy": 1}`, msg: "Invalid parameters found: {'greedy': 'Failed to convert value `1` from type `int` to `boolean`', 'k': "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Decoder{Params: params(t, paramSchema)}
			req, err := d.DecodeJSON([]byte(`{"inputs": [1], "params": ` + tt.params + `}`))
			if tt.msg != "" {
				ae, ok := apierr.As(err)
				if !ok || ae.Code != apierr.InvalidParameterValue || !strings.Contains(ae.Message, tt.msg) {
					t.Fatalf("error = %v, want INVALID_PARAMETER_VALUE containing %q", err, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer req.Release()
			if diff := cmp.Diff(tt.want, req.Params); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
			if tt.warning != "" && (len(req.Warnings) != 1 || !strings.Contains(req.Warnings[0], tt.warning)) {
				t.Errorf("warnings = %q, want %q", req.Warnings, tt.warning)
			}
		})
	}
}

// Without a params schema MLflow ignores params (with a warning) and still
// answers 200.
func TestParamsWithoutSchema(t *testing.T) {
	d := &Decoder{}
	req, err := d.DecodeJSON([]byte(`{"inputs": [1], "params": {"k": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer req.Release()
	if req.Params != nil || len(req.Warnings) != 1 || !strings.Contains(req.Warnings[0], "does not define a params schema. Ignoring provided params: ['k']") {
		t.Fatalf("params %v, warnings %q", req.Params, req.Warnings)
	}
	req2, err := d.DecodeJSON([]byte(`{"inputs": [1], "params": null}`))
	if err != nil || req2.Params != nil || req2.Warnings != nil {
		t.Fatalf("null params: %v %v %v", err, req2.Params, req2.Warnings)
	}
	req2.Release()
}
