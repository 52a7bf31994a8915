package projects

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"

	"github.com/mlship/mlship/projects/mlproject"
)

// fetchHTTP downloads an http(s) path parameter into dir, keeping the
// URL's file name. Other remote schemes are refused with a clear error.
func fetchHTTP(ctx context.Context, uri, dir string) (string, error) {
	switch mlproject.URIScheme(uri) {
	case "http", "https":
	default:
		return "", fmt.Errorf("only local paths and http(s) URLs are supported for path parameters, not %s", uri)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		name = "download"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", uri, resp.Status)
	}
	dst := filepath.Join(dir, name)
	f, err := os.Create(dst)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		os.Remove(dst) // no half a download under a user's --storage-dir
		return "", fmt.Errorf("GET %s: %w", uri, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(dst)
		return "", err
	}
	return dst, nil
}
