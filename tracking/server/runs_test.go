package server_test

import "testing"

// TestUpdateRunStatus pins runs/update's reading of status to MLflow's.
// MLflow parses the body with protobuf's ParseDict(ignore_unknown_fields=
// True): an unknown status *name* is dropped (protobuf >= 5.26 skips it;
// older versions fail the parse, and the schema's only check on status,
// _assert_string, passes a string), so the run keeps its status and the
// answer is 200. A number that is not a status fails the parse and then
// _assert_string: 400. Names are case-sensitive.
func TestUpdateRunStatus(t *testing.T) {
	e := newEnv(t, nil)
	run := str(e.ok(e.post("/api/2.0/mlflow/runs/create", `{}`), "<any>"), "run", "info", "run_id")
	update := func(body string) map[string]any {
		t.Helper()
		return e.ok(e.post("/api/2.0/mlflow/runs/update", `{"run_id": "`+run+`", `+body+`}`), "<any>")
	}
	for _, tc := range []struct{ body, status string }{
		{`"status": "BOGUS", "end_time": 5`, "RUNNING"},
		{`"status": "finished"`, "RUNNING"},
		{`"status": 3`, "FINISHED"},
		{`"status": "KILLED"`, "KILLED"},
		{`"status": "COMPLETED"`, "KILLED"},
		{`"status": null`, "KILLED"},
	} {
		got := update(tc.body)
		if s := str(got, "run_info", "status"); s != tc.status {
			t.Errorf("after %s: status %q, want %q", tc.body, s, tc.status)
		}
	}
	// The end_time beside the unknown status was applied.
	got := e.ok(e.get("/api/2.0/mlflow/runs/get?run_id="+run), "<any>")
	if et, _ := got["run"].(map[string]any)["info"].(map[string]any)["end_time"].(float64); et != 5 {
		t.Errorf("end_time %v, want 5", got["run"])
	}
	for _, body := range []string{`"status": 9`, `"status": 0`} {
		e.fails(e.post("/api/2.0/mlflow/runs/update", `{"run_id": "`+run+`", `+body+`}`), 400, "INVALID_PARAMETER_VALUE",
			"Invalid value "+body[len(`"status": `):]+" for parameter 'status' supplied. Hint: Value was of type 'int'."+docs)
	}
}
