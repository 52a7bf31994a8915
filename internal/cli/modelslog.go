package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/client"
)

type modelsLogOptions struct {
	tf             trackingFlags
	model          string
	runID          string
	experimentName string
	experimentID   string
	artifactPath   string
	runName        string
}

// newCmdModelsLog is `mlship models log`: a saved model directory becomes
// a logged model of a run, as mlflow.<flavor>.log_model leaves it.
func newCmdModelsLog(d *deps) *cobra.Command {
	o := &modelsLogOptions{}
	cmd := &cobra.Command{
		Use:   "log -m DIR [--run-id ID | --experiment-name NAME]",
		Short: "Log a model directory to a run on a tracking server",
		Long: "Upload a saved model directory as artifacts of a run under --artifact-path (default model),\n" +
			"with run_id and artifact_path written into the uploaded MLmodel (the directory itself is not\n" +
			"changed), and record it in the run's mlflow.log-model.history tag, as MLflow's log_model does.\n" +
			"Without --run-id a new run is created in --experiment-name (created if absent; default: the\n" +
			"Default experiment) and ended FINISHED. Prints the model's runs:/ URI, which serve, predict,\n" +
			"inspect and build-docker accept.",
		Example: "  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 mlship models log -m ./model --experiment-name iris\n" +
			"  mlship serve runs:/<run_id>/model",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runModelsLog(cmd.Context(), d, o) },
	}
	fs := cmd.Flags()
	o.tf.AddFlags(fs)
	fs.StringVarP(&o.model, "model-uri", "m", "", "the model directory (or its MLmodel file, or a file:// URI)")
	fs.StringVar(&o.runID, "run-id", "", "log to this existing run (left running)")
	fs.StringVar(&o.experimentName, "experiment-name", "", "create the run in this experiment, created if absent (env MLFLOW_EXPERIMENT_NAME)")
	fs.StringVar(&o.experimentID, "experiment-id", "", "create the run in this experiment (env MLFLOW_EXPERIMENT_ID)")
	fs.StringVar(&o.artifactPath, "artifact-path", "model", "where in the run's artifacts the model goes")
	fs.StringVar(&o.runName, "run-name", "", "name of a created run (default: the server's generated name)")
	_ = cmd.MarkFlagRequired("model-uri")
	return cmd
}

func runModelsLog(ctx context.Context, d *deps, o *modelsLogOptions) error {
	if o.runID != "" && (o.experimentName != "" || o.experimentID != "" || o.runName != "") {
		return fmt.Errorf("--run-id logs to an existing run: --experiment-name, --experiment-id and --run-name are for a new one")
	}
	if o.experimentName == "" && o.experimentID == "" {
		o.experimentName, o.experimentID = d.env.get("MLFLOW_EXPERIMENT_NAME"), d.env.get("MLFLOW_EXPERIMENT_ID")
	}
	if o.experimentName != "" && o.experimentID != "" {
		return fmt.Errorf("give --experiment-name or --experiment-id, not both")
	}
	artifactPath := path.Clean(filepath.ToSlash(o.artifactPath))
	if o.artifactPath == "" || artifactPath == "." || artifactPath == ".." || path.IsAbs(artifactPath) || len(artifactPath) > 2 && artifactPath[:3] == "../" {
		return fmt.Errorf("--artifact-path %q must be a relative path inside the run's artifacts", o.artifactPath)
	}
	m, err := mlmodel.Load(o.model)
	if err != nil {
		return err
	}
	return d.withTracking(ctx, o.tf.uri, func(c *trackingConn) error {
		return modelsLogTo(ctx, d, o, c, m, artifactPath)
	})
}

// modelsLogTo is runModelsLog once the model is read and a tracking
// client is open.
func modelsLogTo(ctx context.Context, d *deps, o *modelsLogOptions, c *trackingConn, m *mlmodel.Model, artifactPath string) error {
	log := d.logger()

	runID := o.runID
	created := false
	if runID == "" {
		expID, err := experimentFor(ctx, c.Client, o.experimentName, o.experimentID)
		if err != nil {
			return err
		}
		user := currentUser(d)
		tags := []tracking.Tag{
			{Key: "mlflow.source.name", Value: "mlship models log"},
			{Key: "mlflow.source.type", Value: "LOCAL"},
		}
		if user != "" {
			tags = append(tags, tracking.Tag{Key: "mlflow.user", Value: user})
		}
		run, err := c.CreateRun(ctx, tracking.CreateRun{ExperimentID: expID, UserID: user, RunName: o.runName, Tags: tags})
		if err != nil {
			return fmt.Errorf("creating a run: %w", err)
		}
		runID, created = run.Info.RunID, true
		log.Info("run created", "run_id", runID, "experiment_id", expID)
	}

	err := logModel(ctx, c.Client, m, runID, artifactPath)
	if created {
		status := tracking.StatusFinished
		if err != nil {
			status = tracking.StatusFailed
		}
		// The run ends even when the caller gave up: use a short context
		// of its own.
		endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, uerr := c.UpdateRun(endCtx, runID, tracking.UpdateRun{Status: status, EndTime: time.Now().UnixMilli()}); uerr != nil {
			err = errors.Join(err, fmt.Errorf("ending run %s: %w", runID, uerr))
		}
	}
	if err != nil {
		return err
	}
	log.Info("model logged", "run_id", runID, "artifact_path", artifactPath, "flavors", m.FlavorNames())
	fmt.Fprintf(d.stdout, "runs:/%s/%s\n", runID, artifactPath)
	return nil
}

