package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"sort"
	"strings"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/search"
)

// LogBatch writes metrics, params and tags in one transaction. Params
// are immutable: a key logged before with another value fails the whole
// batch. Every metric value goes to the history; the latest value per key
// (MLflow's rule: step, then timestamp, then value) is kept up to date in
// latest_metrics within the same transaction.
func (s *Store) LogBatch(ctx context.Context, runID string, metrics []tracking.Metric, params []tracking.Param, tags []tracking.Tag) error {
	params, err := validateBatch(metrics, params, tags)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockActiveRun(ctx, tx, runID); err != nil {
			return err
		}
		if err := s.insertParams(ctx, tx, runID, params); err != nil {
			return err
		}
		tags = dedupeTags(tags)
		if err := s.upsertTags(ctx, tx, runID, tags); err != nil {
			return err
		}
		if name, ok := findTag(tags, tagRunName); ok {
			if _, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET name = ? WHERE run_uuid = ?"), name, runID); err != nil {
				return dbErr("renaming run", err)
			}
		}
		return s.insertMetrics(ctx, tx, runID, metrics)
	})
}

func (s *Store) insertParams(ctx context.Context, tx *sql.Tx, runID string, params []tracking.Param) error {
	if len(params) == 0 {
		return nil
	}
	args := make([]any, 0, len(params)+1)
	args = append(args, runID)
	for _, p := range params {
		args = append(args, p.Key)
	}
	existing := make(map[string]string, len(params))
	err := s.eachRow(ctx, tx, "SELECT key, value FROM params WHERE run_uuid = ? AND key IN ("+placeholders(len(params))+")", args,
		func(rows *sql.Rows) error {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			existing[k] = v
			return nil
		})
	if err != nil {
		return dbErr("reading params", err)
	}
	args = args[:0]
	n := 0
	for _, p := range params {
		old, ok := existing[p.Key]
		if ok && old != p.Value {
			return tracking.Errorf(tracking.InvalidParameterValue,
				"Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.",
				p.Key, old, runID, p.Value)
		}
		if !ok {
			args = append(args, runID, p.Key, p.Value)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	_, err = tx.ExecContext(ctx, s.rebind("INSERT INTO params (run_uuid, key, value) VALUES "+rowMarks(n, 3)), args...)
	return dbErr("logging params", err)
}

// metricRowsPerInsert bounds one multi-row INSERT (9 bound values a row).
const metricRowsPerInsert = 500

func (s *Store) insertMetrics(ctx context.Context, tx *sql.Tx, runID string, metrics []tracking.Metric) error {
	if len(metrics) == 0 {
		return nil
	}
	// A value is stored once per (key, step, timestamp, value), as in
	// MLflow: repeats within the batch are dropped here, repeats of
	// earlier batches (a retried request) by the primary key.
	type metricKey struct {
		key             string
		step, timestamp int64
		value           float64
		isNaN           bool
	}
	seen := make(map[metricKey]bool, len(metrics))
	unique := make([]tracking.Metric, 0, len(metrics))
	for _, m := range metrics {
		v, isNaN := storedValue(m.Value)
		k := metricKey{m.Key, m.Step, m.Timestamp, v, isNaN}
		if !seen[k] {
			seen[k] = true
			unique = append(unique, m)
		}
	}
	args := make([]any, 0, 9*min(len(unique), metricRowsPerInsert))
	for start := 0; start < len(unique); start += metricRowsPerInsert {
		chunk := unique[start:min(start+metricRowsPerInsert, len(unique))]
		args = args[:0]
		for _, m := range chunk {
			v, isNaN := storedValue(m.Value)
			args = append(args, runID, m.Key, v, isNaN, m.Timestamp, m.Step, m.DatasetName, m.DatasetDigest, m.ModelID)
		}
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO metrics
			(run_uuid, key, value, is_nan, timestamp, step, dataset_name, dataset_digest, model_id) VALUES `+rowMarks(len(chunk), 9)+
			` ON CONFLICT (run_uuid, key, step, timestamp, value, is_nan) DO NOTHING`), args...)
		if err != nil {
			return dbErr("logging metrics", err)
		}
	}

	// The batch's own latest value per key, then one upsert that replaces
	// the stored latest value only where this one is later. Keys are
	// sorted so concurrent PostgreSQL writers lock rows in one order.
	latest := make(map[string]tracking.Metric, len(metrics))
	for _, m := range metrics {
		if cur, ok := latest[m.Key]; !ok || later(m, cur) {
			latest[m.Key] = m
		}
	}
	keys := make([]string, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for start := 0; start < len(keys); start += metricRowsPerInsert {
		chunk := keys[start:min(start+metricRowsPerInsert, len(keys))]
		args = args[:0]
		for _, k := range chunk {
			m := latest[k]
			v, isNaN := storedValue(m.Value)
			args = append(args, runID, k, v, isNaN, m.Timestamp, m.Step)
		}
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO latest_metrics (run_uuid, key, value, is_nan, timestamp, step) VALUES `+rowMarks(len(chunk), 6)+`
			ON CONFLICT (run_uuid, key) DO UPDATE SET
				value = excluded.value, is_nan = excluded.is_nan, timestamp = excluded.timestamp, step = excluded.step
			WHERE excluded.step > latest_metrics.step
				OR (excluded.step = latest_metrics.step AND excluded.timestamp > latest_metrics.timestamp)
				OR (excluded.step = latest_metrics.step AND excluded.timestamp = latest_metrics.timestamp AND excluded.value > latest_metrics.value)`), args...)
		if err != nil {
			return dbErr("updating latest metrics", err)
		}
	}
	return nil
}

