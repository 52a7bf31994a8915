package client

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking"
)

func TestDecodeRun(t *testing.T) {
	// A run as MLflow 2.12 renders it, and the same with proto3's
	// canonical JSON (int64 as strings, enums as numbers, NaN as a string).
	cases := map[string]string{
		"mlflow": `{"run":{"info":{"run_uuid":"abc","experiment_id":"1","run_name":"r","user_id":"u","status":"FINISHED","start_time":1700000000000,"end_time":1700000001000,"artifact_uri":"mlflow-artifacts:/1/abc/artifacts","lifecycle_stage":"active","run_id":"abc"},"data":{"metrics":[{"key":"m","value":0.5,"timestamp":1700000000500,"step":3}],"params":[{"key":"p","value":"v"}],"tags":[{"key":"mlflow.runName","value":"r"}]},"inputs":{"dataset_inputs":[{"tags":[{"key":"mlflow.data.context","value":"train"}],"dataset":{"name":"d","digest":"x","source_type":"local","source":"{}"}}]}}}`,
		"proto3": `{"run":{"info":{"run_uuid":"abc","experiment_id":"1","run_name":"r","user_id":"u","status":3,"start_time":"1700000000000","end_time":"1700000001000","artifact_uri":"mlflow-artifacts:/1/abc/artifacts","lifecycle_stage":"active"},"data":{"metrics":[{"key":"m","value":"0.5","timestamp":"1700000000500","step":"3"}],"params":[{"key":"p","value":"v"}],"tags":[{"key":"mlflow.runName","value":"r"}]},"inputs":{"dataset_inputs":[{"tags":[{"key":"mlflow.data.context","value":"train"}],"dataset":{"name":"d","digest":"x","source_type":"local","source":"{}"}}]}}}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			var out struct {
				Run wireRun `json:"run"`
			}
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatal(err)
			}
			r := out.Run.domain()
			if r.Info.RunID != "abc" || r.Info.Status != tracking.StatusFinished || r.Info.StartTime != 1700000000000 || r.Info.EndTime != 1700000001000 {
				t.Errorf("info = %+v", r.Info)
			}
			if len(r.Data.Metrics) != 1 || r.Data.Metrics[0] != (tracking.Metric{Key: "m", Value: 0.5, Timestamp: 1700000000500, Step: 3}) {
				t.Errorf("metrics = %+v", r.Data.Metrics)
			}
			if v, ok := r.Tag("mlflow.runName"); !ok || v != "r" {
				t.Errorf("tags = %+v", r.Data.Tags)
			}
			if len(r.Inputs) != 1 || r.Inputs[0].Dataset.Name != "d" || r.Inputs[0].Tags[0].Value != "train" {
				t.Errorf("inputs = %+v", r.Inputs)
			}
		})
	}
}

func TestFloatRoundTrip(t *testing.T) {
	for _, v := range []float64{0, -1.5, 1e308, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1)} {
		b, err := json.Marshal(wireMetric{Key: "k", Value: jsonFloat(v)})
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		var back wireMetric
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		got := float64(back.Value)
		if got != v && !(math.IsNaN(v) && math.IsNaN(got)) {
			t.Errorf("%v -> %s -> %v", v, b, got)
		}
	}
}

func TestBadNumbers(t *testing.T) {
	for _, body := range []string{`{"timestamp":"x"}`, `{"timestamp":1.5}`, `{"value":"many"}`, `{"step":true}`} {
		var m wireMetric
		if err := json.Unmarshal([]byte(body), &m); err == nil {
			t.Errorf("%s: decoded as %+v, want an error", body, m)
		}
	}
}

func TestParseRoot(t *testing.T) {
	cases := []struct {
		uri  string
		want root
		err  string
	}{
		{uri: "mlflow-artifacts:/1/abc/artifacts", want: root{proxy: "1/abc/artifacts"}},
		{uri: "mlflow-artifacts://srv:5000/1/a b/artifacts", want: root{proxy: "1/a%20b/artifacts"}},
		{uri: "mlflow-artifacts:/", want: root{}},
		{uri: "/tmp/mlruns/1/abc/artifacts", want: root{local: "/tmp/mlruns/1/abc/artifacts"}},
		{uri: "file:///tmp/x", want: root{local: "/tmp/x"}},
		{uri: "s3://bucket/1/abc/artifacts", want: root{other: "s3://bucket/1/abc/artifacts"}},
		{uri: "mlflow-artifacts:/1/../../etc", err: "leaves"},
		{uri: "", err: "no artifact_uri"},
	}
	for _, c := range cases {
		got, err := parseRoot(c.uri)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.uri, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.uri, got, err, c.want)
		}
	}
}

func TestCleanRel(t *testing.T) {
	ok := map[string]string{"": "", ".": "", "a/b": "a/b", "a//b/": "a/b", "a/./b": "a/b", "a/../b": "b"}
	for in, want := range ok {
		if got, err := cleanRel(in); err != nil || got != want {
			t.Errorf("cleanRel(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"/etc/passwd", "..", "../x", "a/../../x", `a\..\x`, "a\x00b"} {
		if got, err := cleanRel(bad); err == nil {
			t.Errorf("cleanRel(%q) = %q, want an error", bad, got)
		}
	}
}

func TestNewURIs(t *testing.T) {
	for _, bad := range []string{"", "sqlite:///mlflow.db", "./mlruns", "http://", "databricks"} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	env := map[string]string{"MLFLOW_TRACKING_URI": "http://u:p@127.0.0.1:5000/prefix/", "MLFLOW_TRACKING_TOKEN": "tok"}
	c, err := New("", WithEnv(func(k string) string { return env[k] }))
	if err != nil {
		t.Fatal(err)
	}
	if c.TrackingURI() != "http://127.0.0.1:5000/prefix" || c.token != "tok" || c.user != "u" || c.password != "p" {
		t.Errorf("client = %s token %q user %q", c.TrackingURI(), c.token, c.user)
	}
	if _, err := New("", WithEnv(func(k string) string {
		return map[string]string{"MLFLOW_TRACKING_URI": "http://h", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "x"}[k]
	})); err == nil {
		t.Error("a bad MLFLOW_HTTP_REQUEST_MAX_RETRIES was accepted")
	}
}

// FuzzDecodeRun: any server response decodes to a run or an error, never
// a panic; a decoded run's id is the run_id or run_uuid sent.
func FuzzDecodeRun(f *testing.F) {
	f.Add(`{"run":{"info":{"run_id":"a","status":"RUNNING","start_time":1},"data":{"metrics":[{"key":"m","value":"NaN","timestamp":"2","step":1}]}}}`)
	f.Add(`{"run":{"info":{"run_uuid":"b","status":5,"end_time":"9223372036854775807"}}}`)
	f.Add(`{"run":{"info":{"start_time":1e3},"data":{"metrics":[{"value":-1e400}]}}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var out struct {
			Run wireRun `json:"run"`
		}
		if json.Unmarshal([]byte(body), &out) != nil {
			return
		}
		r := out.Run.domain()
		if out.Run.Info.RunID != "" && r.Info.RunID != out.Run.Info.RunID {
			t.Fatalf("run id %q, sent %q", r.Info.RunID, out.Run.Info.RunID)
		}
	})
}

// FuzzCleanRel: a path cleanRel accepts never climbs out of its root.
func FuzzCleanRel(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a/../../b", "/abs", "a/./b/", "%2e%2e/x", "..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := cleanRel(p)
		if err != nil {
			return
		}
		if c == ".." || strings.HasPrefix(c, "../") || strings.HasPrefix(c, "/") || strings.Contains(c, "/../") || strings.HasSuffix(c, "/..") {
			t.Fatalf("cleanRel(%q) = %q climbs out", p, c)
		}
	})
}
