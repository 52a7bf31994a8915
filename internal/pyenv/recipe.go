package pyenv

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Recipe is what a model's Python environment is built from, read the way
// MLflow's _get_python_env reads it. Image builders install it into an
// image's interpreter instead of a virtualenv.
type Recipe struct {
	Python    string   // "3.11.2" (or "3.11"); "" when the model does not say
	BuildDeps []string // pip requirement specifiers installed first (pip, setuptools, wheel pins)
	Deps      []string // requirement lines, typically "-r requirements.txt"
	Source    string   // which file(s) it came from, for messages
}

// ReadRecipe reads the model directory's environment recipe: python_env.yaml
// when present, else conda.yaml (with requirements.txt), else
// requirements.txt with MLmodel's python_version. It returns nil and no
// error when the model has none of these files.
func ReadRecipe(modelDir string) (*Recipe, error) {
	mf, err := readModelFiles(modelDir)
	if err != nil {
		return nil, err
	}
	if !fileExists(filepath.Join(modelDir, mf.virtualenv)) &&
		!fileExists(filepath.Join(modelDir, mf.conda)) &&
		!fileExists(filepath.Join(modelDir, requirementsFile)) {
		return nil, nil
	}
	s, err := readPySpec(modelDir)
	if err != nil {
		return nil, err
	}
	return &Recipe{Python: s.Python, BuildDeps: s.BuildDeps, Deps: s.Deps, Source: s.Source}, nil
}

// PipArgs turns requirement lines into pip install arguments: an option line
// ("-r requirements.txt", "--extra-index-url URL") splits into words, any
// other line is one requirement specifier, which may hold spaces.
func PipArgs(lines []string) []string { return requirementArgs(lines) }

// RequirementFiles lists the files inside modelDir that pip reads or
// installs from when given lines in modelDir: files included with -r/-c
// (recursively, each relative to the file that includes it, as pip resolves
// them) and local paths given as requirements ("./wheels/x.whl"). Paths are
// slash-separated, relative to modelDir, sorted. A file named outside
// modelDir is an error; URLs are skipped.
func RequirementFiles(modelDir string, lines []string) ([]string, error) {
	root, err := filepath.Abs(modelDir)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var walk func(base string, lines []string, depth int) error
	walk = func(base string, lines []string, depth int) error {
		for _, line := range lines {
			ref, include := includeRef(line)
			if !include {
				ref = localRequirement(line)
			}
			if ref == "" || strings.Contains(ref, "://") {
				continue
			}
			p := ref
			if !filepath.IsAbs(p) {
				// pip resolves includes against the including file and local
				// paths against the working directory (the model directory).
				dir := root
				if include {
					dir = base
				}
				p = filepath.Join(dir, p)
			}
			rel, err := filepath.Rel(root, p)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return fmt.Errorf("requirement %q names %s, outside the model directory", strings.TrimSpace(line), p)
			}
			if _, err := os.Stat(p); err != nil {
				if include {
					return fmt.Errorf("requirements include %q: %w", strings.TrimSpace(line), err)
				}
				continue // a name that only looks like a path: pip decides
			}
			rel = filepath.ToSlash(rel)
			if seen[rel] {
				continue
			}
			seen[rel] = true
			if !include {
				continue
			}
			if depth >= maxIncludeDepth {
				return fmt.Errorf("requirements nest deeper than %d levels at %q (an include cycle?)", maxIncludeDepth, line)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("requirements include %q: %w", strings.TrimSpace(line), err)
			}
			if err := walk(filepath.Dir(p), logicalLines(string(data)), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, lines, 0); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

// localRequirement returns the path of a requirement line that names a
// local file or directory, as pip tells them from project names: it has a
// path separator or ends like an archive. Editable installs (-e PATH) count.
func localRequirement(line string) string {
	l := stripComment(line)
	if rest, ok := strings.CutPrefix(l, "-e"); ok {
		l = strings.TrimSpace(strings.TrimPrefix(rest, "="))
	} else if rest, ok := strings.CutPrefix(l, "--editable"); ok {
		l = strings.TrimSpace(strings.TrimPrefix(rest, "="))
	} else if strings.HasPrefix(l, "-") {
		return ""
	}
	if i := strings.IndexAny(l, "; \t"); i >= 0 {
		l = l[:i]
	}
	if l == "" {
		return ""
	}
	if strings.Contains(l, "/") || strings.HasSuffix(l, ".whl") || strings.HasSuffix(l, ".tar.gz") || strings.HasSuffix(l, ".zip") {
		return l
	}
	return ""
}
