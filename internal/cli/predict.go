package cli

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/predict"
)

// predictOptions are the flags of `mlship predict` (and `mlship models
// predict`).
type predictOptions struct {
	model         string
	tfRuntime     string // --tf-runtime
	mlflowIn      string // models predict: -i/--input-path
	inputs        []string
	output        string
	inputFormat   string
	outputFormat  string
	contentType   string
	batchRows     int
	parallelism   int
	keepColumns   []string
	keepAll       bool
	onError       string
	compression   string
	rowGroupRows  int
	shard         string
	quiet         bool
	flavor        string
	threads       int
	python        string
	envManager    string
	pipFindLinks  []string
	systemSite    bool
	noMLflow      bool
	workers       int
	startTimeout  time.Duration
	installMLflow bool
	pipOverride   string
	extraEnv      []string
	cpuProfile    string // hidden: bench/predict.sh profiles with it
	memProfile    string // hidden
}

func (o *predictOptions) AddFlags(fs *pflag.FlagSet, d *deps, mlflow bool) {
	fs.StringVarP(&o.model, "model-uri", "m", "", "model: a directory, its MLmodel file, a file:// URI, or runs:/<run_id>/<path> (MLFLOW_TRACKING_URI)")
	if mlflow {
		// MLflow's spelling: one input (default stdin), one output (default
		// stdout), -t for the input's content type.
		fs.StringVarP(&o.mlflowIn, "input-path", "i", "-", "input file (default: stdin)")
		fs.StringVarP(&o.output, "output-path", "o", "-", "output file (default: stdout)")
		fs.StringVarP(&o.contentType, "content-type", "t", "json", "input content type: json or csv")
		fs.StringVarP(&o.pipOverride, "pip-requirements-override", "r", "", "accepted for MLflow compatibility; mlship does not install into --env-manager local")
		fs.StringArrayVar(&o.extraEnv, "env", nil, "KEY=VALUE set for the model's Python workers (repeatable)")
		fs.BoolVar(&o.installMLflow, "install-mlflow", false, "accepted for MLflow compatibility; mlship does not need MLflow")
	} else {
		fs.StringArrayVarP(&o.inputs, "input", "i", nil, "input: a file, a directory, a glob, or - for stdin (repeatable)")
		fs.StringVarP(&o.output, "output", "o", "-", "output: a file, a directory (one output per input; end with / to create it), or - for stdout")
		fs.StringVarP(&o.contentType, "content-type", "t", "", "MLflow's name for --input-format (json or csv)")
	}
	fs.StringVar(&o.inputFormat, "input-format", "", "input format: parquet, arrow, csv, json (MLflow's request forms), jsonl (default: from the file extension)")
	fs.StringVar(&o.outputFormat, "output-format", "", "output format: parquet, arrow, csv, json ({\"predictions\": ...}), jsonl (default: from the output name, else the input's)")
	fs.IntVar(&o.batchRows, "batch-rows", 0, "rows per model call (0: about 4 MiB of input per call by the signature's row width, at most 10,000 rows)")
	fs.IntVar(&o.parallelism, "parallelism", runtime.NumCPU(), "batches scored at once (also the python_function worker count unless --workers)")
	fs.StringSliceVar(&o.keepColumns, "keep-columns", nil, "input columns to copy to the output before the predictions (comma-separated)")
	fs.BoolVar(&o.keepAll, "keep-all", false, "copy every input column to the output")
	fs.StringVar(&o.onError, "on-error", "fail", "a row the model cannot score: fail (stop, naming the file, row and reason), skip (leave it out) or null (null predictions)")
	fs.StringVar(&o.compression, "compression", "snappy", "Parquet output compression: snappy, zstd, gzip, lz4, brotli, none")
	fs.IntVar(&o.rowGroupRows, "row-group-rows", 1<<20, "most rows in one Parquet output row group")
	fs.StringVar(&o.shard, "shard", "", "score only part i of n of the input (i/n, 0-based): files and Parquet row groups are dealt round-robin, so n processes cover the input exactly once")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar and no summary line")
	fs.StringVar(&o.flavor, "flavor", "", "use this flavor instead of the preferred one (e.g. onnx, python_function)")
	addTFRuntimeFlag(fs, &o.tfRuntime)
	fs.IntVar(&o.threads, "threads", 0, "intra-op threads one model call may use in an in-process runtime (0: the model's onnx_session_options, else 1 when --parallelism > 1)")
	fs.StringVar(&o.python, "python", d.env.get("MLSHIP_PYTHON"), "python_function models: the Python interpreter (env MLSHIP_PYTHON)")
	fs.StringVar(&o.envManager, "env-manager", "local", "python_function models: local, virtualenv, uv or conda (as MLflow's --env-manager)")
	fs.StringSliceVar(&o.pipFindLinks, "pip-find-links", nil, "python_function models: directories of wheels for creating environments offline")
	fs.BoolVar(&o.systemSite, "env-system-site-packages", false, "python_function models: let a created virtualenv see the base interpreter's packages")
	fs.BoolVar(&o.noMLflow, "no-mlflow-loader", false, "python_function models: load with mlship's own loaders even when mlflow is importable")
	fs.IntVar(&o.workers, "workers", 0, "python_function models: worker processes (default: --parallelism)")
	fs.DurationVar(&o.startTimeout, "worker-start-timeout", 5*time.Minute, "python_function models: how long a worker may take to load the model")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the scoring (after the model is loaded) to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile (allocations over the run, and what is in use at the end) to this file")
	_ = fs.MarkHidden("cpuprofile")
	_ = fs.MarkHidden("memprofile")
}

