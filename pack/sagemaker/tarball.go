package sagemaker

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// epoch is the modification time of every tarball entry, so the same
// directory gives the same bytes.
var epoch = time.Unix(0, 0).UTC()

// WriteModelTarball writes dir as a gzip-compressed tar, the model.tar.gz
// SageMaker unpacks into /opt/ml/model: entries are paths relative to dir
// (MLmodel at the top), in lexical order, with zero times and owners and
// modes reduced to 0644 or 0755, so the same tree always gives the same
// bytes. Symbolic links are stored as links, as MLflow's tarfile does.
func WriteModelTarball(w io.Writer, dir string) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	zw.ModTime = time.Time{} // no timestamp in the gzip header
	tw := tar.NewWriter(zw)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return addEntry(tw, path, filepath.ToSlash(rel), info)
	})
	if err != nil {
		return fmt.Errorf("archiving %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func addEntry(tw *tar.Writer, path, name string, info fs.FileInfo) error {
	hdr := &tar.Header{Name: name, ModTime: epoch, Format: tar.FormatPAX}
	mode := info.Mode()
	switch {
	case mode.IsDir():
		hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", 0o755
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, target, 0o777
	case mode.IsRegular():
		hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, info.Size(), 0o644
		if mode&0o111 != 0 {
			hdr.Mode = 0o755
		}
	default:
		return fmt.Errorf("%s: cannot archive a %s", path, mode.Type())
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(tw, f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("%s changed while it was archived", path)
	}
	return nil
}
