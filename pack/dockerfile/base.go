package dockerfile

import (
	"debug/elf"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var pythonVersionRe = regexp.MustCompile(`^3\.(\d+)(?:\.(\d+))?$`)

// bookwormFrom is, per Python minor version, the first patch release whose
// python:X.Y.Z-slim image was built on Debian 12 (glibc 2.36): Docker's
// official images moved to bookworm in June 2023, when these were the
// current releases. Earlier patch releases stayed on Debian 11 (glibc 2.31).
// Minor versions from 3.12 on were always built on Debian 12 or later.
var bookwormFrom = map[int]int{7: 17, 8: 17, 9: 17, 10: 12, 11: 4}

// debian11Glibc is the C library of Debian 11 (bullseye) images.
const debian11Glibc = "2.31"

// pythonBase is MLflow's base image for a python_function model,
// python:<version>-slim, unless the mlship binary needs a newer C library
// than that image has (glibc is the newest GLIBC_ symbol version it
// needs): then python:<major.minor>-slim, the same minor version on a
// current Debian, with a note saying why.
func pythonBase(version, glibc string) (image, note string) {
	image = "python:" + version + "-slim"
	m := pythonVersionRe.FindStringSubmatch(version)
	if m == nil || m[2] == "" || glibc == "" || versionLess(glibc, debian11Glibc) || glibc == debian11Glibc {
		return image, ""
	}
	minor, _ := strconv.Atoi(m[1])
	patch, _ := strconv.Atoi(m[2])
	switch from, ok := bookwormFrom[minor]; {
	case minor < 7:
		return image, fmt.Sprintf("%s is built on Debian 11 or older (glibc 2.31 at most) and mlship needs glibc %s: "+
			"the build will stop at `mlship version`. Pass --base-image with a Python 3.%d image on a newer distribution.",
			image, glibc, minor)
	case ok && patch < from:
		newer := fmt.Sprintf("python:3.%d-slim", minor)
		return newer, fmt.Sprintf("MLflow's base image for Python %s, %s, is built on Debian 11 (glibc 2.31), "+
			"older than the glibc %s mlship needs; using %s instead: the latest Python 3.%d on a current Debian. "+
			"Pass --base-image to choose another.", version, image, glibc, newer, minor)
	}
	return image, ""
}

// requiredGlibc returns the newest GLIBC_x.y symbol version the ELF files
// need ("" when none is readable: not ELF, or statically linked).
func requiredGlibc(paths ...string) string {
	newest := ""
	for _, p := range paths {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		syms, err := f.ImportedSymbols()
		f.Close()
		if err != nil {
			continue
		}
		for _, s := range syms {
			v, ok := strings.CutPrefix(s.Version, "GLIBC_")
			if !ok || !glibcVersionRe.MatchString(v) {
				continue
			}
			if newest == "" || versionLess(newest, v) {
				newest = v
			}
		}
	}
	return newest
}

var glibcVersionRe = regexp.MustCompile(`^\d+(\.\d+)*$`)

// versionLess compares dotted decimal versions.
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}
