package cli

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlship/mlship/internal/pyjson"
	"github.com/mlship/mlship/tracking"
)

// csvMaxRuns is mlflow.search_runs' default max_results
// (SEARCH_MAX_RESULTS_PANDAS), which `mlflow experiments csv` uses.
const csvMaxRuns = 100_000

// newCmdExperimentsCSV is `mlflow experiments csv`: the experiment's
// active runs, newest first, as the CSV pandas writes for the DataFrame of
// mlflow.search_runs.
func newCmdExperimentsCSV(d *deps, tf *trackingFlags) *cobra.Command {
	var id, filename string
	cmd := &cobra.Command{
		Use:   "csv -x ID [-o FILE]",
		Short: "Write an experiment's runs as CSV, one column per metric, param and tag (as mlflow experiments csv)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
				var runs []tracking.Run
				q := tracking.RunQuery{ExperimentIDs: []string{id}, ViewType: tracking.ActiveOnly}
				for r, err := range c.Runs(cmd.Context(), q) {
					if err != nil {
						return err
					}
					if runs = append(runs, r); len(runs) == csvMaxRuns {
						break
					}
				}
				b := runsCSV(runs)
				if filename != "" {
					if err := os.WriteFile(filename, b, 0o644); err != nil {
						return err
					}
					fmt.Fprintf(d.stdout, "Experiment with ID %s has been exported as a CSV to file: %s.\n", id, filename)
					return nil
				}
				_, err := fmt.Fprintf(d.stdout, "%s\n", b) // click.echo adds a newline
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&id, "experiment-id", "x", "", "id of the experiment")
	cmd.Flags().StringVarP(&filename, "filename", "o", "", "write the CSV to this file instead of stdout")
	_ = cmd.MarkFlagRequired("experiment-id")
	return cmd
}

// runsCSV lays runs out as mlflow.search_runs' DataFrame: run_id,
// experiment_id, status, artifact_uri, start_time, end_time, then a column
// per metric (latest value), param and tag, prefixed metrics., params. and
// tags., each group in the order its keys first appear going down the runs
// (within one run by key: MLflow's order there is Python's set order, which
// varies between processes). Cells are written as pandas' to_csv writes
// them: missing values and NaN empty, floats in Python's repr with inf and
// -inf, times as str(pd.Timestamp) in UTC.
func runsCSV(runs []tracking.Run) []byte {
	type group struct {
		prefix string
		keys   []string
		seen   map[string]bool
	}
	groups := []*group{{prefix: "metrics."}, {prefix: "params."}, {prefix: "tags."}}
	for _, g := range groups {
		g.seen = map[string]bool{}
	}
	add := func(g *group, k string) {
		if !g.seen[k] {
			g.seen[k] = true
			g.keys = append(g.keys, k)
		}
	}
	for _, r := range runs {
		for _, m := range r.Data.Metrics {
			add(groups[0], m.Key)
		}
		for _, p := range r.Data.Params {
			add(groups[1], p.Key)
		}
		for _, t := range r.Data.Tags {
			add(groups[2], t.Key)
		}
	}
	var b bytes.Buffer
	header := []string{"run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"}
	for _, g := range groups {
		for _, k := range g.keys {
			header = append(header, g.prefix+k)
		}
	}
	writeCSVRow(&b, header)
	for _, r := range runs {
		end := ""
		if r.Info.EndTime != 0 {
			end = pandasUTC(r.Info.EndTime)
		}
		row := []string{r.Info.RunID, r.Info.ExperimentID, string(r.Info.Status), r.Info.ArtifactURI, pandasUTC(r.Info.StartTime), end}
		metrics := map[string]float64{}
		for _, m := range r.Data.Metrics {
			metrics[m.Key] = m.Value
		}
		for _, k := range groups[0].keys {
			v, ok := metrics[k]
			row = append(row, csvFloat(v, ok))
		}
		params := map[string]string{}
		for _, p := range r.Data.Params {
			params[p.Key] = p.Value
		}
		for _, k := range groups[1].keys {
			row = append(row, params[k])
		}
		tags := map[string]string{}
		for _, t := range r.Data.Tags {
			tags[t.Key] = t.Value
		}
		for _, k := range groups[2].keys {
			row = append(row, tags[k])
		}
		writeCSVRow(&b, row)
	}
	return b.Bytes()
}

// pandasUTC is str(pd.to_datetime(ms, unit="ms", utc=True)): microseconds
// only when the time has a fraction of a second.
func pandasUTC(ms int64) string {
	t := time.UnixMilli(ms).UTC()
	s := t.Format("2006-01-02 15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s + "+00:00"
}

// csvFloat is a float64 column's cell as pandas writes it.
func csvFloat(v float64, ok bool) string {
	switch {
	case !ok || math.IsNaN(v):
		return ""
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return string(pyjson.AppendFloat(nil, v))
}

// writeCSVRow writes one row as Python's csv module does with pandas'
// settings (QUOTE_MINIMAL, "\n" line ends): a field is quoted only when it
// holds a comma, a quote or a line break, and quotes inside are doubled.
// (encoding/csv also quotes a field starting with a space, which Python
// does not.)
func writeCSVRow(b *bytes.Buffer, fields []string) {
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		if strings.ContainsAny(f, ",\"\r\n") {
			b.WriteByte('"')
			b.WriteString(strings.ReplaceAll(f, `"`, `""`))
			b.WriteByte('"')
			continue
		}
		b.WriteString(f)
	}
	b.WriteByte('\n')
}
