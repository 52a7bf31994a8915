package cli

import (
	"testing"

	"github.com/mlship/mlship/flavors"
)

func TestWithTFRuntime(t *testing.T) {
	env := func(k string) string { return map[string]string{"MLSHIP_TF_RUNTIME": "onnx", "OTHER": "x"}[k] }
	lo, err := withTFRuntime(flavors.LoadOptions{Getenv: env}, "")
	if err != nil || lo.Env("MLSHIP_TF_RUNTIME") != "onnx" {
		t.Errorf("no flag: %q %v", lo.Env("MLSHIP_TF_RUNTIME"), err)
	}
	lo, err = withTFRuntime(flavors.LoadOptions{Getenv: env}, "native")
	if err != nil || lo.Env("MLSHIP_TF_RUNTIME") != "native" || lo.Env("OTHER") != "x" {
		t.Errorf("flag: %q %q %v", lo.Env("MLSHIP_TF_RUNTIME"), lo.Env("OTHER"), err)
	}
	if _, err := withTFRuntime(flavors.LoadOptions{}, "tensorflow"); err == nil {
		t.Error("a bad value was accepted")
	}
}
