package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mlship/mlship/flavors"
)

// addTFRuntimeFlag registers --tf-runtime, which chooses how tensorflow
// models run (the flavor reads it as MLSHIP_TF_RUNTIME).
func addTFRuntimeFlag(fs *pflag.FlagSet, v *string) {
	fs.StringVar(v, "tf-runtime", "", "tensorflow models: auto (convert to ONNX, the TensorFlow C library for graphs that cannot be), onnx or native (env MLSHIP_TF_RUNTIME; default auto)")
}

// withTFRuntime hands --tf-runtime, when given, to the flavors in place
// of MLSHIP_TF_RUNTIME.
func withTFRuntime(lo flavors.LoadOptions, v string) (flavors.LoadOptions, error) {
	if v == "" {
		return lo, nil
	}
	switch strings.ToLower(v) {
	case "auto", "onnx", "native":
	default:
		return lo, fmt.Errorf("--tf-runtime must be auto, onnx or native, not %q", v)
	}
	getenv := lo.Getenv
	lo.Getenv = func(k string) string {
		if k == "MLSHIP_TF_RUNTIME" {
			return v
		}
		if getenv == nil {
			return ""
		}
		return getenv(k)
	}
	return lo, nil
}
