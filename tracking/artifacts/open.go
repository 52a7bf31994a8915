package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Options are what Open needs beyond a URI.
type Options struct {
	// AWSConfig gives the configuration for s3:// roots (LoadAWSConfig
	// builds the usual one). Without it s3:// URIs are refused.
	AWSConfig func(context.Context) (aws.Config, error)
	// ProxyRoot is the server's --artifacts-destination: an
	// mlflow-artifacts:/<path> URI is <path> under it. Without it such URIs
	// are refused (only a server that proxies artifacts can open them).
	ProxyRoot Repository
	// S3 options, such as WithPartSize.
	S3 []S3Option
}

// Supported is what Open accepts, for error messages and docs.
const Supported = "a local path, file:///path, s3://bucket/prefix, mlflow-artifacts:/path"

// Open returns the repository an artifact URI names: a local path
// (absolute or relative to the working directory), file:///path,
// s3://bucket/prefix, or mlflow-artifacts:/path (under opts.ProxyRoot).
func Open(ctx context.Context, uri string, opts Options) (Repository, error) {
	if uri == "" {
		return nil, errors.New("artifact URI is empty")
	}
	scheme, _, hasScheme := strings.Cut(uri, ":")
	if !hasScheme || !isScheme(scheme) || len(scheme) == 1 { // "C:\..." is a path
		return localRepo(uri)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("artifact URI %q: %w", uri, err)
	}
	switch strings.ToLower(scheme) {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("artifact URI %q: a file URI names a local path (file:///path), not host %q", uri, u.Host)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("artifact URI %q has no path", uri)
		}
		return localRepo(u.Path)
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("artifact URI %q has no bucket", uri)
		}
		if opts.AWSConfig == nil {
			return nil, fmt.Errorf("artifact URI %q: no AWS configuration for s3:// roots", uri)
		}
		cfg, err := opts.AWSConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("artifact URI %q: %w", uri, err)
		}
		return NewS3(ctx, u.Host, u.Path, cfg, opts.S3...)
	case "mlflow-artifacts":
		if opts.ProxyRoot == nil {
			return nil, fmt.Errorf("artifact URI %q: mlflow-artifacts URIs are served by a tracking server with --serve-artifacts; this process has no artifact destination", uri)
		}
		// mlflow-artifacts:/p or mlflow-artifacts://host:port/p: the host
		// is the server itself, the path is under its destination.
		p := u.Path
		if p == "" {
			p = u.Opaque
		}
		return Sub(opts.ProxyRoot, strings.TrimLeft(p, "/"))
	}
	return nil, fmt.Errorf("unsupported artifact URI %q: scheme %q is not one of %s", uri, scheme, Supported)
}

// isScheme reports whether s has the form of a URI scheme (RFC 3986).
func isScheme(s string) bool {
	if s == "" || !isASCIILetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isASCIILetter(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func localRepo(p string) (Repository, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("artifact root %q: %w", p, err)
	}
	return NewLocal(abs), nil
}

// Sub is the view of repo under prefix: paths given to it are relative to
// prefix and so are the paths it lists. A run's artifact root under the
// server's destination is one. prefix passes CleanPath.
func Sub(repo Repository, prefix string) (Repository, error) {
	clean, err := CleanPath(prefix)
	if err != nil {
		return nil, err
	}
	if clean == "" {
		return repo, nil
	}
	return &sub{repo: repo, prefix: clean}, nil
}

type sub struct {
	repo   Repository
	prefix string
}

func (s *sub) full(p string) (string, error) {
	p, err := CleanPath(p)
	if err != nil {
		return "", err
	}
	return join(s.prefix, p), nil
}

func (s *sub) Put(ctx context.Context, p string, r io.Reader) error {
	full, err := s.full(p)
	if err != nil {
		return err
	}
	if full == s.prefix {
		return s.repo.Put(ctx, "", r) // refused by the repository
	}
	return s.repo.Put(ctx, full, r)
}

func (s *sub) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	full, err := s.full(p)
	if err != nil {
		return nil, err
	}
	return s.repo.Open(ctx, full)
}

func (s *sub) List(ctx context.Context, dir string) ([]FileInfo, error) {
	full, err := s.full(dir)
	if err != nil {
		return nil, err
	}
	infos, err := s.repo.List(ctx, full)
	if err != nil {
		return nil, err
	}
	for i := range infos {
		infos[i].Path = strings.TrimPrefix(infos[i].Path, s.prefix+"/")
	}
	return infos, nil
}

func (s *sub) Delete(ctx context.Context, p string) error {
	full, err := s.full(p)
	if err != nil {
		return err
	}
	return s.repo.Delete(ctx, full)
}
