package mlruns

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mlship/mlship/tracking"
)

func TestParseMetricLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want tracking.Metric
	}{
		{"1700000000000 0.5 3", tracking.Metric{Timestamp: 1700000000000, Value: 0.5, Step: 3}},
		{"1700000000000 0.5", tracking.Metric{Timestamp: 1700000000000, Value: 0.5}}, // no step: 0
		{"1700000000000 1e-05 0", tracking.Metric{Timestamp: 1700000000000, Value: 1e-05}},
		{"1700000000000 -2 -1", tracking.Metric{Timestamp: 1700000000000, Value: -2, Step: -1}},
		{"1700000000000 inf 1", tracking.Metric{Timestamp: 1700000000000, Value: math.Inf(1), Step: 1}},
		{"1700000000000 -inf 1", tracking.Metric{Timestamp: 1700000000000, Value: math.Inf(-1), Step: 1}},
		{"1700000000000 1e999 1", tracking.Metric{Timestamp: 1700000000000, Value: math.Inf(1), Step: 1}},
		{"1.7e12 3 2.0", tracking.Metric{Timestamp: 1700000000000, Value: 3, Step: 2}},
		{"  1 2 3  ", tracking.Metric{Timestamp: 1, Value: 2, Step: 3}},
		{"1 2 3 train 3f2a", tracking.Metric{Timestamp: 1, Value: 2, Step: 3, DatasetName: "train", DatasetDigest: "3f2a"}},
	} {
		tc.want.Key = "k"
		got, err := parseMetricLine("k", tc.line)
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.line, diff)
		}
	}
	nan, err := parseMetricLine("k", "1 nan 0")
	if err != nil || !math.IsNaN(nan.Value) {
		t.Errorf("nan: %v, %v", nan, err)
	}
	for _, bad := range []string{"", "1", "1 2 3 4", "1 2 3 4 5 6", "x 2 3", "1 x 3", "1 2 x", "1 2 1.5", "1.5 2 3", "nan 1 2", "1 2 inf"} {
		if m, err := parseMetricLine("k", bad); err == nil {
			t.Errorf("%q parsed as %+v", bad, m)
		}
	}
}

