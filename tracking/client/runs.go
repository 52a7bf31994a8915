package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mlship/mlship/tracking"
)

// CreateRun starts a run. Zero fields are left to the server: the Default
// experiment, a start time of now, a generated run name.
func (c *Client) CreateRun(ctx context.Context, r tracking.CreateRun) (*tracking.Run, error) {
	in := struct {
		ExperimentID string    `json:"experiment_id,omitempty"`
		UserID       string    `json:"user_id,omitempty"`
		RunName      string    `json:"run_name,omitempty"`
		StartTime    int64     `json:"start_time,omitempty"`
		Tags         []wireTag `json:"tags,omitempty"`
	}{r.ExperimentID, r.UserID, r.RunName, r.StartTime, tagsToWire(r.Tags)}
	var out struct {
		Run wireRun `json:"run"`
	}
	if err := c.api(ctx, http.MethodPost, "/runs/create", in, &out, false); err != nil {
		return nil, err
	}
	run := out.Run.domain()
	return &run, nil
}

// GetRun returns run runID with its latest metrics, params and tags.
func (c *Client) GetRun(ctx context.Context, runID string) (*tracking.Run, error) {
	var out struct {
		Run wireRun `json:"run"`
	}
	if err := c.api(ctx, http.MethodGet, "/runs/get", url.Values{"run_id": {runID}}, &out, true); err != nil {
		return nil, err
	}
	run := out.Run.domain()
	return &run, nil
}

// UpdateRun sets a run's status, end time or name (zero fields are left
// as they are) and returns its info.
func (c *Client) UpdateRun(ctx context.Context, runID string, u tracking.UpdateRun) (*tracking.RunInfo, error) {
	// Checked here as MLflow's client does (RunStatus.from_string): a
	// server may ignore an enum value it does not know.
	if u.Status != "" {
		st, err := tracking.ParseRunStatus(string(u.Status))
		if err != nil {
			return nil, err
		}
		u.Status = st
	}
	in := struct {
		RunID   string `json:"run_id"`
		RunUUID string `json:"run_uuid"`
		Status  string `json:"status,omitempty"`
		EndTime int64  `json:"end_time,omitempty"`
		RunName string `json:"run_name,omitempty"`
	}{runID, runID, string(u.Status), u.EndTime, u.RunName}
	var out struct {
		RunInfo wireRunInfo `json:"run_info"`
	}
	if err := c.api(ctx, http.MethodPost, "/runs/update", in, &out, true); err != nil {
		return nil, err
	}
	info := out.RunInfo.domain()
	return &info, nil
}

// DeleteRun marks a run deleted.
func (c *Client) DeleteRun(ctx context.Context, runID string) error {
	return c.api(ctx, http.MethodPost, "/runs/delete", map[string]string{"run_id": runID}, nil, true)
}

// RestoreRun brings a deleted run back.
func (c *Client) RestoreRun(ctx context.Context, runID string) error {
	return c.api(ctx, http.MethodPost, "/runs/restore", map[string]string{"run_id": runID}, nil, true)
}

// SearchRuns returns one page of the runs q matches and the token of the
// next page ("" after the last).
func (c *Client) SearchRuns(ctx context.Context, q tracking.RunQuery) ([]tracking.Run, string, error) {
	if err := checkMaxResults(q.MaxResults); err != nil {
		return nil, "", err
	}
	in := struct {
		ExperimentIDs []string `json:"experiment_ids"`
		Filter        string   `json:"filter,omitempty"`
		RunViewType   string   `json:"run_view_type,omitempty"`
		MaxResults    int      `json:"max_results,omitempty"`
		OrderBy       []string `json:"order_by,omitempty"`
		PageToken     string   `json:"page_token,omitempty"`
	}{q.ExperimentIDs, q.Filter, viewType(q.ViewType), q.MaxResults, q.OrderBy, q.PageToken}
	if in.ExperimentIDs == nil {
		in.ExperimentIDs = []string{}
	}
	var out struct {
		Runs          []wireRun `json:"runs"`
		NextPageToken string    `json:"next_page_token"`
	}
	if err := c.api(ctx, http.MethodPost, "/runs/search", in, &out, true); err != nil {
		return nil, "", err
	}
	runs := make([]tracking.Run, len(out.Runs))
	for i := range out.Runs {
		runs[i] = out.Runs[i].domain()
	}
	return runs, out.NextPageToken, nil
}

// Runs iterates over every run q matches, page by page, starting at
// q.PageToken. Iteration stops at the first error, which it yields.
func (c *Client) Runs(ctx context.Context, q tracking.RunQuery) iter.Seq2[tracking.Run, error] {
	return func(yield func(tracking.Run, error) bool) {
		for {
			page, next, err := c.SearchRuns(ctx, q)
			if err != nil {
				yield(tracking.Run{}, err)
				return
			}
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
			if next == "" || next == q.PageToken {
				return
			}
			q.PageToken = next
		}
	}
}

