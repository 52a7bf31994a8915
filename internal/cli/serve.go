package cli

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/pack"
	"github.com/mlship/mlship/serve"
)

// serveOptions are the flags of `mlship serve` (and `mlship models serve`).
type serveOptions struct {
	host        string
	port        int
	flavor      string
	tfRuntime   string // --tf-runtime
	maxBody     string
	timeoutSecs float64
	threads     int

	modelName, modelVersion string
	batching                string
	maxBatchRows            int
	maxBatchDelay           time.Duration
	instances               int
	maxQueue                int
	maxQueueDelay           string
	maxInflight             string
	drainTimeout            time.Duration
	drainGrace              time.Duration
	authToken               string
	tlsCert, tlsKey         string
	accessLog               bool
	noWarmup                bool

	python             string
	pipFindLinks       []string
	systemSitePackages bool
	noMLflow           bool
	workerStartTimeout time.Duration
	// MLflow flags accepted for compatibility.
	workers        int
	envManager     string
	noConda        bool
	installMLflow  bool
	enableMLServer bool
}

func (o *serveOptions) AddFlags(fs *pflag.FlagSet, d *deps, mlflowDefaults bool) {
	defPort, defHost := 8080, "127.0.0.1"
	if mlflowDefaults {
		defPort = 5000
		if p, err := strconv.Atoi(d.env.get("MLFLOW_PORT")); err == nil {
			defPort = p
		}
		if h := d.env.get("MLFLOW_HOST"); h != "" {
			defHost = h
		}
	}
	timeout := d.env.seconds("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT", serve.DefaultRequestTimeout)
	fs.StringVar(&o.flavor, "flavor", "", "serve the model with this flavor instead of the preferred one (e.g. onnx, python_function)")
	addTFRuntimeFlag(fs, &o.tfRuntime)
	fs.StringVar(&o.maxBody, "max-body-size", "100MiB", "largest accepted request body (bytes, or with a unit: 512KiB, 100MiB, 1GiB)")
	fs.IntVar(&o.threads, "threads", 0, "intra-op threads one prediction may use in an in-process runtime (0: the model's onnx_session_options, else 1 when serving)")
	fs.StringVar(&o.modelName, "model-name", "", "model name in the Open Inference Protocol and metrics (default: registered_model_meta, else the directory name)")
	fs.StringVar(&o.modelVersion, "model-version", "", "model version in the Open Inference Protocol (default: registered_model_meta)")
	fs.StringVar(&o.batching, "batching", "auto", "merge concurrent requests into one model call: auto (when the signature shows rows are independent), on, off")
	fs.IntVar(&o.maxBatchRows, "max-batch-rows", 64, "most rows merged into one model call; larger requests are split")
	fs.DurationVar(&o.maxBatchDelay, "max-batch-delay", 0, "how long a batch may wait for more requests (0: never wait; requests merge only while the model is busy)")
	fs.IntVar(&o.instances, "model-instances", 0, "model calls that may run at once (0: as many as the model can run, e.g. the python_function worker count; 1 for in-process runtimes)")
	fs.IntVar(&o.maxQueue, "max-queue", 256, "requests that may wait for the model; beyond it requests get 503 at once")
	fs.StringVar(&o.maxQueueDelay, "max-queue-delay", "auto", "most a request may expect to wait in the queue; beyond it, or once it has waited that long, it gets 503 (auto: 4x the measured batch time, at least 10ms; 0: off, --max-queue alone)")
	fs.StringVar(&o.maxInflight, "max-inflight-bytes", "1GiB", "request bodies held in memory at once; beyond it requests get 503 at once")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", defaultDrainTimeout, "on SIGTERM, how long in-flight requests may take to finish (after --drain-grace)")
	fs.DurationVar(&o.drainGrace, "drain-grace", 2*time.Second, "on SIGTERM, how long to keep accepting requests while reporting not-ready, before refusing connections")
	fs.StringVar(&o.authToken, "auth-token", d.env.get("MLSHIP_AUTH_TOKEN"), "require 'Authorization: Bearer TOKEN' on inference routes (env MLSHIP_AUTH_TOKEN)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM), with --tls-key")
	fs.StringVar(&o.tlsKey, "tls-key", "", "private key (PEM) for --tls-cert")
	fs.BoolVar(&o.accessLog, "access-log", false, "log one line per request")
	fs.BoolVar(&o.noWarmup, "no-warmup", false, "do not run the input example through the model before reporting ready")
	fs.StringVar(&o.python, "python", d.env.get("MLSHIP_PYTHON"), "python_function models: the Python interpreter to run workers with (env MLSHIP_PYTHON; default: the first python3 that has numpy and pandas)")
	fs.StringSliceVar(&o.pipFindLinks, "pip-find-links", nil, "python_function models: directories of wheels for creating environments offline (--env-manager virtualenv|uv)")
	fs.BoolVar(&o.systemSitePackages, "env-system-site-packages", false, "python_function models: let a created virtualenv see the base interpreter's packages")
	fs.BoolVar(&o.noMLflow, "no-mlflow-loader", false, "python_function models: load with mlship's own loaders even when mlflow is importable")
	fs.DurationVar(&o.workerStartTimeout, "worker-start-timeout", 5*time.Minute, "python_function models: how long a worker may take to load the model")
	if mlflowDefaults {
		fs.IntVarP(&o.port, "port", "p", defPort, "port to listen on (env MLFLOW_PORT)")
		fs.StringVarP(&o.host, "host", "h", defHost, "address to listen on (env MLFLOW_HOST)")
		fs.Float64VarP(&o.timeoutSecs, "timeout", "t", timeout.Seconds(), "request timeout in seconds (env MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT)")
		fs.IntVarP(&o.workers, "workers", "w", workersDefault(d), "python_function models: worker processes (env MLFLOW_MODELS_WORKERS; default: one per CPU)")
		fs.StringVar(&o.envManager, "env-manager", "local", "python_function models: local, virtualenv, uv or conda")
		fs.BoolVar(&o.noConda, "no-conda", false, "same as --env-manager local (MLflow's legacy flag)")
		fs.BoolVar(&o.installMLflow, "install-mlflow", false, "accepted for MLflow compatibility; mlship does not need MLflow")
		fs.BoolVar(&o.enableMLServer, "enable-mlserver", false, "accepted for MLflow compatibility; ignored")
	} else {
		// Container images set MLSHIP_HOST and MLSHIP_PORT, so a runtime
		// that replaces the command still gets the image's address.
		if p, err := strconv.Atoi(d.env.get("MLSHIP_PORT")); err == nil {
			defPort = p
		}
		if h := d.env.get("MLSHIP_HOST"); h != "" {
			defHost = h
		}
		fs.IntVar(&o.port, "port", defPort, "port to listen on (env MLSHIP_PORT; SAGEMAKER_BIND_TO_PORT, when set, wins over both)")
		fs.StringVar(&o.host, "host", defHost, "address to listen on, 0.0.0.0 for all interfaces (env MLSHIP_HOST)")
		fs.Float64Var(&o.timeoutSecs, "timeout", timeout.Seconds(), "request timeout in seconds (env MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT)")
		fs.IntVar(&o.workers, "workers", workersDefault(d), "python_function models: worker processes (default: one per CPU)")
		fs.StringVar(&o.envManager, "env-manager", "local", "python_function models: how to get the model's Python environment: local, virtualenv, uv or conda (as MLflow's --env-manager)")
	}
}

