package client_test

import (
	"context"
	"fmt"
	"os"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/client"
)

// Log a run to the server MLFLOW_TRACKING_URI names, as MLflow's clients
// do, then find it again with a search filter.
func Example() {
	ctx := context.Background()
	c, err := client.New("", client.WithEnv(os.Getenv))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	run, err := c.CreateRun(ctx, tracking.CreateRun{ExperimentID: tracking.DefaultExperimentID, RunName: "train"})
	if err != nil {
		fmt.Println(err)
		return
	}
	id := run.Info.RunID
	err = c.LogBatch(ctx, id,
		[]tracking.Metric{{Key: "rmse", Value: 0.42, Timestamp: run.Info.StartTime}},
		[]tracking.Param{{Key: "alpha", Value: "0.5"}}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.UploadArtifacts(ctx, id, "./model", "model"); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := c.UpdateRun(ctx, id, tracking.UpdateRun{Status: tracking.StatusFinished}); err != nil {
		fmt.Println(err)
		return
	}
	q := tracking.RunQuery{ExperimentIDs: []string{tracking.DefaultExperimentID}, Filter: "metrics.rmse < 0.5"}
	for r, err := range c.Runs(ctx, q) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(r.Info.RunID, r.Info.RunName)
	}
}
