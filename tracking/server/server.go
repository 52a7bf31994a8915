package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
)

// Options configure a Server. The zero value serves the tracking API
// without an artifact proxy, without authentication and without a UI.
type Options struct {
	// ServeArtifacts turns on MLflow's artifact proxy
	// (/api/2.0/mlflow-artifacts/...) over ArtifactsDestination, and
	// resolves runs whose artifact URI is mlflow-artifacts:/... onto it.
	ServeArtifacts       bool
	ArtifactsDestination artifacts.Repository
	// OpenArtifacts opens the artifact root of a run whose artifact URI is
	// not proxied (a local path, file://, s3://). Nil: such runs' artifacts
	// cannot be listed or downloaded through the server.
	OpenArtifacts func(ctx context.Context, uri string) (artifacts.Repository, error)
	// DefaultArtifactRoot is the root new experiments' artifacts go under
	// (the store applies it; the server only reports it in its logs).
	DefaultArtifactRoot string
	// Version is answered on /version.
	Version string
	// Registry receives the server's metrics and is served on /metrics.
	// Nil: a registry of the server's own.
	Registry *prometheus.Registry
	// AuthHTPasswd is an Apache htpasswd file of bcrypt entries; when set,
	// every route but /health requires HTTP basic auth.
	AuthHTPasswd string
	// UI, when set, serves every path the API does not (the web UI at /,
	// or at StaticPrefix/).
	UI http.Handler
	// StaticPrefix ("" or e.g. "/mlflow": a leading "/", no trailing one)
	// moves the UI, the UI's API (/ajax-api/...), /health, /version and
	// /get-artifact under it, as `mlflow server --static-prefix` does, for
	// a reverse proxy that routes by path. The REST API clients call
	// (/api/2.0/...) and /metrics stay at the root. A UI handler must be
	// told the same prefix (ui.Options.BasePath).
	StaticPrefix string
	// ArtifactsOnly serves the artifact proxy without tracking, as `mlflow
	// server --artifacts-only`: the server needs no store (New takes nil),
	// and every tracking endpoint, /get-artifact included, answers MLflow's
	// 503. Set no UI with it.
	ArtifactsOnly bool
	// AccessLog logs one line per request.
	AccessLog bool
	// ShutdownTimeout bounds the drain of in-flight requests when Serve's
	// context ends (default 30 s).
	ShutdownTimeout time.Duration
	// Logger receives server logs; nil discards them.
	Logger *slog.Logger
}

// Server is MLflow's tracking REST API over a tracking.Store.
type Server struct {
	store   tracking.Store
	opts    Options
	log     *slog.Logger
	echo    *echo.Echo
	metrics *metrics
	auth    *basicAuth
	// apiPrefixes are where the API is served: the REST API and the same
	// API for the web UI (under the static prefix).
	apiPrefixes []string
	// logModel serialises runs/log-model's read-modify-write of the
	// mlflow.log-model.history tag (the store has no append).
	logModelMu sync.Mutex
}

