package cli

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/client"
)

// TestExperimentsCSV: `mlship experiments csv` writes the CSV that
// `mlflow experiments csv` (pandas' to_csv of mlflow.search_runs) writes:
// info columns, then metrics, params and tags in the order first seen,
// UTC timestamps as pandas prints them, floats in Python's repr, missing
// values and NaN empty, Python's csv quoting.
func TestExperimentsCSV(t *testing.T) {
	s := startTrackingServer(t)
	env := map[string]string{"MLFLOW_TRACKING_URI": s.url}
	c, err := client.New(s.url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	exp, err := c.CreateExperiment(ctx, "csv", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Oldest first: the CSV lists the newest run first.
	a, err := c.CreateRun(ctx, tracking.CreateRun{ExperimentID: exp, RunName: "a", StartTime: 1700000000000})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LogBatch(ctx, a.Info.RunID, []tracking.Metric{{Key: "acc", Value: 0.5, Timestamp: 1}, {Key: "loss", Value: math.NaN(), Timestamp: 1}},
		[]tracking.Param{{Key: "lr", Value: "0.1"}}, []tracking.Tag{{Key: "note", Value: "has, comma and \"quotes\""}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateRun(ctx, a.Info.RunID, tracking.UpdateRun{Status: tracking.StatusFinished, EndTime: 1700000001234}); err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateRun(ctx, tracking.CreateRun{ExperimentID: exp, RunName: "b", StartTime: 1700000002500})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LogBatch(ctx, b.Info.RunID, []tracking.Metric{{Key: "acc", Value: 1, Timestamp: 1}, {Key: "big", Value: math.Inf(1), Timestamp: 1}},
		nil, []tracking.Tag{{Key: "multi", Value: "line\nvalue"}}); err != nil {
		t.Fatal(err)
	}
	root := "mlflow-artifacts:/" + exp + "/"
	want := "run_id,experiment_id,status,artifact_uri,start_time,end_time,metrics.acc,metrics.big,metrics.loss,params.lr,tags.mlflow.runName,tags.multi,tags.note\n" +
		b.Info.RunID + "," + exp + ",RUNNING," + root + b.Info.RunID + "/artifacts,2023-11-14 22:13:22.500000+00:00,,1.0,inf,,,b,\"line\nvalue\",\n" +
		a.Info.RunID + "," + exp + ",FINISHED," + root + a.Info.RunID + "/artifacts,2023-11-14 22:13:20+00:00,2023-11-14 22:13:21.234000+00:00,0.5,,,0.1,a,,\"has, comma and \"\"quotes\"\"\"\n"
	if got := mlship(t, env, "experiments", "csv", "-x", exp); got != want+"\n" {
		t.Errorf("csv on stdout:\n%s\nwant:\n%s", got, want+"\n")
	}
	file := filepath.Join(t.TempDir(), "runs.csv")
	if got := mlship(t, env, "experiments", "csv", "--experiment-id", exp, "-o", file); got != "Experiment with ID "+exp+" has been exported as a CSV to file: "+file+".\n" {
		t.Errorf("csv -o printed %q", got)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != want {
		t.Errorf("csv file %q, %v", b, err)
	}
	empty, err := c.CreateExperiment(ctx, "empty", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := mlship(t, env, "experiments", "csv", "-x", empty); got != "run_id,experiment_id,status,artifact_uri,start_time,end_time\n\n" {
		t.Errorf("csv of an empty experiment: %q", got)
	}
}
