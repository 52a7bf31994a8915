package dockerfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Epoch is the modification time of every file in a generated context and
// every entry Build sends: the Unix epoch, as ko and reproducible-builds'
// SOURCE_DATE_EPOCH=0 use, so contexts (and the layers Docker copies them
// into) do not depend on when the files were written.
var Epoch = time.Unix(0, 0).UTC()

// file is one entry of a build context.
type file struct {
	rel  string // slash-separated path in the context
	src  string // file to copy, or "" for data
	data []byte
	mode fs.FileMode // permission bits
	dir  bool
}

// modelTree lists the model directory as context entries under prefix:
// directories 0755, files 0644 (0755 when executable by their owner).
// Symlinks to files are copied as files; other special files are refused.
func modelTree(root, prefix string) ([]file, error) {
	out := []file{{rel: prefix, dir: true, mode: 0o755}}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		f := file{rel: prefix + "/" + filepath.ToSlash(rel)}
		st, err := os.Stat(p) // follows symlinks
		if err != nil {
			return fmt.Errorf("model file %s: %w", p, err)
		}
		switch {
		case st.IsDir() && de.Type()&fs.ModeSymlink != 0:
			return fmt.Errorf("model file %s: a symlink to a directory; copy the directory instead", p)
		case st.IsDir():
			f.dir, f.mode = true, 0o755
		case st.Mode().IsRegular():
			f.src, f.mode = p, 0o644
			if st.Mode().Perm()&0o100 != 0 {
				f.mode = 0o755
			}
		default:
			return fmt.Errorf("model file %s: not a regular file or directory", p)
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the model directory: %w", err)
	}
	return out, nil
}

// owned are the top-level entries Generate writes; they are removed before
// a context is written again so that no stale model file survives.
var owned = []string{"Dockerfile", contextBinary, contextLibDir, ContextModelDir}

// writeContext writes files into dir with exact modes and Epoch times.
func writeContext(dir string, files []file) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range owned {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("clearing %s: %w", dir, err)
		}
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.rel))
		var err error
		switch {
		case f.dir:
			err = os.Mkdir(p, f.mode)
		case f.src != "":
			err = copyFile(f.src, p)
		default:
			err = os.WriteFile(p, f.data, f.mode)
		}
		if err == nil {
			err = os.Chmod(p, f.mode) // whatever the umask
		}
		if err != nil {
			return fmt.Errorf("writing the build context: %w", err)
		}
	}
	// Times last, children before their directories: writing into a
	// directory changes its time.
	for i := len(files) - 1; i >= 0; i-- {
		p := filepath.Join(dir, filepath.FromSlash(files[i].rel))
		if err := os.Chtimes(p, Epoch, Epoch); err != nil {
			return fmt.Errorf("writing the build context: %w", err)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
