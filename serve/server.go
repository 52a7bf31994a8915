package serve

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/semaphore"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/serve/scoring"
	"github.com/mlship/mlship/serve/v2"
)

// Defaults for Config's zero values.
const (
	DefaultAddr             = "127.0.0.1:8080"
	DefaultMaxBodyBytes     = 100 << 20 // nginx's limit in MLflow's images
	DefaultRequestTimeout   = 60 * time.Second
	DefaultShutdownTimeout  = 30 * time.Second
	DefaultMaxInflightBytes = 1 << 30
)

// Config configures a Server. The zero value serves on 127.0.0.1:8080 with
// MLflow's defaults, runs requests one at a time per model instance and
// merges none.
type Config struct {
	// Addr is the host:port to listen on.
	Addr string
	// Model is the descriptor being served: its signature types requests
	// and its example warms the model up.
	Model *mlmodel.Model
	// ModelName and ModelVersion name the model in the Open Inference
	// Protocol and in metrics. Empty: registered_model_meta, else the
	// model directory's name.
	ModelName, ModelVersion string
	// Flavor is the flavor serving the model (the V2 platform, metrics).
	Flavor string

	// Batch configures request merging. BatchSafe is decided from the
	// signature when Batching is "auto" (or empty).
	Batch BatchConfig
	// Batching is "auto" (merge when the signature says rows are
	// independent), "on" (always merge) or "off".
	Batching string

	// MaxBodyBytes caps one request body (413 beyond it).
	MaxBodyBytes int64
	// MaxInflightBytes caps the request bodies held in memory at once, over
	// all requests: beyond it requests get 503 at once, so memory stays
	// bounded whatever the load.
	MaxInflightBytes int64
	// RequestTimeout bounds one request's processing (504 beyond it), as
	// MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT does in MLflow.
	RequestTimeout time.Duration
	// DrainGrace is how long the server keeps accepting requests after
	// shutdown starts while reporting not-ready, so load balancers stop
	// sending before connections are refused.
	DrainGrace time.Duration
	// ShutdownTimeout bounds the drain of in-flight requests.
	ShutdownTimeout time.Duration

	// HideSchemaDetails replaces schema-enforcement messages with a
	// generic one (MLFLOW_DISABLE_SCHEMA_DETAILS).
	HideSchemaDetails bool
	// AuthToken, when set, is required as "Authorization: Bearer <token>"
	// on inference routes. Health, metadata and metrics stay open.
	AuthToken string
	// TLSCertFile and TLSKeyFile serve HTTPS when both are set.
	TLSCertFile, TLSKeyFile string
	// AccessLog logs one line per request.
	AccessLog bool
	// NoWarmup skips running the input example before reporting ready.
	NoWarmup bool
	// LoadTime is how long loading took (reported as a metric).
	LoadTime time.Duration

	// Version is answered on /version.
	Version string
	// Logger receives server logs; nil discards them.
	Logger *slog.Logger
}

// Server serves one model over MLflow's scoring protocol and the Open
// Inference Protocol.
type Server struct {
	cfg      Config
	model    flavors.Predictor // the flavor's predictor
	pred     *Batcher          // what handlers call
	dec      *scoring.Decoder
	v2dec    *v2.Decoder
	v2meta   v2.ModelMetadata
	echo     *echo.Echo
	log      *slog.Logger
	metrics  *metrics
	inflight *semaphore.Weighted // request body bytes held in memory
	bufs     sync.Pool
	warned   sync.Map // warning text → struct{}: log each distinct warning once
	shedLog  sampledLog
	ready    atomic.Bool
	draining atomic.Bool
	started  chan struct{}
	addr     net.Addr

	reqPrefix string        // random, per process: request IDs
	reqSeq    atomic.Uint64 // request IDs
}

