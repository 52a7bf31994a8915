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
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/search"
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

func testDefaultExperiment(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	e, err := s.GetExperiment(ctx, tracking.DefaultExperimentID)
	must(t, err)
	if e.Name != tracking.DefaultExperimentName || e.LifecycleStage != tracking.StageActive {
		t.Errorf("default experiment = %+v", e)
	}
	if !strings.HasSuffix(e.ArtifactLocation, "/0") {
		t.Errorf("default artifact location %q does not end in /0", e.ArtifactLocation)
	}
	byName, err := s.GetExperimentByName(ctx, "Default")
	must(t, err)
	if byName.ID != "0" {
		t.Errorf("Default has id %q", byName.ID)
	}
	// Runs created without an experiment land in it.
	r, err := s.CreateRun(ctx, tracking.CreateRun{})
	must(t, err)
	if r.Info.ExperimentID != "0" {
		t.Errorf("run without experiment went to %q", r.Info.ExperimentID)
	}
}

func testCreateExperiment(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id, err := s.CreateExperiment(ctx, "exp-a", "", []tracking.Tag{{Key: "team", Value: "ml"}, {Key: "k", Value: "v"}})
	must(t, err)
	if id == "" || id == "0" {
		t.Fatalf("new experiment id %q", id)
	}
	e, err := s.GetExperiment(ctx, id)
	must(t, err)
	if e.ID != id || e.Name != "exp-a" || e.LifecycleStage != tracking.StageActive || e.CreationTime == 0 || e.LastUpdateTime == 0 {
		t.Errorf("experiment = %+v", e)
	}
	if !strings.HasSuffix(e.ArtifactLocation, "/"+id) {
		t.Errorf("artifact location %q does not end in /%s", e.ArtifactLocation, id)
	}
	if got := tagMap(e.Tags); got["team"] != "ml" || got["k"] != "v" || len(got) != 2 {
		t.Errorf("tags = %v", e.Tags)
	}
	byName, err := s.GetExperimentByName(ctx, "exp-a")
	must(t, err)
	if byName.ID != id {
		t.Errorf("by name: id %q, want %q", byName.ID, id)
	}

	id2, err := s.CreateExperiment(ctx, "exp-b", "s3://bucket/place", nil)
	must(t, err)
	if id2 == id {
		t.Fatalf("two experiments share id %q", id)
	}
	e2, err := s.GetExperiment(ctx, id2)
	must(t, err)
	if e2.ArtifactLocation != "s3://bucket/place" {
		t.Errorf("explicit artifact location became %q", e2.ArtifactLocation)
	}

	_, err = s.CreateExperiment(ctx, "exp-a", "", nil)
	wantErr(t, err, tracking.ResourceAlreadyExists, "Experiment 'exp-a' already exists.")
	must(t, s.DeleteExperiment(ctx, id2))
	_, err = s.CreateExperiment(ctx, "exp-b", "", nil)
	wantErr(t, err, tracking.ResourceAlreadyExists, "Experiment 'exp-b' already exists.")
	_, err = s.CreateExperiment(ctx, "", "", nil)
	wantErr(t, err, tracking.InvalidParameterValue, "Invalid experiment name")

	_, err = s.GetExperiment(ctx, "424242")
	wantErr(t, err, tracking.ResourceDoesNotExist, "No Experiment with id=424242 exists")
	_, err = s.GetExperiment(ctx, "not-a-number")
	wantErr(t, err, tracking.ResourceDoesNotExist, "not-a-number")
	_, err = s.GetExperimentByName(ctx, "nope")
	wantErr(t, err, tracking.ResourceDoesNotExist, "Could not find experiment with name 'nope'")
}

func testRenameExperiment(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	a := createExperiment(t, s, "a")
	createExperiment(t, s, "b")
	must(t, s.RenameExperiment(ctx, a, "a2"))
	e, err := s.GetExperiment(ctx, a)
	must(t, err)
	if e.Name != "a2" {
		t.Errorf("renamed experiment is %q", e.Name)
	}
	if _, err := s.GetExperimentByName(ctx, "a"); tracking.CodeOf(err) != tracking.ResourceDoesNotExist {
		t.Errorf("old name still found: %v", err)
	}
	wantErr(t, s.RenameExperiment(ctx, a, "b"), tracking.ResourceAlreadyExists, "Experiment 'b' already exists.")
	wantErr(t, s.RenameExperiment(ctx, a, ""), tracking.InvalidParameterValue, "Invalid experiment name")
	wantErr(t, s.RenameExperiment(ctx, "98765", "c"), tracking.ResourceDoesNotExist, "98765")
}

func testDeleteRestoreExperiment(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	exp := createExperiment(t, s, "doomed")
	r1 := createRun(t, s, exp, 1000, "r1")
	r2 := createRun(t, s, exp, 2000, "r2")
	must(t, s.DeleteExperiment(ctx, exp))

	e, err := s.GetExperiment(ctx, exp)
	must(t, err)
	if e.LifecycleStage != tracking.StageDeleted {
		t.Errorf("deleted experiment stage %q", e.LifecycleStage)
	}
	for _, id := range []string{r1.Info.RunID, r2.Info.RunID} {
		if st := getRun(t, s, id).Info.LifecycleStage; st != tracking.StageDeleted {
			t.Errorf("run of deleted experiment is %q", st)
		}
	}
	_, err = s.CreateRun(ctx, tracking.CreateRun{ExperimentID: exp})
	wantErr(t, err, tracking.InvalidParameterValue, "must be in the 'active' state")
	wantErr(t, s.SetExperimentTag(ctx, exp, tracking.Tag{Key: "k", Value: "v"}), tracking.InvalidParameterValue, "must be in the 'active' state")

	active, _, err := s.SearchExperiments(ctx, tracking.ExperimentQuery{ViewType: tracking.ActiveOnly})
	must(t, err)
	deleted, _, err := s.SearchExperiments(ctx, tracking.ExperimentQuery{ViewType: tracking.DeletedOnly})
	must(t, err)
	all, _, err := s.SearchExperiments(ctx, tracking.ExperimentQuery{ViewType: tracking.All})
	must(t, err)
	if ids(active...) != "0" || ids(deleted...) != exp || len(all) != 2 {
		t.Errorf("view types: active %s, deleted %s, all %d", ids(active...), ids(deleted...), len(all))
	}

	must(t, s.RestoreExperiment(ctx, exp))
	e, err = s.GetExperiment(ctx, exp)
	must(t, err)
	if e.LifecycleStage != tracking.StageActive {
		t.Errorf("restored experiment stage %q", e.LifecycleStage)
	}
	if st := getRun(t, s, r1.Info.RunID).Info.LifecycleStage; st != tracking.StageActive {
		t.Errorf("run of restored experiment is %q", st)
	}
	wantErr(t, s.DeleteExperiment(ctx, "31337"), tracking.ResourceDoesNotExist, "31337")
	if err := s.DeleteExperiment(ctx, "0"); err == nil {
		// MLflow's stores refuse to delete the Default experiment.
		t.Error("deleting the Default experiment succeeded")
	}
}

