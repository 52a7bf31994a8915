package pack

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// PythonDir is where a prepared Python environment (Options.PythonEnv)
// goes; MLSHIP_PYTHON names its interpreter.
const PythonDir = "/opt/mlship/python"

// HistoryPython is the history entry of the Python environment's layer.
const HistoryPython = "mlship: python environment (" + PythonDir + ")"

// pythonEnv is a prepared, self-contained Python environment checked for
// packing: a directory with its interpreter (bin/python3 or bin/python, an
// ELF program for the platform), its standard library
// (lib/pythonX.Y/os.py) and its packages, laid out as a layer at
// PythonDir.
type pythonEnv struct {
	dir         string // the directory, symbolic links resolved
	interpreter string // the interpreter's path in the image
	// home is true when the interpreter finds its prefix only through
	// PYTHONHOME: a virtual environment, whose pyvenv.cfg names the base
	// interpreter's directory on the build machine.
	home bool
	t    *tree
	// elfs are the host paths of the interpreter and of every shared
	// object in the environment, whose system libraries the host base
	// provides; provided are the library names the environment carries
	// itself (a wheel's numpy.libs, a conda env's lib), which the loader
	// finds through their RPATH.
	elfs     []string
	provided map[string]bool
}

// readPythonEnv checks dir and lays it out under PythonDir: directories
// 0755, files 0644 (0755 when executable), all owned by root, symbolic
// links kept (absolute ones into the environment made relative; links
// leaving it refused, since the image would not have their targets).
func readPythonEnv(dir string, platform v1.Platform) (*pythonEnv, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("python environment %s: "+format+" (see docs/images.md, \"python_function models\")", append([]any{dir}, a...)...)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fail("%w", err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return nil, fail("%w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fail("%w", err)
	}
	if st, err := os.Stat(real); err != nil || !st.IsDir() {
		return nil, fail("not a directory")
	}
	env := &pythonEnv{dir: real, t: newTree(), provided: map[string]bool{}}

	// The interpreter: bin/python3, else bin/python, an ELF program.
	var interp string
	for _, name := range []string{"bin/python3", "bin/python"} {
		if _, err := os.Lstat(filepath.Join(real, name)); err == nil {
			interp = name
			break
		}
	}
	if interp == "" {
		return nil, fail("no bin/python3 or bin/python; the directory must hold a whole Python installation, interpreter included")
	}
	host, err := filepath.EvalSymlinks(filepath.Join(real, interp))
	if err != nil {
		return nil, fail("%s: %w", interp, err)
	}
	if !within(real, host) {
		return nil, fail("%s leads out of the environment, to %s; copy the interpreter in (python3 -m venv --copies)", interp, host)
	}
	info, err := readELF(host)
	if err != nil {
		return nil, fail("%s is not an ELF program (a script or shim? the image runs it without a shell): %v", interp, err)
	}
	if want := machineFor[platform.Architecture]; info.machine != want || info.class != elf.ELFCLASS64 {
		return nil, fail("%s is built for %s (%s), not %s", interp, info.machine, info.class, platform.String())
	}
	env.interpreter = path.Join(PythonDir, interp)
	env.elfs = append(env.elfs, host)

	// The standard library, which a virtual environment does not hold.
	if libs, _ := filepath.Glob(filepath.Join(real, "lib", "python3*", "os.py")); len(libs) == 0 {
		return nil, fail("no standard library (lib/python3.X/os.py): a virtual environment uses its base interpreter's, " +
			"which the image would not have; copy it in, or use a python-build-standalone or conda-pack'ed environment")
	}
	_, err = os.Stat(filepath.Join(real, "pyvenv.cfg"))
	env.home = err == nil

	t := env.t
	t.dir(PythonDir, 0o755, 0, 0)
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(real, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		dst := path.Join(PythonDir, rel)
		switch typ := d.Type(); {
		case d.IsDir():
			t.dir(dst, 0o755, 0, 0)
		case typ&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			link, err := envLink([]string{real, abs}, rel, target)
			if err != nil {
				return err
			}
			t.symlink(dst, link)
			if sharedObject(d.Name()) {
				env.provided[d.Name()] = true
			}
		case typ.IsRegular():
			st, err := d.Info()
			if err != nil {
				return err
			}
			mode := int64(0o644)
			if st.Mode().Perm()&0o111 != 0 {
				mode = 0o755
			}
			t.file(dst, p, mode)
			if sharedObject(d.Name()) && isELF(p) {
				env.elfs = append(env.elfs, p)
				env.provided[d.Name()] = true
			}
		default:
			return fmt.Errorf("%s is not a regular file, directory or symbolic link (%s)", rel, typ)
		}
		return nil
	})
	if err != nil {
		return nil, fail("%w", err)
	}
	return env, nil
}

// envLink is the target a symbolic link at rel (in the environment at
// root) gets in the image: relative targets as they are, absolute ones
// into the environment made relative, and none leading out of it.
// roots are the environment's path, as given and resolved.
func envLink(roots []string, rel, target string) (string, error) {
	parent := path.Dir(rel)
	if filepath.IsAbs(target) {
		root := ""
		for _, r := range roots {
			if within(r, target) {
				root = r
				break
			}
		}
		if root == "" {
			return "", fmt.Errorf("%s links to %s, outside the environment: the image would not have it; copy the file in instead", rel, target)
		}
		t, err := filepath.Rel(root, target)
		if err != nil {
			return "", err
		}
		r, err := filepath.Rel(filepath.FromSlash(parent), t)
		if err != nil {
			return "", err
		}
		return filepath.ToSlash(r), nil
	}
	if j := path.Join(parent, filepath.ToSlash(target)); j == ".." || strings.HasPrefix(j, "../") {
		return "", fmt.Errorf("%s links to %s, outside the environment: the image would not have it; copy the file in instead", rel, target)
	}
	return target, nil
}

// within says whether p is root or under it (lexically).
func within(root, p string) bool {
	r, err := filepath.Rel(root, filepath.Clean(p))
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator))
}

// sharedObject says whether a file name is a shared object's: x.so,
// x.so.1, x.cpython-311-x86_64-linux-gnu.so.
func sharedObject(name string) bool {
	return strings.HasSuffix(name, ".so") || strings.Contains(name, ".so.")
}

// isELF says whether p starts with the ELF magic number (a linker script
// named libc.so, say, does not).
func isELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = f.Read(magic[:])
	return err == nil && string(magic[:]) == elf.ELFMAG
}