// New returns a server over store. It starts nothing: use Handler or Serve.
func New(store tracking.Store, opts Options) (*Server, error) {
	if store == nil && !opts.ArtifactsOnly {
		return nil, errors.New("tracking server: no store")
	}
	if opts.ServeArtifacts && opts.ArtifactsDestination == nil {
		return nil, errors.New("tracking server: serving artifacts needs an artifacts destination")
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	if err := checkStaticPrefix(opts.StaticPrefix); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{store: store, opts: opts, log: log,
		apiPrefixes: []string{"/api/2.0", opts.StaticPrefix + "/ajax-api/2.0"}}
	if opts.AuthHTPasswd != "" {
		a, err := loadHTPasswd(opts.AuthHTPasswd)
		if err != nil {
			return nil, err
		}
		s.auth = a
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.echo = s.routes()
	return s, nil
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve serves on ln until ctx is done, then stops accepting connections
// and lets in-flight requests finish within Options.ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		// No read or write timeout: artifact uploads and downloads may
		// take as long as their size needs.
		IdleTimeout: 120 * time.Second,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("tracking server listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String(),
		"serve_artifacts", s.opts.ServeArtifacts, "default_artifact_root", s.opts.DefaultArtifactRoot, "auth", s.auth != nil)
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining in-flight requests", "timeout", s.opts.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("stopped")
	return nil
}

// checkStaticPrefix accepts "" or a clean absolute path without a trailing
// slash ("/mlflow", "/team/mlflow").
func checkStaticPrefix(p string) error {
	switch {
	case p == "":
		return nil
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("tracking server: static prefix %q must begin with a '/'", p)
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("tracking server: static prefix %q should not end with a '/'", p)
	case path.Clean(p) != p || strings.ContainsAny(p, "?#%*: \t\n\\"):
		return fmt.Errorf("tracking server: static prefix %q is not a plain path", p)
	}
	return nil
}

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe, s.authenticate, s.recoverer)

	prefix := s.opts.StaticPrefix
	health := func(c echo.Context) error { return c.String(http.StatusOK, "OK") }
	e.GET(prefix+"/health", health)
	e.HEAD(prefix+"/health", health)
	e.GET(prefix+"/version", func(c echo.Context) error { return c.String(http.StatusOK, s.opts.Version) })
	e.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	e.GET(prefix+"/get-artifact", s.tracking(s.getArtifact))

	known := map[string]bool{} // API paths, to tell a wrong method from an unknown path
	rpc := func(method, path string, h echo.HandlerFunc) {
		for _, p := range s.apiPrefixes {
			e.Add(method, p+"/mlflow"+path, s.tracking(h))
			known[p+"/mlflow"+path] = true
		}
	}
	rpc(http.MethodPost, "/experiments/create", s.createExperiment)
	rpc(http.MethodGet, "/experiments/get", s.getExperiment)
	rpc(http.MethodGet, "/experiments/get-by-name", s.getExperimentByName)
	rpc(http.MethodPost, "/experiments/search", s.searchExperiments)
	rpc(http.MethodGet, "/experiments/search", s.searchExperiments)
	rpc(http.MethodPost, "/experiments/delete", s.deleteExperiment)
	rpc(http.MethodPost, "/experiments/restore", s.restoreExperiment)
	rpc(http.MethodPost, "/experiments/update", s.updateExperiment)
	rpc(http.MethodPost, "/experiments/set-experiment-tag", s.setExperimentTag)
	rpc(http.MethodPost, "/experiments/delete-experiment-tag", s.deleteExperimentTag)

	rpc(http.MethodPost, "/runs/create", s.createRun)
	rpc(http.MethodGet, "/runs/get", s.getRun)
	rpc(http.MethodPost, "/runs/update", s.updateRun)
	rpc(http.MethodPost, "/runs/delete", s.deleteRun)
	rpc(http.MethodPost, "/runs/restore", s.restoreRun)
	rpc(http.MethodPost, "/runs/search", s.searchRuns)
	rpc(http.MethodPost, "/runs/log-metric", s.logMetric)
	rpc(http.MethodPost, "/runs/log-parameter", s.logParam)
	rpc(http.MethodPost, "/runs/set-tag", s.setTag)
	rpc(http.MethodPost, "/runs/delete-tag", s.deleteTag)
	rpc(http.MethodPost, "/runs/log-batch", s.logBatch)
	rpc(http.MethodPost, "/runs/log-model", s.logModel)
	rpc(http.MethodPost, "/runs/log-inputs", s.logInputs)
	rpc(http.MethodGet, "/metrics/get-history", s.getMetricHistory)
	rpc(http.MethodGet, "/metrics/get-history-bulk", s.getMetricHistoryBulk)
	rpc(http.MethodGet, "/artifacts/list", s.listArtifacts)

	for _, p := range s.apiPrefixes {
		base := p + "/mlflow-artifacts/artifacts"
		e.GET(base, s.proxyList, s.requireProxy)
		e.GET(base+"/*", s.proxyDownload, s.requireProxy)
		e.PUT(base+"/*", s.proxyUpload, s.requireProxy)
		e.DELETE(base+"/*", s.proxyDelete, s.requireProxy)
		for _, op := range []string{"create", "complete", "abort"} {
			e.POST(p+"/mlflow-artifacts/mpu/"+op+"/*", s.proxyMultipart, s.requireProxy)
		}
	}
	// Everything else under the API is an unknown endpoint (or a known one
	// asked with the wrong method), also when a UI serves the other paths.
	unknown := func(c echo.Context) error {
		if known[c.Request().URL.Path] {
			return echo.ErrMethodNotAllowed
		}
		return echo.ErrNotFound
	}
	for _, p := range []string{"/api/*", prefix + "/ajax-api/*"} {
		e.Any(p, unknown)
	}
	if s.opts.UI != nil {
		ui := echo.WrapHandler(s.opts.UI)
		if prefix != "" {
			e.Any(prefix, ui) // the UI redirects it to prefix/
		}
		e.Any(prefix+"/*", ui)
	}
	return e
}

