package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/search"
)

// testSearchRunsOracle compares paged SearchRuns results with
// tracking/search's in-memory evaluation of the same filter over every
// run, in the default order (start_time DESC, then run_id). Small pages
// and many matches exercise a store's fast paths for the first pages.
func testSearchRunsOracle(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	exp := createExperiment(t, s, "oracle")
	rng := rand.New(rand.NewPCG(8, 8))
	for i := range 60 {
		// Pairs of runs share a start time, so run_id breaks ties.
		r, err := s.CreateRun(ctx, tracking.CreateRun{ExperimentID: exp, StartTime: int64(1000 + i/2), RunName: fmt.Sprintf("run-%02d", i)})
		must(t, err)
		ms := []tracking.Metric{{Key: "acc", Value: float64(rng.IntN(10)) / 10, Timestamp: 1}}
		var ps []tracking.Param
		if m := rng.IntN(4); m < 3 {
			ps = append(ps, tracking.Param{Key: "model", Value: string(rune('a' + m))})
		}
		var ts []tracking.Tag
		if c := rng.IntN(4); c < 3 {
			ts = append(ts, tracking.Tag{Key: "team", Value: []string{"Red", "red", "blue"}[c]})
		}
		must(t, s.LogBatch(ctx, r.Info.RunID, ms, ps, ts))
		if i%5 == 0 {
			must(t, s.DeleteRun(ctx, r.Info.RunID))
		}
	}
	all, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, ViewType: tracking.All})
	must(t, err)
	if len(all) != 60 {
		t.Fatalf("%d runs, want 60", len(all))
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i].Info, all[j].Info
		if a.StartTime != b.StartTime {
			return a.StartTime > b.StartTime
		}
		return a.RunID < b.RunID
	})
	for _, filter := range []string{
		"metrics.acc >= 0.2",
		"metrics.acc > 0.5 and params.model = 'a'",
		"params.model != 'c'",
		"tags.team LIKE 'R%'",
		"tags.team ILIKE 'r%' and metrics.acc < 0.8",
		"attributes.run_name LIKE 'run-1%'",
		"metrics.acc = 0.3",
	} {
		for _, view := range []tracking.ViewType{tracking.ActiveOnly, tracking.All} {
			f, err := search.ParseRunFilter(filter)
			must(t, err)
			var want []string
			for i := range all {
				if view.Matches(all[i].Info.LifecycleStage) && f.MatchRun(&all[i]) {
					want = append(want, all[i].Info.RunName)
				}
			}
			var got []string
			for _, runs := range allPages(t, 21, func(tok string) ([]tracking.Run, string, error) {
				return s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Filter: filter, ViewType: view,
					Page: tracking.Page{MaxResults: 7, PageToken: tok}})
			}) {
				for _, r := range runs {
					got = append(got, r.Info.RunName)
				}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%q (%v):\n got  %v\n want %v", filter, view, got, want)
			}
		}
	}

	// Ordered by the metric the filter bounds (a store may read such
	// pages off the metric's index), with ties broken by the next terms.
	acc := func(r *tracking.Run) float64 { m, _ := latest(r, "acc"); return m.Value }
	for _, tc := range []struct {
		filter string
		order  []string
		less   func(a, b *tracking.Run) int // <0: a first, 0: tie
	}{
		{"metrics.acc > 0.2", []string{"metrics.acc DESC"}, func(a, b *tracking.Run) int { return cmpFloat(acc(b), acc(a)) }},
		{"metrics.acc <= 0.6 and params.model != 'c'", []string{"metrics.acc ASC"}, func(a, b *tracking.Run) int { return cmpFloat(acc(a), acc(b)) }},
		{"metrics.acc >= 0.1", []string{"metrics.acc DESC", "attributes.run_name ASC"}, func(a, b *tracking.Run) int {
			if c := cmpFloat(acc(b), acc(a)); c != 0 {
				return c
			}
			return strings.Compare(a.Info.RunName, b.Info.RunName)
		}},
		{"metrics.acc = 0.3", []string{"metrics.acc"}, func(a, b *tracking.Run) int { return 0 }},
	} {
		f, err := search.ParseRunFilter(tc.filter)
		must(t, err)
		var want []string
		var matched []*tracking.Run
		for i := range all {
			if all[i].Info.LifecycleStage == tracking.StageActive && f.MatchRun(&all[i]) {
				matched = append(matched, &all[i])
			}
		}
		sort.SliceStable(matched, func(i, j int) bool { return tc.less(matched[i], matched[j]) < 0 }) // all is in default order already
		for _, r := range matched {
			want = append(want, r.Info.RunName)
		}
		var got []string
		for _, runs := range allPages(t, 21, func(tok string) ([]tracking.Run, string, error) {
			return s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Filter: tc.filter, OrderBy: tc.order,
				Page: tracking.Page{MaxResults: 7, PageToken: tok}})
		}) {
			for _, r := range runs {
				got = append(got, r.Info.RunName)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%q %q:\n got  %v\n want %v", tc.filter, tc.order, got, want)
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
