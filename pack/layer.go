package pack

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// entry is one file, directory or symbolic link of a layer. Only what an
// image needs is recorded, so that the same entries always make the same
// bytes: no host owners, times or extended attributes leak in.
type entry struct {
	name     string // path in the image, without the leading slash
	typ      byte   // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode     int64  // permission bits (and sticky)
	uid, gid int
	link     string // symlink target
	src      string // host file holding a regular file's content, or
	data     []byte // the content itself when src is ""
}

// tree is a layer's contents, keyed by path. Parent directories are added
// as root-owned 0755 directories unless given.
type tree struct {
	entries map[string]entry
}

func newTree() *tree { return &tree{entries: map[string]entry{}} }

func cleanName(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

func (t *tree) add(e entry) {
	e.name = cleanName(e.name)
	if e.name == "" {
		return
	}
	for dir := path.Dir(e.name); dir != "."; dir = path.Dir(dir) {
		if _, ok := t.entries[dir]; !ok {
			t.entries[dir] = entry{name: dir, typ: tar.TypeDir, mode: 0o755}
		}
	}
	t.entries[e.name] = e
}

func (t *tree) dir(p string, mode int64, uid, gid int) {
	t.add(entry{name: p, typ: tar.TypeDir, mode: mode, uid: uid, gid: gid})
}

func (t *tree) file(p, src string, mode int64) {
	t.add(entry{name: p, typ: tar.TypeReg, mode: mode, src: src})
}

func (t *tree) data(p string, data []byte, mode int64) {
	t.add(entry{name: p, typ: tar.TypeReg, mode: mode, data: data})
}

func (t *tree) symlink(p, target string) {
	t.add(entry{name: p, typ: tar.TypeSymlink, mode: 0o777, link: target})
}

// sorted returns the entries in byte order of their names, which puts every
// directory before its contents.
func (t *tree) sorted() []entry {
	out := make([]entry, 0, len(t.entries))
	for _, e := range t.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// writeTar writes the tree as a tar stream: sorted entries, one fixed
// modification time, numeric owners only.
func (t *tree) writeTar(ctx context.Context, w io.Writer, mtime time.Time) error {
	tw := tar.NewWriter(w)
	mtime = mtime.UTC().Truncate(time.Second)
	for _, e := range t.sorted() {
		hdr := &tar.Header{
			Name:     e.name,
			Typeflag: e.typ,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			ModTime:  mtime,
			Linkname: e.link,
			Format:   tar.FormatPAX,
		}
		if e.typ == tar.TypeDir {
			hdr.Name += "/"
		}
		if e.typ != tar.TypeReg {
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		}
		if e.src == "" {
			hdr.Size = int64(len(e.data))
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := tw.Write(e.data); err != nil {
				return err
			}
			continue
		}
		if err := copyFile(ctx, tw, hdr, e.src); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyFile(ctx context.Context, tw *tar.Writer, hdr *tar.Header, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	hdr.Size = st.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, ctxReader{ctx, f})
	if err != nil {
		return fmt.Errorf("reading %s: %w", src, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("%s changed size while being read", src)
	}
	return nil
}

// layerOptions are how a tree becomes a layer.
type layerOptions struct {
	mtime     time.Time
	mediaType types.MediaType
	level     int    // gzip level
	tempDir   string // where the compressed layer is spooled
	keepFile  bool   // leave the file in tempDir (for the cache) instead of unlinking it
}

// build writes the tree once through two hashes and gzip into an unlinked
// temporary file: one pass gives the diff ID (the tar's digest), the digest
// and size (the gzip's), and the bytes to push. Go's gzip writer stores no
// name and a zero time, so the same tar always compresses to the same
// bytes.
func (t *tree) build(ctx context.Context, o layerOptions) (v1.Layer, error) {
	f, err := os.CreateTemp(o.tempDir, "mlship-layer-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("creating a layer file: %w", err)
	}
	// The layer lives in the open file only, so nothing is left behind
	// whatever happens to the image or the process: the descriptor is
	// closed by *os.File's finalizer once neither the layer nor a reader
	// of it is reachable.
	if !o.keepFile {
		if err := os.Remove(f.Name()); err != nil {
			f.Close()
			return nil, err
		}
	}
	fail := func(err error) (v1.Layer, error) {
		f.Close()
		if o.keepFile {
			os.Remove(f.Name())
		}
		return nil, err
	}
	compressed := sha256.New()
	counter := &countWriter{}
	zw, err := gzip.NewWriterLevel(io.MultiWriter(f, compressed, counter), o.level)
	if err != nil {
		return fail(err)
	}
	uncompressed := sha256.New()
	if err := t.writeTar(ctx, io.MultiWriter(zw, uncompressed), o.mtime); err != nil {
		return fail(fmt.Errorf("writing layer: %w", err))
	}
	if err := zw.Close(); err != nil {
		return fail(fmt.Errorf("compressing layer: %w", err))
	}
	l := &spooledLayer{
		f:         f,
		size:      counter.n,
		digest:    hashOf(compressed),
		diffID:    hashOf(uncompressed),
		mediaType: o.mediaType,
	}
	return l, nil
}

func hashOf(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
}

// ctxReader stops a copy when ctx is done, so an interrupted build of a
// large model ends at once.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// spooledLayer is a gzip layer held in an unlinked file whose hashes were
// computed while it was written. Readers share the file through ReadAt, so
// pushes may read it concurrently.
type spooledLayer struct {
	f              *os.File
	size           int64
	digest, diffID v1.Hash
	mediaType      types.MediaType
}

var _ v1.Layer = (*spooledLayer)(nil)

func (l *spooledLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *spooledLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *spooledLayer) Size() (int64, error)                { return l.size, nil }
func (l *spooledLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

func (l *spooledLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(io.NewSectionReader(l.f, 0, l.size)), nil
}

func (l *spooledLayer) Uncompressed() (io.ReadCloser, error) {
	return gzip.NewReader(io.NewSectionReader(l.f, 0, l.size))
}
