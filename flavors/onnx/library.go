package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// RuntimeVersion is the ONNX Runtime release the setup script provisions
// into the cache. Any release with the C API version onnxruntime_go needs
// works when found elsewhere.
const RuntimeVersion = "1.30.0"

// EnvLibrary names the environment variable that points at the library.
const EnvLibrary = "MLSHIP_ONNXRUNTIME_LIB"

// libNames are the file names ONNX Runtime ships under on Linux.
var libNames = []string{"libonnxruntime.so", "libonnxruntime.so.1"}

// LibraryNotFoundError says where the library was looked for and how to
// provide it.
type LibraryNotFoundError struct {
	Searched []string
}

func (e *LibraryNotFoundError) Error() string {
	return fmt.Sprintf("ONNX Runtime shared library (libonnxruntime.so) not found; searched: %s. "+
		"Provide it with one of: set %s=/path/to/libonnxruntime.so; "+
		"install it system-wide (e.g. /usr/local/lib); pip install onnxruntime; "+
		"or run scripts/provision-onnxruntime.sh (make setup) to put ONNX Runtime %s in mlship's cache",
		strings.Join(e.Searched, ", "), EnvLibrary, RuntimeVersion)
}

// librarySearch is what FindLibrary consults; the CLI fills it from the
// environment.
type librarySearch struct {
	Explicit      string   // MLSHIP_ONNXRUNTIME_LIB
	LDLibraryPath string   // LD_LIBRARY_PATH
	SystemDirs    []string // ld.so's trusted directories
	PythonDirs    []string // site-packages directories to look into
	CacheDir      string   // mlship's cache directory
}

var defaultSystemDirs = []string{
	"/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu", "/lib64", "/lib",
}

// pythonSiteDirs lists where a Python onnxruntime package may be installed:
// an active virtualenv or conda env, the user's site, pyenv versions and the
// system interpreters.
func pythonSiteDirs(getenv func(string) string) []string {
	var roots []string
	for _, k := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if v := getenv(k); v != "" {
			roots = append(roots, v)
		}
	}
	home := getenv("HOME")
	var patterns []string
	for _, r := range roots {
		patterns = append(patterns, filepath.Join(r, "lib", "python3*", "site-packages"))
	}
	if home != "" {
		patterns = append(patterns,
			filepath.Join(home, ".local", "lib", "python3*", "site-packages"),
			filepath.Join(home, ".pyenv", "versions", "*", "lib", "python3*", "site-packages"))
	}
	patterns = append(patterns,
		"/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
		"/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages")
	var dirs []string
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		sort.Sort(sort.Reverse(sort.StringSlice(m))) // newest Python first
		dirs = append(dirs, m...)
	}
	return dirs
}

// CachedLibraryPath is where the setup script installs the library inside
// mlship's cache directory.
func CachedLibraryPath(cacheDir string) string {
	return filepath.Join(cacheDir, "onnxruntime", RuntimeVersion, "libonnxruntime.so.1")
}

// findLibrary returns the first library found, in the documented order.
func findLibrary(s librarySearch) (string, error) {
	if s.Explicit != "" {
		st, err := os.Stat(s.Explicit)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvLibrary, s.Explicit, err)
		}
		if st.IsDir() {
			for _, n := range libNames {
				p := filepath.Join(s.Explicit, n)
				if fileExists(p) {
					return p, nil
				}
			}
			return "", fmt.Errorf("%s=%s: no libonnxruntime.so in that directory", EnvLibrary, s.Explicit)
		}
		return s.Explicit, nil
	}
	var searched []string
	var dirs []string
	for _, d := range strings.Split(s.LDLibraryPath, ":") {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	dirs = append(dirs, s.SystemDirs...)
	for _, d := range dirs {
		for _, n := range libNames {
			if p := filepath.Join(d, n); fileExists(p) {
				return p, nil
			}
		}
	}
	searched = append(searched, "LD_LIBRARY_PATH and system library directories")
	for _, d := range s.PythonDirs {
		matches, _ := filepath.Glob(filepath.Join(d, "onnxruntime", "capi", "libonnxruntime.so*"))
		sort.Strings(matches)
		for _, p := range matches {
			if fileExists(p) {
				return p, nil
			}
		}
	}
	searched = append(searched, "Python onnxruntime packages")
	if s.CacheDir != "" {
		p := CachedLibraryPath(s.CacheDir)
		if fileExists(p) {
			return p, nil
		}
		searched = append(searched, p)
	}
	return "", &LibraryNotFoundError{Searched: searched}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// runtimeState is the process-wide ONNX Runtime environment. ONNX Runtime
// allows one environment per process and a dlopen'ed library cannot be
// swapped, so this is the one piece of package state: initialised on the
// first load, kept for the life of the process.
var runtimeState struct {
	mu   sync.Mutex
	path string // library in use once initialised
}

// ensureRuntime loads the library (once) and returns its path.
func ensureRuntime(s librarySearch) (string, error) {
	runtimeState.mu.Lock()
	defer runtimeState.mu.Unlock()
	if runtimeState.path != "" && ort.IsInitialized() {
		return runtimeState.path, nil
	}
	path, err := findLibrary(s)
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
