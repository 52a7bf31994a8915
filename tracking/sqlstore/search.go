package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/search"
)

// Translation of tracking/search's AST to SQL. Values are always bound
// parameters; table aliases, columns and operators come from the fixed
// tables below, never from the request.

// runAttrColumns maps canonical run attributes to columns of runs r.
var runAttrColumns = map[string]struct {
	col     string
	numeric bool
}{
	"run_id":          {"r.run_uuid", false},
	"run_name":        {"r.name", false},
	"status":          {"r.status", false},
	"user_id":         {"r.user_id", false},
	"artifact_uri":    {"r.artifact_uri", false},
	"lifecycle_stage": {"r.lifecycle_stage", false},
	"experiment_id":   {"r.experiment_id", true},
	"start_time":      {"r.start_time", true},
	"end_time":        {"r.end_time", true},
}

var experimentAttrColumns = map[string]struct {
	col     string
	numeric bool
}{
	"name":             {"e.name", false},
	"experiment_id":    {"e.experiment_id", true},
	"creation_time":    {"e.creation_time", true},
	"last_update_time": {"e.last_update_time", true},
	"lifecycle_stage":  {"e.lifecycle_stage", false},
}

var numericOps = map[string]string{"=": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}

// query accumulates one SELECT's clauses and their bound values, kept in
// the order the clauses appear in the text.
type query struct {
	s         *Store
	joins     []string
	joinArgs  []any
	where     []string
	whereArgs []any
	order     []string
	nextAlias int
}

func (q *query) alias(prefix string) string {
	q.nextAlias++
	return prefix + strconv.Itoa(q.nextAlias)
}

func badFilter(format string, args ...any) error {
	return tracking.Errorf(tracking.InvalidParameterValue, format, args...)
}

// numberCond is `col op ?` for a numeric comparison.
func (q *query) numberCond(col string, c search.Comparison) (string, []any, error) {
	op, ok := numericOps[c.Op]
	if !ok || !c.Numeric {
		return "", nil, badFilter("Invalid comparator '%s' for numeric attribute '%s'.", c.Op, c.Key)
	}
	return col + " " + op + " CAST(? AS DOUBLE PRECISION)", []any{c.Number}, nil
}

// stringCond is a string comparison of col: = != LIKE ILIKE IN NOT IN.
// LIKE is case-sensitive on both dialects (SQLite's LIKE is not, so it
// becomes GLOB); ILIKE is case-insensitive.
func (q *query) stringCond(col string, c search.Comparison) (string, []any, error) {
	if c.Numeric {
		return "", nil, badFilter("Expected a quoted string value for %s '%s'.", c.Entity, c.Key)
	}
	switch c.Op {
	case "=":
		return col + " = ?", []any{c.String}, nil
	case "!=":
		return col + " <> ?", []any{c.String}, nil
	case "LIKE":
		if q.s.dialect == sqliteDialect {
			return col + " GLOB ?", []any{likeToGlob(c.String)}, nil
		}
		// No escape character, as on SQLite and in tracking/search's
		// in-memory matching (PostgreSQL's default escape is \).
		return col + " LIKE ? ESCAPE ''", []any{c.String}, nil
	case "ILIKE":
		if q.s.dialect == sqliteDialect {
			return "LOWER(" + col + ") LIKE LOWER(?)", []any{c.String}, nil
		}
		return col + " ILIKE ? ESCAPE ''", []any{c.String}, nil
	case "IN", "NOT IN":
		if len(c.Strings) == 0 {
			if c.Op == "IN" {
				return "1 = 0", nil, nil
			}
			return "1 = 1", nil, nil
		}
		args := make([]any, len(c.Strings))
		for i, v := range c.Strings {
			args[i] = v
		}
		return col + " " + c.Op + " (" + placeholders(len(args)) + ")", args, nil
	}
	return "", nil, badFilter("Invalid comparator '%s' for string comparison of %s '%s'.", c.Op, c.Entity, c.Key)
}