// defaultDrainTimeout keeps a SIGTERM's whole shutdown (2 s of
// --drain-grace, the drain, closing the model) inside the 30 s SageMaker
// and Kubernetes (terminationGracePeriodSeconds) allow before SIGKILL.
const defaultDrainTimeout = 25 * time.Second

// NewCmdServe is `mlship serve MODEL`.
func NewCmdServe(d *deps) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [MODEL]",
		Short: "Serve a model over HTTP with MLflow's scoring protocol",
		Long: "Serve a model directory (or its MLmodel file, a file:// URI, or runs:/<run_id>/<path> from the\n" +
			"tracking server MLFLOW_TRACKING_URI names) on /invocations, /ping,\n" +
			"/health and /version, answering exactly as `mlflow models serve` does.\n\n" +
			"Without MODEL it serves " + pack.ModelDir + ", where images built by `mlship build-docker`\n" +
			"(and SageMaker) put the model, so `docker run IMAGE serve` works as SageMaker runs it.\n" +
			"SAGEMAKER_BIND_TO_PORT, when set, is the port unless --port is given.",
		Example: "  mlship serve ./model --port 8080\n" +
			"  curl -s localhost:8080/invocations -H 'Content-Type: application/json' -d '{\"inputs\": [[1, 2, 3, 4]]}'",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := serveModelRef(args, pack.ModelDir)
			if err != nil {
				return err
			}
			if o.port, err = bindToPort(o.port, cmd.Flags().Changed("port"), d.env.get("SAGEMAKER_BIND_TO_PORT")); err != nil {
				return err
			}
			return runServe(cmd, d, o, ref)
		},
	}
	o.AddFlags(cmd.Flags(), d, false)
	return cmd
}

