package server

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
)

var listArtifactsSpec = &spec{
	fields: withRunID(field{name: "path", kind: kString}, field{name: "page_token", kind: kString}),
	schema: []rule{{name: "run_id", checks: []check{isString, required}},
		{name: "path", checks: []check{isString}}, {name: "page_token", checks: []check{isString}}},
}

// proxyAnchor is where MLflow's artifact proxy lives; an http(s) artifact
// URI holding it is a proxied root too.
const proxyAnchor = "/api/2.0/mlflow-artifacts/artifacts/"

// proxiedPath returns the path under the artifacts destination that a
// proxied artifact URI (mlflow-artifacts:/p, mlflow-artifacts://host/p, or
// http(s)://host/api/2.0/mlflow-artifacts/artifacts/p) names.
func proxiedPath(uri string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "mlflow-artifacts":
		p := u.Path
		if p == "" {
			p = u.Opaque
		}
		return strings.TrimLeft(p, "/"), true
	case "http", "https":
		if _, after, ok := strings.Cut(u.Path, proxyAnchor); ok {
			return strings.TrimLeft(after, "/"), true
		}
	}
	return "", false
}

// RunArtifacts opens the artifact root of run as a server with these
// options resolves it: a proxied URI (mlflow-artifacts:/...) under
// ArtifactsDestination when ServeArtifacts is on, anything else through
// OpenArtifacts (by default artifacts.Open without S3 credentials). The web
// UI takes it to browse the same artifacts the API lists.
func (o Options) RunArtifacts(ctx context.Context, run *tracking.Run) (artifacts.Repository, error) {
	uri := run.Info.ArtifactURI
	if p, ok := proxiedPath(uri); ok && o.ServeArtifacts {
		return artifacts.Sub(o.ArtifactsDestination, p)
	}
	var repo artifacts.Repository
	var err error
	if o.OpenArtifacts != nil {
		repo, err = o.OpenArtifacts(ctx, uri)
	} else {
		repo, err = artifacts.Open(ctx, uri, artifacts.Options{ProxyRoot: o.ArtifactsDestination})
	}
	if err != nil {
		return nil, tracking.Errorf(tracking.InvalidState, "Cannot open the artifact root of run '%s': %v", run.Info.RunID, err)
	}
	return repo, nil
}

// listArtifacts is GET artifacts/list: the run's artifact root and the
// files directly under path, named relative to the root.
func (s *Server) listArtifacts(c echo.Context) error {
	r, err := decode(c, listArtifactsSpec)
	if err != nil {
		return err
	}
	dir := ""
	if r.has("path") {
		if dir, err = artifacts.CleanPath(r.str("path")); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	run, err := s.store.GetRun(ctx, r.runID())
	if err != nil {
		return err
	}
	repo, err := s.opts.RunArtifacts(ctx, run)
	if err != nil {
		return err
	}
	files, err := repo.List(ctx, dir)
	if err != nil {
		return err
	}
	return writeJSON(c, struct {
		RootURI string         `json:"root_uri,omitempty"`
		Files   []wireFileInfo `json:"files,omitempty"`
	}{run.Info.ArtifactURI, toWireFiles(files, func(p string) string { return p })})
}

// getArtifact is GET /get-artifact?run_id=&path=, the UI's download of one
// run artifact.
func (s *Server) getArtifact(c echo.Context) error {
	q := c.Request().URL.Query()
	runID := q.Get("run_id")
	if runID == "" {
		runID = q.Get("run_uuid")
	}
	if !q.Has("path") {
		return invalidParam("Missing value for required parameter 'path'.%s", apiDocsHint)
	}
	p, err := artifacts.CleanPath(q.Get("path"))
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	run, err := s.store.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	repo, err := s.opts.RunArtifacts(ctx, run)
	if err != nil {
		return err
	}
	return sendFile(c, repo, p)
}

// sendFile streams one artifact as an attachment, as MLflow sends them:
// never rendered inline on the server's origin, which would let an
// uploaded HTML file script the UI.
func sendFile(c echo.Context, repo artifacts.Repository, p string) error {
	if p == "" {
		return invalidParam("Invalid path")
	}
	rc, err := repo.Open(c.Request().Context(), p)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, guessMIME(p))
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(p)}))
	h.Set("X-Content-Type-Options", "nosniff")
	c.Response().WriteHeader(http.StatusOK)
	_, err = io.Copy(c.Response(), rc)
	return err // after the header is sent only the log sees it
}