func ids(exps ...tracking.Experiment) string {
	var out []string
	for _, e := range exps {
		out = append(out, e.ID)
	}
	return strings.Join(out, ",")
}

func testExperimentTags(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	exp := createExperiment(t, s, "tagged")
	must(t, s.SetExperimentTag(ctx, exp, tracking.Tag{Key: "k", Value: "v1"}))
	must(t, s.SetExperimentTag(ctx, exp, tracking.Tag{Key: "k", Value: "v2"}))
	must(t, s.SetExperimentTag(ctx, exp, tracking.Tag{Key: "other", Value: "x"}))
	e, err := s.GetExperiment(ctx, exp)
	must(t, err)
	if got := tagMap(e.Tags); got["k"] != "v2" || got["other"] != "x" || len(got) != 2 {
		t.Errorf("tags %v", e.Tags)
	}
	must(t, s.DeleteExperimentTag(ctx, exp, "k"))
	e, err = s.GetExperiment(ctx, exp)
	must(t, err)
	if got := tagMap(e.Tags); len(got) != 1 || got["other"] != "x" {
		t.Errorf("after delete: tags %v", e.Tags)
	}
	if err := s.DeleteExperimentTag(ctx, exp, "k"); tracking.CodeOf(err) != tracking.ResourceDoesNotExist {
		t.Errorf("deleting a missing tag: %v", err)
	}
	wantErr(t, s.SetExperimentTag(ctx, exp, tracking.Tag{Key: "big", Value: strings.Repeat("x", tracking.MaxExperimentTagValLength+1)}),
		tracking.InvalidParameterValue, "exceeded length limit of 5000")
	wantErr(t, s.SetExperimentTag(ctx, "777", tracking.Tag{Key: "k", Value: "v"}), tracking.ResourceDoesNotExist, "777")
}

var runIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func testCreateRun(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	exp := createExperiment(t, s, "runs")
	e, err := s.GetExperiment(ctx, exp)
	must(t, err)
	r, err := s.CreateRun(ctx, tracking.CreateRun{
		ExperimentID: exp, UserID: "alice", RunName: "first", StartTime: 1234,
		Tags: []tracking.Tag{{Key: "mlflow.source.name", Value: "train.py"}},
	})
	must(t, err)
	i := r.Info
	if !runIDPattern.MatchString(i.RunID) {
		t.Errorf("run id %q is not 32 hex digits", i.RunID)
	}
	if i.RunName != "first" || i.ExperimentID != exp || i.UserID != "alice" || i.Status != tracking.StatusRunning ||
		i.StartTime != 1234 || i.EndTime != 0 || i.LifecycleStage != tracking.StageActive {
		t.Errorf("run info = %+v", i)
	}
	if want := e.ArtifactLocation + "/" + i.RunID + "/artifacts"; i.ArtifactURI != want {
		t.Errorf("artifact uri %q, want %q", i.ArtifactURI, want)
	}
	tags := tagMap(r.Data.Tags)
	if tags["mlflow.runName"] != "first" || tags["mlflow.user"] != "alice" || tags["mlflow.source.name"] != "train.py" {
		t.Errorf("tags = %v", r.Data.Tags)
	}
	got := getRun(t, s, i.RunID)
	if got.Info != i {
		t.Errorf("GetRun info %+v, CreateRun said %+v", got.Info, i)
	}

	r2, err := s.CreateRun(ctx, tracking.CreateRun{ExperimentID: exp})
	must(t, err)
	if r2.Info.RunID == i.RunID {
		t.Error("two runs share an id")
	}
	if r2.Info.StartTime == 0 {
		t.Error("start time not defaulted to now")
	}

	_, err = s.CreateRun(ctx, tracking.CreateRun{ExperimentID: "123456"})
	wantErr(t, err, tracking.ResourceDoesNotExist, "Could not find experiment with ID 123456")
	_, err = s.GetRun(ctx, "deadbeef")
	wantErr(t, err, tracking.ResourceDoesNotExist, "Run 'deadbeef' not found")
}

var generatedName = regexp.MustCompile(`^[a-z]+-[a-z]+-\d{1,3}$`)

func testCreateRunNames(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	r, err := s.CreateRun(ctx, tracking.CreateRun{Tags: []tracking.Tag{{Key: "mlflow.runName", Value: "from-tag"}}})
	must(t, err)
	if r.Info.RunName != "from-tag" {
		t.Errorf("name from tag: %q", r.Info.RunName)
	}
	r, err = s.CreateRun(ctx, tracking.CreateRun{})
	must(t, err)
	if !generatedName.MatchString(r.Info.RunName) {
		t.Errorf("generated name %q is not adjective-noun-NNN", r.Info.RunName)
	}
	if v, _ := r.Tag("mlflow.runName"); v != r.Info.RunName {
		t.Errorf("mlflow.runName tag %q, run name %q", v, r.Info.RunName)
	}
	if _, ok := r.Tag("mlflow.user"); ok {
		t.Error("mlflow.user set without a user id")
	}
	_, err = s.CreateRun(ctx, tracking.CreateRun{RunName: "a", Tags: []tracking.Tag{{Key: "mlflow.runName", Value: "b"}}})
	wantErr(t, err, tracking.InvalidParameterValue, "run_name='a', mlflow.runName='b'")
}

