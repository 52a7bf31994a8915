// Package storetest is the conformance suite every tracking.Store passes:
// MLflow's semantics for experiments, runs, log-batch, metric history,
// dataset inputs and search, with MLflow's error codes and messages.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) tracking.Store { ... a fresh, empty store ... })
//	}
//
// It is imported only by tests.
package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking"
)

// Opener returns a fresh, empty store (only the Default experiment) and
// arranges with t.Cleanup for it to be closed.
type Opener func(t *testing.T) tracking.Store

// Run runs every conformance test against stores from open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s tracking.Store)
	}{
		{"DefaultExperiment", testDefaultExperiment},
		{"CreateExperiment", testCreateExperiment},
		{"RenameExperiment", testRenameExperiment},
		{"DeleteRestoreExperiment", testDeleteRestoreExperiment},
		{"ExperimentTags", testExperimentTags},
		{"CreateRun", testCreateRun},
		{"CreateRunNames", testCreateRunNames},
		{"UpdateRun", testUpdateRun},
		{"DeleteRestoreRun", testDeleteRestoreRun},
		{"LogBatchParams", testLogBatchParams},
		{"LogBatchLimits", testLogBatchLimits},
		{"LogBatchAtomic", testLogBatchAtomic},
		{"LogBatchTags", testLogBatchTags},
		{"MetricSpecialValues", testMetricSpecialValues},
		{"LatestMetric", testLatestMetric},
		{"MetricRepeats", testMetricRepeats},
		{"MetricHistory", testMetricHistory},
		{"DeleteTag", testDeleteTag},
		{"LogInputs", testLogInputs},
		{"SearchRunsBasic", testSearchRunsBasic},
		{"SearchRunsPaging", testSearchRunsPaging},
		{"SearchRunsFilter", testSearchRunsFilter},
		{"SearchRunsOrder", testSearchRunsOrder},
		{"SearchRunsHostile", testSearchRunsHostile},
		{"SearchRunsOracle", testSearchRunsOracle},
		{"SearchExperiments", testSearchExperiments},
		{"ConcurrentLogBatch", testConcurrentLogBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// wantErr fails unless err carries code and its message contains msg.
func wantErr(t *testing.T, err error, code tracking.ErrorCode, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s %q", code, msg)
	}
	var te *tracking.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *tracking.Error", err, err)
	}
	if te.Code != code {
		t.Fatalf("error code %s (%q), want %s", te.Code, te.Message, code)
	}
	if !strings.Contains(te.Message, msg) {
		t.Fatalf("error message %q does not contain %q", te.Message, msg)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// allPages fetches page after page, from the first (token "") until one
// names no next page, and fails the test when there are more than
// maxPages: a store whose tokens loop must not hang the suite.
func allPages[T any](t *testing.T, maxPages int, fetch func(token string) ([]T, string, error)) [][]T {
	t.Helper()
	var pages [][]T
	tok := ""
	for {
		if len(pages) == maxPages {
			t.Fatalf("paging does not end after %d pages", maxPages)
		}
		page, next, err := fetch(tok)
		must(t, err)
		pages = append(pages, page)
		if next == "" {
			return pages
		}
		tok = next
	}
}

func createExperiment(t *testing.T, s tracking.Store, name string) string {
	t.Helper()
	id, err := s.CreateExperiment(context.Background(), name, "", nil)
	must(t, err)
	return id
}

func createRun(t *testing.T, s tracking.Store, exp string, start int64, name string) *tracking.Run {
	t.Helper()
	r, err := s.CreateRun(context.Background(), tracking.CreateRun{ExperimentID: exp, StartTime: start, RunName: name})
	must(t, err)
	return r
}

func getRun(t *testing.T, s tracking.Store, id string) *tracking.Run {
	t.Helper()
	r, err := s.GetRun(context.Background(), id)
	must(t, err)
	return r
}

func tagMap(tags []tracking.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

func latest(r *tracking.Run, key string) (tracking.Metric, bool) {
	for _, m := range r.Data.Metrics {
		if m.Key == key {
			return m, true
		}
	}
	return tracking.Metric{}, false
}
