package ui

import (
	"net/http"
	"slices"
	"strings"

	"github.com/mlship/mlship/tracking"
)

// Bounds of a comparison: charts of more runs are unreadable, and a chart
// of more points than pixels only costs bytes (histories longer than
// maxChartPoints are thinned evenly, keeping the last value).
const (
	maxCompareRuns   = 20
	maxCompareCharts = 10
	maxHistoryPoints = 100000
	maxChartPoints   = 2000
	chartWidth       = 900
	chartHeight      = 380
)

type comparePage struct {
	Runs     []compareRun
	Metrics  []metricChoice
	XAxis    string // "step" or "time"
	RunsCSV  string // the hidden form field carrying the runs
	Charts   []chart
	Error    string
	Action   string
	Backlink string
}

type compareRun struct {
	ID, Name, URL, Color string
}

type metricChoice struct {
	Key     string
	Checked bool
}

// splitList reads a query parameter given repeatedly and, when comma is
// set, as comma-separated lists ("runs=a,b&runs=c"), in order, without
// blanks or duplicates. Metric keys may hold commas, so metrics are only
// ever repeated.
func splitList(values []string, comma bool) []string {
	var out []string
	for _, v := range values {
		parts := []string{v}
		if comma {
			parts = strings.Split(v, ",")
		}
		for _, s := range parts {
			if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func (h *handler) compare(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	ids := splitList(q["runs"], true)
	if len(ids) == 0 {
		h.fail(w, r, tracking.Errorf(tracking.InvalidParameterValue, "Select at least one run to compare."))
		return
	}
	if len(ids) > maxCompareRuns {
		h.fail(w, r, tracking.Errorf(tracking.InvalidParameterValue, "Compare at most %d runs at once (got %d).", maxCompareRuns, len(ids)))
		return
	}
	p := comparePage{XAxis: "step", RunsCSV: strings.Join(ids, ","), Action: h.link("/compare", nil)}
	if q.Get("x") == "time" {
		p.XAxis = "time"
	}
	runs := make([]*tracking.Run, 0, len(ids))
	var keys []string
	for i, id := range ids {
		run, err := h.store.GetRun(ctx, id)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		runs = append(runs, run)
		name := run.Info.RunName
		if name == "" {
			name = run.Info.RunID
		}
		p.Runs = append(p.Runs, compareRun{ID: run.Info.RunID, Name: name, URL: h.runLink(run.Info.RunID), Color: seriesColor(i)})
		for _, m := range run.Data.Metrics {
			if !slices.Contains(keys, m.Key) {
				keys = append(keys, m.Key)
			}
		}
	}
	slices.Sort(keys)
	if exp := runs[0].Info.ExperimentID; exp != "" {
		p.Backlink = h.expLink(exp)
	}

	chosen := splitList(q["metric"], false)
	if len(chosen) == 0 && len(keys) > 0 {
		chosen = []string{defaultMetric(runs, keys)}
	}
	if len(chosen) > maxCompareCharts {
		chosen = chosen[:maxCompareCharts]
	}
	for _, k := range keys {
		p.Metrics = append(p.Metrics, metricChoice{Key: k, Checked: slices.Contains(chosen, k)})
	}
	for _, k := range chosen {
		if !slices.Contains(keys, k) {
			// Asked for by URL, logged by none: keep it choosable and
			// draw the (empty) chart, which says so.
			p.Metrics = append(p.Metrics, metricChoice{Key: k, Checked: true})
		}
	}

	xlabel := "step"
	if p.XAxis == "time" {
		xlabel = "time since the run's first value (s)"
	}
	for _, key := range chosen {
		var data []series
		for i, run := range runs {
			hist, err := h.history(r, run.Info.RunID, key)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			data = append(data, toSeries(p.Runs[i].Name, seriesColor(i), hist, p.XAxis == "time"))
		}
		p.Charts = append(p.Charts, layoutChart(key, xlabel, data, chartWidth, chartHeight))
	}
	title := "Compare runs"
	if len(runs) == 1 {
		title = p.Runs[0].Name + " metrics"
	}
	var crumbs []crumb
	if p.Backlink != "" {
		name := runs[0].Info.ExperimentID
		if exp, err := h.store.GetExperiment(ctx, name); err == nil {
			name = exp.Name
		}
		crumbs = append(crumbs, crumb{Label: name, URL: p.Backlink})
	}
	crumbs = append(crumbs, crumb{Label: title})
	h.render(w, r, http.StatusOK, "compare", layout{Title: title, Crumbs: crumbs, Page: p})
}

// defaultMetric is the first metric every run has, else the first of all.
func defaultMetric(runs []*tracking.Run, keys []string) string {
	for _, k := range keys {
		all := true
		for _, r := range runs {
			if !slices.ContainsFunc(r.Data.Metrics, func(m tracking.Metric) bool { return m.Key == k }) {
				all = false
				break
			}
		}
		if all {
			return k
		}
	}
	return keys[0]
}

// history reads a metric's whole history, page by page, up to
// maxHistoryPoints.
func (h *handler) history(r *http.Request, runID, key string) ([]tracking.Metric, error) {
	var out []tracking.Metric
	token := ""
	for {
		page, next, err := h.store.MetricHistory(r.Context(), runID, key, tracking.Page{MaxResults: tracking.MaxResultsLimit, PageToken: token})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" || len(out) >= maxHistoryPoints {
			return out, nil
		}
		token = next
	}
}

// toSeries turns a history (ordered by step, then time) into chart points:
// x is the step, or seconds since the run's first value of the metric.
func toSeries(label, color string, hist []tracking.Metric, byTime bool) series {
	if byTime {
		slices.SortStableFunc(hist, func(a, b tracking.Metric) int {
			switch {
			case a.Timestamp < b.Timestamp:
				return -1
			case a.Timestamp > b.Timestamp:
				return 1
			}
			return 0
		})
	}
	hist = thin(hist, maxChartPoints)
	s := series{Label: label, Color: color, X: make([]float64, len(hist)), Y: make([]float64, len(hist))}
	for i, m := range hist {
		if byTime {
			s.X[i] = float64(m.Timestamp-hist[0].Timestamp) / 1000
		} else {
			s.X[i] = float64(m.Step)
		}
		s.Y[i] = m.Value
	}
	return s
}

// thin keeps about n evenly spaced values of hist, always the first and
// the last.
func thin(hist []tracking.Metric, n int) []tracking.Metric {
	if len(hist) <= n || n < 2 {
		return hist
	}
	out := make([]tracking.Metric, 0, n)
	for i := 0; i < n-1; i++ {
		out = append(out, hist[i*(len(hist)-1)/(n-1)])
	}
	return append(out, hist[len(hist)-1])
}