func testUpdateRun(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	r := createRun(t, s, "0", 100, "before")
	info, err := s.UpdateRun(ctx, r.Info.RunID, tracking.UpdateRun{Status: tracking.StatusFinished, EndTime: 999})
	must(t, err)
	if info.Status != tracking.StatusFinished || info.EndTime != 999 || info.RunName != "before" {
		t.Errorf("updated info %+v", info)
	}
	info, err = s.UpdateRun(ctx, r.Info.RunID, tracking.UpdateRun{RunName: "after"})
	must(t, err)
	if info.RunName != "after" || info.Status != tracking.StatusFinished || info.EndTime != 999 {
		t.Errorf("renamed info %+v", info)
	}
	got := getRun(t, s, r.Info.RunID)
	if v, _ := got.Tag("mlflow.runName"); v != "after" || got.Info.RunName != "after" {
		t.Errorf("run name %q, tag %q", got.Info.RunName, v)
	}
	_, err = s.UpdateRun(ctx, "0123456789abcdef0123456789abcdef", tracking.UpdateRun{Status: tracking.StatusFailed})
	wantErr(t, err, tracking.ResourceDoesNotExist, "not found")
	_, err = s.UpdateRun(ctx, r.Info.RunID, tracking.UpdateRun{Status: "BOGUS"})
	wantErr(t, err, tracking.InvalidParameterValue, "BOGUS")
}

func testDeleteRestoreRun(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	r := createRun(t, s, "0", 100, "x")
	id := r.Info.RunID
	must(t, s.DeleteRun(ctx, id))
	if st := getRun(t, s, id).Info.LifecycleStage; st != tracking.StageDeleted {
		t.Fatalf("deleted run stage %q", st)
	}
	err := s.LogBatch(ctx, id, []tracking.Metric{{Key: "m", Value: 1}}, nil, nil)
	wantErr(t, err, tracking.InvalidParameterValue, fmt.Sprintf("The run %s must be in the 'active' state. Current state is deleted.", id))
	_, err = s.UpdateRun(ctx, id, tracking.UpdateRun{Status: tracking.StatusFinished})
	wantErr(t, err, tracking.InvalidParameterValue, "must be in the 'active' state")

	for _, tc := range []struct {
		view tracking.ViewType
		want int
	}{{tracking.ActiveOnly, 0}, {tracking.DeletedOnly, 1}, {tracking.All, 1}} {
		runs, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{"0"}, ViewType: tc.view})
		must(t, err)
		if len(runs) != tc.want {
			t.Errorf("%v: %d runs, want %d", tc.view, len(runs), tc.want)
		}
	}
	must(t, s.RestoreRun(ctx, id))
	if st := getRun(t, s, id).Info.LifecycleStage; st != tracking.StageActive {
		t.Fatalf("restored run stage %q", st)
	}
	must(t, s.LogBatch(ctx, id, []tracking.Metric{{Key: "m", Value: 1}}, nil, nil))
	wantErr(t, s.DeleteRun(ctx, "ffffffffffffffffffffffffffffffff"), tracking.ResourceDoesNotExist, "not found")
}

func testLogBatchParams(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	r := createRun(t, s, "0", 1, "p")
	id := r.Info.RunID
	must(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "lr", Value: "0.1"}, {Key: "model", Value: "x"}}, nil))
	// The same value again is fine.
	must(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "lr", Value: "0.1"}, {Key: "new", Value: "n"}}, nil))
	err := s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "lr", Value: "0.2"}}, nil)
	wantErr(t, err, tracking.InvalidParameterValue,
		fmt.Sprintf("Changing param values is not allowed. Param with key='lr' was already logged with value='0.1' for run ID='%s'. Attempted logging new value '0.2'.", id))
	err = s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "d", Value: "1"}, {Key: "d", Value: "2"}}, nil)
	wantErr(t, err, tracking.InvalidParameterValue, "Duplicate parameter keys have been submitted: ['d']")
	// An exact duplicate within a batch is harmless.
	must(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "e", Value: "1"}, {Key: "e", Value: "1"}}, nil))

	got := getRun(t, s, id)
	want := []tracking.Param{{Key: "e", Value: "1"}, {Key: "lr", Value: "0.1"}, {Key: "model", Value: "x"}, {Key: "new", Value: "n"}}
	if fmt.Sprint(got.Data.Params) != fmt.Sprint(want) {
		t.Errorf("params %v, want %v (sorted by key)", got.Data.Params, want)
	}
	wantErr(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "big", Value: strings.Repeat("v", tracking.MaxParamValueLength+1)}}, nil),
		tracking.InvalidParameterValue, "exceeded length limit of 6000")
	wantErr(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "../etc", Value: "v"}}, nil), tracking.InvalidParameterValue, "Invalid param name")
	wantErr(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "a\x00b", Value: "v"}}, nil), tracking.InvalidParameterValue, "Invalid param name")
	wantErr(t, s.LogBatch(ctx, "0123456789abcdef0123456789abcdef", nil, []tracking.Param{{Key: "a", Value: "v"}}, nil),
		tracking.ResourceDoesNotExist, "Run '0123456789abcdef0123456789abcdef' not found")
}