// likeToGlob turns a SQL LIKE pattern into an equivalent SQLite GLOB
// pattern, which is case-sensitive: % and _ become * and ?, and GLOB's own
// special characters are bracketed to stand for themselves.
func likeToGlob(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch r {
		case '%':
			b.WriteByte('*')
		case '_':
			b.WriteByte('?')
		case '*', '?', '[':
			b.WriteByte('[')
			b.WriteRune(r)
			b.WriteByte(']')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (q *query) addWhere(cond string, args []any) {
	q.where = append(q.where, cond)
	q.whereArgs = append(q.whereArgs, args...)
}

// runFilter adds one run-search clause.
func (q *query) runFilter(c search.Comparison) error {
	switch c.Entity {
	case search.Metric:
		a := q.alias("fm")
		q.joins = append(q.joins, "JOIN latest_metrics "+a+" ON "+a+".run_uuid = r.run_uuid AND "+a+".key = ?")
		q.joinArgs = append(q.joinArgs, c.Key)
		op, ok := numericOps[c.Op]
		if !ok || !c.Numeric {
			return badFilter("Invalid comparator '%s' for metric '%s'.", c.Op, c.Key)
		}
		// A NaN is stored as 0 with is_nan set: it equals nothing and
		// differs from everything, as in IEEE arithmetic.
		if op == "<>" {
			q.addWhere("("+a+".is_nan OR "+a+".value <> ?)", []any{c.Number})
		} else {
			q.addWhere("(NOT "+a+".is_nan AND "+a+".value "+op+" ?)", []any{c.Number})
		}
		return nil
	case search.Param, search.Tag:
		table, prefix := "params", "fp"
		if c.Entity == search.Tag {
			table, prefix = "tags", "ft"
		}
		a := q.alias(prefix)
		q.joins = append(q.joins, "JOIN "+table+" "+a+" ON "+a+".run_uuid = r.run_uuid AND "+a+".key = ?")
		q.joinArgs = append(q.joinArgs, c.Key)
		cond, args, err := q.stringCond(a+".value", c)
		if err != nil {
			return err
		}
		q.addWhere(cond, args)
		return nil
	case search.Attribute:
		col, ok := runAttrColumns[c.Key]
		if !ok {
			return badFilter("Invalid attribute key '%s' specified.", c.Key)
		}
		var cond string
		var args []any
		var err error
		if col.numeric {
			cond, args, err = q.numberCond(col.col, c)
		} else {
			cond, args, err = q.stringCond(col.col, c)
		}
		if err != nil {
			return err
		}
		q.addWhere(cond, args)
		return nil
	case search.Dataset:
		var col, join string
		switch c.Key {
		case "name":
			col = "d.name"
		case "digest":
			col = "d.digest"
		case "context":
			col = "it.value"
			join = " JOIN input_tags it ON it.input_uuid = i.input_uuid AND it.key = 'mlflow.data.context'"
		default:
			return badFilter("Invalid dataset key '%s' specified.", c.Key)
		}
		cond, args, err := q.stringCond(col, c)
		if err != nil {
			return err
		}
		q.addWhere("EXISTS (SELECT 1 FROM inputs i JOIN datasets d ON d.dataset_uuid = i.dataset_uuid"+join+
			" WHERE i.run_uuid = r.run_uuid AND "+cond+")", args)
		return nil
	}
	return badFilter("Invalid entity type '%s'.", c.Entity)
}

func dirSQL(asc bool) string {
	if asc {
		return " ASC"
	}
	return " DESC"
}

// orderBy adds order's clauses, then MLflow's tie-breakers — newest
// start first, then run id — unless order already sorts by them, so that
// pages never overlap or skip a run.
func (q *query) orderBy(order []search.OrderBy) error {
	for _, o := range order {
		if err := q.runOrder(o); err != nil {
			return err
		}
	}
	q.order = append(q.order, tieBreakers(order, "start_time", "r.start_time", "run_id", "r.run_uuid")...)
	return nil
}

// tieBreakers are the clauses MLflow orders by after the requested ones,
// for runs and experiments alike: newest first by timeKey's column, then
// by id ascending, each unless the request already orders by that
// attribute.
func tieBreakers(order []search.OrderBy, timeKey, timeCol, idKey, idCol string) []string {
	byTime, byID := false, false
	for _, o := range order {
		if o.Entity == search.Attribute {
			byTime = byTime || o.Key == timeKey
			byID = byID || o.Key == idKey
		}
	}
	var out []string
	if !byTime {
		out = append(out, timeCol+" DESC")
	}
	if !byID {
		out = append(out, idCol+" ASC")
	}
	return out
}

// runOrder adds one order_by clause. Missing values sort last in either
// direction, then NaN metrics, as MLflow's SQL store orders them.
func (q *query) runOrder(o search.OrderBy) error {
	switch o.Entity {
	case search.Metric:
		a := q.alias("om")
		q.joins = append(q.joins, "LEFT JOIN latest_metrics "+a+" ON "+a+".run_uuid = r.run_uuid AND "+a+".key = ?")
		q.joinArgs = append(q.joinArgs, o.Key)
		q.order = append(q.order, "CASE WHEN "+a+".run_uuid IS NULL THEN 2 WHEN "+a+".is_nan THEN 1 ELSE 0 END", a+".value"+dirSQL(o.Ascending))
	case search.Param, search.Tag:
		table, prefix := "params", "op"
		if o.Entity == search.Tag {
			table, prefix = "tags", "ot"
		}
		a := q.alias(prefix)
		q.joins = append(q.joins, "LEFT JOIN "+table+" "+a+" ON "+a+".run_uuid = r.run_uuid AND "+a+".key = ?")
		q.joinArgs = append(q.joinArgs, o.Key)
		q.order = append(q.order, "CASE WHEN "+a+".run_uuid IS NULL THEN 1 ELSE 0 END", a+".value"+dirSQL(o.Ascending))
	case search.Attribute:
		col, ok := runAttrColumns[o.Key]
		if !ok {
			return badFilter("Invalid order_by attribute key '%s' specified.", o.Key)
		}
		q.order = append(q.order, "CASE WHEN "+col.col+" IS NULL THEN 1 ELSE 0 END", col.col+dirSQL(o.Ascending))
	default:
		return badFilter("Invalid order_by entity type '%s'.", o.Entity)
	}
	return nil
}

// pageParams is a search's page: max_results with MLflow's default and
// limit applied, and the offset its page token names.
func pageParams(maxResults int, token string) (limit, offset int, err error) {
	if limit, err = pageSize(maxResults); err != nil {
		return 0, 0, err
	}
	if offset, err = decodeToken(token); err != nil {
		return 0, 0, err
	}
	return limit, offset, nil
}

// cutPage cuts the limit+1 rows a search reads down to its page and
// names the next page, if the extra row shows there is one.
func cutPage[T any](rows []T, limit, offset int) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	return rows[:limit], search.EncodePageToken(offset + limit)
}

// pageSize applies MLflow's default and limit to max_results.
func pageSize(n int) (int, error) {
	switch {
	case n == 0:
		return tracking.DefaultMaxResults, nil
	case n < 0:
		return 0, tracking.Errorf(tracking.InvalidParameterValue,
			"Invalid value for request parameter max_results. It must be a positive integer, but got value %d", n)
	case n > tracking.MaxResultsLimit:
		return 0, tracking.Errorf(tracking.InvalidParameterValue,
			"Invalid value for request parameter max_results. It must be at most %d, but got value %d", tracking.MaxResultsLimit, n)
	}
	return n, nil
}

// asInvalid turns a parse error into InvalidParameterValue unless it
// already carries a code.
func asInvalid(err error) error {
	var te *tracking.Error
	if errors.As(err, &te) {
		return err
	}
	return tracking.Errorf(tracking.InvalidParameterValue, "%s", err.Error())
}

func viewCond(col string, v tracking.ViewType) (string, []any) {
	switch v {
	case tracking.All:
		return "", nil
	case tracking.DeletedOnly:
		return col + " = ?", []any{tracking.StageDeleted}
	}
	return col + " = ?", []any{tracking.StageActive}
}

// SearchRuns finds runs of the given experiments matching MLflow's filter,
// ordered by order_by then start_time DESC and run_id, one page at a time.
func (s *Store) SearchRuns(ctx context.Context, rq tracking.RunQuery) ([]tracking.Run, string, error) {
	limit, offset, err := pageParams(rq.MaxResults, rq.PageToken)
	if err != nil {
		return nil, "", err
	}
	filter, err := search.ParseRunFilter(rq.Filter)
	if err != nil {
		return nil, "", asInvalid(err)
	}
	order, err := search.ParseRunOrderBy(rq.OrderBy)
	if err != nil {
		return nil, "", asInvalid(err)
	}
	var exps []any
	for _, id := range rq.ExperimentIDs {
		if n, ok := experimentID(id); ok {
			exps = append(exps, n)
		}
	}
	if len(exps) == 0 {
		return nil, "", nil
	}
	q := &query{s: s}
	q.addWhere("r.experiment_id IN ("+placeholders(len(exps))+")", exps)
	if cond, args := viewCond("r.lifecycle_stage", rq.ViewType); cond != "" {
		q.addWhere(cond, args)
	}
	for _, c := range filter {
		if err := q.runFilter(c); err != nil {
			return nil, "", err
		}
	}
	if err := q.orderBy(order); err != nil {
		return nil, "", err
	}
	rest := strings.Join(q.joins, " ") + " WHERE " + strings.Join(q.where, " AND ") +
		" ORDER BY " + strings.Join(q.order, ", ") + " LIMIT ? OFFSET ?"
	args := append(append(append([]any{}, q.joinArgs...), q.whereArgs...), limit+1, offset)

	var runs []tracking.Run
	if s.dialect == sqliteDialect {
		if len(order) == 0 && len(filter) > 0 {
			runs, err = s.searchNewest(ctx, q, exps, rq.ViewType, limit, offset)
		} else if bound, ok := metricOrderBound(filter, order); ok {
			runs, err = s.searchByMetric(ctx, filter, order, bound, exps, rq.ViewType, limit, offset)
		}
		if err != nil {
			return nil, "", err
		}
	}
	if runs == nil {
		if runs, err = s.queryRuns(ctx, "SELECT "+runColumns+" FROM runs r "+rest, args); err != nil {
			return nil, "", err
		}
	}
	runs, next := cutPage(runs, limit, offset)
	if err := s.loadRunData(ctx, s.read, runs); err != nil {
		return nil, "", err
	}
	return runs, next, nil
}

// searchNewest answers a filtered search in the default order (newest
// first) on SQLite by walking the experiment's runs newest first and
// stopping once the page is full. SQLite's planner would instead start
// from the most selective filter's index and sort every match, which over
// 100,000 runs costs ten times more when matches are common.
//
// The walk covers a window of the newest runs (ten times the rows the page
// needs): runs is nil when the window holds too few matches, and the
// caller then runs the planner's query, which is quick exactly when
// matches are rare. The window comes first in a CROSS JOIN, which SQLite
// never reorders, so rows come out in the window's order and LIMIT stops
// the walk early; they are sorted again below all the same.
func (s *Store) searchNewest(ctx context.Context, q *query, exps []any, view tracking.ViewType, limit, offset int) ([]tracking.Run, error) {
	need := offset + limit + 1
	window := searchWindow(need)
	cond, viewArgs := viewCond("r0.lifecycle_stage", view)
	if cond != "" {
		cond = " AND " + cond
	}
	joins := make([]string, len(q.joins))
	for i, j := range q.joins {
		// "JOIN x ON ..." -> "CROSS JOIN x ON ...": keep the loop order.
		joins[i] = "CROSS " + j
	}
	text := "SELECT " + runColumns + " FROM (SELECT r0.run_uuid AS wid FROM runs r0 WHERE r0.experiment_id IN (" + placeholders(len(exps)) + ")" + cond +
		" ORDER BY r0.start_time DESC, r0.run_uuid ASC LIMIT ?) w CROSS JOIN runs r ON r.run_uuid = w.wid " + strings.Join(joins, " ") +
		" WHERE " + strings.Join(q.where, " AND ") + " LIMIT ? OFFSET ?"
	args := append(append([]any{}, exps...), viewArgs...)
	args = append(args, window)
	args = append(append(args, q.joinArgs...), q.whereArgs...)
	args = append(args, limit+1, offset)
	runs, err := s.queryRuns(ctx, text, args)
	if err != nil || len(runs) <= limit {
		return nil, err
	}
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i].Info, runs[j].Info
		if a.StartTime != b.StartTime {
			return a.StartTime > b.StartTime
		}
		return a.RunID < b.RunID
	})
	return runs, nil
}

