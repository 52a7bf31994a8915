package search

import (
	"strings"
	"unicode/utf8"

	"github.com/mlship/mlship/tracking"
)

// MatchRun evaluates f against one run in memory, as MLflow's file store
// does: a clause on a metric, param or tag the run lacks is false (even
// with != or NOT IN), as is a clause on end_time while the run has none;
// a dataset clause holds if any of the run's dataset inputs satisfies it.
// LIKE and ILIKE are SQL's: % any run of characters, _ exactly one, no
// escape character; LIKE is case-sensitive.
func (f Filter) MatchRun(r *tracking.Run) bool {
	for i := range f {
		if !f[i].matchRun(r) {
			return false
		}
	}
	return true
}

// MatchExperiment evaluates an experiment filter against one experiment.
func (f Filter) MatchExperiment(e *tracking.Experiment) bool {
	for _, c := range f {
		var ok bool
		switch {
		case c.Entity == Tag:
			ok = c.matchTags(e.Tags)
		case c.Key == "name":
			ok = c.compareString(e.Name)
		case c.Key == "creation_time":
			ok = c.compareNumber(float64(e.CreationTime))
		case c.Key == "last_update_time":
			ok = c.compareNumber(float64(e.LastUpdateTime))
		}
		if !ok {
			return false
		}
	}
	return true
}

func (c *Comparison) matchRun(r *tracking.Run) bool {
	switch c.Entity {
	case Metric:
		var latest tracking.Metric
		found := false
		for _, m := range r.Data.Metrics {
			if m.Key == c.Key && (!found || m.Later(latest)) {
				latest, found = m, true
			}
		}
		return found && c.compareNumber(latest.Value)
	case Param:
		for _, p := range r.Data.Params {
			if p.Key == c.Key {
				return c.compareString(p.Value)
			}
		}
		return false
	case Tag:
		return c.matchTags(r.Data.Tags)
	case Dataset:
		for _, in := range r.Inputs {
			switch c.Key {
			case "name":
				if c.compareString(in.Dataset.Name) {
					return true
				}
			case "digest":
				if c.compareString(in.Dataset.Digest) {
					return true
				}
			case "context":
				for _, t := range in.Tags {
					if t.Key == "mlflow.data.context" && c.compareString(t.Value) {
						return true
					}
				}
			}
		}
		return false
	}
	info := &r.Info
	switch c.Key {
	case "start_time":
		return c.compareNumber(float64(info.StartTime))
	case "end_time":
		return info.EndTime != 0 && c.compareNumber(float64(info.EndTime))
	case "run_id":
		return c.compareString(info.RunID)
	case "run_name":
		return c.compareString(info.RunName)
	case "status":
		return c.compareString(string(info.Status))
	case "user_id":
		return c.compareString(info.UserID)
	case "artifact_uri":
		return c.compareString(info.ArtifactURI)
	case "lifecycle_stage":
		return c.compareString(info.LifecycleStage)
	}
	return false
}

func (c *Comparison) matchTags(tags []tracking.Tag) bool {
	for _, t := range tags {
		if t.Key == c.Key {
			return c.compareString(t.Value)
		}
	}
	return false
}

func (c *Comparison) compareNumber(x float64) bool {
	y := c.Number
	switch c.Op {
	case "=":
		return x == y
	case "!=":
		return x != y
	case ">":
		return x > y
	case ">=":
		return x >= y
	case "<":
		return x < y
	case "<=":
		return x <= y
	}
	return false
}

func (c *Comparison) compareString(x string) bool {
	switch c.Op {
	case "=":
		return x == c.String
	case "!=":
		return x != c.String
	case "LIKE":
		return Like(x, c.String)
	case "ILIKE":
		return Like(strings.ToLower(x), strings.ToLower(c.String))
	case "IN", "NOT IN":
		in := false
		for _, s := range c.Strings {
			in = in || s == x
		}
		return in == (c.Op == "IN")
	}
	return false
}

// Like reports whether s matches the SQL LIKE pattern: % matches any run
// of characters (also none), _ exactly one character, everything else
// itself; there is no escape character. It runs in O(len(s)·len(pattern))
// at worst, whatever the pattern.
func Like(s, pattern string) bool {
	// Greedy matching with one backtrack point (the last %), which is
	// enough for patterns whose only wildcards are % and _.
	si, pi := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(pattern) {
			switch pattern[pi] {
			case '%':
				starP, starS = pi, si
				pi++
				continue
			case '_':
				_, n := utf8.DecodeRuneInString(s[si:])
				si += n
				pi++
				continue
			default:
				pr, pn := utf8.DecodeRuneInString(pattern[pi:])
				sr, sn := utf8.DecodeRuneInString(s[si:])
				if pr == sr && pn == sn {
					si += sn
					pi += pn
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last % absorb one more character and retry after it.
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		si, pi = starS, starP+1
	}
	for pi < len(pattern) && pattern[pi] == '%' {
		pi++
	}
	return pi == len(pattern)
}