func testLogBatchLimits(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "limits").Info.RunID
	metrics := func(n int) []tracking.Metric {
		ms := make([]tracking.Metric, n)
		for i := range ms {
			ms[i] = tracking.Metric{Key: "m", Value: float64(i), Step: int64(i), Timestamp: 1}
		}
		return ms
	}
	params := func(n int) []tracking.Param {
		ps := make([]tracking.Param, n)
		for i := range ps {
			ps[i] = tracking.Param{Key: fmt.Sprintf("p%d", i), Value: "v"}
		}
		return ps
	}
	tags := func(n int) []tracking.Tag {
		ts := make([]tracking.Tag, n)
		for i := range ts {
			ts[i] = tracking.Tag{Key: fmt.Sprintf("t%d", i), Value: "v"}
		}
		return ts
	}
	wantErr(t, s.LogBatch(ctx, id, metrics(1001), nil, nil), tracking.InvalidParameterValue,
		"A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please split up metrics across multiple requests and try again.")
	wantErr(t, s.LogBatch(ctx, id, nil, params(101), nil), tracking.InvalidParameterValue,
		"A batch logging request can contain at most 100 params. Got 101 params.")
	wantErr(t, s.LogBatch(ctx, id, nil, nil, tags(101)), tracking.InvalidParameterValue,
		"A batch logging request can contain at most 100 tags. Got 101 tags.")
	wantErr(t, s.LogBatch(ctx, id, metrics(950), params(30), tags(30)), tracking.InvalidParameterValue,
		"A batch logging request can contain at most 1000 metrics, params, and tags. Got 1010 metrics, params, and tags.")
	// Exactly at the limits is accepted, and every value is kept.
	must(t, s.LogBatch(ctx, id, metrics(900), params(50), tags(50)))
	hist, _, err := s.MetricHistory(ctx, id, "m", tracking.Page{})
	must(t, err)
	if len(hist) != 900 {
		t.Errorf("history holds %d values, want 900", len(hist))
	}
	r := getRun(t, s, id)
	if len(r.Data.Params) != 50 || len(r.Data.Tags) != 51 { // + mlflow.runName
		t.Errorf("%d params, %d tags", len(r.Data.Params), len(r.Data.Tags))
	}
}

func testLogBatchAtomic(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "atomic").Info.RunID
	must(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "fixed", Value: "a"}}, nil))
	err := s.LogBatch(ctx, id,
		[]tracking.Metric{{Key: "lost", Value: 1, Timestamp: 1}},
		[]tracking.Param{{Key: "also-lost", Value: "x"}, {Key: "fixed", Value: "b"}},
		[]tracking.Tag{{Key: "lost-tag", Value: "x"}})
	wantErr(t, err, tracking.InvalidParameterValue, "Changing param values is not allowed")
	r := getRun(t, s, id)
	if len(r.Data.Metrics) != 0 || len(r.Data.Params) != 1 || len(tagMap(r.Data.Tags)) != 1 {
		t.Errorf("a failed batch left data behind: %+v", r.Data)
	}
	hist, _, err := s.MetricHistory(ctx, id, "lost", tracking.Page{})
	must(t, err)
	if len(hist) != 0 {
		t.Errorf("a failed batch left history: %v", hist)
	}
}

func testLogBatchTags(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "tags").Info.RunID
	must(t, s.LogBatch(ctx, id, nil, nil, []tracking.Tag{{Key: "k", Value: "1"}, {Key: "note", Value: "x"}}))
	must(t, s.LogBatch(ctx, id, nil, nil, []tracking.Tag{{Key: "k", Value: "2"}}))
	// Setting mlflow.runName renames the run, as MLflow's set_tag does.
	must(t, s.LogBatch(ctx, id, nil, nil, []tracking.Tag{{Key: "mlflow.runName", Value: "renamed"}}))
	r := getRun(t, s, id)
	tags := tagMap(r.Data.Tags)
	if tags["k"] != "2" || tags["note"] != "x" || tags["mlflow.runName"] != "renamed" || r.Info.RunName != "renamed" {
		t.Errorf("tags %v, name %q", tags, r.Info.RunName)
	}
	wantErr(t, s.LogBatch(ctx, id, nil, nil, []tracking.Tag{{Key: "big", Value: strings.Repeat("v", tracking.MaxTagValueLength+1)}}),
		tracking.InvalidParameterValue, "exceeded length limit of 8000")
	wantErr(t, s.LogBatch(ctx, id, []tracking.Metric{{Key: strings.Repeat("k", 251), Value: 1}}, nil, nil),
		tracking.InvalidParameterValue, "exceeded length limit of 250")
}

func testMetricSpecialValues(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "special").Info.RunID
	vals := map[string]float64{"nan": math.NaN(), "inf": math.Inf(1), "ninf": math.Inf(-1), "tiny": 5e-324, "big": math.MaxFloat64, "neg": -0.5}
	var ms []tracking.Metric
	for k, v := range vals {
		ms = append(ms, tracking.Metric{Key: k, Value: v, Timestamp: 10, Step: 3})
	}
	must(t, s.LogBatch(ctx, id, ms, nil, nil))
	r := getRun(t, s, id)
	for k, v := range vals {
		m, ok := latest(r, k)
		if !ok {
			t.Errorf("metric %s missing", k)
			continue
		}
		if !same(m.Value, v) || m.Step != 3 || m.Timestamp != 10 {
			t.Errorf("latest %s = %+v, want value %v", k, m, v)
		}
		hist, _, err := s.MetricHistory(ctx, id, k, tracking.Page{})
		must(t, err)
		if len(hist) != 1 || !same(hist[0].Value, v) {
			t.Errorf("history %s = %v, want [%v]", k, hist, v)
		}
	}
}

// same compares floats bit for bit in meaning: NaN equals NaN.
func same(a, b float64) bool {
	return a == b || math.IsNaN(a) && math.IsNaN(b)
}

