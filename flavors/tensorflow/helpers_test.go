package tensorflow

import (
	"testing"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/ortlib"
	"github.com/mlship/mlship/internal/testenv"
)

// loadOptions point at the provisioned ONNX Runtime and keep converted
// models in a fresh cache directory of the test's own.
func loadOptions(t testing.TB) flavors.LoadOptions {
	t.Helper()
	getenv, cache := testenv.ONNXRuntime(t)
	lib, err := ortlib.Find(ortlib.SearchFor(getenv, cache))
	if err != nil {
		testenv.Missing(t, err.Error())
	}
	env := func(k string) string {
		switch k {
		case "MLSHIP_ONNXRUNTIME_LIB":
			return lib
		case EnvRuntime, "MLSHIP_TENSORFLOW_LIB":
			return ""
		}
		return getenv(k)
	}
	return flavors.LoadOptions{Getenv: env, CacheDir: t.TempDir()}
}