// storedValue maps a metric value to its columns: NaN is stored as 0 with
// is_nan set (SQLite would turn a NaN into NULL); ±Inf are stored as they are.
func storedValue(v float64) (float64, bool) {
	if math.IsNaN(v) {
		return 0, true
	}
	return v, false
}

// later is tracking.Metric.Later on stored values, so that the batch's own
// choice agrees with the SQL upsert's (a NaN compares as its stored 0).
func later(a, b tracking.Metric) bool {
	av, _ := storedValue(a.Value)
	bv, _ := storedValue(b.Value)
	a.Value, b.Value = av, bv
	return a.Later(b)
}

// MetricHistory returns every value logged for key on the run, ordered by
// step then timestamp. p.MaxResults 0 returns them all, as MLflow does
// when get-history has no max_results.
func (s *Store) MetricHistory(ctx context.Context, runID, key string, p tracking.Page) ([]tracking.Metric, string, error) {
	offset, err := decodeToken(p.PageToken)
	if err != nil {
		return nil, "", err
	}
	if p.MaxResults < 0 {
		return nil, "", tracking.Errorf(tracking.InvalidParameterValue, "Invalid value %d for parameter 'max_results' supplied.", p.MaxResults)
	}
	var exists int
	if err := s.read.QueryRowContext(ctx, s.rebind("SELECT COUNT(*) FROM runs WHERE run_uuid = ?"), runID).Scan(&exists); err != nil {
		return nil, "", dbErr("reading run", err)
	}
	if exists == 0 {
		return nil, "", tracking.RunNotFound(runID)
	}
	q := `SELECT key, value, is_nan, timestamp, step, dataset_name, dataset_digest, model_id FROM metrics
		WHERE run_uuid = ? AND key = ? ORDER BY step, timestamp, value, is_nan`
	args := []any{runID, key}
	if p.MaxResults > 0 {
		q += " LIMIT ? OFFSET ?"
		args = append(args, p.MaxResults+1, offset)
	} else if offset > 0 {
		q += " LIMIT -1 OFFSET ?"
		if s.dialect == postgresDialect {
			q = strings.Replace(q, "LIMIT -1 ", "", 1)
		}
		args = append(args, offset)
	}
	var out []tracking.Metric
	err = s.eachRow(ctx, s.read, q, args, func(rows *sql.Rows) error {
		var m tracking.Metric
		var isNaN bool
		if err := rows.Scan(&m.Key, &m.Value, &isNaN, &m.Timestamp, &m.Step, &m.DatasetName, &m.DatasetDigest, &m.ModelID); err != nil {
			return err
		}
		if isNaN {
			m.Value = math.NaN()
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, "", dbErr("reading metric history", err)
	}
	next := ""
	if p.MaxResults > 0 { // 0: the whole history, one page
		out, next = cutPage(out, p.MaxResults, offset)
	}
	return out, next, nil
}

// decodeToken reads a page token; a token this store did not issue is
// InvalidParameterValue.
func decodeToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	off, err := search.DecodePageToken(tok)
	if err != nil {
		var te *tracking.Error
		if errors.As(err, &te) {
			return 0, err
		}
		return 0, tracking.Errorf(tracking.InvalidParameterValue, "Invalid page token, could not base64-decode or parse it: %v", err)
	}
	if off < 0 {
		return 0, tracking.Errorf(tracking.InvalidParameterValue, "Invalid page token: negative offset %d", off)
	}
	return off, nil
}

// LogInputs links datasets to a run. A dataset is stored once per
// experiment (by name and digest); linking it again only updates the
// input's tags.
func (s *Store) LogInputs(ctx context.Context, runID string, inputs []tracking.DatasetInput) error {
	for _, in := range inputs {
		if in.Dataset.Name == "" {
			return tracking.Errorf(tracking.InvalidParameterValue, "Missing value for required parameter 'datasets.dataset.name'. See the API docs for more information about request parameters.")
		}
		if in.Dataset.Digest == "" {
			return tracking.Errorf(tracking.InvalidParameterValue, "Missing value for required parameter 'datasets.dataset.digest'. See the API docs for more information about request parameters.")
		}
		for _, t := range in.Tags {
			if t.Key == "" {
				return tracking.Errorf(tracking.InvalidParameterValue, "Missing value for required parameter 'datasets.tags.key'. See the API docs for more information about request parameters.")
			}
		}
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockActiveRun(ctx, tx, runID); err != nil {
			return err
		}
		var exp int64
		if err := tx.QueryRowContext(ctx, s.rebind("SELECT experiment_id FROM runs WHERE run_uuid = ?"), runID).Scan(&exp); err != nil {
			return dbErr("reading run", err)
		}
		return s.linkInputs(ctx, tx, runID, exp, inputs)
	})
}