// LogBatch logs metrics, params and tags in one request, which the server
// applies all or nothing within MLflow's limits (1000 metrics, 100 params
// and tags, 1000 entities). It is not retried after the request may have
// reached the server: a metric logged twice would appear twice in its
// history.
func (c *Client) LogBatch(ctx context.Context, runID string, metrics []tracking.Metric, params []tracking.Param, tags []tracking.Tag) error {
	in := struct {
		RunID   string       `json:"run_id"`
		Metrics []wireMetric `json:"metrics,omitempty"`
		Params  []wireParam  `json:"params,omitempty"`
		Tags    []wireTag    `json:"tags,omitempty"`
	}{RunID: runID, Params: paramsToWire(params), Tags: tagsToWire(tags)}
	for _, m := range metrics {
		in.Metrics = append(in.Metrics, metricToWire(m))
	}
	// Params and tags alone are idempotent (a param may be logged again
	// with its value).
	return c.api(ctx, http.MethodPost, "/runs/log-batch", in, nil, len(metrics) == 0)
}

// LogMetric logs one value of a metric.
func (c *Client) LogMetric(ctx context.Context, runID string, m tracking.Metric) error {
	in := struct {
		RunID   string `json:"run_id"`
		RunUUID string `json:"run_uuid"`
		wireMetric
	}{runID, runID, metricToWire(m)}
	return c.api(ctx, http.MethodPost, "/runs/log-metric", in, nil, false)
}

// LogParam logs a parameter; logging it again with the same value is
// fine, with another value is an InvalidParameterValue error.
func (c *Client) LogParam(ctx context.Context, runID, key, value string) error {
	in := map[string]string{"run_id": runID, "run_uuid": runID, "key": key, "value": value}
	return c.api(ctx, http.MethodPost, "/runs/log-parameter", in, nil, true)
}

// SetTag sets (or replaces) a run tag.
func (c *Client) SetTag(ctx context.Context, runID, key, value string) error {
	in := map[string]string{"run_id": runID, "run_uuid": runID, "key": key, "value": value}
	return c.api(ctx, http.MethodPost, "/runs/set-tag", in, nil, true)
}

// DeleteTag removes a run tag.
func (c *Client) DeleteTag(ctx context.Context, runID, key string) error {
	in := map[string]string{"run_id": runID, "key": key}
	return c.api(ctx, http.MethodPost, "/runs/delete-tag", in, nil, true)
}

// MetricHistory returns one page of every logged value of metric key.
func (c *Client) MetricHistory(ctx context.Context, runID, key string, p tracking.Page) ([]tracking.Metric, string, error) {
	q := url.Values{"run_id": {runID}, "metric_key": {key}}
	if p.PageToken != "" {
		q.Set("page_token", p.PageToken)
	}
	if p.MaxResults > 0 {
		q.Set("max_results", strconv.Itoa(p.MaxResults))
	}
	var out struct {
		Metrics       []wireMetric `json:"metrics"`
		NextPageToken string       `json:"next_page_token"`
	}
	if err := c.api(ctx, http.MethodGet, "/metrics/get-history", q, &out, true); err != nil {
		return nil, "", err
	}
	return metricsFromWire(out.Metrics), out.NextPageToken, nil
}

// LogInputs links datasets to a run.
func (c *Client) LogInputs(ctx context.Context, runID string, inputs []tracking.DatasetInput) error {
	in := struct {
		RunID    string             `json:"run_id"`
		Datasets []wireDatasetInput `json:"datasets"`
	}{RunID: runID, Datasets: []wireDatasetInput{}}
	for _, d := range inputs {
		ds := d.Dataset
		in.Datasets = append(in.Datasets, wireDatasetInput{
			Tags: tagsToWire(d.Tags),
			Dataset: wireDataset{
				Name: ds.Name, Digest: ds.Digest, SourceType: ds.SourceType,
				Source: ds.Source, Schema: ds.Schema, Profile: ds.Profile,
			},
		})
	}
	return c.api(ctx, http.MethodPost, "/runs/log-inputs", in, nil, false)
}

// LogModel records a logged model on a run: modelJSON is the MLmodel as a
// JSON object, which the server appends to the run's
// mlflow.log-model.history tag.
func (c *Client) LogModel(ctx context.Context, runID, modelJSON string) error {
	in := map[string]string{"run_id": runID, "model_json": modelJSON}
	return c.api(ctx, http.MethodPost, "/runs/log-model", in, nil, false)
}
