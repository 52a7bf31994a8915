package mlruns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/mlship/mlship/tracking"
)

// Importer is the optional capability of a store to take experiments and
// runs whole: with their own run ids, times, statuses, artifact URIs and
// full metric histories. tracking/sqlstore's Store has it. A store without
// it is written through the ordinary tracking.Store API, which assigns new
// run ids and times (see Import).
type Importer interface {
	// ImportExperiment creates exp (name, artifact location, lifecycle
	// stage, times, tags; exp.ID is ignored) under an id of the store's
	// choosing and returns that id. A name already present is
	// ResourceAlreadyExists.
	ImportExperiment(ctx context.Context, exp tracking.Experiment) (string, error)
	// ImportRun stores run as it is, in run.Info.ExperimentID (an id of
	// this store), with its dataset inputs (run.Inputs) and every value of
	// history; run.Data.Metrics is not read. A run id already present is ResourceAlreadyExists.
	ImportRun(ctx context.Context, run tracking.Run, history []tracking.Metric) error
}

// ImportedRunTag marks a run written through the plain store API (a store
// without Importer) with the id it had in the mlruns tree; a second import
// finds it by this tag and skips it.
const ImportedRunTag = "mlship.import.sourceRunId"

// Options tune Import.
type Options struct {
	Logger *slog.Logger
	// KeepArtifactURIs keeps every artifact URI exactly as the tree has it.
	// By default a local artifact location that no longer exists while the
	// tree holds the run's artifacts/ directory (an mlruns tree copied from
	// another machine) is pointed at the tree's copy.
	KeepArtifactURIs bool
}

// Report says what an import did.
type Report struct {
	Experiments []ExperimentReport
	// Runs imported, and runs skipped because the store already had them.
	Runs, RunsPresent          int
	Params, Tags, MetricValues int
	// Inputs counts dataset inputs linked to imported runs.
	Inputs int
	// Relocated counts runs whose artifact URI was pointed at the tree's own copy.
	Relocated int
	// NewRunIDs maps tree run ids to store run ids, for runs a store
	// without Importer gave new ids.
	NewRunIDs map[string]string
	// Problems are runs (or experiments) that could not be imported; the
	// rest of the tree was. Importing again retries only these.
	Problems []string
}

// ExperimentReport is one experiment's id mapping.
type ExperimentReport struct {
	SourceID, StoreID, Name string
	LifecycleStage          string
	// Existed is true when the store already had an experiment of this
	// name (the Default experiment, or a second import): runs went into it.
	Existed bool
	Runs    int
}

// Import reads the MLflow file store tree at root (MLFLOW_COMPAT.md §7.4)
// and writes its experiments and runs into store, keeping names, run ids,
// times, statuses, run names, tags (system tags included), params, full
// metric histories, lifecycle stages, and artifact URIs pointing at the
// original artifacts. Experiment ids are the store's own: Report maps them.
//
// It is idempotent: an experiment whose name the store has already is
// reused and a run id it has already is skipped, so importing twice
// duplicates nothing and a second run completes an interrupted one.
//
// A run that cannot be read or written is reported in Report.Problems and
// the import goes on; the error is for failures of the whole import (an
// unreadable tree, a store that is down, a cancelled ctx).
func Import(ctx context.Context, store tracking.Store, root string, opts Options) (*Report, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	exps, err := Scan(root)
	if err != nil {
		return nil, err
	}
	imp := &importer{store: store, opts: opts, log: log, rep: &Report{}}
	imp.direct, _ = store.(Importer)
	for i := range exps {
		if err := imp.experiment(ctx, &exps[i]); err != nil {
			return imp.rep, err
		}
	}
	return imp.rep, nil
}

type importer struct {
	store  tracking.Store
	direct Importer // nil: through the plain API
	opts   Options
	log    *slog.Logger
	rep    *Report
}

func (im *importer) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	im.log.Warn("mlruns import: " + msg)
	im.rep.Problems = append(im.rep.Problems, msg)
}