// The fast paths walk a window of this many index entries: ten times the
// rows a page needs, at least 1000. (Variables so tests can shrink the
// windows and exercise the fallbacks.)
var (
	searchWindowMin    = 1000
	searchWindowFactor = 10
)

func searchWindow(need int) int { return max(searchWindowMin, searchWindowFactor*need) }

// metricOrderBound finds, for a search whose first order_by is a metric,
// a filter clause comparing that same metric with = < <= > or >=. Such a
// clause excludes runs without the metric and NaN values, so every match
// has a number to sort by and the page can be read off the metric's
// (key, value) index in order.
func metricOrderBound(filter search.Filter, order []search.OrderBy) (search.Comparison, bool) {
	if len(order) == 0 || order[0].Entity != search.Metric {
		return search.Comparison{}, false
	}
	for _, c := range filter {
		if c.Entity == search.Metric && c.Key == order[0].Key && c.Numeric {
			switch c.Op {
			case "=", "<", "<=", ">", ">=":
				return c, true
			}
		}
	}
	return search.Comparison{}, false
}

// searchByMetric answers, on SQLite, a search ordered by a metric that the
// filter also bounds (metricOrderBound): it walks a window of that
// metric's index entries in the order asked, joins each to its run and
// the other filter terms (CROSS JOIN keeps that loop order), and sorts
// only what the window yields. The planner would instead start from the
// most selective filter and sort every match.
//
// The answer is exact when the window holds every entry of the range, or
// when the last row the page needs has a value strictly before the
// window's last value (so every run that could sort before it, ties
// included, was in the window). Otherwise runs is nil and the caller runs
// the planner's query.
func (s *Store) searchByMetric(ctx context.Context, filter search.Filter, order []search.OrderBy, bound search.Comparison,
	exps []any, view tracking.ViewType, limit, offset int) ([]tracking.Run, error) {
	need := offset + limit + 1
	window := searchWindow(need)
	asc := order[0].Ascending
	dir := dirSQL(asc)
	q := &query{s: s}
	q.addWhere("r.experiment_id IN ("+placeholders(len(exps))+")", exps)
	if cond, args := viewCond("r.lifecycle_stage", view); cond != "" {
		q.addWhere(cond, args)
	}
	for _, c := range filter {
		if err := q.runFilter(c); err != nil {
			return nil, err
		}
	}
	q.order = append(q.order, "w.wv"+dir)
	if err := q.orderBy(order[1:]); err != nil {
		return nil, err
	}
	joins := make([]string, len(q.joins))
	for i, j := range q.joins {
		if strings.HasPrefix(j, "JOIN ") {
			j = "CROSS " + j // keep the loop order; LEFT JOINs (order terms) stay
		}
		joins[i] = j
	}
	rangeSQL := "FROM latest_metrics lm WHERE lm.key = ? AND NOT lm.is_nan AND lm.value " + numericOps[bound.Op] + " ?"
	rangeArgs := []any{bound.Key, bound.Number}
	text := "SELECT " + runColumns + ", w.wv FROM (SELECT lm.run_uuid AS wid, lm.value AS wv " + rangeSQL +
		" ORDER BY lm.value" + dir + " LIMIT ?) w CROSS JOIN runs r ON r.run_uuid = w.wid " + strings.Join(joins, " ") +
		" WHERE " + strings.Join(q.where, " AND ") + " ORDER BY " + strings.Join(q.order, ", ") + " LIMIT ?"
	args := append(append([]any{}, rangeArgs...), window)
	args = append(append(append(args, q.joinArgs...), q.whereArgs...), need)

	var runs []tracking.Run
	var values []float64
	err := s.eachRow(ctx, s.read, text, args, func(rows *sql.Rows) error {
		var v float64
		ri, err := scanRunInfo(scanPlus{rows, []any{&v}})
		if err != nil {
			return err
		}
		runs = append(runs, tracking.Run{Info: ri})
		values = append(values, v)
		return nil
	})
	if err != nil {
		return nil, dbErr("searching runs", err)
	}
	// The window's last value; none when the range is smaller than it.
	var last float64
	err = s.read.QueryRowContext(ctx, "SELECT lm.value "+rangeSQL+" ORDER BY lm.value"+dir+" LIMIT 1 OFFSET ?",
		append(append([]any{}, rangeArgs...), window-1)...).Scan(&last)
	whole := errors.Is(err, sql.ErrNoRows)
	if err != nil && !whole {
		return nil, dbErr("searching runs", err)
	}
	switch {
	case whole:
	case len(runs) < need:
		return nil, nil
	case asc && values[need-1] >= last, !asc && values[need-1] <= last:
		return nil, nil
	}
	if offset >= len(runs) {
		return []tracking.Run{}, nil
	}
	return runs[offset:], nil
}

