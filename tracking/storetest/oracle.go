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
	if !searchReady() {
		t.Skip("tracking/search filters are not implemented yet")
	}
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
			tok := ""
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatalf("%q: paging does not end", filter)
				}
				runs, next, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{exp}, Filter: filter, ViewType: view,
					Page: tracking.Page{MaxResults: 7, PageToken: tok}})
				must(t, err)
				for _, r := range runs {
					got = append(got, r.Info.RunName)
				}
				if next == "" {
					break
				}
				tok = next
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%q (%v):\n got  %v\n want %v", filter, view, got, want)
			}
		}
	}
}
