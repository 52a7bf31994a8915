package server

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mlship/mlship/internal/pyjson"
	"github.com/mlship/mlship/tracking"
)

var runStatusEnum = []string{"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"}

// runIDFields are every run request's id fields: run_id and the legacy
// run_uuid.
var runIDFields = []field{{name: "run_id", kind: kString}, {name: "run_uuid", kind: kString}}

var runIDRule = rule{name: "run_id", checks: []check{required, isString}}

func withRunID(fs ...field) []field { return append(slices.Clone(runIDFields), fs...) }

var metricFields = []field{{name: "key", kind: kString}, {name: "value", kind: kDouble},
	{name: "timestamp", kind: kInt64}, {name: "step", kind: kInt64},
	{name: "model_id", kind: kString}, {name: "dataset_name", kind: kString},
	{name: "dataset_digest", kind: kString}, {name: "run_id", kind: kString}}

var (
	createRunSpec = &spec{
		fields: []field{{name: "experiment_id", kind: kString}, {name: "user_id", kind: kString},
			{name: "run_name", kind: kString}, {name: "start_time", kind: kInt64},
			{name: "tags", kind: kMessages, sub: tagFields}},
		schema: []rule{{name: "experiment_id", checks: []check{isString}},
			{name: "start_time", checks: []check{isIntlike}},
			{name: "run_name", checks: []check{isString}}},
	}
	runIDSpec     = &spec{fields: runIDFields, schema: []rule{runIDRule}}
	updateRunSpec = &spec{
		fields: withRunID(field{name: "status", kind: kEnum, enum: runStatusEnum},
			field{name: "end_time", kind: kInt64}, field{name: "run_name", kind: kString}),
		schema: []rule{runIDRule, {name: "end_time", checks: []check{isIntlike}},
			{name: "status", checks: []check{isString}}, {name: "run_name", checks: []check{isString}}},
	}
	searchRunsSpec = &spec{
		fields: []field{{name: "experiment_ids", kind: kStrings}, {name: "filter", kind: kString},
			{name: "run_view_type", kind: kEnum, enum: viewTypeEnum}, {name: "max_results", kind: kInt64},
			{name: "order_by", kind: kStrings}, {name: "page_token", kind: kString}},
		schema: []rule{{name: "experiment_ids", checks: []check{isArray}},
			{name: "filter", checks: []check{isString}},
			{name: "max_results", checks: []check{isIntlike}, extra: atMost(tracking.MaxResultsLimit)},
			{name: "order_by", checks: []check{isArray, itemsString}}},
	}
	logMetricSpec = &spec{
		fields: withRunID(metricFields[:7]...),
		schema: []rule{runIDRule, {name: "key", checks: []check{required, isString}},
			{name: "value", checks: []check{required, isFloatlike}},
			{name: "timestamp", checks: []check{isIntlike, required}},
			{name: "step", checks: []check{isIntlike}},
			{name: "model_id", checks: []check{isString}},
			{name: "dataset_name", checks: []check{isString}},
			{name: "dataset_digest", checks: []check{isString}}},
	}
	keyValueSpec = &spec{ // log-parameter, set-tag
		fields: withRunID(tagFields...),
		schema: []rule{runIDRule, {name: "key", checks: []check{required, isString}},
			{name: "value", checks: []check{isString}}},
	}
	deleteTagSpec = &spec{
		fields: withRunID(field{name: "key", kind: kString}),
		schema: []rule{runIDRule, {name: "key", checks: []check{required, isString}}},
	}
	logBatchSpec = &spec{
		fields: withRunID(field{name: "metrics", kind: kMessages, sub: metricFields},
			field{name: "params", kind: kMessages, sub: tagFields},
			field{name: "tags", kind: kMessages, sub: tagFields}),
		schema: []rule{{name: "run_id", checks: []check{isString, required}},
			{name: "metrics", checks: []check{isArray}, extra: itemsHave("metrics", "key", "value", "timestamp")},
			{name: "params", checks: []check{isArray}, extra: itemsHave("params", "key")},
			{name: "tags", checks: []check{isArray}, extra: itemsHave("tags", "key")}},
	}
	logModelSpec = &spec{
		fields: withRunID(field{name: "model_json", kind: kString}),
		schema: []rule{{name: "run_id", checks: []check{isString, required}},
			{name: "model_json", checks: []check{isString, required}}},
	}
	logInputsSpec = &spec{
		fields: withRunID(
			field{name: "datasets", kind: kMessages, sub: []field{
				{name: "tags", kind: kMessages, sub: tagFields},
				{name: "dataset", kind: kMessage, sub: []field{{name: "name", kind: kString}, {name: "digest", kind: kString},
					{name: "source_type", kind: kString}, {name: "source", kind: kString},
					{name: "schema", kind: kString}, {name: "profile", kind: kString}}}}},
			field{name: "models", kind: kMessages, sub: []field{{name: "model_id", kind: kString}}}),
		schema: []rule{runIDRule, {name: "datasets", checks: []check{isArray}}, {name: "models", checks: []check{isArray}}},
	}
	metricHistorySpec = &spec{
		fields: withRunID(field{name: "metric_key", kind: kString}, field{name: "page_token", kind: kString},
			field{name: "max_results", kind: kInt64}),
		schema: []rule{{name: "run_id", checks: []check{isString, required}},
			{name: "metric_key", checks: []check{isString, required}},
			{name: "page_token", checks: []check{isString}}},
	}
)