// NewCmdPredict is `mlship predict -m MODEL -i INPUT -o OUTPUT`.
func NewCmdPredict(d *deps) *cobra.Command {
	o := &predictOptions{}
	cmd := &cobra.Command{
		Use:   "predict -m MODEL -i INPUT [-o OUTPUT]",
		Short: "Score files with a model: Parquet, Arrow IPC, CSV, JSON, JSON lines; streaming, in bounded memory",
		Long: "Score files far larger than memory: record batches stream from the inputs through the model,\n" +
			"--parallelism batches at a time, and the predictions are written in input order. Outputs are\n" +
			"written under a temporary name and renamed when complete.",
		Example: "  mlship predict -m ./model -i data.parquet -o scored.parquet --keep-columns id\n" +
			"  mlship predict -m ./model -i 'data/*.csv' -o scored/ --on-error skip\n" +
			"  mlship predict -m ./model -i - -o - --input-format arrow --output-format arrow   # a Spark pipe",
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.inputs = append(o.inputs, args...)
			return runPredict(cmd, d, o, false)
		},
	}
	o.AddFlags(cmd.Flags(), d, false)
	_ = cmd.MarkFlagRequired("model-uri")
	return cmd
}

// newCmdModelsPredict is `mlship models predict`, with MLflow's flags.
func newCmdModelsPredict(d *deps) *cobra.Command {
	o := &predictOptions{}
	cmd := &cobra.Command{
		Use:   "predict -m MODEL_URI [-i INPUT] [-o OUTPUT] [-t json|csv]",
		Short: "Score a file with `mlflow models predict` flags; writes {\"predictions\": ...}",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.installMLflow {
				d.logger().Info("--install-mlflow ignored: mlship scores models without MLflow")
			}
			if o.pipOverride != "" && (o.envManager == "local" || o.envManager == "") {
				return fmt.Errorf("--pip-requirements-override is not allowed with --env-manager local (as in MLflow)")
			}
			if o.pipOverride != "" {
				return fmt.Errorf("--pip-requirements-override is not supported yet: add the packages to the model's requirements.txt")
			}
			o.inputs = []string{o.mlflowIn}
			return runPredict(cmd, d, o, true)
		},
	}
	o.AddFlags(cmd.Flags(), d, true)
	_ = cmd.MarkFlagRequired("model-uri")
	return cmd
}

