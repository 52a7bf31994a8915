package sqlstore

// This file is owned by the mlruns importer (tracking/mlruns): it lets a
// Store take experiments and runs whole — with their own run ids, times,
// statuses, artifact URIs and full metric histories — which the ordinary
// create/log API cannot, since it assigns ids and times itself. It
// implements tracking/mlruns.Importer.

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/mlship/mlship/tracking"
)

// importChunk bounds the rows of one multi-row INSERT here.
const importChunk = 500

// ImportExperiment creates e under an id the store chooses and returns that
// id, keeping e's name, artifact location (the store's default when
// empty), lifecycle stage, creation and update times and tags. An
// experiment of the same name is ResourceAlreadyExists.
func (s *Store) ImportExperiment(ctx context.Context, e tracking.Experiment) (string, error) {
	if err := validateExperimentName(e.Name); err != nil {
		return "", err
	}
	stage := e.LifecycleStage
	if stage == "" {
		stage = tracking.StageActive
	}
	if stage != tracking.StageActive && stage != tracking.StageDeleted {
		return "", tracking.Errorf(tracking.InvalidParameterValue, "Invalid lifecycle stage '%s' of experiment '%s'", stage, e.Name)
	}
	now := s.millis()
	created, updated := e.CreationTime, e.LastUpdateTime
	if created == 0 {
		created = now
	}
	if updated == 0 {
		updated = created
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.rebind("SELECT COUNT(*) FROM experiments WHERE name = ?"), e.Name).Scan(&n); err != nil {
			return dbErr("looking up experiment name", err)
		}
		if n > 0 {
			return tracking.Errorf(tracking.ResourceAlreadyExists, "Experiment '%s' already exists.", e.Name)
		}
		err := tx.QueryRowContext(ctx, s.rebind(`INSERT INTO experiments
			(name, artifact_location, lifecycle_stage, creation_time, last_update_time)
			VALUES (?, ?, ?, ?, ?) RETURNING experiment_id`),
			e.Name, e.ArtifactLocation, stage, created, updated).Scan(&id)
		if err != nil {
			return dbErr("importing experiment", err)
		}
		if e.ArtifactLocation == "" {
			loc := s.artifactRoot + "/" + strconv.FormatInt(id, 10)
			if _, err := tx.ExecContext(ctx, s.rebind("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?"), loc, id); err != nil {
				return dbErr("setting artifact location", err)
			}
		}
		for _, t := range dedupeTags(e.Tags) {
			if err := s.upsertExperimentTag(ctx, tx, id, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(id, 10), nil
}

// ImportRun stores run as it is — id, experiment (an id of this store, in
// any lifecycle stage), name, user, status, start and end time, artifact
// URI (the experiment's location + /<run_id>/artifacts when empty),
// lifecycle stage, params, tags and dataset inputs — with every metric value of history,
// all in one transaction. run.Data.Metrics is not read: the latest values
// are derived from history. A run with the same id is
// ResourceAlreadyExists; nothing is written then.
func (s *Store) ImportRun(ctx context.Context, run tracking.Run, history []tracking.Metric) error {
	ri := run.Info
	if ri.RunID == "" {
		return tracking.Errorf(tracking.InvalidParameterValue, "Missing value for required parameter 'run_id'.")
	}
	status := ri.Status
	if status == "" {
		status = tracking.StatusRunning
	}
	if _, err := tracking.ParseRunStatus(string(status)); err != nil {
		return err
	}
	stage := ri.LifecycleStage
	if stage == "" {
		stage = tracking.StageActive
	}
	if stage != tracking.StageActive && stage != tracking.StageDeleted {
		return tracking.Errorf(tracking.InvalidParameterValue, "Invalid lifecycle stage '%s' of run '%s'", stage, ri.RunID)
	}
	for _, t := range run.Data.Tags {
		if err := validateKey("tag", t.Key); err != nil {
			return err
		}
	}
	for _, p := range run.Data.Params {
		if err := validateKey("param", p.Key); err != nil {
			return err
		}
	}
	for _, m := range history {
		if err := validateKey("metric", m.Key); err != nil {
			return err
		}
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		expN, _, err := s.lockExperiment(ctx, tx, ri.ExperimentID)
		if tracking.CodeOf(err) == tracking.ResourceDoesNotExist {
			return tracking.Errorf(tracking.ResourceDoesNotExist, "Could not find experiment with ID %s", ri.ExperimentID)
		}
		if err != nil {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, s.rebind("SELECT 1 FROM runs WHERE run_uuid = ?"), ri.RunID).Scan(&one)
		if err == nil {
			return tracking.Errorf(tracking.ResourceAlreadyExists, "Run '%s' already exists.", ri.RunID)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return dbErr("reading run", err)
		}
		uri := ri.ArtifactURI
		if uri == "" {
			var loc string
			if err := tx.QueryRowContext(ctx, s.rebind("SELECT artifact_location FROM experiments WHERE experiment_id = ?"), expN).Scan(&loc); err != nil {
				return dbErr("reading experiment", err)
			}
			uri = loc + "/" + ri.RunID + "/artifacts"
		}
		var end, deleted sql.NullInt64
		if ri.EndTime != 0 {
			end = sql.NullInt64{Int64: ri.EndTime, Valid: true}
		}
		if stage == tracking.StageDeleted {
			// When it was deleted is not recorded in a file store; the
			// import is the latest it can have been.
			deleted = sql.NullInt64{Int64: s.millis(), Valid: true}
		}
		_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO runs
			(run_uuid, name, experiment_id, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri, deleted_time)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			ri.RunID, ri.RunName, expN, ri.UserID, string(status), ri.StartTime, end, stage, uri, deleted)
		if err != nil {
			return dbErr("importing run", err)
		}
		params := run.Data.Params
		for len(params) > 0 {
			chunk := params[:min(len(params), importChunk)]
			params = params[len(chunk):]
			if err := s.insertParams(ctx, tx, ri.RunID, chunk); err != nil {
				return err
			}
		}
		tags := dedupeTags(run.Data.Tags)
		for len(tags) > 0 {
			chunk := tags[:min(len(tags), importChunk)]
			tags = tags[len(chunk):]
			if err := s.upsertTags(ctx, tx, ri.RunID, chunk); err != nil {
				return err
			}
		}
		if err := s.insertMetrics(ctx, tx, ri.RunID, history); err != nil {
			return err
		}
		for _, in := range run.Inputs {
			if in.Dataset.Name == "" || in.Dataset.Digest == "" {
				return tracking.Errorf(tracking.InvalidParameterValue, "Dataset input of run '%s' has no name or digest", ri.RunID)
			}
		}
		return s.linkInputs(ctx, tx, ri.RunID, expN, run.Inputs)
	})
}
