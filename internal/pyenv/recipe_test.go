package pyenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadRecipe(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  *Recipe
	}{
		{"python_env.yaml", map[string]string{
			"python_env.yaml":  "python: 3.10\nbuild_dependencies: [pip==23.0]\ndependencies: [-r requirements.txt]\n",
			"requirements.txt": "numpy\n",
		}, &Recipe{Python: "3.10", BuildDeps: []string{"pip==23.0"}, Deps: []string{"-r requirements.txt"}, Source: "python_env.yaml"}},
		{"conda.yaml only", map[string]string{
			"conda.yaml": "dependencies:\n- python=3.8.10\n- pip=21.0\n- pip:\n  - mlflow\n",
		}, &Recipe{Python: "3.8.10", BuildDeps: []string{"pip==21.0"}, Deps: []string{"mlflow"}, Source: "conda.yaml"}},
		{"requirements.txt with MLmodel's version", map[string]string{
			"MLmodel":          "flavors:\n  python_function:\n    loader_module: m\n    python_version: 3.11.4\n",
			"requirements.txt": "numpy\n",
		}, &Recipe{Python: "3.11.4", Deps: []string{"-r requirements.txt"}, Source: "requirements.txt and MLmodel python_version"}},
		{"nothing", map[string]string{
			"MLmodel": "flavors:\n  python_function:\n    loader_module: m\n",
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadRecipe(writeTree(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestRequirementFiles(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"requirements.txt":              "-r sub/more.txt\n--constraint=constraints.txt\n./wheels/a-1.0-py3-none-any.whl\nb.tar.gz\nnumpy>=1 ; python_version<'3.12'\n-e ./src\nhttps://example.invalid/c.whl\nnot/here.whl\n",
		"sub/more.txt":                  "-c ../constraints.txt\n-r https://example.invalid/r.txt\n",
		"constraints.txt":               "numpy<2\n",
		"wheels/a-1.0-py3-none-any.whl": "w",
		"b.tar.gz":                      "b",
		"src/setup.py":                  "",
	})
	got, err := RequirementFiles(dir, []string{"-r requirements.txt", "-r requirements.txt"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"b.tar.gz", "constraints.txt", "requirements.txt", "src", "sub/more.txt", "wheels/a-1.0-py3-none-any.whl"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}

	// An include cycle lists each file once (pip itself would recurse).
	loop := writeTree(t, map[string]string{"loop.txt": "-r loop2.txt\n", "loop2.txt": "-r loop.txt\n"})
	if got, err := RequirementFiles(loop, []string{"-r loop.txt"}); err != nil || len(got) != 2 {
		t.Errorf("cycle: %v, %v", got, err)
	}
	for name, lines := range map[string][]string{
		"outside": {"-r ../outside.txt"},
		"missing": {"-r nope.txt"},
		"cycle":   {"-r loop.txt"},
	} {
		if _, err := RequirementFiles(t.TempDir(), lines); err == nil {
			t.Errorf("%s: no error", name)
		} else if name == "outside" && !strings.Contains(err.Error(), "outside the model directory") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
