package azureml

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNextTraffic(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cur     map[string]int32
		plan    trafficPlan
		want    map[string]int32
		changed bool
		err     string
	}{
		{name: "new endpoint", cur: nil, want: map[string]int32{"blue": 100}, changed: true},
		{name: "endpoint without traffic", cur: map[string]int32{"old": 0}, want: map[string]int32{"blue": 100, "old": 0}, changed: true},
		{name: "existing keeps traffic", cur: map[string]int32{"green": 100}, want: map[string]int32{"green": 100}},
		{name: "redeploy of the serving deployment", cur: map[string]int32{"blue": 100}, want: map[string]int32{"blue": 100}},
		{name: "all", cur: map[string]int32{"green": 70, "red": 30}, plan: trafficPlan{All: true},
			want: map[string]int32{"blue": 100, "green": 0, "red": 0}, changed: true},
		{name: "all, already", cur: map[string]int32{"blue": 100, "green": 0}, plan: trafficPlan{All: true},
			want: map[string]int32{"blue": 100, "green": 0}},
		{name: "percent scales the others", cur: map[string]int32{"green": 75, "red": 25}, plan: trafficPlan{Set: true, Percent: 20},
			want: map[string]int32{"blue": 20, "green": 60, "red": 20}, changed: true},
		{name: "largest remainder keeps the sum at 100", cur: map[string]int32{"a": 34, "b": 33, "c": 33}, plan: trafficPlan{Set: true, Percent: 10},
			want: map[string]int32{"blue": 10, "a": 30, "b": 30, "c": 30}, changed: true},
		{name: "ties go to the first name", cur: map[string]int32{"b": 50, "a": 50}, plan: trafficPlan{Set: true, Percent: 33},
			want: map[string]int32{"blue": 33, "a": 34, "b": 33}, changed: true},
		{name: "percent replaces its own share", cur: map[string]int32{"blue": 50, "green": 50}, plan: trafficPlan{Set: true, Percent: 10},
			want: map[string]int32{"blue": 10, "green": 90}, changed: true},
		{name: "zero percent", cur: map[string]int32{"blue": 40, "green": 60}, plan: trafficPlan{Set: true, Percent: 0},
			want: map[string]int32{"blue": 0, "green": 100}, changed: true},
		{name: "100 percent", cur: map[string]int32{"green": 100}, plan: trafficPlan{Set: true, Percent: 100},
			want: map[string]int32{"blue": 100, "green": 0}, changed: true},
		{name: "nobody to carry the rest", cur: map[string]int32{"green": 0}, plan: trafficPlan{Set: true, Percent: 30},
			err: `cannot give deployment "blue" 30% of the traffic`},
		{name: "out of range", plan: trafficPlan{Set: true, Percent: 101}, cur: map[string]int32{"green": 100}, err: "not between 0 and 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, err := nextTraffic(tc.cur, "blue", tc.plan)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("traffic (-want +got):\n%s", diff)
			}
			if changed != tc.changed {
				t.Errorf("changed = %v", changed)
			}
			var sum int32
			for _, v := range got {
				sum += v
			}
			if sum != 100 {
				t.Errorf("sum %d", sum)
			}
		})
	}
}

func TestISODuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                      "PT0S",
		2 * time.Second:        "PT2S",
		500 * time.Millisecond: "PT0.5S",
		90 * time.Second:       "PT1M30S",
		5 * time.Minute:        "PT5M",
		time.Hour + 2*time.Minute + 3*time.Second: "PT1H2M3S",
		3 * time.Hour: "PT3H",
	} {
		if got := isoDuration(d); got != want {
			t.Errorf("isoDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestSpecValidation(t *testing.T) {
	ok := Spec{Endpoint: "iris-ep", Image: testImage}
	sp, err := ok.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if sp.Deployment != "blue" || sp.InstanceType != "Standard_DS3_v2" || sp.InstanceCount != 1 || sp.AuthMode != "Key" || sp.EnvironmentName != "mlship-iris-ep" {
		t.Errorf("defaults: %+v", sp)
	}
	pct := func(n int) *int { return &n }
	for _, tc := range []struct {
		name string
		mod  func(*Spec)
		err  string
	}{
		{"short endpoint name", func(s *Spec) { s.Endpoint = "ab" }, "endpoint name"},
		{"endpoint name with underscore", func(s *Spec) { s.Endpoint = "iris_ep" }, "endpoint name"},
		{"endpoint name ending in a hyphen", func(s *Spec) { s.Endpoint = "iris-" }, "endpoint name"},
		{"deployment name", func(s *Spec) { s.Deployment = "1blue" }, "deployment name"},
		{"no image", func(s *Spec) { s.Image = "" }, "an image is required"},
		{"timeout", func(s *Spec) { s.RequestTimeout = 4 * time.Minute }, "request timeout"},
		{"both traffic flags", func(s *Spec) { s.AllTraffic, s.TrafficPercent = true, pct(10) }, "exclusive"},
		{"percent range", func(s *Spec) { s.TrafficPercent = pct(-1) }, "not between 0 and 100"},
		{"auth mode", func(s *Spec) { s.AuthMode = "password" }, "auth mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.mod(&s)
			if _, err := s.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
	s := ok
	s.AuthMode = "aml_token"
	if sp, err := s.withDefaults(); err != nil || sp.AuthMode != "AMLToken" {
		t.Errorf("aml_token: %v %v", sp.AuthMode, err)
	}
}

func TestNewClientEndpoints(t *testing.T) {
	ws := Workspace{SubscriptionID: "s", ResourceGroup: "rg", Name: "ws"}
	cred := &staticCredential{token: "t"}
	for ep, wantErr := range map[string]string{
		"":                              "",
		"https://management.azure.com/": "",
		"http://127.0.0.1:8443":         "",
		"http://[::1]:8443":             "",
		"http://localhost:1":            "",
		"http://arm.example.com":        "credentials are sent over https only",
		"ftp://x":                       "not an http(s) URL",
	} {
		_, err := NewClient(ws, cred, Options{Endpoint: ep})
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("endpoint %q: error %v, want %q", ep, err, wantErr)
		}
	}
	if _, err := NewClient(Workspace{SubscriptionID: "s", Name: "ws"}, cred, Options{}); err == nil {
		t.Error("no resource group accepted")
	}
}

func TestShortPath(t *testing.T) {
	got := shortPath("/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/ep")
	if got != "workspaces/ws/onlineEndpoints/ep" {
		t.Error(got)
	}
}
