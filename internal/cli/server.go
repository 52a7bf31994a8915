package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mlship/mlship/tracking/artifacts"
	"github.com/mlship/mlship/tracking/server"
	"github.com/mlship/mlship/tracking/sqlstore"
	"github.com/mlship/mlship/tracking/ui"
)

// serverOptions are the flags of `mlship server`, spelled as `mlflow
// server`'s.
type serverOptions struct {
	backendStoreURI      string
	defaultArtifactRoot  string
	artifactsDestination string
	serveArtifacts       bool
	noServeArtifacts     bool
	host                 string
	port                 int
	authHTPasswd         string
	noUI                 bool
	staticPrefix         string
	artifactsOnly        bool
	accessLog            bool
	shutdownTimeout      time.Duration
	workers              int // accepted for compatibility
	// Accepted for compatibility and ignored: they tune MLflow's Python
	// process model (gunicorn, waitress, uvicorn, Flask's debug mode) or
	// name the directory prometheus_flask_exporter shares between workers.
	exposePrometheus, gunicornOpts, waitressOpts, uvicornOpts string
	dev                                                       bool
}

// serverBackendStoreURI is `mlflow server`'s default store since MLflow 3.x
// (#18497): an SQLite file in the working directory.
const serverBackendStoreURI = "sqlite:///mlflow.db"

func (o *serverOptions) AddFlags(fs *pflag.FlagSet, d *deps) {
	or := func(env, def string) string {
		if v := d.env.get(env); v != "" {
			return v
		}
		return def
	}
	port := 5000
	if p, err := strconv.Atoi(d.env.get("MLFLOW_PORT")); err == nil {
		port = p
	}
	serve := true
	if v := d.env.get("MLFLOW_SERVE_ARTIFACTS"); v != "" {
		serve, _ = strconv.ParseBool(v)
	}
	fs.StringVar(&o.backendStoreURI, "backend-store-uri", or("MLFLOW_BACKEND_STORE_URI", serverBackendStoreURI),
		"where experiments and runs are kept: sqlite:///path.db (relative) or sqlite:////abs/path.db, or postgresql://user:pw@host:port/db (env MLFLOW_BACKEND_STORE_URI)")
	fs.StringVar(&o.defaultArtifactRoot, "default-artifact-root", d.env.get("MLFLOW_DEFAULT_ARTIFACT_ROOT"),
		"artifact root of new experiments: a local path, file:///path or s3://bucket/prefix (default: mlflow-artifacts:/ with --serve-artifacts, else ./mlruns; env MLFLOW_DEFAULT_ARTIFACT_ROOT)")
	fs.StringVar(&o.artifactsDestination, "artifacts-destination", or("MLFLOW_ARTIFACTS_DESTINATION", "./mlartifacts"),
		"where the artifact proxy stores mlflow-artifacts:/ artifacts: a local path or s3://bucket/prefix (env MLFLOW_ARTIFACTS_DESTINATION)")
	fs.BoolVar(&o.serveArtifacts, "serve-artifacts", serve, "proxy artifact uploads and downloads through the server (/api/2.0/mlflow-artifacts) (env MLFLOW_SERVE_ARTIFACTS)")
	fs.BoolVar(&o.noServeArtifacts, "no-serve-artifacts", false, "do not proxy artifacts: clients write to the artifact roots themselves")
	fs.StringVarP(&o.host, "host", "h", or("MLFLOW_HOST", "127.0.0.1"), "address to listen on, 0.0.0.0 for all interfaces (env MLFLOW_HOST)")
	fs.IntVarP(&o.port, "port", "p", port, "port to listen on (env MLFLOW_PORT)")
	fs.StringVar(&o.authHTPasswd, "auth-htpasswd", d.env.get("MLSHIP_AUTH_HTPASSWD"),
		"require HTTP basic auth (all routes but /health) with the users of this Apache htpasswd file; bcrypt entries only, `htpasswd -B` (env MLSHIP_AUTH_HTPASSWD)")
	fs.BoolVar(&o.noUI, "no-ui", false, "serve the REST API only, without the web UI at /")
	fs.BoolVar(&o.artifactsOnly, "artifacts-only", false, "serve only the artifact proxy, with no backend store: tracking endpoints answer 503 (as mlflow server --artifacts-only)")
	fs.StringVar(&o.staticPrefix, "static-prefix", d.env.get("MLFLOW_STATIC_PREFIX"),
		"serve the UI, its /ajax-api, /health, /version and /get-artifact under this path (e.g. /mlflow), for a reverse proxy; the REST API stays at /api (env MLFLOW_STATIC_PREFIX)")
	fs.BoolVar(&o.accessLog, "access-log", false, "log one line per request")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 25*time.Second, "on SIGTERM, how long in-flight requests may take to finish")
	fs.IntVarP(&o.workers, "workers", "w", 0, "accepted for MLflow compatibility; mlship serves every request from one process")
	fs.StringVar(&o.exposePrometheus, "expose-prometheus", "", "accepted for MLflow compatibility: mlship always serves Prometheus metrics on /metrics and needs no directory")
	fs.StringVar(&o.gunicornOpts, "gunicorn-opts", "", "accepted for MLflow compatibility and ignored (mlship has no gunicorn)")
	fs.StringVar(&o.waitressOpts, "waitress-opts", "", "accepted for MLflow compatibility and ignored (mlship has no waitress)")
	fs.StringVar(&o.uvicornOpts, "uvicorn-opts", "", "accepted for MLflow compatibility and ignored (mlship has no uvicorn)")
	fs.BoolVar(&o.dev, "dev", false, "accepted for MLflow compatibility and ignored")
}

