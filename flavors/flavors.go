// Package flavors defines how a model flavor plugs into mlship: a Flavor
// loads an MLmodel into a Predictor, a Registry holds the compiled-in
// flavors and picks one for a model.
//
// serve, predict and pack see only these interfaces; concrete flavors live
// in sub-packages (flavors/onnx, flavors/pyfunc ...) and register themselves
// through flavors/builtin.
package flavors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mlship/mlship/columnar"
	"github.com/mlship/mlship/mlmodel"
)

// Flavor loads models stored under one MLmodel `flavors:` key.
type Flavor interface {
	// Name is the MLmodel flavor key, e.g. "onnx".
	Name() string
	// Load prepares m for prediction. It may block (reading files, starting
	// processes) and honours ctx while it does.
	Load(ctx context.Context, m *mlmodel.Model, opts LoadOptions) (Predictor, error)
}

// Predictor runs a loaded model over a record batch. Implementations must
// be safe for concurrent use. The input batch belongs to the caller; the
// returned batch belongs to the caller, who releases it.
//
// Optional capabilities are discovered by type assertion: io.Closer to free
// the model, HealthChecker for readiness probes, SchemaDescriber for the
// model's own view of its inputs and outputs.
type Predictor interface {
	Predict(ctx context.Context, in columnar.Batch, params map[string]any) (columnar.Batch, error)
}

// HealthChecker is implemented by predictors that can fail after loading
// (a worker process that died, a lost device).
type HealthChecker interface {
	Check(ctx context.Context) error
}

// SchemaDescriber is implemented by predictors that know their own tensor
// inputs and outputs (an ONNX graph does). Callers use it when the MLmodel
// has no signature.
type SchemaDescriber interface {
	ModelSchema() (inputs, outputs *mlmodel.Schema)
}

// Concurrent is implemented by predictors that can run a known number of
// predictions at once (a pool of worker processes); servers size their
// model instances to it.
type Concurrent interface {
	Concurrency() int
}

// LoadOptions are settings a flavor may use while loading.
type LoadOptions struct {
	// Logger receives load-time and runtime messages; nil discards them.
	Logger *slog.Logger
	// Threads caps the threads an in-process runtime uses for one
	// prediction (intra-op threads); 0 keeps the flavor's default.
	Threads int
	// DefaultThreads applies when neither Threads nor the model's own
	// configuration sets the intra-op thread count; 0 keeps the runtime's
	// default (one thread per core). Serving sets 1: concurrent requests
	// fill the cores, and a per-prediction pool that spins while waiting
	// for work competes with the HTTP server for them.
	DefaultThreads int
	// Getenv looks up the documented MLSHIP_* settings a flavor reads (the
	// CLI passes os.Getenv); nil means none are set.
	Getenv func(string) string
	// CacheDir is mlship's cache directory, where provisioned runtimes
	// and created environments live; "" means none.
	CacheDir string

	// Settings for flavors that run Python (python_function).
	Python PythonOptions
}

// PythonOptions choose and run the Python side of Python-based flavors.
type PythonOptions struct {
	// Workers is the number of worker processes; 0 means one per CPU.
	Workers int
	// Interpreter is an explicit interpreter (--python, MLSHIP_PYTHON).
	Interpreter string
	// EnvManager is local (default), virtualenv, uv or conda, as MLflow's
	// --env-manager.
	EnvManager string
	// PipFindLinks are offline wheel directories for environment creation.
	PipFindLinks []string
	// SystemSitePackages lets a created virtualenv see the base
	// interpreter's packages.
	SystemSitePackages bool
	// StartTimeout bounds loading the model in a worker; 0 means 5 minutes.
	StartTimeout time.Duration
	// UseMLflow loads with mlflow.pyfunc.load_model when the interpreter
	// has mlflow (the default when nil).
	UseMLflow *bool
}

// Env returns the value of key through Getenv, or "".
func (o LoadOptions) Env(key string) string {
	if o.Getenv == nil {
		return ""
	}
	return o.Getenv(key)
}

// Log returns the logger, never nil.
func (o LoadOptions) Log() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// ErrClosed is returned by Predict after the predictor was closed.
var ErrClosed = errors.New("predictor is closed")

// InputError is a prediction that failed because of the data it was given
// (wrong shape or type, a value the model rejects) rather than a fault of
// the runtime. Servers answer it with 400.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// ErrUnavailable is returned when the model cannot answer right now (a
// worker process died mid-request, all workers are restarting); servers
// answer 503 and clients may retry.
var ErrUnavailable = errors.New("the model is temporarily unavailable")

// ModelError is an error raised by the model's own code, with the error
// code and stack trace MLflow's server reports (BAD_REQUEST with the
// Python traceback for an unexpected exception; an MlflowException's own
// code otherwise).
type ModelError struct {
	Code       string
	Message    string
	StackTrace string
}

func (e *ModelError) Error() string { return e.Message }

// BadInput returns an *InputError with a formatted message.
func BadInput(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

// IsInputError reports whether err is (or wraps) an *InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}
