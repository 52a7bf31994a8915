package server

import (
	"strings"
	"testing"
)

func TestCheckArtifactLocation(t *testing.T) {
	const frag, query = "'artifact_location' URL can't include fragments or params.", "Invalid query string"
	for loc, want := range map[string]string{
		"":                          "",
		"s3://bucket/prefix":        "",
		"/srv/mlruns":               "",
		"file:///srv/mlruns":        "",
		"mlflow-artifacts:/":        "",
		"s3://b/p#":                 "", // an empty fragment is no fragment
		"s3://b/p#x":                frag,
		"http://h#/../../etc":       frag,
		"/srv/a;b":                  frag, // a plain path uses params, as in Python
		"/srv/a;":                   "",
		"https://h;x/a":             "", // in the netloc, not params
		"https://h/a;b/c":           "", // only the last segment's
		"file:///srv/a;b":           "", // file: has no params
		"s3://b/p?x=1":              "",
		"s3://b/p?x=..":             query,
		"s3://b/p?x=%2E%2E":         query,
		"s3://b/p?x=%25252e%25252e": query,
		"s3://b/p?x=%2":             "",
		"s3://b/..?x":               "", // only the query is looked at here
		"\thttp://h/p#\tx":          frag,
		"C:\\mlruns;x":              "", // scheme c: no params
	} {
		err := checkArtifactLocation(loc)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) || (want == "") != (err == nil) {
			t.Errorf("checkArtifactLocation(%q) = %v, want %q", loc, err, want)
		}
	}
}

// FuzzCheckArtifactLocation: never panics; a location without '#', ';'
// and '?' always passes, and one with a non-empty fragment never does.
func FuzzCheckArtifactLocation(f *testing.F) {
	for _, s := range []string{"s3://b/p", "http://h#/../x", "/a;b", "s3://b?x=%2e%2e", "\t:#?;%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, loc string) {
		err := checkArtifactLocation(loc)
		clean := strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(loc)
		if !strings.ContainsAny(clean, "#;?") && err != nil {
			t.Fatalf("%q refused: %v", loc, err)
		}
		if i := strings.IndexByte(clean, '#'); i >= 0 && i < len(clean)-1 && err == nil {
			t.Fatalf("%q with a fragment accepted", loc)
		}
	})
}
