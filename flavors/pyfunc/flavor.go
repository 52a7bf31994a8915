package pyfunc

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/pyenv"
	"github.com/mlship/mlship/mlmodel"
)

// FlavorName is the MLmodel key of MLflow's generic Python flavor.
const FlavorName = mlmodel.PyFuncFlavorName

//go:embed worker/mlship_worker.py
var workerScript []byte

// Flavor loads python_function models. Its zero value is ready to use.
type Flavor struct{}

var _ flavors.Flavor = Flavor{}

// Name implements flavors.Flavor.
func (Flavor) Name() string { return FlavorName }

// requiredModules are what the worker itself needs in the interpreter.
var requiredModules = []string{"numpy", "pandas"}

// Load prepares the interpreter (or environment), writes the worker
// script, and starts the pool; it returns once every worker has loaded
// the model.
func (Flavor) Load(ctx context.Context, m *mlmodel.Model, opts flavors.LoadOptions) (flavors.Predictor, error) {
	conf, ok, err := m.PyFunc()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("model has no %q flavor", FlavorName)
	}
	log := opts.Log()
	po := opts.Python
	interp := po.Interpreter
	if interp == "" {
		interp = opts.Env("MLSHIP_PYTHON")
	}
	env, err := pyenv.Prepare(ctx, pyenv.Options{
		Manager:            po.EnvManager,
		Python:             interp,
		ModelDir:           m.Dir,
		CacheDir:           opts.CacheDir,
		PipFindLinks:       po.PipFindLinks,
		SystemSitePackages: po.SystemSitePackages,
		Require:            requiredModules,
		Getenv:             opts.Getenv,
		Logger:             log,
	})
	if err != nil {
		return nil, fmt.Errorf("python environment: %w", err)
	}
	if conf.PythonVersion != "" && !sameMinor(conf.PythonVersion, env.Version) {
		// MLflow only warns too: pickles often load across minor versions.
		log.Warn("the model was saved with another Python version", "saved_with", conf.PythonVersion, "running", env.Version)
	}

	script, err := writeScript(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"pyfunc":     m.Flavors[FlavorName],
		"sklearn":    m.Flavors["sklearn"],
		"use_mlflow": po.UseMLflow == nil || *po.UseMLflow,
	}
	if conf.Config != nil {
		cfg["model_config"] = conf.Config
	}
	if mc := opts.Env("SERVING_MODEL_CONFIG"); mc != "" {
		var override map[string]any
		if err := json.Unmarshal([]byte(mc), &override); err != nil {
			return nil, fmt.Errorf("SERVING_MODEL_CONFIG is not a JSON object: %w", err)
		}
		merged := map[string]any{}
		for k, v := range conf.Config {
			merged[k] = v
		}
		for k, v := range override {
			merged[k] = v
		}
		cfg["model_config"] = merged
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding the worker configuration: %w", err)
	}
	workers := po.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	timeout := po.StartTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	s := &spec{python: env.Python, script: script, modelDir: m.Dir, config: cfgJSON, env: workerEnv(opts)}
	if sig := m.Signature; sig != nil && sig.Inputs.IsTensorBased() && !sig.Inputs.HasNames() {
		s.unnamedTensor = &sig.Inputs.Tensors[0]
	}
	p, err := newPool(ctx, s, workers, timeout, log)
	if err != nil {
		return nil, err
	}
	log.Info("python workers ready", "workers", workers)
	return p, nil
}

// workerEnv is the environment workers run with: mlship's own, with
// Python writing no bytecode next to the model, unbuffered output, and
// math libraries held to one thread per worker (the pool provides the
// parallelism; N workers × N BLAS threads oversubscribe the CPUs).
func workerEnv(opts flavors.LoadOptions) []string {
	env := os.Environ()
	set := map[string]string{
		"PYTHONDONTWRITEBYTECODE": "1",
		"PYTHONUNBUFFERED":        "1",
	}
	for _, k := range []string{"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"} {
		if opts.Env(k) == "" {
			set[k] = "1"
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

// writeScript puts the embedded worker where the interpreter can run it:
// the cache directory, named by content so versions never collide, written
// atomically.
func writeScript(cacheDir string) (string, error) {
	dir := filepath.Join(cacheDir, "pyfunc")
	if cacheDir == "" {
		dir = filepath.Join(os.TempDir(), "mlship-pyfunc")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("worker script directory: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("mlship_worker_%x.py", hash(workerScript)))
	if b, err := os.ReadFile(path); err == nil && string(b) == string(workerScript) {
		return path, nil
	}
	tmp, err := os.CreateTemp(dir, ".mlship_worker-*")
	if err != nil {
		return "", fmt.Errorf("writing the worker script: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(workerScript); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing the worker script: %w", err)
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("writing the worker script: %w", err)
	}
	return path, nil
}

func hash(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func sameMinor(a, b string) bool {
	pa, pb := strings.SplitN(a, ".", 3), strings.SplitN(b, ".", 3)
	return len(pa) >= 2 && len(pb) >= 2 && pa[0] == pb[0] && pa[1] == pb[1]
}

func init() { flavors.Register(Flavor{}) }
