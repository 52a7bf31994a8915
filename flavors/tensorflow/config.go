package tensorflow

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/mlship/mlship/mlmodel"
)

// Runtime values of MLSHIP_TF_RUNTIME (--tf-runtime).
const (
	RuntimeAuto   = "auto"   // convert to ONNX; the TensorFlow library for what cannot be converted
	RuntimeONNX   = "onnx"   // convert to ONNX only
	RuntimeNative = "native" // the TensorFlow C library only
)

// EnvRuntime is the setting that chooses the runtime.
const EnvRuntime = "MLSHIP_TF_RUNTIME"

// Config is the `tensorflow` flavor block of MLmodel.
type Config struct {
	// SavedModelDir is the SavedModel directory, relative to the model
	// directory.
	SavedModelDir string
	// Tags select the MetaGraph (default ["serve"]).
	Tags []string
	// SignatureKey selects the signature (default "serving_default").
	SignatureKey string
	// ModelType is MLflow's model_type: "tf1-estimator", "tf2-module",
	// "keras" or "" (inferred as tf1-estimator, as MLflow does).
	ModelType string
	// SaveFormat is a Keras model's save_format as the flavor block gives
	// it ("" when absent: see kerasSaveFormat).
	SaveFormat string
	// KerasData is a Keras model's data directory (model_type keras).
	KerasData string
}

// Model types MLflow writes.
const (
	ModelTypeTF1Estimator = "tf1-estimator"
	ModelTypeTF2Module    = "tf2-module"
	ModelTypeKeras        = "keras"
)

// ParseConfig reads the flavor block as MLflow 1.x–3.x write it: a
// saved_model_dir (TF1 estimators, tf.Module exports) or, for model_type
// keras, a data directory whose Keras model is a SavedModel at data/model
// (save_format tf).
func ParseConfig(c mlmodel.FlavorConfig) (*Config, error) {
	cfg := &Config{}
	var err error
	if cfg.ModelType, _, err = c.String("model_type"); err != nil {
		return nil, err
	}
	switch cfg.ModelType {
	case "", ModelTypeTF1Estimator, ModelTypeTF2Module, ModelTypeKeras:
	default:
		// MLflow refuses it too ("Unknown model_type").
		return nil, fmt.Errorf("unknown model_type %q: MLflow writes %s, %s or %s", cfg.ModelType, ModelTypeTF1Estimator, ModelTypeTF2Module, ModelTypeKeras)
	}
	if cfg.SignatureKey, _, err = c.String("signature_def_key"); err != nil {
		return nil, err
	}
	if cfg.Tags, err = c.Strings("meta_graph_tags"); err != nil {
		return nil, err
	}
	if cfg.SavedModelDir, _, err = c.String("saved_model_dir"); err != nil {
		return nil, err
	}
	if cfg.ModelType == ModelTypeKeras && cfg.SavedModelDir == "" {
		data, _, err := c.String("data")
		if err != nil {
			return nil, err
		}
		if data == "" {
			data = "data"
		}
		cfg.KerasData = data
		format, _, _ := c.String("save_format")
		cfg.SaveFormat = strings.ToLower(format)
		if cfg.SaveFormat != "" && cfg.SaveFormat != "tf" {
			return nil, errKerasFormat(format)
		}
		cfg.SavedModelDir = path.Join(data, "model")
	}
	if cfg.SavedModelDir == "" {
		return nil, fmt.Errorf(`the tensorflow flavor has no "saved_model_dir" naming the SavedModel directory`)
	}
	if len(cfg.Tags) == 0 {
		cfg.Tags = []string{"serve"}
	}
	if cfg.SignatureKey == "" {
		cfg.SignatureKey = "serving_default"
	}
	return cfg, nil
}

// parseRuntime validates a runtime setting ("" means auto).
func parseRuntime(s string) (string, error) {
	switch r := strings.ToLower(strings.TrimSpace(s)); r {
	case "":
		return RuntimeAuto, nil
	case RuntimeAuto, RuntimeONNX, RuntimeNative:
		return r, nil
	}
	return "", fmt.Errorf("%s=%q: want auto, onnx or native", EnvRuntime, s)
}

// ModelConfig is the configuration of m's tensorflow flavor block as Load
// uses it: ParseConfig, and for a Keras model without save_format the
// format its files show.
func ModelConfig(m *mlmodel.Model) (*Config, error) {
	fc, ok := m.Flavors[FlavorName]
	if !ok {
		return nil, fmt.Errorf("model has no %q flavor", FlavorName)
	}
	cfg, err := ParseConfig(fc)
	if err == nil {
		err = kerasSaveFormat(m, cfg)
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

func errKerasFormat(format string) error {
	return fmt.Errorf("model_type keras with save_format %q: only Keras models saved as SavedModels (save_format tf) can be served without Python", format)
}

// kerasSaveFormat settles the save_format of a Keras model whose flavor
// block does not give one. MLflow then reads data/save_format.txt, and
// assumes h5 without it; mlship also takes data/model as a SavedModel when
// it is one, and refuses an h5 (or .keras) model with the error for it.
func kerasSaveFormat(m *mlmodel.Model, cfg *Config) error {
	if cfg.ModelType != ModelTypeKeras || cfg.SaveFormat != "" || cfg.KerasData == "" {
		return nil
	}
	data, err := m.Path(cfg.KerasData)
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(data, "save_format.txt")); err == nil {
		if f := strings.ToLower(strings.TrimSpace(string(b))); f != "tf" {
			return errKerasFormat(f)
		}
		return nil
	}
	if _, err := os.Stat(filepath.Join(data, "model", "saved_model.pb")); err == nil {
		return nil
	}
	for _, f := range []string{"h5", "keras"} {
		if _, err := os.Stat(filepath.Join(data, "model."+f)); err == nil {
			return errKerasFormat(f)
		}
	}
	return errKerasFormat("h5")
}
