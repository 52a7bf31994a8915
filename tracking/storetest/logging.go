package storetest

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking"
)

func testLogBatchParams(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	r := createRun(t, s, "0", 1, "p")
	id := r.Info.RunID
	must(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "lr", Value: "0.1"}, {Key: "model", Value: "x"}}, nil))
	// The same value again is fine.
	must(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "lr", Value: "0.1"}, {Key: "new", Value: "n"}}, nil))
	err := s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "lr", Value: "0.2"}}, nil)
	wantErr(t, err, tracking.InvalidParameterValue,
		fmt.Sprintf("Changing param values is not allowed. Param with key='lr' was already logged with value='0.1' for run ID='%s'. Attempted logging new value '0.2'.", id))
	err = s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "d", Value: "1"}, {Key: "d", Value: "2"}}, nil)
	wantErr(t, err, tracking.InvalidParameterValue, "Duplicate parameter keys have been submitted: ['d']")
	// An exact duplicate within a batch is harmless.
	must(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "e", Value: "1"}, {Key: "e", Value: "1"}}, nil))

	got := getRun(t, s, id)
	want := []tracking.Param{{Key: "e", Value: "1"}, {Key: "lr", Value: "0.1"}, {Key: "model", Value: "x"}, {Key: "new", Value: "n"}}
	if fmt.Sprint(got.Data.Params) != fmt.Sprint(want) {
		t.Errorf("params %v, want %v (sorted by key)", got.Data.Params, want)
	}
	wantErr(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "big", Value: strings.Repeat("v", tracking.MaxParamValueLength+1)}}, nil),
		tracking.InvalidParameterValue, "exceeded length limit of 6000")
	wantErr(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "../etc", Value: "v"}}, nil), tracking.InvalidParameterValue, "Invalid param name")
	wantErr(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "a\x00b", Value: "v"}}, nil), tracking.InvalidParameterValue, "Invalid param name")
	wantErr(t, s.LogBatch(ctx, "0123456789abcdef0123456789abcdef", nil, []tracking.Param{{Key: "a", Value: "v"}}, nil),
		tracking.ResourceDoesNotExist, "Run '0123456789abcdef0123456789abcdef' not found")
}

func testLogBatchLimits(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "limits").Info.RunID
	metrics := func(n int) []tracking.Metric {
		ms := make([]tracking.Metric, n)
		for i := range ms {
			ms[i] = tracking.Metric{Key: "m", Value: float64(i), Step: int64(i), Timestamp: 1}
		}
		return ms
	}
	params := func(n int) []tracking.Param {
		ps := make([]tracking.Param, n)
		for i := range ps {
			ps[i] = tracking.Param{Key: fmt.Sprintf("p%d", i), Value: "v"}
		}
		return ps
	}
	tags := func(n int) []tracking.Tag {
		ts := make([]tracking.Tag, n)
		for i := range ts {
			ts[i] = tracking.Tag{Key: fmt.Sprintf("t%d", i), Value: "v"}
		}
		return ts
	}
	wantErr(t, s.LogBatch(ctx, id, metrics(1001), nil, nil), tracking.InvalidParameterValue,
		"A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please split up metrics across multiple requests and try again.")
	wantErr(t, s.LogBatch(ctx, id, nil, params(101), nil), tracking.InvalidParameterValue,
		"A batch logging request can contain at most 100 params. Got 101 params.")
	wantErr(t, s.LogBatch(ctx, id, nil, nil, tags(101)), tracking.InvalidParameterValue,
		"A batch logging request can contain at most 100 tags. Got 101 tags.")
	wantErr(t, s.LogBatch(ctx, id, metrics(950), params(30), tags(30)), tracking.InvalidParameterValue,
		"A batch logging request can contain at most 1000 metrics, params, and tags. Got 1010 metrics, params, and tags.")
	// Exactly at the limits is accepted, and every value is kept.
	must(t, s.LogBatch(ctx, id, metrics(900), params(50), tags(50)))
	hist, _, err := s.MetricHistory(ctx, id, "m", tracking.Page{})
	must(t, err)
	if len(hist) != 900 {
		t.Errorf("history holds %d values, want 900", len(hist))
	}
	r := getRun(t, s, id)
	if len(r.Data.Params) != 50 || len(r.Data.Tags) != 51 { // + mlflow.runName
		t.Errorf("%d params, %d tags", len(r.Data.Params), len(r.Data.Tags))
	}
}

