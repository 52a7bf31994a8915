package onnx

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlship/mlship/flavors"
	"github.com/mlship/mlship/internal/ortlib"
	"github.com/mlship/mlship/mlmodel"
)

// FlavorName is the MLmodel key of the ONNX flavor.
const FlavorName = "onnx"

// Flavor loads `onnx` models. Its zero value is ready to use.
type Flavor struct{}

var _ flavors.Flavor = Flavor{}

// Name implements flavors.Flavor.
func (Flavor) Name() string { return FlavorName }

// Config is the flavor block of MLmodel, validated as MLflow validates it.
type Config struct {
	Data           string   // model file, relative to the model directory
	Providers      []string // execution providers in priority order
	SessionOptions SessionOptions
	ONNXVersion    string
}

// SessionOptions are the `onnx_session_options` MLflow allows: ONNX Runtime
// SessionOptions attributes plus extra_session_config.
type SessionOptions struct {
	IntraOpNumThreads      *int
	InterOpNumThreads      *int
	ExecutionMode          string // "sequential" | "parallel" ("" = default)
	GraphOptimizationLevel *int   // 0, 1, 2 or 99
	EnableCPUMemArena      *bool
	EnableMemPattern       *bool
	LogSeverityLevel       *int
	OptimizedModelFilePath string
	ExtraSessionConfig     map[string]string
	// Ignored lists attributes ONNX Runtime has that this runtime does not
	// set; they are logged, not fatal.
	Ignored []string
}

// ParseConfig reads and validates the onnx flavor block.
func ParseConfig(c mlmodel.FlavorConfig) (*Config, error) {
	cfg := &Config{}
	var err error
	if cfg.Data, _, err = c.String("data"); err != nil {
		return nil, err
	}
	if cfg.Data == "" {
		return nil, fmt.Errorf(`the onnx flavor has no "data" key naming the model file`)
	}
	cfg.ONNXVersion, _, _ = c.String("onnx_version")
	if cfg.Providers, err = c.Strings("providers"); err != nil {
		return nil, err
	}
	so, err := c.Map("onnx_session_options")
	if err != nil {
		return nil, err
	}
	if err := parseSessionOptions(so, &cfg.SessionOptions); err != nil {
		return nil, fmt.Errorf("onnx_session_options: %w", err)
	}
	return cfg, nil
}

func parseSessionOptions(m map[string]any, so *SessionOptions) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		switch k {
		case "intra_op_num_threads", "inter_op_num_threads":
			n, ok := v.(int64)
			if !ok || n < 0 || n > math.MaxInt32 {
				return fmt.Errorf("%s must be an integer >= 0, got %v", k, v)
			}
			i := int(n)
			if k == "intra_op_num_threads" {
				so.IntraOpNumThreads = &i
			} else {
				so.InterOpNumThreads = &i
			}
		case "execution_mode":
			s, ok := v.(string)
			mode := strings.ToLower(s)
			if !ok || (mode != "sequential" && mode != "parallel") {
				return fmt.Errorf("execution_mode must be 'sequential' or 'parallel', got %v", v)
			}
			so.ExecutionMode = mode
		case "graph_optimization_level":
			n, ok := v.(int64)
			if !ok || (n != 0 && n != 1 && n != 2 && n != 99) {
				return fmt.Errorf("graph_optimization_level must be 0, 1, 2 or 99, got %v", v)
			}
			i := int(n)
			so.GraphOptimizationLevel = &i
		case "enable_cpu_mem_arena", "enable_mem_pattern":
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("%s must be true or false, got %v", k, v)
			}
			if k == "enable_cpu_mem_arena" {
				so.EnableCPUMemArena = &b
			} else {
				so.EnableMemPattern = &b
			}
		case "log_severity_level":
			n, ok := v.(int64)
			if !ok || n < 0 || n > 4 {
				return fmt.Errorf("log_severity_level must be 0..4, got %v", v)
			}
			i := int(n)
			so.LogSeverityLevel = &i
		case "optimized_model_filepath":
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("optimized_model_filepath must be a string")
			}
			so.OptimizedModelFilePath = s
		case "extra_session_config":
			em, ok := v.(map[string]any)
			if !ok && v != nil {
				return fmt.Errorf("extra_session_config must be a mapping of strings")
			}
			so.ExtraSessionConfig = map[string]string{}
			for ek, ev := range em {
				switch x := ev.(type) {
				case string:
					so.ExtraSessionConfig[ek] = x
				case int64:
					so.ExtraSessionConfig[ek] = strconv.FormatInt(x, 10)
				case bool:
					so.ExtraSessionConfig[ek] = map[bool]string{true: "1", false: "0"}[x]
				default:
					return fmt.Errorf("extra_session_config.%s must be a string", ek)
				}
			}
		case "enable_mem_reuse", "enable_profiling", "profile_file_prefix", "use_deterministic_compute", "execution_order", "logid", "log_verbosity_level":
			so.Ignored = append(so.Ignored, k)
		default:
			return fmt.Errorf("unknown session option %q", k)
		}
	}
	return nil
}