// atMost is MLflow's lambda x: _assert_less_than_or_equal(int(x), n): a
// bare AssertionError, reported as an invalid value.
func atMost(n int64) func(any) string {
	return func(v any) string {
		x, ok := toInt64(v)
		if !ok {
			if s, isStr := v.(string); isStr {
				x, ok = toInt64(strings.TrimSpace(s))
			}
		}
		if ok && x > n {
			return fmt.Sprintf("Invalid value %s for parameter 'max_results' supplied. Hint: Value was of type '%s'.", pyStr(v), pyType(v))
		}
		return ""
	}
}

// itemsHave is log-batch's check that every item of a list names its
// required fields.
func itemsHave(list string, names ...string) func(any) string {
	return func(v any) string {
		l, _ := v.([]any)
		for i, x := range l {
			m, ok := x.(map[string]any)
			if !ok {
				return fmt.Sprintf("Invalid value %s for parameter '%s[%d]' supplied. Hint: Value was of type '%s'.", pyStr(x), list, i, pyType(x))
			}
			for _, name := range names {
				if !passes(required, m[name]) {
					return fmt.Sprintf("Missing value for required parameter '%s[%d].%s'.", list, i, name)
				}
			}
		}
		return ""
	}
}

type runResponse struct {
	Run wireRun `json:"run"`
}

func (s *Server) createRun(c echo.Context) error {
	r, err := decode(c, createRunSpec)
	if err != nil {
		return err
	}
	start, _ := r.int64("start_time")
	run, err := s.store.CreateRun(c.Request().Context(), tracking.CreateRun{
		ExperimentID: r.str("experiment_id"),
		UserID:       r.str("user_id"),
		RunName:      r.str("run_name"),
		StartTime:    start,
		Tags:         tagsOf(r.objects("tags")),
	})
	if err != nil {
		return err
	}
	return writeJSON(c, runResponse{toWireRun(run)})
}

func (s *Server) getRun(c echo.Context) error {
	r, err := decode(c, runIDSpec)
	if err != nil {
		return err
	}
	run, err := s.store.GetRun(c.Request().Context(), r.runID())
	if err != nil {
		return err
	}
	return writeJSON(c, runResponse{toWireRun(run)})
}

func (s *Server) updateRun(c echo.Context) error {
	r, err := decode(c, updateRunSpec)
	if err != nil {
		return err
	}
	var u tracking.UpdateRun
	if r.has("status") {
		if n, ok := enumValue(updateRunSpec.fields[2], r.raw["status"]); ok {
			u.Status = tracking.RunStatus(runStatusEnum[n-1])
		}
	}
	u.EndTime, _ = r.int64("end_time")
	u.RunName = r.str("run_name")
	info, err := s.store.UpdateRun(c.Request().Context(), r.runID(), u)
	if err != nil {
		return err
	}
	return writeJSON(c, struct {
		RunInfo wireRunInfo `json:"run_info"`
	}{toWireRunInfo(info)})
}

