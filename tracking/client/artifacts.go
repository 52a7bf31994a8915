package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
)

// Artifacts travel the way MLflow's client moves them, chosen by the run's
// artifact_uri:
//   - mlflow-artifacts:/<path> (a server started with --serve-artifacts):
//     through the server's artifact proxy, /api/2.0/mlflow-artifacts/artifacts/<path>/<artifact>;
//   - a local path or file:// URI: copied directly on this machine;
//   - anything else (s3://...): downloads go through the server's
//     /get-artifact route; uploads need the proxy.

// transfers bounds the files moved at once by UploadArtifacts and
// DownloadArtifacts.
const transfers = 4

// ListArtifacts lists the direct children of dir in a run's artifacts
// ("" is the root), every page. Paths are relative to the artifact root.
func (c *Client) ListArtifacts(ctx context.Context, runID, dir string) ([]artifacts.FileInfo, error) {
	var all []artifacts.FileInfo
	token := ""
	for {
		q := url.Values{"run_id": {runID}}
		if dir != "" {
			q.Set("path", dir)
		}
		if token != "" {
			q.Set("page_token", token)
		}
		var out struct {
			RootURI       string         `json:"root_uri"`
			Files         []wireFileInfo `json:"files"`
			NextPageToken string         `json:"next_page_token"`
		}
		if err := c.api(ctx, http.MethodGet, "/artifacts/list", q, &out, true); err != nil {
			return nil, err
		}
		for _, f := range out.Files {
			all = append(all, artifacts.FileInfo{Path: f.Path, IsDir: f.IsDir, Size: int64(f.FileSize)})
		}
		if out.NextPageToken == "" || out.NextPageToken == token {
			return all, nil
		}
		token = out.NextPageToken
	}
}

// root is where a run's artifacts live, as this client reaches them.
type root struct {
	proxy string // escaped path under the proxy, e.g. 1/abc/artifacts
	local string // a local directory
	other string // any other URI (downloads through /get-artifact)
}

func (c *Client) artifactRoot(ctx context.Context, runID string) (root, error) {
	run, err := c.GetRun(ctx, runID)
	if err != nil {
		return root{}, err
	}
	return parseRoot(run.Info.ArtifactURI)
}

func parseRoot(uri string) (root, error) {
	if uri == "" {
		return root{}, errors.New("the run has no artifact_uri")
	}
	if rest, ok := strings.CutPrefix(uri, "mlflow-artifacts:"); ok {
		// mlflow-artifacts:/p, mlflow-artifacts:///p or
		// mlflow-artifacts://host:port/p: this client's server proxies it.
		if strings.HasPrefix(rest, "//") {
			rest = rest[2:]
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				rest = rest[i:]
			} else {
				rest = ""
			}
		}
		clean, err := cleanRel(strings.Trim(rest, "/"))
		if err != nil {
			return root{}, fmt.Errorf("artifact URI %q: %w", uri, err)
		}
		return root{proxy: escapePath(clean)}, nil
	}
	if strings.HasPrefix(uri, "file:") {
		u, err := url.Parse(uri)
		if err != nil {
			return root{}, fmt.Errorf("artifact URI %q: %w", uri, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return root{other: uri}, nil
		}
		return root{local: filepath.FromSlash(u.Path)}, nil
	}
	if filepath.IsAbs(uri) {
		return root{local: uri}, nil
	}
	return root{other: uri}, nil
}

// cleanRel checks an artifact path: relative, "/"-separated, with no ".."
// and no empty or "." segments left after cleaning. "" is the root.
func cleanRel(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("artifact path %q must be relative, with / separators", p)
	}
	c := path.Clean(p)
	if c == "." {
		return "", nil
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("artifact path %q leaves the artifact root", p)
	}
	return c, nil
}

