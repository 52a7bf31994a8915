package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// searchRun is what populate wrote for one run, to check answers against.
type searchRun struct {
	id    string
	model string
	acc   float64
	lr    float64
	start int64
}

const searchFilter = "metrics.acc > 0.5 and params.model = 'a'"

// searchQueries are the timed queries: the filter with an
// order_by, at MLflow's default page size (1000) and a UI-sized page.
var searchQueries = []struct {
	Name    string
	OrderBy []string
	Max     int
}{
	{"order metrics.acc DESC, max_results 1000", []string{"metrics.acc DESC"}, 1000},
	{"order metrics.acc DESC, max_results 100", []string{"metrics.acc DESC"}, 100},
	{"order params.lr ASC, max_results 100", []string{"params.lr ASC"}, 100},
	{"order start_time DESC, max_results 100", []string{"attributes.start_time DESC"}, 100},
}

// populate writes n runs into experiment "search" of the store at db
// through the store API (one ImportRun transaction per run): params model
// (a/b/c/d) and lr, metrics acc and loss, tags mlflow.runName and team.
// Runs are generated from a fixed seed, so a file populated earlier with
// the same n is reused as it is (its runs are regenerated, not written):
// 100,000 runs take minutes to write with one fsync per transaction.
func populate(ctx context.Context, db string, n int) (exp string, runs []searchRun, took time.Duration, reused bool, err error) {
	t := time.Now()
	_, statErr := os.Stat(db)
	s, err := sqlstore.Open(ctx, "sqlite:///"+db, sqlstore.Options{DefaultArtifactRoot: "mlflow-artifacts:/"})
	if err != nil {
		return "", nil, 0, false, err
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	models := []string{"a", "b", "c", "d"}
	const base = 1_700_000_000_000
	runs = make([]searchRun, n)
	for i := range runs {
		runs[i] = searchRun{id: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), model: models[rng.IntN(4)],
			acc: rng.Float64(), lr: rng.Float64(), start: base + int64(i)*1000}
	}
	if statErr == nil {
		e, err := s.GetExperimentByName(ctx, "search")
		if err != nil {
			return "", nil, 0, false, fmt.Errorf("reusing %s: %w", db, err)
		}
		all, _, err := s.SearchRuns(ctx, tracking.RunQuery{ExperimentIDs: []string{e.ID}, Filter: "attributes.run_id = '" + runs[n-1].id + "'"})
		if err != nil || len(all) != 1 {
			return "", nil, 0, false, fmt.Errorf("reusing %s: it was not populated with %d runs (remove it): %v", db, n, err)
		}
		return e.ID, runs, time.Since(t), true, nil
	}
	if exp, err = s.CreateExperiment(ctx, "search", "", nil); err != nil {
		return "", nil, 0, false, err
	}
	for i, r := range runs {
		name := "run-" + strconv.Itoa(i)
		run := tracking.Run{
			Info: tracking.RunInfo{RunID: r.id, RunName: name, ExperimentID: exp, UserID: "trackload",
				Status: tracking.StatusFinished, StartTime: r.start, EndTime: r.start + 500},
			Data: tracking.RunData{
				Params: []tracking.Param{{Key: "model", Value: r.model}, {Key: "lr", Value: strconv.FormatFloat(r.lr, 'g', -1, 64)}},
				Tags:   []tracking.Tag{{Key: "mlflow.runName", Value: name}, {Key: "team", Value: "team-" + strconv.Itoa(i%10)}},
			},
		}
		hist := []tracking.Metric{{Key: "acc", Value: r.acc, Timestamp: r.start, Step: 0}, {Key: "loss", Value: 1 - r.acc, Timestamp: r.start, Step: 0}}
		if err := s.ImportRun(ctx, run, hist); err != nil {
			return "", nil, 0, false, fmt.Errorf("populating run %d: %w", i, err)
		}
	}
	return exp, runs, time.Since(t), false, nil
}

// expected is the first page a query should return.
func expected(runs []searchRun, orderBy string, max int) []string {
	var m []searchRun
	for _, r := range runs {
		if r.model == "a" && r.acc > 0.5 {
			m = append(m, r)
		}
	}
	slices.SortFunc(m, func(x, y searchRun) int {
		switch orderBy {
		case "metrics.acc DESC":
			return -cmpF(x.acc, y.acc)
		case "params.lr ASC":
			// params are strings: MLflow orders them as text
			return cmpS(strconv.FormatFloat(x.lr, 'g', -1, 64), strconv.FormatFloat(y.lr, 'g', -1, 64))
		}
		return -cmpI(x.start, y.start)
	})
	ids := make([]string, 0, min(max, len(m)))
	for _, r := range m[:min(max, len(m))] {
		ids = append(ids, r.id)
	}
	return ids
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpI(a, b int64) int { return cmpF(float64(a), float64(b)) }

func cmpS(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// searchRow is one timed query configuration.
type searchRow struct {
	Name      string
	Lat       summary
	ServerCPU time.Duration // per query
}

type searchResult struct {
	Runs      int
	Matching  int
	Populate  time.Duration
	Reused    bool
	Rows      []searchRow
	VerifyErr error
}

// runSearch times `queries` runs/search calls of each configuration over
// the populated store (the server must be serving that file), checking
// every answer's first page against the expected one, and pages once
// through the whole result of the filter.
func runSearch(ctx context.Context, srv *serverProc, exp string, runs []searchRun, queries int) (*searchResult, error) {
	a := newAPI(srv.url, 1)
	defer a.close()
	res := &searchResult{Runs: len(runs), Matching: len(expected(runs, "", len(runs)))}
	var p problems
	for _, qc := range searchQueries {
		want := expected(runs, qc.OrderBy[0], qc.Max)
		q := searchQuery{ExperimentIDs: []string{exp}, Filter: searchFilter, OrderBy: qc.OrderBy, MaxResults: qc.Max}
		// One untimed query warms the server's caches, as a UI's first
		// page load would.
		if _, _, err := a.search(ctx, nil, "warm-up", q); err != nil {
			return nil, err
		}
		rec := newRecorder()
		cpu0 := srv.cpu()
		for i := 0; i < queries; i++ {
			got, _, err := a.search(ctx, rec, "q", q)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", qc.Name, err)
			}
			if i == 0 {
				ids := make([]string, len(got))
				for j := range got {
					ids[j] = got[j].Info.RunID
				}
				if !slices.Equal(ids, want) {
					p.addf("%s: first page differs from the expected one (%d runs, want %d)", qc.Name, len(ids), len(want))
				}
			}
		}
		res.Rows = append(res.Rows, searchRow{Name: qc.Name, Lat: rec.summary("q"), ServerCPU: (srv.cpu() - cpu0) / time.Duration(queries)})
	}
	// All pages of the filter: every matching run exactly once.
	all, err := a.searchAll(ctx, nil, "all", searchQuery{ExperimentIDs: []string{exp}, Filter: searchFilter, OrderBy: []string{"metrics.acc DESC"}, MaxResults: 1000})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r.Info.RunID] {
			p.addf("paging: run %s twice", r.Info.RunID)
		}
		seen[r.Info.RunID] = true
	}
	if len(seen) != res.Matching {
		p.addf("paging through the filter gave %d runs, want %d", len(seen), res.Matching)
	}
	res.VerifyErr = p.err()
	return res, nil
}
