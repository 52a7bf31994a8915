package flavors

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

// regFlavor is a hand-written fake flavor: it records what Load was given
// and returns loadErr or a regPredictor.
type regFlavor struct {
	name    string
	loadErr error

	mu    sync.Mutex
	model *mlmodel.Model
	opts  LoadOptions
	loads int
}

func (f *regFlavor) Name() string { return f.name }

func (f *regFlavor) Load(_ context.Context, m *mlmodel.Model, opts LoadOptions) (Predictor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.model, f.opts, f.loads = m, opts, f.loads+1
	if f.loadErr != nil {
		return nil, f.loadErr
	}
	return &regPredictor{flavor: f.name}, nil
}

// regPredictor echoes its input and counts Close calls.
type regPredictor struct {
	flavor string
	closes int
}

func (p *regPredictor) Predict(_ context.Context, in columnar.Batch, _ map[string]any) (columnar.Batch, error) {
	in.Retain()
	return in, nil
}

func (p *regPredictor) Close() error { p.closes++; return nil }

// plainPredictor has no Close.
type plainPredictor struct{}

func (plainPredictor) Predict(_ context.Context, in columnar.Batch, _ map[string]any) (columnar.Batch, error) {
	in.Retain()
	return in, nil
}

// registry registers fakes with the given names, in order.
func registry(names ...string) (*Registry, map[string]*regFlavor) {
	r := NewRegistry()
	fakes := map[string]*regFlavor{}
	for _, n := range names {
		fakes[n] = &regFlavor{name: n}
		r.Register(fakes[n])
	}
	return r, fakes
}

// model returns a descriptor with the given flavor keys.
func model(flavors ...string) *mlmodel.Model {
	m := &mlmodel.Model{Flavors: map[string]mlmodel.FlavorConfig{}, Dir: "/models/m"}
	for _, f := range flavors {
		m.Flavors[f] = mlmodel.FlavorConfig{"data": "model.bin"}
	}
	return m
}