func testLogBatchAtomic(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "atomic").Info.RunID
	must(t, s.LogBatch(ctx, id, nil, []tracking.Param{{Key: "fixed", Value: "a"}}, nil))
	err := s.LogBatch(ctx, id,
		[]tracking.Metric{{Key: "lost", Value: 1, Timestamp: 1}},
		[]tracking.Param{{Key: "also-lost", Value: "x"}, {Key: "fixed", Value: "b"}},
		[]tracking.Tag{{Key: "lost-tag", Value: "x"}})
	wantErr(t, err, tracking.InvalidParameterValue, "Changing param values is not allowed")
	r := getRun(t, s, id)
	if len(r.Data.Metrics) != 0 || len(r.Data.Params) != 1 || len(tagMap(r.Data.Tags)) != 1 {
		t.Errorf("a failed batch left data behind: %+v", r.Data)
	}
	hist, _, err := s.MetricHistory(ctx, id, "lost", tracking.Page{})
	must(t, err)
	if len(hist) != 0 {
		t.Errorf("a failed batch left history: %v", hist)
	}
}

func testLogBatchTags(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "tags").Info.RunID
	must(t, s.LogBatch(ctx, id, nil, nil, []tracking.Tag{{Key: "k", Value: "1"}, {Key: "note", Value: "x"}}))
	must(t, s.LogBatch(ctx, id, nil, nil, []tracking.Tag{{Key: "k", Value: "2"}}))
	// Setting mlflow.runName renames the run, as MLflow's set_tag does.
	must(t, s.LogBatch(ctx, id, nil, nil, []tracking.Tag{{Key: "mlflow.runName", Value: "renamed"}}))
	r := getRun(t, s, id)
	tags := tagMap(r.Data.Tags)
	if tags["k"] != "2" || tags["note"] != "x" || tags["mlflow.runName"] != "renamed" || r.Info.RunName != "renamed" {
		t.Errorf("tags %v, name %q", tags, r.Info.RunName)
	}
	wantErr(t, s.LogBatch(ctx, id, nil, nil, []tracking.Tag{{Key: "big", Value: strings.Repeat("v", tracking.MaxTagValueLength+1)}}),
		tracking.InvalidParameterValue, "exceeded length limit of 8000")
	wantErr(t, s.LogBatch(ctx, id, []tracking.Metric{{Key: strings.Repeat("k", 251), Value: 1}}, nil, nil),
		tracking.InvalidParameterValue, "exceeded length limit of 250")
}

func testMetricSpecialValues(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "special").Info.RunID
	vals := map[string]float64{"nan": math.NaN(), "inf": math.Inf(1), "ninf": math.Inf(-1), "tiny": 5e-324, "big": math.MaxFloat64, "neg": -0.5}
	var ms []tracking.Metric
	for k, v := range vals {
		ms = append(ms, tracking.Metric{Key: k, Value: v, Timestamp: 10, Step: 3})
	}
	must(t, s.LogBatch(ctx, id, ms, nil, nil))
	r := getRun(t, s, id)
	for k, v := range vals {
		m, ok := latest(r, k)
		if !ok {
			t.Errorf("metric %s missing", k)
			continue
		}
		if !same(m.Value, v) || m.Step != 3 || m.Timestamp != 10 {
			t.Errorf("latest %s = %+v, want value %v", k, m, v)
		}
		hist, _, err := s.MetricHistory(ctx, id, k, tracking.Page{})
		must(t, err)
		if len(hist) != 1 || !same(hist[0].Value, v) {
			t.Errorf("history %s = %v, want [%v]", k, hist, v)
		}
	}
}

// same compares floats bit for bit in meaning: NaN equals NaN.
func same(a, b float64) bool {
	return a == b || math.IsNaN(a) && math.IsNaN(b)
}

func testLatestMetric(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "latest").Info.RunID
	log := func(ms ...tracking.Metric) {
		t.Helper()
		for i := range ms {
			ms[i].Key = "loss"
		}
		must(t, s.LogBatch(ctx, id, ms, nil, nil))
	}
	check := func(want tracking.Metric) {
		t.Helper()
		m, ok := latest(getRun(t, s, id), "loss")
		if !ok || !same(m.Value, want.Value) || m.Step != want.Step || m.Timestamp != want.Timestamp {
			t.Fatalf("latest = %+v, want value %v step %d timestamp %d", m, want.Value, want.Step, want.Timestamp)
		}
	}
	log(tracking.Metric{Value: 5, Step: 2, Timestamp: 100})
	check(tracking.Metric{Value: 5, Step: 2, Timestamp: 100})
	// An earlier step logged later does not replace it.
	log(tracking.Metric{Value: 9, Step: 1, Timestamp: 500})
	check(tracking.Metric{Value: 5, Step: 2, Timestamp: 100})
	// Same step: the later timestamp wins, even with a smaller value.
	log(tracking.Metric{Value: 1, Step: 2, Timestamp: 101})
	check(tracking.Metric{Value: 1, Step: 2, Timestamp: 101})
	// Same step and timestamp: the larger value wins.
	log(tracking.Metric{Value: 0.5, Step: 2, Timestamp: 101})
	check(tracking.Metric{Value: 1, Step: 2, Timestamp: 101})
	log(tracking.Metric{Value: 3, Step: 2, Timestamp: 101})
	check(tracking.Metric{Value: 3, Step: 2, Timestamp: 101})
	// Within one batch the same rule picks the latest.
	log(tracking.Metric{Value: 7, Step: 10, Timestamp: 1}, tracking.Metric{Value: 8, Step: 9, Timestamp: 999}, tracking.Metric{Value: 6, Step: 10, Timestamp: 1})
	check(tracking.Metric{Value: 7, Step: 10, Timestamp: 1})
	log(tracking.Metric{Value: math.NaN(), Step: 11, Timestamp: 1})
	check(tracking.Metric{Value: math.NaN(), Step: 11, Timestamp: 1})
}

