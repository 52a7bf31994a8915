package pack

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// layerCache keeps the compressed base and runtime layers between builds,
// keyed by everything that decides their bytes, so a model-only change
// compresses only the model: the mlship binary and ONNX Runtime (about
// 125 MiB) are hashed, not compressed again. Model layers are not cached
// (they change, and may be large). Only the most recently used entries are
// kept.
type layerCache struct {
	dir  string
	keep int
}

// cacheFormat changes whenever the layer writer's output would, so old
// entries stop matching.
const cacheFormat = "mlship-layer-v1"

type cacheMeta struct {
	Digest, DiffID string
	Size           int64
}

// key is the hex SHA-256 of the layer's recipe: the writer's format and
// compressor version, the options, and every entry with its content's hash.
func (t *tree) key(ctx context.Context, o layerOptions) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\ncompress %s\n%s\n%d\n%d\n", cacheFormat, compressVersion(), o.mediaType, o.level, o.mtime.Unix())
	for _, e := range t.sorted() {
		fmt.Fprintf(h, "%q %c %o %d %d %q", e.name, e.typ, e.mode, e.uid, e.gid, e.link)
		if e.typ == tar.TypeReg {
			sum := sha256.New()
			if e.src == "" {
				sum.Write(e.data)
			} else {
				f, err := os.Open(e.src)
				if err != nil {
					return "", err
				}
				_, err = io.Copy(sum, ctxReader{ctx, f})
				f.Close()
				if err != nil {
					return "", fmt.Errorf("reading %s: %w", e.src, err)
				}
			}
			fmt.Fprintf(h, " %x", sum.Sum(nil))
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// compressVersion is the version of the gzip implementation linked in,
// whose output the cached bytes depend on.
func compressVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/klauspost/compress" {
				if d.Replace != nil {
					d = d.Replace
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

// build returns the cached layer for t, building and storing it on a miss.
// A cache that cannot be used (unwritable, corrupt entry) is bypassed.
func (c *layerCache) build(ctx context.Context, t *tree, o layerOptions) (v1.Layer, error) {
	key, err := t.key(ctx, o)
	if err != nil {
		return nil, err
	}
	base := filepath.Join(c.dir, key)
	if l, err := c.load(base, o); err == nil {
		now := time.Now()
		_ = os.Chtimes(base+".json", now, now)
		return l, nil
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return t.build(ctx, o)
	}
	o.keepFile = true
	o.tempDir = c.dir
	l, err := t.build(ctx, o)
	if err != nil {
		return nil, err
	}
	sl := l.(*spooledLayer)
	meta, _ := json.Marshal(cacheMeta{Digest: sl.digest.String(), DiffID: sl.diffID.String(), Size: sl.size})
	if err := os.Rename(sl.f.Name(), base+".tar.gz"); err != nil {
		os.Remove(sl.f.Name())
		return l, nil
	}
	if err := writeFileAtomic(base+".json", meta); err != nil {
		os.Remove(base + ".tar.gz")
		return l, nil
	}
	c.prune()
	return l, nil
}

// load opens a cached layer, checking its bytes against the recorded
// digest.
func (c *layerCache) load(base string, o layerOptions) (v1.Layer, error) {
	data, err := os.ReadFile(base + ".json")
	if err != nil {
		return nil, err
	}
	var m cacheMeta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	digest, err := v1.NewHash(m.Digest)
	if err != nil {
		return nil, err
	}
	diffID, err := v1.NewHash(m.DiffID)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(base + ".tar.gz")
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	n, err := io.Copy(sum, f)
	if err != nil || n != m.Size || hex.EncodeToString(sum.Sum(nil)) != digest.Hex {
		f.Close()
		os.Remove(base + ".json")
		return nil, fmt.Errorf("cache entry %s is damaged", base)
	}
	return &spooledLayer{f: f, size: m.Size, digest: digest, diffID: diffID, mediaType: o.mediaType}, nil
}

// prune keeps the c.keep most recently used entries.
func (c *layerCache) prune() {
	metas, _ := filepath.Glob(filepath.Join(c.dir, "*.json"))
	type entry struct {
		base string
		used time.Time
	}
	var es []entry
	for _, m := range metas {
		if st, err := os.Stat(m); err == nil {
			es = append(es, entry{strings.TrimSuffix(m, ".json"), st.ModTime()})
		}
	}
	// Files of builds that died before renaming them into place.
	stale, _ := filepath.Glob(filepath.Join(c.dir, "mlship-layer-*.tar.gz"))
	for _, p := range stale {
		if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > time.Hour {
			os.Remove(p)
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].used.After(es[j].used) })
	for i := c.keep; i < len(es); i++ {
		os.Remove(es[i].base + ".json")
		os.Remove(es[i].base + ".tar.gz")
	}
}

func writeFileAtomic(p string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), p)
}
