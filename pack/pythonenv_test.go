package pack

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fakePythonEnv is a small environment with the shape of a real one: an
// ELF interpreter (the test binary), a standard library, an extension
// module (the host's libm) and links, relative and absolute, inside it.
func fakePythonEnv(t *testing.T, perm os.FileMode) string {
	t.Helper()
	in := inputs(t)
	dir := t.TempDir()
	write := func(rel string, data []byte, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write("bin/python3.11", read(in.binary), 0o700|perm)
	write("lib/python3.11/os.py", []byte("# os\n"), perm)
	write("lib/python3.11/site-packages/ext/_m.cpython-311-x86_64-linux-gnu.so", read(in.lib), perm)
	for _, l := range [][2]string{
		{"python3.11", "bin/python3"},
		{"python3", "bin/python"},
		{filepath.Join(dir, "lib/python3.11/os.py"), "lib/python3.11/os_abs.py"},
	} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func envLayerDigest(t *testing.T, dir string) (string, *pythonEnv) {
	t.Helper()
	platform, _ := parsePlatform("")
	env, err := readPythonEnv(dir, platform)
	if err != nil {
		t.Fatal(err)
	}
	l, err := env.t.build(context.Background(), layerOptions{mtime: time.Unix(0, 0), level: 1, mediaType: types.DockerLayer})
	if err != nil {
		t.Fatal(err)
	}
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(time.Unix(0, 0)) || !(strings.HasPrefix("/"+h.Name, PythonDir) || strings.HasPrefix(PythonDir, "/"+strings.TrimSuffix(h.Name, "/"))) {
			t.Errorf("%s: owner %d:%d, time %s", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		if h.Typeflag == tar.TypeReg && h.Mode != 0o644 && h.Mode != 0o755 {
			t.Errorf("%s: mode %o", h.Name, h.Mode)
		}
		if h.Name == "opt/mlship/python/lib/python3.11/os_abs.py" && h.Linkname != "os.py" {
			t.Errorf("absolute link inside the environment -> %q, want os.py", h.Linkname)
		}
	}
	return d.String(), env
}

// The environment's layer depends on its contents only: not on the host's
// modes, times or where the directory is.
func TestPythonEnvLayerIsReproducible(t *testing.T) {
	a := fakePythonEnv(t, 0o644)
	b := fakePythonEnv(t, 0o600)
	old := time.Unix(1e9, 0)
	if err := os.Chtimes(filepath.Join(b, "lib/python3.11/os.py"), old, old); err != nil {
		t.Fatal(err)
	}
	da, env := envLayerDigest(t, a)
	da2, _ := envLayerDigest(t, a)
	db, _ := envLayerDigest(t, b)
	if da != da2 || da != db {
		t.Errorf("digests differ: %s, %s, %s", da, da2, db)
	}
	if env.interpreter != PythonDir+"/bin/python3" || env.home {
		t.Errorf("interpreter %s, home %v", env.interpreter, env.home)
	}
	if len(env.elfs) != 2 || !env.provided["_m.cpython-311-x86_64-linux-gnu.so"] {
		t.Errorf("ELF objects %v, provided %v", env.elfs, env.provided)
	}
	if err := os.WriteFile(filepath.Join(a, "pyvenv.cfg"), []byte("home = /usr/bin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, env := envLayerDigest(t, a); !env.home {
		t.Error("a virtual environment (pyvenv.cfg) does not get PYTHONHOME")
	}
}

func TestPythonEnvRefused(t *testing.T) {
	platform, _ := parsePlatform("")
	for _, c := range []struct {
		name  string
		spoil func(dir string) error
		want  string
	}{
		{"no interpreter", func(d string) error {
			os.Remove(filepath.Join(d, "bin/python"))
			return os.Remove(filepath.Join(d, "bin/python3"))
		}, "no bin/python3 or bin/python"},
		{"script interpreter", func(d string) error {
			os.Remove(filepath.Join(d, "bin/python3"))
			return os.WriteFile(filepath.Join(d, "bin/python3"), []byte("#!/bin/sh\nexec python3 \"$@\"\n"), 0o755)
		}, "not an ELF program"},
		{"interpreter outside", func(d string) error {
			os.Remove(filepath.Join(d, "bin/python3"))
			exe, _ := os.Executable()
			return os.Symlink(exe, filepath.Join(d, "bin/python3"))
		}, "leads out of the environment"},
		{"no standard library", func(d string) error {
			return os.RemoveAll(filepath.Join(d, "lib/python3.11/os.py"))
		}, "no standard library"},
		{"link outside", func(d string) error {
			return os.Symlink("../../../etc/passwd", filepath.Join(d, "lib/python3.11/passwd"))
		}, "outside the environment"},
		{"absolute link outside", func(d string) error {
			return os.Symlink("/etc/python3.11/sitecustomize.py", filepath.Join(d, "lib/python3.11/sitecustomize.py"))
		}, "outside the environment"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := fakePythonEnv(t, 0o644)
			if err := c.spoil(dir); err != nil {
				t.Fatal(err)
			}
			_, err := readPythonEnv(dir, platform)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}
