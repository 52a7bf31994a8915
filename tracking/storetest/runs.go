package storetest

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/mlship/mlship/tracking"
)

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
