// Package search is MLflow's search language for runs and experiments
// (MLFLOW_COMPAT.md §7.3): it parses filter strings and order_by clauses
// into a small AST that stores translate to SQL with bound parameters, and
// it evaluates filters in memory for stores that have no SQL.
//
// # Filters
//
// A filter is comparisons joined by AND (any case); there is no OR and no
// grouping with parentheses:
//
//	metrics.accuracy > 0.9 AND params.optimizer = 'adam' AND tags.`team name` LIKE 'ml%'
//
// Each comparison is `[entity.]key comparator value`. The entity prefixes
// are MLflow's: metric/metrics, param/params/parameter/parameters,
// tag/tags, attribute/attributes/attr/run and dataset/datasets; a key with
// no prefix is an attribute. Keys with characters other than letters,
// digits, _ and dots go in backticks or double quotes. Prefixes and
// attribute names are case-sensitive, as in MLflow.
//
//	entity              keys                               comparators                       value
//	metric              any                                = != > >= < <=                    number
//	numeric attribute   start_time (created, Created),     = != > >= < <=                    number
//	                    end_time
//	string attribute    run_id, run_name ("run name",      = != LIKE ILIKE                   'string'
//	                    "Run name", "Run Name"), status,   (run_id also IN, NOT IN)          ('a', 'b')
//	                    user_id, artifact_uri
//	param, tag          any                                = != LIKE ILIKE                   'string'
//	dataset             name, digest, context              = != LIKE ILIKE IN NOT IN         'string', ('a', 'b')
//
// Experiment filters take the attributes name (a string) and creation_time
// and last_update_time (numbers), and tags; their only prefixes are
// attribute, tag and tags.
//
// Strings are in single or double quotes (lists take single quotes only).
// Numbers are decimal, optionally negative, with an optional fraction and
// exponent; NaN, Inf, hexadecimal and quoted numbers are not numbers. In
// LIKE and ILIKE, % matches any run of characters and _ exactly one; there
// is no escape character. LIKE is case-sensitive, ILIKE is not.
//
// The parsed Comparison carries the canonical key (aliases resolved: created
// is start_time, "Run name" is run_name), the upper-cased comparator and the
// value: Number when Numeric is set, Strings for IN and NOT IN, else
// String. Filter.String renders an AST back into the language.
//
// # Errors
//
// Every malformed filter, order_by clause or page token is a
// *tracking.Error with code INVALID_PARAMETER_VALUE (HTTP 400) and, where
// MLflow has one, MLflow's message word for word, e.g.
//
//	Invalid clause(s) in filter string: 'or'
//	Expected numeric value type for metric. Found 'a'
//	Invalid comparator '>' not one of '{'!=', '=', 'LIKE', 'ILIKE'}'
//
// (MLflow prints Python sets, whose order varies between its processes;
// this package prints them in the order MLflow's source lists them.)
//
// # Where this package differs from MLflow
//
// It is stricter in a few places where MLflow accepts input by accident:
// two comparisons need an AND between them, a filter cannot start or end
// with AND, an IN list cannot end with a comma, and a list goes only with
// IN or NOT IN and they only with a list. Quotes inside strings can be
// escaped by doubling them or with a backslash, and a doubled backslash
// stands for one; MLflow keeps such escapes as written, so it cannot search
// for a value that contains a quote. IN lists keep every value: MLflow
// drops values that are not all lower-case (a workaround for MySQL), and
// that changes nothing for real run ids. A filter may not contain invalid
// UTF-8 or NUL characters (PostgreSQL could not store them), and it may
// not be longer than MaxFilterLength or have more than MaxClauses
// comparisons or MaxListValues values in one list. A number too large for
// a float64 is an error rather than infinity.
//
// # Order and pages
//
// An order_by clause is `<identifier> [ASC|DESC]`, ascending by default.
// Runs order by the attributes start_time (or created), end_time,
// run_name, run_id, status, user_id and artifact_uri, or by metrics.<key>,
// params.<key> or tags.<key>; experiments by name, experiment_id,
// creation_time and last_update_time.
//
// Page tokens are base64 of the JSON {"offset": N}, byte for byte as
// MLflow's file store writes them; DecodePageToken rejects anything else.
package search
