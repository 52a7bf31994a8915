package pack

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// elfInfo is what the loader needs to know about one ELF object.
type elfInfo struct {
	class   elf.Class
	machine elf.Machine
	interp  string   // PT_INTERP: the program interpreter (dynamic loader)
	needed  []string // DT_NEEDED
}

func readELF(p string) (elfInfo, error) {
	f, err := elf.Open(p)
	if err != nil {
		return elfInfo{}, err
	}
	defer f.Close()
	info := elfInfo{class: f.Class, machine: f.Machine}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b, err := io.ReadAll(prog.Open())
			if err != nil {
				return elfInfo{}, fmt.Errorf("reading the interpreter of %s: %w", p, err)
			}
			info.interp = strings.TrimRight(string(b), "\x00")
		}
	}
	info.needed, err = f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return elfInfo{}, fmt.Errorf("reading the libraries %s needs: %w", p, err)
	}
	return info, nil
}

// machineFor is the ELF machine an image platform's programs are built for.
var machineFor = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// systemLibDirs are the directories a glibc dynamic loader searches without
// a cache or LD_LIBRARY_PATH (Debian's multiarch paths, then the
// traditional ones), by architecture. Libraries the host base copies must
// come from one of them, so the image's loader finds them in the same place.
var systemLibDirs = map[string][]string{
	"amd64": {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"},
	"arm64": {"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"},
}

// hostDeps walks the dynamic dependencies of roots (the mlship binary and
// the native libraries) as the loader would: each one's interpreter and the
// transitive closure of DT_NEEDED, found in dirs. provided names libraries
// the image carries itself (the native libraries), which are not looked up.
// It returns host paths as found, in discovery order, each once.
func hostDeps(roots []string, arch string, dirs []string, provided map[string]bool) ([]string, error) {
	want, ok := machineFor[arch]
	if !ok {
		return nil, fmt.Errorf("no ELF machine known for architecture %q", arch)
	}
	var out []string
	seenPath := map[string]bool{}
	seenLib := map[string]bool{}
	for n := range provided {
		seenLib[n] = true
	}
	queue := append([]string(nil), roots...)
	isRoot := map[string]bool{}
	for _, r := range roots {
		isRoot[r] = true
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		info, err := readELF(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		if info.machine != want || info.class != elf.ELFCLASS64 {
			return nil, fmt.Errorf("%s is built for %s (%s), not linux/%s", p, info.machine, info.class, arch)
		}
		if !isRoot[p] && !seenPath[p] {
			seenPath[p] = true
			out = append(out, p)
		}
		if info.interp != "" && !seenPath[info.interp] {
			if !regularFile(info.interp) {
				return nil, fmt.Errorf("%s needs the program interpreter %s, which this machine does not have", p, info.interp)
			}
			seenPath[info.interp] = true
			out = append(out, info.interp)
			seenLib[filepath.Base(info.interp)] = true
		}
		for _, lib := range info.needed {
			if seenLib[lib] {
				continue
			}
			seenLib[lib] = true
			found, err := findLib(lib, dirs, want)
			if err != nil {
				return nil, fmt.Errorf("%s needs %s: %w", p, lib, err)
			}
			queue = append(queue, found)
		}
	}
	return out, nil
}

// findLib returns the first file named lib in dirs built for machine
// (skipping, say, 32-bit libraries of the same name).
func findLib(lib string, dirs []string, machine elf.Machine) (string, error) {
	if strings.ContainsRune(lib, '/') {
		return "", fmt.Errorf("library names with a path are not supported")
	}
	for _, d := range dirs {
		p := filepath.Join(d, lib)
		if !regularFile(p) {
			continue
		}
		info, err := readELF(p)
		if err != nil || info.machine != machine || info.class != elf.ELFCLASS64 {
			continue
		}
		return p, nil
	}
	return "", fmt.Errorf("not found in %s", strings.Join(dirs, ", "))
}
