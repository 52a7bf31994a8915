// Package tracking is mlship's record of the runs that produce models:
// experiments, runs, their parameters, metrics, tags and dataset inputs, as
// MLflow's tracking service models them (MLFLOW_COMPAT.md §7). It defines the
// domain types and the store roles; stores (tracking/sqlstore), the filter
// language (tracking/search), artifact repositories (tracking/artifacts),
// the REST server (tracking/server) and the client (tracking/client) build
// on it.
//
// Names, units and limits are MLflow's: times are milliseconds since the
// Unix epoch, experiment and run ids are strings, statuses and lifecycle
// stages are MLflow's spellings, and errors carry MLflow's error codes so the
// REST layer can answer exactly as an MLflow server does.
package tracking

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Lifecycle stages of experiments and runs (soft delete).
const (
	StageActive  = "active"
	StageDeleted = "deleted"
)

// DefaultExperimentID is the experiment every store creates on first start
// and that runs land in when no experiment is named, as in MLflow.
const (
	DefaultExperimentID   = "0"
	DefaultExperimentName = "Default"
)

// ViewType selects runs or experiments by lifecycle stage.
type ViewType int

const (
	ActiveOnly ViewType = iota + 1
	DeletedOnly
	All
)

// ParseViewType reads MLflow's spelling ("ACTIVE_ONLY", "DELETED_ONLY",
// "ALL", or their enum numbers 1-3); "" means ActiveOnly.
func ParseViewType(s string) (ViewType, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "ACTIVE_ONLY", "1":
		return ActiveOnly, nil
	case "DELETED_ONLY", "2":
		return DeletedOnly, nil
	case "ALL", "3":
		return All, nil
	}
	return 0, Errorf(InvalidParameterValue, "Invalid value %s for parameter 'view_type' supplied.", s)
}

func (v ViewType) String() string {
	switch v {
	case DeletedOnly:
		return "DELETED_ONLY"
	case All:
		return "ALL"
	}
	return "ACTIVE_ONLY"
}

// Matches reports whether an entity in lifecycle stage stage is in view.
func (v ViewType) Matches(stage string) bool {
	switch v {
	case DeletedOnly:
		return stage == StageDeleted
	case All:
		return true
	}
	return stage == StageActive
}

// RunStatus is MLflow's RunStatus enum by name.
type RunStatus string

const (
	StatusRunning   RunStatus = "RUNNING"
	StatusScheduled RunStatus = "SCHEDULED"
	StatusFinished  RunStatus = "FINISHED"
	StatusFailed    RunStatus = "FAILED"
	StatusKilled    RunStatus = "KILLED"
)

// statusNumbers are the enum values MLflow's protos and file store use.
var statusNumbers = map[RunStatus]int{
	StatusRunning: 1, StatusScheduled: 2, StatusFinished: 3, StatusFailed: 4, StatusKilled: 5,
}

// ParseRunStatus accepts a status name (any case) or its enum number, as
// MLflow's protobuf JSON parser does.
func ParseRunStatus(s string) (RunStatus, error) {
	up := RunStatus(strings.ToUpper(strings.TrimSpace(s)))
	if _, ok := statusNumbers[up]; ok {
		return up, nil
	}
	for st, n := range statusNumbers {
		if fmt.Sprint(n) == s {
			return st, nil
		}
	}
	return "", Errorf(InvalidParameterValue, "Invalid value %s for parameter 'status' supplied.", s)
}

// Number is the status's enum value (1 RUNNING ... 5 KILLED).
func (s RunStatus) Number() int { return statusNumbers[s] }

// Terminated reports whether a run in this status has ended.
func (s RunStatus) Terminated() bool {
	return s == StatusFinished || s == StatusFailed || s == StatusKilled
}

// Tag is a key/value annotation of an experiment or run. Keys starting with
// "mlflow." are system tags (MLFLOW_COMPAT.md §7.5).
type Tag struct {
	Key   string
	Value string
}

