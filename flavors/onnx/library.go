package onnx

import (
	"fmt"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlship/mlship/internal/ortlib"
)

// The library search lives in internal/ortlib, shared with the image
// builder, which copies the same file into images. These names keep the
// flavor's public surface.

// RuntimeVersion is the ONNX Runtime release the setup script provisions
// into the cache. Any release with the C API version onnxruntime_go needs
// works when found elsewhere.
const RuntimeVersion = ortlib.Version

// EnvLibrary names the environment variable that points at the library.
const EnvLibrary = ortlib.EnvVar

// LibraryNotFoundError says where the library was looked for and how to
// provide it.
type LibraryNotFoundError = ortlib.NotFoundError

// CachedLibraryPath is where the setup script installs the library inside
// mlship's cache directory.
func CachedLibraryPath(cacheDir string) string { return ortlib.CachedPath(cacheDir) }

func fileExists(p string) bool { return ortlib.FileExists(p) }

// runtimeState is the process-wide ONNX Runtime environment. ONNX Runtime
// allows one environment per process and a dlopen'ed library cannot be
// swapped, so this is the one piece of package state: initialised on the
// first load, kept for the life of the process.
var runtimeState struct {
	mu   sync.Mutex
	path string // library in use once initialised
}

// ensureRuntime loads the library (once) and returns its path.
func ensureRuntime(s ortlib.Search) (string, error) {
	runtimeState.mu.Lock()
	defer runtimeState.mu.Unlock()
	if runtimeState.path != "" && ort.IsInitialized() {
		return runtimeState.path, nil
	}
	path, err := ortlib.Find(s)
	if err != nil {
		return "", err
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return "", fmt.Errorf("initialising ONNX Runtime from %s: %w", path, err)
	}
	runtimeState.path = path
	return path, nil
}