// guessMIME types an artifact by its extension, as MLflow's
// _guess_mime_type does; MLmodel and other extension-less text files MLflow
// writes are text/plain.
func guessMIME(p string) string {
	base := path.Base(p)
	switch base {
	case "MLmodel", "MLproject", "requirements.txt", "conda.yaml", "python_env.yaml":
		return "text/plain"
	}
	if t := mime.TypeByExtension(path.Ext(base)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// The artifact proxy: /api/2.0/mlflow-artifacts/artifacts/<path> over the
// artifacts destination.

// proxyPath is the path of a proxy request below .../artifacts/, cleaned.
// The request path net/http has already decoded once; CleanPath looks
// through further encodings.
func (s *Server) proxyPath(c echo.Context) (string, error) {
	p := c.Request().URL.Path
	for _, prefix := range s.apiPrefixes {
		base := prefix + "/mlflow-artifacts/artifacts/"
		if strings.HasPrefix(p, base) {
			return artifacts.CleanPath(strings.TrimPrefix(p, base))
		}
		base = prefix + "/mlflow-artifacts/mpu/"
		if strings.HasPrefix(p, base) {
			_, rest, _ := strings.Cut(strings.TrimPrefix(p, base), "/")
			return artifacts.CleanPath(rest)
		}
	}
	return "", invalidParam("Invalid path")
}

// requireProxy answers MLflow's 503 on the proxy's routes when the server
// does not serve artifacts.
func (s *Server) requireProxy(next echo.HandlerFunc) echo.HandlerFunc {
	if s.opts.ServeArtifacts {
		return next
	}
	return func(c echo.Context) error {
		route := strings.Replace(c.Path(), "/*", "/<path:artifact_path>", 1)
		return c.String(http.StatusServiceUnavailable, fmt.Sprintf("Endpoint: %s disabled due to the mlflow server running with `--no-serve-artifacts`. To enable artifacts server functionality, run `mlflow server` with `--serve-artifacts`", route))
	}
}

func (s *Server) proxyDownload(c echo.Context) error {
	p, err := s.proxyPath(c)
	if err != nil {
		return err
	}
	return sendFile(c, s.opts.ArtifactsDestination, p)
}

// proxyUpload stores the raw request body; the repository streams it, so
// an upload is never held in memory whatever its size.
func (s *Server) proxyUpload(c echo.Context) error {
	p, err := s.proxyPath(c)
	if err != nil {
		return err
	}
	if p == "" {
		return invalidParam("Invalid path")
	}
	if err := s.opts.ArtifactsDestination.Put(c.Request().Context(), p, c.Request().Body); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

func (s *Server) proxyDelete(c echo.Context) error {
	p, err := s.proxyPath(c)
	if err != nil {
		return err
	}
	if p == "" {
		return invalidParam("Invalid path")
	}
	if err := s.opts.ArtifactsDestination.Delete(c.Request().Context(), p); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

var proxyListSpec = &spec{fields: []field{{name: "path", kind: kString}}}

// proxyList is GET .../mlflow-artifacts/artifacts?path=: the entries
// directly under path, by base name.
func (s *Server) proxyList(c echo.Context) error {
	r, err := decode(c, proxyListSpec)
	if err != nil {
		return err
	}
	dir, err := artifacts.CleanPath(r.str("path"))
	if err != nil {
		return err
	}
	files, err := s.opts.ArtifactsDestination.List(c.Request().Context(), dir)
	if err != nil {
		return err
	}
	return writeJSON(c, struct {
		Files []wireFileInfo `json:"files,omitempty"`
	}{toWireFiles(files, path.Base)})
}

// proxyMultipart answers MLflow's multipart-upload endpoints as MLflow does
// for a repository without multipart support; clients then upload with
// one PUT.
func (s *Server) proxyMultipart(c echo.Context) error {
	if _, err := s.proxyPath(c); err != nil {
		return err
	}
	return apierr.New(apierr.NotImplemented, "Multipart upload is not supported for the current artifact repository")
}
