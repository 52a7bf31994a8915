package storetest

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking"
)

func runNames(runs []tracking.Run) string {
	var out []string
	for _, r := range runs {
		out = append(out, r.Info.RunName)
	}
	return strings.Join(out, ",")
}

func testSearchRunsBasic(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	a := createExperiment(t, s, "a")
	b := createExperiment(t, s, "b")
	createRun(t, s, a, 100, "a1")
	createRun(t, s, a, 300, "a3")
	createRun(t, s, b, 200, "b2")
	r := createRun(t, s, a, 300, "a3bis")
	must(t, s.LogBatch(ctx, r.Info.RunID, []tracking.Metric{{Key: "m", Value: 1, Step: 1, Timestamp: 1}}, []tracking.Param{{Key: "p", Value: "v"}}, nil))

	runs, next, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{a}})
	must(t, err)
	if next != "" {
		t.Errorf("unexpected page token %q", next)
	}
	// start_time DESC, then run_id: the two runs at 300 in run id order.
	if len(runs) != 3 || runs[2].Info.RunName != "a1" || runs[0].Info.StartTime != 300 || runs[1].Info.StartTime != 300 ||
		runs[0].Info.RunID > runs[1].Info.RunID {
		t.Errorf("default order: %s", runNames(runs))
	}
	for _, run := range runs {
		if run.Info.RunID == r.Info.RunID {
			if len(run.Data.Metrics) != 1 || len(run.Data.Params) != 1 {
				t.Errorf("search result lacks data: %+v", run.Data)
			}
		}
	}
	runs, _, err = s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{a, b}})
	must(t, err)
	if len(runs) != 4 || runs[2].Info.RunName != "b2" {
		t.Errorf("two experiments: %s", runNames(runs))
	}
	runs, _, err = s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{"99999"}})
	must(t, err)
	if len(runs) != 0 {
		t.Errorf("unknown experiment gave %d runs", len(runs))
	}
	_, _, err = s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{a}, Page: tracking.Page{MaxResults: 50001}})
	wantErr(t, err, tracking.InvalidParameterValue, "50000")
	_, _, err = s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{a}, Page: tracking.Page{MaxResults: -1}})
	wantErr(t, err, tracking.InvalidParameterValue, "max_results")
	runs, _, err = s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{a}, Page: tracking.Page{MaxResults: 50000}})
	must(t, err)
	if len(runs) != 3 {
		t.Errorf("max_results 50000: %d runs", len(runs))
	}
}

func testSearchRunsPaging(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	exp := createExperiment(t, s, "paging")
	for i := range 7 {
		createRun(t, s, exp, int64(1000-i), fmt.Sprintf("r%d", i))
	}
	var names []string
	for _, runs := range allPages(t, 5, func(tok string) ([]tracking.Run, string, error) {
		return s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Page: tracking.Page{MaxResults: 3, PageToken: tok}})
	}) {
		names = append(names, runNames(runs))
	}
	if got := strings.Join(names, "|"); got != "r0,r1,r2|r3,r4,r5|r6" {
		t.Errorf("pages %s", got)
	}
	_, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Page: tracking.Page{PageToken: "garbage!"}})
	wantErr(t, err, tracking.InvalidParameterValue, "")
}

