package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mlship/mlship/tracking"
)

func (s *Store) ensureDefaultExperiment(ctx context.Context) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM experiments WHERE experiment_id = 0").Scan(&n); err != nil {
			return dbErr("looking up the Default experiment", err)
		}
		if n > 0 {
			return nil
		}
		now := s.millis()
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO experiments
			(experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
			VALUES (0, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`), // another server starting at once
			tracking.DefaultExperimentName, s.artifactRoot+"/"+tracking.DefaultExperimentID, tracking.StageActive, now, now)
		return dbErr("creating the Default experiment", err)
	})
}

// isUniqueViolation reports whether err is a unique-constraint violation:
// on PostgreSQL two transactions can pass the same existence check at once.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// experimentID parses an experiment id; ok is false for anything that
// cannot name an experiment here.
func experimentID(id string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	return n, err == nil && n >= 0
}

func validateExperimentName(name string) error {
	if strings.TrimSpace(name) == "" {
		return tracking.Errorf(tracking.InvalidParameterValue, "Invalid experiment name: '%s'", name)
	}
	if len(name) > 500 {
		return tracking.Errorf(tracking.InvalidParameterValue, "Experiment name '%s...' had length %d, which exceeded length limit of 500", name[:50], len(name))
	}
	return nil
}

func validateExperimentTag(tag tracking.Tag) error {
	if err := validateKey("tag", tag.Key); err != nil {
		return err
	}
	return validateLength("Tag value", tag.Value, tracking.MaxExperimentTagValLength)
}

func (s *Store) CreateExperiment(ctx context.Context, name, artifactLocation string, tags []tracking.Tag) (string, error) {
	if err := validateExperimentName(name); err != nil {
		return "", err
	}
	for _, t := range tags {
		if err := validateExperimentTag(t); err != nil {
			return "", err
		}
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.rebind("SELECT COUNT(*) FROM experiments WHERE name = ?"), name).Scan(&n); err != nil {
			return dbErr("looking up experiment name", err)
		}
		if n > 0 {
			return tracking.Errorf(tracking.ResourceAlreadyExists, "Experiment '%s' already exists.", name)
		}
		now := s.millis()
		// The location is filled in after the id is known.
		err := tx.QueryRowContext(ctx, s.rebind(`INSERT INTO experiments
			(name, artifact_location, lifecycle_stage, creation_time, last_update_time)
			VALUES (?, ?, ?, ?, ?) RETURNING experiment_id`),
			name, artifactLocation, tracking.StageActive, now, now).Scan(&id)
		if isUniqueViolation(err) { // created concurrently (PostgreSQL)
			return tracking.Errorf(tracking.ResourceAlreadyExists, "Experiment '%s' already exists.", name)
		}
		if err != nil {
			return dbErr("creating experiment", err)
		}
		if artifactLocation == "" {
			loc := s.artifactRoot + "/" + strconv.FormatInt(id, 10)
			if _, err := tx.ExecContext(ctx, s.rebind("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?"), loc, id); err != nil {
				return dbErr("setting artifact location", err)
			}
		}
		for _, t := range dedupeTags(tags) {
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

// dedupeTags keeps the last value of each key, in first-seen key order.
func dedupeTags(tags []tracking.Tag) []tracking.Tag {
	idx := make(map[string]int, len(tags))
	var out []tracking.Tag
	for _, t := range tags {
		if i, ok := idx[t.Key]; ok {
			out[i].Value = t.Value
			continue
		}
		idx[t.Key] = len(out)
		out = append(out, t)
	}
	return out
}

func (s *Store) upsertExperimentTag(ctx context.Context, tx *sql.Tx, id int64, t tracking.Tag) error {
	_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)
		ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value`), id, t.Key, t.Value)
	return dbErr("setting experiment tag", err)
}

const experimentColumns = "experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time"

func scanExperiment(sc interface{ Scan(...any) error }) (tracking.Experiment, error) {
	var e tracking.Experiment
	var id int64
	err := sc.Scan(&id, &e.Name, &e.ArtifactLocation, &e.LifecycleStage, &e.CreationTime, &e.LastUpdateTime)
	e.ID = strconv.FormatInt(id, 10)
	return e, err
}

func (s *Store) GetExperiment(ctx context.Context, id string) (*tracking.Experiment, error) {
	n, ok := experimentID(id)
	if !ok {
		return nil, tracking.ExperimentNotFound(id)
	}
	return s.getExperiment(ctx, s.read, "experiment_id = ?", n, func() error { return tracking.ExperimentNotFound(id) })
}

func (s *Store) GetExperimentByName(ctx context.Context, name string) (*tracking.Experiment, error) {
	return s.getExperiment(ctx, s.read, "name = ?", name, func() error {
		return tracking.Errorf(tracking.ResourceDoesNotExist, "Could not find experiment with name '%s'", name)
	})
}

