package server_test

import (
	"strconv"
	"strings"
	"testing"
)

const docs = " See the API docs for more information about request parameters."

// TestValidationErrors checks each error path's status, code and message
// against MLflow's (MLFLOW_COMPAT.md §7.1, mlflow/server/handlers.py).
func TestValidationErrors(t *testing.T) {
	e := newEnv(t, nil)
	run := str(e.ok(e.post("/api/2.0/mlflow/runs/create", `{}`), "<any>"), "run", "info", "run_id")
	big := `{"run_id": "` + run + `", "tags": [{"key": "k", "value": "` + strings.Repeat("x", 1_000_000) + `"}]}`
	for _, tc := range []struct {
		name, method, path, contentType, body string
		status                                int
		code, message                         string
	}{
		{"missing run_id", "POST", "runs/log-metric", "", `{"key": "m", "value": 1, "timestamp": 1}`,
			400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'." + docs},
		{"empty run_id is missing", "POST", "runs/log-parameter", "", `{"run_id": "", "key": "p", "value": "v"}`,
			400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'." + docs},
		{"null is missing", "POST", "runs/set-tag", "", `{"run_id": null, "key": "p", "value": "v"}`,
			400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'." + docs},
		{"missing timestamp", "POST", "runs/log-metric", "", `{"run_id": "` + run + `", "key": "m", "value": 1}`,
			400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'timestamp'." + docs},
		{"value not a number", "POST", "runs/log-metric", "", `{"run_id": "` + run + `", "key": "m", "value": "abc", "timestamp": 1}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value abc for parameter 'value' supplied. Hint: Value was of type 'str'." + docs},
		{"value a list", "POST", "runs/log-metric", "", `{"run_id": "` + run + `", "key": "m", "value": [1, "a"], "timestamp": 1}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value [1, 'a'] for parameter 'value' supplied. Hint: Value was of type 'list'." + docs},
		{"timestamp a float string", "POST", "runs/log-metric", "", `{"run_id": "` + run + `", "key": "m", "value": 1, "timestamp": "1.5"}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value 1.5 for parameter 'timestamp' supplied. Hint: Value was of type 'str'." + docs},
		{"run_id a number", "POST", "runs/log-metric", "", `{"run_id": 12, "key": "m", "value": 1, "timestamp": 1}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value 12 for parameter 'run_id' supplied. Hint: Value was of type 'int'." + docs},
		{"param value a bool", "POST", "runs/log-parameter", "", `{"run_id": "` + run + `", "key": "p", "value": true}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value True for parameter 'value' supplied. Hint: Value was of type 'bool'." + docs},
		{"experiment name a dict", "POST", "experiments/create", "", `{"name": {"a": null}}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value {'a': None} for parameter 'name' supplied. Hint: Value was of type 'dict'." + docs},
		{"type errors only when parsing failed", "POST", "runs/log-metric", "", `{"run_id": "` + run + `", "key": "m", "value": "1e3", "timestamp": "12", "step": 2.0}`,
			200, "", ""},
		{"malformed JSON counts as {}", "POST", "runs/log-metric", "", `{"run_id": "` + run + `",`,
			400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'." + docs},
		{"double-encoded JSON", "POST", "experiments/create", "", `"{\"name\": \"double\"}"`, 200, "", ""},
		{"no content type", "POST", "runs/log-metric", "-", `{"run_id": "` + run + `"}`,
			400, "INVALID_PARAMETER_VALUE", "Bad Request. Content-Type header is missing."},
		{"wrong content type", "POST", "runs/log-metric", "text/plain", `{"run_id": "` + run + `"}`,
			400, "INVALID_PARAMETER_VALUE", "Bad Request. Content-Type must be one of ['application/json']."},
		{"content type with charset", "POST", "experiments/create", "application/json; charset=utf-8", `{"name": "charset"}`, 200, "", ""},
		{"unknown run", "GET", "runs/get?run_id=deadbeef", "", "",
			404, "RESOURCE_DOES_NOT_EXIST", "Run 'deadbeef' not found"},
		{"unknown run on log", "POST", "runs/log-metric", "", `{"run_id": "deadbeef", "key": "m", "value": 1, "timestamp": 1}`,
			404, "RESOURCE_DOES_NOT_EXIST", "Run 'deadbeef' not found"},
		{"unknown experiment on create-run", "POST", "runs/create", "", `{"experiment_id": "doesnotexist"}`,
			404, "RESOURCE_DOES_NOT_EXIST", "Could not find experiment with ID doesnotexist"},
		{"artifact location with a fragment", "POST", "experiments/create", "", `{"name": "f", "artifact_location": "file:///tmp/a#/../../etc"}`,
			400, "INVALID_PARAMETER_VALUE", "'artifact_location' URL can't include fragments or params."},
		{"artifact location with params", "POST", "experiments/create", "", `{"name": "f", "artifact_location": "https://h/a;x=1"}`,
			400, "INVALID_PARAMETER_VALUE", "'artifact_location' URL can't include fragments or params."},
		{"artifact location with traversal in its query", "POST", "experiments/create", "", `{"name": "f", "artifact_location": "s3://b/p?x=%252e%252e/y"}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid query string"},
		{"artifact location with a harmless query", "POST", "experiments/create", "", `{"name": "q", "artifact_location": "s3://b/p?versionId=3"}`, 200, "", ""},
		{"semicolon in a file URI is not params", "POST", "experiments/create", "", `{"name": "semi", "artifact_location": "file:///tmp/a;b"}`, 200, "", ""},
		{"get-history without metric_key", "GET", "metrics/get-history?run_id=" + run, "", "",
			400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'metric_key'." + docs},
		{"GET without query reads no body: missing", "GET", "runs/get", "", "",
			400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'." + docs},
		{"max_results above the limit", "POST", "runs/search", "", `{"experiment_ids": ["0"], "max_results": 50001}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value 50001 for parameter 'max_results' supplied. Hint: Value was of type 'int'." + docs},
		{"experiments max_results above the limit", "POST", "experiments/search", "", `{"max_results": 50001}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value for max_results. It must be at most 50000, but got 50001"},
		{"experiments max_results zero", "GET", "experiments/search?max_results=0", "", "",
			400, "INVALID_PARAMETER_VALUE", "Invalid value for max_results. It must be a positive integer, but got 0"},
		{"max_results above the limit as a string", "POST", "runs/search", "", `{"experiment_ids": ["0"], "max_results": "50001"}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value 50001 for parameter 'max_results' supplied. Hint: Value was of type 'str'." + docs},
		{"max_results not a number in a query", "GET", "experiments/search?max_results=abc", "", "",
			400, "INVALID_PARAMETER_VALUE", "Invalid value abc for parameter 'max_results' supplied. Hint: Value was of type 'str'." + docs},
		{"order_by items not strings", "POST", "runs/search", "", `{"experiment_ids": ["0"], "order_by": [1]}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value [1] for parameter 'order_by' supplied. Hint: Value was of type 'list'." + docs},
		{"view type unknown", "POST", "experiments/search", "", `{"view_type": "SOME"}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value SOME for parameter 'view_type' supplied. Hint: Value was of type 'str'." + docs},
		{"bad filter", "POST", "runs/search", "", `{"experiment_ids": ["0"], "filter": "metrics.a < 1 or metrics.b > 2"}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid clause(s) in filter string: 'or'"},
		{"log-batch item without value", "POST", "runs/log-batch", "", `{"run_id": "` + run + `", "metrics": [{"key": "a", "timestamp": 1}]}`,
			400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'metrics[0].value'." + docs},
		{"log-batch param without key", "POST", "runs/log-batch", "", `{"run_id": "` + run + `", "params": [{"value": "1"}]}`,
			400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'params[0].key'." + docs},
		{"log-batch metric value not a number", "POST", "runs/log-batch", "", `{"run_id": "` + run + `", "metrics": [{"key": "a", "value": 1, "timestamp": 1}, {"key": "b", "value": "abc", "timestamp": 1}]}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value abc for parameter 'metrics[1].value' supplied. Hint: Value was of type 'str'." + docs},
		{"log-batch metric step not an integer", "POST", "runs/log-batch", "", `{"run_id": "` + run + `", "metrics": [{"key": "a", "value": 1, "timestamp": 1, "step": "x"}]}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value x for parameter 'metrics[0].step' supplied. Hint: Value was of type 'str'." + docs},
		{"log-batch param value a number", "POST", "runs/log-batch", "", `{"run_id": "` + run + `", "params": [{"key": "p", "value": 5}]}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value 5 for parameter 'params[0].value' supplied. Hint: Value was of type 'int'." + docs},
		{"log-batch metrics not a list", "POST", "runs/log-batch", "", `{"run_id": "` + run + `", "metrics": {"key": "a"}}`,
			400, "INVALID_PARAMETER_VALUE", "Invalid value {'key': 'a'} for parameter 'metrics' supplied. Hint: Value was of type 'dict'." + docs},
		{"log-batch over 1 MB", "POST", "runs/log-batch", "", big,
			400, "INVALID_PARAMETER_VALUE", "Batched logging API requests must be at most 1000000 bytes, got a request of size " + strconv.Itoa(len(big)) + "."},
		{"unknown endpoint", "POST", "registered-models/create", "", `{"name": "m"}`,
			404, "ENDPOINT_NOT_FOUND", "No API endpoint for POST /api/2.0/mlflow/registered-models/create."},
		{"logged models are not served", "GET", "logged-models/m-123", "", "",
			404, "ENDPOINT_NOT_FOUND", "No API endpoint for GET /api/2.0/mlflow/logged-models/m-123."},
		{"wrong method", "POST", "runs/get", "", `{"run_id": "x"}`,
			405, "BAD_REQUEST", "Method POST is not allowed on /api/2.0/mlflow/runs/get."},
		{"removed experiments/list", "GET", "experiments/list", "", "",
			404, "ENDPOINT_NOT_FOUND", "No API endpoint for GET /api/2.0/mlflow/experiments/list."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			r := e.do(tc.method, "/api/2.0/mlflow/"+tc.path, tc.contentType, body)
			if tc.status == 200 {
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				return
			}
			e.fails(r, tc.status, tc.code, tc.message)
		})
	}
	e.t = t
	e.fails(e.get("/api/3.0/mlflow/traces"), 404, "ENDPOINT_NOT_FOUND", "No API endpoint for GET /api/3.0/mlflow/traces.")
	e.fails(e.get("/nothing-here"), 404, "ENDPOINT_NOT_FOUND", "No API endpoint for GET /nothing-here.")

	// The type-check case above logged its metric, with the strings read as
	// numbers.
	e.ok(e.get("/api/2.0/mlflow/metrics/get-history?run_id="+run+"&metric_key=m"), `{"metrics": [{"key": "m", "value": 1000.0, "timestamp": 12, "step": 2}]}`)
	// The refused log-batch calls logged nothing, not even their good items.
	e.ok(e.get("/api/2.0/mlflow/metrics/get-history?run_id="+run+"&metric_key=a"), `{}`)
}
