package pack

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mlship/mlship/internal/ortlib"
	"github.com/mlship/mlship/mlmodel"
)

// nativeLib is a shared library a flavor loads at run time, which the image
// carries in LibDir.
type nativeLib struct {
	host string // file on this machine
	name string // file name in the image
	env  string // variable the flavor finds it by, set in the image
}

// nativeFlavors are the flavors an image can serve in-process, in mlship's
// preference order, with the libraries each needs. pack may not import the
// flavors themselves (they are the CLI's), so this is the image's view of
// them: what must be in the root filesystem for `mlship serve` to load one.
var nativeFlavors = []struct {
	name      string
	libraries func(getenv func(string) string, cacheDir string) ([]nativeLib, error)
}{
	{"onnx", onnxLibraries},
	// SavedModels are converted to ONNX at load and run on ONNX Runtime.
	{"tensorflow", onnxLibraries},
}

// onnxLibraries finds ONNX Runtime exactly as the onnx flavor does, so the
// image runs the library the model was tested with here.
func onnxLibraries(getenv func(string) string, cacheDir string) ([]nativeLib, error) {
	p, err := ortlib.Find(ortlib.SearchFor(getenv, cacheDir))
	if err != nil {
		return nil, err
	}
	return []nativeLib{{host: p, name: ortlib.SonameFile, env: ortlib.EnvVar}}, nil
}

// ErrNoNativeFlavor is matched (errors.Is) by a *FlavorError.
var ErrNoNativeFlavor = errors.New("no flavor the image builder can pack")

// FlavorError says that a model has no flavor the daemonless builder can
// put in an image. Python is set when the model could be served through
// python_function, which needs its Python environment inside the image.
type FlavorError struct {
	Model  []string // the model's flavors
	Forced string   // the flavor asked for, if any
	Python bool     // the model has python_function
}

func (e *FlavorError) Error() string {
	have := strings.Join(e.Model, ", ")
	if have == "" {
		have = "none"
	}
	var native []string
	for _, f := range nativeFlavors {
		native = append(native, f.name)
	}
	pack := strings.Join(native, ", ")
	switch {
	case e.Forced == mlmodel.PyFuncFlavorName && !e.Python:
		return fmt.Sprintf("cannot build an image serving flavor %q: the model has none (its flavors: %s)", e.Forced, have)
	case e.Forced == mlmodel.PyFuncFlavorName || (e.Forced == "" && e.Python):
		return fmt.Sprintf("the model would be served as python_function (its flavors: %s): the daemonless image builder "+
			"packs native flavors (%s), whose runtimes it copies into the image, while a python_function image "+
			"needs a Python environment with the model's packages in it, and none was given", have, pack)
	case e.Forced != "":
		return fmt.Sprintf("cannot build an image serving flavor %q (the model has: %s; the image builder packs: %s)", e.Forced, have, pack)
	default:
		return fmt.Sprintf("the model has no flavor the image builder packs (the model has: %s; the builder packs: %s)", have, pack)
	}
}

func (e *FlavorError) Is(target error) bool { return target == ErrNoNativeFlavor }

// selectFlavor picks the flavor the image serves: force when given, else
// the first native flavor the model has; with a Python environment
// (python), python_function when forced or when the model has no native
// flavor.
func selectFlavor(m *mlmodel.Model, force string, python bool) (string, func(func(string) string, string) ([]nativeLib, error), error) {
	have := m.FlavorNames()
	ferr := &FlavorError{Model: have, Forced: force, Python: slices.Contains(have, mlmodel.PyFuncFlavorName)}
	for _, f := range nativeFlavors {
		if _, ok := m.Flavors[f.name]; !ok || (force != "" && force != f.name) {
			continue
		}
		return f.name, f.libraries, nil
	}
	if python && ferr.Python && (force == "" || force == mlmodel.PyFuncFlavorName) {
		return mlmodel.PyFuncFlavorName, noLibraries, nil
	}
	return "", nil, ferr
}

// noLibraries is the native libraries of python_function: none (its
// extension modules come with the Python environment).
func noLibraries(func(string) string, string) ([]nativeLib, error) { return nil, nil }

// hasNative says whether the model has a flavor the image could serve
// without Python.
func hasNative(m *mlmodel.Model) bool {
	for _, f := range nativeFlavors {
		if _, ok := m.Flavors[f.name]; ok {
			return true
		}
	}
	return false
}
