package ui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mlship/mlship/tracking"
)

// column is a runs-table column showing one metric, param or tag of each run.
type column struct {
	Kind string // "metrics", "params" or "tags"
	Key  string
}

// String is the column's spelling in the ?columns= query.
func (c column) String() string { return c.Kind + "." + c.Key }

// OrderKey is the column as an order_by identifier in MLflow's search
// syntax. Keys that are not plain identifiers are quoted in backticks (or
// double quotes when the key holds a backtick) as the DSL allows.
func (c column) OrderKey() string {
	return c.Kind + "." + quoteKey(c.Key)
}

func quoteKey(k string) string {
	plain := k != ""
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	switch {
	case plain:
		return k
	case !strings.Contains(k, "`"):
		return "`" + k + "`"
	}
	return `"` + k + `"`
}

// entityKinds maps the DSL's entity prefixes to a column kind.
var entityKinds = map[string]string{
	"metric": "metrics", "metrics": "metrics",
	"param": "params", "params": "params", "parameter": "params", "parameters": "params",
	"tag": "tags", "tags": "tags",
}

// parseColumns reads ?columns= values: each a comma-separated list of
// entity.key (metrics.acc, params.lr, tags.team). The key is everything after
// the first dot, so keys with dots work; keys with commas cannot be named
// this way. Duplicates are dropped; blanks are ignored.
func parseColumns(values []string) ([]column, error) {
	var cols []column
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			entity, key, ok := strings.Cut(part, ".")
			kind := entityKinds[strings.ToLower(entity)]
			if !ok || kind == "" || key == "" {
				return nil, fmt.Errorf("invalid column %q: want metrics.KEY, params.KEY or tags.KEY", part)
			}
			c := column{Kind: kind, Key: key}
			if !slices.Contains(cols, c) {
				cols = append(cols, c)
			}
		}
	}
	return cols, nil
}

// Default column caps: a table of every key of a wide sweep is unreadable,
// so the default shows the first keys by name and says how many it hid.
const (
	maxDefaultMetrics = 10
	maxDefaultParams  = 10
)

// availableColumns lists every metric, param and (non-system) tag key of
// runs, metrics first, each group sorted by key.
func availableColumns(runs []tracking.Run) []column {
	seen := map[column]bool{}
	var metrics, params, tags []column
	add := func(dst *[]column, c column) {
		if !seen[c] {
			seen[c] = true
			*dst = append(*dst, c)
		}
	}
	for _, r := range runs {
		for _, m := range r.Data.Metrics {
			add(&metrics, column{"metrics", m.Key})
		}
		for _, p := range r.Data.Params {
			add(&params, column{"params", p.Key})
		}
		for _, t := range r.Data.Tags {
			if !isSystemTag(t.Key) {
				add(&tags, column{"tags", t.Key})
			}
		}
	}
	byKey := func(a, b column) int { return strings.Compare(a.Key, b.Key) }
	slices.SortFunc(metrics, byKey)
	slices.SortFunc(params, byKey)
	slices.SortFunc(tags, byKey)
	return slices.Concat(metrics, params, tags)
}

// defaultColumns picks the columns shown when none are asked for: the
// metric and param keys of the shown runs, capped per kind. hidden is how
// many keys the caps left out.
func defaultColumns(available []column) (cols []column, hidden int) {
	var nm, np int
	for _, c := range available {
		switch c.Kind {
		case "metrics":
			if nm < maxDefaultMetrics {
				cols = append(cols, c)
				nm++
				continue
			}
		case "params":
			if np < maxDefaultParams {
				cols = append(cols, c)
				np++
				continue
			}
		default:
			continue // tags only on request
		}
		hidden++
	}
	return cols, hidden
}

// cellValue is run's value for c, "" when it has none.
func cellValue(r *tracking.Run, c column) string {
	switch c.Kind {
	case "metrics":
		for _, m := range r.Data.Metrics {
			if m.Key == c.Key {
				return formatFloat(m.Value)
			}
		}
	case "params":
		for _, p := range r.Data.Params {
			if p.Key == c.Key {
				return p.Value
			}
		}
	case "tags":
		if v, ok := r.Tag(c.Key); ok {
			return v
		}
	}
	return ""
}

// isSystemTag reports whether key is one MLflow sets itself (§7.5).
func isSystemTag(key string) bool { return strings.HasPrefix(key, "mlflow.") }

// sortState reads which way the table is sorted by key (an order_by
// identifier), from the order_by clauses in force: "asc", "desc" or "".
func sortState(orderBy []string, key string) string {
	if len(orderBy) == 0 {
		return ""
	}
	// The direction is the last word, if it is one; the identifier before
	// it may itself hold spaces inside its quotes.
	s := strings.TrimSpace(orderBy[0])
	dir := "asc"
	if i := strings.LastIndexAny(s, " \t\n\r\f\v"); i >= 0 {
		switch strings.ToUpper(s[i+1:]) {
		case "DESC":
			dir, s = "desc", strings.TrimSpace(s[:i])
		case "ASC":
			s = strings.TrimSpace(s[:i])
		}
	}
	if normalizeOrderKey(s) != normalizeOrderKey(key) {
		return ""
	}
	return dir
}

// normalizeOrderKey makes "metrics.acc", "metric.`acc`" and
// "metrics.\"acc\"" compare equal.
func normalizeOrderKey(s string) string {
	entity, key, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok {
		return strings.ToLower(s)
	}
	if kind := entityKinds[strings.ToLower(entity)]; kind != "" {
		entity = kind
	} else {
		entity = strings.ToLower(entity)
		if entity == "attribute" || entity == "attr" || entity == "run" {
			entity = "attributes"
		}
	}
	if len(key) >= 2 && (key[0] == '`' || key[0] == '"') && key[len(key)-1] == key[0] {
		key = key[1 : len(key)-1]
	}
	return entity + "." + key
}

// nextOrder is the order_by a header click asks for: descending first,
// then ascending, then descending again.
func nextOrder(current string, key string) string {
	if current == "desc" {
		return key + " ASC"
	}
	return key + " DESC"
}
