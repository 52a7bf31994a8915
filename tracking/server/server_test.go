package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlship/mlship/tracking/artifacts"
	"github.com/mlship/mlship/tracking/server"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// env is a tracking server over a real SQLite store and a local artifacts
// destination, on a real loopback listener.
type env struct {
	t    *testing.T
	url  string
	dir  string // temp dir holding the database and mlartifacts/
	dest string
	srv  *server.Server
	user string
	pass string
}

// storeURI is the backend store tests run against: SQLite in the test's
// directory unless TestPostgres says otherwise.
var storeURI = func(t *testing.T, dir string) string {
	return "sqlite:///" + filepath.Join(dir, "mlflow.db")
}

func newEnv(t *testing.T, opt func(*server.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, storeURI(t, dir), sqlstore.Options{DefaultArtifactRoot: "mlflow-artifacts:/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	dest := filepath.Join(dir, "mlartifacts")
	opts := server.Options{
		ServeArtifacts:       true,
		ArtifactsDestination: artifacts.NewLocal(dest),
		DefaultArtifactRoot:  "mlflow-artifacts:/",
		Version:              "9.9.9-test",
		Registry:             prometheus.NewRegistry(),
	}
	if opt != nil {
		opt(&opts)
	}
	srv, err := server.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{t: t, url: ts.URL, dir: dir, dest: dest, srv: srv}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; a non-empty body is sent as application/json unless
// contentType says otherwise ("-" sends no Content-Type).
func (e *env) do(method, path, contentType string, body []byte) response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case contentType == "" && body != nil:
		req.Header.Set("Content-Type", "application/json")
	case contentType != "" && contentType != "-":
		req.Header.Set("Content-Type", contentType)
	}
	if e.user != "" {
		req.SetBasicAuth(e.user, e.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (e *env) post(path, body string) response { return e.do("POST", path, "", []byte(body)) }
func (e *env) get(path string) response        { return e.do("GET", path, "", nil) }

// ok checks a 200 JSON answer against want and returns it decoded.
func (e *env) ok(r response, want string) map[string]any {
	e.t.Helper()
	if r.status != 200 {
		e.t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		e.t.Errorf("Content-Type %q, want application/json", ct)
	}
	got := matchJSON(e.t, r.body, want)
	m, _ := got.(map[string]any)
	return m
}

// fails checks an error answer: status and MLflow's envelope.
func (e *env) fails(r response, status int, code, message string) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var env struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		e.t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	if env.ErrorCode != code || env.Message != message {
		e.t.Fatalf("error %s %q,\nwant  %s %q", env.ErrorCode, env.Message, code, message)
	}
}

// matchJSON compares got with want, where want may hold "<any>" for a
// value that must be present but may be anything (generated ids, times).
func matchJSON(t *testing.T, got []byte, want string) any {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("response %q is not JSON: %v", got, err)
	}
	if want == "<any>" {
		return g
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	if path, ok := match(g, w, "$"); !ok {
		t.Fatalf("response differs at %s:\n got  %s\n want %s", path, got, want)
	}
	return g
}

// match compares a response with want, where "<any>" matches any value;
// it is golden_test.go's matcher with no variables bound.
func match(got, want any, path string) (string, bool) {
	return matchVars(got, want, path, map[string]any{})
}

func str(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		mm, _ := v.(map[string]any)
		v = mm[k]
	}
	s, _ := v.(string)
	return s
}

// sub replaces {NAME} placeholders.
func sub(s string, kv ...string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		s = strings.ReplaceAll(s, "{"+kv[i]+"}", kv[i+1])
	}
	return s
}

func TestHealthVersion(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.get("/health"); r.status != 200 || string(r.body) != "OK" {
		t.Fatalf("/health: %d %q", r.status, r.body)
	}
	if r := e.get("/version"); r.status != 200 || string(r.body) != "9.9.9-test" {
		t.Fatalf("/version: %d %q", r.status, r.body)
	}
}

func TestExperiments(t *testing.T) {
	e := newEnv(t, nil)
	for _, prefix := range []string{"/api/2.0/mlflow", "/ajax-api/2.0/mlflow"} {
		t.Run(prefix, func(t *testing.T) {
			e.t = t
			name := "exp" + strings.ReplaceAll(prefix, "/", "-")
			created := e.ok(e.post(prefix+"/experiments/create", `{"name": "`+name+`", "tags": [{"key": "team", "value": "ml"}]}`), `{"experiment_id": "<any>"}`)
			id := str(created, "experiment_id")
			want := sub(`{"experiment": {"experiment_id": "{ID}", "name": "{NAME}", "artifact_location": "mlflow-artifacts:/{ID}",
				"lifecycle_stage": "active", "creation_time": "<any>", "last_update_time": "<any>",
				"tags": [{"key": "team", "value": "ml"}]}}`, "ID", id, "NAME", name)
			e.ok(e.get(prefix+"/experiments/get?experiment_id="+id), want)
			e.ok(e.get(prefix+"/experiments/get-by-name?experiment_name="+name), want)
			// The same request as a GET with a JSON body and no query.
			e.ok(e.do("GET", prefix+"/experiments/get", "", []byte(`{"experiment_id": "`+id+`"}`)), want)
			// A numeric experiment id is accepted, as MLflow does for old clients.
			e.ok(e.do("GET", prefix+"/experiments/get", "", []byte(`{"experiment_id": `+id+`}`)), want)

			e.fails(e.post(prefix+"/experiments/create", `{"name": "`+name+`"}`), 400, "RESOURCE_ALREADY_EXISTS", "Experiment '"+name+"' already exists.")
			e.fails(e.get(prefix+"/experiments/get-by-name?experiment_name=nope"), 404, "RESOURCE_DOES_NOT_EXIST", "Could not find experiment with name 'nope'")
			e.fails(e.get(prefix+"/experiments/get?experiment_id=424242"), 404, "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=424242 exists")
			e.fails(e.post(prefix+"/experiments/create", `{"name": "x-runs", "artifact_location": "runs:/abc/model"}`), 400, "INVALID_PARAMETER_VALUE", "Artifact location cannot be a runs:/ URI. Given: 'runs:/abc/model'")

			e.ok(e.post(prefix+"/experiments/set-experiment-tag", `{"experiment_id": "`+id+`", "key": "k2", "value": "v2"}`), `{}`)
			e.ok(e.post(prefix+"/experiments/delete-experiment-tag", `{"experiment_id": "`+id+`", "key": "team"}`), `{}`)
			e.ok(e.post(prefix+"/experiments/update", `{"experiment_id": "`+id+`", "new_name": "`+name+`-2"}`), `{}`)
			got := e.ok(e.get(prefix+"/experiments/get?experiment_id="+id), `{"experiment": "<any>"}`)
			if exp := got["experiment"].(map[string]any); exp["name"] != name+"-2" || !reflect.DeepEqual(exp["tags"], []any{map[string]any{"key": "k2", "value": "v2"}}) {
				t.Fatalf("after rename and tags: %v", exp)
			}

			// search: POST with a filter, GET with repeated order_by.
			e.ok(e.post(prefix+"/experiments/search", `{"filter": "name = '`+name+`-2'"}`),
				sub(`{"experiments": [{"experiment_id": "{ID}", "name": "{NAME}-2", "artifact_location": "mlflow-artifacts:/{ID}",
				"lifecycle_stage": "active", "creation_time": "<any>", "last_update_time": "<any>", "tags": [{"key": "k2", "value": "v2"}]}]}`, "ID", id, "NAME", name))
			e.ok(e.post(prefix+"/experiments/search", `{"filter": "name = 'no-such'"}`), `{}`)
			all := e.ok(e.get(prefix+"/experiments/search?order_by=name"), "<any>")["experiments"].([]any)
			var paged []any
			for token := ""; ; {
				page := e.ok(e.get(prefix+"/experiments/search?max_results=1&order_by=name&page_token="+token), "<any>")
				paged = append(paged, page["experiments"].([]any)...)
				if token = str(page, "next_page_token"); token == "" {
					break
				}
			}
			if len(all) < 2 || !reflect.DeepEqual(paged, all) {
				t.Fatalf("paged search gave %v, want %v", paged, all)
			}

			e.ok(e.post(prefix+"/experiments/delete", `{"experiment_id": "`+id+`"}`), `{}`)
			if exp := e.ok(e.get(prefix+"/experiments/get?experiment_id="+id), `{"experiment": "<any>"}`)["experiment"].(map[string]any); exp["lifecycle_stage"] != "deleted" {
				t.Fatalf("deleted experiment: %v", exp)
			}
			e.ok(e.post(prefix+"/experiments/search", `{"filter": "name = '`+name+`-2'"}`), `{}`)
			e.ok(e.post(prefix+"/experiments/search", `{"filter": "name = '`+name+`-2'", "view_type": "DELETED_ONLY"}`), `{"experiments": ["<any>"]}`)
			e.ok(e.get(prefix+"/experiments/search?filter=name+%3D+%27"+name+"-2%27&view_type=ALL"), `{"experiments": ["<any>"]}`)
			e.ok(e.post(prefix+"/experiments/restore", `{"experiment_id": "`+id+`"}`), `{}`)
			e.ok(e.post(prefix+"/experiments/search", `{"filter": "name = '`+name+`-2'"}`), `{"experiments": ["<any>"]}`)
		})
	}
}

func TestRuns(t *testing.T) {
	e := newEnv(t, nil)
	exp := str(e.ok(e.post("/api/2.0/mlflow/experiments/create", `{"name": "runs"}`), `{"experiment_id": "<any>"}`), "experiment_id")

	created := e.ok(e.post("/api/2.0/mlflow/runs/create", sub(`{"experiment_id": "{EXP}", "user_id": "ana", "run_name": "first",
		"start_time": 1700000000000, "tags": [{"key": "mlflow.source.type", "value": "LOCAL"}]}`, "EXP", exp)), "<any>")
	id := str(created, "run", "info", "run_id")
	if len(id) != 32 {
		t.Fatalf("run id %q", id)
	}
	info := sub(`{"run_uuid": "{ID}", "experiment_id": "{EXP}", "run_name": "first", "user_id": "ana", "status": "RUNNING",
		"start_time": 1700000000000, "artifact_uri": "mlflow-artifacts:/{EXP}/{ID}/artifacts", "lifecycle_stage": "active", "run_id": "{ID}"}`, "ID", id, "EXP", exp)
	e.ok(e.post("/api/2.0/mlflow/runs/create", `{"experiment_id": "`+exp+`", "run_name": "other"}`), "<any>")
	matchJSON(t, mustJSON(t, created), `{"run": {"info": `+info+`, "data": {"tags": [{"key": "mlflow.runName", "value": "first"}, {"key": "mlflow.source.type", "value": "LOCAL"}, {"key": "mlflow.user", "value": "ana"}]}, "inputs": {}}}`)

	run := "/api/2.0/mlflow/runs/"
	e.ok(e.post(run+"log-metric", `{"run_id": "`+id+`", "key": "loss", "value": 0.5, "timestamp": 1700000000001, "step": 1}`), `{}`)
	e.ok(e.post(run+"log-metric", `{"run_uuid": "`+id+`", "key": "loss", "value": "0.25", "timestamp": "1700000000002", "step": 2}`), `{}`)
	e.ok(e.post(run+"log-metric", `{"run_id": "`+id+`", "key": "odd", "value": "NaN", "timestamp": 1}`), `{}`)
	e.ok(e.post(run+"log-metric", `{"run_id": "`+id+`", "key": "big", "value": "-Infinity", "timestamp": 1}`), `{}`)
	e.ok(e.post(run+"log-parameter", `{"run_id": "`+id+`", "key": "lr", "value": "0.1"}`), `{}`)
	e.ok(e.post(run+"log-parameter", `{"run_id": "`+id+`", "key": "lr", "value": "0.1"}`), `{}`)
	e.fails(e.post(run+"log-parameter", `{"run_id": "`+id+`", "key": "lr", "value": "0.2"}`), 400, "INVALID_PARAMETER_VALUE",
		"Changing param values is not allowed. Param with key='lr' was already logged with value='0.1' for run ID='"+id+"'. Attempted logging new value '0.2'.")
	e.ok(e.post(run+"set-tag", `{"run_id": "`+id+`", "key": "note", "value": "hello"}`), `{}`)
	e.ok(e.post(run+"set-tag", `{"run_id": "`+id+`", "key": "gone", "value": "x"}`), `{}`)
	e.ok(e.post(run+"delete-tag", `{"run_id": "`+id+`", "key": "gone"}`), `{}`)
	e.ok(e.post(run+"log-batch", `{"run_id": "`+id+`", "metrics": [{"key": "acc", "value": 1, "timestamp": 5, "step": 3}, {"key": "acc", "value": 0.75, "timestamp": 4}],
		"params": [{"key": "depth", "value": "3"}], "tags": [{"key": "t", "value": "u"}]}`), `{}`)
	e.ok(e.post(run+"log-inputs", `{"run_id": "`+id+`", "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "train"}],
		"dataset": {"name": "iris", "digest": "abc123", "source_type": "local", "source": "{\"uri\": \"/data/iris.csv\"}"}}]}`), `{}`)

	data := `{"metrics": [{"key": "acc", "value": 1.0, "timestamp": 5, "step": 3}, {"key": "big", "value": "-Infinity", "timestamp": 1, "step": 0},
		{"key": "loss", "value": 0.25, "timestamp": 1700000000002, "step": 2}, {"key": "odd", "value": "NaN", "timestamp": 1, "step": 0}],
		"params": [{"key": "depth", "value": "3"}, {"key": "lr", "value": "0.1"}],
		"tags": [{"key": "mlflow.runName", "value": "first"}, {"key": "mlflow.source.type", "value": "LOCAL"}, {"key": "mlflow.user", "value": "ana"}, {"key": "note", "value": "hello"}, {"key": "t", "value": "u"}]}`
	inputs := `{"dataset_inputs": [{"tags": [{"key": "mlflow.data.context", "value": "train"}],
		"dataset": {"name": "iris", "digest": "abc123", "source_type": "local", "source": "{\"uri\": \"/data/iris.csv\"}"}}]}`
	full := `{"run": {"info": ` + info + `, "data": ` + data + `, "inputs": ` + inputs + `}}`
	e.ok(e.get(run+"get?run_id="+id), full)
	e.ok(e.get(run+"get?run_uuid="+id), full)
	e.ok(e.get("/ajax-api/2.0/mlflow/runs/get?run_id="+id), full)
	// NaN is rendered as MLflow renders it: the string "NaN".
	if r := e.get(run + "get?run_id=" + id); !bytes.Contains(r.body, []byte(`"value":"NaN"`)) || !bytes.Contains(r.body, []byte(`"value":1.0,`)) {
		t.Fatalf("float rendering: %s", r.body)
	}

	e.ok(e.get("/api/2.0/mlflow/metrics/get-history?run_id="+id+"&metric_key=loss"),
		`{"metrics": [{"key": "loss", "value": 0.5, "timestamp": 1700000000001, "step": 1}, {"key": "loss", "value": 0.25, "timestamp": 1700000000002, "step": 2}]}`)
	p1 := e.ok(e.get("/api/2.0/mlflow/metrics/get-history?run_id="+id+"&metric_key=loss&max_results=1"),
		`{"metrics": [{"key": "loss", "value": 0.5, "timestamp": 1700000000001, "step": 1}], "next_page_token": "<any>"}`)
	e.ok(e.get("/api/2.0/mlflow/metrics/get-history?run_id="+id+"&metric_key=loss&max_results=1&page_token="+str(p1, "next_page_token")),
		`{"metrics": [{"key": "loss", "value": 0.25, "timestamp": 1700000000002, "step": 2}]}`)
	e.ok(e.get("/api/2.0/mlflow/metrics/get-history?run_id="+id+"&metric_key=nothing"), `{}`)
	e.ok(e.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk?run_id="+id+"&metric_key=loss"),
		sub(`{"metrics": [{"key": "loss", "value": 0.5, "timestamp": 1700000000001, "step": 1, "run_id": "{ID}"},
		{"key": "loss", "value": 0.25, "timestamp": 1700000000002, "step": 2, "run_id": "{ID}"}]}`, "ID", id))

	// search
	e.ok(e.post(run+"search", `{"experiment_ids": ["`+exp+`"], "filter": "metrics.loss < 0.3 and params.lr = '0.1'"}`), `{"runs": [`+full[len(`{"run": `):len(full)-1]+`]}`)
	e.ok(e.post(run+"search", `{"experiment_ids": ["`+exp+`"], "filter": "attributes.run_name = 'nope'"}`), `{}`)
	e.ok(e.post(run+"search", `{"experiment_ids": ["`+exp+`"], "max_results": 1, "order_by": ["attributes.run_name ASC"]}`),
		`{"runs": [{"info": "<any>", "data": "<any>", "inputs": "<any>"}], "next_page_token": "<any>"}`)
	e.fails(e.post(run+"search", `{"experiment_ids": ["`+exp+`"], "filter": "metrics.loss < 1 or params.lr = '0.1'"}`), 400, "INVALID_PARAMETER_VALUE", "Invalid clause(s) in filter string: 'or'")

	// log-model appends to mlflow.log-model.history.
	model := `{"artifact_path": "model", "run_id": "` + id + `", "utc_time_created": "2026-01-01 00:00:00.000000", "flavors": {"onnx": {"onnx_version": "1.12"}}}`
	for range 2 {
		e.ok(e.post(run+"log-model", `{"run_id": "`+id+`", "model_json": `+strconvQuote(model)+`}`), `{}`)
	}
	got := e.ok(e.get(run+"get?run_id="+id), "<any>")
	var history string
	for _, tg := range got["run"].(map[string]any)["data"].(map[string]any)["tags"].([]any) {
		if tg.(map[string]any)["key"] == "mlflow.log-model.history" {
			history = tg.(map[string]any)["value"].(string)
		}
	}
	matchJSON(t, []byte(history), `[`+model+`, `+model+`]`)
	e.fails(e.post(run+"log-model", `{"run_id": "`+id+`", "model_json": "{not json"}`), 400, "INVALID_PARAMETER_VALUE", "Malformed model info. \n {not json \n is not a valid JSON.")
	e.fails(e.post(run+"log-model", `{"run_id": "`+id+`", "model_json": "{\"artifact_path\": \"m\"}"}`), 400, "INVALID_PARAMETER_VALUE",
		"Model json is missing mandatory fields: {'flavors', 'run_id', 'utc_time_created'}")

	// update, delete, restore
	e.ok(e.post(run+"update", `{"run_id": "`+id+`", "status": "FINISHED", "end_time": 1700000000999, "run_name": "renamed"}`),
		`{"run_info": `+strings.Replace(strings.Replace(info, `"RUNNING"`, `"FINISHED", "end_time": 1700000000999`, 1), `"first"`, `"renamed"`, 1)+`}`)
	e.ok(e.post(run+"delete", `{"run_id": "`+id+`"}`), `{}`)
	if st := str(e.ok(e.get(run+"get?run_id="+id), "<any>"), "run", "info", "lifecycle_stage"); st != "deleted" {
		t.Fatalf("deleted run stage %q", st)
	}
	e.ok(e.post(run+"search", `{"experiment_ids": ["`+exp+`"], "filter": "attributes.run_name = 'renamed'"}`), `{}`)
	e.ok(e.post(run+"search", `{"experiment_ids": ["`+exp+`"], "filter": "attributes.run_name = 'renamed'", "run_view_type": "DELETED_ONLY"}`), `{"runs": ["<any>"]}`)
	e.ok(e.post(run+"restore", `{"run_id": "`+id+`"}`), `{}`)
	e.ok(e.post(run+"search", `{"experiment_ids": ["`+exp+`"], "filter": "attributes.run_name = 'renamed'"}`), `{"runs": ["<any>"]}`)

	// A run in the Default experiment when none is named.
	if x := str(e.ok(e.post(run+"create", `{}`), "<any>"), "run", "info", "experiment_id"); x != "0" {
		t.Fatalf("run without experiment in %q, want 0", x)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUIMount serves the UI on every path the API does not claim.
func TestUIMount(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>ui "+r.URL.Path+"</html>")
	})
	e := newEnv(t, func(o *server.Options) { o.UI = ui })
	for _, p := range []string{"/", "/experiments/1", "/static/app.js"} {
		if r := e.get(p); r.status != 200 || string(r.body) != "<html>ui "+p+"</html>" {
			t.Errorf("GET %s: %d %q", p, r.status, r.body)
		}
	}
	e.fails(e.get("/api/2.0/mlflow/nope"), 404, "ENDPOINT_NOT_FOUND", "No API endpoint for GET /api/2.0/mlflow/nope.")
	e.fails(e.get("/ajax-api/2.0/mlflow/nope"), 404, "ENDPOINT_NOT_FOUND", "No API endpoint for GET /ajax-api/2.0/mlflow/nope.")
	e.ok(e.get("/api/2.0/mlflow/experiments/get?experiment_id=0"), `{"experiment": "<any>"}`)
	if r := e.get("/health"); string(r.body) != "OK" {
		t.Errorf("/health with a UI: %q", r.body)
	}
}

// TestConcurrentLogging logs from many clients at once into one run and
// reads every value back; concurrent log-model calls all land in the
// history tag.
func TestConcurrentLogging(t *testing.T) {
	e := newEnv(t, nil)
	id := str(e.ok(e.post("/api/2.0/mlflow/runs/create", `{}`), "<any>"), "run", "info", "run_id")
	const clients, batches = 16, 10
	errs := make(chan error, clients)
	for c := range clients {
		go func() {
			errs <- func() error {
				for b := range batches {
					var ms []string
					for j := range 10 {
						ms = append(ms, fmt.Sprintf(`{"key": "c%d", "value": %d, "timestamp": 1, "step": %d}`, c, b*10+j, b*10+j))
					}
					body := `{"run_id": "` + id + `", "metrics": [` + strings.Join(ms, ", ") + `]}`
					resp, err := http.Post(e.url+"/api/2.0/mlflow/runs/log-batch", "application/json", strings.NewReader(body))
					if err != nil {
						return err
					}
					resp.Body.Close()
					if resp.StatusCode != 200 {
						return fmt.Errorf("log-batch: %d", resp.StatusCode)
					}
				}
				model := fmt.Sprintf(`{"artifact_path": "m%d", "run_id": "%s", "utc_time_created": "now", "flavors": {}}`, c, id)
				resp, err := http.Post(e.url+"/api/2.0/mlflow/runs/log-model", "application/json",
					strings.NewReader(`{"run_id": "`+id+`", "model_json": `+strconvQuote(model)+`}`))
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("log-model: %d", resp.StatusCode)
				}
				return nil
			}()
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for c := range clients {
		h := e.ok(e.get(fmt.Sprintf("/api/2.0/mlflow/metrics/get-history?run_id=%s&metric_key=c%d", id, c)), "<any>")
		ms := h["metrics"].([]any)
		if len(ms) != batches*10 {
			t.Fatalf("client %d: %d values read back, want %d", c, len(ms), batches*10)
		}
		for i, m := range ms {
			if v := m.(map[string]any)["value"].(float64); v != float64(i) {
				t.Fatalf("client %d value %d is %v", c, i, v)
			}
		}
	}
	run := e.ok(e.get("/api/2.0/mlflow/runs/get?run_id="+id), "<any>")
	for _, tg := range run["run"].(map[string]any)["data"].(map[string]any)["tags"].([]any) {
		if tg.(map[string]any)["key"] == "mlflow.log-model.history" {
			var history []any
			if err := json.Unmarshal([]byte(tg.(map[string]any)["value"].(string)), &history); err != nil || len(history) != clients {
				t.Fatalf("log-model history has %d entries (%v), want %d", len(history), err, clients)
			}
			return
		}
	}
	t.Fatal("no mlflow.log-model.history tag")
}
