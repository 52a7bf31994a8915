package mlmodel

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestLoadPlainSavedModel(t *testing.T) {
	root := t.TempDir()
	touch := func(p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flat := filepath.Join(root, "flat")
	touch(filepath.Join(flat, "saved_model.pb"))
	served := filepath.Join(root, "served")
	touch(filepath.Join(served, "00000123", "saved_model.pb"))
	touch(filepath.Join(served, "00000124", "saved_model.pb"))
	touch(filepath.Join(served, "00000999", "other.txt")) // not a SavedModel
	touch(filepath.Join(served, "notes", "saved_model.pb"))
	withMLmodel := filepath.Join(root, "mlflow")
	touch(filepath.Join(withMLmodel, "saved_model.pb"))
	if err := os.WriteFile(filepath.Join(withMLmodel, FileName), []byte("flavors:\n  onnx: {data: m.onnx}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(root, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		ref, savedModelDir string
	}{{flat, "."}, {"file://" + flat, "."}, {served, "00000124"}} {
		m, err := Load(tc.ref)
		if err != nil {
			t.Fatalf("%s: %v", tc.ref, err)
		}
		want := FlavorConfig{"saved_model_dir": tc.savedModelDir, "meta_graph_tags": []any{"serve"}, "signature_def_key": "serving_default"}
		if !reflect.DeepEqual(m.Flavors["tensorflow"], want) || len(m.Flavors) != 1 {
			t.Errorf("%s: flavors %v", tc.ref, m.Flavors)
		}
		if p, _ := m.Path(tc.savedModelDir); !isFile(filepath.Join(p, "saved_model.pb")) {
			t.Errorf("%s: saved_model_dir resolves to %s", tc.ref, p)
		}
	}
	// An MLmodel wins; a directory with neither is still not found.
	if m, err := Load(withMLmodel); err != nil || m.Flavors["onnx"] == nil || m.Flavors["tensorflow"] != nil {
		t.Errorf("MLmodel beside saved_model.pb: %v %v", m, err)
	}
	var nf *NotFoundError
	if _, err := Load(empty); !errors.As(err, &nf) {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := Load(filepath.Join(flat, "saved_model.pb")); !errors.As(err, &nf) {
		t.Errorf("the .pb file itself: %v", err)
	}
}
