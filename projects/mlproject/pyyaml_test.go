package mlproject

import (
	"encoding/json"
	"math"
	"os/exec"
	"strconv"
	"testing"

	"github.com/mlship/mlship/internal/testenv"
)

// defaultCases are YAML defaults and what MLflow substitutes for them:
// str() of what PyYAML 6 loads (checked against PyYAML by
// TestDefaultsMatchPyYAML).
var defaultCases = []struct{ yaml, want string }{
	{"0.10", "0.1"}, {"2.0", "2.0"}, {"1.50", "1.5"}, {".5", "0.5"}, {"1.", "1.0"}, {"0.", "0.0"}, {"-0.0", "-0.0"},
	{"100.0", "100.0"}, {"1.0e+3", "1000.0"}, {"1.0e+16", "1e+16"}, {"1.5e+16", "1.5e+16"}, {"123456789012345678.0", "1.2345678901234568e+17"},
	{"0.0001", "0.0001"}, {"0.00001", "1e-05"}, {"1_0.5_0", "10.5"}, {"09.5", "9.5"}, {"1:30.5", "90.5"},
	{".inf", "inf"}, {"-.Inf", "-inf"}, {"+.inf", "inf"}, {".NaN", "nan"}, {"1.0e+300", "1e+300"},
	{"10", "10"}, {"010", "8"}, {"00", "0"}, {"0x1F", "31"}, {"0b101", "5"}, {"1_000", "1000"}, {"+12", "12"}, {"-7", "-7"}, {"1:30", "90"},
	{"123456789012345678901234567890", "123456789012345678901234567890"},
	{"yes", "True"}, {"On", "True"}, {"TRUE", "True"}, {"no", "False"}, {"off", "False"}, {"False", "False"},
	// Strings to PyYAML: YAML 1.1 floats need a dot, and exponents a sign.
	{"1e3", "1e3"}, {"1e16", "1e16"}, {"1.0e3", "1.0e3"}, {"-.5", "-.5"}, {"08", "08"}, {"0o17", "0o17"}, {"0b", "0b"},
	{"y", "y"}, {"inf", "inf"}, {"abc", "abc"}, {"'0.10'", "0.10"}, {`"yes"`, "yes"}, {"!!str 010", "010"},
}

func TestDefaultsRenderedAsMLflow(t *testing.T) {
	for _, tc := range defaultCases {
		p, err := Parse([]byte("entry_points:\n  main:\n    parameters:\n      x: {type: string, default: " + tc.yaml + "}\n    command: echo {x}\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		if got := p.EntryPoints["main"].Parameters[0].Default; got != tc.want {
			t.Errorf("default: %s gives %q, want %q", tc.yaml, got, tc.want)
		}
	}
}

// TestDefaultsMatchPyYAML checks the table against PyYAML itself.
func TestDefaultsMatchPyYAML(t *testing.T) {
	if err := exec.Command("python3", "-c", "import yaml").Run(); err != nil {
		testenv.Missing(t, "python3 with PyYAML is not available")
	}
	var docs []string
	for _, tc := range defaultCases {
		docs = append(docs, "x: "+tc.yaml)
	}
	in, _ := json.Marshal(docs)
	out, err := exec.Command("python3", "-c", `import json, sys, yaml
print(json.dumps([str(yaml.safe_load(d)["x"]) for d in json.loads(sys.argv[1])]))`, string(in)).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for i, tc := range defaultCases {
		if got[i] != tc.want {
			t.Errorf("PyYAML: str(%s) = %q, the table says %q", tc.yaml, got[i], tc.want)
		}
	}
}

// FuzzPyFloatRepr: the text reads back as the same float.
func FuzzPyFloatRepr(f *testing.F) {
	for _, s := range []string{"0.1", "1e16", "1e-5", "123456789.0", "5e-324", "-0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := pyYAMLFloatValue(s)
		if !ok || v != v {
			return
		}
		r := PyFloatRepr(v)
		back, err := strconv.ParseFloat(r, 64)
		if err != nil || back != v || math.Signbit(back) != math.Signbit(v) {
			t.Fatalf("PyFloatRepr(%v) = %q reads back as %v", v, r, back)
		}
	})
}