// NewCmdModels is `mlship models`, MLflow's spelling of the model commands.
func NewCmdModels(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "MLflow-compatible model commands (mlflow models ...)",
	}
	o := &serveOptions{}
	var uri string
	serveCmd := &cobra.Command{
		Use:   "serve -m MODEL_URI",
		Short: "Serve a model, with `mlflow models serve` flags",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.installMLflow {
				d.logger().Info("--install-mlflow ignored: mlship serves models without MLflow")
			}
			if o.enableMLServer {
				d.logger().Warn("--enable-mlserver ignored: mlship serves the model itself")
			}
			return runServe(cmd, d, o, uri)
		},
	}
	// -h is MLflow's --host here, so help gets no shorthand.
	serveCmd.Flags().Bool("help", false, "help for serve")
	serveCmd.Flags().StringVarP(&uri, "model-uri", "m", "", "model to serve: a directory, its MLmodel file, a file:// URI, or runs:/<run_id>/<path> (MLFLOW_TRACKING_URI)")
	_ = serveCmd.MarkFlagRequired("model-uri")
	o.AddFlags(serveCmd.Flags(), d, true)
	cmd.AddCommand(serveCmd, newCmdModelsPredict(d), withDockerBuilder(NewCmdBuildDocker(d), d), NewCmdGenerateDockerfile(d), newCmdModelsLog(d))
	return cmd
}

