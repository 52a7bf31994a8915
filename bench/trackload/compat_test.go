package main

import (
	"testing"
	"time"
)

// A client that retries a write whose answer it lost (MLflow's Python
// client retries POSTs on connection errors and 5xx) sends the same metric
// twice. MLflow's SQL store keeps one row per (run, key, timestamp, step,
// value): the metrics table's primary key, with the IntegrityError
// fallback in SqlAlchemyStore._log_metrics that inserts only the values not
// already in the history, and a set that drops repeats within one
// log-batch. A retried write must therefore not show up twice in
// metrics/get-history.
//
// This test failed against schema version 1 of tracking/sqlstore, whose
// metrics table had no such key, so every repeat was stored again; schema
// version 2 (commit e5d5018) added the key. It stays as a regression test
// over the real server.
func TestRepeatedMetricStoredOnce(t *testing.T) {
	srv := startTestServer(t, "dup")
	ctx := t.Context()
	a := newAPI(srv.url, 1)
	defer a.close()
	runID, err := a.createRun(ctx, nil, "0", "dup", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := metric{Key: "loss", Value: 0.5, Timestamp: time.Now().UnixMilli(), Step: 3}
	// The same value by log-metric twice (a retry), then again twice
	// within one log-batch.
	for range 2 {
		if err := a.logMetric(ctx, nil, runID, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.logBatch(ctx, nil, "log-batch", runID, []metric{m, m}, nil, nil); err != nil {
		t.Fatal(err)
	}
	h, err := a.history(ctx, nil, runID, "loss")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 {
		t.Errorf("metrics/get-history has %d values after logging one value 4 times, MLflow keeps 1: %+v", len(h), h)
	}
}
