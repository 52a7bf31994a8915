package main

import (
	"fmt"
	"sort"
	"strings"
)

// ledger is what one client wrote to its run, split into writes the
// server acknowledged (2xx) and writes whose outcome is unknown (the
// connection failed, or a 5xx other than 503). Acknowledged writes must be
// read back; unknown ones may or may not be there; nothing else may.
// One client owns one run and writes sequentially, so the ledger needs no
// lock and the order of writes is the order they were applied in.
type ledger struct {
	runID string
	// params: key -> value, acknowledged or unknown.
	params      map[string]string
	maybeParams map[string]string
	// tags: key -> the values the tag may have now. After an
	// acknowledged write that is exactly its value; unknown writes after
	// it add candidates. absentOK marks keys never acknowledged.
	tags     map[string]map[string]bool
	absentOK map[string]bool
	// metrics: key -> points; every point is unique per run (its step is
	// the client's write sequence number).
	metrics      map[string]map[point]bool
	maybeMetrics map[string]map[point]bool
	acked        int // acknowledged writes (entities)
	unknown      int
}

type point struct {
	Step, Timestamp int64
	Value           float64
}

func newLedger(runID string) *ledger {
	return &ledger{runID: runID, params: map[string]string{}, maybeParams: map[string]string{},
		tags: map[string]map[string]bool{}, absentOK: map[string]bool{},
		metrics: map[string]map[point]bool{}, maybeMetrics: map[string]map[point]bool{}}
}

// record notes one request's entities with its outcome: ok (acknowledged)
// or not (unknown). Writes that definitely failed are not recorded.
func (l *ledger) record(ok bool, ms []metric, ps, ts []kv) {
	n := len(ms) + len(ps) + len(ts)
	if ok {
		l.acked += n
	} else {
		l.unknown += n
	}
	for _, m := range ms {
		dst := l.metrics
		if !ok {
			dst = l.maybeMetrics
		}
		if dst[m.Key] == nil {
			dst[m.Key] = map[point]bool{}
		}
		dst[m.Key][point{m.Step, m.Timestamp, m.Value}] = true
	}
	for _, p := range ps {
		if ok {
			l.params[p.Key] = p.Value
		} else if _, acked := l.params[p.Key]; !acked {
			l.maybeParams[p.Key] = p.Value
		}
	}
	for _, t := range ts {
		if ok {
			l.tags[t.Key] = map[string]bool{t.Value: true}
			delete(l.absentOK, t.Key)
			continue
		}
		if l.tags[t.Key] == nil {
			l.tags[t.Key] = map[string]bool{}
			l.absentOK[t.Key] = true
		}
		l.tags[t.Key][t.Value] = true
	}
}

// problems collects what is wrong with a read-back, capped so a broken
// store does not print a million lines.
type problems struct {
	list  []string
	total int
}

func (p *problems) addf(format string, args ...any) {
	p.total++
	if len(p.list) < 30 {
		p.list = append(p.list, fmt.Sprintf(format, args...))
	}
}

func (p *problems) absorb(o *problems) {
	p.total += o.total
	p.list = append(p.list, o.list[:min(len(o.list), 30-len(p.list))]...)
}

func (p *problems) err() error {
	if p.total == 0 {
		return nil
	}
	more := ""
	if p.total > len(p.list) {
		more = fmt.Sprintf("\n... and %d more", p.total-len(p.list))
	}
	return fmt.Errorf("%d problems in the read-back:\n%s%s", p.total, strings.Join(p.list, "\n"), more)
}

// checkRun compares a run read back over runs/get with the ledger:
// params exact, user tags exact (system tags mlflow.* are the server's),
// the latest value of each metric the latest written.
func (l *ledger) checkRun(r *run, p *problems) {
	id := l.runID
	got := map[string]string{}
	for _, kv := range r.Data.Params {
		if _, dup := got[kv.Key]; dup {
			p.addf("run %s: param %q twice", id, kv.Key)
		}
		got[kv.Key] = kv.Value
	}
	for k, v := range l.params {
		if g, ok := got[k]; !ok {
			p.addf("run %s: acknowledged param %q lost", id, k)
		} else if g != v {
			p.addf("run %s: param %q = %q, logged %q", id, k, g, v)
		}
	}
	for k, g := range got {
		if _, ok := l.params[k]; ok {
			continue
		}
		if v, ok := l.maybeParams[k]; !ok || v != g {
			p.addf("run %s: param %q = %q was never logged", id, k, g)
		}
	}

	gotTags := map[string]string{}
	for _, kv := range r.Data.Tags {
		if strings.HasPrefix(kv.Key, "mlflow.") {
			continue
		}
		if _, dup := gotTags[kv.Key]; dup {
			p.addf("run %s: tag %q twice", id, kv.Key)
		}
		gotTags[kv.Key] = kv.Value
	}
	for k, vals := range l.tags {
		g, ok := gotTags[k]
		switch {
		case !ok && !l.absentOK[k]:
			p.addf("run %s: acknowledged tag %q lost", id, k)
		case ok && !vals[g]:
			p.addf("run %s: tag %q = %q, want one of %v", id, k, g, keys(vals))
		}
	}
	for k, g := range gotTags {
		if _, ok := l.tags[k]; !ok {
			p.addf("run %s: tag %q = %q was never set", id, k, g)
		}
	}

	latest := map[string]metric{}
	for _, m := range r.Data.Metrics {
		if _, dup := latest[m.Key]; dup {
			p.addf("run %s: metric %q twice in run data", id, m.Key)
		}
		latest[m.Key] = m
	}
	for k, pts := range l.metrics {
		var want point
		first := true
		for pt := range pts {
			if first || pt.Step > want.Step {
				want, first = pt, false
			}
		}
		m, ok := latest[k]
		if !ok {
			p.addf("run %s: metric %q missing from run data", id, k)
			continue
		}
		gp := point{m.Step, m.Timestamp, m.Value}
		if gp != want && !(l.maybeMetrics[k][gp] && gp.Step > want.Step) {
			p.addf("run %s: latest %q = %+v, want %+v", id, k, gp, want)
		}
	}
	for k := range latest {
		if l.metrics[k] == nil && l.maybeMetrics[k] == nil {
			p.addf("run %s: metric %q was never logged", id, k)
		}
	}
}

// checkHistory compares one metric's full history with the ledger: every
// acknowledged point once, unknown points at most once, nothing else.
func (l *ledger) checkHistory(key string, hist []metric, p *problems) {
	seen := map[point]int{}
	for _, m := range hist {
		if m.Key != key {
			p.addf("run %s: history of %q holds key %q", l.runID, key, m.Key)
		}
		seen[point{m.Step, m.Timestamp, m.Value}]++
	}
	for pt := range l.metrics[key] {
		if seen[pt] == 0 {
			p.addf("run %s: acknowledged %q %+v lost", l.runID, key, pt)
		}
	}
	for pt, n := range seen {
		if n > 1 {
			p.addf("run %s: %q %+v stored %d times", l.runID, key, pt, n)
		}
		if !l.metrics[key][pt] && !l.maybeMetrics[key][pt] {
			p.addf("run %s: %q %+v was never logged", l.runID, key, pt)
		}
	}
}

// metricKeys is every key the ledger may have history for.
func (l *ledger) metricKeys() []string {
	set := map[string]bool{}
	for k := range l.metrics {
		set[k] = true
	}
	for k := range l.maybeMetrics {
		set[k] = true
	}
	return keys(set)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
