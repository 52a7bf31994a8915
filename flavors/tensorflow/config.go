package tensorflow

import (
	"fmt"
	"path"
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
}

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
	if cfg.SignatureKey, _, err = c.String("signature_def_key"); err != nil {
		return nil, err
	}
	if cfg.Tags, err = c.Strings("meta_graph_tags"); err != nil {
		return nil, err
	}
	if cfg.SavedModelDir, _, err = c.String("saved_model_dir"); err != nil {
		return nil, err
	}
	if cfg.ModelType == "keras" && cfg.SavedModelDir == "" {
		data, _, err := c.String("data")
		if err != nil {
			return nil, err
		}
		if data == "" {
			data = "data"
		}
		switch format, _, _ := c.String("save_format"); strings.ToLower(format) {
		case "", "tf":
			cfg.SavedModelDir = path.Join(data, "model")
		default:
			return nil, fmt.Errorf("model_type keras with save_format %q: only Keras models saved as SavedModels (save_format tf) can be served without Python", format)
		}
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
