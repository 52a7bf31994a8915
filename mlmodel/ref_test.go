package mlmodel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	if err := os.MkdirAll(model, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, FileName), []byte("flavors: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{model, filepath.Join(model, FileName), "file://" + model, "file://" + filepath.Join(model, FileName), "file://localhost" + model} {
		got, err := Resolve(ref)
		if err != nil || got != model {
			t.Errorf("Resolve(%q) = %q, %v; want %q", ref, got, err, model)
		}
	}
	// Relative paths resolve against the working directory.
	t.Chdir(dir)
	if got, err := Resolve("model"); err != nil || got != model {
		t.Errorf("relative: %q, %v", got, err)
	}

	empty := filepath.Join(dir, "empty")
	_ = os.MkdirAll(empty, 0o755)
	other := filepath.Join(dir, "other.txt")
	_ = os.WriteFile(other, []byte("x"), 0o644)
	for _, ref := range []string{filepath.Join(dir, "missing"), empty, other} {
		_, err := Resolve(ref)
		var nf *NotFoundError
		if !errors.As(err, &nf) {
			t.Errorf("Resolve(%q): %v, want NotFoundError", ref, err)
			continue
		}
		// MLflow's exact wording, which clients may match on.
		if want := `Could not find an "MLmodel" configuration file at "` + ref + `"`; err.Error() != want {
			t.Errorf("message %q, want %q", err, want)
		}
	}
	for _, ref := range []string{"runs:/abc/model", "models:/name/1", "s3://bucket/model"} {
		var ue *UnsupportedURIError
		if _, err := Resolve(ref); !errors.As(err, &ue) || !strings.Contains(err.Error(), "file://") {
			t.Errorf("Resolve(%q): %v", ref, err)
		}
	}
	if _, err := Resolve("file://remote-host/x"); err == nil || !strings.Contains(err.Error(), "remote-host") {
		t.Errorf("remote file URI: %v", err)
	}
	if _, err := Resolve(""); err == nil {
		t.Error("empty reference accepted")
	}
}

func TestServingInputExample(t *testing.T) {
	tests := []struct {
		name  string
		info  string
		files map[string]string
		want  string
	}{
		{"dataframe split", "artifact_path: input_example.json\n  type: dataframe\n  pandas_orient: split",
			map[string]string{"input_example.json": `{"columns": ["a"], "data": [[1]]}`},
			`{"dataframe_split": {"columns": ["a"], "data": [[1]]}}`},
		{"dataframe values", "artifact_path: input_example.json\n  type: dataframe\n  pandas_orient: values",
			map[string]string{"input_example.json": `[[1, 2]]`},
			`{"dataframe_split": {"data": [[1, 2]]}}`},
		{"ndarray", "artifact_path: input_example.json\n  type: ndarray",
			map[string]string{"input_example.json": `[[1, 2]]`}, `{"inputs": [[1, 2]]}`},
		{"tf-serving", "artifact_path: input_example.json\n  type: ndarray\n  format: tf-serving",
			map[string]string{"input_example.json": `{"inputs": {"x": [1]}}`}, `{"inputs": {"x": [1]}}`},
		{"with params", "artifact_path: input_example.json\n  type: json_object\n  params: 'true'",
			map[string]string{"input_example.json": `{"inputs": {"q": "hi"}, "params": {"k": 1}}`},
			`{"inputs": {"q": "hi"}, "params": {"k": 1}}`},
		{"dataframe with params", "artifact_path: input_example.json\n  type: dataframe\n  pandas_orient: split\n  params: 'true'",
			map[string]string{"input_example.json": `{"inputs": {"data": [[1]]}, "params": {"k": 1}}`},
			`{"dataframe_split": {"data": [[1]]}, "params": {"k": 1}}`},
		{"serving file wins", "artifact_path: input_example.json\n  type: ndarray\n  serving_input_path: serving_input_example.json",
			map[string]string{"input_example.json": `[1]`, "serving_input_example.json": "{\n  \"inputs\": [2]\n}"},
			"{\n  \"inputs\": [2]\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			doc := "flavors: {}\nsaved_input_example_info:\n  " + tt.info + "\n"
			_ = os.WriteFile(filepath.Join(dir, FileName), []byte(doc), 0o644)
			for n, c := range tt.files {
				_ = os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644)
			}
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.ServingInputExample()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	m := &Model{}
	if _, err := m.ServingInputExample(); !errors.Is(err, ErrNoInputExample) {
		t.Errorf("no example: %v", err)
	}
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, FileName), []byte("flavors: {}\nsaved_input_example_info:\n  artifact_path: ../escape.json\n  type: ndarray\n"), 0o644)
	m, _ = Load(dir)
	if _, err := m.ServingInputExample(); err == nil || !strings.Contains(err.Error(), "leaves the model directory") {
		t.Errorf("path traversal: %v", err)
	}
}
