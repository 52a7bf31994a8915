package dockerfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlship/mlship/internal/ortlib"
	"github.com/mlship/mlship/mlmodel"
)

// The image layout: the contract between the Dockerfile and `mlship serve`.
const (
	ModelPath  = "/opt/ml/model"          // where the model is copied (MLflow's path)
	BinaryPath = "/opt/mlship/bin/mlship" // the entrypoint
	LibDir     = "/opt/mlship/lib"        // native libraries (ONNX Runtime)
	Port       = 8080                     // the port served (MLflow's and SageMaker's)
	// UID is the non-root user and group the server runs as: distroless's
	// "nonroot", as the daemonless builder's images use.
	UID      = 65532
	UserName = "nonroot"

	// DefaultNativeBase is the base image for models served without Python.
	DefaultNativeBase = "debian:12-slim"
	// DefaultPython is the interpreter of the python:X.Y-slim images.
	DefaultPython = "/usr/local/bin/python"
)

// Paths inside the build context.
const (
	ContextModelDir = "model_dir" // model_dir/<name>, as MLflow lays it out
	contextBinary   = "mlship"
	contextLibDir   = "lib"
)

// Flavors an image can serve the model with.
const (
	FlavorONNX           = "onnx"
	FlavorPythonFunction = mlmodel.PyFuncFlavorName
)

// nativeFlavors are served in-process; `mlship serve` prefers them to
// python_function, in this order.
var nativeFlavors = []string{FlavorONNX}

// Options say what to put in the build context. Binary is required, and
// ONNXRuntime for models served with the onnx flavor.
type Options struct {
	// Flavor forces the flavor the image serves with ("" picks as
	// `mlship serve` does: a native flavor first, else python_function).
	Flavor string
	// BaseImage replaces the default base (python:<model Python>-slim for
	// python_function models, debian:12-slim for native ones).
	BaseImage string
	// Binary is the mlship executable to copy into the image. It must be
	// built for the image's platform (linux, same architecture).
	Binary string
	// ONNXRuntime is the libonnxruntime.so file to copy for onnx models.
	ONNXRuntime string
	// Python is the interpreter in the image (default /usr/local/bin/python,
	// the python:X.Y-slim images' one); python_function models only.
	Python string
	// EnvManager is MLflow's --env-manager: "", local, virtualenv and uv all
	// install the requirements into the image's interpreter (the image is the
	// isolated environment); conda is refused.
	EnvManager string
}

// Result describes a generated build context.
type Result struct {
	Dir       string   // the context directory, holding Dockerfile
	Flavor    string   // the flavor the image serves with
	BaseImage string   // the FROM image
	ModelName string   // the model's directory name under model_dir
	Notes     []string // things the user should know (base image adjustments, requirements)
}

// ServingFlavor picks the flavor an image serves the model with, as
// `mlship serve` picks: a native flavor when the model has one, else
// python_function. A non-empty override must be one of those and present
// in the model.
func ServingFlavor(m *mlmodel.Model, override string) (string, error) {
	if override != "" {
		if override != FlavorONNX && override != FlavorPythonFunction {
			return "", fmt.Errorf("flavor %q: images serve the onnx or python_function flavor", override)
		}
		if _, ok := m.Flavors[override]; !ok {
			return "", fmt.Errorf("the model has no %s flavor (it has %s)", override, strings.Join(m.FlavorNames(), ", "))
		}
		return override, nil
	}
	for _, f := range nativeFlavors {
		if _, ok := m.Flavors[f]; ok {
			return f, nil
		}
	}
	if _, ok := m.Flavors[FlavorPythonFunction]; ok {
		return FlavorPythonFunction, nil
	}
	return "", fmt.Errorf("the model has no flavor mlship can serve in an image (it has %s; want onnx or python_function)",
		strings.Join(m.FlavorNames(), ", "))
}

// Generate writes the build context for m into dir: dir/Dockerfile,
// dir/model_dir/<name>, dir/mlship and, for onnx, dir/lib. dir is created
// if needed; entries of an earlier generation there are replaced and
// anything else is left alone.
func Generate(m *mlmodel.Model, dir string, o Options) (*Result, error) {
	p, err := newPlan(m, o)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if within(abs, m.Dir) {
		return nil, fmt.Errorf("output directory %s is inside the model directory %s", abs, m.Dir)
	}
	if err := writeContext(abs, p.files); err != nil {
		return nil, err
	}
	return &Result{Dir: abs, Flavor: p.flavor, BaseImage: p.base, ModelName: p.modelName, Notes: p.notes}, nil
}

// plan is a build context before it is written.
type plan struct {
	flavor, base, modelName string
	files                   []file
	notes                   []string
}

func newPlan(m *mlmodel.Model, o Options) (*plan, error) {
	if m == nil || m.Dir == "" {
		return nil, errors.New("the model must be loaded from a directory")
	}
	if o.Binary == "" {
		return nil, errors.New("no mlship binary to copy into the image")
	}
	if st, err := os.Stat(o.Binary); err != nil {
		return nil, fmt.Errorf("mlship binary: %w", err)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("mlship binary %s is not a file", o.Binary)
	}
	flavor, err := ServingFlavor(m, o.Flavor)
	if err != nil {
		return nil, err
	}
	auto, _ := ServingFlavor(m, "")
	p := &plan{flavor: flavor, modelName: filepath.Base(m.Dir)}
	modelFiles, err := modelTree(m.Dir, ContextModelDir+"/"+p.modelName)
	if err != nil {
		return nil, err
	}
	d := &dockerfile{model: m, modelName: p.modelName, flavor: flavor, forceFlavor: flavor != auto}
	p.files = append(p.files, file{rel: contextBinary, src: o.Binary, mode: 0o755})
	switch flavor {
	case FlavorPythonFunction:
		err = d.python(o)
	default:
		if o.ONNXRuntime == "" {
			return nil, errors.New("no ONNX Runtime library to copy into the image")
		}
		if st, err := os.Stat(o.ONNXRuntime); err != nil {
			return nil, fmt.Errorf("ONNX Runtime library: %w", err)
		} else if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("ONNX Runtime library %s is not a file", o.ONNXRuntime)
		}
		p.files = append(p.files,
			file{rel: contextLibDir, dir: true, mode: 0o755},
			file{rel: contextLibDir + "/" + ortlib.SonameFile, src: o.ONNXRuntime, mode: 0o644})
		d.glibc = requiredGlibc(o.Binary, o.ONNXRuntime)
		d.native(o)
	}
	if err != nil {
		return nil, err
	}
	p.base, p.notes = d.base, d.notes
	p.files = append(p.files, file{rel: ContextModelDir, dir: true, mode: 0o755})
	p.files = append(p.files, modelFiles...)
	p.files = append(p.files, file{rel: "Dockerfile", data: []byte(d.String()), mode: 0o644})
	return p, nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
