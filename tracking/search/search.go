// Package search parses MLflow's search filter DSL and order_by clauses for
// runs and experiments (MLFLOW_COMPAT.md §7.3) into a small AST that stores
// translate to SQL with bound parameters, and evaluates filters in memory.
package search

import (
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
	// artifact_uri, start_time, end_time, lifecycle_stage; for experiments
	// name, creation_time, last_update_time) with aliases resolved; dataset
	// keys are name, digest, context.
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

// ParseRunFilter parses a search-runs filter string.
func ParseRunFilter(s string) (Filter, error) { return nil, nil }

// ParseExperimentFilter parses a search-experiments filter string.
func ParseExperimentFilter(s string) (Filter, error) { return nil, nil }

// ParseRunOrderBy parses search-runs order_by clauses.
func ParseRunOrderBy(clauses []string) ([]OrderBy, error) { return nil, nil }

// ParseExperimentOrderBy parses search-experiments order_by clauses.
func ParseExperimentOrderBy(clauses []string) ([]OrderBy, error) { return nil, nil }

// EncodePageToken returns the opaque token for a page starting at offset.
func EncodePageToken(offset int) string { return "" }

// DecodePageToken reads a token EncodePageToken made.
func DecodePageToken(tok string) (int, error) { return 0, nil }

// MatchRun evaluates f against one run in memory.
func (f Filter) MatchRun(r *tracking.Run) bool { return true }

// String renders f in the DSL so that parsing it gives f again.
func (f Filter) String() string { return "" }
