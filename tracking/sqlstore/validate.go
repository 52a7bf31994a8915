package sqlstore

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/mlship/mlship/tracking"
)

// validKey is MLflow's rule for metric, param and tag names: alphanumerics,
// underscores, dashes, periods, spaces, colons and slashes.
var validKey = regexp.MustCompile(`^[/\w.\- :]*$`)

// validateKey checks a metric, param or tag key as MLflow does: non-empty,
// at most 250 characters, from the allowed set, and not one that would
// resolve to another name when used as a file path (the file store and
// artifact layouts use keys as paths).
func validateKey(kind, key string) error {
	if key == "" {
		return tracking.Errorf(tracking.InvalidParameterValue, "Missing value for required parameter 'key'. See the API docs for more information about request parameters.")
	}
	if !validKey.MatchString(key) {
		return tracking.Errorf(tracking.InvalidParameterValue,
			"Invalid %s name: '%s'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).", kind, key)
	}
	if clean := path.Clean(key); clean != key || strings.HasPrefix(key, "/") || clean == ".." || strings.HasPrefix(clean, "../") {
		return tracking.Errorf(tracking.InvalidParameterValue,
			"Invalid %s name: '%s'. Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '%s'", kind, key, clean)
	}
	if len(key) > tracking.MaxEntityKeyLength {
		return tracking.Errorf(tracking.InvalidParameterValue, "%s '%s' had length %d, which exceeded length limit of %d",
			upperFirst(kind)+" key", truncate(key), len(key), tracking.MaxEntityKeyLength)
	}
	return nil
}

func validateLength(what, value string, limit int) error {
	if len(value) > limit {
		return tracking.Errorf(tracking.InvalidParameterValue, "%s '%s' had length %d, which exceeded length limit of %d", what, truncate(value), len(value), limit)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 250 {
		return s[:250] + "..."
	}
	return s
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func batchLimit(name string, limit, got int) error {
	if got > limit {
		return tracking.Errorf(tracking.InvalidParameterValue,
			"A batch logging request can contain at most %d %s. Got %d %s. Please split up %s across multiple requests and try again.",
			limit, name, got, name, name)
	}
	return nil
}

// validateBatch checks a log-batch request before any database work, in
// MLflow's order: limits, then each entity, then duplicate params. It
// returns the params with exact duplicates dropped.
func validateBatch(metrics []tracking.Metric, params []tracking.Param, tags []tracking.Tag) ([]tracking.Param, error) {
	if err := batchLimit("metrics", tracking.MaxMetricsPerBatch, len(metrics)); err != nil {
		return nil, err
	}
	if err := batchLimit("params", tracking.MaxParamsTagsPerBatch, len(params)); err != nil {
		return nil, err
	}
	if err := batchLimit("tags", tracking.MaxParamsTagsPerBatch, len(tags)); err != nil {
		return nil, err
	}
	if err := batchLimit("metrics, params, and tags", tracking.MaxEntitiesPerBatch, len(metrics)+len(params)+len(tags)); err != nil {
		return nil, err
	}
	for _, m := range metrics {
		if err := validateKey("metric", m.Key); err != nil {
			return nil, err
		}
	}
	for _, p := range params {
		if err := validateKey("param", p.Key); err != nil {
			return nil, err
		}
		if err := validateLength("Param value", p.Value, tracking.MaxParamValueLength); err != nil {
			return nil, err
		}
	}
	for _, t := range tags {
		if err := validateKey("tag", t.Key); err != nil {
			return nil, err
		}
		if err := validateLength("Tag value", t.Value, tracking.MaxTagValueLength); err != nil {
			return nil, err
		}
	}
	seen := make(map[string]string, len(params))
	var dupes []string
	out := params[:0:0]
	for _, p := range params {
		if v, ok := seen[p.Key]; ok {
			if v != p.Value && !slices.Contains(dupes, p.Key) {
				dupes = append(dupes, p.Key)
			}
			continue
		}
		seen[p.Key] = p.Value
		out = append(out, p)
	}
	if len(dupes) > 0 {
		return nil, tracking.Errorf(tracking.InvalidParameterValue,
			"Duplicate parameter keys have been submitted: %s. Please ensure the request contains only one param value per param key.", pyList(dupes))
	}
	return out, nil
}

// pyList renders strings as Python's repr of a list, as MLflow's messages do.
func pyList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("'%s'", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