func testLatestMetric(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "latest").Info.RunID
	log := func(ms ...tracking.Metric) {
		t.Helper()
		for i := range ms {
			ms[i].Key = "loss"
		}
		must(t, s.LogBatch(ctx, id, ms, nil, nil))
	}
	check := func(want tracking.Metric) {
		t.Helper()
		m, ok := latest(getRun(t, s, id), "loss")
		if !ok || !same(m.Value, want.Value) || m.Step != want.Step || m.Timestamp != want.Timestamp {
			t.Fatalf("latest = %+v, want value %v step %d timestamp %d", m, want.Value, want.Step, want.Timestamp)
		}
	}
	log(tracking.Metric{Value: 5, Step: 2, Timestamp: 100})
	check(tracking.Metric{Value: 5, Step: 2, Timestamp: 100})
	// An earlier step logged later does not replace it.
	log(tracking.Metric{Value: 9, Step: 1, Timestamp: 500})
	check(tracking.Metric{Value: 5, Step: 2, Timestamp: 100})
	// Same step: the later timestamp wins, even with a smaller value.
	log(tracking.Metric{Value: 1, Step: 2, Timestamp: 101})
	check(tracking.Metric{Value: 1, Step: 2, Timestamp: 101})
	// Same step and timestamp: the larger value wins.
	log(tracking.Metric{Value: 0.5, Step: 2, Timestamp: 101})
	check(tracking.Metric{Value: 1, Step: 2, Timestamp: 101})
	log(tracking.Metric{Value: 3, Step: 2, Timestamp: 101})
	check(tracking.Metric{Value: 3, Step: 2, Timestamp: 101})
	// Within one batch the same rule picks the latest.
	log(tracking.Metric{Value: 7, Step: 10, Timestamp: 1}, tracking.Metric{Value: 8, Step: 9, Timestamp: 999}, tracking.Metric{Value: 6, Step: 10, Timestamp: 1})
	check(tracking.Metric{Value: 7, Step: 10, Timestamp: 1})
	log(tracking.Metric{Value: math.NaN(), Step: 11, Timestamp: 1})
	check(tracking.Metric{Value: math.NaN(), Step: 11, Timestamp: 1})
}

func testMetricHistory(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "hist").Info.RunID
	// Logged out of order, in two batches.
	must(t, s.LogBatch(ctx, id, []tracking.Metric{
		{Key: "acc", Value: 0.3, Step: 3, Timestamp: 30},
		{Key: "acc", Value: 0.1, Step: 1, Timestamp: 10},
		{Key: "other", Value: 42, Step: 0, Timestamp: 1},
	}, nil, nil))
	must(t, s.LogBatch(ctx, id, []tracking.Metric{
		{Key: "acc", Value: 0.25, Step: 2, Timestamp: 21},
		{Key: "acc", Value: 0.2, Step: 2, Timestamp: 20},
		{Key: "acc", Value: 0.0, Step: 0, Timestamp: 5, DatasetName: "train", DatasetDigest: "abc"},
	}, nil, nil))
	all, next, err := s.MetricHistory(ctx, id, "acc", tracking.Page{})
	must(t, err)
	if next != "" {
		t.Errorf("unpaged history returned a page token %q", next)
	}
	want := []float64{0.0, 0.1, 0.2, 0.25, 0.3}
	if len(all) != len(want) {
		t.Fatalf("history %v", all)
	}
	for i, m := range all {
		if m.Value != want[i] || m.Key != "acc" {
			t.Errorf("history[%d] = %+v, want value %v", i, m, want[i])
		}
	}
	if all[0].DatasetName != "train" || all[0].DatasetDigest != "abc" {
		t.Errorf("dataset link lost: %+v", all[0])
	}
	var paged []tracking.Metric
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		ms, next, err := s.MetricHistory(ctx, id, "acc", tracking.Page{MaxResults: 2, PageToken: tok})
		must(t, err)
		if len(ms) > 2 {
			t.Fatalf("page of %d > 2", len(ms))
		}
		paged = append(paged, ms...)
		if next == "" {
			break
		}
		tok = next
	}
	if fmt.Sprint(paged) != fmt.Sprint(all) {
		t.Errorf("paged history %v != %v", paged, all)
	}
	none, _, err := s.MetricHistory(ctx, id, "never-logged", tracking.Page{})
	must(t, err)
	if len(none) != 0 {
		t.Errorf("history of an unlogged key: %v", none)
	}
	_, _, err = s.MetricHistory(ctx, "0123456789abcdef0123456789abcdef", "acc", tracking.Page{})
	wantErr(t, err, tracking.ResourceDoesNotExist, "not found")
	_, _, err = s.MetricHistory(ctx, id, "acc", tracking.Page{MaxResults: 2, PageToken: "!!not a token!!"})
	wantErr(t, err, tracking.InvalidParameterValue, "")
}

func testDeleteTag(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "dt").Info.RunID
	must(t, s.LogBatch(ctx, id, nil, nil, []tracking.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}))
	must(t, s.DeleteTag(ctx, id, "a"))
	tags := tagMap(getRun(t, s, id).Data.Tags)
	if _, ok := tags["a"]; ok || tags["b"] != "2" {
		t.Errorf("tags after delete %v", tags)
	}
	wantErr(t, s.DeleteTag(ctx, id, "a"), tracking.ResourceDoesNotExist, "No tag with name: a")
	wantErr(t, s.DeleteTag(ctx, "0123456789abcdef0123456789abcdef", "a"), tracking.ResourceDoesNotExist, "not found")
}

