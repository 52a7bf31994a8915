package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mlship/mlship/tracking"
)

// NewCmdExperiments is `mlship experiments`, with `mlflow experiments`'
// subcommands and flags.
func NewCmdExperiments(d *deps) *cobra.Command {
	tf := &trackingFlags{}
	cmd := &cobra.Command{
		Use:   "experiments",
		Short: "Create, search, rename, delete, restore and export experiments on a tracking server (mlflow experiments ...)",
	}
	tf.AddFlags(cmd.PersistentFlags())

	var name, location string
	create := &cobra.Command{
		Use:   "create -n NAME",
		Short: "Create an experiment",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
				id, err := c.CreateExperiment(cmd.Context(), name, location, nil)
				if err != nil {
					return err
				}
				fmt.Fprintf(d.stdout, "Created experiment '%s' with id %s\n", name, id)
				return nil
			})
		},
	}
	create.Flags().StringVarP(&name, "experiment-name", "n", "", "name of the experiment")
	create.Flags().StringVarP(&location, "artifact-location", "l", "", "where the experiment's runs store artifacts (default: the server's choice)")
	_ = create.MarkFlagRequired("experiment-name")

	var view string
	var asJSON bool
	search := &cobra.Command{
		Use:   "search",
		Short: "List experiments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vt, err := parseViewType(view)
			if err != nil {
				return err
			}
			return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
				var exps []tracking.Experiment
				for e, err := range c.Experiments(cmd.Context(), tracking.ExperimentQuery{ViewType: vt}) {
					if err != nil {
						return err
					}
					exps = append(exps, e)
				}
				if asJSON {
					out := make([]map[string]any, len(exps))
					for i, e := range exps {
						out[i] = experimentDict(e)
					}
					return printJSON(d.stdout, out)
				}
				rows := make([][]string, len(exps))
				for i, e := range exps {
					rows[i] = []string{e.ID, e.Name, e.ArtifactLocation}
				}
				return printTable(d.stdout, []string{"Experiment Id", "Name", "Artifact Location"}, rows)
			})
		},
	}
	search.Flags().StringVarP(&view, "view", "v", "active_only", "which experiments: active_only, deleted_only or all")
	search.Flags().BoolVar(&asJSON, "json", false, "print the experiments as JSON")

	var id, newName string
	idCmd := func(use, short string, done func() string, run func(cmd *cobra.Command) error) *cobra.Command {
		sub := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := run(cmd); err != nil {
					return err
				}
				fmt.Fprintln(d.stdout, done())
				return nil
			},
		}
		sub.Flags().StringVarP(&id, "experiment-id", "x", "", "id of the experiment")
		_ = sub.MarkFlagRequired("experiment-id")
		return sub
	}
	del := idCmd("delete -x ID", "Mark an experiment and its runs deleted (restore brings them back)", func() string { return fmt.Sprintf("Experiment with id %s has been deleted.", id) },
		func(cmd *cobra.Command) error {
			return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
				return c.DeleteExperiment(cmd.Context(), id)
			})
		})
	restore := idCmd("restore -x ID", "Restore a deleted experiment", func() string { return fmt.Sprintf("Experiment with id %s has been restored.", id) },
		func(cmd *cobra.Command) error {
			return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
				return c.RestoreExperiment(cmd.Context(), id)
			})
		})
	rename := idCmd("rename -x ID --new-name NAME", "Rename an experiment", func() string { return fmt.Sprintf("Experiment with id %s has been renamed to '%s'.", id, newName) },
		func(cmd *cobra.Command) error {
			return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
				return c.RenameExperiment(cmd.Context(), id, newName)
			})
		})
	rename.Flags().StringVar(&newName, "new-name", "", "the experiment's new name")
	_ = rename.MarkFlagRequired("new-name")
	cmd.AddCommand(create, search, del, restore, rename, newCmdExperimentsCSV(d, tf))
	return cmd
}

// experimentDict is an experiment as MLflow's Experiment.to_dictionary
// spells it.
func experimentDict(e tracking.Experiment) map[string]any {
	tags := map[string]string{}
	for _, t := range e.Tags {
		tags[t.Key] = t.Value
	}
	return map[string]any{
		"experiment_id": e.ID, "name": e.Name, "artifact_location": e.ArtifactLocation,
		"lifecycle_stage": e.LifecycleStage, "creation_time": e.CreationTime,
		"last_update_time": e.LastUpdateTime, "tags": tags,
	}
}
