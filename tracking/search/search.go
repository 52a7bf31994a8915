package search

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mlship/mlship/tracking"
)

// Entity is what a clause's identifier names.
type Entity string

const (
	Metric    Entity = "metric"
	Param     Entity = "param"
	Tag       Entity = "tag"
	Attribute Entity = "attribute"
	Dataset   Entity = "dataset"
)

// Comparison is one clause `<entity>.<key> <op> <value>`.
type Comparison struct {
	Entity Entity
	// Key: attributes are canonical (run_id, run_name, status, user_id,
	// artifact_uri, start_time, end_time; for experiments name,
	// creation_time, last_update_time) with MLflow's aliases resolved
	// (created/Created -> start_time, "run name"/"Run name"/"Run Name" ->
	// run_name); dataset keys are name, digest, context.
	Key string
	// Op is upper-case: "=", "!=", ">", ">=", "<", "<=", "LIKE", "ILIKE",
	// "IN", "NOT IN".
	Op      string
	Numeric bool // Number holds the value (metrics, numeric attributes)
	Number  float64
	String  string   // string value (quotes removed, escapes resolved)
	Strings []string // IN / NOT IN values
}

// Filter is an AND of comparisons; empty matches everything.
type Filter []Comparison

// OrderBy is one order_by clause.
type OrderBy struct {
	Entity    Entity
	Key       string
	Ascending bool
}

// Bounds on what one search request may ask for. MLflow has none; these keep
// a hostile filter from costing more than a page of results to evaluate,
// and keep an IN list under SQLite's bound-parameter limit (32766).
const (
	MaxFilterLength   = 128 << 10 // bytes of one filter or order_by clause
	MaxClauses        = 100       // comparisons AND-ed in one filter
	MaxListValues     = 10000     // values in one IN / NOT IN list
	MaxOrderByClauses = 100
)

// ParseRunFilter parses a search-runs filter string (MLFLOW_COMPAT.md §7.3).
// Errors are *tracking.Error with code InvalidParameterValue and MLflow's
// messages.
func ParseRunFilter(s string) (Filter, error) { return parseFilter(s, runRules) }

// ParseExperimentFilter parses a search-experiments filter string:
// attributes name, creation_time, last_update_time and tags.<key>.
func ParseExperimentFilter(s string) (Filter, error) { return parseFilter(s, experimentRules) }

// invalid builds the error every malformed filter, order_by or page token
// gets: MLflow answers all of them with INVALID_PARAMETER_VALUE (HTTP 400).
func invalid(format string, args ...any) error {
	return tracking.Errorf(tracking.InvalidParameterValue, format, args...)
}

// checkInput rejects what no clause may contain: invalid UTF-8 and NUL
// (PostgreSQL text cannot hold either, so they would surface as a 500
// from the store instead of a 400), and oversized input.
func checkInput(what, s string) error {
	if len(s) > MaxFilterLength {
		return invalid("The %s is too long: %d bytes (the limit is %d).", what, len(s), MaxFilterLength)
	}
	if !utf8.ValidString(s) {
		return invalid("The %s is not valid UTF-8.", what)
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return invalid("The %s contains a NUL character at byte %d.", what, i)
	}
	return nil
}

// echo shortens user text quoted back in an error message.
func echo(s string) string {
	const limit = 200
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// pySet renders a set of strings as Python prints one, in the given order
// (MLflow's messages embed Python set reprs; Python's own order varies with
// hash seeds, so any fixed order is as faithful as another).
func pySet(items []string) string {
	return "{" + pyItems(items) + "}"
}

func pyList(items []string) string { return "[" + pyItems(items) + "]" }

func pyItems(items []string) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "'%s'", it)
	}
	return b.String()
}
