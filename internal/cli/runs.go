package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mlship/mlship/tracking"
)

// NewCmdRuns is `mlship runs`, with `mlflow runs`' subcommands and flags.
func NewCmdRuns(d *deps) *cobra.Command {
	tf := &trackingFlags{}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, describe, delete and restore runs on a tracking server (mlflow runs ...)",
	}
	tf.AddFlags(cmd.PersistentFlags())

	var expID, view, filter string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list --experiment-id ID",
		Short: "List the runs of an experiment, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if expID == "" {
				expID = d.env.get("MLFLOW_EXPERIMENT_ID")
			}
			if expID == "" {
				return fmt.Errorf("--experiment-id is required (or set MLFLOW_EXPERIMENT_ID)")
			}
			vt, err := parseViewType(view)
			if err != nil {
				return err
			}
			return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
				var runs []tracking.Run
				q := tracking.RunQuery{ExperimentIDs: []string{expID}, ViewType: vt, Filter: filter}
				for r, err := range c.Runs(cmd.Context(), q) {
					if err != nil {
						return err
					}
					runs = append(runs, r)
				}
				if asJSON {
					out := make([]map[string]any, len(runs))
					for i := range runs {
						out[i] = runDict(&runs[i])
					}
					return printJSON(d.stdout, out)
				}
				rows := make([][]string, len(runs))
				for i, r := range runs {
					rows[i] = []string{msTime(r.Info.StartTime), r.Info.RunName, r.Info.RunID}
				}
				return printTable(d.stdout, []string{"Date", "Name", "ID"}, rows)
			})
		},
	}
	list.Flags().StringVar(&expID, "experiment-id", "", "experiment whose runs to list (env MLFLOW_EXPERIMENT_ID)")
	list.Flags().StringVarP(&view, "view", "v", "active_only", "which runs: active_only, deleted_only or all")
	list.Flags().StringVar(&filter, "filter", "", "only runs matching this MLflow search filter, e.g. \"metrics.rmse < 1 and params.alpha = '0.5'\"")
	list.Flags().BoolVar(&asJSON, "json", false, "print the runs as JSON")

	var runID string
	runCmd := func(use, short string, run func(cmd *cobra.Command) error) *cobra.Command {
		sub := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return run(cmd) },
		}
		sub.Flags().StringVar(&runID, "run-id", "", "id of the run")
		_ = sub.MarkFlagRequired("run-id")
		return sub
	}
	describe := runCmd("describe --run-id ID", "Print a run as JSON: info, params, latest metrics, tags, inputs", func(cmd *cobra.Command) error {
		return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
			r, err := c.GetRun(cmd.Context(), runID)
			if err != nil {
				return err
			}
			return printJSON(d.stdout, runDict(r))
		})
	})
	del := runCmd("delete --run-id ID", "Mark a run deleted (restore brings it back)", func(cmd *cobra.Command) error {
		return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
			if err := c.DeleteRun(cmd.Context(), runID); err != nil {
				return err
			}
			fmt.Fprintf(d.stdout, "Run with ID %s has been deleted.\n", runID)
			return nil
		})
	})
	restore := runCmd("restore --run-id ID", "Restore a deleted run", func(cmd *cobra.Command) error {
		return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
			if err := c.RestoreRun(cmd.Context(), runID); err != nil {
				return err
			}
			fmt.Fprintf(d.stdout, "Run with id %s has been restored.\n", runID)
			return nil
		})
	})
	cmd.AddCommand(list, describe, del, restore)
	return cmd
}

// runDict is a run as MLflow's Run.to_dictionary spells it: metrics,
// params and tags as objects keyed by name.
func runDict(r *tracking.Run) map[string]any {
	i := r.Info
	info := map[string]any{
		"run_id": i.RunID, "run_uuid": i.RunID, "run_name": i.RunName,
		"experiment_id": i.ExperimentID, "user_id": i.UserID, "status": string(i.Status),
		"start_time": i.StartTime, "end_time": nil, "artifact_uri": i.ArtifactURI,
		"lifecycle_stage": i.LifecycleStage,
	}
	if i.EndTime != 0 {
		info["end_time"] = i.EndTime
	}
	metrics := map[string]any{}
	for _, m := range r.Data.Metrics {
		metrics[m.Key] = jsonNumber(m.Value)
	}
	params := map[string]string{}
	for _, p := range r.Data.Params {
		params[p.Key] = p.Value
	}
	tags := map[string]string{}
	for _, t := range r.Data.Tags {
		tags[t.Key] = t.Value
	}
	out := map[string]any{"info": info, "data": map[string]any{"metrics": metrics, "params": params, "tags": tags}}
	if len(r.Inputs) > 0 {
		var ds []map[string]any
		for _, in := range r.Inputs {
			t := map[string]string{}
			for _, tg := range in.Tags {
				t[tg.Key] = tg.Value
			}
			ds = append(ds, map[string]any{"tags": t, "dataset": map[string]string{
				"name": in.Dataset.Name, "digest": in.Dataset.Digest, "source_type": in.Dataset.SourceType,
				"source": in.Dataset.Source, "schema": in.Dataset.Schema, "profile": in.Dataset.Profile,
			}})
		}
		out["inputs"] = map[string]any{"dataset_inputs": ds}
	}
	return out
}
