package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/mlruns"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// defaultBackendStoreURI is MLflow's default backend store since it left
// ./mlruns behind (MLFLOW_COMPAT.md §7.4).
const defaultBackendStoreURI = "sqlite:///mlflow.db"

// NewCmdImportMlruns is `mlship import-mlruns DIR`: an MLflow file store
// into a SQL store (or a tracking server).
func NewCmdImportMlruns(d *deps) *cobra.Command {
	var backend, artifactRoot string
	var keepURIs, asJSON bool
	cmd := &cobra.Command{
		Use:   "import-mlruns DIR",
		Short: "Import an MLflow file store (an mlruns directory) into a tracking store",
		Long: "Reads the experiments and runs of an MLflow file store (./mlruns) and writes them into the\n" +
			"store --backend-store-uri names: sqlite:///path.db (the default, sqlite:///mlflow.db),\n" +
			"postgresql://..., or a tracking server at http(s)://host:port.\n\n" +
			"Run ids, names, users, statuses, times, params, tags and every metric value are kept, and\n" +
			"each run's artifact URI still points at its artifacts (artifacts are not copied; a local\n" +
			"location that no longer exists is pointed at the tree's own artifacts/ copy unless\n" +
			"--keep-artifact-uris). Experiments get the store's ids: the command prints the mapping.\n" +
			"Deleted experiments (.trash) and runs stay deleted. Importing again adds only what is new.\n" +
			"A tracking server keeps the run ids only through a SQL store: over HTTP runs get new ids.",
		Example: "  mlship import-mlruns ./mlruns\n" +
			"  mlship import-mlruns ./mlruns --backend-store-uri postgresql://mlflow@127.0.0.1/mlflow",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			ctx := cmd.Context()
			uri := backend
			if uri == "" {
				uri = d.env.get("MLFLOW_BACKEND_STORE_URI")
			}
			if uri == "" {
				uri = defaultBackendStoreURI
			}
			var store tracking.Store
			if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
				store, err = d.trackingClient(ctx, uri)
			} else {
				store, err = sqlstore.Open(ctx, uri, sqlstore.Options{DefaultArtifactRoot: artifactRoot, Logger: d.logger()})
			}
			if err != nil {
				return err
			}
			defer func() {
				if cerr := store.Close(); err == nil && cerr != nil {
					err = fmt.Errorf("closing the store: %w", cerr) // its last writes may be lost
				}
			}()
			rep, err := mlruns.Import(ctx, store, args[0], mlruns.Options{Logger: d.logger(), KeepArtifactURIs: keepURIs})
			if err != nil {
				return fmt.Errorf("importing %s: %w", args[0], err)
			}
			if asJSON {
				if err := printJSON(d.stdout, importJSON(rep)); err != nil {
					return err
				}
			} else if err := printImport(d, rep, args[0], uri); err != nil {
				return err
			}
			if n := len(rep.Problems); n > 0 {
				for _, p := range rep.Problems {
					fmt.Fprintln(d.stderr, "mlship: not imported: "+p)
				}
				return fmt.Errorf("%d item(s) of %s could not be imported (the rest was; fix them and run again to add just those)", n, args[0])
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&backend, "backend-store-uri", "", "store to import into: sqlite:///path.db, postgresql://..., or http(s)://tracking-server (env MLFLOW_BACKEND_STORE_URI; default "+defaultBackendStoreURI+")")
	f.StringVar(&artifactRoot, "default-artifact-root", "", "artifact root of experiments created later in a new SQL store (as mlship server's flag; default ./mlruns)")
	f.BoolVar(&keepURIs, "keep-artifact-uris", false, "keep every artifact URI exactly as the tree has it, even where it no longer exists")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func printImport(d *deps, rep *mlruns.Report, dir, uri string) error {
	fmt.Fprintf(d.stdout, "Imported %d run(s) from %s into %s (%d already there): %d params, %d tags, %d metric values, %d dataset inputs",
		rep.Runs, dir, uri, rep.RunsPresent, rep.Params, rep.Tags, rep.MetricValues, rep.Inputs)
	if rep.Relocated > 0 {
		fmt.Fprintf(d.stdout, "; %d artifact URI(s) pointed at the tree's copy", rep.Relocated)
	}
	fmt.Fprintln(d.stdout)
	rows := make([][]string, 0, len(rep.Experiments))
	for _, e := range rep.Experiments {
		note := "created"
		if e.Existed {
			note = "existed"
		}
		rows = append(rows, []string{e.SourceID, e.StoreID, e.Name, e.LifecycleStage, strconv.Itoa(e.Runs), note})
	}
	if err := printTable(d.stdout, []string{"TREE ID", "STORE ID", "NAME", "STAGE", "RUNS IMPORTED", "EXPERIMENT"}, rows); err != nil {
		return err
	}
	if len(rep.NewRunIDs) > 0 {
		fmt.Fprintln(d.stdout, "\nThe store gave these runs new ids:")
		var idRows [][]string
		for _, p := range rep.SortedNewRunIDs() {
			idRows = append(idRows, []string{p[0], p[1]})
		}
		return printTable(d.stdout, []string{"TREE RUN ID", "STORE RUN ID"}, idRows)
	}
	return nil
}

// importJSON is the report with snake_case keys, as MLflow's CLI prints.
func importJSON(rep *mlruns.Report) any {
	type exp struct {
		TreeID         string `json:"tree_id"`
		StoreID        string `json:"store_id"`
		Name           string `json:"name"`
		LifecycleStage string `json:"lifecycle_stage"`
		Existed        bool   `json:"existed"`
		RunsImported   int    `json:"runs_imported"`
	}
	out := struct {
		Experiments  []exp             `json:"experiments"`
		Runs         int               `json:"runs_imported"`
		RunsPresent  int               `json:"runs_already_present"`
		Params       int               `json:"params"`
		Tags         int               `json:"tags"`
		MetricValues int               `json:"metric_values"`
		Inputs       int               `json:"dataset_inputs"`
		Relocated    int               `json:"artifact_uris_relocated"`
		NewRunIDs    map[string]string `json:"new_run_ids,omitempty"`
		Problems     []string          `json:"problems,omitempty"`
	}{
		Runs: rep.Runs, RunsPresent: rep.RunsPresent, Params: rep.Params, Tags: rep.Tags,
		MetricValues: rep.MetricValues, Inputs: rep.Inputs, Relocated: rep.Relocated, NewRunIDs: rep.NewRunIDs, Problems: rep.Problems,
	}
	for _, e := range rep.Experiments {
		out.Experiments = append(out.Experiments, exp{e.SourceID, e.StoreID, e.Name, e.LifecycleStage, e.Existed, e.Runs})
	}
	return out
}