// linkInputs records each input's dataset in experiment exp once (by name
// and digest) and links the run to it with the input's tags. LogInputs and
// ImportRun both call it inside their transaction.
func (s *Store) linkInputs(ctx context.Context, tx *sql.Tx, runID string, exp int64, inputs []tracking.DatasetInput) error {
	for _, in := range inputs {
		d := in.Dataset
		// Another run of the experiment may record the same dataset
		// at the same moment: insert-or-keep, then read whichever won.
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, source_type, source, schema, profile)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (experiment_id, name, digest) DO NOTHING`),
			tracking.NewRunID(), exp, d.Name, d.Digest, d.SourceType, d.Source, d.Schema, d.Profile)
		if err != nil {
			return dbErr("recording dataset", err)
		}
		var dsID string
		err = tx.QueryRowContext(ctx, s.rebind("SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?"), exp, d.Name, d.Digest).Scan(&dsID)
		if err != nil {
			return dbErr("recording dataset", err)
		}
		var inID string
		err = tx.QueryRowContext(ctx, s.rebind("SELECT input_uuid FROM inputs WHERE run_uuid = ? AND dataset_uuid = ?"), runID, dsID).Scan(&inID)
		if errors.Is(err, sql.ErrNoRows) {
			inID = tracking.NewRunID()
			_, err = tx.ExecContext(ctx, s.rebind("INSERT INTO inputs (input_uuid, dataset_uuid, run_uuid) VALUES (?, ?, ?)"), inID, dsID, runID)
		}
		if err != nil {
			return dbErr("linking dataset", err)
		}
		for _, t := range dedupeTags(in.Tags) {
			_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO input_tags (input_uuid, key, value) VALUES (?, ?, ?)
				ON CONFLICT (input_uuid, key) DO UPDATE SET value = excluded.value`), inID, t.Key, t.Value)
			if err != nil {
				return dbErr("setting input tag", err)
			}
		}
	}
	return nil
}
