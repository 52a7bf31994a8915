package search

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRunOrderBy(t *testing.T) {
	tests := []struct {
		in   []string
		want []OrderBy
	}{
		{nil, nil},
		{[]string{"start_time"}, []OrderBy{{Attribute, "start_time", true}}},
		{[]string{"metrics.acc DESC", "params.lr asc"}, []OrderBy{{Metric, "acc", false}, {Param, "lr", true}}},
		{[]string{"tags.`a b` desc"}, []OrderBy{{Tag, "a b", false}}},
		{[]string{`metrics."my metric" ASC`}, []OrderBy{{Metric, "my metric", true}}},
		{[]string{"created DESC"}, []OrderBy{{Attribute, "start_time", false}}},
		{[]string{"attributes.run_name", "attr.status", "run.user_id", "artifact_uri", "end_time", "run_id"},
			[]OrderBy{{Attribute, "run_name", true}, {Attribute, "status", true}, {Attribute, "user_id", true},
				{Attribute, "artifact_uri", true}, {Attribute, "end_time", true}, {Attribute, "run_id", true}}},
		{[]string{"  run_id \t DESC  "}, []OrderBy{{Attribute, "run_id", false}}},
		{[]string{"tags.mlflow.runName"}, []OrderBy{{Tag, "mlflow.runName", true}}},
	}
	for _, tt := range tests {
		got, err := ParseRunOrderBy(tt.in)
		if err != nil {
			t.Errorf("ParseRunOrderBy(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseRunOrderBy(%q) (-want +got):\n%s", tt.in, diff)
		}
		for i, o := range got {
			again, err := ParseRunOrderBy([]string{o.String()})
			if err != nil || len(again) != 1 || again[0] != o {
				t.Errorf("round trip of %q via %q: %v, %v", tt.in[i], o.String(), again, err)
			}
		}
	}
	const keys = "'{'Created', 'artifact_uri', 'created', 'end_time', 'run_id', 'run_name', 'start_time', 'status', 'user_id'}'"
	invalidCases := []struct {
		in   []string
		want string
	}{
		{[]string{"foo"}, "Invalid attribute key 'foo' specified. Valid keys are " + keys},
		{[]string{"run name"}, "Invalid attribute key 'run name' specified. Valid keys are " + keys},
		{[]string{"lifecycle_stage"}, "Invalid attribute key 'lifecycle_stage' specified. Valid keys are " + keys},
		{[]string{"Metrics.x"}, "Invalid entity type 'Metrics'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"},
		{[]string{"dataset.name"}, "Invalid order_by entity type 'dataset'"},
		{[]string{"metrics.x sideways"}, "Invalid ordering key in order_by clause 'metrics.x sideways'."},
		{[]string{"metrics.x DESC extra"}, "Invalid order_by clause 'metrics.x DESC extra'. Could not be parsed."},
		{[]string{"metrics.x; DROP TABLE runs"}, "Invalid order_by clause 'metrics.x; DROP TABLE runs'. Could not be parsed."},
		{[]string{"metrics.x, metrics.y"}, "Invalid order_by clause 'metrics.x, metrics.y'. Could not be parsed."},
		{[]string{"metrics.`x DESC"}, "Invalid order_by clause 'metrics.`x DESC'. Could not be parsed."},
		{[]string{""}, "Invalid order_by clause ''. Could not be parsed."},
		{[]string{"start_time", "  "}, "Invalid order_by clause '  '. Could not be parsed."},
		{[]string{"tags.x\x00"}, "The order_by clause contains a NUL character at byte 6."},
		{[]string{strings.Repeat("a", MaxFilterLength+1)}, "The order_by clause is too long: 131073 bytes (the limit is 131072)."},
		{make([]string, MaxOrderByClauses+1), "order_by has 101 clauses; the limit is 100."},
	}
	for _, tt := range invalidCases {
		got, err := ParseRunOrderBy(tt.in)
		if err == nil {
			t.Errorf("ParseRunOrderBy(%q) = %v, want error", tt.in, got)
			continue
		}
		checkErr(t, err, tt.want)
	}
}

func TestParseExperimentOrderBy(t *testing.T) {
	got, err := ParseExperimentOrderBy([]string{"name", "experiment_id DESC", "attribute.creation_time", "last_update_time asc"})
	if err != nil {
		t.Fatal(err)
	}
	want := []OrderBy{{Attribute, "name", true}, {Attribute, "experiment_id", false},
		{Attribute, "creation_time", true}, {Attribute, "last_update_time", true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	const keys = "'{'creation_time', 'experiment_id', 'last_update_time', 'name'}'"
	for _, tt := range []struct{ in, want string }{
		{"tags.x", "Invalid order_by entity: tag"},
		{"run_id", "Invalid attribute key 'run_id' specified. Valid keys are " + keys},
		{"metrics.x", "Invalid entity type 'metrics'. Valid entity types are ('attribute', 'tag', 'tags')"},
		{"name up", "Invalid ordering key in order_by clause 'name up'."},
	} {
		_, err := ParseExperimentOrderBy([]string{tt.in})
		if err == nil {
			t.Errorf("ParseExperimentOrderBy(%q) succeeded, want error", tt.in)
			continue
		}
		checkErr(t, err, tt.want)
	}
}
