package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/apierr"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve/scoring"
)

// Defaults for Config's zero values.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultMaxBodyBytes    = 100 << 20 // nginx's limit in MLflow's images
	DefaultRequestTimeout  = 60 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
)

// Config configures a Server. The zero value serves on 127.0.0.1:8080 with
// MLflow's defaults.
type Config struct {
	// Addr is the host:port to listen on.
	Addr string
	// Model is the descriptor being served: its signature types requests.
	Model *mlmodel.Model
	// MaxBodyBytes caps request bodies (413 beyond it).
	MaxBodyBytes int64
	// RequestTimeout bounds one request's processing (504 beyond it), as
	// MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT does in MLflow.
	RequestTimeout time.Duration
	// ShutdownTimeout bounds the drain of in-flight requests on shutdown.
	ShutdownTimeout time.Duration
	// HideSchemaDetails replaces schema-enforcement messages with a
	// generic one (MLFLOW_DISABLE_SCHEMA_DETAILS).
	HideSchemaDetails bool
	// Version is answered on /version.
	Version string
	// Logger receives server logs; nil discards them.
	Logger *slog.Logger
}

// Server serves one model.
type Server struct {
	cfg     Config
	pred    flavors.Predictor
	dec     *scoring.Decoder
	echo    *echo.Echo
	log     *slog.Logger
	bufs    sync.Pool
	warned  sync.Map // warning text → struct{}: log each distinct warning once
	started chan struct{}
	addr    net.Addr
}

// New returns a server for p. It starts nothing: call Run or Serve.
func New(p flavors.Predictor, cfg Config) *Server {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, pred: p, log: log, started: make(chan struct{})}
	s.dec = &scoring.Decoder{}
	if m := cfg.Model; m != nil && m.Signature != nil {
		s.dec.Inputs, s.dec.Params = m.Signature.Inputs, m.Signature.Params
	}
	if s.dec.Inputs == nil {
		// No signature: type request values by the model's own description
		// of its inputs (an ONNX graph knows them), so JSON numbers arrive as
		// the tensor types the model takes. Nothing is enforced: MLflow
		// would not either.
		if d, ok := p.(flavors.SchemaDescriber); ok {
			s.dec.Hint, _ = d.ModelSchema()
		}
	}
	s.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	s.echo = s.routes()
	return s
}

// InputSchema is the schema requests are typed with (nil: inferred).
func (s *Server) InputSchema() *mlmodel.Schema { return s.dec.Inputs }

// ServeHTTP makes the server usable with httptest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Run listens on cfg.Addr and serves until ctx is done, then drains
// in-flight requests for up to ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.addr = ln.Addr()
	close(s.started)
	s.log.Info("serving", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining in-flight requests", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
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

// Addr returns the listening address once Serve has started.
func (s *Server) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case <-s.started:
		return s.addr, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.recoverer)
	e.GET("/ping", s.ping)
	e.GET("/health", s.ping)
	e.GET("/version", s.version)
	e.POST("/invocations", s.invocations)
	return e
}

// recoverer turns a panic in a handler into a 500 and keeps serving.
func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("panic while handling request", "path", c.Request().URL.Path, "panic", fmt.Sprint(r))
				err = apierr.New(apierr.InternalError, "internal error while handling the request")
			}
		}()
		return next(c)
	}
}

// ping answers MLflow's health check: 200 with a newline body. A predictor
// that can fail after loading (a worker pool) is asked first.
func (s *Server) ping(c echo.Context) error {
	if hc, ok := s.pred.(flavors.HealthChecker); ok {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
		defer cancel()
		if err := hc.Check(ctx); err != nil {
			return apierr.New(apierr.TemporarilyUnavailable, "model is not ready: %v", err)
		}
	}
	return c.Blob(http.StatusOK, "application/json", []byte("\n"))
}

func (s *Server) version(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", []byte(s.cfg.Version))
}

// handleError writes MLflow's error envelope.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var ae *apierr.Error
	var he *echo.HTTPError
	var ce *contentTypeError
	switch {
	case errors.As(err, &ce):
		// MLflow answers content-type problems with 415 text/plain.
		_ = c.Blob(http.StatusUnsupportedMediaType, "text/plain; charset=utf-8", []byte(ce.msg))
		return
	case errors.As(err, &ae):
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			ae = apierr.New(apierr.EndpointNotFound, "No endpoint %s %s. mlship serves GET /ping, /health, /version and POST /invocations.", c.Request().Method, c.Request().URL.Path)
		case http.StatusMethodNotAllowed:
			ae = &apierr.Error{Code: apierr.BadRequest, Status: http.StatusMethodNotAllowed, Message: fmt.Sprintf("Method %s is not allowed on %s.", c.Request().Method, c.Request().URL.Path)}
		default:
			ae = &apierr.Error{Code: apierr.BadRequest, Status: he.Code, Message: fmt.Sprint(he.Message)}
		}
	default:
		s.log.Error("request failed", "path", c.Request().URL.Path, "error", err)
		ae = apierr.New(apierr.InternalError, "internal error: %v", err)
	}
	status := ae.HTTPStatus()
	if status >= 500 {
		s.log.Warn("request failed", "path", c.Request().URL.Path, "status", status, "code", ae.Code, "message", ae.Message)
	}
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "1")
	}
	_ = c.Blob(status, "application/json", ae.JSON())
}

// warnOnce logs a warning the first time its text is seen.
func (s *Server) warnOnce(msg string) {
	if _, seen := s.warned.LoadOrStore(msg, struct{}{}); !seen {
		s.log.Warn(msg)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
