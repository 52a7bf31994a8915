package search

import (
	"errors"
	"reflect"
	"testing"

	"github.com/mlship/mlship/tracking"
)

var filterSeeds = []string{
	"", "metrics.acc > 0.9 AND params.lr = '0.1'", "metrics.`my-metric` >= -1.5e3",
	`tags."a""b" != 'c\'d'`, "Run name LIKE 'a%' and created > 1e21", "run_id NOT IN ('a', 'b')",
	"dataset.context IN ('train')", "params.x = 'a'' OR 1=1 --'", "(metrics.x > 1)", "metrics.x = NaN",
	"params.x = 'abc", "run_id IN ('a',)", "metrics.x > 1; DROP TABLE runs", "tags.ключ = '✓'",
	"name = 'x' AND tags.t = 'y' AND creation_time > 5", "metrics.x = 1e999", "status = \"FINISHED\"",
}

// checkParseErr fails unless err is MLflow's INVALID_PARAMETER_VALUE.
func checkParseErr(t *testing.T, input string, err error) {
	var te *tracking.Error
	if !errors.As(err, &te) || te.Code != tracking.InvalidParameterValue {
		t.Fatalf("parse of %q: error %v is not INVALID_PARAMETER_VALUE", input, err)
	}
}

// FuzzParseRunFilter: no input panics, every rejection is a 400, and an
// accepted filter rendered by String parses back to the same AST.
func FuzzParseRunFilter(f *testing.F) {
	for _, s := range filterSeeds {
		f.Add(s)
	}
	run := testRun()
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (Filter, error){ParseRunFilter, ParseExperimentFilter} {
			got, err := parse(s)
			if err != nil {
				checkParseErr(t, s, err)
				continue
			}
			got.MatchRun(run)
			again, err := parse(got.String())
			if err != nil {
				t.Fatalf("%q parsed to %q, which does not parse: %v", s, got.String(), err)
			}
			if !reflect.DeepEqual(got, again) {
				t.Fatalf("%q: AST %#v rendered as %q parses to %#v", s, got, got.String(), again)
			}
		}
	})
}

// FuzzParseOrderBy: the same properties for order_by clauses.
func FuzzParseOrderBy(f *testing.F) {
	for _, s := range []string{"start_time", "metrics.acc DESC", "tags.`a b` asc", `params."x""y" DESC`,
		"created", "name", "experiment_id DESC", "foo bar baz", "metrics.`x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func([]string) ([]OrderBy, error){ParseRunOrderBy, ParseExperimentOrderBy} {
			got, err := parse([]string{s})
			if err != nil {
				checkParseErr(t, s, err)
				continue
			}
			again, err := parse([]string{got[0].String()})
			if err != nil {
				t.Fatalf("%q parsed to %q, which does not parse: %v", s, got[0].String(), err)
			}
			if !reflect.DeepEqual(got, again) {
				t.Fatalf("%q: %#v rendered as %q parses to %#v", s, got, got[0].String(), again)
			}
		}
	})
}

// FuzzDecodePageToken: no token panics; every rejection is a 400.
func FuzzDecodePageToken(f *testing.F) {
	for _, s := range []string{"", EncodePageToken(1000), "!!!", b64(`{"offset": -1}`)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := DecodePageToken(s)
		if err != nil {
			checkParseErr(t, s, err)
			return
		}
		if n < 0 {
			t.Fatalf("DecodePageToken(%q) = %d", s, n)
		}
	})
}