// NewCmdServer is `mlship server`, MLflow's tracking server.
func NewCmdServer(d *deps) *cobra.Command {
	o := &serverOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run an MLflow-compatible tracking server (REST API, artifact proxy, web UI)",
		Long: "Serve MLflow's tracking REST API (/api/2.0/mlflow/...) over an SQLite or PostgreSQL store,\n" +
			"MLflow's artifact proxy (/api/2.0/mlflow-artifacts/...) and a web UI at /, with `mlflow server`'s\n" +
			"flags. MLflow's clients work against it unchanged: point MLFLOW_TRACKING_URI at it.",
		Example: "  mlship server --port 5000\n" +
			"  mlship server --backend-store-uri postgresql://mlflow:pw@db:5432/mlflow --artifacts-destination s3://bucket/mlartifacts --host 0.0.0.0\n" +
			"  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python train.py",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), d, o)
		},
	}
	// -h is --host here, as in `mlflow server`, so help has no shorthand.
	cmd.Flags().Bool("help", false, "help for server")
	o.AddFlags(cmd.Flags(), d)
	return cmd
}

// runArtifactsOnly is `mlship server --artifacts-only`: the artifact proxy
// over --artifacts-destination, without a store, for deployments that keep
// artifact traffic off the tracking server.
func runArtifactsOnly(ctx context.Context, d *deps, o *serverOptions) error {
	if o.backendStoreURI != serverBackendStoreURI {
		shown := o.backendStoreURI
		if u, err := url.Parse(shown); err == nil {
			shown = u.Redacted()
		}
		return fmt.Errorf("You are starting a tracking server in `--artifacts-only` mode and have provided a value for "+
			"`--backend_store_uri`: '%s'. A tracking server in `--artifacts-only` mode cannot have a value set for "+
			"`--backend_store_uri` to properly proxy access to the artifact storage location.", shown)
	}
	dest, err := artifacts.Open(ctx, o.artifactsDestination, artifacts.Options{AWSConfig: artifacts.LoadAWSConfig(d.env.get("MLFLOW_S3_ENDPOINT_URL"))})
	if err != nil {
		return fmt.Errorf("--artifacts-destination: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := server.New(nil, server.Options{
		ArtifactsOnly: true, ServeArtifacts: o.serveArtifacts, ArtifactsDestination: dest,
		Registry: reg, Version: Version(), AuthHTPasswd: o.authHTPasswd, ShutdownTimeout: o.shutdownTimeout,
		AccessLog: o.accessLog, StaticPrefix: o.staticPrefix, Logger: d.logger(),
	})
	if err != nil {
		return err
	}
	return listenAndServe(ctx, srv, o)
}