func (s *Store) getExperiment(ctx context.Context, q querier, where string, arg any, notFound func() error) (*tracking.Experiment, error) {
	e, err := scanExperiment(q.QueryRowContext(ctx, s.rebind("SELECT "+experimentColumns+" FROM experiments WHERE "+where), arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound()
	}
	if err != nil {
		return nil, dbErr("reading experiment", err)
	}
	exps := []tracking.Experiment{e}
	if err := s.loadExperimentTags(ctx, q, exps); err != nil {
		return nil, err
	}
	return &exps[0], nil
}

func (s *Store) loadExperimentTags(ctx context.Context, q querier, exps []tracking.Experiment) error {
	if len(exps) == 0 {
		return nil
	}
	byID := make(map[string]int, len(exps))
	args := make([]any, 0, len(exps))
	for i, e := range exps {
		byID[e.ID] = i
		n, _ := experimentID(e.ID)
		args = append(args, n)
	}
	for start := 0; start < len(args); start += inChunk {
		end := min(start+inChunk, len(args))
		err := s.eachRow(ctx, q, "SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN ("+
			placeholders(end-start)+") ORDER BY experiment_id, key", args[start:end], func(rows *sql.Rows) error {
			var id int64
			var t tracking.Tag
			if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
				return err
			}
			i := byID[strconv.FormatInt(id, 10)]
			exps[i].Tags = append(exps[i].Tags, t)
			return nil
		})
		if err != nil {
			return dbErr("reading experiment tags", err)
		}
	}
	return nil
}

// inChunk bounds the ids bound in one IN (...) list, well under SQLite's
// and PostgreSQL's limits on bound parameters.
const inChunk = 500

// activeExperiment locks and checks an experiment that a write will change.
func (s *Store) lockExperiment(ctx context.Context, tx *sql.Tx, id string) (int64, string, error) {
	n, ok := experimentID(id)
	if !ok {
		return 0, "", tracking.ExperimentNotFound(id)
	}
	var stage string
	err := tx.QueryRowContext(ctx, s.rebind("SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?"+s.forUpdate()), n).Scan(&stage)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", tracking.ExperimentNotFound(id)
	}
	if err != nil {
		return 0, "", dbErr("reading experiment", err)
	}
	return n, stage, nil
}

func experimentNotActive(id, stage string) error {
	return tracking.Errorf(tracking.InvalidParameterValue, "The experiment %s must be in the 'active' state. Current state is %s.", id, stage)
}

func (s *Store) RenameExperiment(ctx context.Context, id, newName string) error {
	if err := validateExperimentName(newName); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		n, stage, err := s.lockExperiment(ctx, tx, id)
		if err != nil {
			return err
		}
		if stage != tracking.StageActive {
			return tracking.Errorf(tracking.InvalidState, "Cannot rename a non-active experiment.")
		}
		var other int
		if err := tx.QueryRowContext(ctx, s.rebind("SELECT COUNT(*) FROM experiments WHERE name = ? AND experiment_id <> ?"), newName, n).Scan(&other); err != nil {
			return dbErr("looking up experiment name", err)
		}
		if other > 0 {
			return tracking.Errorf(tracking.ResourceAlreadyExists, "Experiment '%s' already exists.", newName)
		}
		_, err = tx.ExecContext(ctx, s.rebind("UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?"), newName, s.millis(), n)
		if isUniqueViolation(err) {
			return tracking.Errorf(tracking.ResourceAlreadyExists, "Experiment '%s' already exists.", newName)
		}
		return dbErr("renaming experiment", err)
	})
}

// DeleteExperiment marks the experiment and its runs deleted, as MLflow's
// SQL store does; RestoreExperiment brings both back.
func (s *Store) DeleteExperiment(ctx context.Context, id string) error {
	return s.setExperimentStage(ctx, id, tracking.StageDeleted)
}

func (s *Store) RestoreExperiment(ctx context.Context, id string) error {
	return s.setExperimentStage(ctx, id, tracking.StageActive)
}

func (s *Store) setExperimentStage(ctx context.Context, id, stage string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		n, cur, err := s.lockExperiment(ctx, tx, id)
		if err != nil {
			return err
		}
		if stage == tracking.StageDeleted && n == 0 {
			return tracking.Errorf(tracking.InvalidParameterValue, "Cannot delete the default experiment '0'. This is an internally reserved experiment.")
		}
		// As MLflow's SQL store, which looks the experiment up among the
		// active ones to delete it and among the deleted ones to restore
		// it: the other stage is "not found".
		if cur == stage {
			return tracking.ExperimentNotFound(id)
		}
		now := s.millis()
		if _, err := tx.ExecContext(ctx, s.rebind("UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?"), stage, now, n); err != nil {
			return dbErr("updating experiment", err)
		}
		var deleted any // NULL on restore
		if stage == tracking.StageDeleted {
			deleted = now
		}
		_, err = tx.ExecContext(ctx, s.rebind("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ? AND lifecycle_stage <> ?"),
			stage, deleted, n, stage)
		return dbErr("updating the experiment's runs", err)
	})
}

func (s *Store) SetExperimentTag(ctx context.Context, id string, tag tracking.Tag) error {
	if err := validateExperimentTag(tag); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		n, stage, err := s.lockExperiment(ctx, tx, id)
		if err != nil {
			return err
		}
		if stage != tracking.StageActive {
			return experimentNotActive(id, stage)
		}
		return s.upsertExperimentTag(ctx, tx, n, tag)
	})
}

func (s *Store) DeleteExperimentTag(ctx context.Context, id, key string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		n, stage, err := s.lockExperiment(ctx, tx, id)
		if err != nil {
			return err
		}
		if stage != tracking.StageActive {
			return experimentNotActive(id, stage)
		}
		res, err := tx.ExecContext(ctx, s.rebind("DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?"), n, key)
		if err != nil {
			return dbErr("deleting experiment tag", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return tracking.Errorf(tracking.ResourceDoesNotExist, "No tag with name: %s in experiment with id %s", key, id)
		}
		return nil
	})
}