func testLogInputs(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	exp := createExperiment(t, s, "data")
	r1 := createRun(t, s, exp, 1, "r1").Info.RunID
	r2 := createRun(t, s, exp, 2, "r2").Info.RunID
	train := tracking.Dataset{Name: "iris", Digest: "d1", SourceType: "local", Source: `{"uri": "/data/iris.csv"}`, Schema: `{"mlflow_colspec": []}`, Profile: `{"num_rows": 150}`}
	eval := tracking.Dataset{Name: "iris-eval", Digest: "d2", SourceType: "local", Source: "{}"}
	must(t, s.LogInputs(ctx, r1, []tracking.DatasetInput{
		{Dataset: train, Tags: []tracking.Tag{{Key: "mlflow.data.context", Value: "train"}}},
		{Dataset: eval, Tags: []tracking.Tag{{Key: "mlflow.data.context", Value: "eval"}}},
	}))
	// Logging the same input again does not duplicate it.
	must(t, s.LogInputs(ctx, r1, []tracking.DatasetInput{{Dataset: train, Tags: []tracking.Tag{{Key: "mlflow.data.context", Value: "train"}}}}))
	must(t, s.LogInputs(ctx, r2, []tracking.DatasetInput{{Dataset: train}}))
	run := getRun(t, s, r1)
	if len(run.Inputs) != 2 {
		t.Fatalf("run 1 inputs: %+v", run.Inputs)
	}
	byName := map[string]tracking.DatasetInput{}
	for _, in := range run.Inputs {
		byName[in.Dataset.Name] = in
	}
	if got := byName["iris"]; got.Dataset != train || tagMap(got.Tags)["mlflow.data.context"] != "train" {
		t.Errorf("iris input %+v", got)
	}
	if got := byName["iris-eval"]; got.Dataset != eval || tagMap(got.Tags)["mlflow.data.context"] != "eval" {
		t.Errorf("eval input %+v", got)
	}
	run2 := getRun(t, s, r2)
	if len(run2.Inputs) != 1 || run2.Inputs[0].Dataset != train {
		t.Errorf("run 2 inputs %+v", run2.Inputs)
	}
	wantErr(t, s.LogInputs(ctx, r1, []tracking.DatasetInput{{Dataset: tracking.Dataset{Digest: "x"}}}), tracking.InvalidParameterValue, "name")
	wantErr(t, s.LogInputs(ctx, "0123456789abcdef0123456789abcdef", []tracking.DatasetInput{{Dataset: train}}), tracking.ResourceDoesNotExist, "not found")
}

// searchReady reports whether tracking/search parses filters yet (it is
// developed alongside the stores); filter tests skip until it does.
func searchReady() bool {
	f, err := search.ParseRunFilter("metrics.a > 1")
	return err == nil && len(f) == 1 && search.EncodePageToken(5) != ""
}

func runNames(runs []tracking.Run) string {
	var out []string
	for _, r := range runs {
		out = append(out, r.Info.RunName)
	}
	return strings.Join(out, ",")
}

func testSearchRunsBasic(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	a := createExperiment(t, s, "a")
	b := createExperiment(t, s, "b")
	createRun(t, s, a, 100, "a1")
	createRun(t, s, a, 300, "a3")
	createRun(t, s, b, 200, "b2")
	r := createRun(t, s, a, 300, "a3bis")
	must(t, s.LogBatch(ctx, r.Info.RunID, []tracking.Metric{{Key: "m", Value: 1, Step: 1, Timestamp: 1}}, []tracking.Param{{Key: "p", Value: "v"}}, nil))

	runs, next, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{a}})
	must(t, err)
	if next != "" {
		t.Errorf("unexpected page token %q", next)
	}
	// start_time DESC, then run_id: the two runs at 300 in run id order.
	if len(runs) != 3 || runs[2].Info.RunName != "a1" || runs[0].Info.StartTime != 300 || runs[1].Info.StartTime != 300 ||
		runs[0].Info.RunID > runs[1].Info.RunID {
		t.Errorf("default order: %s", runNames(runs))
	}
	for _, run := range runs {
		if run.Info.RunID == r.Info.RunID {
			if len(run.Data.Metrics) != 1 || len(run.Data.Params) != 1 {
				t.Errorf("search result lacks data: %+v", run.Data)
			}
		}
	}
	runs, _, err = s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{a, b}})
	must(t, err)
	if len(runs) != 4 || runs[2].Info.RunName != "b2" {
		t.Errorf("two experiments: %s", runNames(runs))
	}
	runs, _, err = s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{"99999"}})
	must(t, err)
	if len(runs) != 0 {
		t.Errorf("unknown experiment gave %d runs", len(runs))
	}
	_, _, err = s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{a}, Page: tracking.Page{MaxResults: 50001}})
	wantErr(t, err, tracking.InvalidParameterValue, "50000")
	_, _, err = s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{a}, Page: tracking.Page{MaxResults: -1}})
	wantErr(t, err, tracking.InvalidParameterValue, "max_results")
	runs, _, err = s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{a}, Page: tracking.Page{MaxResults: 50000}})
	must(t, err)
	if len(runs) != 3 {
		t.Errorf("max_results 50000: %d runs", len(runs))
	}
}

func testSearchRunsPaging(t *testing.T, s tracking.Store) {
	if !searchReady() {
		t.Skip("tracking/search page tokens are not implemented yet")
	}
	ctx := context.Background()
	exp := createExperiment(t, s, "paging")
	for i := range 7 {
		createRun(t, s, exp, int64(1000-i), fmt.Sprintf("r%d", i))
	}
	var names []string
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("paging does not end")
		}
		runs, next, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Page: tracking.Page{MaxResults: 3, PageToken: tok}})
		must(t, err)
		names = append(names, runNames(runs))
		if next == "" {
			break
		}
		tok = next
	}
	if got := strings.Join(names, "|"); got != "r0,r1,r2|r3,r4,r5|r6" {
		t.Errorf("pages %s", got)
	}
	_, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Page: tracking.Page{PageToken: "garbage!"}})
	wantErr(t, err, tracking.InvalidParameterValue, "")
}