// Param is a run parameter; once logged its value never changes.
type Param struct {
	Key   string
	Value string
}

// Metric is one logged value of a metric. A run keeps every value (the
// history); Run.Data holds the latest per key, where latest is the maximum
// of (Step, Timestamp, Value) as in MLflow.
type Metric struct {
	Key       string
	Value     float64 // may be NaN or ±Inf
	Timestamp int64   // ms since epoch
	Step      int64
	// Optional links (MLflow 2.x/3.x): the dataset the value was computed
	// on and the logged model it belongs to.
	DatasetName   string
	DatasetDigest string
	ModelID       string
}

// Later reports whether m is the later value than o by MLflow's rule for
// the latest value of a metric: compare step, then timestamp, then value.
func (m Metric) Later(o Metric) bool {
	if m.Step != o.Step {
		return m.Step > o.Step
	}
	if m.Timestamp != o.Timestamp {
		return m.Timestamp > o.Timestamp
	}
	return m.Value > o.Value
}

// Experiment groups runs.
type Experiment struct {
	ID               string
	Name             string
	ArtifactLocation string
	LifecycleStage   string
	CreationTime     int64
	LastUpdateTime   int64
	Tags             []Tag
}

// RunInfo is a run's metadata.
type RunInfo struct {
	RunID          string // 32 lower-case hex digits
	RunName        string
	ExperimentID   string
	UserID         string
	Status         RunStatus
	StartTime      int64
	EndTime        int64 // 0 while running (MLflow omits the field)
	ArtifactURI    string
	LifecycleStage string
}

// RunData is what was logged on a run: the latest value of each metric, all
// params and tags, each sorted by key.
type RunData struct {
	Metrics []Metric
	Params  []Param
	Tags    []Tag
}

// Dataset describes a dataset a run used (MLflow's Dataset message).
type Dataset struct {
	Name       string
	Digest     string
	SourceType string
	Source     string
	Schema     string
	Profile    string
}

// DatasetInput links a dataset to a run; its tags carry e.g.
// mlflow.data.context ("train", "eval").
type DatasetInput struct {
	Tags    []Tag
	Dataset Dataset
}

// Run is a run with everything logged on it.
type Run struct {
	Info   RunInfo
	Data   RunData
	Inputs []DatasetInput
}

