// Package native runs SavedModels on the TensorFlow C library
// (libtensorflow.so.2), loaded at run time, for graphs the ONNX conversion
// cannot translate. The mlship binary builds and runs without the library;
// only loading a model with this runtime needs it.
package native

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvLib names the TensorFlow C library to use.
const EnvLib = "MLSHIP_TENSORFLOW_LIB"

// LibName is the library's file name as the TensorFlow C API packages
// install it.
const LibName = "libtensorflow.so.2"

// ErrNotFound is matched by the error Find returns when there is no
// library.
var ErrNotFound = errors.New("the TensorFlow C library was not found")

// systemDirs are searched after LD_LIBRARY_PATH.
var systemDirs = []string{"/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib/x86_64-linux-gnu"}

// Find returns the path of the TensorFlow C library: MLSHIP_TENSORFLOW_LIB
// when set (it must exist), else libtensorflow.so.2 in LD_LIBRARY_PATH or
// the system library directories.
func Find(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if p := getenv(EnvLib); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvLib, p, err)
		}
		return p, nil
	}
	dirs := append(filepath.SplitList(getenv("LD_LIBRARY_PATH")), systemDirs...)
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, LibName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: set %s to libtensorflow.so.2 (from https://www.tensorflow.org/install/lang_c) or install it in %s",
		ErrNotFound, EnvLib, strings.Join(systemDirs[:2], " or "))
}
