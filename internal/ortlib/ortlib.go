// Package ortlib finds the ONNX Runtime shared library on this machine. It is
// shared by the onnx flavor, which loads the library it finds, and by the
// image builder (pack), which copies that same file into images: both must
// agree on which library a model runs with, and pack may not import a flavor.
package ortlib

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Version is the ONNX Runtime release the setup script provisions into the
// cache. Any release with the C API version onnxruntime_go needs works
// when found elsewhere.
const Version = "1.30.0"

// EnvVar names the environment variable that points at the library (a file,
// or a directory holding it).
const EnvVar = "MLSHIP_ONNXRUNTIME_LIB"

// SonameFile is the file name the library is loaded by (its DT_SONAME): the
// name images install it under.
const SonameFile = "libonnxruntime.so.1"

// names are the file names ONNX Runtime ships under on Linux.
var names = []string{"libonnxruntime.so", SonameFile}

// NotFoundError says where the library was looked for and how to provide it.
type NotFoundError struct {
	Searched []string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("ONNX Runtime shared library (libonnxruntime.so) not found; searched: %s. "+
		"Provide it with one of: set %s=/path/to/libonnxruntime.so; "+
		"install it system-wide (e.g. /usr/local/lib); pip install onnxruntime; "+
		"or run scripts/provision-onnxruntime.sh (make setup) to put ONNX Runtime %s in mlship's cache",
		strings.Join(e.Searched, ", "), EnvVar, Version)
}

// Search is what Find consults, in this order.
type Search struct {
	Explicit      string   // MLSHIP_ONNXRUNTIME_LIB
	LDLibraryPath string   // LD_LIBRARY_PATH
	SystemDirs    []string // ld.so's trusted directories
	PythonDirs    []string // site-packages directories to look into
	CacheDir      string   // mlship's cache directory
}

// SystemDirs are the directories ld.so trusts on the Linux distributions
// mlship runs on.
var SystemDirs = []string{
	"/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu", "/lib64", "/lib",
}

// SearchFor is the documented search for an environment (getenv) and
// mlship's cache directory.
func SearchFor(getenv func(string) string, cacheDir string) Search {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return Search{
		Explicit:      getenv(EnvVar),
		LDLibraryPath: getenv("LD_LIBRARY_PATH"),
		SystemDirs:    SystemDirs,
		PythonDirs:    PythonSiteDirs(getenv),
		CacheDir:      cacheDir,
	}
}

// PythonSiteDirs lists where a Python onnxruntime package may be installed:
// an active virtualenv or conda env, the user's site, pyenv versions and the
// system interpreters.
func PythonSiteDirs(getenv func(string) string) []string {
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

// CachedPath is where the setup script installs the library inside mlship's
// cache directory.
func CachedPath(cacheDir string) string {
	return filepath.Join(cacheDir, "onnxruntime", Version, SonameFile)
}

// Find returns the first library found, in the documented order. An
// explicit setting that is wrong is an error, not a hint: the search does
// not go on past it.
func Find(s Search) (string, error) {
	if s.Explicit != "" {
		st, err := os.Stat(s.Explicit)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvVar, s.Explicit, err)
		}
		if st.IsDir() {
			for _, n := range names {
				p := filepath.Join(s.Explicit, n)
				if FileExists(p) {
					return p, nil
				}
			}
			return "", fmt.Errorf("%s=%s: no libonnxruntime.so in that directory", EnvVar, s.Explicit)
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
		for _, n := range names {
			if p := filepath.Join(d, n); FileExists(p) {
				return p, nil
			}
		}
	}
	searched = append(searched, "LD_LIBRARY_PATH and system library directories")
	for _, d := range s.PythonDirs {
		matches, _ := filepath.Glob(filepath.Join(d, "onnxruntime", "capi", "libonnxruntime.so*"))
		sort.Strings(matches)
		for _, p := range matches {
			if FileExists(p) {
				return p, nil
			}
		}
	}
	searched = append(searched, "Python onnxruntime packages")
	if s.CacheDir != "" {
		p := CachedPath(s.CacheDir)
		if FileExists(p) {
			return p, nil
		}
		searched = append(searched, p)
	}
	return "", &NotFoundError{Searched: searched}
}

// FileExists reports whether p is an existing file (not a directory).
func FileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
