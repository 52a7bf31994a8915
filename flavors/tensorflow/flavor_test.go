package tensorflow

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/flavortest"
	"github.com/mlship/mlship/flavors/tensorflow/native"
	"github.com/mlship/mlship/flavors/tensorflow/tf2onnx"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

func sharedModel(t testing.TB, name string) string {
	return filepath.Join(testenv.SharedTestdata(t), "tensorflow", name)
}

// TestConformance runs the flavor suite over converted Keras models.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		model string
		bad   []flavortest.BadInput
	}{
		{"rust_keras_single_input", []flavortest.BadInput{flavortest.WrongType("test_in_input"), flavortest.WrongShape("test_in_input")}},
		{"rust_keras_multiple_inputs", []flavortest.BadInput{flavortest.WrongShape("test_in2"), flavortest.MissingColumn("test_in2")}},
		{"tfnet_simple_model_from_auto_compile", []flavortest.BadInput{flavortest.WrongShape("input_1")}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			m, err := mlmodel.Load(sharedModel(t, tc.model)) // no MLmodel: described from saved_model.pb
			if err != nil {
				t.Fatal(err)
			}
			p, err := Flavor{}.Load(context.Background(), m, loadOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			ins, _ := p.(flavors.SchemaDescriber).ModelSchema()
			p.(io.Closer).Close()
			input, err := flavortest.InputFromSchema(ins)
			if err != nil {
				t.Fatal(err)
			}
			flavortest.Run(t, flavortest.Case{Flavor: Flavor{}, Model: m, Options: loadOptions(t), Input: input,
				BatchSafe: true, Tolerance: 1e-6, BadInputs: tc.bad})
		})
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    mlmodel.FlavorConfig
		want Config
		err  string
	}{
		{"tf1 estimator", mlmodel.FlavorConfig{"saved_model_dir": "tfmodel", "meta_graph_tags": []any{"serve", "gpu"}, "signature_def_key": "predict"},
			Config{SavedModelDir: "tfmodel", Tags: []string{"serve", "gpu"}, SignatureKey: "predict"}, ""},
		{"tf2 module defaults", mlmodel.FlavorConfig{"saved_model_dir": "tf2model", "model_type": "tf2-module"},
			Config{SavedModelDir: "tf2model", Tags: []string{"serve"}, SignatureKey: "serving_default", ModelType: "tf2-module"}, ""},
		{"keras saved as tf", mlmodel.FlavorConfig{"data": "data", "model_type": "keras", "save_format": "tf", "keras_version": "2.12.0"},
			Config{SavedModelDir: "data/model", Tags: []string{"serve"}, SignatureKey: "serving_default", ModelType: "keras"}, ""},
		{"keras h5", mlmodel.FlavorConfig{"data": "data", "model_type": "keras", "save_format": "h5"}, Config{}, `save_format "h5"`},
		{"no directory", mlmodel.FlavorConfig{"model_type": "tf2-module"}, Config{}, "saved_model_dir"},
		{"tags not a list", mlmodel.FlavorConfig{"saved_model_dir": "m", "meta_graph_tags": int64(3)}, Config{}, "meta_graph_tags"},
		{"unknown model_type", mlmodel.FlavorConfig{"saved_model_dir": "m", "model_type": "tf3-thing"}, Config{}, `unknown model_type "tf3-thing"`},
		{"keras without save_format", mlmodel.FlavorConfig{"data": "d", "model_type": "keras"},
			Config{SavedModelDir: "d/model", Tags: []string{"serve"}, SignatureKey: "serving_default", ModelType: "keras"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig(tc.c)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.SavedModelDir != tc.want.SavedModelDir || strings.Join(got.Tags, ",") != strings.Join(tc.want.Tags, ",") ||
				got.SignatureKey != tc.want.SignatureKey || got.ModelType != tc.want.ModelType {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestKerasMLflowLayout: model_type keras with save_format tf reads the
// SavedModel at data/model.
func TestKerasMLflowLayout(t *testing.T) {
	dir := t.TempDir()
	src := testenv.CopyDir(t, sharedModel(t, "rust_keras_single_input"))
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(src, filepath.Join(dir, "data", "model")); err != nil {
		t.Fatal(err)
	}
	m := &mlmodel.Model{Dir: dir, Flavors: map[string]mlmodel.FlavorConfig{"tensorflow": {"data": "data", "model_type": "keras", "save_format": "tf"}}}
	p, err := Flavor{}.Load(context.Background(), m, loadOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	p.(io.Closer).Close()

	// Without save_format in the block, MLflow reads data/save_format.txt
	// and assumes h5 without it; a SavedModel at data/model is served.
	delete(m.Flavors["tensorflow"], "save_format")
	if p, err = (Flavor{}).Load(context.Background(), m, loadOptions(t)); err != nil {
		t.Fatalf("no save_format, a SavedModel at data/model: %v", err)
	}
	p.(io.Closer).Close()
	for _, tc := range []struct {
		file, content, want string
	}{
		{"save_format.txt", "h5", `save_format "h5"`},
		{"save_format.txt", "tf", ""},
	} {
		if err := os.WriteFile(filepath.Join(dir, "data", tc.file), []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Flavor{}.Load(context.Background(), m, loadOptions(t))
		if tc.want == "" && err == nil {
			p.(io.Closer).Close()
		}
		if (tc.want == "" && err != nil) || (tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want))) {
			t.Errorf("%s %q: %v, want %q", tc.file, tc.content, err, tc.want)
		}
	}
	// An h5 model beside no SavedModel: the h5 error, not a missing directory.
	os.Remove(filepath.Join(dir, "data", "save_format.txt"))
	os.RemoveAll(filepath.Join(dir, "data", "model"))
	if err := os.WriteFile(filepath.Join(dir, "data", "model.h5"), []byte("HDF"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (Flavor{}).Load(context.Background(), m, loadOptions(t)); err == nil || !strings.Contains(err.Error(), `save_format "h5"`) {
		t.Errorf("model.h5: %v", err)
	}
}

// TestCache: a second load reuses the conversion from the cache dir; a
// changed variable changes the key; nothing is written beside the model.
func TestCache(t *testing.T) {
	model := testenv.CopyDir(t, sharedModel(t, "tf2onnx_regression"))
	before := listFiles(t, model)
	opts := loadOptions(t)
	cfg := &Config{Tags: []string{"serve"}, SignatureKey: "serving_default"}
	load := func() {
		t.Helper()
		p, err := LoadSavedModel(context.Background(), model, cfg, opts)
		if err != nil {
			t.Fatal(err)
		}
		p.(io.Closer).Close()
	}
	load()
	cached, _ := filepath.Glob(filepath.Join(opts.CacheDir, cacheSubdir, "*.onnx"))
	if len(cached) != 1 {
		t.Fatalf("cache holds %v", cached)
	}
	// A cached file is used as it is: corrupt it and loading must fail.
	if err := os.WriteFile(cached[0], []byte("not onnx"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSavedModel(context.Background(), model, cfg, opts); err == nil {
		t.Error("the corrupted cache entry was not used")
	}
	// Another signature or changed variables: another key.
	data := filepath.Join(model, "variables", "variables.data-00000-of-00001")
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	k1, err := digest(model, cfg, "serving_default")
	if err != nil {
		t.Fatal(err)
	}
	if k2, _ := digest(model, cfg, "other"); k1 == k2 || strings.Contains(cached[0], k1) {
		t.Errorf("digest does not follow the signature or the variables")
	}
	if after := listFiles(t, model); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("files beside the model changed: %v -> %v", before, after)
	}
	// Without a cache dir nothing is kept anywhere we can see.
	opts.CacheDir = ""
	p, err := LoadSavedModel(context.Background(), sharedModel(t, "tf2onnx_regression"), cfg, opts)
	if err == nil {
		p.(io.Closer).Close()
	}
	// (ONNX Runtime is found through MLSHIP_ONNXRUNTIME_LIB, so this loads.)
	if err != nil {
		t.Fatal(err)
	}
}

func listFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestRuntimeChoice: MLSHIP_TF_RUNTIME picks the runtime; with no
// TensorFlow library, native fails clearly and auto reports the op.
func TestRuntimeChoice(t *testing.T) {
	base := loadOptions(t)
	with := func(runtime, lib string) flavors.LoadOptions {
		o := base
		o.Getenv = func(k string) string {
			switch k {
			case EnvRuntime:
				return runtime
			case native.EnvLib:
				return lib
			case "LD_LIBRARY_PATH":
				return ""
			}
			return base.Getenv(k)
		}
		return o
	}
	if _, err := native.Find(with("", "").Getenv); err == nil {
		testenv.Missing(t, "this test needs a machine without libtensorflow.so.2")
	}
	cfg := &Config{Tags: []string{"serve"}, SignatureKey: "serving_default"}
	taxi := sharedModel(t, "tfx_keras_taxi")
	keras := sharedModel(t, "rust_keras_single_input")

	_, err := LoadSavedModel(context.Background(), taxi, cfg, with("onnx", ""))
	var ue *tf2onnx.UnsupportedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--tf-runtime onnx was asked for") {
		t.Errorf("onnx: %v", err)
	}
	_, err = LoadSavedModel(context.Background(), taxi, cfg, with("auto", ""))
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "fallback is not available") || !errors.Is(err, tf2onnx.ErrUnsupported) {
		t.Errorf("auto: %v", err)
	}
	_, err = LoadSavedModel(context.Background(), keras, cfg, with("native", ""))
	if !errors.Is(err, native.ErrNotFound) || !strings.Contains(err.Error(), "MLSHIP_TENSORFLOW_LIB") {
		t.Errorf("native: %v", err)
	}
	_, err = LoadSavedModel(context.Background(), keras, cfg, with("native", "/nonexistent/libtensorflow.so.2"))
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/libtensorflow.so.2") {
		t.Errorf("native with a missing MLSHIP_TENSORFLOW_LIB: %v", err)
	}
	if _, err = LoadSavedModel(context.Background(), keras, cfg, with("tensorflow", "")); err == nil || !strings.Contains(err.Error(), "want auto, onnx or native") {
		t.Errorf("bad runtime: %v", err)
	}
	// The default (auto) converts a convertible model, and does not even
	// look for the TensorFlow library.
	o := with("", "")
	getenv := o.Getenv
	o.Getenv = func(k string) string {
		if k == native.EnvLib {
			t.Errorf("a convertible model looked up %s", k)
		}
		return getenv(k)
	}
	p, err := LoadSavedModel(context.Background(), keras, cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	p.(io.Closer).Close()

	// With a library present, auto hands an unconvertible graph to it, and
	// a library that cannot take over leaves the op named; onnx only says
	// that native would run it.
	// (libc stands for a library that is not TensorFlow.)
	if libc := "/lib/x86_64-linux-gnu/libc.so.6"; fileExists(libc) {
		_, err = LoadSavedModel(context.Background(), taxi, cfg, with("auto", libc))
		if !errors.Is(err, tf2onnx.ErrUnsupported) || !strings.Contains(err.Error(), `"ParseExampleV2"`) ||
			!strings.Contains(err.Error(), "could not take over") || !strings.Contains(err.Error(), "symbol TF_NewStatus is missing") {
			t.Errorf("auto with a library: %v", err)
		}
		_, err = LoadSavedModel(context.Background(), taxi, cfg, with("onnx", libc))
		if !errors.Is(err, tf2onnx.ErrUnsupported) || !strings.Contains(err.Error(), "--tf-runtime auto or native would run it") || strings.Contains(err.Error(), "not available") {
			t.Errorf("onnx with a library: %v", err)
		}
		if p, err = LoadSavedModel(context.Background(), keras, cfg, with("auto", libc)); err != nil {
			t.Errorf("auto with a library, convertible: %v", err)
		} else {
			p.(io.Closer).Close()
		}
	}
	// Load errors name what is wrong.
	for _, tc := range []struct {
		cfg  Config
		dir  string
		want string
	}{
		{Config{Tags: []string{"gpu"}, SignatureKey: "serving_default"}, keras, "gpu"},
		{Config{Tags: []string{"serve"}, SignatureKey: "nope"}, keras, `"nope"`},
		{*cfg, filepath.Join(t.TempDir(), "missing"), "missing"},
	} {
		if _, err := LoadSavedModel(context.Background(), tc.dir, &tc.cfg, base); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", tc.cfg, err)
		}
	}
}

// TestUnsupportedNamesPythonFunction: a model that also has a
// python_function flavor is told how to serve it anyway.
func TestUnsupportedNamesPythonFunction(t *testing.T) {
	m := &mlmodel.Model{Dir: sharedModel(t, "tfx_keras_taxi"), Flavors: map[string]mlmodel.FlavorConfig{
		"tensorflow":      {"saved_model_dir": "."},
		"python_function": {"loader_module": "mlflow.tensorflow"},
	}}
	_, err := Flavor{}.Load(context.Background(), m, loadOptions(t))
	if !errors.Is(err, tf2onnx.ErrUnsupported) || !strings.Contains(err.Error(), "--flavor python_function") {
		t.Errorf("error %v", err)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
