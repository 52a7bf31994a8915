package pack

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The "host" base is the smallest root filesystem the image's programs run
// in: the dynamic loader and the shared libraries the mlship binary and the
// native libraries need (found by reading their ELF headers, as the loader
// does), copied from this machine, plus the few files a non-root service
// expects. It needs no registry, so builds work offline, and it carries
// nothing the model does not use (about 2.5 MB compressed on Debian 12,
// against 21 MB for a debootstrap minbase).
//
// It is as reproducible as the machine's libraries: two machines with the
// same Debian packages make the same layer. The packages the files come
// from are recorded the way distroless images record theirs
// (/var/lib/dpkg/status.d/<package>) so image scanners see them.

// userID and groupID are the image's non-root user, as in distroless
// images ("nonroot").
const (
	userID   = 65532
	groupID  = 65532
	userName = "nonroot"
)

var (
	etcPasswd = fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:/home/%s:/sbin/nologin\n",
		userName, userID, groupID, userName, userName)
	etcGroup       = fmt.Sprintf("root:x:0:\n%s:x:%d:\n", userName, groupID)
	etcNsswitch    = "passwd: files\ngroup: files\nhosts: files dns\n"
	hostCACerts    = "/etc/ssl/certs/ca-certificates.crt"
	hostOSRelease  = "/etc/os-release"
	hostDpkgInfo   = "/var/lib/dpkg/info"
	hostDpkgStatus = "/var/lib/dpkg/status"
)

// hostZoneinfo is the system's time zone database, which the host base
// carries for Python environments: Python's zoneinfo module and Debian's
// pytz (patched to read tzdata.zi) look for it there.
const hostZoneinfo = "/usr/share/zoneinfo"

// hostBaseTree lays out the host base for programs (host paths of ELF files
// that go into the image elsewhere) on platform arch, with the host
// directories dataDirs copied as they are. provided are the sonames the
// image carries itself.
func hostBaseTree(programs []string, arch string, provided map[string]bool, dataDirs ...string) (*tree, []string, error) {
	dirs, ok := systemLibDirs[arch]
	if !ok {
		return nil, nil, fmt.Errorf("the host base supports linux/amd64 and linux/arm64, not linux/%s", arch)
	}
	deps, err := hostDeps(programs, arch, dirs, provided)
	if err != nil {
		return nil, nil, err
	}
	t := newTree()
	var copied []string
	for _, p := range deps {
		real, err := t.hostPath(p)
		if err != nil {
			return nil, nil, fmt.Errorf("copying %s: %w", p, err)
		}
		copied = append(copied, p, real)
	}
	for _, d := range dataDirs {
		files, err := t.hostDir(d)
		if err != nil {
			return nil, nil, fmt.Errorf("copying %s: %w", d, err)
		}
		copied = append(copied, files...)
	}
	t.data("etc/passwd", []byte(etcPasswd), 0o644)
	t.data("etc/group", []byte(etcGroup), 0o644)
	t.data("etc/nsswitch.conf", []byte(etcNsswitch), 0o644)
	for _, p := range []string{hostCACerts, hostOSRelease} {
		if regularFile(p) {
			if _, err := t.hostPath(p); err != nil {
				return nil, nil, fmt.Errorf("copying %s: %w", p, err)
			}
		}
	}
	for pkg, stanza := range dpkgStanzas(copied) {
		t.data("var/lib/dpkg/status.d/"+pkg, stanza, 0o644)
	}
	t.dir("tmp", 0o1777, 0, 0)
	t.dir("home/"+userName, 0o700, userID, groupID)
	t.dir("root", 0o700, 0, 0)
	return t, deps, nil
}

// hostPath copies the host path p into the tree as the loader would reach
// it: every symbolic link on the way (/lib -> usr/lib on a merged-/usr
// system, libstdc++.so.6 -> libstdc++.so.6.0.30) becomes the same link in
// the image, and the file at the end is copied. It returns that file's
// path.
func (t *tree) hostPath(p string) (string, error) {
	p = filepath.Clean(p)
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%s is not an absolute path", p)
	}
	for hops := 0; hops < 40; hops++ {
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		cur := "/"
		next := ""
		for i, part := range parts {
			here := filepath.Join(cur, part)
			fi, err := os.Lstat(here)
			if err != nil {
				return "", err
			}
			if fi.Mode()&os.ModeSymlink != 0 {
				target, err := os.Readlink(here)
				if err != nil {
					return "", err
				}
				t.symlink(here, target)
				if !filepath.IsAbs(target) {
					target = filepath.Join(cur, target)
				}
				next = filepath.Join(append([]string{target}, parts[i+1:]...)...)
				break
			}
			if i == len(parts)-1 {
				if !fi.Mode().IsRegular() {
					return "", fmt.Errorf("%s is not a regular file", here)
				}
				t.file(here, here, int64(fi.Mode().Perm()&0o755|0o444))
				return here, nil
			}
			if !fi.IsDir() {
				return "", fmt.Errorf("%s is not a directory", here)
			}
			cur = here
		}
		p = next
	}
	return "", fmt.Errorf("too many symbolic links")
}

// hostDir copies the host directory dir into the tree at the same path:
// regular files (0644, or 0755 when executable) and the symbolic links
// that stay inside it. Links leading out (zoneinfo's localtime ->
// /etc/localtime) are left out. It returns the files copied. A missing
// directory copies nothing.
func (t *tree) hostDir(dir string) ([]string, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, nil
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(real, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, rel)
		switch typ := d.Type(); {
		case d.IsDir():
			t.dir(dst, 0o755, 0, 0)
		case typ&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			resolved := target
			if !filepath.IsAbs(target) {
				resolved = filepath.Join(filepath.Dir(p), target)
			}
			if within(real, resolved) && !filepath.IsAbs(target) {
				t.symlink(dst, target)
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
			files = append(files, dst)
		}
		return nil
	})
	return files, err
}

// dpkgStanzas returns, for the Debian packages owning any of paths, their
// entries from dpkg's status database, keyed by package name. Machines
// without dpkg give none.
func dpkgStanzas(paths []string) map[string][]byte {
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
		// dpkg records a package's own paths, which on a merged-/usr system
		// may be either spelling.
		if rest, ok := strings.CutPrefix(p, "/usr"); ok {
			want[rest] = true
		} else {
			want["/usr"+p] = true
		}
	}
	lists, _ := filepath.Glob(filepath.Join(hostDpkgInfo, "*.list"))
	owners := map[string]string{} // package -> architecture ("" when unqualified)
	for _, l := range lists {
		if owns(l, want) {
			pkg, arch, _ := strings.Cut(strings.TrimSuffix(filepath.Base(l), ".list"), ":")
			owners[pkg] = arch
		}
	}
	if len(owners) == 0 {
		return nil
	}
	status, err := os.ReadFile(hostDpkgStatus)
	if err != nil {
		return nil
	}
	out := map[string][]byte{}
	for _, stanza := range bytes.Split(status, []byte("\n\n")) {
		pkg, arch := field(stanza, "Package"), field(stanza, "Architecture")
		if want, ok := owners[pkg]; ok && (want == "" || want == arch) {
			out[pkg] = append(bytes.TrimSpace(stanza), '\n')
		}
	}
	return out
}

func owns(list string, want map[string]bool) bool {
	f, err := os.Open(list)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if want[sc.Text()] {
			return true
		}
	}
	return false
}

func field(stanza []byte, name string) string {
	for _, line := range strings.Split(string(stanza), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func regularFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
