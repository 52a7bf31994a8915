package depcheck

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const mod = "github.com/mlship/mlship"

// fakeGraph is a module shaped like mlship today, with module-relative
// names for brevity; extra edges are added on top of it.
func fakeGraph(extra map[string][]string) *Graph {
	edges := map[string][]string{
		"cmd/mlship":      {"internal/cli", "os"},
		"internal/cli":    {"flavors", "flavors/builtin", "mlmodel", "serve", "github.com/spf13/cobra"},
		"flavors/builtin": {"flavors/onnx"},
		"flavors/onnx":    {"flavors", "columnar", "mlmodel", "github.com/yalue/onnxruntime_go"},
		"flavors":         {"columnar", "mlmodel", "context"},
		"serve":           {"flavors", "mlmodel", "serve/scoring", "internal/apierr", "github.com/labstack/echo/v4"},
		"serve/scoring":   {"columnar", "mlmodel", "internal/apierr", "internal/pyjson"},
		"internal/apierr": {"internal/pyjson"},
		"internal/pyjson": {"encoding/json"},
		"mlmodel":         {"internal/pyjson", "go.yaml.in/yaml/v3"},
		"columnar":        {"github.com/apache/arrow-go/v18/arrow"},
	}
	for p, deps := range extra {
		edges[p] = append(edges[p], deps...)
	}
	full := map[string][]string{}
	abs := func(p string) string {
		if first := strings.Split(p, "/")[0]; strings.Contains(first, ".") || std[first] {
			return p
		}
		return mod + "/" + p
	}
	for p, deps := range edges {
		var ds []string
		for _, d := range deps {
			ds = append(ds, abs(d))
		}
		full[abs(p)] = ds
	}
	return NewGraph(mod, full)
}

// std holds the first elements of the standard library paths fakeGraph uses.
var std = map[string]bool{"os": true, "context": true, "encoding": true, "testing": true}

