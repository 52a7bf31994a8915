package pyenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/internal/testenv"
)

const mlmodel1x = `flavors:
  python_function:
    env: conda.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    python_version: 3.7.3
`

const conda1x = `name: mlflow-env
channels: [conda-forge]
dependencies:
  - python=3.7.3
  - pip<=21.0
  - scikit-learn=0.24.1
  - pip:
      - mlflow
      - cloudpickle==1.6.0
`

func TestReadPySpec(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    *pySpec
		wantErr string
	}{
		{
			name: "python_env.yaml",
			files: map[string]string{
				"python_env.yaml":  "python: 3.11.2\nbuild_dependencies:\n- pip==23.3\n- setuptools\n- wheel==0.41.2\ndependencies:\n- -r requirements.txt\n",
				"requirements.txt": "mlflow==2.17.2",
			},
			want: &pySpec{Python: "3.11.2", BuildDeps: []string{"pip==23.3", "setuptools", "wheel==0.41.2"},
				Deps: []string{"-r requirements.txt"}, Source: "python_env.yaml"},
		},
		{
			name:  "version written as a YAML number keeps its spelling",
			files: map[string]string{"python_env.yaml": "python: 3.10\n"},
			want:  &pySpec{Python: "3.10", Source: "python_env.yaml"},
		},
		{
			name:  "MLflow 1.x: conda.yaml and requirements.txt",
			files: map[string]string{"MLmodel": mlmodel1x, "conda.yaml": conda1x, "requirements.txt": "mlflow\ncloudpickle==1.6.0\n"},
			want: &pySpec{Python: "3.7.3", BuildDeps: []string{"pip<=21.0"}, Deps: []string{"-r requirements.txt"},
				Source: "conda.yaml and requirements.txt"},
		},
		{
			name:  "conda.yaml alone: its pip section",
			files: map[string]string{"conda.yaml": conda1x},
			want: &pySpec{Python: "3.7.3", BuildDeps: []string{"pip<=21.0"}, Deps: []string{"mlflow", "cloudpickle==1.6.0"},
				Source: "conda.yaml"},
		},
		{
			name: "MLmodel names the spec files",
			files: map[string]string{
				"MLmodel":          "flavors:\n  python_function:\n    loader_module: m\n    env:\n      virtualenv: envs/py.yaml\n      conda: envs/c.yaml\n",
				"envs/py.yaml":     "python: 3.12.1\n",
				"python_env.yaml":  "python: 3.9.0\n",
				"requirements.txt": "x",
			},
			want: &pySpec{Python: "3.12.1", Source: "envs/py.yaml"},
		},
		{
			name:  "requirements.txt alone: MLmodel's python_version",
			files: map[string]string{"MLmodel": mlmodel1x, "requirements.txt": "mlflow\n"},
			want: &pySpec{Python: "3.7.3", Deps: []string{"-r requirements.txt"},
				Source: "requirements.txt and MLmodel python_version"},
		},
		{
			name:    "env file outside the model",
			files:   map[string]string{"MLmodel": "flavors:\n  python_function:\n    loader_module: m\n    env: {virtualenv: ../x.yaml}\n"},
			wantErr: "leaves the model directory",
		},
		{
			name:    "nothing to build from",
			files:   map[string]string{"MLmodel": mlmodel1x},
			wantErr: "has no python_env.yaml, conda.yaml or requirements.txt",
		},
		{
			name:    "python_env.yaml without python",
			files:   map[string]string{"python_env.yaml": "dependencies: [-r requirements.txt]\n"},
			wantErr: "no python version",
		},
		{
			name:    "conda python not pinned",
			files:   map[string]string{"conda.yaml": "dependencies: [python, pip]\n"},
			wantErr: "python must be pinned",
		},
		{
			name:    "conda dependency of the wrong shape",
			files:   map[string]string{"conda.yaml": "dependencies: [python=3.9, {conda: [x]}]\n"},
			wantErr: "want a string or {pip: [...]}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readPySpec(writeFiles(t, tt.files))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(pySpec{})); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadPySpecRealModels reads environments MLflow itself wrote.
func TestReadPySpecRealModels(t *testing.T) {
	root := filepath.Join(testenv.SharedTestdata(t), "mlflow")
	tests := []struct {
		dir  string
		want *pySpec
	}{
		{"pyfunc_python_model_2.8.1", &pySpec{Python: "3.9.13", BuildDeps: []string{"pip==23.3", "setuptools", "wheel==0.41.2"},
			Deps: []string{"-r requirements.txt"}, Source: "python_env.yaml"}},
		{"mlflow_1x_sklearn_model", &pySpec{Python: "3.10.19", BuildDeps: []string{"pip==23.0.1", "setuptools==58.1.0", "wheel==0.42.0"},
			Deps: []string{"-r requirements.txt"}, Source: "python_env.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			got, err := readPySpec(filepath.Join(root, tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpandRequirements(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"requirements.txt": "-c constraints.txt\nnumpy  # the array library\n-r sub/more.txt\n--requirement=https://example.invalid/r.txt\n",
		"constraints.txt":  "numpy<2\n",
		"sub/more.txt":     "pandas \\\n  ==1.5.3\n-r ../base.txt\n",
		"base.txt":         "cloudpickle\n",
	})
	got, err := expandRequirements(dir, []string{"-r requirements.txt"})
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "expansion", got, "numpy<2", "pandas   ==1.5.3", "cloudpickle", "https://example.invalid/r.txt")
	key := hashKey(got)

	// Any included file changing changes the key.
	if err := os.WriteFile(filepath.Join(dir, "base.txt"), []byte("cloudpickle==2.2.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := expandRequirements(dir, []string{"-r requirements.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if hashKey(again) == key {
		t.Error("key unchanged after an included file changed")
	}

	errs := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"include cycle", map[string]string{"requirements.txt": "-r requirements.txt\n"}, "nest deeper"},
		{"missing include", map[string]string{"requirements.txt": "-c constraints.txt\n"}, `include "-c constraints.txt"`},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := expandRequirements(writeFiles(t, tt.files), []string{"-r requirements.txt"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestIncludeRef(t *testing.T) {
	tests := []struct {
		line, want string
		ok         bool
	}{
		{"-r requirements.txt", "requirements.txt", true},
		{"-rrequirements.txt", "requirements.txt", true},
		{"--requirement=a.txt", "a.txt", true},
		{"--requirement a.txt  # comment", "a.txt", true},
		{"-c constraints.txt", "constraints.txt", true},
		{"--constraint=c.txt", "c.txt", true},
		{"--requirements-typo a.txt", "", false},
		{"requests", "", false},
		{"# -r a.txt", "", false},
	}
	for _, tt := range tests {
		got, ok := includeRef(tt.line)
		if got != tt.want || ok != tt.ok {
			t.Errorf("includeRef(%q) = %q, %v; want %q, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRequirementArgs(t *testing.T) {
	got := requirementArgs([]string{
		"-r requirements.txt", "", "# comment", "pkg ; python_version < \"3.12\"",
		"--extra-index-url https://example.invalid/simple", "numpy==1.24.2  # pinned",
	})
	want := []string{"-r", "requirements.txt", "pkg ; python_version < \"3.12\"",
		"--extra-index-url", "https://example.invalid/simple", "numpy==1.24.2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
}

func TestHashKey(t *testing.T) {
	if hashKey("ab", "c") == hashKey("a", "bc") {
		t.Error("parts are not delimited")
	}
	if k := hashKey("x"); len(k) != 24 || k != hashKey("x") {
		t.Errorf("hashKey = %q, want 24 stable hex digits", k)
	}
}
