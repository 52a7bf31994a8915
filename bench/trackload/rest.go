package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// api is a plain JSON client of MLflow's REST API 2.0 that times every
// call. It is written here rather than taken from tracking/client so that
// the benchmark sees each HTTP status itself: 503 and 429 are retried and
// counted, any other 5xx is a failure, and a transport error leaves the
// outcome of a write unknown (the caller records it as such).
type api struct {
	base string
	hc   *http.Client
	// retried counts 503/429 answers that were retried; failed5xx counts
	// other 5xx answers.
	retried   atomic.Int64
	failed5xx atomic.Int64
	// maxRetries bounds retries of one call after 503/429.
	maxRetries int
}

func newAPI(base string, conns int) *api {
	tr := &http.Transport{
		MaxIdleConns:        conns + 4,
		MaxIdleConnsPerHost: conns + 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &api{base: base, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}, maxRetries: 20}
}

func (a *api) close() { a.hc.CloseIdleConnections() }

// httpError is a non-2xx answer: the server received the request and
// said no. For writes it means "not applied", except for 5xx other than
// 503, whose outcome is unknown.
type httpError struct {
	Status    int
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

func (e *httpError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.ErrorCode, e.Message)
}

// definite reports whether err says for sure that a write was not applied:
// a 4xx answer (or 503/429, which are retried before they get here).
func definite(err error) bool {
	var he *httpError
	return errors.As(err, &he) && (he.Status < 500 || he.Status == http.StatusServiceUnavailable)
}

// call sends one API request (POST with a JSON body, or GET with query
// parameters) and decodes the answer into out. The latency recorded under
// op covers retries, as a client sees it.
func (a *api) call(ctx context.Context, rec *recorder, op, method, path string, in any, out any) error {
	var body []byte
	target := a.base + "/api/2.0/mlflow" + path
	if method == http.MethodGet {
		if q, ok := in.(url.Values); ok && len(q) > 0 {
			target += "?" + q.Encode()
		}
	} else {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s: encoding request: %w", op, err)
		}
	}
	start := time.Now()
	backoff := 20 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := a.once(ctx, method, target, body, out)
		var he *httpError
		if errors.As(err, &he) && (he.Status == http.StatusServiceUnavailable || he.Status == http.StatusTooManyRequests) && attempt < a.maxRetries {
			a.retried.Add(1)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		if errors.As(err, &he) && he.Status >= 500 {
			a.failed5xx.Add(1)
		}
		if err == nil && rec != nil {
			rec.add(op, time.Since(start))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return nil
	}
}

func (a *api) once(ctx context.Context, method, target string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		he := &httpError{Status: resp.StatusCode}
		_ = json.Unmarshal(data, he)
		if he.Message == "" {
			he.Message = string(bytes.TrimSpace(data[:min(len(data), 300)]))
		}
		return he
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding answer: %w", err)
	}
	return nil
}

// Wire shapes of the few messages the benchmark reads (MLflow's JSON).
type kv struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type metric struct {
	Key       string  `json:"key"`
	Value     float64 `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
}

type run struct {
	Info struct {
		RunID        string `json:"run_id"`
		ExperimentID string `json:"experiment_id"`
		Status       string `json:"status"`
	} `json:"info"`
	Data struct {
		Metrics []metric `json:"metrics"`
		Params  []kv     `json:"params"`
		Tags    []kv     `json:"tags"`
	} `json:"data"`
}

func (a *api) createExperiment(ctx context.Context, name string) (string, error) {
	var out struct {
		ExperimentID string `json:"experiment_id"`
	}
	err := a.call(ctx, nil, "experiments/create", http.MethodPost, "/experiments/create", map[string]any{"name": name}, &out)
	return out.ExperimentID, err
}

func (a *api) createRun(ctx context.Context, rec *recorder, exp, name string, tags []kv) (string, error) {
	var out struct {
		Run run `json:"run"`
	}
	in := map[string]any{"experiment_id": exp, "run_name": name, "start_time": time.Now().UnixMilli(), "tags": tags}
	err := a.call(ctx, rec, "runs/create", http.MethodPost, "/runs/create", in, &out)
	return out.Run.Info.RunID, err
}

func (a *api) logMetric(ctx context.Context, rec *recorder, runID string, m metric) error {
	in := map[string]any{"run_id": runID, "key": m.Key, "value": m.Value, "timestamp": m.Timestamp, "step": m.Step}
	return a.call(ctx, rec, "log-metric", http.MethodPost, "/runs/log-metric", in, nil)
}

func (a *api) logParam(ctx context.Context, rec *recorder, runID, key, value string) error {
	in := map[string]any{"run_id": runID, "key": key, "value": value}
	return a.call(ctx, rec, "log-parameter", http.MethodPost, "/runs/log-parameter", in, nil)
}

func (a *api) setTag(ctx context.Context, rec *recorder, runID, key, value string) error {
	in := map[string]any{"run_id": runID, "key": key, "value": value}
	return a.call(ctx, rec, "set-tag", http.MethodPost, "/runs/set-tag", in, nil)
}

// logBatch sends runs/log-batch; op names the operation in the recorder.
func (a *api) logBatch(ctx context.Context, rec *recorder, op, runID string, ms []metric, ps, ts []kv) error {
	in := map[string]any{"run_id": runID, "metrics": ms, "params": ps, "tags": ts}
	return a.call(ctx, rec, op, http.MethodPost, "/runs/log-batch", in, nil)
}

func (a *api) getRun(ctx context.Context, rec *recorder, runID string) (*run, error) {
	var out struct {
		Run run `json:"run"`
	}
	err := a.call(ctx, rec, "runs/get", http.MethodGet, "/runs/get", url.Values{"run_id": {runID}}, &out)
	return &out.Run, err
}

// history reads a metric's whole history, page by page.
func (a *api) history(ctx context.Context, rec *recorder, runID, key string) ([]metric, error) {
	var all []metric
	token := ""
	for {
		q := url.Values{"run_id": {runID}, "metric_key": {key}, "max_results": {"25000"}}
		if token != "" {
			q.Set("page_token", token)
		}
		var out struct {
			Metrics       []metric `json:"metrics"`
			NextPageToken string   `json:"next_page_token"`
		}
		if err := a.call(ctx, rec, "metrics/get-history", http.MethodGet, "/metrics/get-history", q, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Metrics...)
		if out.NextPageToken == "" {
			return all, nil
		}
		token = out.NextPageToken
	}
}

// searchQuery is a runs/search request.
type searchQuery struct {
	ExperimentIDs []string `json:"experiment_ids"`
	Filter        string   `json:"filter,omitempty"`
	OrderBy       []string `json:"order_by,omitempty"`
	MaxResults    int      `json:"max_results,omitempty"`
	PageToken     string   `json:"page_token,omitempty"`
}

func (a *api) search(ctx context.Context, rec *recorder, op string, q searchQuery) ([]run, string, error) {
	var out struct {
		Runs          []run  `json:"runs"`
		NextPageToken string `json:"next_page_token"`
	}
	err := a.call(ctx, rec, op, http.MethodPost, "/runs/search", q, &out)
	return out.Runs, out.NextPageToken, err
}

// searchAll follows page tokens to the end.
func (a *api) searchAll(ctx context.Context, rec *recorder, op string, q searchQuery) ([]run, error) {
	var all []run
	for {
		runs, next, err := a.search(ctx, rec, op, q)
		if err != nil {
			return nil, err
		}
		all = append(all, runs...)
		if next == "" {
			return all, nil
		}
		q.PageToken = next
	}
}
