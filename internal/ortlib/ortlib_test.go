package ortlib

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// touch creates an (empty) file and its directories: Find looks for
// files, it does not load them.
func touch(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The library is looked for in the documented order: MLSHIP_ONNXRUNTIME_LIB
// (a file or a directory), LD_LIBRARY_PATH and the system directories, an
// installed Python onnxruntime, then mlship's cache.
func TestFindLibrary(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup lays out files under root and returns the search and the
		// path expected ("" when an error is expected).
		setup func(t *testing.T, root string) (Search, string)
		err   []string // substrings of the error
	}{
		{
			name: "explicit file",
			setup: func(t *testing.T, root string) (Search, string) {
				lib := touch(t, filepath.Join(root, "custom", "libonnxruntime.so.1.30.0"))
				// Found elsewhere too: the explicit setting wins.
				touch(t, filepath.Join(root, "ld", "libonnxruntime.so"))
				return Search{Explicit: lib, LDLibraryPath: filepath.Join(root, "ld")}, lib
			},
		},
		{
			name: "explicit directory",
			setup: func(t *testing.T, root string) (Search, string) {
				lib := touch(t, filepath.Join(root, "ort", "lib", "libonnxruntime.so.1"))
				return Search{Explicit: filepath.Join(root, "ort", "lib")}, lib
			},
		},
		{
			name: "explicit directory without the library",
			setup: func(t *testing.T, root string) (Search, string) {
				touch(t, filepath.Join(root, "cache", "onnxruntime", Version, "libonnxruntime.so.1"))
				return Search{Explicit: root, CacheDir: filepath.Join(root, "cache")}, ""
			},
			// An explicit setting that is wrong is an error, not a hint.
			err: []string{EnvVar, "no libonnxruntime.so"},
		},
		{
			name: "explicit path missing",
			setup: func(t *testing.T, root string) (Search, string) {
				return Search{Explicit: filepath.Join(root, "nope.so")}, ""
			},
			err: []string{EnvVar, "nope.so"},
		},
		{
			name: "LD_LIBRARY_PATH",
			setup: func(t *testing.T, root string) (Search, string) {
				lib := touch(t, filepath.Join(root, "b", "libonnxruntime.so"))
				touch(t, filepath.Join(root, "site", "onnxruntime", "capi", "libonnxruntime.so.1.20.0"))
				return Search{
					LDLibraryPath: filepath.Join(root, "a") + "::" + filepath.Join(root, "b"),
					PythonDirs:    []string{filepath.Join(root, "site")},
				}, lib
			},
		},
		{
			name: "system directory",
			setup: func(t *testing.T, root string) (Search, string) {
				lib := touch(t, filepath.Join(root, "usr", "lib", "libonnxruntime.so.1"))
				return Search{SystemDirs: []string{filepath.Join(root, "usr", "local", "lib"), filepath.Join(root, "usr", "lib")}}, lib
			},
		},
		{
			name: "python site-packages",
			setup: func(t *testing.T, root string) (Search, string) {
				site := filepath.Join(root, "venv", "lib", "python3.11", "site-packages")
				lib := touch(t, filepath.Join(site, "onnxruntime", "capi", "libonnxruntime.so.1.20.0"))
				touch(t, filepath.Join(site, "onnxruntime", "capi", "libonnxruntime_providers_shared.so"))
				touch(t, filepath.Join(root, "cache", "onnxruntime", Version, "libonnxruntime.so.1"))
				return Search{PythonDirs: []string{filepath.Join(root, "empty-site"), site}, CacheDir: filepath.Join(root, "cache")}, lib
			},
		},
		{
			name: "cache",
			setup: func(t *testing.T, root string) (Search, string) {
				lib := touch(t, filepath.Join(root, "cache", "onnxruntime", Version, "libonnxruntime.so.1"))
				return Search{
					LDLibraryPath: filepath.Join(root, "empty"),
					SystemDirs:    []string{filepath.Join(root, "usr", "lib")},
					PythonDirs:    []string{filepath.Join(root, "site")},
					CacheDir:      filepath.Join(root, "cache"),
				}, lib
			},
		},
		{
			name: "not found",
			setup: func(t *testing.T, root string) (Search, string) {
				// A directory named like the library is not the library.
				if err := os.MkdirAll(filepath.Join(root, "ld", "libonnxruntime.so"), 0o755); err != nil {
					t.Fatal(err)
				}
				return Search{LDLibraryPath: filepath.Join(root, "ld"), CacheDir: filepath.Join(root, "cache")}, ""
			},
			err: []string{EnvVar, "scripts/provision-onnxruntime.sh", "pip install onnxruntime", filepath.Join("cache", "onnxruntime", Version)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			search, want := tc.setup(t, root)
			got, err := Find(search)
			if tc.err != nil {
				if err == nil {
					t.Fatalf("found %s; want an error", got)
				}
				for _, s := range tc.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("found %s, want %s", got, want)
			}
		})
	}
}

// Not finding the library anywhere is a typed error callers can detect.
func TestNotFoundError(t *testing.T) {
	_, err := Find(Search{})
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v (%T); want *NotFoundError", err, err)
	}
}

// An active virtualenv or conda environment is searched before the
// system's Python packages.
func TestPythonSiteDirs(t *testing.T) {
	root := t.TempDir()
	venv := filepath.Join(root, "venv")
	site := filepath.Join(venv, "lib", "python3.12", "site-packages")
	conda := filepath.Join(root, "conda", "lib", "python3.10", "site-packages")
	user := filepath.Join(root, "home", ".local", "lib", "python3.11", "site-packages")
	for _, d := range []string{site, conda, user} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"VIRTUAL_ENV": venv, "CONDA_PREFIX": filepath.Join(root, "conda"), "HOME": filepath.Join(root, "home")}
	dirs := PythonSiteDirs(func(k string) string { return env[k] })
	iv, ic, iu := slices.Index(dirs, site), slices.Index(dirs, conda), slices.Index(dirs, user)
	if iv < 0 || ic < 0 || iu < 0 {
		t.Fatalf("dirs %v miss one of %s, %s, %s", dirs, site, conda, user)
	}
	if !(iv < ic && ic < iu) {
		t.Errorf("order %v: want the virtualenv, then conda, then the user's site", dirs)
	}
}