func (s *Server) deleteRun(c echo.Context) error {
	r, err := decode(c, runIDSpec)
	if err != nil {
		return err
	}
	if err := s.store.DeleteRun(c.Request().Context(), r.runID()); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

func (s *Server) restoreRun(c echo.Context) error {
	r, err := decode(c, runIDSpec)
	if err != nil {
		return err
	}
	if err := s.store.RestoreRun(c.Request().Context(), r.runID()); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

func (s *Server) searchRuns(c echo.Context) error {
	r, err := decode(c, searchRunsSpec)
	if err != nil {
		return err
	}
	q := tracking.RunQuery{ExperimentIDs: r.strings("experiment_ids"), Filter: r.str("filter"),
		OrderBy: r.strings("order_by"), ViewType: tracking.ActiveOnly}
	if r.has("run_view_type") {
		if n, ok := enumValue(searchRunsSpec.fields[2], r.raw["run_view_type"]); ok {
			q.ViewType = tracking.ViewType(n)
		}
	}
	if q.Page, err = page(r); err != nil {
		return err
	}
	runs, token, err := s.store.SearchRuns(c.Request().Context(), q)
	if err != nil {
		return err
	}
	resp := struct {
		Runs          []wireRun `json:"runs,omitempty"`
		NextPageToken string    `json:"next_page_token,omitempty"`
	}{NextPageToken: token}
	for i := range runs {
		resp.Runs = append(resp.Runs, toWireRun(&runs[i]))
	}
	return writeJSON(c, resp)
}

func (s *Server) logMetric(c echo.Context) error {
	r, err := decode(c, logMetricSpec)
	if err != nil {
		return err
	}
	m := tracking.Metric{Key: r.str("key"), Value: r.float("value"),
		ModelID: r.str("model_id"), DatasetName: r.str("dataset_name"), DatasetDigest: r.str("dataset_digest")}
	m.Timestamp, _ = r.int64("timestamp")
	m.Step, _ = r.int64("step")
	if err := s.store.LogBatch(c.Request().Context(), r.runID(), []tracking.Metric{m}, nil, nil); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

func (s *Server) logParam(c echo.Context) error {
	r, err := decode(c, keyValueSpec)
	if err != nil {
		return err
	}
	p := tracking.Param{Key: r.str("key"), Value: r.str("value")}
	if err := s.store.LogBatch(c.Request().Context(), r.runID(), nil, []tracking.Param{p}, nil); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

func (s *Server) setTag(c echo.Context) error {
	r, err := decode(c, keyValueSpec)
	if err != nil {
		return err
	}
	t := tracking.Tag{Key: r.str("key"), Value: r.str("value")}
	if err := s.store.LogBatch(c.Request().Context(), r.runID(), nil, nil, []tracking.Tag{t}); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

func (s *Server) deleteTag(c echo.Context) error {
	r, err := decode(c, deleteTagSpec)
	if err != nil {
		return err
	}
	if err := s.store.DeleteTag(c.Request().Context(), r.runID(), r.str("key")); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

// maxBatchRequestBytes is MLflow's MAX_BATCH_LOG_REQUEST_SIZE.
const maxBatchRequestBytes = 1_000_000

func (s *Server) logBatch(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if len(body) > maxBatchRequestBytes {
		return invalidParam("Batched logging API requests must be at most %d bytes, got a request of size %d.", maxBatchRequestBytes, len(body))
	}
	r, err := validate(parseBody(body), logBatchSpec)
	if err != nil {
		return err
	}
	if err := badBatchItem(r); err != nil {
		return err
	}
	items := r.objects("metrics")
	metrics := make([]tracking.Metric, len(items))
	for i, m := range items {
		v, ok := toFloat(m["value"])
		if !ok {
			return invalidParam("Invalid value %s for parameter 'metrics[%d].value' supplied. Hint: Value was of type '%s'.%s", pyStr(m["value"]), i, pyType(m["value"]), apiDocsHint)
		}
		ts, _ := toInt64(m["timestamp"])
		step, _ := toInt64(m["step"])
		metrics[i] = tracking.Metric{Key: objStr(m, "key"), Value: v, Timestamp: ts, Step: step,
			DatasetName: objStr(m, "dataset_name"), DatasetDigest: objStr(m, "dataset_digest"), ModelID: objStr(m, "model_id")}
	}
	var params []tracking.Param
	for _, t := range tagsOf(r.objects("params")) {
		params = append(params, tracking.Param(t))
	}
	if err := s.store.LogBatch(c.Request().Context(), r.runID(), metrics, params, tagsOf(r.objects("tags"))); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

// badBatchItem refuses a log-batch whose metrics, params or tags hold an
// item that does not parse (a value that is not a number, a step that is
// not an integer, a param value that is not a string), naming the first
// such field. MLflow's handler swallows the parse error and logs whatever
// protobuf had filled in before it (the bad field zero, later fields and
// lists dropped, depending on the JSON's key order); refusing the batch
// whole keeps a client from losing values without being told.
func badBatchItem(r *request) error {
	for _, f := range logBatchSpec.fields {
		if f.kind != kMessages || !r.bad[f.name] {
			continue
		}
		items, _ := r.raw[f.name].([]any)
		for i, item := range items {
			m, _ := item.(map[string]any)
			for _, sf := range f.sub {
				if v, ok := m[sf.name]; ok && !parses(sf, v) {
					return invalidParam("Invalid value %s for parameter '%s[%d].%s' supplied. Hint: Value was of type '%s'.%s",
						pyStr(v), f.name, i, sf.name, pyType(v), apiDocsHint)
				}
			}
		}
	}
	return nil
}

// logModelHistoryTag is the run tag MLflow appends each logged model to.
const logModelHistoryTag = "mlflow.log-model.history"

func (s *Server) logModel(c echo.Context) error {
	r, err := decode(c, logModelSpec)
	if err != nil {
		return err
	}
	raw := r.str("model_json")
	v, ok := decodeJSON([]byte(raw))
	model, isObj := v.(map[string]any)
	if !ok || !isObj {
		return invalidParam("Malformed model info. \n %s \n is not a valid JSON.", raw)
	}
	var missing []string
	for _, k := range []string{"artifact_path", "flavors", "run_id", "utc_time_created"} {
		if _, ok := model[k]; !ok {
			missing = append(missing, pyQuote(k))
		}
	}
	if len(missing) > 0 {
		return invalidParam("Model json is missing mandatory fields: {%s}", strings.Join(missing, ", "))
	}
	ctx := c.Request().Context()
	s.logModelMu.Lock()
	defer s.logModelMu.Unlock()
	run, err := s.store.GetRun(ctx, r.runID())
	if err != nil {
		return err
	}
	var history []any
	if prev, ok := run.Tag(logModelHistoryTag); ok {
		if pv, ok := decodeJSON([]byte(prev)); ok {
			history, _ = pv.([]any)
		}
	}
	history = append(history, model)
	value := string(pyjson.AppendValue(nil, history))
	if err := s.store.LogBatch(ctx, run.Info.RunID, nil, nil, []tracking.Tag{{Key: logModelHistoryTag, Value: value}}); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

func (s *Server) logInputs(c echo.Context) error {
	r, err := decode(c, logInputsSpec)
	if err != nil {
		return err
	}
	var inputs []tracking.DatasetInput
	for _, m := range r.objects("datasets") {
		d, _ := m["dataset"].(map[string]any)
		inputs = append(inputs, tracking.DatasetInput{
			Tags: tagsOf(objectList(m["tags"])),
			Dataset: tracking.Dataset{Name: objStr(d, "name"), Digest: objStr(d, "digest"),
				SourceType: objStr(d, "source_type"), Source: objStr(d, "source"),
				Schema: objStr(d, "schema"), Profile: objStr(d, "profile")},
		})
	}
	if len(inputs) > 0 {
		if err := s.store.LogInputs(c.Request().Context(), r.runID(), inputs); err != nil {
			return err
		}
	} else if _, err := s.store.GetRun(c.Request().Context(), r.runID()); err != nil {
		return err // an unknown run is still an error
	}
	return writeJSON(c, empty)
}

func (s *Server) getMetricHistory(c echo.Context) error {
	r, err := decode(c, metricHistorySpec)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	runID, key := r.runID(), r.str("metric_key")
	resp := struct {
		Metrics       []wireMetric `json:"metrics,omitempty"`
		NextPageToken string       `json:"next_page_token,omitempty"`
	}{}
	if n, ok := r.int64("max_results"); ok && n > 0 {
		ms, token, err := s.store.MetricHistory(ctx, runID, key, tracking.Page{MaxResults: int(min(n, tracking.MaxResultsLimit)), PageToken: r.str("page_token")})
		if err != nil {
			return err
		}
		resp.Metrics, resp.NextPageToken = toWireMetrics(ms), token
		return writeJSON(c, resp)
	}
	// Without max_results MLflow answers the whole history at once.
	all, err := s.fullHistory(c, runID, key, r.str("page_token"))
	if err != nil {
		return err
	}
	resp.Metrics = toWireMetrics(all)
	return writeJSON(c, resp)
}

func (s *Server) fullHistory(c echo.Context, runID, key, token string) ([]tracking.Metric, error) {
	var all []tracking.Metric
	for {
		ms, next, err := s.store.MetricHistory(c.Request().Context(), runID, key, tracking.Page{MaxResults: tracking.MaxResultsLimit, PageToken: token})
		if err != nil {
			return nil, err
		}
		all = append(all, ms...)
		if next == "" || next == token {
			return all, nil
		}
		token = next
	}
}

// maxHistoryBulk is MLflow's cap on get-history-bulk's answer.
const maxHistoryBulk = 25000

// getMetricHistoryBulk is the UI's GET metrics/get-history-bulk: one
// metric's history over up to 100 runs, each value tagged with its run.
func (s *Server) getMetricHistoryBulk(c echo.Context) error {
	q := c.Request().URL.Query()
	runIDs := q["run_id"]
	switch {
	case len(runIDs) == 0:
		return invalidParam("GetMetricHistoryBulk request must specify at least one run_id.")
	case len(runIDs) > 100:
		return invalidParam("GetMetricHistoryBulk request cannot specify more than 100 run_ids. Received %d run_ids.", len(runIDs))
	case !q.Has("metric_key"):
		return invalidParam("GetMetricHistoryBulk request must specify a metric_key.")
	}
	limit := maxHistoryBulk
	if v := q.Get("max_results"); v != "" {
		n, ok := toInt64(v)
		if !ok {
			return invalidParam("Invalid value %s for parameter 'max_results' supplied.", v)
		}
		limit = int(max(0, min(n, maxHistoryBulk)))
	}
	type bulkMetric struct {
		Key       string  `json:"key"`
		Value     pyFloat `json:"value"`
		Timestamp int64   `json:"timestamp"`
		Step      int64   `json:"step"`
		RunID     string  `json:"run_id"`
	}
	out := []bulkMetric{}
	sort.Strings(runIDs)
	for _, id := range runIDs {
		ms, err := s.fullHistory(c, id, q.Get("metric_key"), "")
		if err != nil {
			return err
		}
		sort.SliceStable(ms, func(i, j int) bool {
			a, b := ms[i], ms[j]
			if a.Timestamp != b.Timestamp {
				return a.Timestamp < b.Timestamp
			}
			if a.Step != b.Step {
				return a.Step < b.Step
			}
			return a.Value < b.Value
		})
		for _, m := range ms {
			out = append(out, bulkMetric{m.Key, pyFloat(m.Value), m.Timestamp, m.Step, id})
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return c.JSON(http.StatusOK, map[string]any{"metrics": out})
}