func TestLayeringOnFakeGraph(t *testing.T) {
	tests := []struct {
		name    string
		extra   map[string][]string
		pattern string
		want    []string // "pkg -> dep" of each violation, in order
	}{
		{name: "today's layout is clean", pattern: "..."},
		{
			// The case the brief names: serve must see only the interface.
			name:    "serve imports a concrete flavor",
			extra:   map[string][]string{"serve": {"flavors/onnx"}},
			pattern: "serve/...",
			want:    []string{"serve -> flavors/onnx"},
		},
		{
			// Laundering through an allowed package is still caught, on both.
			name:    "serve reaches a flavor through internal",
			extra:   map[string][]string{"serve/scoring": {"internal/glue"}, "internal/glue": {"flavors/builtin"}},
			pattern: "...",
			want: []string{
				"internal/glue -> flavors", "internal/glue -> flavors/builtin", "internal/glue -> flavors/onnx",
				"serve -> flavors/builtin", "serve -> flavors/onnx",
				"serve/scoring -> flavors/builtin", "serve/scoring -> flavors/onnx",
			},
		},
		{
			name:    "flavors import one another",
			extra:   map[string][]string{"flavors/onnx": {"flavors/pyfunc"}, "flavors/pyfunc": {"flavors"}},
			pattern: "flavors/...",
			want:    []string{"flavors/onnx -> flavors/pyfunc"},
		},
		{
			name:    "a flavor may use its own sub-packages, builtin may gather all",
			extra:   map[string][]string{"flavors/onnx": {"flavors/onnx/internal/ops"}, "flavors/builtin": {"flavors/pyfunc"}, "flavors/pyfunc": {"internal/proc"}},
			pattern: "...",
		},
		{
			name:    "flavors does not import its implementations",
			extra:   map[string][]string{"flavors": {"flavors/onnx"}},
			pattern: "flavors",
			want:    []string{"flavors -> flavors/onnx"},
		},
		{
			name:    "leaves stay leaves",
			extra:   map[string][]string{"mlmodel": {"columnar"}, "columnar": {"internal/pyjson"}},
			pattern: "...",
			want:    []string{"columnar -> internal/pyjson", "mlmodel -> columnar"},
		},
		{
			name:    "only cmd/mlship imports the CLI",
			extra:   map[string][]string{"flavors/onnx": {"internal/cli"}},
			pattern: "flavors/onnx",
			want: []string{
				// The Confine names the offence; the Rule lists what
				// internal/cli drags in.
				"flavors/onnx -> flavors/builtin", "flavors/onnx -> serve", "flavors/onnx -> serve/scoring",
				"flavors/onnx -> internal/cli",
			},
		},
		{
			name:    "internal packages do not import the CLI either",
			extra:   map[string][]string{"internal/apierr": {"internal/cli"}},
			pattern: "internal/apierr",
			want: []string{
				"internal/apierr -> flavors", "internal/apierr -> flavors/builtin", "internal/apierr -> flavors/onnx", "internal/apierr -> serve", "internal/apierr -> serve/scoring",
				"internal/apierr -> internal/cli",
			},
		},
		{
			name:    "test helpers stay out of binaries",
			extra:   map[string][]string{"flavors/onnx": {"flavors/flavortest"}, "flavors/flavortest": {"flavors", "testing"}},
			pattern: "...",
			// Both as a sibling flavor (Rule) and as a test helper (Confine).
			want: []string{"flavors/onnx -> flavors/flavortest", "flavors/onnx -> flavors/flavortest"},
		},
		{
			name:    "cgo and echo stay where they belong",
			extra:   map[string][]string{"serve/scoring": {"github.com/labstack/echo/v4"}, "flavors": {"github.com/yalue/onnxruntime_go"}},
			pattern: "...",
			want:    []string{"flavors -> github.com/yalue/onnxruntime_go", "serve/scoring -> github.com/labstack/echo/v4"},
		},
		{
			// A package nobody wrote a rule for is reported, not waved through.
			name:    "new package without a rule",
			extra:   map[string][]string{"widgets": {"mlmodel"}},
			pattern: "...",
			want:    []string{"widgets -> "},
		},
		{
			// Future packages already have their line.
			name:    "tracking imports nothing of ours but mlmodel",
			extra:   map[string][]string{"tracking": {"mlmodel"}, "tracking/rest": {"tracking", "internal/apierr"}},
			pattern: "tracking/...",
			want:    []string{"tracking/rest -> internal/apierr"},
		},
		{
			name:    "pack never imports serve",
			extra:   map[string][]string{"pack": {"mlmodel", "serve"}},
			pattern: "pack/...",
			want:    []string{"pack -> flavors", "pack -> serve", "pack -> serve/scoring"},
		},
		{
			// The pattern limits which packages are checked, not the graph.
			name:    "pattern scopes the check",
			extra:   map[string][]string{"mlmodel": {"columnar"}},
			pattern: "serve/...",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, v := range Layering.Check(fakeGraph(tt.extra), tt.pattern) {
				got = append(got, v.Pkg+" -> "+v.Dep)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestViolationExplains(t *testing.T) {
	// The message must say how the dependency arises and which rule it
	// breaks, or whoever trips it cannot act on it.
	g := fakeGraph(map[string][]string{"serve/scoring": {"internal/glue"}, "internal/glue": {"flavors/onnx"}})
	var msg string
	for _, v := range Layering.Check(g, "serve") {
		if v.Dep == "flavors/onnx" {
			msg = v.String()
		}
	}
	for _, want := range []string{"serve -> serve/scoring -> internal/glue -> flavors/onnx", `rule "serve/..."`, "flavors"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestMostSpecificRuleGoverns(t *testing.T) {
	pol := Policy{Rules: []Rule{
		{Pkgs: "...", Allow: []string{"..."}},
		{Pkgs: "a/...", Allow: []string{"b"}},
		{Pkgs: "a", Allow: []string{"c"}},
		{Pkgs: "a/x/..."},
	}}
	g := NewGraph(mod, map[string][]string{mod + "/z": nil})
	for pkg, want := range map[string]string{"a": "a", "a/y": "a/...", "a/x": "a/x/...", "a/x/q": "a/x/...", "ab": "...", "z": "..."} {
		r, ok := pol.governing(g, mod+"/"+pkg)
		if !ok || r.Pkgs != want {
			t.Errorf("%s governed by %q, want %q", pkg, r.Pkgs, want)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"m/a", "m/a", true},
		{"m/a", "m/a/b", false},
		{"m/a/...", "m/a", true},
		{"m/a/...", "m/a/b/c", true},
		{"m/a/...", "m/ab", false}, // a prefix of a name is not a parent
		{"m/...", "m", true},
	}
	for _, tt := range tests {
		if got := match(tt.pattern, tt.path); got != tt.want {
			t.Errorf("match(%q, %q) = %v", tt.pattern, tt.path, got)
		}
	}
}

func TestParseList(t *testing.T) {
	const out = `{"ImportPath": "fmt", "Imports": ["errors"]}
{"ImportPath": "errors"}
{"ImportPath": "example.com/m/a", "Imports": ["fmt", "example.com/m/b"], "Module": {"Path": "example.com/m", "Main": true}}
{"ImportPath": "example.com/m/b", "Module": {"Path": "example.com/m", "Main": true}}
`
	g, err := parseList(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if g.Module != "example.com/m" {
		t.Errorf("module = %q", g.Module)
	}
	if diff := cmp.Diff([]string{"errors", "example.com/m/b", "fmt"}, g.deps("example.com/m/a")); diff != "" {
		t.Errorf("deps (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"example.com/m/a", "example.com/m/b"}, g.Packages("...")); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}

	// A package go list could not load would hide its imports: refuse it.
	_, err = parseList(strings.NewReader(`{"ImportPath": "example.com/m/c", "Module": {"Path": "example.com/m", "Main": true}, "Error": {"Err": "no Go files"}}`))
	if err == nil || !strings.Contains(err.Error(), "no Go files") {
		t.Errorf("error = %v, want the package's load error", err)
	}
}

// TestModule checks the whole module, so a package without its own
// deps_test.go is still held to Layering.
func TestModule(t *testing.T) {
	Layering.Assert(t, "...")
}

func TestLoadSeesTheModule(t *testing.T) {
	// Guard against a graph that is silently empty or wrong: the real
	// edges the rules are about must be there.
	g, err := Load(t.Context(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if g.Module != mod {
		t.Fatalf("module = %q", g.Module)
	}
	for _, edge := range [][2]string{{"serve", "flavors"}, {"flavors/onnx", "flavors"}, {"cmd/mlship", "internal/cli"}} {
		if p := g.path(mod+"/"+edge[0], mod+"/"+edge[1]); p == nil {
			t.Errorf("graph has no path %s -> %s", edge[0], edge[1])
		}
	}
}

// recorder is a testing.TB that records failures instead of failing the
// test running it.
type recorder struct {
	testing.TB
	errors []string
	fatal  bool
}

func (r *recorder) Helper() {}
func (r *recorder) Error(args ...any) {
	r.errors = append(r.errors, strings.TrimSpace(fmt.Sprint(args...)))
}
func (r *recorder) Errorf(f string, a ...any) { r.Error(fmt.Sprintf(f, a...)) }
func (r *recorder) Fatal(args ...any)         { r.Error(args...); r.fatal = true; runtime.Goexit() }
func (r *recorder) Fatalf(f string, a ...any) { r.Fatal(fmt.Sprintf(f, a...)) }

func runRecorded(t *testing.T, f func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r
}

func TestAssertRejectsEmptyPattern(t *testing.T) {
	// A typo in a deps test must not turn it into a test of nothing.
	r := runRecorded(t, func(tb testing.TB) { Layering.Assert(tb, "no/such/pkg") })
	if !r.fatal || len(r.errors) != 1 || !strings.Contains(r.errors[0], "matches no package") {
		t.Errorf("recorded %v (fatal %v), want a fatal 'matches no package'", r.errors, r.fatal)
	}
}

func TestAssertReportsViolations(t *testing.T) {
	// Assert must turn each violation into a test error; an Assert that
	// checked but never reported would pass everything.
	pol := Policy{Rules: []Rule{{Pkgs: "..."}}} // nothing may depend on anything of ours
	r := runRecorded(t, func(tb testing.TB) { pol.Assert(tb, "serve") })
	if r.fatal || len(r.errors) == 0 {
		t.Fatalf("recorded %v (fatal %v), want errors", r.errors, r.fatal)
	}
	if !strings.Contains(strings.Join(r.errors, "\n"), "serve depends on flavors") {
		t.Errorf("errors %v do not mention serve -> flavors", r.errors)
	}
}