func runPredict(cmd *cobra.Command, d *deps, o *predictOptions, mlflow bool) error {
	ctx := cmd.Context()
	if len(o.inputs) == 0 {
		return fmt.Errorf("no input: give -i FILE, a directory, a glob, or - for stdin")
	}
	opts := predict.Options{
		Inputs:       o.inputs,
		Output:       o.output,
		BatchRows:    o.batchRows,
		Parallelism:  o.parallelism,
		KeepColumns:  o.keepColumns,
		KeepAll:      o.keepAll,
		OnError:      predict.OnError(o.onError),
		Compression:  o.compression,
		RowGroupRows: o.rowGroupRows,
		Stdin:        cmd.InOrStdin(),
		Stdout:       d.stdout,
		Stderr:       d.stderr,
		Quiet:        o.quiet,
		Logger:       d.logger(),
	}
	inFormat := o.inputFormat
	if inFormat == "" {
		inFormat = o.contentType
	} else if o.contentType != "" && !mlflow {
		return fmt.Errorf("give --input-format or -t/--content-type, not both")
	}
	if inFormat != "" {
		f, err := predict.ParseFormat(inFormat)
		if err != nil {
			return fmt.Errorf("--input-format: %w", err)
		}
		if mlflow && f != predict.JSON && f != predict.CSV && o.inputFormat == "" {
			return fmt.Errorf("-t/--content-type must be json or csv, not %q", o.contentType)
		}
		opts.InputFormat = f
	}
	if o.outputFormat != "" {
		f, err := predict.ParseFormat(o.outputFormat)
		if err != nil {
			return fmt.Errorf("--output-format: %w", err)
		}
		opts.OutputFormat = f
	} else if mlflow {
		opts.OutputFormat = predict.JSON // MLflow writes {"predictions": ...}
	}
	if o.shard != "" {
		s, err := predict.ParseShard(o.shard)
		if err != nil {
			return err
		}
		opts.Shard = s
	}
	if f, ok := d.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opts.Progress = true
	}
	switch o.envManager {
	case "", "local", "virtualenv", "uv", "conda":
	default:
		return fmt.Errorf("--env-manager must be local, virtualenv, uv or conda, not %q", o.envManager)
	}
	for _, kv := range o.extraEnv {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
		os.Setenv(k, v) // inherited by the Python workers
	}
	workers := o.workers
	if workers <= 0 {
		workers = o.parallelism
	}
	lo := d.loadOptions(o.threads)
	lo, err := withTFRuntime(lo, o.tfRuntime)
	if err != nil {
		return err
	}
	if o.parallelism > 1 {
		// Batches in flight fill the cores; a per-call thread pool on top
		// of them only contends (as when serving).
		lo.DefaultThreads = 1
	}
	lo.Python = flavors.PythonOptions{
		Workers:            workers,
		Interpreter:        o.python,
		EnvManager:         o.envManager,
		PipFindLinks:       o.pipFindLinks,
		SystemSitePackages: o.systemSite,
		StartTimeout:       o.startTimeout,
	}
	if o.noMLflow {
		no := false
		lo.Python.UseMLflow = &no
	}
	model, err := d.resolveModel(ctx, o.model)
	if err != nil {
		return err
	}
	loaded, err := d.registry.Load(ctx, model, o.flavor, lo)
	if err != nil {
		return err
	}
	defer loaded.Close()
	stopProfile, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	_, err = predict.Run(ctx, loaded.Predictor, loaded.Model, opts)
	if o.memProfile != "" {
		f, ferr := os.Create(o.memProfile)
		if ferr != nil {
			return errors.Join(err, fmt.Errorf("--memprofile: %w", ferr))
		}
		defer f.Close()
		if perr := pprof.Lookup("allocs").WriteTo(f, 0); perr != nil {
			return errors.Join(err, fmt.Errorf("--memprofile: %w", perr))
		}
	}
	return err
}