func TestParseExperimentMeta(t *testing.T) {
	got, err := parseExperimentMeta([]byte(`artifact_location: file:///tmp/mlruns/123456789012345678
creation_time: 1700001000000
experiment_id: '123456789012345678'
last_update_time: 1700005000000
lifecycle_stage: active
name: fraud-detection
tags: []
`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tracking.Experiment{
		ID: "123456789012345678", Name: "fraud-detection", ArtifactLocation: "file:///tmp/mlruns/123456789012345678",
		LifecycleStage: "active", CreationTime: 1700001000000, LastUpdateTime: 1700005000000,
	}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// MLflow 1.x: unquoted id, no times, no stage; a name that YAML reads as a number.
	got, err = parseExperimentMeta([]byte("artifact_location: ./mlruns/0\nexperiment_id: 0\nname: 2024\n"))
	if err != nil || got.ID != "0" || got.Name != "2024" || got.LifecycleStage != "active" {
		t.Errorf("1.x meta: %+v, %v", got, err)
	}
	for _, bad := range []string{
		"name: x\n",            // no id
		"experiment_id: '1'\n", // no name
		"experiment_id: '1'\nname: x\nlifecycle_stage: gone\n",
		"experiment_id: [1]\nname: x\n",
		"experiment_id: '1'\nname: x\ncreation_time: soon\n",
		"{{{",
	} {
		if e, err := parseExperimentMeta([]byte(bad)); err == nil {
			t.Errorf("%q parsed as %+v", bad, e)
		}
	}
}

func TestParseRunMeta(t *testing.T) {
	meta := `artifact_uri: file:///tmp/mlruns/0/5f2b1c0d9e8a4b7c8d6e5f4a3b2c1d0e/artifacts
end_time: null
entry_point_name: ''
experiment_id: '0'
lifecycle_stage: active
run_id: 5f2b1c0d9e8a4b7c8d6e5f4a3b2c1d0e
run_name: bold-owl-123
run_uuid: 5f2b1c0d9e8a4b7c8d6e5f4a3b2c1d0e
source_name: ''
source_type: 4
source_version: ''
start_time: 1700000100000
status: 1
tags: []
user_id: alice
`
	got, err := parseRunMeta([]byte(meta))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tracking.RunInfo{
		RunID: "5f2b1c0d9e8a4b7c8d6e5f4a3b2c1d0e", RunName: "bold-owl-123", ExperimentID: "0", UserID: "alice",
		Status: tracking.StatusRunning, StartTime: 1700000100000, LifecycleStage: "active",
		ArtifactURI: "file:///tmp/mlruns/0/5f2b1c0d9e8a4b7c8d6e5f4a3b2c1d0e/artifacts",
	}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for n, want := range map[string]tracking.RunStatus{"2": "SCHEDULED", "3": "FINISHED", "4": "FAILED", "5": "KILLED", "FINISHED": "FINISHED"} {
		got, err := parseRunMeta([]byte(strings.Replace(meta, "status: 1", "status: "+n, 1)))
		if err != nil || got.Status != want {
			t.Errorf("status %s: %v, %v", n, got.Status, err)
		}
	}
	// MLflow 1.x: run_uuid only, name: '' instead of run_name.
	got, err = parseRunMeta([]byte("run_uuid: abc123\nname: ''\nexperiment_id: 0\nstatus: 3\nstart_time: 5\nend_time: 6\n"))
	if err != nil || got.RunID != "abc123" || got.Status != tracking.StatusFinished || got.EndTime != 6 {
		t.Errorf("1.x run meta: %+v, %v", got, err)
	}
	for _, bad := range []string{
		"experiment_id: '0'\n",                 // no id
		"run_id: a\nrun_uuid: b\n",             // disagree
		"run_id: ../../etc\n",                  // not an id
		"run_id: a\nstatus: 9\n",               // no such status
		"run_id: a\nlifecycle_stage: purged\n", // no such stage
		"run_id: a\nstart_time: [1]\n",
	} {
		if r, err := parseRunMeta([]byte(bad)); err == nil {
			t.Errorf("%q parsed as %+v", bad, r)
		}
	}
}

func FuzzParseMetricLine(f *testing.F) {
	for _, s := range []string{"1700000000000 0.5 3", "1 2", "1 nan 0", "1 -inf 2", "1.7e12 3 2.0", "1 2 3 d x", "", "a b c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, err := parseMetricLine("k", line)
		if err != nil {
			return
		}
		// What parsed must print back to a line that parses to the same metric.
		again, err := parseMetricLine("k", formatMetricLine(m))
		if err != nil {
			t.Fatalf("%q parsed as %+v, whose line %q does not parse: %v", line, m, formatMetricLine(m), err)
		}
		if diff := cmp.Diff(m, again, cmpopts.EquateNaNs()); diff != "" {
			t.Fatalf("%q: round trip (-first +second):\n%s", line, diff)
		}
	})
}

func formatMetricLine(m tracking.Metric) string {
	s := strings.Join([]string{itoa(m.Timestamp), ftoa(m.Value), itoa(m.Step)}, " ")
	if m.DatasetName != "" {
		s += " " + m.DatasetName + " " + m.DatasetDigest
	}
	return s
}

func FuzzParseMeta(f *testing.F) {
	f.Add([]byte("artifact_location: x\nexperiment_id: '1'\nname: e\nlifecycle_stage: active\ncreation_time: 1\n"))
	f.Add([]byte("run_id: abc\nstatus: 3\nend_time: null\nstart_time: 1\nexperiment_id: 0\n"))
	f.Add([]byte("run_uuid: a\nrun_id: a\nuser_id: 7\nrun_name: 1.5\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Add([]byte("digest: 8a\nname: t\nsource_type: s3\nschema: '{}'\n"))
	f.Add([]byte("source_type: DATASET\nsource_id: 30308d\ntags:\n  mlflow.data.context: train\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := parseExperimentMeta(b); err == nil {
			if e.ID == "" || e.Name == "" || (e.LifecycleStage != "active" && e.LifecycleStage != "deleted") {
				t.Fatalf("accepted experiment %+v", e)
			}
		}
		if d, err := parseDatasetMeta(b); err == nil && (d.Name == "" || d.Digest == "") {
			t.Fatalf("accepted dataset %+v", d)
		}
		if id, _, ok, err := parseInputMeta(b); err == nil && ok && id == "" {
			t.Fatal("accepted an input without a source")
		}
		if r, err := parseRunMeta(b); err == nil {
			if !validRunID.MatchString(r.RunID) || r.Status.Number() == 0 || (r.LifecycleStage != "active" && r.LifecycleStage != "deleted") {
				t.Fatalf("accepted run %+v", r)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func TestParseInputs(t *testing.T) {
	id, tags, ok, err := parseInputMeta([]byte("destination_id: x\ndestination_type: RUN\nsource_id: 30308d7d\nsource_type: DATASET\ntags:\n  mlflow.data.context: train\n  b: 2\n"))
	if err != nil || !ok || id != "30308d7d" {
		t.Fatalf("%q %v %v", id, ok, err)
	}
	if diff := cmp.Diff([]tracking.Tag{{Key: "b", Value: "2"}, {Key: "mlflow.data.context", Value: "train"}}, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if _, _, ok, err := parseInputMeta([]byte("source_type: MODEL\nsource_id: m-1\n")); ok || err != nil {
		t.Errorf("a model input: %v %v", ok, err)
	}
	for _, bad := range []string{"source_type: DATASET\n", "source_type: DATASET\nsource_id: x\ntags: [1]\n"} {
		if _, _, _, err := parseInputMeta([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	d, err := parseDatasetMeta([]byte("digest: 8a\nname: t\nprofile: '{}'\nschema: '{\"a\":\n  1}'\nsource: '{}'\nsource_type: local\n"))
	if err != nil || d.Schema != `{"a": 1}` || d.SourceType != "local" {
		t.Errorf("%+v %v", d, err)
	}
	if _, err := parseDatasetMeta([]byte("name: t\n")); err == nil {
		t.Error("a dataset without a digest parsed")
	}
}
