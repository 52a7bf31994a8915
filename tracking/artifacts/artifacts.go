// Package artifacts stores the files logged on runs: a Repository is one
// artifact root (a local directory, an S3 prefix), addressed by paths
// relative to it. Paths never leave their root: CleanPath rejects "..",
// absolute paths and encoded traversal before any repository sees them.
package artifacts

import (
	"context"
	"io"
)

// FileInfo describes one entry of a listing, as MLflow's FileInfo message:
// Path is relative to the repository root, with "/" separators.
type FileInfo struct {
	Path  string
	IsDir bool
	Size  int64 // bytes; 0 for directories
}

// Repository is one artifact root.
type Repository interface {
	// Put stores r's bytes at path, creating parent directories; a partial
	// upload never leaves a file that looks complete.
	Put(ctx context.Context, path string, r io.Reader) error
	// Open streams the file at path. A missing file is a
	// tracking.ResourceDoesNotExist error.
	Open(ctx context.Context, path string) (io.ReadCloser, error)
	// List returns the direct children of dir ("" is the root), sorted by
	// path. A missing directory lists as empty, as in MLflow.
	List(ctx context.Context, dir string) ([]FileInfo, error)
	// Delete removes the file or directory tree at path.
	Delete(ctx context.Context, path string) error
}
