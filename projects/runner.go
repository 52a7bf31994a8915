package projects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/mlship/mlship/projects/mlproject"
	"github.com/mlship/mlship/tracking"
)

// Tracker is the part of a tracking store a project run uses. Both
// tracking/client (a remote server) and tracking/sqlstore (a local
// database) provide it.
type Tracker interface {
	GetExperiment(ctx context.Context, id string) (*tracking.Experiment, error)
	GetExperimentByName(ctx context.Context, name string) (*tracking.Experiment, error)
	CreateExperiment(ctx context.Context, name, artifactLocation string, tags []tracking.Tag) (string, error)
	CreateRun(ctx context.Context, r tracking.CreateRun) (*tracking.Run, error)
	UpdateRun(ctx context.Context, runID string, u tracking.UpdateRun) (*tracking.RunInfo, error)
	LogBatch(ctx context.Context, runID string, metrics []tracking.Metric, params []tracking.Param, tags []tracking.Tag) error
	GetRun(ctx context.Context, runID string) (*tracking.Run, error)
}

// System tags a project run carries (MLFLOW_COMPAT.md §6.2, §7.5).
const (
	TagUser         = "mlflow.user"
	TagSourceName   = "mlflow.source.name"
	TagSourceType   = "mlflow.source.type"
	TagGitCommit    = "mlflow.source.git.commit"
	TagGitBranch    = "mlflow.source.git.branch"
	TagGitRepoURL   = "mlflow.source.git.repoURL"
	TagEntryPoint   = "mlflow.project.entryPoint"
	TagEnv          = "mlflow.project.env"
	TagBackend      = "mlflow.project.backend"
	TagRunName      = "mlflow.runName"
	TagParentRunID  = "mlflow.parentRunId"
	TagDockerImage  = "mlflow.docker.image.uri"
	tagLegacyRepo   = "mlflow.gitRepoURL"    // MLflow 1.x wrote it too; 2.x and later do not
	tagLegacyBranch = "mlflow.gitBranchName" // MLflow 1.x wrote it too; 2.x and later do not
	TagSweep        = "mlship.sweep.params"  // swept parameter names, on a sweep's parent
	TagSweepMetric  = "mlship.sweep.metric"  // the summary metric, on a sweep's parent
)

// Backends.
const (
	BackendLocal      = "local"
	BackendKubernetes = "kubernetes"
)

// Options describe one `mlship run`.
type Options struct {
	URI        string // local directory or git URL, with an optional #subdirectory
	Version    string // git branch, tag or commit
	EntryPoint string // default "main"
	Params     []mlproject.KV

	ExperimentName string
	ExperimentID   string
	RunName        string

	EnvManager         string // "" = the project's default
	Python             string // base interpreter for virtualenv/uv
	SystemSitePackages bool
	PipFindLinks       []string
	CacheDir           string // pyenv's cache (MLSHIP_CACHE_DIR)

	Backend       string // "local" (default) or "kubernetes"
	BackendConfig string // kubernetes: a JSON file or a JSON string
	BuildImage    bool   // docker projects
	StorageDir    string // where fetched path parameters go ("" = a temporary directory)

	// Sweep runs the cross product of comma-separated parameter values as
	// child runs of one parent run, at most MaxParallel at a time.
	Sweep       bool
	MaxParallel int
	SweepMetric string

	Tracker     Tracker
	TrackingURI string // given to the command as MLFLOW_TRACKING_URI

	User    string   // mlflow.user
	Environ []string // the command's base environment (os.Environ())
	Getenv  func(string) string
	WorkDir string // for relative URIs and path parameters ("" = the process's)
	Stdout  io.Writer
	Stderr  io.Writer
	Grace   time.Duration // interrupted commands: signal to SIGKILL (default 10 s)
	Logger  *slog.Logger
	// started, when set, learns each command's process group (tests).
	started func(runID string, pgid int)
}

