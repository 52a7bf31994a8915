package tensorflow

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/flavors/tensorflow/native"
	"github.com/mlship/mlship/flavors/tensorflow/savedmodel"
	"github.com/mlship/mlship/flavors/tensorflow/tf2onnx"
	"github.com/mlship/mlship/mlmodel"
)

// FlavorName is the MLmodel key of the TensorFlow flavor.
const FlavorName = "tensorflow"

// Flavor loads `tensorflow` models. Its zero value is ready to use.
type Flavor struct{}

var _ flavors.Flavor = Flavor{}

// Name implements flavors.Flavor.
func (Flavor) Name() string { return FlavorName }

// Load implements flavors.Flavor: it reads the SavedModel the flavor block
// names, picks the signature and runs it, converted to ONNX or on the
// TensorFlow C library as MLSHIP_TF_RUNTIME (--tf-runtime) says.
func (Flavor) Load(ctx context.Context, m *mlmodel.Model, opts flavors.LoadOptions) (flavors.Predictor, error) {
	if _, ok := m.Flavors[FlavorName]; !ok {
		return nil, fmt.Errorf("model has no %q flavor", FlavorName)
	}
	cfg, err := ModelConfig(m)
	if err != nil {
		return nil, fmt.Errorf("flavors.tensorflow: %w", err)
	}
	dir, err := m.Path(cfg.SavedModelDir)
	if err != nil {
		return nil, fmt.Errorf("flavors.tensorflow.saved_model_dir: %w", err)
	}
	p, err := LoadSavedModel(ctx, dir, cfg, opts)
	var ue *tf2onnx.UnsupportedError
	if _, ok := m.Flavors[mlmodel.PyFuncFlavorName]; ok && errors.As(err, &ue) {
		ue.Hint += "; the model also has a python_function flavor, which --flavor python_function serves with TensorFlow in Python"
	}
	return p, err
}

// LoadSavedModel loads the SavedModel in dir with cfg's tags and
// signature (cfg.SavedModelDir is not used).
func LoadSavedModel(ctx context.Context, dir string, cfg *Config, opts flavors.LoadOptions) (flavors.Predictor, error) {
	runtime, err := parseRuntime(opts.Env(EnvRuntime))
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("the SavedModel directory %s is missing", dir)
	}
	sm, err := savedmodel.Load(dir)
	if err != nil {
		return nil, err
	}
	mg, err := sm.MetaGraph(cfg.Tags)
	if err != nil {
		return nil, err
	}
	sig, err := mg.Signature(cfg.SignatureKey)
	if err != nil {
		return nil, err
	}
	log := opts.Log()
	if runtime == RuntimeNative {
		return loadNative(ctx, dir, cfg, sig, opts)
	}
	p, err := loadConverted(ctx, sm, mg, sig, cfg, opts)
	if err == nil || !errors.Is(err, tf2onnx.ErrUnsupported) {
		return p, err
	}
	var ue *tf2onnx.UnsupportedError
	errors.As(err, &ue)
	lib, ferr := native.Find(opts.Getenv)
	switch {
	case runtime == RuntimeONNX:
		ue.Hint = "--tf-runtime onnx was asked for; --tf-runtime auto or native would run it on the TensorFlow C library"
		if ferr != nil {
			ue.Hint += " (not available: " + ferr.Error() + ")"
		}
		return nil, err
	case ferr != nil:
		ue.Hint = "the TensorFlow runtime fallback is not available: " + ferr.Error()
		return nil, err
	}
	log.Info("tensorflow: the graph cannot be converted to ONNX; using the TensorFlow C library", "reason", err.Error(), "library", lib)
	p, nerr := loadNative(ctx, dir, cfg, sig, opts)
	if nerr != nil {
		// Both runtimes failed: the op that sent the model to TensorFlow is
		// the first thing to know.
		return nil, fmt.Errorf("%w; the TensorFlow C library %s could not take over: %v", err, lib, nerr)
	}
	return p, nil
}

func loadNative(ctx context.Context, dir string, cfg *Config, sig *savedmodel.Signature, opts flavors.LoadOptions) (flavors.Predictor, error) {
	lib, err := native.Find(opts.Getenv)
	if err != nil {
		return nil, fmt.Errorf("--tf-runtime native: %w", err)
	}
	p, err := native.Load(ctx, lib, dir, cfg.Tags, nativeSignature(sig), opts.Log())
	if err != nil {
		return nil, err
	}
	return &predictor{Predictor: p, sig: sig}, nil
}

func nativeSignature(sig *savedmodel.Signature) native.Signature {
	conv := func(ts []savedmodel.TensorInfo) []native.IO {
		out := make([]native.IO, len(ts))
		for i, t := range ts {
			out[i] = native.IO{Name: t.Name, Tensor: t.Tensor, DType: t.DType}
		}
		return out
	}
	return native.Signature{Key: sig.Key, Inputs: conv(sig.Inputs), Outputs: conv(sig.Outputs)}
}

func init() { flavors.Register(Flavor{}) }