// Tag returns the value of the run's tag key, if set.
func (r *Run) Tag(key string) (string, bool) {
	for _, t := range r.Data.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// CreateRun is what a new run starts with.
type CreateRun struct {
	ExperimentID string // "" means DefaultExperimentID
	UserID       string
	RunName      string // "" lets the store take mlflow.runName or generate one
	StartTime    int64  // 0 means now
	Tags         []Tag
}

// UpdateRun changes a run's status, end time or name; zero values leave a
// field as it is.
type UpdateRun struct {
	Status  RunStatus
	EndTime int64
	RunName string
}

// Page asks for one page of a search: at most MaxResults items after the
// position an earlier result's NextPageToken names. Tokens are opaque to
// clients; a store rejects one it did not issue with InvalidParameterValue.
type Page struct {
	MaxResults int // 0 means the default, 1000
	PageToken  string
}

// Search limits, as MLflow's.
const (
	DefaultMaxResults = 1000
	MaxResultsLimit   = 50000
)

// Limits of one log-batch request, as MLflow's.
const (
	MaxMetricsPerBatch        = 1000
	MaxParamsTagsPerBatch     = 100
	MaxEntitiesPerBatch       = 1000
	MaxParamValueLength       = 6000
	MaxTagValueLength         = 8000
	MaxEntityKeyLength        = 250
	MaxExperimentTagValLength = 5000
)

// ExperimentStore keeps experiments.
type ExperimentStore interface {
	// CreateExperiment returns the new experiment's id. An active or deleted
	// experiment of the same name is ResourceAlreadyExists. An empty
	// artifactLocation lets the store derive one from its default root.
	CreateExperiment(ctx context.Context, name, artifactLocation string, tags []Tag) (string, error)
	GetExperiment(ctx context.Context, id string) (*Experiment, error)
	GetExperimentByName(ctx context.Context, name string) (*Experiment, error)
	// SearchExperiments takes MLflow's experiment filter and order_by
	// strings (tracking/search parses them).
	SearchExperiments(ctx context.Context, q ExperimentQuery) ([]Experiment, string, error)
	RenameExperiment(ctx context.Context, id, newName string) error
	DeleteExperiment(ctx context.Context, id string) error
	RestoreExperiment(ctx context.Context, id string) error
	SetExperimentTag(ctx context.Context, id string, tag Tag) error
	DeleteExperimentTag(ctx context.Context, id, key string) error
}

// ExperimentQuery is a search-experiments request.
type ExperimentQuery struct {
	Filter   string
	OrderBy  []string
	ViewType ViewType
	Page
}

// RunStore keeps runs and what is logged on them.
type RunStore interface {
	CreateRun(ctx context.Context, r CreateRun) (*Run, error)
	GetRun(ctx context.Context, runID string) (*Run, error)
	UpdateRun(ctx context.Context, runID string, u UpdateRun) (*RunInfo, error)
	DeleteRun(ctx context.Context, runID string) error
	RestoreRun(ctx context.Context, runID string) error
	// SearchRuns takes MLflow's run filter and order_by strings.
	SearchRuns(ctx context.Context, q RunQuery) ([]Run, string, error)
	// LogBatch writes metrics, params and tags atomically: all or none.
	// It checks MLflow's batch limits, key and value lengths, that the run
	// is active, and that no param changes value.
	LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error
	DeleteTag(ctx context.Context, runID, key string) error
	// MetricHistory returns every logged value of one metric, by step
	// then timestamp.
	MetricHistory(ctx context.Context, runID, key string, p Page) ([]Metric, string, error)
	LogInputs(ctx context.Context, runID string, inputs []DatasetInput) error
}

// RunQuery is a search-runs request.
type RunQuery struct {
	ExperimentIDs []string
	Filter        string
	OrderBy       []string
	ViewType      ViewType
	Page
}

// Store is everything a tracking server needs from its backend.
type Store interface {
	ExperimentStore
	RunStore
	io.Closer
}

// ErrorCode is MLflow's error code; the REST layer maps it to an HTTP status
// (MLFLOW_COMPAT.md §3.4).
type ErrorCode string

const (
	InvalidParameterValue  ErrorCode = "INVALID_PARAMETER_VALUE"
	ResourceDoesNotExist   ErrorCode = "RESOURCE_DOES_NOT_EXIST"
	ResourceAlreadyExists  ErrorCode = "RESOURCE_ALREADY_EXISTS"
	InvalidState           ErrorCode = "INVALID_STATE"
	InternalError          ErrorCode = "INTERNAL_ERROR"
	TemporarilyUnavailable ErrorCode = "TEMPORARILY_UNAVAILABLE"
)

// Error is a tracking error a client can act on: MLflow's code and message.
type Error struct {
	Code    ErrorCode
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an *Error.
func Errorf(code ErrorCode, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns err's MLflow error code: the code of the first *Error in
// its chain, else InternalError.
func CodeOf(err error) ErrorCode {
	var te *Error
	if errors.As(err, &te) {
		return te.Code
	}
	return InternalError
}

// Messages MLflow returns for missing entities, shared by every store so the
// REST answers do not depend on the backend.
func RunNotFound(id string) error {
	return Errorf(ResourceDoesNotExist, "Run '%s' not found", id)
}

func ExperimentNotFound(id string) error {
	return Errorf(ResourceDoesNotExist, "No Experiment with id=%s exists", id)
}
