package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"sort"
	"strconv"

	"github.com/mlship/mlship/tracking"
)

const (
	tagRunName = "mlflow.runName"
	tagUser    = "mlflow.user"
)

func (s *Store) CreateRun(ctx context.Context, r tracking.CreateRun) (*tracking.Run, error) {
	expID := r.ExperimentID
	if expID == "" {
		expID = tracking.DefaultExperimentID
	}
	for _, t := range r.Tags {
		if err := validateKey("tag", t.Key); err != nil {
			return nil, err
		}
		if err := validateLength("Tag value", t.Value, tracking.MaxTagValueLength); err != nil {
			return nil, err
		}
	}
	tags := dedupeTags(r.Tags)
	name := r.RunName
	tagName, hasTagName := "", false
	for _, t := range tags {
		if t.Key == tagRunName {
			tagName, hasTagName = t.Value, true
		}
	}
	switch {
	case name != "" && hasTagName && tagName != name:
		return nil, tracking.Errorf(tracking.InvalidParameterValue,
			"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='%s', mlflow.runName='%s').", name, tagName)
	case name == "" && hasTagName && tagName != "":
		name = tagName
	case name == "":
		name = tracking.NewRunName()
	}
	tags = setTag(tags, tracking.Tag{Key: tagRunName, Value: name})
	if r.UserID != "" {
		if _, ok := findTag(tags, tagUser); !ok {
			tags = append(tags, tracking.Tag{Key: tagUser, Value: r.UserID})
		}
	}
	start := r.StartTime
	if start == 0 {
		start = s.millis()
	}
	runID := tracking.NewRunID()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		n, stage, err := s.lockExperiment(ctx, tx, expID)
		if tracking.CodeOf(err) == tracking.ResourceDoesNotExist {
			return tracking.Errorf(tracking.ResourceDoesNotExist, "Could not find experiment with ID %s", expID)
		}
		if err != nil {
			return err
		}
		if stage != tracking.StageActive {
			return experimentNotActive(expID, stage)
		}
		var loc string
		if err := tx.QueryRowContext(ctx, s.rebind("SELECT artifact_location FROM experiments WHERE experiment_id = ?"), n).Scan(&loc); err != nil {
			return dbErr("reading experiment", err)
		}
		_, err = tx.ExecContext(ctx, s.rebind(`INSERT INTO runs
			(run_uuid, name, experiment_id, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri)
			VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)`),
			runID, name, n, r.UserID, string(tracking.StatusRunning), start, tracking.StageActive, loc+"/"+runID+"/artifacts")
		if err != nil {
			return dbErr("creating run", err)
		}
		return s.upsertTags(ctx, tx, runID, tags)
	})
	if err != nil {
		return nil, err
	}
	return s.GetRun(ctx, runID)
}

func findTag(tags []tracking.Tag, key string) (string, bool) {
	for _, t := range tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

func setTag(tags []tracking.Tag, tag tracking.Tag) []tracking.Tag {
	for i := range tags {
		if tags[i].Key == tag.Key {
			tags[i].Value = tag.Value
			return tags
		}
	}
	return append(tags, tag)
}

func (s *Store) upsertTags(ctx context.Context, tx *sql.Tx, runID string, tags []tracking.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	args := make([]any, 0, 3*len(tags))
	for _, t := range tags {
		args = append(args, runID, t.Key, t.Value)
	}
	_, err := tx.ExecContext(ctx, s.rebind("INSERT INTO tags (run_uuid, key, value) VALUES "+rowMarks(len(tags), 3)+
		" ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value"), args...)
	return dbErr("setting tags", err)
}

// rowMarks returns n rows of k placeholders: "(?, ?), (?, ?)".
func rowMarks(n, k int) string {
	row := "(" + placeholders(k) + ")"
	b := make([]byte, 0, n*(len(row)+2))
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, row...)
	}
	return string(b)
}

const runColumns = "r.run_uuid, r.name, r.experiment_id, r.user_id, r.status, r.start_time, r.end_time, r.lifecycle_stage, r.artifact_uri"

func scanRunInfo(sc interface{ Scan(...any) error }) (tracking.RunInfo, error) {
	var ri tracking.RunInfo
	var exp int64
	var status string
	var end sql.NullInt64
	err := sc.Scan(&ri.RunID, &ri.RunName, &exp, &ri.UserID, &status, &ri.StartTime, &end, &ri.LifecycleStage, &ri.ArtifactURI)
	ri.ExperimentID = strconv.FormatInt(exp, 10)
	ri.Status = tracking.RunStatus(status)
	ri.EndTime = end.Int64
	return ri, err
}