// sessionOptions builds ONNX Runtime session options. threads (from the
// command line) overrides intra_op_num_threads when positive.
// intraThreads is the intra-op thread count a session gets: threads when
// set, else the model's intra_op_num_threads; 0 means ONNX Runtime's
// default (one per core).
func (c *Config) intraThreads(threads int) int {
	if threads > 0 {
		return threads
	}
	if n := c.SessionOptions.IntraOpNumThreads; n != nil {
		return *n
	}
	return 0
}

func (c *Config) sessionOptions(threads int, libDir string, log *slog.Logger) (*ort.SessionOptions, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("creating session options: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			opts.Destroy()
		}
	}()
	so := c.SessionOptions
	if intra := c.intraThreads(threads); intra > 0 {
		if err := opts.SetIntraOpNumThreads(intra); err != nil {
			return nil, fmt.Errorf("intra_op_num_threads: %w", err)
		}
	}
	if so.InterOpNumThreads != nil {
		if err := opts.SetInterOpNumThreads(*so.InterOpNumThreads); err != nil {
			return nil, fmt.Errorf("inter_op_num_threads: %w", err)
		}
	}
	switch so.ExecutionMode {
	case "sequential":
		err = opts.SetExecutionMode(ort.ExecutionModeSequential)
	case "parallel":
		err = opts.SetExecutionMode(ort.ExecutionModeParallel)
	}
	if err != nil {
		return nil, fmt.Errorf("execution_mode: %w", err)
	}
	if so.GraphOptimizationLevel != nil {
		lvl := map[int]ort.GraphOptimizationLevel{
			0: ort.GraphOptimizationLevelDisableAll, 1: ort.GraphOptimizationLevelEnableBasic,
			2: ort.GraphOptimizationLevelEnableExtended, 99: ort.GraphOptimizationLevelEnableAll,
		}[*so.GraphOptimizationLevel]
		if err := opts.SetGraphOptimizationLevel(lvl); err != nil {
			return nil, fmt.Errorf("graph_optimization_level: %w", err)
		}
	}
	if so.EnableCPUMemArena != nil {
		if err := opts.SetCpuMemArena(*so.EnableCPUMemArena); err != nil {
			return nil, fmt.Errorf("enable_cpu_mem_arena: %w", err)
		}
	}
	if so.EnableMemPattern != nil {
		if err := opts.SetMemPattern(*so.EnableMemPattern); err != nil {
			return nil, fmt.Errorf("enable_mem_pattern: %w", err)
		}
	}
	if so.LogSeverityLevel != nil {
		if err := opts.SetLogSeverityLevel(ort.LoggingLevel(*so.LogSeverityLevel)); err != nil {
			return nil, fmt.Errorf("log_severity_level: %w", err)
		}
	}
	if so.OptimizedModelFilePath != "" {
		if err := opts.SetOptimizedModelFilePath(so.OptimizedModelFilePath); err != nil {
			return nil, fmt.Errorf("optimized_model_filepath: %w", err)
		}
	}
	keys := make([]string, 0, len(so.ExtraSessionConfig))
	for k := range so.ExtraSessionConfig {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := opts.AddSessionConfigEntry(k, so.ExtraSessionConfig[k]); err != nil {
			return nil, fmt.Errorf("extra_session_config.%s: %w", k, err)
		}
	}
	for _, k := range so.Ignored {
		log.Warn("onnx session option not applied by this runtime", "option", k)
	}
	c.appendProviders(opts, libDir, log)
	ok = true
	return opts, nil
}

