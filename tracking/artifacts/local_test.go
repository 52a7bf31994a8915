package artifacts

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/tracking"
)

func TestLocal(t *testing.T) {
	var dir string // the newest repository's root (subtests run one by one)
	repoSuite{
		new: func(t *testing.T) Repository {
			dir = filepath.Join(t.TempDir(), "root")
			return NewLocal(dir)
		},
		stored: func(t *testing.T, name string) int64 {
			// The bytes so far are in the temp file beside the target.
			return tempSize(filepath.Join(dir, filepath.Dir(name)))
		},
		bigSize: 20 << 20,
		midway:  15 << 20,
	}.run(t)
}

func tempSize(dir string) int64 {
	entries, _ := os.ReadDir(dir)
	var n int64
	for _, e := range entries {
		if strings.Contains(e.Name(), tmpMarker) {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

func TestLocalLeavesNoTempFiles(t *testing.T) {
	root := t.TempDir()
	r := NewLocal(root)
	put(t, r, "a/ok.txt", "ok")
	_ = r.Put(t.Context(), "a/bad.txt", &failingReader{n: 100})
	var names []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			names = append(names, rel)
		}
		return nil
	})
	if diff := cmp.Diff([]string{"a/ok.txt"}, names); diff != "" {
		t.Errorf("files on disk (-want +got):\n%s", diff)
	}
}

func TestLocalHidesUploadsInProgress(t *testing.T) {
	root := t.TempDir()
	r := NewLocal(root)
	put(t, r, "done.txt", "x")
	if err := os.WriteFile(filepath.Join(root, ".part.bin"+tmpMarker+"0123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]FileInfo{{Path: "done.txt", Size: 1}}, list(t, r, "")); diff != "" {
		t.Errorf("List shows an upload in progress (-want +got):\n%s", diff)
	}
}

// TestLocalSymlinks: links inside the root that lead out of it are never
// followed out — not to read, list, write or delete.
func TestLocalSymlinks(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := NewLocal(root)
	put(t, r, "real/inside.txt", "inside")
	for link, target := range map[string]string{
		"out":        outside,                              // absolute, to a directory outside
		"rel":        "../outside",                         // relative, outside
		"secret.txt": filepath.Join(outside, "secret.txt"), // to a file outside
		"alias":      "real",                               // inside: fine
		"alias.txt":  "real/inside.txt",                    // inside: fine
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	for _, p := range []string{"out/secret.txt", "rel/secret.txt", "secret.txt"} {
		if rc, err := r.Open(ctx, p); err == nil {
			rc.Close()
			t.Errorf("Open(%q) followed a link out of the root", p)
		}
	}
	for _, p := range []string{"out", "rel"} {
		infos, err := r.List(ctx, p)
		if err == nil && len(infos) > 0 {
			t.Errorf("List(%q) = %v: listed outside the root", p, infos)
		}
		if err := r.Put(ctx, p+"/planted.txt", strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q/planted.txt) wrote through a link", p)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "planted.txt")); err == nil {
		t.Error("a file was planted outside the root")
	}
	// Links inside the root work; links out are left out of listings.
	if got := read(t, r, "alias/inside.txt"); got != "inside" {
		t.Errorf("alias/inside.txt = %q", got)
	}
	if got := read(t, r, "alias.txt"); got != "inside" {
		t.Errorf("alias.txt = %q", got)
	}
	if diff := cmp.Diff([]FileInfo{
		{Path: "alias", IsDir: true}, {Path: "alias.txt", Size: 6}, {Path: "real", IsDir: true},
	}, list(t, r, "")); diff != "" {
		t.Errorf("List(root) (-want +got):\n%s", diff)
	}
	// Deleting a link removes the link, not what it points to.
	for _, p := range []string{"out", "rel", "secret.txt", "out/secret.txt"} {
		_ = r.Delete(ctx, p)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "secret.txt")); err != nil || string(b) != "secret" {
		t.Errorf("the file outside after deletes: %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(root, "out")); !os.IsNotExist(err) {
		t.Errorf("the link itself was not deleted: %v", err)
	}
	// Writing over a link to a file outside replaces the link, never the file.
	put(t, r, "alias2.txt", "x")
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(root, "over.txt")); err != nil {
		t.Fatal(err)
	}
	put(t, r, "over.txt", "replaced")
	if b, _ := os.ReadFile(filepath.Join(outside, "secret.txt")); string(b) != "secret" {
		t.Errorf("Put wrote through a link to %q", b)
	}
	if got := read(t, r, "over.txt"); got != "replaced" {
		t.Errorf("over.txt = %q", got)
	}
}

func TestLocalMissingRoot(t *testing.T) {
	r := NewLocal(filepath.Join(t.TempDir(), "not", "yet"))
	if got := list(t, r, ""); len(got) != 0 {
		t.Errorf("List of a missing root: %v", got)
	}
	_, err := r.Open(t.Context(), "x")
	wantCode(t, "Open in a missing root", err, tracking.ResourceDoesNotExist)
	if err := r.Delete(t.Context(), "x"); err != nil {
		t.Errorf("Delete in a missing root: %v", err)
	}
	put(t, r, "x", "created")
	if got := read(t, r, "x"); got != "created" {
		t.Errorf("x = %q", got)
	}
}

// TestLocalPutBelowAFile: a path that needs an existing file to be a
// directory is the caller's mistake (400), not a server failure.
func TestLocalPutBelowAFile(t *testing.T) {
	r := NewLocal(t.TempDir())
	put(t, r, "a.txt", "file")
	put(t, r, "d/b.txt", "file")
	for _, p := range []string{"a.txt/b", "a.txt/c/d", "d/b.txt/e"} {
		err := r.Put(t.Context(), p, strings.NewReader("x"))
		wantCode(t, "Put "+p, err, tracking.InvalidParameterValue)
		if err != nil && !strings.Contains(err.Error(), "is a file") {
			t.Errorf("Put %s: message %q does not say which part is a file", p, err)
		}
	}
	if got := read(t, r, "a.txt"); got != "file" {
		t.Errorf("a.txt = %q after the refused puts", got)
	}
}