func (s *Store) GetRun(ctx context.Context, runID string) (*tracking.Run, error) {
	ri, err := scanRunInfo(s.read.QueryRowContext(ctx, s.rebind("SELECT "+runColumns+" FROM runs r WHERE r.run_uuid = ?"), runID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tracking.RunNotFound(runID)
	}
	if err != nil {
		return nil, dbErr("reading run", err)
	}
	runs := []tracking.Run{{Info: ri}}
	if err := s.loadRunData(ctx, s.read, runs); err != nil {
		return nil, err
	}
	return &runs[0], nil
}

// loadRunData fills in the latest metrics, params, tags and dataset inputs
// of runs, a handful of queries for the whole page.
func (s *Store) loadRunData(ctx context.Context, q querier, runs []tracking.Run) error {
	if len(runs) == 0 {
		return nil
	}
	byID := make(map[string]*tracking.Run, len(runs))
	var inputs []inputRef
	ids := make([]any, len(runs))
	for i := range runs {
		byID[runs[i].Info.RunID] = &runs[i]
		ids[i] = runs[i].Info.RunID
	}
	for start := 0; start < len(ids); start += inChunk {
		chunk := ids[start:min(start+inChunk, len(ids))]
		in := "(" + placeholders(len(chunk)) + ")"
		err := s.eachRow(ctx, q, "SELECT run_uuid, key, value FROM params WHERE run_uuid IN "+in, chunk, func(rows *sql.Rows) error {
			var id string
			var p tracking.Param
			if err := rows.Scan(&id, &p.Key, &p.Value); err != nil {
				return err
			}
			r := byID[id]
			r.Data.Params = append(r.Data.Params, p)
			return nil
		})
		if err != nil {
			return dbErr("reading params", err)
		}
		err = s.eachRow(ctx, q, "SELECT run_uuid, key, value FROM tags WHERE run_uuid IN "+in, chunk, func(rows *sql.Rows) error {
			var id string
			var t tracking.Tag
			if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
				return err
			}
			r := byID[id]
			r.Data.Tags = append(r.Data.Tags, t)
			return nil
		})
		if err != nil {
			return dbErr("reading tags", err)
		}
		err = s.eachRow(ctx, q, "SELECT run_uuid, key, value, is_nan, timestamp, step FROM latest_metrics WHERE run_uuid IN "+in, chunk, func(rows *sql.Rows) error {
			var id string
			var m tracking.Metric
			var isNaN bool
			if err := rows.Scan(&id, &m.Key, &m.Value, &isNaN, &m.Timestamp, &m.Step); err != nil {
				return err
			}
			if isNaN {
				m.Value = math.NaN()
			}
			r := byID[id]
			r.Data.Metrics = append(r.Data.Metrics, m)
			return nil
		})
		if err != nil {
			return dbErr("reading metrics", err)
		}
		err = s.eachRow(ctx, q, `SELECT i.run_uuid, i.input_uuid, d.name, d.digest, d.source_type, d.source, d.schema, d.profile
			FROM inputs i JOIN datasets d ON d.dataset_uuid = i.dataset_uuid WHERE i.run_uuid IN `+in+` ORDER BY i.run_uuid, d.name, d.digest`, chunk,
			func(rows *sql.Rows) error {
				var id, input string
				var d tracking.Dataset
				if err := rows.Scan(&id, &input, &d.Name, &d.Digest, &d.SourceType, &d.Source, &d.Schema, &d.Profile); err != nil {
					return err
				}
				r := byID[id]
				inputs = append(inputs, inputRef{run: r, idx: len(r.Inputs), id: input})
				r.Inputs = append(r.Inputs, tracking.DatasetInput{Dataset: d})
				return nil
			})
		if err != nil {
			return dbErr("reading dataset inputs", err)
		}
	}
	return s.loadInputTags(ctx, q, inputs, runs)
}

// inputRef names one dataset input of a run being loaded.
type inputRef struct {
	run *tracking.Run
	idx int
	id  string
}

