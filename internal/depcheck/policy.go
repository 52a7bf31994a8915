package depcheck

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Rule governs the packages matching Pkgs: of the module's packages, they
// may depend (directly or not) only on those matching Allow. Dependencies
// outside the module are not the Rules' business; see Confine.
type Rule struct {
	Pkgs  string
	Allow []string
}

// Confine restricts who may import Pkg directly: only packages matching one
// of By (none at all when By is empty). Only the module's packages are
// checked as importers. Checking direct imports is enough: any chain into
// Pkg ends with a direct import by a package of the module.
type Confine struct {
	Pkg string
	By  []string
}

// Policy is a set of dependency rules for one module.
type Policy struct {
	Rules    []Rule
	Confines []Confine
}

// Violation is one dependency the policy forbids.
type Violation struct {
	Pkg  string   // module-relative package in breach
	Dep  string   // the dependency it may not have ("" when no rule governs Pkg)
	Path []string // import chain from Pkg to Dep, module-relative where possible
	Why  string   // the rule broken
}

func (v Violation) String() string {
	if v.Dep == "" {
		return fmt.Sprintf("%s: %s", v.Pkg, v.Why)
	}
	return fmt.Sprintf("%s depends on %s (%s): %s", v.Pkg, v.Dep, strings.Join(v.Path, " -> "), v.Why)
}

// Check returns the violations of the module's packages matching pattern,
// sorted by package.
func (pol Policy) Check(g *Graph, pattern string) []Violation {
	var out []Violation
	for _, p := range g.Packages(pattern) {
		out = append(out, pol.checkRules(g, p)...)
		out = append(out, pol.checkConfines(g, p)...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pkg < out[j].Pkg })
	return out
}

// governing returns the most specific rule matching p.
func (pol Policy) governing(g *Graph, p string) (Rule, bool) {
	best, score := Rule{}, -1
	for _, r := range pol.Rules {
		full := g.abs(r.Pkgs)
		if match(full, p) && specificity(full) > score {
			best, score = r, specificity(full)
		}
	}
	return best, score >= 0
}

func (pol Policy) checkRules(g *Graph, p string) []Violation {
	rel := g.Rel(p)
	r, ok := pol.governing(g, p)
	if !ok {
		return []Violation{{Pkg: rel, Why: "no dependency rule governs this package; add one to the policy (depcheck.Layering)"}}
	}
	var out []Violation
	for _, d := range g.deps(p) {
		if g.Rel(d) == "" || allowed(g, r.Allow, p, d) {
			continue
		}
		out = append(out, Violation{
			Pkg: rel, Dep: g.Rel(d), Path: g.relPath(g.path(p, d)),
			Why: fmt.Sprintf("rule %q allows only [%s]", r.Pkgs, strings.Join(r.Allow, ", ")),
		})
	}
	return out
}

func allowed(g *Graph, allow []string, p, d string) bool {
	for _, a := range allow {
		full := g.abs(a)
		if sub, ok := strings.CutPrefix(a, "./"); ok {
			full = p + "/" + sub // "./..." is p's own subtree
		}
		if match(full, d) {
			return true
		}
	}
	return false
}

func (pol Policy) checkConfines(g *Graph, p string) []Violation {
	var out []Violation
	for _, c := range pol.Confines {
		target := g.abs(c.Pkg)
		if match(target, p) || matchAny(g, c.By, p) {
			continue // a confined package may import itself; allowed importers may import it
		}
		for _, d := range g.Imports[p] {
			if !match(target, d) {
				continue
			}
			who := "no package"
			if len(c.By) > 0 {
				who = "only " + strings.Join(c.By, ", ")
			}
			dep := d
			if r := g.Rel(d); r != "" {
				dep = r
			}
			out = append(out, Violation{
				Pkg: g.Rel(p), Dep: dep, Path: g.relPath([]string{p, d}),
				Why: fmt.Sprintf("%s may import %s", who, c.Pkg),
			})
		}
	}
	return out
}

func matchAny(g *Graph, patterns []string, p string) bool {
	for _, pat := range patterns {
		if match(g.abs(pat), p) {
			return true
		}
	}
	return false
}

func (g *Graph) relPath(chain []string) []string {
	out := make([]string, len(chain))
	for i, p := range chain {
		out[i] = p
		if r := g.Rel(p); r != "" {
			out[i] = r
		}
	}
	return out
}

// The module graph is listed once per test binary: every deps test of a
// package sees the same build.
var loaded struct {
	once sync.Once
	g    *Graph
	err  error
}

// Assert checks the module's packages matching pattern against pol and
// reports each violation as a test error. The module is the one containing
// the test's working directory (its package directory under go test). It
// fails if pattern matches no package, so that a typo cannot turn a deps
// test into one that checks nothing.
func (pol Policy) Assert(t testing.TB, pattern string) {
	t.Helper()
	loaded.once.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			loaded.err = err
			return
		}
		loaded.g, loaded.err = Load(context.Background(), wd)
	})
	if loaded.err != nil {
		t.Fatal(loaded.err)
	}
	if len(loaded.g.Packages(pattern)) == 0 {
		t.Fatalf("depcheck: pattern %q matches no package of %s", pattern, loaded.g.Module)
	}
	for _, v := range pol.Check(loaded.g, pattern) {
		t.Error(v)
	}
}
