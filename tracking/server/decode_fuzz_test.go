package server

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/tracking/artifacts"
)

var allSpecs = []*spec{createExperimentSpec, experimentIDSpec, getByNameSpec, searchExperimentsSpec,
	updateExperimentSpec, setExperimentTagSpec, deleteExperimentTagSpec, createRunSpec, runIDSpec,
	updateRunSpec, searchRunsSpec, logMetricSpec, keyValueSpec, deleteTagSpec, logBatchSpec, logModelSpec,
	logInputsSpec, metricHistorySpec, listArtifactsSpec, proxyListSpec}

// FuzzDecodeRequest feeds arbitrary bodies and query strings through every
// endpoint's decoding: it never panics, every refusal is a 400
// INVALID_PARAMETER_VALUE, and an accepted request's fields read back
// without panicking.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"run_id": "abc", "key": "m", "value": 1.5, "timestamp": 1, "step": 2}`,
		`{"run_id": "abc", "key": "m", "value": "NaN", "timestamp": "12"}`,
		`{"run_id": 5, "value": [1, {"a": null}], "timestamp": 1e400}`,
		`{"experiment_ids": [1, "2"], "max_results": "50001", "order_by": ["a", 3], "run_view_type": "ALL"}`,
		`{"metrics": [{"key": "a", "value": "x"}, 3], "params": [{}], "tags": "t"}`,
		`{"datasets": [{"tags": [{"key": 1}], "dataset": {"name": "d", "digest": 2}}]}`,
		`"{\"name\": \"double\"}"`, `[1,2]`, `null`, `{"name": "x"} trailing`, `{"status": 3, "end_time": -1.0}`,
		`{"value": "1_000.5e-3", "timestamp": " 12 ", "step": "1_0"}`, `{"value": "-inf", "view_type": 9}`,
		"run_id=a&run_id=b&max_results=abc&experiment_ids=1&experiment_ids=2&path=%2e%2e",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		q, qerr := url.ParseQuery(string(data))
		for _, sp := range allSpecs {
			check := func(r *request, err error) {
				if err != nil {
					ae, ok := err.(*apierr.Error)
					if !ok || ae.Code != apierr.InvalidParameterValue || ae.HTTPStatus() != 400 || ae.Message == "" {
						t.Fatalf("refusal %#v is not a 400 INVALID_PARAMETER_VALUE", err)
					}
					return
				}
				for _, fl := range sp.fields {
					_ = r.str(fl.name)
					_, _ = r.int64(fl.name)
					_ = r.float(fl.name)
					_ = r.strings(fl.name)
					for _, m := range r.objects(fl.name) {
						for _, sf := range fl.sub {
							_ = objStr(m, sf.name)
							_, _ = toInt64(m[sf.name])
							_, _ = toFloat(m[sf.name])
						}
					}
				}
				_ = r.runID()
			}
			r, err := validate(parseBody(data), sp)
			check(r, err)
			if qerr == nil {
				raw, err := queryValues(q, sp)
				if err == nil {
					r, err = validate(raw, sp)
				}
				check(r, err)
			}
		}
		// Python's repr of whatever was sent never panics, and str() of a
		// string is the string.
		if v, ok := decodeJSON(data); ok {
			_ = pyRepr(v)
			if s, isStr := v.(string); isStr && pyStr(s) != s {
				t.Fatalf("pyStr(%q) = %q", s, pyStr(s))
			}
		}
	})
}

func TestPyRepr(t *testing.T) {
	for _, tc := range []struct{ json, repr, typ string }{
		{`"abc"`, `'abc'`, "str"},
		{`"it's"`, `"it's"`, "str"},
		{`"a'b\"c"`, `'a\'b"c'`, "str"},
		{`"tab\there\n"`, `'tab\there\n'`, "str"},
		{`12`, `12`, "int"},
		{`-0`, `0`, "int"},
		{`123456789012345678901234567890`, `123456789012345678901234567890`, "int"},
		{`1.0`, `1.0`, "float"},
		{`1e5`, `100000.0`, "float"},
		{`1e400`, `inf`, "float"},
		{`0.1`, `0.1`, "float"},
		{`true`, `True`, "bool"},
		{`null`, `None`, "NoneType"},
		{`[1, "a", null, [false]]`, `[1, 'a', None, [False]]`, "list"},
		{`{"b": 1, "a": {"c": "d"}}`, `{'a': {'c': 'd'}, 'b': 1}`, "dict"},
	} {
		v, ok := decodeJSON([]byte(tc.json))
		if !ok {
			t.Fatalf("decoding %s", tc.json)
		}
		if got := pyRepr(v); got != tc.repr {
			t.Errorf("pyRepr(%s) = %s, want %s", tc.json, got, tc.repr)
		}
		if got := pyType(v); got != tc.typ {
			t.Errorf("pyType(%s) = %s, want %s", tc.json, got, tc.typ)
		}
	}
}