// scanPlus scans a row into a destination list and extra destinations
// after it.
type scanPlus struct {
	rows  *sql.Rows
	extra []any
}

func (p scanPlus) Scan(dest ...any) error { return p.rows.Scan(append(dest, p.extra...)...) }

func (s *Store) queryRuns(ctx context.Context, text string, args []any) ([]tracking.Run, error) {
	var runs []tracking.Run
	err := s.eachRow(ctx, s.read, text, args, func(rows *sql.Rows) error {
		ri, err := scanRunInfo(rows)
		if err != nil {
			return err
		}
		runs = append(runs, tracking.Run{Info: ri})
		return nil
	})
	if err != nil {
		return nil, dbErr("searching runs", err)
	}
	return runs, nil
}

// SearchExperiments finds experiments by MLflow's experiment filter
// (name, creation_time, last_update_time, tags.<key>), ordered by order_by
// then creation_time DESC and experiment_id.
func (s *Store) SearchExperiments(ctx context.Context, eq tracking.ExperimentQuery) ([]tracking.Experiment, string, error) {
	limit, offset, err := pageParams(eq.MaxResults, eq.PageToken)
	if err != nil {
		return nil, "", err
	}
	filter, err := search.ParseExperimentFilter(eq.Filter)
	if err != nil {
		return nil, "", asInvalid(err)
	}
	order, err := search.ParseExperimentOrderBy(eq.OrderBy)
	if err != nil {
		return nil, "", asInvalid(err)
	}
	q := &query{s: s}
	if cond, args := viewCond("e.lifecycle_stage", eq.ViewType); cond != "" {
		q.addWhere(cond, args)
	}
	for _, c := range filter {
		switch c.Entity {
		case search.Attribute:
			col, ok := experimentAttrColumns[c.Key]
			if !ok {
				return nil, "", badFilter("Invalid attribute key '%s' specified.", c.Key)
			}
			var cond string
			var args []any
			if col.numeric {
				cond, args, err = q.numberCond(col.col, c)
			} else {
				cond, args, err = q.stringCond(col.col, c)
			}
			if err != nil {
				return nil, "", err
			}
			q.addWhere(cond, args)
		case search.Tag:
			a := q.alias("ft")
			q.joins = append(q.joins, "JOIN experiment_tags "+a+" ON "+a+".experiment_id = e.experiment_id AND "+a+".key = ?")
			q.joinArgs = append(q.joinArgs, c.Key)
			cond, args, err := q.stringCond(a+".value", c)
			if err != nil {
				return nil, "", err
			}
			q.addWhere(cond, args)
		default:
			return nil, "", badFilter("Invalid entity type '%s'. Valid values are ['attribute', 'tag']", c.Entity)
		}
	}
	for _, o := range order {
		col, ok := experimentAttrColumns[o.Key]
		if o.Entity != search.Attribute || !ok {
			return nil, "", badFilter("Invalid order_by clause '%s'.", o.Key)
		}
		q.order = append(q.order, col.col+dirSQL(o.Ascending))
	}
	q.order = append(q.order, tieBreakers(order, "creation_time", "e.creation_time", "experiment_id", "e.experiment_id")...)
	where := ""
	if len(q.where) > 0 {
		where = " WHERE " + strings.Join(q.where, " AND ")
	}
	cols := "e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time"
	text := "SELECT " + cols + " FROM experiments e " + strings.Join(q.joins, " ") + where +
		" ORDER BY " + strings.Join(q.order, ", ") + " LIMIT ? OFFSET ?"
	args := append(append(append([]any{}, q.joinArgs...), q.whereArgs...), limit+1, offset)
	var exps []tracking.Experiment
	err = s.eachRow(ctx, s.read, text, args, func(rows *sql.Rows) error {
		e, err := scanExperiment(rows)
		if err != nil {
			return err
		}
		exps = append(exps, e)
		return nil
	})
	if err != nil {
		return nil, "", dbErr("searching experiments", err)
	}
	exps, next := cutPage(exps, limit, offset)
	if err := s.loadExperimentTags(ctx, s.read, exps); err != nil {
		return nil, "", err
	}
	return exps, next, nil
}