func testMetricHistory(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "hist").Info.RunID
	// Logged out of order, in two batches.
	must(t, s.LogBatch(ctx, id, []tracking.Metric{
		{Key: "acc", Value: 0.3, Step: 3, Timestamp: 30},
		{Key: "acc", Value: 0.1, Step: 1, Timestamp: 10},
		{Key: "other", Value: 42, Step: 0, Timestamp: 1},
	}, nil, nil))
	must(t, s.LogBatch(ctx, id, []tracking.Metric{
		{Key: "acc", Value: 0.25, Step: 2, Timestamp: 21},
		{Key: "acc", Value: 0.2, Step: 2, Timestamp: 20},
		{Key: "acc", Value: 0.0, Step: 0, Timestamp: 5, DatasetName: "train", DatasetDigest: "abc"},
	}, nil, nil))
	all, next, err := s.MetricHistory(ctx, id, "acc", tracking.Page{})
	must(t, err)
	if next != "" {
		t.Errorf("unpaged history returned a page token %q", next)
	}
	want := []float64{0.0, 0.1, 0.2, 0.25, 0.3}
	if len(all) != len(want) {
		t.Fatalf("history %v", all)
	}
	for i, m := range all {
		if m.Value != want[i] || m.Key != "acc" {
			t.Errorf("history[%d] = %+v, want value %v", i, m, want[i])
		}
	}
	if all[0].DatasetName != "train" || all[0].DatasetDigest != "abc" {
		t.Errorf("dataset link lost: %+v", all[0])
	}
	var paged []tracking.Metric
	for _, ms := range allPages(t, 6, func(tok string) ([]tracking.Metric, string, error) {
		return s.MetricHistory(ctx, id, "acc", tracking.Page{MaxResults: 2, PageToken: tok})
	}) {
		if len(ms) > 2 {
			t.Fatalf("page of %d > 2", len(ms))
		}
		paged = append(paged, ms...)
	}
	if fmt.Sprint(paged) != fmt.Sprint(all) {
		t.Errorf("paged history %v != %v", paged, all)
	}
	none, _, err := s.MetricHistory(ctx, id, "never-logged", tracking.Page{})
	must(t, err)
	if len(none) != 0 {
		t.Errorf("history of an unlogged key: %v", none)
	}
	_, _, err = s.MetricHistory(ctx, "0123456789abcdef0123456789abcdef", "acc", tracking.Page{})
	wantErr(t, err, tracking.ResourceDoesNotExist, "not found")
	_, _, err = s.MetricHistory(ctx, id, "acc", tracking.Page{MaxResults: 2, PageToken: "!!not a token!!"})
	wantErr(t, err, tracking.InvalidParameterValue, "")
}

// testMetricRepeats: a value is kept once per (key, step, timestamp,
// value), as MLflow's metrics key has it, so a retried request or a repeat
// within one batch does not show twice in the history.
func testMetricRepeats(t *testing.T, s tracking.Store) {
	ctx := context.Background()
	id := createRun(t, s, "0", 1, "repeats").Info.RunID
	m := tracking.Metric{Key: "loss", Value: 0.5, Timestamp: 1000, Step: 3}
	nan := tracking.Metric{Key: "loss", Value: math.NaN(), Timestamp: 1000, Step: 3}
	for range 2 {
		must(t, s.LogBatch(ctx, id, []tracking.Metric{m}, nil, nil))
	}
	must(t, s.LogBatch(ctx, id, []tracking.Metric{m, m, nan, nan}, nil, nil))
	other := m
	other.Value = 0.25 // a different value at the same step and time is kept
	must(t, s.LogBatch(ctx, id, []tracking.Metric{other, nan}, nil, nil))
	hist, _, err := s.MetricHistory(ctx, id, "loss", tracking.Page{})
	must(t, err)
	var nans, halves, quarters int
	for _, h := range hist {
		switch {
		case math.IsNaN(h.Value):
			nans++
		case h.Value == 0.5:
			halves++
		case h.Value == 0.25:
			quarters++
		}
	}
	if len(hist) != 3 || nans != 1 || halves != 1 || quarters != 1 {
		t.Errorf("history after repeats: %+v (want 0.5, 0.25 and NaN once each)", hist)
	}
}