// tracking wraps a handler that needs the store: with ArtifactsOnly it
// answers MLflow's 503 instead (_disable_if_artifacts_only), before reading
// the request.
func (s *Server) tracking(h echo.HandlerFunc) echo.HandlerFunc {
	if !s.opts.ArtifactsOnly {
		return h
	}
	return func(c echo.Context) error {
		return c.String(http.StatusServiceUnavailable, "Endpoint: "+c.Path()+" disabled due to the mlflow server running in "+
			"`--artifacts-only` mode. To enable tracking server functionality, run `mlflow server` without `--artifacts-only`")
	}
}

// handleError writes MLflow's {"error_code", "message"} envelope with the
// status of its code.
func (s *Server) handleError(err error, c echo.Context) {
	req := c.Request()
	if c.Response().Committed {
		// A download that failed half-way: the client sees a short body;
		// only the log can say why.
		if !errors.Is(err, context.Canceled) {
			s.log.Warn("response failed after it started", "method", req.Method, "path", req.URL.Path, "error", err)
		}
		return
	}
	ae := s.apiError(err, req)
	status := ae.HTTPStatus()
	if status >= 500 {
		s.log.Error("request failed", "method", req.Method, "path", req.URL.Path, "status", status, "code", ae.Code, "message", ae.Message)
	}
	_ = c.Blob(status, echo.MIMEApplicationJSON, ae.JSON())
}

func (s *Server) apiError(err error, req *http.Request) *apierr.Error {
	var ae *apierr.Error
	var te *tracking.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &te):
		return &apierr.Error{Code: string(te.Code), Message: te.Message, Err: err}
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			return apierr.New(apierr.EndpointNotFound, "No API endpoint for %s %s.", req.Method, req.URL.Path)
		case http.StatusMethodNotAllowed:
			return &apierr.Error{Code: apierr.BadRequest, Status: http.StatusMethodNotAllowed,
				Message: fmt.Sprintf("Method %s is not allowed on %s.", req.Method, req.URL.Path)}
		case http.StatusRequestEntityTooLarge:
			return &apierr.Error{Code: apierr.RequestLimitExceeded, Status: he.Code, Message: fmt.Sprint(he.Message)}
		}
		return &apierr.Error{Code: apierr.BadRequest, Status: he.Code, Message: fmt.Sprint(he.Message)}
	case errors.Is(err, context.Canceled):
		return &apierr.Error{Code: apierr.Cancelled, Message: "request cancelled", Err: err}
	}
	return &apierr.Error{Code: apierr.InternalError, Message: err.Error(), Err: err}
}

// recoverer turns a panic in a handler into a 500 and keeps serving.
func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("panic while handling request", "path", c.Request().URL.Path, "panic", fmt.Sprint(r))
				err = apierr.New(apierr.InternalError, "internal error while handling the request")
			}
		}()
		return next(c)
	}
}

// observe counts and times each request.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err) // writes the response now, so the status is known
		}
		route := c.Path()
		prefix := s.opts.StaticPrefix
		switch {
		case route == "" || route == prefix || strings.HasSuffix(route, "/*") && !strings.Contains(route, "mlflow-artifacts"):
			route = "unmatched"
			if s.opts.UI != nil && c.Response().Status < 400 {
				route = "ui"
			}
		case strings.HasPrefix(route, prefix+"/ajax-api/"):
			route = "/api/" + strings.TrimPrefix(route, prefix+"/ajax-api/")
		case prefix != "" && strings.HasPrefix(route, prefix+"/"):
			route = strings.TrimPrefix(route, prefix) // /health, /version, /get-artifact
		}
		req := c.Request()
		s.metrics.observe(route, req.Method, c.Response().Status, time.Since(start))
		if s.opts.AccessLog {
			s.log.Info("request", "method", req.Method, "path", req.URL.Path, "status", c.Response().Status,
				"duration", time.Since(start).String(), "bytes_in", req.ContentLength, "bytes_out", c.Response().Size, "remote", req.RemoteAddr)
		}
		return nil
	}
}