func escapePath(p string) string {
	if p == "" {
		return ""
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func (r root) proxyPath(rel string) string {
	p := "/api/2.0/mlflow-artifacts/artifacts"
	if r.proxy != "" {
		p += "/" + r.proxy
	}
	if rel != "" {
		p += "/" + escapePath(rel)
	}
	return p
}

// UploadArtifact stores the local file localFile in a run's artifacts
// under the directory artifactPath ("" is the root), keeping its name.
func (c *Client) UploadArtifact(ctx context.Context, runID, localFile, artifactPath string) error {
	r, err := c.artifactRoot(ctx, runID)
	if err != nil {
		return err
	}
	dir, err := cleanRel(filepath.ToSlash(artifactPath))
	if err != nil {
		return err
	}
	return c.put(ctx, r, localFile, path.Join(dir, filepath.Base(localFile)))
}

// UploadArtifacts stores the files under the local directory localDir in
// a run's artifacts under artifactPath, keeping their relative paths.
func (c *Client) UploadArtifacts(ctx context.Context, runID, localDir, artifactPath string) error {
	dir, err := cleanRel(filepath.ToSlash(artifactPath))
	if err != nil {
		return err
	}
	var files []Upload
	err = filepath.WalkDir(localDir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() || (e.Type()&fs.ModeSymlink != 0 && isFile(p)) {
			rel, err := filepath.Rel(localDir, p)
			if err != nil {
				return err
			}
			files = append(files, Upload{Local: p, Path: path.Join(dir, filepath.ToSlash(rel))})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading %s: %w", localDir, err)
	}
	return c.UploadFiles(ctx, runID, files)
}

// Upload is one local file and the artifact path (of the file, relative
// to the run's root) it is stored at.
type Upload struct {
	Local string
	Path  string
}

// UploadFiles stores each local file at its artifact path, a few at once.
func (c *Client) UploadFiles(ctx context.Context, runID string, files []Upload) error {
	r, err := c.artifactRoot(ctx, runID)
	if err != nil {
		return err
	}
	for i, f := range files {
		p, err := cleanRel(f.Path)
		if err != nil {
			return err
		}
		if p == "" {
			return fmt.Errorf("uploading %s: empty artifact path", f.Local)
		}
		files[i].Path = p
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(transfers)
	for _, f := range files {
		g.Go(func() error { return c.put(gctx, r, f.Local, f.Path) })
	}
	return g.Wait()
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// put stores one local file at the artifact path dest.
func (c *Client) put(ctx context.Context, r root, localFile, dest string) error {
	switch {
	case r.proxy != "" || (r.local == "" && r.other == ""):
		_, err := c.do(ctx, request{
			method: http.MethodPut, path: r.proxyPath(dest), idempotent: true,
			raw: func() (io.ReadCloser, int64, error) {
				f, err := os.Open(localFile)
				if err != nil {
					return nil, 0, err
				}
				st, err := f.Stat()
				if err != nil {
					f.Close()
					return nil, 0, err
				}
				return f, st.Size(), nil
			},
		})
		if err != nil {
			return fmt.Errorf("uploading %s to %s: %w", localFile, dest, err)
		}
		return nil
	case r.local != "":
		target := filepath.Join(r.local, filepath.FromSlash(dest))
		if err := copyFile(ctx, localFile, target); err != nil {
			return fmt.Errorf("uploading %s to %s: %w", localFile, target, err)
		}
		return nil
	}
	return fmt.Errorf("cannot upload to artifact root %s from this client: start the server with --serve-artifacts so it proxies artifacts", r.other)
}

// DownloadArtifacts copies a run's artifact path (a file or a directory;
// "" is the whole root) to dst and returns the local path of the copy,
// dst/<artifactPath> as MLflow lays it out. Paths the server lists are
// checked to stay under dst.
func (c *Client) DownloadArtifacts(ctx context.Context, runID, artifactPath, dst string) (string, error) {
	r, err := c.artifactRoot(ctx, runID)
	if err != nil {
		return "", err
	}
	rel, err := cleanRel(filepath.ToSlash(artifactPath))
	if err != nil {
		return "", err
	}
	if r.local != "" {
		if _, err := os.Stat(r.local); err != nil {
			// The root is a path on the server's machine, not this one:
			// download through the server instead.
			r = root{other: r.local}
		}
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	local := filepath.Join(dst, filepath.FromSlash(rel))
	files, isDir, err := c.walk(ctx, runID, rel)
	if err != nil {
		return "", err
	}
	if !isDir {
		if rel == "" {
			return local, nil // an empty root
		}
		return local, c.get(ctx, r, runID, rel, local)
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		return "", err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(transfers)
	for _, f := range files {
		g.Go(func() error { return c.get(gctx, r, runID, f, filepath.Join(dst, filepath.FromSlash(f))) })
	}
	return local, g.Wait()
}

// walk lists the files under dir recursively. A path that lists as empty
// is taken for a file, as MLflow's client does (an empty directory and a
// file look alike through the listing API).
func (c *Client) walk(ctx context.Context, runID, dir string) (files []string, isDir bool, err error) {
	infos, err := c.ListArtifacts(ctx, runID, dir)
	if err != nil {
		return nil, false, err
	}
	if len(infos) == 0 {
		return nil, false, nil
	}
	for _, fi := range infos {
		p, err := cleanRel(fi.Path)
		if err != nil {
			return nil, false, fmt.Errorf("server listed %w", err)
		}
		if dir != "" && !strings.HasPrefix(p, dir+"/") || p == dir {
			return nil, false, fmt.Errorf("server listed %q under %q", fi.Path, dir)
		}
		if !fi.IsDir {
			files = append(files, p)
			continue
		}
		sub, _, err := c.walk(ctx, runID, p)
		if err != nil {
			return nil, false, err
		}
		files = append(files, sub...)
	}
	return files, true, nil
}

// get copies the artifact rel to the local path target, through a
// temporary file so an interrupted download never looks complete.
func (c *Client) get(ctx context.Context, r root, runID, rel, target string) error {
	if r.local != "" {
		if err := copyFile(ctx, filepath.Join(r.local, filepath.FromSlash(rel)), target); err != nil {
			return fmt.Errorf("downloading %s: %w", rel, err)
		}
		return nil
	}
	req := request{method: http.MethodGet, path: r.proxyPath(rel), idempotent: true}
	if r.other != "" {
		req = request{method: http.MethodGet, path: "/get-artifact", query: url.Values{"path": {rel}, "run_id": {runID}}, idempotent: true}
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", rel, err)
	}
	defer resp.Body.Close()
	if err := writeFile(ctx, resp.Body, target); err != nil {
		return fmt.Errorf("downloading %s: %w", rel, err)
	}
	return nil
}

func copyFile(ctx context.Context, src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return tracking.Errorf(tracking.ResourceDoesNotExist, "artifact %s does not exist", src)
		}
		return err
	}
	defer f.Close()
	return writeFile(ctx, f, dst)
}

// writeFile writes r to path atomically: a temporary file in the same
// directory, renamed into place when complete.
func writeFile(ctx context.Context, r io.Reader, target string) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), ".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := artifacts.CopyContext(ctx, tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}
