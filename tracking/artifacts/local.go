package artifacts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/mlship/mlship/tracking"
)

// tmpMarker names the temporary files Put writes before renaming them into
// place; List hides them, so a half-written upload is never seen.
const tmpMarker = ".mlship-upload-"

// Local is an artifact root on local disk. Every operation goes through an
// os.Root opened on the directory, so neither a path nor a symbolic link
// inside the tree can reach a file outside it.
type Local struct {
	dir string
}

var _ Repository = (*Local)(nil)

// NewLocal returns the repository rooted at dir. The directory is created
// on the first Put; until then the repository lists as empty.
func NewLocal(dir string) *Local { return &Local{dir: dir} }

// Dir is the repository's root directory.
func (l *Local) Dir() string { return l.dir }

// open opens the root for one operation. (A Root holds a descriptor, and a
// Repository has no Close, so none is kept between operations; opening one
// is a single system call.)
func (l *Local) open(create bool) (*os.Root, error) {
	if create {
		if err := os.MkdirAll(l.dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating artifact root: %w", err)
		}
	}
	r, err := os.OpenRoot(l.dir)
	if err != nil {
		return nil, fmt.Errorf("opening artifact root: %w", err)
	}
	return r, nil
}

// Put writes r to a temporary file beside path, syncs it and renames it
// into place, then syncs the directory: a reader sees the old file or the
// whole new one, never a prefix, even after a crash.
func (l *Local) Put(ctx context.Context, p string, r io.Reader) (err error) {
	p, err = CleanPath(p)
	if err != nil {
		return err
	}
	if p == "" {
		return tracking.Errorf(tracking.InvalidParameterValue, "Invalid path: an artifact needs a file name")
	}
	root, err := l.open(true)
	if err != nil {
		return err
	}
	defer root.Close()
	dir, name := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir != "" {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			if f := fileAncestor(root, dir); f != "" {
				return tracking.Errorf(tracking.InvalidParameterValue, "Cannot write artifact '%s': '%s' is a file, not a directory", p, f)
			}
			return fmt.Errorf("putting %s: %w", p, localErr(err, dir))
		}
	}
	tmp := join(dir, "."+name+tmpMarker+randomSuffix())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("putting %s: %w", p, localErr(err, p))
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = root.Remove(tmp)
		}
	}()
	if _, err = CopyContext(ctx, f, r); err != nil {
		return fmt.Errorf("putting %s: %w", p, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("putting %s: %w", p, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("putting %s: %w", p, err)
	}
	if fi, serr := root.Lstat(p); serr == nil && fi.IsDir() {
		err = tracking.Errorf(tracking.InvalidParameterValue, "Cannot write artifact '%s': it is a directory", p)
		return err
	}
	if err = root.Rename(tmp, p); err != nil {
		return fmt.Errorf("putting %s: %w", p, localErr(err, p))
	}
	syncDir(root, dir)
	return nil
}

// fileAncestor returns the first leading part of dir that exists as
// something other than a directory (a file, or a link to one), or "". A Put
// below such a path is the caller's mistake, not a server failure.
func fileAncestor(root *os.Root, dir string) string {
	parts := strings.Split(dir, "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fi, err := root.Stat(prefix)
		if err != nil {
			return ""
		}
		if !fi.IsDir() {
			return prefix
		}
	}
	return ""
}

// syncDir makes a rename durable; a failure only loses durability, which
// the file's own Sync already bounds, so it is not reported.
func syncDir(root *os.Root, dir string) {
	if dir == "" {
		dir = "."
	}
	if d, err := root.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Open streams the file at p.
func (l *Local) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	p, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := l.open(false)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound(p)
		}
		return nil, err
	}
	defer root.Close() // an open file outlives its Root
	f, err := root.Open(orDot(p))
	if err != nil {
		return nil, localErr(err, p)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notFound(p)
	}
	return f, nil
}

// List returns the direct children of dir. Entries that are symbolic links
// leading out of the root are left out; a link inside it lists as what it
// points to.
func (l *Local) List(ctx context.Context, dir string) ([]FileInfo, error) {
	dir, err := CleanPath(dir)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := l.open(false)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer root.Close()
	d, err := root.Open(orDot(dir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, localErr(err, dir)
	}
	defer d.Close()
	if fi, err := d.Stat(); err != nil || !fi.IsDir() {
		return nil, nil // a file lists as empty, as in MLflow
	}
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", orDot(dir), err)
	}
	var out []FileInfo
	for _, e := range entries {
		if strings.Contains(e.Name(), tmpMarker) {
			continue
		}
		p := join(dir, e.Name())
		fi, err := root.Stat(p) // follows links, within the root only
		if err != nil {
			continue
		}
		info := FileInfo{Path: p, IsDir: fi.IsDir()}
		if !info.IsDir {
			info.Size = fi.Size()
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Delete removes the file or tree at p; "" empties the root. A symbolic
// link is removed itself, never what it points to. A missing path is not
// an error.
func (l *Local) Delete(ctx context.Context, p string) error {
	p, err := CleanPath(p)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	root, err := l.open(false)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	defer root.Close()
	if p != "" {
		if err := root.RemoveAll(p); err != nil {
			return fmt.Errorf("deleting %s: %w", p, localErr(err, p))
		}
		return nil
	}
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("deleting the artifact root: %w", err)
	}
	for _, e := range entries {
		if err := root.RemoveAll(e.Name()); err != nil {
			return fmt.Errorf("deleting %s: %w", e.Name(), err)
		}
	}
	return nil
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// localErr turns an os.Root error into the tracking error a client sees: a
// missing file is RESOURCE_DOES_NOT_EXIST and a path that escapes the root
// through a link is MLflow's "Invalid path"; anything else is kept.
func localErr(err error, p string) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR): // "a.txt/b"
		return notFound(p)
	case isEscape(err):
		return invalidPath()
	}
	return err
}

// isEscape reports an os.Root refusal to follow a path out of its root.
// The os package has no exported sentinel for it, so its message is matched.
func isEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

func notFound(p string) error {
	return tracking.Errorf(tracking.ResourceDoesNotExist, "Artifact '%s' not found", p)
}

// CopyContext copies src to dst as io.Copy does, but stops with ctx's
// error once ctx ends (checked before each read), so a cancelled upload or
// download of a large artifact does not run to its end.
func CopyContext(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	return io.Copy(dst, ctxReader{ctx, src})
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context //nolint:containedctx // lives for one io.Copy
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