func TestPythonNumberStrings(t *testing.T) {
	for _, tc := range []struct {
		s              string
		isInt, isFloat bool
	}{
		{"12", true, true}, {" -12 ", true, true}, {"+7", true, true}, {"1_000", true, true},
		{"1__0", false, false}, {"_1", false, false}, {"1_", false, false}, {"1.5", false, true},
		{"1e3", false, true}, {".5", false, true}, {"5.", false, true}, {".", false, false},
		{"inf", false, true}, {"-Infinity", false, true}, {"nan", false, true}, {"0x10", false, false},
		{"1e", false, false}, {"", false, false}, {"abc", false, false}, {"1.5.2", false, false},
	} {
		if got := pyIntString(tc.s); got != tc.isInt {
			t.Errorf("pyIntString(%q) = %v", tc.s, got)
		}
		if _, got := pyFloatString(tc.s); got != tc.isFloat {
			t.Errorf("pyFloatString(%q) = %v", tc.s, got)
		}
	}
	// The double fields take json_format's spellings but refuse "nan".
	for s, ok := range map[string]bool{"NaN": true, "Infinity": true, "-Infinity": true, "nan": false, "2.5": true, "x": false} {
		if _, got := toFloat(s); got != ok {
			t.Errorf("toFloat(%q) = %v", s, got)
		}
	}
	for s, ok := range map[string]bool{"12": true, "1.0": false, " 12": false, "9223372036854775807": true, "9223372036854775808": false} {
		if _, got := toInt64(s); got != ok {
			t.Errorf("toInt64(%q) = %v", s, got)
		}
	}
	if n, ok := toInt64(json.Number("3.0")); !ok || n != 3 {
		t.Errorf("toInt64(3.0) = %d, %v", n, ok)
	}
	if _, ok := toInt64(json.Number("3.5")); ok {
		t.Errorf("toInt64(3.5) accepted")
	}
}

func TestProxiedPath(t *testing.T) {
	for uri, want := range map[string]string{
		"mlflow-artifacts:/1/abc/artifacts":                                   "1/abc/artifacts",
		"mlflow-artifacts://host:5000/1/abc/artifacts":                        "1/abc/artifacts",
		"mlflow-artifacts:1/abc":                                              "1/abc",
		"mlflow-artifacts:/":                                                  "",
		"http://host:5000/api/2.0/mlflow-artifacts/artifacts/2/def/artifacts": "2/def/artifacts",
		"https://proxy/mlflow/api/2.0/mlflow-artifacts/artifacts/2/def/a":     "2/def/a",
		"MLFLOW-ARTIFACTS:/x":                                                 "x",
	} {
		if got, ok := proxiedPath(uri); !ok || got != want {
			t.Errorf("proxiedPath(%q) = %q, %v; want %q", uri, got, ok, want)
		}
	}
	for _, uri := range []string{"/local/path", "file:///x", "s3://b/p", "http://host/other/path", "", "%zz"} {
		if got, ok := proxiedPath(uri); ok {
			t.Errorf("proxiedPath(%q) = %q, want not proxied", uri, got)
		}
	}
}

// FuzzProxiedPath: any artifact URI a client can set (through an
// experiment's artifact_location) resolves without panicking, never to an
// absolute path, and a clean path round-trips.
func FuzzProxiedPath(f *testing.F) {
	for _, s := range []string{"mlflow-artifacts:/1/a", "mlflow-artifacts://h/../x", "http://h/api/2.0/mlflow-artifacts/artifacts/%2e%2e", "s3://b/k", "mlflow-artifacts:%2F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		p, ok := proxiedPath(uri)
		if ok && strings.HasPrefix(p, "/") {
			t.Fatalf("proxiedPath(%q) = %q is absolute", uri, p)
		}
		if clean, err := artifacts.CleanPath(uri); err == nil && clean != "" && !strings.ContainsAny(clean, "?#%:") {
			if got, ok := proxiedPath("mlflow-artifacts:/" + clean); !ok || got != clean {
				t.Fatalf("mlflow-artifacts:/%s resolved to %q, %v", clean, got, ok)
			}
		}
	})
}
