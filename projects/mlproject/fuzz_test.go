package mlproject

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: any MLproject content parses or fails cleanly, and every
// entry point of a parsed project resolves or fails cleanly.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.MLproject"))
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("name: x\ndocker_env:\n  image: img\n  environment: [A, [B, c]]\n  volumes: ['/a:/b']\n"))
	f.Add([]byte("entry_points:\n  main:\n    parameters: {a: float, b: {type: int, default: 3}}\n    command: 'run {a} {b} {{}}'\n"))
	f.Add([]byte("entry_points: {m: {command: null}}\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		for _, ep := range p.EntryPoints {
			var user []KV
			for _, prm := range ep.Parameters {
				user = append(user, KV{prm.Name, "1"})
			}
			inv, err := ep.Resolve(context.Background(), "", user, ResolveOptions{WorkDir: "/"})
			if err != nil {
				continue
			}
			if len(inv.Params) != len(ep.Parameters) {
				t.Fatalf("%d params resolved for %d declared", len(inv.Params), len(ep.Parameters))
			}
		}
	})
}

// FuzzQuote: a command line built from quoted words splits back into
// exactly those words, and Format never panics on any template.
func FuzzQuote(f *testing.F) {
	f.Add("a b", "it's", "{x} {{y}} }")
	f.Add("", "$(id)", "{")
	f.Add("\"\\", "\n\t", "{v}{v}")
	f.Fuzz(func(t *testing.T, a, b, tmpl string) {
		if strings.ContainsRune(a+b, 0) {
			return
		}
		line := Quote(a) + " " + Quote(b) + " \t" + Quote("--"+a)
		words, err := Split(line)
		if err != nil {
			t.Fatalf("Split(%q): %v", line, err)
		}
		if want := []string{a, b, "--" + a}; !reflect.DeepEqual(words, want) {
			t.Fatalf("Split(%q) = %q, want %q", line, words, want)
		}
		out, err := Format(tmpl, map[string]string{"v": Quote(a), "x": Quote(b)})
		if err == nil && !strings.Contains(tmpl, "{") && !strings.Contains(tmpl, "}") && out != tmpl {
			t.Fatalf("Format changed a template without braces: %q -> %q", tmpl, out)
		}
		_, _ = Split(tmpl)
	})
}
