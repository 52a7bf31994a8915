package server_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden transcripts with the server's answers")

// TestGolden replays the transcripts in testdata/golden against a fresh
// server each: every request, and the exact status and JSON answer. A
// transcript is a sequence of
//
//	METHOD PATH
//	optional JSON body
//	--> STATUS
//	expected JSON answer
//
// In an answer, "{{name}}" binds name to the value found there on first
// use and must match it after; requests may use {{name}} too. "<any>"
// matches anything (times). With -update the answers are rewritten from
// the server's, keeping the placeholders where they were.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.txt")
	if len(files) == 0 {
		t.Fatal("no transcripts")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			steps := parseTranscript(t, string(src))
			e := newEnv(t, nil)
			vars := map[string]any{}
			var out strings.Builder
			out.WriteString(steps[0].preamble)
			for _, st := range steps {
				path, body := expand(st.path, vars), expand(st.body, vars)
				var b []byte
				if body != "" {
					b = []byte(body)
				}
				r := e.do(st.method, path, "", b)
				var got any
				if err := json.Unmarshal(r.body, &got); err != nil {
					t.Fatalf("%s %s: answer %q is not JSON", st.method, path, r.body)
				}
				var want any
				if err := json.Unmarshal([]byte(st.want), &want); err != nil {
					t.Fatalf("%s %s: bad expected JSON %q: %v", st.method, st.path, st.want, err)
				}
				if *update {
					fmt.Fprintf(&out, "%s %s\n", st.method, st.path)
					if st.body != "" {
						out.WriteString(st.body + "\n")
					}
					bindAll(want, got, vars)
					var merged bytes.Buffer
					enc := json.NewEncoder(&merged)
					enc.SetEscapeHTML(false)
					enc.SetIndent("", "  ")
					_ = enc.Encode(keepPlaceholders(want, got, vars))
					fmt.Fprintf(&out, "--> %d\n%s%s", r.status, merged.Bytes(), st.trailer)
					continue
				}
				if r.status != st.status {
					t.Fatalf("%s %s: status %d, want %d: %s", st.method, path, r.status, st.status, r.body)
				}
				bindAll(want, got, vars) // whole-value placeholders first: templates may use them
				if p, ok := matchVars(got, want, "$", vars); !ok {
					t.Fatalf("%s %s: answer differs at %s:\n got  %s\n want %s", st.method, path, p, r.body, st.want)
				}
			}
			if *update {
				if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

type step struct {
	preamble     string // comments before the first step
	method, path string
	body         string
	status       int
	want         string
	trailer      string // blank lines and comments after the answer
}

var requestLine = regexp.MustCompile(`^(GET|POST|PUT|DELETE) (/\S*)$`)

func parseTranscript(t *testing.T, src string) []step {
	var steps []step
	var pre strings.Builder
	lines := strings.Split(src, "\n")
	i := 0
	for ; i < len(lines) && !requestLine.MatchString(lines[i]); i++ {
		pre.WriteString(lines[i] + "\n")
	}
	for i < len(lines) {
		m := requestLine.FindStringSubmatch(lines[i])
		if m == nil {
			t.Fatalf("line %d: want a request line, got %q", i+1, lines[i])
		}
		st := step{method: m[1], path: m[2]}
		i++
		var body []string
		for ; i < len(lines) && !strings.HasPrefix(lines[i], "--> "); i++ {
			body = append(body, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s %s: no --> STATUS line", st.method, st.path)
		}
		st.body = strings.TrimSpace(strings.Join(body, "\n"))
		st.status, _ = strconv.Atoi(strings.TrimPrefix(lines[i], "--> "))
		i++
		var want, trailer []string
		for ; i < len(lines) && !requestLine.MatchString(lines[i]); i++ {
			l := lines[i]
			if len(trailer) > 0 || strings.HasPrefix(l, "#") || (strings.TrimSpace(l) == "" && json.Valid([]byte(strings.Join(want, "\n")))) {
				trailer = append(trailer, l)
				continue
			}
			want = append(want, l)
		}
		st.want = strings.Join(want, "\n")
		if len(trailer) > 0 {
			st.trailer = strings.Join(trailer, "\n")
			if i < len(lines) {
				st.trailer += "\n"
			}
		}
		steps = append(steps, st)
	}
	if len(steps) > 0 {
		steps[0].preamble = pre.String()
	}
	return steps
}

var varRef = regexp.MustCompile(`\{\{(\w+)\}\}`)

func expand(s string, vars map[string]any) string {
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		v, ok := vars[ref[2:len(ref)-2]]
		if !ok {
			return ref
		}
		if s, isStr := v.(string); isStr {
			return s
		}
		b, _ := json.Marshal(v)
		return string(b)
	})
}

// placeholder reports the variable a "{{name}}" string names.
func placeholder(v any) (string, bool) {
	s, ok := v.(string)
	if m := varRef.FindStringSubmatch(s); ok && m != nil && m[0] == s {
		return m[1], true
	}
	return "", false
}

func matchVars(got, want any, path string, vars map[string]any) (string, bool) {
	if want == "<any>" {
		return "", true
	}
	if name, ok := placeholder(want); ok {
		if bound, ok := vars[name]; ok {
			return path, jsonEqual(bound, got)
		}
		vars[name] = got
		return "", true
	}
	if s, ok := want.(string); ok && varRef.MatchString(s) { // a template: "mlflow-artifacts:/{{exp}}/..."
		return path, expand(s, vars) == got
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return path, false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return path + "." + k, false
			}
			if p, ok := matchVars(gv, wv, path+"."+k, vars); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path, false
		}
		for i := range w {
			if p, ok := matchVars(g[i], w[i], fmt.Sprintf("%s[%d]", path, i), vars); !ok {
				return p, false
			}
		}
		return "", true
	}
	return path, jsonEqual(got, want)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// keepPlaceholders is got with want's placeholders kept where want had
// them, and the values of bound variables written as references (for
// -update).
func keepPlaceholders(want, got any, vars map[string]any) any {
	if want == "<any>" {
		return want
	}
	if s, ok := want.(string); ok && varRef.MatchString(s) {
		return want
	}
	switch g := got.(type) {
	case map[string]any:
		w, _ := want.(map[string]any)
		out := map[string]any{}
		for k, v := range g {
			out[k] = keepPlaceholders(w[k], v, vars)
		}
		return out
	case []any:
		w, _ := want.([]any)
		out := make([]any, len(g))
		for i, v := range g {
			var wv any
			if i < len(w) {
				wv = w[i]
			}
			out[i] = keepPlaceholders(wv, v, vars)
		}
		return out
	case string:
		names := make([]string, 0, len(vars))
		for name := range vars {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if v, ok := vars[name].(string); ok && v == g {
				return "{{" + name + "}}"
			}
		}
		for _, name := range names {
			if v, ok := vars[name].(string); ok && len(v) >= 8 {
				g = strings.ReplaceAll(g, v, "{{"+name+"}}")
			}
		}
		return g
	}
	return got
}

func bindAll(want, got any, vars map[string]any) {
	if name, ok := placeholder(want); ok {
		if _, bound := vars[name]; !bound {
			vars[name] = got
		}
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g, _ := got.(map[string]any)
		for k, v := range w {
			bindAll(v, g[k], vars)
		}
	case []any:
		g, _ := got.([]any)
		for i, v := range w {
			if i < len(g) {
				bindAll(v, g[i], vars)
			}
		}
	}
}