// searchFixture makes runs with known metrics, params, tags and datasets.
func searchFixture(t *testing.T, s tracking.Store) (string, map[string]string) {
	ctx := context.Background()
	exp := createExperiment(t, s, "search")
	byName := map[string]string{}
	type spec struct {
		name    string
		start   int64
		acc     float64 // NaN: not logged
		model   string  // "": not logged
		team    string
		dataset string
	}
	specs := []spec{
		{"alpha", 100, 0.9, "xgb", "Vision", "iris"},
		{"beta", 200, 0.4, "xgb", "vision", ""},
		{"gamma", 300, 0.7, "lr", "NLP", "wine"},
		{"delta", 400, math.NaN(), "lr", "", "iris"},
		{"Epsilon", 500, 0.5, "", "nlp", ""},
	}
	for _, sp := range specs {
		r, err := s.CreateRun(ctx, tracking.CreateRun{ExperimentID: exp, RunName: sp.name, StartTime: sp.start, UserID: "user-" + sp.name})
		must(t, err)
		var ms []tracking.Metric
		if !math.IsNaN(sp.acc) {
			ms = append(ms, tracking.Metric{Key: "acc", Value: sp.acc, Timestamp: 1})
		}
		ms = append(ms, tracking.Metric{Key: "loss-x", Value: float64(sp.start) / 100, Timestamp: 1})
		var ps []tracking.Param
		if sp.model != "" {
			ps = append(ps, tracking.Param{Key: "model", Value: sp.model})
		}
		var ts []tracking.Tag
		if sp.team != "" {
			ts = append(ts, tracking.Tag{Key: "team", Value: sp.team})
		}
		must(t, s.LogBatch(ctx, r.Info.RunID, ms, ps, ts))
		if sp.dataset != "" {
			must(t, s.LogInputs(ctx, r.Info.RunID, []tracking.DatasetInput{{
				Dataset: tracking.Dataset{Name: sp.dataset, Digest: "dg-" + sp.dataset, SourceType: "local", Source: "{}"},
				Tags:    []tracking.Tag{{Key: "mlflow.data.context", Value: "train"}},
			}}))
		}
		byName[sp.name] = r.Info.RunID
	}
	_, err := s.UpdateRun(ctx, byName["gamma"], tracking.UpdateRun{Status: tracking.StatusFinished, EndTime: 350})
	must(t, err)
	return exp, byName
}

func testSearchRunsFilter(t *testing.T, s tracking.Store) {
	exp, byName := searchFixture(t, s)
	ctx := context.Background()
	cases := []struct {
		filter string
		want   string // names in default order (start_time DESC)
	}{
		{"", "Epsilon,delta,gamma,beta,alpha"},
		{"metrics.acc > 0.5", "gamma,alpha"},
		{"metrics.acc >= 0.5", "Epsilon,gamma,alpha"},
		{"metrics.acc != 0.5", "gamma,beta,alpha"},
		{"metrics.acc > 0.5 and params.model = 'xgb'", "alpha"},
		{"metrics.`loss-x` <= 2", "beta,alpha"},
		{"params.model = 'lr'", "delta,gamma"},
		{"params.model != 'lr'", "beta,alpha"},
		{"params.model LIKE 'x%'", "beta,alpha"},
		{"tags.team = 'vision'", "beta"},
		{"tags.team LIKE 'v%'", "beta"},
		{"tags.team LIKE 'V_sion'", "alpha"},
		{"tags.team ILIKE 'v%'", "beta,alpha"},
		{"tags.team ILIKE '%LP'", "Epsilon,gamma"},
		{"attributes.run_name = 'gamma'", "gamma"},
		{"run_name LIKE '%a'", "delta,gamma,beta,alpha"},
		{"attributes.run_name ILIKE 'e%'", "Epsilon"},
		{"attributes.status = 'FINISHED'", "gamma"},
		{"attributes.status != 'FINISHED'", "Epsilon,delta,beta,alpha"},
		{"attributes.start_time > 200", "Epsilon,delta,gamma"},
		{"attributes.start_time >= 200 and attributes.start_time < 400", "gamma,beta"},
		{"attributes.end_time = 350", "gamma"},
		{"attributes.user_id = 'user-beta'", "beta"},
		{"attributes.run_id IN ('" + byName["alpha"] + "', '" + byName["delta"] + "')", "delta,alpha"},
		{"attributes.run_id NOT IN ('" + byName["alpha"] + "')", "Epsilon,delta,gamma,beta"},
		{"datasets.name = 'iris'", "delta,alpha"},
		{"datasets.digest LIKE 'dg-w%'", "gamma"},
		{"datasets.context = 'train'", "delta,gamma,alpha"},
		{"params.model = 'xgb' and tags.team ILIKE 'VISION' and metrics.acc < 0.5", "beta"},
		{"metrics.missing > 0", ""},
		{"params.model = 'XGB'", ""},
	}
	for _, tc := range cases {
		runs, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Filter: tc.filter})
		if err != nil {
			t.Errorf("%q: %v", tc.filter, err)
			continue
		}
		if got := runNames(runs); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.filter, got, tc.want)
		}
	}
	for _, bad := range []string{"metrics.acc > 'a'", "params.model > 'x'", "metrics.acc = 1 or params.model = 'x'", "nonsense"} {
		_, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Filter: bad})
		wantErr(t, err, tracking.InvalidParameterValue, "")
	}
}