// searchFixture makes runs with known metrics, params, tags and datasets.
func searchFixture(t *testing.T, s tracking.Store) (string, map[string]string) {
	ctx := context.Background()
	exp := createExperiment(t, s, "search")
	byName := map[string]string{}
	type spec struct {
		name    string
		start   int64
		acc     float64 // NaN: not logged
		model   string  // "": not logged
		team    string
		dataset string
	}
	specs := []spec{
		{"alpha", 100, 0.9, "xgb", "Vision", "iris"},
		{"beta", 200, 0.4, "xgb", "vision", ""},
		{"gamma", 300, 0.7, "lr", "NLP", "wine"},
		{"delta", 400, math.NaN(), "lr", "", "iris"},
		{"Epsilon", 500, 0.5, "", "nlp", ""},
	}
	for _, sp := range specs {
		r, err := s.CreateRun(ctx, tracking.CreateRun{ExperimentID: exp, RunName: sp.name, StartTime: sp.start, UserID: "user-" + sp.name})
		must(t, err)
		var ms []tracking.Metric
		if !math.IsNaN(sp.acc) {
			ms = append(ms, tracking.Metric{Key: "acc", Value: sp.acc, Timestamp: 1})
		}
		ms = append(ms, tracking.Metric{Key: "loss-x", Value: float64(sp.start) / 100, Timestamp: 1})
		var ps []tracking.Param
		if sp.model != "" {
			ps = append(ps, tracking.Param{Key: "model", Value: sp.model})
		}
		var ts []tracking.Tag
		if sp.team != "" {
			ts = append(ts, tracking.Tag{Key: "team", Value: sp.team})
		}
		must(t, s.LogBatch(ctx, r.Info.RunID, ms, ps, ts))
		if sp.dataset != "" {
			must(t, s.LogInputs(ctx, r.Info.RunID, []tracking.DatasetInput{{
				Dataset: tracking.Dataset{Name: sp.dataset, Digest: "dg-" + sp.dataset, SourceType: "local", Source: "{}"},
				Tags:    []tracking.Tag{{Key: "mlflow.data.context", Value: "train"}},
			}}))
		}
		byName[sp.name] = r.Info.RunID
	}
	_, err := s.UpdateRun(ctx, byName["gamma"], tracking.UpdateRun{Status: tracking.StatusFinished, EndTime: 350})
	must(t, err)
	return exp, byName
}

func testSearchRunsFilter(t *testing.T, s tracking.Store) {
	if !searchReady() {
		t.Skip("tracking/search filters are not implemented yet")
	}
	exp, byName := searchFixture(t, s)
	ctx := context.Background()
	cases := []struct {
		filter string
		want   string // names in default order (start_time DESC)
	}{
		{"", "Epsilon,delta,gamma,beta,alpha"},
		{"metrics.acc > 0.5", "gamma,alpha"},
		{"metrics.acc >= 0.5", "Epsilon,gamma,alpha"},
		{"metrics.acc != 0.5", "gamma,beta,alpha"},
		{"metrics.acc > 0.5 and params.model = 'xgb'", "alpha"},
		{"metrics.`loss-x` <= 2", "beta,alpha"},
		{"params.model = 'lr'", "delta,gamma"},
		{"params.model != 'lr'", "beta,alpha"},
		{"params.model LIKE 'x%'", "beta,alpha"},
		{"tags.team = 'vision'", "beta"},
		{"tags.team LIKE 'v%'", "beta"},
		{"tags.team LIKE 'V_sion'", "alpha"},
		{"tags.team ILIKE 'v%'", "beta,alpha"},
		{"tags.team ILIKE '%LP'", "Epsilon,gamma"},
		{"attributes.run_name = 'gamma'", "gamma"},
		{"run_name LIKE '%a'", "delta,gamma,beta,alpha"},
		{"attributes.run_name ILIKE 'e%'", "Epsilon"},
		{"attributes.status = 'FINISHED'", "gamma"},
		{"attributes.status != 'FINISHED'", "Epsilon,delta,beta,alpha"},
		{"attributes.start_time > 200", "Epsilon,delta,gamma"},
		{"attributes.start_time >= 200 and attributes.start_time < 400", "gamma,beta"},
		{"attributes.end_time = 350", "gamma"},
		{"attributes.user_id = 'user-beta'", "beta"},
		{"attributes.run_id IN ('" + byName["alpha"] + "', '" + byName["delta"] + "')", "delta,alpha"},
		{"attributes.run_id NOT IN ('" + byName["alpha"] + "')", "Epsilon,delta,gamma,beta"},
		{"datasets.name = 'iris'", "delta,alpha"},
		{"datasets.digest LIKE 'dg-w%'", "gamma"},
		{"datasets.context = 'train'", "delta,gamma,alpha"},
		{"params.model = 'xgb' and tags.team ILIKE 'VISION' and metrics.acc < 0.5", "beta"},
		{"metrics.missing > 0", ""},
		{"params.model = 'XGB'", ""},
	}
	for _, tc := range cases {
		runs, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Filter: tc.filter})
		if err != nil {
			t.Errorf("%q: %v", tc.filter, err)
			continue
		}
		if got := runNames(runs); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.filter, got, tc.want)
		}
	}
	for _, bad := range []string{"metrics.acc > 'a'", "params.model > 'x'", "metrics.acc = 1 or params.model = 'x'", "nonsense"} {
		_, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Filter: bad})
		wantErr(t, err, tracking.InvalidParameterValue, "")
	}
}

func testSearchRunsOrder(t *testing.T, s tracking.Store) {
	if !searchReady() {
		t.Skip("tracking/search order_by is not implemented yet")
	}
	exp, _ := searchFixture(t, s)
	ctx := context.Background()
	cases := []struct {
		order []string
		want  string
	}{
		// Missing values (delta has no acc) sort last in both directions.
		{[]string{"metrics.acc DESC"}, "alpha,gamma,Epsilon,beta,delta"},
		{[]string{"metrics.acc ASC"}, "beta,Epsilon,gamma,alpha,delta"},
		{[]string{"metrics.acc"}, "beta,Epsilon,gamma,alpha,delta"},
		{[]string{"params.model ASC"}, "delta,gamma,beta,alpha,Epsilon"},
		{[]string{"params.model DESC", "attributes.start_time ASC"}, "alpha,beta,gamma,delta,Epsilon"},
		{[]string{"tags.team DESC"}, "beta,Epsilon,alpha,gamma,delta"},
		{[]string{"attributes.start_time ASC"}, "alpha,beta,gamma,delta,Epsilon"},
		{[]string{"attributes.run_name"}, "Epsilon,alpha,beta,delta,gamma"},
	}
	for _, tc := range cases {
		runs, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, OrderBy: tc.order})
		if err != nil {
			t.Errorf("%q: %v", tc.order, err)
			continue
		}
		if got := runNames(runs); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.order, got, tc.want)
		}
	}
	// Ordered and paged: pages continue the same order.
	first, tok, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, OrderBy: []string{"metrics.acc DESC"}, Page: tracking.Page{MaxResults: 2}})
	must(t, err)
	rest, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, OrderBy: []string{"metrics.acc DESC"}, Page: tracking.Page{MaxResults: 10, PageToken: tok}})
	must(t, err)
	if got := runNames(first) + "|" + runNames(rest); got != "alpha,gamma|Epsilon,beta,delta" {
		t.Errorf("ordered pages %s", got)
	}
	_, _, err = s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, OrderBy: []string{"bogus.x"}})
	wantErr(t, err, tracking.InvalidParameterValue, "")
}

