package pyenv

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	yaml "go.yaml.in/yaml/v3"
)

// specSeeds reads the spec files of the repository's models (the examples
// and the python_function test models) named file.
func specSeeds(f *testing.F, file string) {
	f.Helper()
	var paths []string
	for _, glob := range []string{
		filepath.Join("..", "..", "examples", "*", "model", file),
		filepath.Join("..", "..", "flavors", "pyfunc", "testdata", "models", "*", file),
	} {
		m, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		paths = append(paths, m...)
	}
	if len(paths) < 3 {
		f.Fatalf("only %d %s files found", len(paths), file)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// Broken YAML every spec parser gets: bad syntax, tabs, wrong types,
// aliases, deep nesting, binary.
var brokenYAMLSeeds = []string{
	"", "\n", "~", "[]", "- a\n- b\n", "a: [1\n", "a:\n\t- b\n", "\xff\xfe", "%YAML 1.2\n---\n...\n",
	"a: &x [1, 2]\nb: [*x, *x, *x]\n", "python: *undefined\n", strings.Repeat("[", 200) + strings.Repeat("]", 200),
	"!!binary aGVsbG8=\n", "python: !!binary MywxMQ==\n", "python: 3.10\npython: 3.11\n",
}

// FuzzParsePythonEnv parses arbitrary python_env.yaml files. An error
// names the file; a spec has a trimmed, non-empty python version, and
// writing it back as python_env.yaml reads the same.
func FuzzParsePythonEnv(f *testing.F) {
	specSeeds(f, pythonEnvFile)
	for _, s := range append([]string{
		"python: 3.10\n", "python: '3.11.2'\nbuild_dependencies: [pip, setuptools==66.1.1]\ndependencies: [-r requirements.txt, 'numpy<2 ; python_version < \"3.12\"']\n",
		"python: \"  3.9  \"\n", "python: ''\n", "python:\n", "python: [3]\n", "python: 3\ndependencies: {a: 1}\n",
		"python: 3.8\ndependencies: [null, 1, true]\n", "python: 3.8\nbuild_dependencies: pip\n", "python: 3.8\nextra: 1\n",
	}, brokenYAMLSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parsePythonEnv(data, "python_env.yaml")
		if err != nil {
			if s != nil || !strings.Contains(err.Error(), "python_env.yaml") {
				t.Fatalf("spec %+v with the error %q, which must name the file", s, err)
			}
			return
		}
		if s.Python == "" || s.Python != strings.TrimSpace(s.Python) {
			t.Fatalf("python version %q", s.Python)
		}
		if s.Source != "python_env.yaml" {
			t.Fatalf("source %q", s.Source)
		}
		out, err := yaml.Marshal(map[string]any{"python": s.Python, "build_dependencies": s.BuildDeps, "dependencies": s.Deps})
		if err != nil {
			t.Fatal(err)
		}
		again, err := parsePythonEnv(out, "python_env.yaml")
		if err != nil {
			t.Fatalf("reading back\n%s: %v", out, err)
		}
		if diff := cmp.Diff(s, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("reading back\n%s\ngives another spec (-first +again):\n%s", out, diff)
		}
	})
}

var versionRe = regexp.MustCompile(`^[\d.]*$`)

// FuzzParseCondaDeps parses arbitrary conda.yaml files. An error names the
// file; what is kept is a python version, pip/setuptools/wheel pins in
// pip syntax and the pip section, and writing those back as conda.yaml
// reads the same.
func FuzzParseCondaDeps(f *testing.F) {
	specSeeds(f, condaFile)
	for _, s := range append([]string{
		conda1x,
		"dependencies:\n- python==3.10\n- pip=23.0\n- setuptools>=66\n- wheel\n- numpy=1.26\n- pip: [mlflow, 'scikit-learn==1.2.1']\n- pip: [cloudpickle]\n",
		"dependencies: [python >= 3.8, pip !=1]\n", "dependencies: [python]\n", "dependencies: [python<3]\n",
		"dependencies: [python=, python>=3.8]\n", "dependencies: [python=3.8, python=3.9]\n",
		"dependencies: [3.8]\n", "dependencies: [{pip: mlflow}]\n", "dependencies: [{pip: [1]}]\n", "dependencies: [{conda: [x]}]\n",
		"dependencies: [[python=3.8]]\n", "dependencies: python=3.8\n", "dependencies:\n- {1: [a]}\n", "name: x\n",
	}, brokenYAMLSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cd, err := parseCondaDeps(data, "conda.yaml")
		if err != nil {
			if cd != nil || !strings.Contains(err.Error(), "conda.yaml") {
				t.Fatalf("deps %+v with the error %q, which must name the file", cd, err)
			}
			return
		}
		if !versionRe.MatchString(cd.python) {
			t.Fatalf("python version %q", cd.python)
		}
		deps := []any{}
		switch {
		case cd.pythonPinned:
			deps = append(deps, "python=="+cd.python)
		case cd.python != "":
			deps = append(deps, "python>="+cd.python)
		}
		for _, b := range cd.build {
			m := condaDepRe.FindStringSubmatch(b)
			if m == nil || m[1] == "python" || m[2] == "=" {
				t.Fatalf("build dependency %q is not a pip, setuptools or wheel pin in pip syntax", b)
			}
			deps = append(deps, b)
		}
		if cd.pip != nil {
			deps = append(deps, map[string]any{"pip": cd.pip})
		}
		out, err := yaml.Marshal(map[string]any{"dependencies": deps})
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseCondaDeps(out, "conda.yaml")
		if err != nil {
			t.Fatalf("reading back\n%s: %v", out, err)
		}
		if diff := cmp.Diff(cd, again, cmp.AllowUnexported(condaDeps{}), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("reading back\n%s\ngives other dependencies (-first +again):\n%s", out, diff)
		}
	})
}