func runServe(cmd *cobra.Command, d *deps, o *serveOptions, ref string) error {
	ctx := cmd.Context()
	maxBody, err := parseSize(o.maxBody)
	if err != nil {
		return fmt.Errorf("--max-body-size: %w", err)
	}
	if o.port < 0 || o.port > 65535 {
		return fmt.Errorf("--port %d is not a valid port", o.port)
	}
	if o.timeoutSecs <= 0 {
		return fmt.Errorf("--timeout must be positive")
	}
	inflight, err := parseSize(o.maxInflight)
	if err != nil {
		return fmt.Errorf("--max-inflight-bytes: %w", err)
	}
	queueDelay, err := serve.ParseQueueDelay(o.maxQueueDelay)
	if err != nil {
		return fmt.Errorf("--max-queue-delay: %w", err)
	}
	switch o.batching {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("--batching must be auto, on or off, not %q", o.batching)
	}
	if o.maxBatchRows < 1 || o.instances < 0 || o.maxQueue < 1 {
		return fmt.Errorf("--max-batch-rows and --max-queue must be at least 1, --model-instances at least 0")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	switch o.envManager {
	case "", "local", "virtualenv", "uv", "conda":
	default:
		return fmt.Errorf("--env-manager must be local, virtualenv, uv or conda, not %q", o.envManager)
	}
	if o.noConda {
		o.envManager = "local"
	}
	log := d.logger()
	start := time.Now()
	lo := d.loadOptions(o.threads)
	lo.DefaultThreads = servingThreads
	lo, err = withTFRuntime(lo, o.tfRuntime)
	if err != nil {
		return err
	}
	lo.Python = flavors.PythonOptions{
		Workers:            o.workers,
		Interpreter:        o.python,
		EnvManager:         o.envManager,
		PipFindLinks:       o.pipFindLinks,
		SystemSitePackages: o.systemSitePackages,
		StartTimeout:       o.workerStartTimeout,
	}
	if o.noMLflow {
		no := false
		lo.Python.UseMLflow = &no
	}
	if ref, err = d.resolveModel(ctx, ref); err != nil {
		return err
	}
	loaded, err := d.registry.Load(ctx, ref, o.flavor, lo)
	if err != nil {
		return err
	}
	defer loaded.Close()
	log.Info("model loaded", "dir", loaded.Model.Dir, "flavor", loaded.Flavor, "duration", time.Since(start).String())
	srv := serve.New(loaded.Predictor, serve.Config{
		Addr:         net.JoinHostPort(o.host, strconv.Itoa(o.port)),
		Model:        loaded.Model,
		ModelName:    o.modelName,
		ModelVersion: o.modelVersion,
		Flavor:       loaded.Flavor,
		Batching:     o.batching,
		Batch: serve.BatchConfig{
			MaxBatchRows:  o.maxBatchRows,
			MaxBatchDelay: o.maxBatchDelay,
			Instances:     o.instances,
			MaxQueue:      o.maxQueue,
			MaxQueueDelay: queueDelay,
		},
		MaxBodyBytes:      maxBody,
		MaxInflightBytes:  inflight,
		RequestTimeout:    time.Duration(o.timeoutSecs * float64(time.Second)),
		DrainGrace:        o.drainGrace,
		ShutdownTimeout:   o.drainTimeout,
		HideSchemaDetails: d.env.boolean("MLFLOW_DISABLE_SCHEMA_DETAILS"),
		AuthToken:         o.authToken,
		TLSCertFile:       o.tlsCert,
		TLSKeyFile:        o.tlsKey,
		AccessLog:         o.accessLog,
		NoWarmup:          o.noWarmup,
		LoadTime:          time.Since(start),
		Version:           Version(),
		Logger:            log,
	})
	return srv.Run(ctx)
}

// serveModelRef is the model `mlship serve` serves: its argument, else the
// container location (images put the model there, and SageMaker runs
// images with the lone argument `serve`).
func serveModelRef(args []string, containerDir string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	if _, err := os.Stat(containerDir); err != nil {
		return "", fmt.Errorf("serve needs a model: a directory, its MLmodel file or a file:// URI (without one it serves %s, which does not exist here)", containerDir)
	}
	return containerDir, nil
}

// bindToPort applies SageMaker's SAGEMAKER_BIND_TO_PORT (set only for
// images labelled as accepting it) unless --port was given.
func bindToPort(port int, explicit bool, env string) (int, error) {
	env = strings.TrimSpace(env)
	if env == "" || explicit {
		return port, nil
	}
	p, err := strconv.Atoi(env)
	if err != nil || p <= 0 || p > 65535 {
		return 0, fmt.Errorf("SAGEMAKER_BIND_TO_PORT=%q is not a port", env)
	}
	return p, nil
}

// workersDefault is MLflow's MLFLOW_MODELS_WORKERS (3.x) or MLFLOW_WORKERS
// (1.x/2.x) when set, else 0: one worker per CPU.
func workersDefault(d *deps) int {
	for _, k := range []string{"MLFLOW_MODELS_WORKERS", "MLFLOW_WORKERS"} {
		if n, err := strconv.Atoi(d.env.get(k)); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// parseSize reads a byte count with an optional unit (B, KB, KiB, MB, MiB,
// GB, GiB).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToLower(s), strings.ToLower(u.suffix)) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return int64(n * float64(mult)), nil
}

// servingThreads is the intra-op thread count a served model gets unless
// --threads or the model says otherwise. Measured on 2 cores
// (docs/performance.md): the 256-512-512-10 MLP at concurrency 64 went
// from 9.7k to 17.2k req/s and its p99 from 18.4 to 9.5 ms; iris from 24.9k
// to 28.4k req/s.
const servingThreads = 1