// testSearchRunsHostile checks that filter values are data, never SQL.
func testSearchRunsHostile(t *testing.T, s tracking.Store) {
	if !searchReady() {
		t.Skip("tracking/search filters are not implemented yet")
	}
	exp, _ := searchFixture(t, s)
	ctx := context.Background()
	for _, f := range []string{
		`params.model = 'x''; DROP TABLE runs; --'`,
		`params.model = 'x" OR 1=1 --'`,
		"tags.`a'; DELETE FROM runs; --` = 'v'",
		`params.model LIKE '%'' OR ''1''=''1'`,
		`attributes.run_id IN ('a'')) OR 1=1 --')`,
	} {
		runs, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Filter: f})
		if err != nil && tracking.CodeOf(err) != tracking.InvalidParameterValue {
			t.Errorf("%q: %v", f, err)
		}
		if len(runs) != 0 {
			t.Errorf("%q matched %d runs", f, len(runs))
		}
	}
	runs, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}})
	must(t, err)
	if len(runs) != 5 {
		t.Errorf("after hostile filters %d runs remain, want 5", len(runs))
	}
}

func testSearchExperiments(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	for i, name := range []string{"exp-one", "exp-two", "Other"} {
		id, err := s.CreateExperiment(ctx, name, "", []tracking.Tag{{Key: "idx", Value: fmt.Sprint(i)}})
		must(t, err)
		_ = id
	}
	all, _, err := s.SearchExperiments(ctx, tracking.ExperimentQuery{})
	must(t, err)
	if len(all) != 4 {
		t.Fatalf("%d experiments, want 4", len(all))
	}
	for _, e := range all {
		if e.Name != "Default" && len(e.Tags) != 1 {
			t.Errorf("experiment %s tags %v", e.Name, e.Tags)
		}
	}
	_, _, err = s.SearchExperiments(ctx, tracking.ExperimentQuery{Page: tracking.Page{MaxResults: 50001}})
	wantErr(t, err, tracking.InvalidParameterValue, "50000")
	if !searchReady() {
		t.Skip("tracking/search filters are not implemented yet")
	}
	names := func(exps []tracking.Experiment) string {
		var out []string
		for _, e := range exps {
			out = append(out, e.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		filter string
		order  []string
		want   string
	}{
		{"name LIKE 'exp-%'", []string{"name ASC"}, "exp-one,exp-two"},
		{"name ILIKE 'OTHER'", nil, "Other"},
		{"name = 'exp-two'", nil, "exp-two"},
		{"tags.idx = '2'", nil, "Other"},
		{"", []string{"name DESC"}, "exp-two,exp-one,Other,Default"},
		{"creation_time > 0", []string{"name ASC"}, "Default,Other,exp-one,exp-two"},
	} {
		exps, _, err := s.SearchExperiments(ctx, tracking.ExperimentQuery{Filter: tc.filter, OrderBy: tc.order})
		if err != nil {
			t.Errorf("%q %q: %v", tc.filter, tc.order, err)
			continue
		}
		if got := names(exps); got != tc.want {
			t.Errorf("%q %q: got %q, want %q", tc.filter, tc.order, got, tc.want)
		}
	}
	var paged []string
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("paging does not end")
		}
		exps, next, err := s.SearchExperiments(ctx, tracking.ExperimentQuery{OrderBy: []string{"name ASC"}, Page: tracking.Page{MaxResults: 3, PageToken: tok}})
		must(t, err)
		paged = append(paged, names(exps))
		if next == "" {
			break
		}
		tok = next
	}
	if got := strings.Join(paged, "|"); got != "Default,Other,exp-one|exp-two" {
		t.Errorf("pages %s", got)
	}
}

// testMetricRepeats: a value is kept once per (key, step, timestamp,
// value), as MLflow's metrics key has it, so a retried request or a repeat
// within one batch does not show twice in the history.
func testMetricRepeats(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "repeats").Info.RunID
	m := tracking.Metric{Key: "loss", Value: 0.5, Timestamp: 1000, Step: 3}
	nan := tracking.Metric{Key: "loss", Value: math.NaN(), Timestamp: 1000, Step: 3}
	for range 2 {
		must(t, s.LogBatch(ctx, id, []tracking.Metric{m}, nil, nil))
	}
	must(t, s.LogBatch(ctx, id, []tracking.Metric{m, m, nan, nan}, nil, nil))
	other := m
	other.Value = 0.25 // a different value at the same step and time is kept
	must(t, s.LogBatch(ctx, id, []tracking.Metric{other, nan}, nil, nil))
	hist, _, err := s.MetricHistory(ctx, id, "loss", tracking.Page{})
	must(t, err)
	var nans, halves, quarters int
	for _, h := range hist {
		switch {
		case math.IsNaN(h.Value):
			nans++
		case h.Value == 0.5:
			halves++
		case h.Value == 0.25:
			quarters++
		}
	}
	if len(hist) != 3 || nans != 1 || halves != 1 || quarters != 1 {
		t.Errorf("history after repeats: %+v (want 0.5, 0.25 and NaN once each)", hist)
	}
}