func (s *Store) loadInputTags(ctx context.Context, q querier, inputs []inputRef, runs []tracking.Run) error {
	byInput := make(map[string]inputRef, len(inputs))
	ids := make([]any, len(inputs))
	for i, in := range inputs {
		byInput[in.id] = in
		ids[i] = in.id
	}
	for start := 0; start < len(ids); start += inChunk {
		chunk := ids[start:min(start+inChunk, len(ids))]
		err := s.eachRow(ctx, q, "SELECT input_uuid, key, value FROM input_tags WHERE input_uuid IN ("+placeholders(len(chunk))+") ORDER BY key", chunk,
			func(rows *sql.Rows) error {
				var id string
				var t tracking.Tag
				if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
					return err
				}
				in := byInput[id]
				in.run.Inputs[in.idx].Tags = append(in.run.Inputs[in.idx].Tags, t)
				return nil
			})
		if err != nil {
			return dbErr("reading input tags", err)
		}
	}
	for i := range runs {
		d := &runs[i].Data
		sort.Slice(d.Params, func(a, b int) bool { return d.Params[a].Key < d.Params[b].Key })
		sort.Slice(d.Tags, func(a, b int) bool { return d.Tags[a].Key < d.Tags[b].Key })
		sort.Slice(d.Metrics, func(a, b int) bool { return d.Metrics[a].Key < d.Metrics[b].Key })
	}
	return nil
}

func (s *Store) eachRow(ctx context.Context, q querier, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, s.rebind(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// lockRun reads a run's lifecycle stage for a write, locking the row on
// PostgreSQL so concurrent writers of one run take turns.
func (s *Store) lockRun(ctx context.Context, tx *sql.Tx, runID string) (string, error) {
	var stage string
	err := tx.QueryRowContext(ctx, s.rebind("SELECT lifecycle_stage FROM runs WHERE run_uuid = ?"+s.forUpdate()), runID).Scan(&stage)
	if errors.Is(err, sql.ErrNoRows) {
		return "", tracking.RunNotFound(runID)
	}
	if err != nil {
		return "", dbErr("reading run", err)
	}
	return stage, nil
}

// lockActiveRun is lockRun for writes that need an active run.
func (s *Store) lockActiveRun(ctx context.Context, tx *sql.Tx, runID string) error {
	stage, err := s.lockRun(ctx, tx, runID)
	if err != nil {
		return err
	}
	if stage != tracking.StageActive {
		return tracking.Errorf(tracking.InvalidParameterValue, "The run %s must be in the 'active' state. Current state is %s.", runID, stage)
	}
	return nil
}

func (s *Store) UpdateRun(ctx context.Context, runID string, u tracking.UpdateRun) (*tracking.RunInfo, error) {
	if u.Status != "" {
		if _, err := tracking.ParseRunStatus(string(u.Status)); err != nil {
			return nil, err
		}
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockActiveRun(ctx, tx, runID); err != nil {
			return err
		}
		if u.Status != "" {
			if _, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET status = ? WHERE run_uuid = ?"), string(u.Status), runID); err != nil {
				return dbErr("updating run", err)
			}
		}
		if u.EndTime != 0 {
			if _, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET end_time = ? WHERE run_uuid = ?"), u.EndTime, runID); err != nil {
				return dbErr("updating run", err)
			}
		}
		if u.RunName != "" {
			if _, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET name = ? WHERE run_uuid = ?"), u.RunName, runID); err != nil {
				return dbErr("updating run", err)
			}
			return s.upsertTags(ctx, tx, runID, []tracking.Tag{{Key: tagRunName, Value: u.RunName}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ri, err := scanRunInfo(s.write.QueryRowContext(ctx, s.rebind("SELECT "+runColumns+" FROM runs r WHERE r.run_uuid = ?"), runID))
	if err != nil {
		return nil, dbErr("reading run", err)
	}
	return &ri, nil
}

func (s *Store) DeleteRun(ctx context.Context, runID string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.lockRun(ctx, tx, runID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?"), tracking.StageDeleted, s.millis(), runID)
		return dbErr("deleting run", err)
	})
}

func (s *Store) RestoreRun(ctx context.Context, runID string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.lockRun(ctx, tx, runID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET lifecycle_stage = ?, deleted_time = NULL WHERE run_uuid = ?"), tracking.StageActive, runID)
		return dbErr("restoring run", err)
	})
}

func (s *Store) DeleteTag(ctx context.Context, runID, key string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockActiveRun(ctx, tx, runID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.rebind("DELETE FROM tags WHERE run_uuid = ? AND key = ?"), runID, key)
		if err != nil {
			return dbErr("deleting tag", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return tracking.Errorf(tracking.ResourceDoesNotExist, "No tag with name: %s in run with id %s", key, runID)
		}
		return nil
	})
}
