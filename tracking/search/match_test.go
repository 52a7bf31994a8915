package search

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/tracking"
)

func testRun() *tracking.Run {
	return &tracking.Run{
		Info: tracking.RunInfo{
			RunID: "0a1b2c3d4e5f60718293a4b5c6d7e8f9", RunName: "Bright-Owl-42", ExperimentID: "1",
			UserID: "alice", Status: tracking.StatusFinished, StartTime: 1700000000000,
			ArtifactURI: "s3://bucket/1/0a1b/artifacts", LifecycleStage: tracking.StageActive,
		},
		Data: tracking.RunData{
			// Two values of acc: the one at the later step is the latest,
			// whatever the order here.
			Metrics: []tracking.Metric{
				{Key: "acc", Value: 0.95, Step: 2},
				{Key: "acc", Value: 0.5, Step: 1, Timestamp: 99},
				{Key: "loss", Value: math.NaN()},
				{Key: "my-metric", Value: -3},
			},
			Params: []tracking.Param{{Key: "lr", Value: "0.01"}, {Key: "opt", Value: "Adam"}},
			Tags:   []tracking.Tag{{Key: "mlflow.source.type", Value: "LOCAL"}, {Key: "note", Value: "50%_off"}},
		},
		Inputs: []tracking.DatasetInput{
			{Dataset: tracking.Dataset{Name: "iris", Digest: "d1"}, Tags: []tracking.Tag{{Key: "mlflow.data.context", Value: "train"}}},
			{Dataset: tracking.Dataset{Name: "iris-test", Digest: "d2"}, Tags: []tracking.Tag{{Key: "mlflow.data.context", Value: "eval"}}},
		},
	}
}

func TestMatchRun(t *testing.T) {
	r := testRun()
	tests := []struct {
		filter string
		want   bool
	}{
		{"", true},
		{"metrics.acc > 0.9", true},  // the latest value (step 2), not the first listed
		{"metrics.acc = 0.5", false}, // an earlier value does not count
		{"metrics.acc >= 0.95 AND metrics.acc <= 0.95", true},
		{"metrics.`my-metric` < -2.5", true},
		{"metrics.missing != 1", false}, // absent: false even with !=
		{"metrics.loss > 0", false},     // NaN compares false ...
		{"metrics.loss != 0", true},     // ... except with !=
		{"params.lr = '0.01'", true},
		{"params.lr != '0.01'", false},
		{"params.missing != 'x'", false},
		{"params.opt LIKE 'Ad%'", true},
		{"params.opt LIKE 'ad%'", false}, // LIKE is case-sensitive
		{"params.opt ILIKE 'ad%'", true},
		{"params.opt LIKE 'A_am'", true},
		{"params.opt LIKE 'A_m'", false},
		{"tags.mlflow.source.type = 'LOCAL'", true},
		{"tags.note LIKE '50%'", true},
		{"tags.note LIKE '%\\_off'", false}, // no escape character: the backslash is literal
		{"run_id = '0a1b2c3d4e5f60718293a4b5c6d7e8f9'", true},
		{"run_id IN ('x', '0a1b2c3d4e5f60718293a4b5c6d7e8f9')", true},
		{"run_id NOT IN ('x', '0a1b2c3d4e5f60718293a4b5c6d7e8f9')", false},
		{"run_id NOT IN ('x')", true},
		{"`Run name` ILIKE 'bright%'", true},
		{"run_name = 'bright-owl-42'", false},
		{"status = 'FINISHED' AND user_id = 'alice'", true},
		{"status != 'FINISHED'", false},
		{"artifact_uri LIKE 's3://bucket/%'", true},
		{"created = 1700000000000", true},
		{"start_time > 1700000000000", false},
		{"end_time > 0", false}, // no end time yet: false
		{"end_time < 1", false},
		{"dataset.name = 'iris-test'", true},
		{"dataset.name = 'mnist'", false},
		{"dataset.digest IN ('d2', 'd9')", true},
		{"dataset.context = 'eval'", true},
		{"dataset.context != 'train'", true}, // any input: the eval one qualifies
		{"dataset.context NOT IN ('train', 'eval')", false},
		{"metrics.acc > 0.9 AND params.opt = 'SGD'", false},
	}
	for _, tt := range tests {
		f, err := ParseRunFilter(tt.filter)
		if err != nil {
			t.Fatalf("ParseRunFilter(%q): %v", tt.filter, err)
		}
		if got := f.MatchRun(r); got != tt.want {
			t.Errorf("MatchRun(%q) = %v, want %v", tt.filter, got, tt.want)
		}
	}
	// An ended run matches on end_time; a run without inputs matches no dataset clause.
	r.Info.EndTime = 1700000005000
	r.Inputs = nil
	for filter, want := range map[string]bool{"end_time > 1700000000000": true, "dataset.context != 'x'": false} {
		f, err := ParseRunFilter(filter)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.MatchRun(r); got != want {
			t.Errorf("MatchRun(%q) = %v, want %v", filter, got, want)
		}
	}
}

func TestMatchExperiment(t *testing.T) {
	e := &tracking.Experiment{ID: "3", Name: "Churn-Model", CreationTime: 100, LastUpdateTime: 200,
		Tags: []tracking.Tag{{Key: "team", Value: "ml"}}}
	tests := []struct {
		filter string
		want   bool
	}{
		{"name = 'Churn-Model'", true},
		{"name ILIKE 'churn%'", true},
		{"name LIKE 'churn%'", false},
		{"creation_time >= 100 AND last_update_time < 201", true},
		{"last_update_time > 200", false},
		{"tags.team = 'ml'", true},
		{"tags.team != 'ml'", false},
		{"tags.owner != 'x'", false},
	}
	for _, tt := range tests {
		f, err := ParseExperimentFilter(tt.filter)
		if err != nil {
			t.Fatalf("ParseExperimentFilter(%q): %v", tt.filter, err)
		}
		if got := f.MatchExperiment(e); got != tt.want {
			t.Errorf("MatchExperiment(%q) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestLike(t *testing.T) {
	tests := []struct {
		s, pattern string
		want       bool
	}{
		{"", "", true},
		{"", "%", true},
		{"", "_", false},
		{"abc", "abc", true},
		{"abc", "ab", false},
		{"abc", "%", true},
		{"abc", "a%", true},
		{"abc", "%c", true},
		{"abc", "%b%", true},
		{"abc", "a_c", true},
		{"abc", "a__c", false},
		{"abc", "___", true},
		{"abcbc", "%bc", true},
		{"abcbd", "a%bc", false},
		{"a.c", "a.c", true}, // regex metacharacters are literal
		{"abc", "a.c", false},
		{"a+b", "a+b", true},
		{"aab", "a*b", false},
		{"ünï", "_n_", true}, // _ is one character, not one byte
		{"ünï", "%ï", true},
		{"mississippi", "m%iss%pi", true},
		{"mississippi", "m%iss%pix", false},
	}
	for _, tt := range tests {
		if got := Like(tt.s, tt.pattern); got != tt.want {
			t.Errorf("Like(%q, %q) = %v, want %v", tt.s, tt.pattern, got, tt.want)
		}
	}
}

// A pattern built to make backtracking matchers explode stays linear-ish.
func TestLikePathological(t *testing.T) {
	s := strings.Repeat("a", 20000)
	pattern := strings.Repeat("%a", 50) + "%b"
	start := time.Now()
	if Like(s, pattern) {
		t.Fatal("matched a string without b")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Like took %v on a pathological pattern", d)
	}
}
