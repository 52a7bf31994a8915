// Package depcheck keeps mlship's packages pointing the way
// ARCHITECTURE.md ("Dependency direction") says they must, as
// go-containerregistry's internal/depcheck does: a deps_test.go in each
// top-level package calls Layering.Assert for its own subtree, and this
// package's own test checks the whole module.
//
// The graph comes from `go list -deps -json` (non-test imports: what ends up
// in a binary). A Policy holds two kinds of rule:
//
//   - Rules say which of the module's packages a package may depend on,
//     directly or through others. Each package is governed by the most
//     specific rule that matches it, and a package that no rule matches is
//     itself a violation, so a new package cannot slip in unchecked: adding
//     one is one line in Layering.
//   - Confines say which packages may import a package directly, whatever
//     the Rules allow: "nothing but cmd/mlship imports internal/cli", "cgo
//     (onnxruntime_go) stays in flavors/onnx". They may name third-party
//     packages.
//
// Patterns are module-relative ("serve", "flavors/...") unless their first
// element contains a dot ("github.com/labstack/echo/v4/..."). "x/..." matches
// x and every package below it; "..." matches every package; in an Allow
// list "./..." stands for the governed package's own subtree.
package depcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
)

// Graph is an import graph: every package of the main module and what it
// imports, plus the packages those import, transitively.
type Graph struct {
	// Module is the main module's path; patterns are relative to it.
	Module string
	// Imports maps an import path to the paths it imports directly.
	Imports map[string][]string
}

// NewGraph builds a graph from direct imports. Packages named only as
// imports get an empty entry.
func NewGraph(module string, imports map[string][]string) *Graph {
	g := &Graph{Module: module, Imports: map[string][]string{}}
	for p, deps := range imports {
		g.Imports[p] = slices.Clone(deps)
		for _, d := range deps {
			if _, ok := g.Imports[d]; !ok {
				g.Imports[d] = nil
			}
		}
	}
	return g
}

// Load lists the packages of the module containing dir (and everything
// they import) with `go list -deps -json ./...`.
func Load(ctx context.Context, dir string) (*Graph, error) {
	root, err := goOutput(ctx, dir, "env", "GOMOD")
	if err != nil {
		return nil, err
	}
	root = strings.TrimSpace(root)
	if root == "" || root == "/dev/null" {
		return nil, fmt.Errorf("depcheck: %s is not inside a module", dir)
	}
	root = strings.TrimSuffix(root, "go.mod")
	out, err := goOutput(ctx, root, "list", "-deps", "-json=ImportPath,Imports,Module,Error", "./...")
	if err != nil {
		return nil, err
	}
	return parseList(strings.NewReader(out))
}

func goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("depcheck: go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// parseList reads the stream of JSON objects `go list -json` prints.
func parseList(r io.Reader) (*Graph, error) {
	type listed struct {
		ImportPath string
		Imports    []string
		Module     *struct {
			Path string
			Main bool
		}
		Error *struct{ Err string }
	}
	imports := map[string][]string{}
	module := ""
	dec := json.NewDecoder(r)
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("depcheck: reading go list output: %w", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("depcheck: package %s: %s", p.ImportPath, p.Error.Err)
		}
		if p.Module != nil && p.Module.Main && module == "" {
			module = p.Module.Path
		}
		imports[p.ImportPath] = p.Imports
	}
	if module == "" {
		return nil, errors.New("depcheck: go list reported no package of the main module")
	}
	return NewGraph(module, imports), nil
}

// Rel returns p relative to the module ("." for the module root), or ""
// when p is not one of the module's packages.
func (g *Graph) Rel(p string) string {
	switch {
	case p == g.Module:
		return "."
	case strings.HasPrefix(p, g.Module+"/"):
		return p[len(g.Module)+1:]
	}
	return ""
}

// Packages returns the module's packages matching pattern, sorted.
func (g *Graph) Packages(pattern string) []string {
	var out []string
	for p := range g.Imports {
		if g.Rel(p) != "" && match(g.abs(pattern), p) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// path returns the shortest import chain from one package to another, or
// nil when from does not depend on to.
func (g *Graph) path(from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, d := range g.Imports[p] {
			if _, seen := prev[d]; !seen {
				prev[d] = p
				queue = append(queue, d)
			}
		}
	}
	return nil
}

// deps returns every package p depends on, directly or not, sorted.
func (g *Graph) deps(p string) []string {
	seen := map[string]bool{}
	stack := slices.Clone(g.Imports[p])
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[d] || d == p {
			continue
		}
		seen[d] = true
		stack = append(stack, g.Imports[d]...)
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// abs turns a pattern into a full import path pattern.
func (g *Graph) abs(pattern string) string {
	if pattern == "..." {
		return g.Module + "/..."
	}
	if first, _, _ := strings.Cut(pattern, "/"); strings.Contains(first, ".") {
		return pattern // third-party: already an import path
	}
	return g.Module + "/" + pattern
}

// match reports whether import path p matches a full pattern: exact, or
// "x/..." for x and everything below it.
func match(pattern, p string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
		return p == prefix || strings.HasPrefix(p, prefix+"/")
	}
	return p == pattern
}

// specificity ranks patterns that match the same package: a longer prefix
// wins, and an exact pattern beats "x/..." for the same x.
func specificity(pattern string) int {
	if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
		return 2 * len(prefix)
	}
	return 2*len(pattern) + 1
}
