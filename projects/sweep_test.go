package projects

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking"
)

func TestSweepCombos(t *testing.T) {
	got, err := sweepCombos(kvs(t, "a=1,2", "b=x", "c=p,q,r"))
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, c := range got {
		s = append(s, formatKVs(c))
	}
	want := []string{"a=1,b=x,c=p", "a=1,b=x,c=q", "a=1,b=x,c=r", "a=2,b=x,c=p", "a=2,b=x,c=q", "a=2,b=x,c=r"}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("combos %v", s)
	}
	if _, err := sweepCombos(kvs(t, "a="+strings.Repeat("1,", 200), "b="+strings.Repeat("1,", 200))); err == nil {
		t.Error("a 40,000-run sweep was accepted")
	}
}

// TestSweep runs 8 combinations with at most 3 at a time: the children
// record start and end times, and at no moment do more than 3 overlap.
func TestSweep(t *testing.T) {
	requirePython(t)
	ts := newTrackingServer(t)
	timing := t.TempDir()
	o, stdout, _ := ts.options(t, example(t, "sweep"), "alpha=0.1,0.3,0.5,0.7", "beta=1,2", "sleep=0.4", "timing_dir="+timing)
	o.Sweep, o.MaxParallel, o.SweepMetric = true, 3, "loss"
	o.RunName = "grid"
	o.ExperimentName = "sweeps"
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Children) != 8 || res.Status != tracking.StatusFinished {
		t.Fatalf("result %+v", res)
	}
	parent := ts.run(t, res.RunID)
	if parent.Info.Status != tracking.StatusFinished || parent.tags[TagSweep] != "alpha,beta" || parent.tags[TagSweepMetric] != "loss" ||
		parent.tags[TagSourceType] != "PROJECT" || parent.Info.RunName != "grid" {
		t.Errorf("parent %+v %v", parent.Info, parent.tags)
	}
	if !reflect.DeepEqual(parent.params, map[string]string{"sleep": "0.4", "timing_dir": timing}) {
		t.Errorf("parent params %v", parent.params)
	}
	all := ts.runs(t, res.ExperimentID)
	if len(all) != 9 {
		t.Errorf("%d runs in the experiment, want 9", len(all))
	}
	seen := map[string]bool{}
	for i, c := range res.Children {
		r := ts.run(t, c.RunID)
		alpha, _ := strconv.ParseFloat(r.params["alpha"], 64)
		beta, _ := strconv.ParseFloat(r.params["beta"], 64)
		want := beta * (alpha - 0.3) * (alpha - 0.3)
		if r.tags[TagParentRunID] != res.RunID || r.Info.Status != tracking.StatusFinished || r.Info.RunName != "grid-"+strconv.Itoa(i+1) {
			t.Errorf("child %d: %+v %v", i, r.Info, r.tags)
		}
		if got := r.metrics["loss"]; got < want-1e-9 || got > want+1e-9 || c.Metric == nil || *c.Metric != got {
			t.Errorf("child %d (%v): loss %v, want %v", i, r.params, r.metrics, want)
		}
		seen[r.params["alpha"]+"/"+r.params["beta"]] = true
	}
	if len(seen) != 8 {
		t.Errorf("combinations run: %v", seen)
	}
	// Parallelism: at most 3 at once, and more than 1 at some point.
	type event struct {
		at    float64
		delta int
	}
	var events []event
	files, _ := filepath.Glob(filepath.Join(timing, "*"))
	if len(files) != 8 {
		t.Fatalf("%d timing files", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var start, end float64
		parts := strings.Fields(string(data))
		start, _ = strconv.ParseFloat(parts[0], 64)
		end, _ = strconv.ParseFloat(parts[1], 64)
		events = append(events, event{start, 1}, event{end, -1})
	}
	sort.Slice(events, func(i, j int) bool {
		if events[i].at != events[j].at {
			return events[i].at < events[j].at
		}
		return events[i].delta < events[j].delta // ends before starts at a tie
	})
	cur, peak := 0, 0
	for _, e := range events {
		cur += e.delta
		peak = max(peak, cur)
	}
	if peak > 3 || peak < 2 {
		t.Errorf("peak concurrency %d, want 2..3 with --max-parallel 3", peak)
	}
	// The summary table: every child, its values, status and metric.
	out := stdout.String()
	for _, want := range []string{"sweep " + res.RunID + ": 8 runs", "alpha", "beta", "loss", "FINISHED", "0 (min)", "0.32 (max)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "[1 alpha=0.1,beta=1] alpha=0.1 beta=1 loss=0.04") {
		t.Errorf("child output is not prefixed:\n%s", out)
	}
}

// TestSweepFailure: one failing combination fails the parent, the others
// finish; a bad value in any combination fails before anything runs.
func TestSweepFailure(t *testing.T) {
	ts := newTrackingServer(t)
	o, _, _ := ts.options(t, example(t, "failing"), "code=0,4,0")
	o.Sweep, o.MaxParallel = true, 2
	res, err := Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "1 of 3 runs did not finish") {
		t.Fatalf("Run = %v", err)
	}
	if res.Status != tracking.StatusFailed || ts.run(t, res.RunID).Info.Status != tracking.StatusFailed {
		t.Errorf("parent %+v", res)
	}
	var statuses []tracking.RunStatus
	for _, c := range res.Children {
		statuses = append(statuses, ts.run(t, c.RunID).Info.Status)
	}
	if !reflect.DeepEqual(statuses, []tracking.RunStatus{tracking.StatusFinished, tracking.StatusFailed, tracking.StatusFinished}) {
		t.Errorf("children %v", statuses)
	}
	id, _ := ts.client.CreateExperiment(context.Background(), "bad-sweep", "", nil)
	o, _, _ = ts.options(t, example(t, "failing"), "code=0,x")
	o.Sweep, o.ExperimentID = true, id
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "sweep combination code=x") {
		t.Errorf("bad combination: %v", err)
	}
	if runs := ts.runs(t, id); len(runs) != 0 {
		t.Errorf("%d runs after a bad combination", len(runs))
	}
}