func testSearchRunsOrder(t *testing.T, s tracking.Store) {
	exp, _ := searchFixture(t, s)
	ctx := context.Background()
	cases := []struct {
		order []string
		want  string
	}{
		// Missing values (delta has no acc) sort last in both directions.
		{[]string{"metrics.acc DESC"}, "alpha,gamma,Epsilon,beta,delta"},
		{[]string{"metrics.acc ASC"}, "beta,Epsilon,gamma,alpha,delta"},
		{[]string{"metrics.acc"}, "beta,Epsilon,gamma,alpha,delta"},
		{[]string{"params.model ASC"}, "delta,gamma,beta,alpha,Epsilon"},
		{[]string{"params.model DESC", "attributes.start_time ASC"}, "alpha,beta,gamma,delta,Epsilon"},
		{[]string{"tags.team DESC"}, "beta,Epsilon,alpha,gamma,delta"},
		{[]string{"attributes.start_time ASC"}, "alpha,beta,gamma,delta,Epsilon"},
		{[]string{"attributes.run_name"}, "Epsilon,alpha,beta,delta,gamma"},
	}
	for _, tc := range cases {
		runs, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, OrderBy: tc.order})
		if err != nil {
			t.Errorf("%q: %v", tc.order, err)
			continue
		}
		if got := runNames(runs); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.order, got, tc.want)
		}
	}
	// Ordered and paged: pages continue the same order.
	first, tok, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, OrderBy: []string{"metrics.acc DESC"}, Page: tracking.Page{MaxResults: 2}})
	must(t, err)
	rest, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, OrderBy: []string{"metrics.acc DESC"}, Page: tracking.Page{MaxResults: 10, PageToken: tok}})
	must(t, err)
	if got := runNames(first) + "|" + runNames(rest); got != "alpha,gamma|Epsilon,beta,delta" {
		t.Errorf("ordered pages %s", got)
	}
	_, _, err = s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, OrderBy: []string{"bogus.x"}})
	wantErr(t, err, tracking.InvalidParameterValue, "")
}

// testSearchRunsHostile checks that filter values are data, never SQL.
func testSearchRunsHostile(t *testing.T, s tracking.Store) {
	exp, _ := searchFixture(t, s)
	ctx := context.Background()
	// Backslash is no escape character in LIKE patterns, on any store.
	ctx2 := context.Background()
	bs := createRun(t, s, exp, 50, "backslash")
	lit := createRun(t, s, exp, 40, "literal")
	must(t, s.LogBatch(ctx2, bs.Info.RunID, nil, nil, []tracking.Tag{{Key: "path", Value: `a\bc`}}))
	must(t, s.LogBatch(ctx2, lit.Info.RunID, nil, nil, []tracking.Tag{{Key: "path", Value: `a%`}}))
	for _, tc := range []struct{ filter, want string }{
		{`tags.path LIKE 'a\%'`, "backslash"},
		{`tags.path ILIKE 'A\B%'`, "backslash"},
		{`tags.path LIKE 'a%'`, "backslash,literal"},
	} {
		runs, _, err := s.SearchRuns(ctx2, tracking.RunQuery{ExperimentIDs: []string{exp}, Filter: tc.filter})
		must(t, err)
		if got := runNames(runs); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.filter, got, tc.want)
		}
	}
	must(t, s.DeleteRun(ctx2, bs.Info.RunID))
	must(t, s.DeleteRun(ctx2, lit.Info.RunID))

	for _, f := range []string{
		`params.model = 'x''; DROP TABLE runs; --'`,
		`params.model = 'x" OR 1=1 --'`,
		"tags.`a'; DELETE FROM runs; --` = 'v'",
		`params.model LIKE '%'' OR ''1''=''1'`,
		`attributes.run_id IN ('a'')) OR 1=1 --')`,
	} {
		runs, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Filter: f})
		if err != nil && tracking.CodeOf(err) != tracking.InvalidParameterValue {
			t.Errorf("%q: %v", f, err)
		}
		if len(runs) != 0 {
			t.Errorf("%q matched %d runs", f, len(runs))
		}
	}
	runs, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}})
	must(t, err)
	if len(runs) != 5 {
		t.Errorf("after hostile filters %d runs remain, want 5", len(runs))
	}
}