// experimentFor is the id of the experiment a new run goes to: by id, by
// name (created when absent, as mlflow.set_experiment does), else the
// Default experiment.
func experimentFor(ctx context.Context, c *client.Client, name, id string) (string, error) {
	if id != "" {
		if _, err := c.GetExperiment(ctx, id); err != nil {
			return "", err
		}
		return id, nil
	}
	if name == "" {
		return tracking.DefaultExperimentID, nil
	}
	e, err := c.GetExperimentByName(ctx, name)
	if err == nil {
		if e.LifecycleStage == tracking.StageDeleted {
			return "", fmt.Errorf("experiment %q is deleted: restore it (mlship experiments restore -x %s) or use another name", name, e.ID)
		}
		return e.ID, nil
	}
	if tracking.CodeOf(err) != tracking.ResourceDoesNotExist {
		return "", err
	}
	newID, err := c.CreateExperiment(ctx, name, "", nil)
	if err != nil && tracking.CodeOf(err) == tracking.ResourceAlreadyExists {
		// Someone created it meanwhile.
		if e, gerr := c.GetExperimentByName(ctx, name); gerr == nil {
			return e.ID, nil
		}
	}
	return newID, err
}

// logModel uploads the model's files, then its MLmodel with run_id and
// artifact_path filled in (last, so a reader that finds the MLmodel finds
// every file it names), then records the model on the run.
func logModel(ctx context.Context, c *client.Client, m *mlmodel.Model, runID, artifactPath string) error {
	var files []client.Upload
	err := filepath.WalkDir(m.Dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(m.Dir, p)
		if err != nil {
			return err
		}
		if rel == mlmodel.FileName || e.IsDir() {
			return nil
		}
		if !e.Type().IsRegular() {
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return nil // sockets, dangling links, links to directories
			}
		}
		files = append(files, client.Upload{Local: p, Path: path.Join(artifactPath, filepath.ToSlash(rel))})
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading %s: %w", m.Dir, err)
	}
	if err := c.UploadFiles(ctx, runID, files); err != nil {
		return err
	}

	logged := *m
	logged.RunID = runID
	logged.ArtifactPath = artifactPath
	if logged.UTCTimeCreated == "" {
		logged.UTCTimeCreated = time.Now().UTC().Format("2006-01-02 15:04:05.000000")
	}
	if logged.ModelUUID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		logged.ModelUUID = hex.EncodeToString(b[:])
	}
	stage, err := os.MkdirTemp("", "mlship-log-model-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if err := logged.WriteFile(stage); err != nil {
		return err
	}
	if err := c.UploadFiles(ctx, runID, []client.Upload{{Local: filepath.Join(stage, mlmodel.FileName), Path: path.Join(artifactPath, mlmodel.FileName)}}); err != nil {
		return err
	}
	modelJSON, err := historyJSON(&logged)
	if err != nil {
		return err
	}
	if err := c.LogModel(ctx, runID, modelJSON); err != nil {
		return fmt.Errorf("recording the model on run %s: %w", runID, err)
	}
	return nil
}

// historyJSON is the MLmodel as the JSON object MLflow's client sends to
// runs/log-model (Model.get_tags_dict): the descriptor's fields, with each
// flavor's potentially large `config` left out.
func historyJSON(m *mlmodel.Model) (string, error) {
	data, err := m.Marshal()
	if err != nil {
		return "", err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("re-reading MLmodel: %w", err)
	}
	if fl, ok := doc["flavors"].(map[string]any); ok {
		for _, cfg := range fl {
			if c, ok := cfg.(map[string]any); ok {
				delete(c, "config")
			}
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("encoding MLmodel as JSON: %w", err)
	}
	return string(out), nil
}

// currentUser is the name MLflow records as the run's user
// (getpass.getuser): LOGNAME, USER, LNAME or USERNAME, else the account.
func currentUser(d *deps) string {
	for _, k := range []string{"LOGNAME", "USER", "LNAME", "USERNAME"} {
		if v := d.env.get(k); v != "" {
			return v
		}
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}