// Result is how a run ended.
type Result struct {
	RunID        string
	ExperimentID string
	Status       tracking.RunStatus
	ExitCode     int
	Manifest     string   // kubernetes: where the Job manifest was written
	Children     []Result // sweep: the child runs, in combination order
	Params       []mlproject.KV
	Metric       *float64 // sweep: the summary metric of this child, when logged
}

// ErrFailed is wrapped by Run's error when the command ran and failed or
// was interrupted (the run is recorded; the error says how it ended).
var ErrFailed = errors.New("run did not finish")

// Run fetches the project, validates the entry point's parameters, builds
// the environment, creates the tracking run and runs the command. Nothing
// is recorded unless validation and the environment succeed; once the run
// exists it always ends FINISHED, FAILED or KILLED.
func Run(ctx context.Context, o Options) (*Result, error) {
	r, err := newRunner(o)
	if err != nil {
		return nil, err
	}
	src, err := fetch(ctx, fetchOptions{URI: o.URI, Version: o.Version, WorkDir: r.workDir, Git: r.lookPath("git"), Env: r.gitEnv(), TempDir: r.getenv("TMPDIR")})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	r.log.Info("project source", "dir", src.Dir, "commit", src.Commit, "source", src.Name)
	proj, err := mlproject.Load(src.Dir)
	if err != nil {
		return nil, err
	}
	ep, err := proj.EntryPoint(r.o.EntryPoint)
	if err != nil {
		return nil, err
	}
	storage := o.StorageDir
	if storage == "" {
		if storage, err = os.MkdirTemp(r.getenv("TMPDIR"), "mlship-run-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(storage)
	}
	ro := mlproject.ResolveOptions{WorkDir: r.workDir, StorageDir: storage, Fetch: fetchHTTP}
	combos := [][]mlproject.KV{o.Params}
	if o.Sweep {
		if combos, err = sweepCombos(o.Params); err != nil {
			return nil, err
		}
	}
	invs := make([]*mlproject.Invocation, len(combos))
	for i, c := range combos {
		if invs[i], err = ep.Resolve(ctx, proj.Dir, c, ro); err != nil {
			if len(combos) > 1 {
				return nil, fmt.Errorf("sweep combination %s: %w", formatKVs(c), err)
			}
			return nil, err
		}
	}
	manager, err := envManager(proj, o.EnvManager)
	if err != nil {
		return nil, err
	}
	if err := r.checkBackend(ctx, proj, manager); err != nil {
		return nil, err
	}
	envVars, err := prepareEnv(ctx, proj, manager, envOptions{
		CacheDir: o.CacheDir, Python: o.Python, SystemSitePackages: o.SystemSitePackages,
		PipFindLinks: o.PipFindLinks, Getenv: r.getenv, TempDir: r.getenv("TMPDIR"),
	}, r.log)
	if err != nil {
		return nil, err
	}
	expID, err := r.experiment(ctx)
	if err != nil {
		return nil, err
	}
	base := baseTags(src, ep.Name, manager, r.backend, r.user())
	job := &job{r: r, src: src, proj: proj, manager: manager, expID: expID, envVars: envVars, baseTags: base}
	if r.backend == BackendKubernetes {
		if len(invs) > 1 {
			return nil, errors.New("--sweep runs on the local backend only")
		}
		return r.kubernetes(ctx, job, invs[0])
	}
	if o.Sweep {
		return r.sweep(ctx, job, invs)
	}
	return job.runOne(ctx, invs[0], o.RunName, "", r.o.Stdout, r.o.Stderr)
}

// runner carries validated options through one Run.
type runner struct {
	o       Options
	log     *slog.Logger
	getenv  func(string) string
	workDir string
	backend string
}

func newRunner(o Options) (*runner, error) {
	if o.URI == "" {
		return nil, errors.New("no project URI")
	}
	if o.Tracker == nil {
		return nil, errors.New("no tracking store")
	}
	if o.ExperimentID != "" && o.ExperimentName != "" {
		return nil, errors.New("specify only one of --experiment-name and --experiment-id")
	}
	if o.EntryPoint == "" {
		o.EntryPoint = "main"
	}
	if o.MaxParallel <= 0 {
		o.MaxParallel = 1
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	r := &runner{o: o, log: o.Logger, getenv: o.Getenv, workDir: o.WorkDir, backend: o.Backend}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.getenv == nil {
		r.getenv = func(string) string { return "" }
	}
	if r.workDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		r.workDir = wd
	}
	switch r.backend {
	case "", BackendLocal:
		r.backend = BackendLocal
	case BackendKubernetes:
	default:
		return nil, fmt.Errorf("backend %q is not supported (want local or kubernetes)", o.Backend)
	}
	if o.SweepMetric != "" && !o.Sweep {
		return nil, errors.New("--sweep-metric needs --sweep")
	}
	return r, nil
}

// lookPath finds an executable on the PATH the caller's environment
// names (exec.LookPath would read the process's).
func (r *runner) lookPath(name string) string {
	for _, d := range filepath.SplitList(r.getenv("PATH")) {
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// gitEnv is the caller's environment with prompts turned off: a git URL
// needing credentials fails instead of waiting on a terminal.
func (r *runner) gitEnv() []string {
	return append(append([]string(nil), r.o.Environ...), "GIT_TERMINAL_PROMPT=0")
}

func (r *runner) user() string {
	if r.o.User != "" {
		return r.o.User
	}
	// MLflow's _get_user is getpass.getuser(): these variables in this
	// order, then the account's name.
	for _, k := range []string{"LOGNAME", "USER", "LNAME", "USERNAME"} {
		if u := r.getenv(k); u != "" {
			return u
		}
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

// experiment resolves --experiment-id / --experiment-name (creating a
// named experiment that does not exist, as MLflow does); neither means the
// Default experiment.
func (r *runner) experiment(ctx context.Context) (string, error) {
	t := r.o.Tracker
	switch {
	case r.o.ExperimentID != "":
		e, err := t.GetExperiment(ctx, r.o.ExperimentID)
		if err != nil {
			return "", fmt.Errorf("experiment %s: %w", r.o.ExperimentID, err)
		}
		if e.LifecycleStage == tracking.StageDeleted {
			return "", fmt.Errorf("experiment %s is deleted", e.ID)
		}
		return e.ID, nil
	case r.o.ExperimentName != "":
		e, err := t.GetExperimentByName(ctx, r.o.ExperimentName)
		if err == nil {
			if e.LifecycleStage == tracking.StageDeleted {
				return "", fmt.Errorf("experiment %q is deleted; restore it or pick another name", e.Name)
			}
			return e.ID, nil
		}
		if tracking.CodeOf(err) != tracking.ResourceDoesNotExist {
			return "", fmt.Errorf("experiment %q: %w", r.o.ExperimentName, err)
		}
		id, err := t.CreateExperiment(ctx, r.o.ExperimentName, "", nil)
		if err != nil {
			return "", fmt.Errorf("creating experiment %q: %w", r.o.ExperimentName, err)
		}
		r.log.Info("created experiment", "name", r.o.ExperimentName, "id", id)
		return id, nil
	}
	return tracking.DefaultExperimentID, nil
}

// baseTags are the tags every run of this project gets.
func baseTags(src *Source, entryPoint, manager, backend, user string) []tracking.Tag {
	tags := []tracking.Tag{
		{Key: TagUser, Value: user},
		{Key: TagSourceName, Value: src.Name},
		{Key: TagSourceType, Value: "PROJECT"},
		{Key: TagEntryPoint, Value: entryPoint},
		{Key: TagEnv, Value: manager},
		{Key: TagBackend, Value: backend},
	}
	if src.Commit != "" {
		tags = append(tags, tracking.Tag{Key: TagGitCommit, Value: src.Commit})
	}
	if src.RepoURL != "" {
		tags = append(tags, tracking.Tag{Key: TagGitRepoURL, Value: src.RepoURL}, tracking.Tag{Key: tagLegacyRepo, Value: src.RepoURL})
	}
	if src.Branch != "" {
		tags = append(tags, tracking.Tag{Key: TagGitBranch, Value: src.Branch}, tracking.Tag{Key: tagLegacyBranch, Value: src.Branch})
	}
	return tags
}

// job is what the runs of one `mlship run` share.
type job struct {
	r        *runner
	src      *Source
	proj     *mlproject.Project
	manager  string
	expID    string
	envVars  []string
	baseTags []tracking.Tag
}

// createRun creates a run with the job's tags plus extra, and logs params.
func (j *job) createRun(ctx context.Context, name string, params []mlproject.KV, extra ...tracking.Tag) (*tracking.Run, error) {
	tags := append(append([]tracking.Tag(nil), j.baseTags...), extra...)
	if name != "" {
		tags = append(tags, tracking.Tag{Key: TagRunName, Value: name})
	}
	run, err := j.r.o.Tracker.CreateRun(ctx, tracking.CreateRun{ExperimentID: j.expID, UserID: j.r.user(), RunName: name, Tags: tags})
	if err != nil {
		return nil, fmt.Errorf("creating run: %w", err)
	}
	// Params in batches of MLflow's limit.
	var ps []tracking.Param
	for _, kv := range params {
		ps = append(ps, tracking.Param{Key: kv.Key, Value: kv.Value})
	}
	for len(ps) > 0 {
		n := min(len(ps), tracking.MaxParamsTagsPerBatch)
		if err := j.r.o.Tracker.LogBatch(ctx, run.Info.RunID, nil, ps[:n], nil); err != nil {
			return nil, errors.Join(fmt.Errorf("logging parameters on run %s: %w", run.Info.RunID, err), j.end(ctx, run.Info.RunID, tracking.StatusFailed))
		}
		ps = ps[n:]
	}
	return run, nil
}

// end sets a run's final status. It runs even after ctx ended (an
// interrupted run must still become KILLED): it keeps ctx's values but
// not its cancellation, with a deadline of its own.
func (j *job) end(ctx context.Context, runID string, status tracking.RunStatus) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := j.r.o.Tracker.UpdateRun(ctx, runID, tracking.UpdateRun{Status: status, EndTime: time.Now().UnixMilli()})
	if err != nil {
		return fmt.Errorf("ending run %s as %s: %w", runID, status, err)
	}
	return nil
}

// runOne creates a run for inv and runs its command locally (or in
// docker), ending the run by how the command ended.
func (j *job) runOne(ctx context.Context, inv *mlproject.Invocation, name, parentID string, stdout, stderr io.Writer) (*Result, error) {
	var extra []tracking.Tag
	if parentID != "" {
		extra = append(extra, tracking.Tag{Key: TagParentRunID, Value: parentID})
	}
	var image string
	if j.manager == EnvDocker {
		var err error
		if image, err = j.r.dockerImage(ctx, j); err != nil {
			return nil, err
		}
		extra = append(extra, tracking.Tag{Key: TagDockerImage, Value: image})
	}
	run, err := j.createRun(ctx, name, inv.AllParams(), extra...)
	if err != nil {
		return nil, err
	}
	id := run.Info.RunID
	res := &Result{RunID: id, ExperimentID: j.expID, Params: inv.AllParams()}
	j.r.log.Info("run started", "run_id", id, "experiment_id", j.expID, "command", inv.Command)
	runEnv := []string{"MLFLOW_RUN_ID=" + id, "MLFLOW_TRACKING_URI=" + j.r.o.TrackingURI, "MLFLOW_EXPERIMENT_ID=" + j.expID}
	c := command{Shell: "bash", Line: inv.Command, Dir: j.proj.Dir, Stdout: stdout, Stderr: stderr, Grace: j.r.o.Grace}
	if j.manager == EnvDocker {
		c.Line = shellJoin(j.r.dockerRunArgs(j, image, run.Info.ArtifactURI, runEnv)) + " " + inv.Command
		c.Env = j.r.o.Environ
	} else {
		c.Env = mergeEnv(j.r.o.Environ, append(append([]string(nil), j.envVars...), runEnv...))
	}
	if j.r.o.started != nil {
		c.Started = func(pgid int) { j.r.o.started(id, pgid) }
	}
	out, runErr := c.run(ctx)
	status := tracking.StatusFinished
	switch {
	case runErr != nil:
		status = tracking.StatusFailed
	case out.Interrupted:
		status = tracking.StatusKilled
	case out.ExitCode != 0:
		status = tracking.StatusFailed
	}
	res.Status, res.ExitCode = status, out.ExitCode
	if err := j.end(ctx, id, status); err != nil {
		return res, errors.Join(runErr, err)
	}
	j.r.log.Info("run ended", "run_id", id, "status", status, "exit_code", out.ExitCode)
	switch {
	case runErr != nil:
		return res, fmt.Errorf("run %s: %w", id, runErr)
	case out.Interrupted:
		return res, fmt.Errorf("%w: run %s was interrupted (%s sent to its process group) and is KILLED: %w", ErrFailed, id, out.Signal, context.Cause(ctx))
	case out.ExitCode != 0:
		return res, fmt.Errorf("%w: run %s FAILED: the command exited with status %d", ErrFailed, id, out.ExitCode)
	}
	return res, nil
}

// mergeEnv returns base with the variables of over replacing any of the
// same name.
func mergeEnv(base, over []string) []string {
	names := map[string]bool{}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		names[k] = true
	}
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !names[k] {
			out = append(out, kv)
		}
	}
	return append(out, over...)
}

// checkBackend refuses, before anything is recorded, what this machine
// cannot do: a docker project without a Docker engine.
func (r *runner) checkBackend(ctx context.Context, p *mlproject.Project, manager string) error {
	if r.o.BuildImage && p.EnvType != mlproject.EnvDocker {
		return errors.New("--build-image applies to docker_env projects only")
	}
	if manager != EnvDocker || r.backend == BackendKubernetes {
		return nil
	}
	if err := r.checkDockerEnvironment(p.Docker); err != nil {
		return err
	}
	docker := r.lookPath("docker")
	if docker == "" {
		return fmt.Errorf("docker_env project %s needs a Docker engine: the docker CLI is not on PATH (mlship does not start one)", p.Name)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, docker, "version", "--format", "{{.Server.Version}}")
	cmd.Env = r.o.Environ
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("docker_env project %s needs a Docker engine, and none answers (mlship does not start one): %s",
			p.Name, strings.TrimSpace(lastLine(string(out), err)))
	}
	return nil
}

// checkDockerEnvironment refuses, as MLflow does (but before the run
// exists), a docker_env environment entry copying a variable the caller
// does not have: docker would silently leave it out.
func (r *runner) checkDockerEnvironment(d *mlproject.DockerEnv) error {
	set := map[string]bool{}
	for _, kv := range r.o.Environ {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	var names []string
	for _, e := range d.Environment {
		names = append(names, e.Name)
	}
	for _, e := range d.Environment {
		if e.Copy && !set[e.Name] {
			return fmt.Errorf("This project expects the %s environment variables to be set on the machine running the project, but %s was not set. Please ensure all expected environment variables are set",
				strings.Join(names, ", "), e.Name)
		}
	}
	return nil
}

func lastLine(out string, err error) string {
	out = strings.TrimSpace(out)
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	if out == "" {
		return err.Error()
	}
	return out
}