// New returns a server for p. It starts nothing: call Run or Serve.
func New(p flavors.Predictor, cfg Config) *Server {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxInflightBytes <= 0 {
		cfg.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if cfg.MaxInflightBytes < cfg.MaxBodyBytes {
		cfg.MaxInflightBytes = cfg.MaxBodyBytes // one maximal request must fit
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.Model == nil {
		cfg.Model = &mlmodel.Model{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, model: p, log: log, started: make(chan struct{}),
		inflight: semaphore.NewWeighted(cfg.MaxInflightBytes)}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	s.reqPrefix = hex.EncodeToString(rnd[:])
	s.dec = &scoring.Decoder{}
	if sig := cfg.Model.Signature; sig != nil {
		s.dec.Inputs, s.dec.Params = sig.Inputs, sig.Params
	}
	var own, ownOut *mlmodel.Schema
	if d, ok := p.(flavors.SchemaDescriber); ok {
		own, ownOut = d.ModelSchema()
	}
	if s.dec.Inputs == nil {
		// No signature: type request values by the model's own description
		// of its inputs (an ONNX graph knows them), so JSON numbers arrive as
		// the tensor types the model takes. Nothing is enforced: MLflow
		// would not either.
		s.dec.Hint = own
	}
	s.cfg.ModelName, s.cfg.ModelVersion = modelName(cfg)
	s.v2meta = v2Metadata(s.cfg, own, ownOut)
	s.v2dec = &v2.Decoder{Model: s.cfg.ModelName, Inputs: s.v2meta.Inputs}
	if len(s.v2meta.Inputs) == 0 {
		s.v2dec.Inputs = nil // unknown: accept what the client names
	}

	bc := cfg.Batch
	if bc.Instances <= 0 {
		// As many model calls at once as the model can run (a worker pool's
		// size); one for in-process runtimes, which parallelise inside a call.
		bc.Instances = 1
		if c, ok := p.(flavors.Concurrent); ok && c.Concurrency() > 0 {
			bc.Instances = c.Concurrency()
		}
	}
	switch cfg.Batching {
	case "on":
		bc.BatchSafe = true
	case "off":
		bc.BatchSafe = false
	default:
		bc.BatchSafe = batchSafe(cfg.Model.Signature, own, ownOut)
	}
	bc.Logger = log
	s.pred = NewBatcher(p, bc)
	s.metrics = newMetrics(s.pred.QueueLen, s.pred.QueueDelay)
	s.pred.cfg.Observer = s.metrics
	s.metrics.loadTime.Set(cfg.LoadTime.Seconds())
	m := cfg.Model
	s.metrics.modelInfo.WithLabelValues(s.cfg.ModelName, s.cfg.ModelVersion, cfg.Flavor, m.ModelUUID, m.RunID).Set(1)
	if bc.BatchSafe && bc.MaxBatchRows > 1 {
		log.Info("request batching on", "max_batch_rows", bc.MaxBatchRows, "max_batch_delay", bc.MaxBatchDelay.String(), "instances", max(bc.Instances, 1))
	}
	switch d := bc.MaxQueueDelay; {
	case d < 0:
		log.Info("queue-delay admission on", "max_queue_delay", "auto", "max_queue", s.pred.cfg.MaxQueue)
	case d > 0:
		log.Info("queue-delay admission on", "max_queue_delay", d.String(), "max_queue", s.pred.cfg.MaxQueue)
	}

	s.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	s.echo = s.routes()
	// Used as a plain http.Handler (tests) the server is ready at once;
	// Serve reports ready only after warming the model up.
	s.ready.Store(true)
	return s
}

// modelName picks the V2 model name and version: the configured ones,
// else registered_model_meta (written when MLflow downloads a registered
// model), else the directory name.
func modelName(cfg Config) (string, string) {
	name, version := cfg.ModelName, cfg.ModelVersion
	if meta, err := cfg.Model.RegisteredModelMeta(); err == nil && meta != nil {
		if name == "" {
			name = meta.Name
		}
		if version == "" {
			version = meta.Version
		}
	}
	if name == "" && cfg.Model.Dir != "" {
		name = filepath.Base(cfg.Model.Dir)
	}
	if name == "" {
		name = "model"
	}
	return name, version
}

// batchSafe decides whether rows are independent: every input and output
// has a variable first dimension (tensor signatures or the model's own
// description), or the model takes tables (column signatures).
func batchSafe(sig *mlmodel.Signature, own, ownOut *mlmodel.Schema) bool {
	in, out := own, ownOut
	if sig != nil && sig.Inputs != nil {
		in = sig.Inputs
		if sig.Outputs != nil {
			out = sig.Outputs
		}
	}
	if in == nil {
		return false
	}
	variable := func(s *mlmodel.Schema) bool {
		for _, t := range s.Tensors {
			if len(t.Shape) == 0 || t.Shape[0] != -1 {
				return false
			}
		}
		return true
	}
	if !in.IsTensorBased() {
		return out == nil || variable(out)
	}
	return variable(in) && (out == nil || variable(out))
}

// InputSchema is the schema requests are typed with (nil: inferred).
func (s *Server) InputSchema() *mlmodel.Schema { return s.dec.Inputs }

// Ready reports whether the server answers ready.
func (s *Server) Ready() bool { return s.ready.Load() && !s.draining.Load() }

// ServeHTTP makes the server usable with httptest. Without Serve the
// batcher is not running and requests go straight to the model, unmerged.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Run listens on cfg.Addr and serves until ctx is done, then drains.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done. Shutdown then reports not-ready,
// keeps serving for DrainGrace, stops accepting, lets in-flight requests
// finish within ShutdownTimeout, and stops the batcher.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.ready.Store(false)
	bctx, bcancel := context.WithCancel(context.WithoutCancel(ctx))
	bdone := make(chan struct{})
	go func() {
		defer close(bdone)
		_ = s.pred.Run(bctx)
	}()
	defer func() {
		bcancel()
		<-bdone
	}()
	<-s.pred.Started()

	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		// A body must arrive within the request timeout: slow clients do not
		// hold memory and connections forever.
		ReadTimeout:  s.cfg.RequestTimeout + 10*time.Second,
		WriteTimeout: s.cfg.RequestTimeout + 30*time.Second,
		IdleTimeout:  120 * time.Second,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:  func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	tlsOn := s.cfg.TLSCertFile != "" && s.cfg.TLSKeyFile != ""
	if tlsOn {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("loading TLS certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	s.addr = ln.Addr()
	close(s.started)
	errc := make(chan error, 1)
	go func() {
		if tlsOn {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String(), "model", s.cfg.ModelName)
	s.warmup(ctx)
	s.ready.Store(true)
	s.metrics.ready.Set(1)
	s.log.Info("ready", "model", s.cfg.ModelName)
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.metrics.ready.Set(0)
	if g := s.cfg.DrainGrace; g > 0 {
		s.log.Info("shutting down: reporting not-ready before refusing connections", "grace", g.String())
		select {
		case <-time.After(g):
		case err := <-errc:
			return fmt.Errorf("serving: %w", err)
		}
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

// warnOnce logs a warning the first time its text is seen.
func (s *Server) warnOnce(msg string) {
	if _, seen := s.warned.LoadOrStore(msg, struct{}{}); !seen {
		s.log.Warn(msg)
	}
}