func panics(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

func TestRegisterPanics(t *testing.T) {
	// Both are programming errors that must stop start-up, as sql.Register
	// does, rather than leave one flavor silently shadowing another.
	r, _ := registry("onnx")
	if msg := panics(func() { r.Register(&regFlavor{name: ""}) }); !strings.Contains(msg, "empty") {
		t.Errorf("empty name: panic %q, want one about the empty name", msg)
	}
	if msg := panics(func() { r.Register(&regFlavor{name: "onnx"}) }); !strings.Contains(msg, "onnx") {
		t.Errorf("duplicate: panic %q, want one naming the flavor", msg)
	}
	// The failed registrations left the registry as it was.
	if diff := cmp.Diff([]string{"onnx"}, r.Names()); diff != "" {
		t.Errorf("names after failed registrations (-want +got):\n%s", diff)
	}
}

func TestLookup(t *testing.T) {
	r, fakes := registry("onnx", mlmodel.PyFuncFlavorName)
	f, ok := r.Lookup("onnx")
	if !ok || f != fakes["onnx"] {
		t.Errorf("Lookup(onnx) = %v, %v; want the registered flavor", f, ok)
	}
	if f, ok := r.Lookup("tensorflow"); ok || f != nil {
		t.Errorf("Lookup(tensorflow) = %v, %v; want nothing", f, ok)
	}
}

func TestNamesPreferenceOrder(t *testing.T) {
	// python_function registered first must still come last: it needs an
	// interpreter and is the slowest way to serve. Native flavors keep
	// registration order, which flavors/builtin controls.
	r, _ := registry(mlmodel.PyFuncFlavorName, "tensorflow", "onnx")
	if diff := cmp.Diff([]string{"tensorflow", "onnx", mlmodel.PyFuncFlavorName}, r.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	r, _ = registry("onnx")
	if diff := cmp.Diff([]string{"onnx"}, r.Names()); diff != "" {
		t.Errorf("Names without python_function (-want +got):\n%s", diff)
	}
}

func TestSelect(t *testing.T) {
	r, _ := registry(mlmodel.PyFuncFlavorName, "onnx", "tensorflow")
	tests := []struct {
		name       string
		model      *mlmodel.Model
		force      string
		want       string
		reasonHas  []string
		reasonLack []string
	}{
		{
			name:      "native over python_function",
			model:     model(mlmodel.PyFuncFlavorName, "onnx"),
			want:      "onnx",
			reasonHas: []string{`"onnx" is preferred over "python_function"`, "without a Python interpreter"},
		},
		{
			name:       "only python_function is servable",
			model:      model(mlmodel.PyFuncFlavorName, "sklearn"),
			want:       mlmodel.PyFuncFlavorName,
			reasonHas:  []string{"only flavor this build serves"},
			reasonLack: []string{"preferred"},
		},
		{
			// Registration order decides between native flavors.
			name:      "first registered native flavor",
			model:     model("tensorflow", "onnx"),
			want:      "onnx",
			reasonHas: []string{`"onnx" is preferred over "tensorflow"`},
		},
		{
			name:      "force a less preferred flavor",
			model:     model(mlmodel.PyFuncFlavorName, "onnx"),
			force:     mlmodel.PyFuncFlavorName,
			want:      mlmodel.PyFuncFlavorName,
			reasonHas: []string{"--flavor"},
		},
		{
			name:      "force the preferred flavor",
			model:     model(mlmodel.PyFuncFlavorName, "onnx"),
			force:     "onnx",
			want:      "onnx",
			reasonHas: []string{`"onnx" was requested with --flavor`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := r.Select(tt.model, tt.force)
			if err != nil {
				t.Fatal(err)
			}
			if sel.Flavor.Name() != tt.want {
				t.Errorf("selected %q, want %q (reason %q)", sel.Flavor.Name(), tt.want, sel.Reason)
			}
			for _, s := range tt.reasonHas {
				if !strings.Contains(sel.Reason, s) {
					t.Errorf("reason %q lacks %q", sel.Reason, s)
				}
			}
			for _, s := range tt.reasonLack {
				if strings.Contains(sel.Reason, s) {
					t.Errorf("reason %q should not say %q", sel.Reason, s)
				}
			}
		})
	}
}

func TestSelectNoFlavor(t *testing.T) {
	r, _ := registry(mlmodel.PyFuncFlavorName, "onnx")
	tests := []struct {
		name   string
		model  *mlmodel.Model
		force  string
		forced string
		msgHas []string
	}{
		{
			// The user asked for a flavor this build has but the model lacks:
			// say what the model does have.
			name:   "forced flavor absent from the model",
			model:  model(mlmodel.PyFuncFlavorName, "sklearn"),
			force:  "onnx",
			forced: "onnx",
			msgHas: []string{`no "onnx" flavor`, "python_function, sklearn"},
		},
		{
			name:   "forced flavor not supported by this build",
			model:  model("onnx", "tensorflow"),
			force:  "tensorflow",
			forced: "tensorflow",
			msgHas: []string{`"tensorflow" is not supported`, "supported: onnx, python_function", "the model has: onnx, tensorflow"},
		},
		{
			name:   "forced flavor neither supported nor present",
			model:  model("onnx"),
			force:  "h2o",
			forced: "h2o",
			msgHas: []string{`"h2o" is not supported`, "supported: onnx, python_function", "the model has: onnx"},
		},
		{
			name:   "nothing servable",
			model:  model("mleap", "spark"),
			msgHas: []string{"no servable flavor", "[mleap, spark]", "[onnx, python_function]"},
		},
		{
			name:   "no flavors at all",
			model:  model(),
			msgHas: []string{"no servable flavor", "[none]", "[onnx, python_function]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := r.Select(tt.model, tt.force)
			if err == nil {
				t.Fatalf("selected %q, want an error", sel.Flavor.Name())
			}
			if !errors.Is(err, ErrNoFlavor) {
				t.Errorf("error %v does not match ErrNoFlavor", err)
			}
			var nf *NoFlavorError
			if !errors.As(err, &nf) {
				t.Fatalf("error %T is not a *NoFlavorError", err)
			}
			if nf.Forced != tt.forced {
				t.Errorf("Forced = %q, want %q", nf.Forced, tt.forced)
			}
			if diff := cmp.Diff(tt.model.FlavorNames(), nf.Model); diff != "" {
				t.Errorf("Model (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"onnx", mlmodel.PyFuncFlavorName}, nf.Supported); diff != "" {
				t.Errorf("Supported (-want +got):\n%s", diff)
			}
			for _, s := range tt.msgHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestSelectRealModelWithoutServableFlavor(t *testing.T) {
	// An MLflow-written model whose only flavor (mleap) no build serves.
	dir := filepath.Join(testenv.SharedTestdata(t), "mlflow", "mleap_regression_model")
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, fakes := registry("onnx", mlmodel.PyFuncFlavorName)
	_, err = r.LoadModel(t.Context(), m, "", LoadOptions{})
	if !errors.Is(err, ErrNoFlavor) {
		t.Fatalf("error %v does not match ErrNoFlavor", err)
	}
	for _, s := range []string{"mleap", "onnx, python_function"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q lacks %q", err, s)
		}
	}
	for n, f := range fakes {
		if f.loads != 0 {
			t.Errorf("flavor %s was loaded %d times", n, f.loads)
		}
	}
}

func TestLoadModel(t *testing.T) {
	r, fakes := registry(mlmodel.PyFuncFlavorName, "onnx")
	m := model(mlmodel.PyFuncFlavorName, "onnx")
	opts := LoadOptions{Threads: 3, CacheDir: "/cache"}
	l, err := r.LoadModel(t.Context(), m, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	if l.Flavor != "onnx" || l.Model != m || !strings.Contains(l.Reason, "preferred") {
		t.Errorf("Loaded = {Flavor %q, Model %p, Reason %q}; want onnx, %p, the selection's reason", l.Flavor, l.Model, l.Reason, m)
	}
	onnx := fakes["onnx"]
	if onnx.model != m || onnx.opts.Threads != 3 || onnx.opts.CacheDir != "/cache" {
		t.Errorf("flavor got model %p opts %+v; want %p and the caller's options", onnx.model, onnx.opts, m)
	}
	if fakes[mlmodel.PyFuncFlavorName].loads != 0 {
		t.Error("python_function was loaded too")
	}
	// Close reaches a predictor that holds resources, every time it is called.
	p := l.Predictor.(*regPredictor)
	if err := l.Close(); err != nil || p.closes != 1 {
		t.Errorf("Close = %v, predictor closed %d times", err, p.closes)
	}
	// ... and is a no-op for one that does not.
	if err := (&Loaded{Predictor: plainPredictor{}}).Close(); err != nil {
		t.Errorf("Close of a predictor without Close = %v", err)
	}
}

func TestLoadModelWrapsFlavorError(t *testing.T) {
	// The flavor's error must stay matchable (a missing runtime library is
	// a typed error the CLI explains) and say which flavor failed.
	sentinel := errors.New("libonnxruntime.so not found")
	r := NewRegistry()
	r.Register(&regFlavor{name: "onnx", loadErr: sentinel})
	_, err := r.LoadModel(t.Context(), model("onnx"), "", LoadOptions{})
	if !errors.Is(err, sentinel) {
		t.Errorf("error %v does not wrap the flavor's error", err)
	}
	if err == nil || !strings.Contains(err.Error(), `loading flavor "onnx"`) {
		t.Errorf("error %v does not name the flavor", err)
	}
	// A forced flavor's failure is wrapped the same way.
	_, err = r.LoadModel(t.Context(), model("onnx"), "onnx", LoadOptions{})
	if !errors.Is(err, sentinel) || !strings.Contains(err.Error(), `"onnx"`) {
		t.Errorf("forced: error %v", err)
	}
}

func TestLoadReadsDescriptor(t *testing.T) {
	// Load resolves a directory, reads MLmodel and hands the flavor a
	// descriptor that knows its directory (flavors resolve `data` by it).
	dir := filepath.Join(testenv.SharedTestdata(t), "mlflow", "onnx_mlp_handmade")
	r, fakes := registry(mlmodel.PyFuncFlavorName, "onnx")
	l, err := r.Load(t.Context(), dir, "", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := fakes["onnx"].model
	if l.Flavor != "onnx" || got == nil || got.Dir != dir || got.Flavors["onnx"]["data"] != "model.onnx" {
		t.Errorf("loaded %q with model %+v", l.Flavor, got)
	}
	if _, err := r.Load(t.Context(), filepath.Join(t.TempDir(), "missing"), "", LoadOptions{}); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
}

func TestRegistryConcurrentUse(t *testing.T) {
	// Registration is meant for start-up, but Lookup, Names and Select run
	// on request paths; -race checks the locking.
	r, _ := registry("onnx")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { r.Register(&regFlavor{name: fmt.Sprintf("f%d", i)}) })
		wg.Go(func() {
			r.Lookup("onnx")
			r.Names()
			if _, err := r.Select(model("onnx"), ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(r.Names()); n != 9 {
		t.Errorf("%d flavors registered, want 9", n)
	}
}
