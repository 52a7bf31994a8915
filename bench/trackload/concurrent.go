package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// concurrentResult is what the concurrent scenario measured.
type concurrentResult struct {
	Clients    int
	Duration   time.Duration
	Ops        int // acknowledged requests
	Entities   int // acknowledged metrics+params+tags
	Retried    int64
	Failures   []string
	Rec        *recorder // per-op write latencies
	ReadRec    *recorder // read-back latencies
	ReadBack   time.Duration
	ServerCPU  time.Duration
	Runs       int
	Histories  int
	Verified   int // entities checked
	VerifyErrs error
}

// startWriters creates an experiment and one run per client over REST and
// returns a writer for each.
func startWriters(ctx context.Context, a *api, clients int, expName string) ([]*writer, string, error) {
	exp, err := a.createExperiment(ctx, expName)
	if err != nil {
		return nil, "", err
	}
	t0 := time.Now().UnixMilli()
	ws := make([]*writer, clients)
	for i := range ws {
		tags := []kv{{"client", strconv.Itoa(i)}}
		id, err := a.createRun(ctx, nil, exp, fmt.Sprintf("client-%d", i), tags)
		if err != nil {
			return nil, "", err
		}
		ws[i] = newWriter(i, a, id, t0)
		ws[i].led.record(true, nil, nil, tags)
	}
	return ws, exp, nil
}

// runConcurrent: clients log to their own runs for d, then everything is
// read back and compared with what was acknowledged.
func runConcurrent(ctx context.Context, srv *serverProc, clients int, d time.Duration) (*concurrentResult, error) {
	a := newAPI(srv.url, clients)
	defer a.close()
	ws, exp, err := startWriters(ctx, a, clients, "concurrent-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err != nil {
		return nil, err
	}
	res := &concurrentResult{Clients: clients, Rec: newRecorder(), ReadRec: newRecorder(), Runs: clients}
	cpu0 := srv.cpu()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Go(func() { errs[i] = w.loop(wctx) })
	}
	wg.Wait()
	res.Duration = time.Since(start)
	res.ServerCPU = srv.cpu() - cpu0
	for i, w := range ws {
		if errs[i] != nil {
			res.Failures = append(res.Failures, fmt.Sprintf("client %d stopped: %v", i, errs[i]))
		}
		res.Failures = append(res.Failures, w.failures...)
		res.Rec.merge(w.rec)
		res.Entities += w.led.acked
	}
	for _, op := range res.Rec.names() {
		res.Ops += res.Rec.count(op)
	}
	res.Retried = a.retried.Load()

	t := time.Now()
	res.Histories, res.Verified, res.VerifyErrs = verify(ctx, a, res.ReadRec, exp, ws)
	res.ReadBack = time.Since(t)
	return res, nil
}

// verify reads every run back three ways — runs/get, the full history of
// every metric key, and runs/search over the experiment (all pages, plus
// one filtered search per run) — and compares each with the ledgers. It
// returns how many histories were read and how many entities checked.
func verify(ctx context.Context, a *api, rec *recorder, exp string, ws []*writer) (int, int, error) {
	var p problems
	var mu sync.Mutex
	histories, checked := 0, 0
	// Read back with a few goroutines: the checks are per run.
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var local problems
			r, err := a.getRun(ctx, rec, w.led.runID)
			if err != nil {
				local.addf("runs/get %s: %v", w.led.runID, err)
			} else {
				w.led.checkRun(r, &local)
			}
			n := 0
			for _, k := range w.led.metricKeys() {
				h, err := a.history(ctx, rec, w.led.runID, k)
				if err != nil {
					local.addf("get-history %s %s: %v", w.led.runID, k, err)
					continue
				}
				w.led.checkHistory(k, h, &local)
				n++
			}
			mu.Lock()
			defer mu.Unlock()
			histories += n
			checked += w.led.acked
			p.absorb(&local)
		})
	}
	wg.Wait()

	// Search: every run exactly once across pages (small pages, so the
	// page tokens are exercised), with the same data as runs/get.
	all, err := a.searchAll(ctx, rec, "runs/search(all)", searchQuery{ExperimentIDs: []string{exp}, MaxResults: 7})
	if err != nil {
		p.addf("runs/search: %v", err)
	}
	byID := map[string]*writer{}
	for _, w := range ws {
		byID[w.led.runID] = w
	}
	seen := map[string]int{}
	for i := range all {
		id := all[i].Info.RunID
		seen[id]++
		if w, ok := byID[id]; !ok {
			p.addf("runs/search returned run %s that no client created", id)
		} else if seen[id] == 1 {
			w.led.checkRun(&all[i], &p)
		}
	}
	for _, w := range ws {
		if seen[w.led.runID] != 1 {
			p.addf("runs/search returned run %s %d times", w.led.runID, seen[w.led.runID])
		}
	}
	// A filtered search finds each client's run by its tag and nothing else.
	for _, w := range ws {
		q := searchQuery{ExperimentIDs: []string{exp}, Filter: fmt.Sprintf("tags.client = '%d'", w.id)}
		got, _, err := a.search(ctx, rec, "runs/search(filter)", q)
		switch {
		case err != nil:
			p.addf("runs/search %q: %v", q.Filter, err)
		case len(got) != 1 || got[0].Info.RunID != w.led.runID:
			p.addf("runs/search %q: %d runs, want run %s only", q.Filter, len(got), w.led.runID)
		}
	}
	return histories, checked, p.err()
}
