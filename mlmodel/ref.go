package mlmodel

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// NotFoundError is MLflow's RESOURCE_DOES_NOT_EXIST for a model reference
// that has no MLmodel file.
type NotFoundError struct{ Path string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("Could not find an %q configuration file at %q", FileName, e.Path)
}

// UnsupportedURIError is a model reference with a scheme this build cannot
// resolve (runs:/, models:/, s3:// ...).
type UnsupportedURIError struct {
	URI, Scheme string
}

func (e *UnsupportedURIError) Error() string {
	return fmt.Sprintf("model URI %q: scheme %q is not supported here (use a local directory, the path of its MLmodel file, or a file:// URI)", e.URI, e.Scheme)
}

// Resolve turns a model reference into the model directory: a directory, the
// MLmodel file itself, or a file:// URI of either.
func Resolve(ref string) (string, error) {
	if ref == "" {
		return "", errors.New("empty model reference")
	}
	p := ref
	if i := strings.Index(ref, ":"); i > 1 { // i > 1 leaves Windows drive letters alone
		u, err := url.Parse(ref)
		if err != nil {
			return "", fmt.Errorf("model URI %q: %w", ref, err)
		}
		if u.Scheme != "file" {
			return "", &UnsupportedURIError{URI: ref, Scheme: u.Scheme}
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("model URI %q: file URIs must name a local path, not host %q", ref, u.Host)
		}
		p = u.Path
		if p == "" {
			p = u.Opaque // file:relative/path
		}
	}
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", &NotFoundError{Path: p}
		}
		return "", fmt.Errorf("model %q: %w", p, err)
	}
	dir := p
	if !st.IsDir() {
		if filepath.Base(p) != FileName {
			return "", &NotFoundError{Path: p}
		}
		dir = filepath.Dir(p)
	} else if _, err := os.Stat(filepath.Join(p, FileName)); err != nil {
		return "", &NotFoundError{Path: p}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("model %q: %w", p, err)
	}
	return abs, nil
}

// Load resolves ref and reads its MLmodel descriptor. A TensorFlow
// SavedModel directory without MLmodel is described as a model with one
// `tensorflow` flavor (see savedModelDescriptor).
func Load(ref string) (*Model, error) {
	dir, err := Resolve(ref)
	if err != nil {
		var nf *NotFoundError
		if errors.As(err, &nf) {
			if m, ok := savedModelDescriptor(nf.Path); ok {
				return m, nil
			}
		}
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	m, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	m.Dir = dir
	return m, nil
}
