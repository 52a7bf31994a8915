package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// A real MLflow client: the npm package `mlflow` drives a scenario
// (experiments, runs, params, metrics, log-batch, tags, search with a
// filter, history, update) against `mlship server`; the test checks what
// the client saw and, with the server stopped, what the store holds.
func TestNPMMLflowClient(t *testing.T) {
	node, modules := testenv.MLflowNPM(t)
	srv := startTrackingServer(t)
	outFile := filepath.Join(t.TempDir(), "scenario.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "mlflow_npm_scenario.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "MLFLOW_TRACKING_URI="+srv.url, "SCENARIO_OUT="+outFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node scenario: %v\n%s", err, out)
	}
	data, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	type apiErr struct {
		Status int `json:"status"`
		Data   struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
		} `json:"data"`
	}
	var seen struct {
		ExperimentID string         `json:"experiment_id"`
		Duplicate    *apiErr        `json:"duplicate"`
		Experiment   map[string]any `json:"experiment"`
		RunID        string         `json:"run_id"`
		Created      map[string]any `json:"created"`
		ParamChange  *apiErr        `json:"param_change"`
		OtherID      string         `json:"other_id"`
		GoneID       string         `json:"gone_id"`
		SearchIDs    []string       `json:"search_ids"`
		AllIDs       []string       `json:"all_ids"`
		Page1        int            `json:"page1"`
		PageToken    string         `json:"page_token"`
		BadFilter    *apiErr        `json:"bad_filter"`
		LossHistory  []struct {
			Value float64 `json:"value"`
			Step  int64   `json:"step"`
		} `json:"loss_history"`
		Updated map[string]any `json:"updated"`
		Missing *apiErr        `json:"missing"`
	}
	if err := json.Unmarshal(data, &seen); err != nil {
		t.Fatalf("scenario output: %v\n%s", err, data)
	}

	// What the client saw.
	if seen.ExperimentID != "1" || seen.Experiment["name"] != "npm-scenario" || seen.Experiment["artifact_location"] != "mlflow-artifacts:/1" {
		t.Errorf("experiment %s: %v", seen.ExperimentID, seen.Experiment)
	}
	if e := seen.Duplicate; e == nil || e.Status != 400 || e.Data.ErrorCode != "RESOURCE_ALREADY_EXISTS" {
		t.Errorf("duplicate experiment: %+v", e)
	}
	if seen.Created["status"] != "RUNNING" || seen.Created["run_name"] != "npm-run" || seen.Created["user_id"] != "npm-user" {
		t.Errorf("created run: %v", seen.Created)
	}
	if e := seen.ParamChange; e == nil || e.Status != 400 || e.Data.ErrorCode != "INVALID_PARAMETER_VALUE" || !strings.Contains(e.Data.Message, "Changing param values is not allowed") {
		t.Errorf("param change: %+v", e)
	}
	if !slices.Equal(seen.SearchIDs, []string{seen.RunID}) {
		t.Errorf("filtered search = %v, want [%s]", seen.SearchIDs, seen.RunID)
	}
	if !slices.Equal(seen.AllIDs, []string{seen.RunID, seen.OtherID, seen.GoneID}) {
		t.Errorf("ALL search by start_time = %v", seen.AllIDs)
	}
	if seen.Page1 != 1 || seen.PageToken == "" {
		t.Errorf("max_results 1: %d runs, token %q", seen.Page1, seen.PageToken)
	}
	if e := seen.BadFilter; e == nil || e.Status != 400 || e.Data.ErrorCode != "INVALID_PARAMETER_VALUE" {
		t.Errorf("filter with or: %+v", e)
	}
	if len(seen.LossHistory) != 5 || seen.LossHistory[4].Step != 4 || seen.LossHistory[4].Value != 0.2 {
		t.Errorf("loss history = %+v", seen.LossHistory)
	}
	if seen.Updated["status"] != "FINISHED" {
		t.Errorf("update = %v", seen.Updated)
	}
	if e := seen.Missing; e == nil || e.Status != 404 || e.Data.ErrorCode != "RESOURCE_DOES_NOT_EXIST" {
		t.Errorf("missing run: %+v", e)
	}

	// What the store holds, read directly after the server stopped.
	srv.stop()
	store, err := sqlstore.Open(ctx, "sqlite:///"+filepath.Join(srv.dir, "mlflow.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	exp, err := store.GetExperiment(ctx, seen.ExperimentID)
	if err != nil || exp.Name != "npm-scenario-renamed" {
		t.Errorf("stored experiment = %+v, %v", exp, err)
	}
	run, err := store.GetRun(ctx, seen.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != tracking.StatusFinished || run.Info.StartTime != 1700000000000 || run.Info.EndTime != 1700000060000 || run.Info.UserID != "npm-user" {
		t.Errorf("stored run info = %+v", run.Info)
	}
	params := map[string]string{}
	for _, p := range run.Data.Params {
		params[p.Key] = p.Value
	}
	if len(params) != 2 || params["alpha"] != "0.5" || params["layers"] != "3" {
		t.Errorf("stored params = %v", params)
	}
	latest := map[string]tracking.Metric{}
	for _, m := range run.Data.Metrics {
		latest[m.Key] = m
	}
	if m := latest["acc"]; m.Value != 0.9 || m.Step != 2 || m.Timestamp != 1700000000011 {
		t.Errorf("stored latest acc = %+v", m)
	}
	if m := latest["loss"]; m.Value != 0.2 || m.Step != 4 {
		t.Errorf("stored latest loss = %+v", m)
	}
	hist, _, err := store.MetricHistory(ctx, seen.RunID, "loss", tracking.Page{})
	if err != nil || len(hist) != 5 {
		t.Errorf("stored loss history = %+v, %v", hist, err)
	}
	for _, kv := range [][2]string{{"note", "from npm"}, {"stage", "dev"}, {"mlflow.runName", "npm-run"}, {"mlflow.source.type", "LOCAL"}} {
		if v, ok := run.Tag(kv[0]); !ok || v != kv[1] {
			t.Errorf("stored tag %s = %q, want %q", kv[0], v, kv[1])
		}
	}
	if _, ok := run.Tag("tmp"); ok {
		t.Error("deleted tag tmp is stored")
	}
	gone, err := store.GetRun(ctx, seen.GoneID)
	if err != nil || gone.Info.LifecycleStage != tracking.StageDeleted {
		t.Errorf("deleted run = %+v, %v", gone, err)
	}
}