func listenAndServe(ctx context.Context, srv *server.Server, o *serverOptions) error {
	addr := net.JoinHostPort(strings.Trim(o.host, "[]"), strconv.Itoa(o.port))
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	return srv.Serve(ctx, ln)
}

func runServer(ctx context.Context, d *deps, o *serverOptions) error {
	if o.noServeArtifacts {
		o.serveArtifacts = false
	}
	if o.port < 0 || o.port > 65535 {
		return fmt.Errorf("--port %d is not a valid port", o.port)
	}
	// MLflow's checks and messages (mlflow/cli _validate_static_prefix).
	if p := o.staticPrefix; p != "" {
		if !strings.HasPrefix(p, "/") {
			return errors.New("--static-prefix must begin with a '/'.")
		}
		if strings.HasSuffix(p, "/") {
			return errors.New("--static-prefix should not end with a '/'.")
		}
	}
	log := d.logger()
	if o.workers > 1 {
		log.Info("--workers ignored: mlship serves every request from one process")
	}
	for flag, v := range map[string]string{"--gunicorn-opts": o.gunicornOpts, "--waitress-opts": o.waitressOpts, "--uvicorn-opts": o.uvicornOpts} {
		if v != "" {
			log.Info(flag+" ignored: mlship serves HTTP itself", "value", v)
		}
	}
	if o.exposePrometheus != "" {
		log.Info("--expose-prometheus: metrics are served on /metrics; the directory is not used", "dir", o.exposePrometheus)
	}
	if o.artifactsOnly {
		return runArtifactsOnly(ctx, d, o)
	}
	root := o.defaultArtifactRoot
	if root == "" {
		root = "./mlruns"
		if o.serveArtifacts {
			root = "mlflow-artifacts:/"
		}
	}
	awsConfig := artifacts.LoadAWSConfig(d.env.get("MLFLOW_S3_ENDPOINT_URL"))
	store, err := sqlstore.Open(ctx, o.backendStoreURI, sqlstore.Options{DefaultArtifactRoot: root, Logger: log})
	if err != nil {
		return fmt.Errorf("opening the backend store: %w", err)
	}
	defer store.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := server.Options{
		Registry:            reg,
		ServeArtifacts:      o.serveArtifacts,
		DefaultArtifactRoot: root,
		Version:             Version(),
		AuthHTPasswd:        o.authHTPasswd,
		ShutdownTimeout:     o.shutdownTimeout,
		AccessLog:           o.accessLog,
		StaticPrefix:        o.staticPrefix,
		Logger:              log,
	}
	if o.serveArtifacts {
		dest, err := artifacts.Open(ctx, o.artifactsDestination, artifacts.Options{AWSConfig: awsConfig})
		if err != nil {
			return fmt.Errorf("--artifacts-destination: %w", err)
		}
		opts.ArtifactsDestination = dest
	}
	opts.OpenArtifacts = func(ctx context.Context, uri string) (artifacts.Repository, error) {
		return artifacts.Open(ctx, uri, artifacts.Options{AWSConfig: awsConfig, ProxyRoot: opts.ArtifactsDestination})
	}
	if !o.noUI {
		opts.UI = ui.New(store, ui.Options{Artifacts: opts.RunArtifacts, BasePath: o.staticPrefix, Logger: log})
	}
	srv, err := server.New(store, opts)
	if err != nil {
		return err
	}
	return listenAndServe(ctx, srv, o)
}
