package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking"
)

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
	// MLflow looks for an active experiment to delete and a deleted one
	// to restore.
	wantErr(t, s.RestoreExperiment(ctx, exp), tracking.ResourceDoesNotExist, "No Experiment with id="+exp+" exists")
	must(t, s.DeleteExperiment(ctx, exp))
	wantErr(t, s.DeleteExperiment(ctx, exp), tracking.ResourceDoesNotExist, "No Experiment with id="+exp+" exists")
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
	for _, exps := range allPages(t, 5, func(tok string) ([]tracking.Experiment, string, error) {
		return s.SearchExperiments(ctx, tracking.ExperimentQuery{OrderBy: []string{"name ASC"}, Page: tracking.Page{MaxResults: 3, PageToken: tok}})
	}) {
		paged = append(paged, names(exps))
	}
	if got := strings.Join(paged, "|"); got != "Default,Other,exp-one|exp-two" {
		t.Errorf("pages %s", got)
	}
}