// appendProviders adds the listed execution providers in order. MLflow's
// default list starts with CUDA; on a machine without it (or without a
// GPU) the provider is skipped with a warning and the CPU provider, which is
// always present, runs the model, as onnxruntime's Python API does.
func (c *Config) appendProviders(opts *ort.SessionOptions, libDir string, log *slog.Logger) {
	for _, p := range c.Providers {
		var err error
		// GPU providers live in side libraries next to libonnxruntime;
		// without them ONNX Runtime would only log a load failure.
		if side, ok := providerLibs[p]; ok && !fileExists(filepath.Join(libDir, side)) {
			log.Warn("execution provider unavailable, falling back", "provider", p, "missing", filepath.Join(libDir, side))
			continue
		}
		switch p {
		case "CPUExecutionProvider":
			continue // always last, implicitly
		case "CUDAExecutionProvider":
			var cuda *ort.CUDAProviderOptions
			cuda, err = ort.NewCUDAProviderOptions()
			if err == nil {
				err = opts.AppendExecutionProviderCUDA(cuda)
				cuda.Destroy()
			}
		case "TensorrtExecutionProvider":
			var trt *ort.TensorRTProviderOptions
			trt, err = ort.NewTensorRTProviderOptions()
			if err == nil {
				err = opts.AppendExecutionProviderTensorRT(trt)
				trt.Destroy()
			}
		default:
			err = opts.AppendExecutionProvider(strings.TrimSuffix(p, "ExecutionProvider"), nil)
		}
		if err != nil {
			log.Warn("execution provider unavailable, falling back", "provider", p, "error", firstLine(err.Error()))
			continue
		}
		log.Info("execution provider enabled", "provider", p)
	}
}

// providerLibs are the side libraries GPU providers load.
var providerLibs = map[string]string{
	"CUDAExecutionProvider":     "libonnxruntime_providers_cuda.so",
	"TensorrtExecutionProvider": "libonnxruntime_providers_tensorrt.so",
	"ROCMExecutionProvider":     "libonnxruntime_providers_rocm.so",
	"OpenVINOExecutionProvider": "libonnxruntime_providers_openvino.so",
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Load implements flavors.Flavor.
func (Flavor) Load(ctx context.Context, m *mlmodel.Model, opts flavors.LoadOptions) (flavors.Predictor, error) {
	fc, ok := m.Flavors[FlavorName]
	if !ok {
		return nil, fmt.Errorf("model has no %q flavor", FlavorName)
	}
	cfg, err := ParseConfig(fc)
	if err != nil {
		return nil, fmt.Errorf("flavors.onnx: %w", err)
	}
	path, err := m.Path(cfg.Data)
	if err != nil {
		return nil, fmt.Errorf("flavors.onnx.data: %w", err)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("flavors.onnx.data: the model file is missing: %w", err)
	}
	return LoadFile(ctx, path, cfg, opts)
}

// LoadFile loads the ONNX model file at path with the flavor's settings
// cfg (nil: ONNX Runtime's defaults on the CPU). It is how other flavors
// that produce ONNX (flavors/tensorflow converts SavedModels) run it on
// this flavor's session code.
func LoadFile(ctx context.Context, path string, cfg *Config, opts flavors.LoadOptions) (flavors.Predictor, error) {
	if cfg == nil {
		cfg = &Config{Data: path}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lib, err := ensureRuntime(ortlib.SearchFor(opts.Env, opts.CacheDir))
	if err != nil {
		return nil, err
	}
	log := opts.Log()
	log.Debug("onnx runtime", "library", lib, "version", ort.GetVersion())
	threads := opts.Threads
	if threads == 0 && cfg.SessionOptions.IntraOpNumThreads == nil {
		threads = opts.DefaultThreads
	}
	return newPredictor(path, cfg, threads, filepath.Dir(lib), log)
}

func init() { flavors.Register(Flavor{}) }