// fatal tells store failures that end the import (cancellation, a store
// that is unreachable) from those of one run.
func fatal(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	switch tracking.CodeOf(err) {
	case tracking.InvalidParameterValue, tracking.ResourceAlreadyExists, tracking.ResourceDoesNotExist, tracking.InvalidState:
		return false
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (im *importer) experiment(ctx context.Context, e *Experiment) error {
	er := ExperimentReport{SourceID: e.ID, Name: e.Name, LifecycleStage: e.LifecycleStage}
	exp := e.Experiment
	if loc, ok := im.relocate(exp.ArtifactLocation, e.Dir); ok {
		exp.ArtifactLocation = loc
	}
	existing, err := im.store.GetExperimentByName(ctx, e.Name)
	switch {
	case err == nil:
		er.StoreID, er.Existed = existing.ID, true
	case tracking.CodeOf(err) != tracking.ResourceDoesNotExist:
		return fmt.Errorf("looking up experiment %q: %w", e.Name, err)
	case im.direct != nil:
		er.StoreID, err = im.direct.ImportExperiment(ctx, exp)
	default:
		// Created active so runs can be added; deleted at the end.
		er.StoreID, err = im.store.CreateExperiment(ctx, exp.Name, exp.ArtifactLocation, exp.Tags)
	}
	if err != nil {
		if fatal(ctx, err) {
			return err
		}
		im.problem("experiment %s (%q): %v", e.ID, e.Name, err)
		return nil
	}
	im.log.Info("importing experiment", "source_id", e.ID, "store_id", er.StoreID, "name", e.Name, "runs", len(e.RunDirs), "existed", er.Existed)
	for _, dir := range e.RunDirs {
		n, err := im.run(ctx, e, er.StoreID, dir)
		if err != nil {
			return err
		}
		er.Runs += n
	}
	if im.direct == nil && !er.Existed && e.LifecycleStage == tracking.StageDeleted {
		if err := im.store.DeleteExperiment(ctx, er.StoreID); err != nil {
			im.problem("experiment %s (%q): deleting: %v", e.ID, e.Name, err)
		}
	}
	im.rep.Experiments = append(im.rep.Experiments, er)
	return nil
}

// run imports one run directory; n is 1 when it was written.
func (im *importer) run(ctx context.Context, e *Experiment, storeExp, dir string) (n int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r, err := ReadRun(e, dir)
	if err != nil {
		im.problem("%v", err)
		return 0, nil
	}
	r.Info.ExperimentID = storeExp
	if uri, ok := im.relocate(r.Info.ArtifactURI, filepath.Join(dir, "artifacts")); ok {
		r.Info.ArtifactURI = uri
		im.rep.Relocated++
	}
	if im.direct != nil {
		err = im.importDirect(ctx, r)
	} else {
		err = im.importThroughAPI(ctx, r)
	}
	if errors.Is(err, errPresent) {
		im.rep.RunsPresent++
		return 0, nil
	}
	if err != nil {
		if fatal(ctx, err) {
			return 0, err
		}
		im.problem("run %s (experiment %s): %v", r.Info.RunID, e.ID, err)
		return 0, nil
	}
	im.rep.Runs++
	im.rep.Params += len(r.Data.Params)
	im.rep.Tags += len(r.Data.Tags)
	im.rep.MetricValues += len(r.History)
	im.rep.Inputs += len(r.Inputs)
	return 1, nil
}

var errPresent = errors.New("already imported")

func (im *importer) importDirect(ctx context.Context, r *Run) error {
	if got, err := im.store.GetRun(ctx, r.Info.RunID); err == nil {
		if got.Info.ExperimentID != r.Info.ExperimentID {
			return fmt.Errorf("the store has run %s already, in experiment %s", r.Info.RunID, got.Info.ExperimentID)
		}
		return errPresent
	} else if tracking.CodeOf(err) != tracking.ResourceDoesNotExist {
		return err
	}
	err := im.direct.ImportRun(ctx, r.Run, r.History)
	if tracking.CodeOf(err) == tracking.ResourceAlreadyExists {
		return errPresent // imported concurrently
	}
	return err
}

// importThroughAPI writes a run with CreateRun, LogBatch and UpdateRun: the
// store gives it a new id and keeps the old one in ImportedRunTag. Its
// artifact URI is the store's, not the tree's, which the report says.
func (im *importer) importThroughAPI(ctx context.Context, r *Run) error {
	old := r.Info.RunID
	found, _, err := im.store.SearchRuns(ctx, tracking.RunQuery{
		ExperimentIDs: []string{r.Info.ExperimentID},
		Filter:        fmt.Sprintf("tags.`%s` = '%s'", ImportedRunTag, old),
		ViewType:      tracking.All,
		Page:          tracking.Page{MaxResults: 1},
	})
	if err != nil {
		return fmt.Errorf("looking for an earlier import: %w", err)
	}
	if len(found) > 0 {
		return errPresent
	}
	created, err := im.store.CreateRun(ctx, tracking.CreateRun{
		ExperimentID: r.Info.ExperimentID,
		UserID:       r.Info.UserID,
		RunName:      r.Info.RunName,
		StartTime:    r.Info.StartTime,
		Tags:         []tracking.Tag{{Key: ImportedRunTag, Value: old}},
	})
	if err != nil {
		return err
	}
	id := created.Info.RunID
	if im.rep.NewRunIDs == nil {
		im.rep.NewRunIDs = map[string]string{}
	}
	im.rep.NewRunIDs[old] = id
	// Within MLflow's batch limits: 100 params and tags, 1000 entities.
	var tags []tracking.Tag
	for _, t := range r.Data.Tags {
		if t.Key != "mlflow.runName" || t.Value == r.Info.RunName {
			tags = append(tags, t)
		}
	}
	params := r.Data.Params
	for len(params) > 0 || len(tags) > 0 {
		np := min(len(params), tracking.MaxParamsTagsPerBatch)
		nt := min(len(tags), tracking.MaxParamsTagsPerBatch-np)
		if err := im.store.LogBatch(ctx, id, nil, params[:np], tags[:nt]); err != nil {
			return err
		}
		params, tags = params[np:], tags[nt:]
	}
	if len(r.Inputs) > 0 {
		if err := im.store.LogInputs(ctx, id, r.Inputs); err != nil {
			return err
		}
	}
	hist := r.History
	for len(hist) > 0 {
		n := min(len(hist), tracking.MaxMetricsPerBatch)
		if err := im.store.LogBatch(ctx, id, hist[:n], nil, nil); err != nil {
			return err
		}
		hist = hist[n:]
	}
	if r.Info.Status != tracking.StatusRunning || r.Info.EndTime != 0 {
		if _, err := im.store.UpdateRun(ctx, id, tracking.UpdateRun{Status: r.Info.Status, EndTime: r.Info.EndTime}); err != nil {
			return err
		}
	}
	if r.Info.LifecycleStage == tracking.StageDeleted {
		return im.store.DeleteRun(ctx, id)
	}
	return nil
}

// relocate points a local artifact location that no longer exists at the
// tree's own copy (dir), when the tree has one.
func (im *importer) relocate(uri, dir string) (string, bool) {
	if im.opts.KeepArtifactURIs {
		return uri, false
	}
	p := localPath(uri)
	if p == "" && uri != "" {
		return uri, false // remote: s3://, mlflow-artifacts:/ ...
	}
	if p != "" {
		if _, err := os.Stat(p); err == nil {
			return uri, false
		}
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return uri, false
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return uri, false
	}
	return fileURI(abs), true
}

// SortedNewRunIDs lists NewRunIDs as "old new" pairs in order.
func (r *Report) SortedNewRunIDs() [][2]string {
	out := make([][2]string, 0, len(r.NewRunIDs))
	for o, n := range r.NewRunIDs {
		out = append(out, [2]string{o, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}
