package ui

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/mlship/mlship/tracking"
)

func historyOf(values []float64) []tracking.Metric {
	out := make([]tracking.Metric, len(values))
	for i, v := range values {
		out[i] = tracking.Metric{Key: "m", Value: v, Step: int64(i), Timestamp: int64(1000 * i)}
	}
	return out
}

func TestParseColumns(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []column
		wantErr bool
	}{
		{"none", nil, nil, false},
		{"list", []string{"metrics.acc,params.lr"}, []column{{"metrics", "acc"}, {"params", "lr"}}, false},
		{"repeated and aliases", []string{"metric.acc", "param.lr", "tag.team", "parameters.x"},
			[]column{{"metrics", "acc"}, {"params", "lr"}, {"tags", "team"}, {"params", "x"}}, false},
		{"dotted key", []string{"metrics.val.loss"}, []column{{"metrics", "val.loss"}}, false},
		{"duplicates and blanks", []string{"metrics.acc,, metrics.acc ,"}, []column{{"metrics", "acc"}}, false},
		{"case of entity", []string{"METRICS.Acc"}, []column{{"metrics", "Acc"}}, false},
		{"no entity", []string{"acc"}, nil, true},
		{"unknown entity", []string{"attributes.status"}, nil, true},
		{"empty key", []string{"metrics."}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseColumns(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOrderKey(t *testing.T) {
	for c, want := range map[column]string{
		{"metrics", "acc"}:      "metrics.acc",
		{"params", "my-param"}:  "params.`my-param`",
		{"metrics", "val.loss"}: "metrics.`val.loss`",
		{"tags", "a`b"}:         `tags."a` + "`" + `b"`,
		{"metrics", "a b"}:      "metrics.`a b`",
	} {
		if got := c.OrderKey(); got != want {
			t.Errorf("%v.OrderKey() = %s, want %s", c, got, want)
		}
	}
}

func TestSortState(t *testing.T) {
	tests := []struct {
		orderBy []string
		key     string
		want    string
	}{
		{nil, "metrics.acc", ""},
		{[]string{"metrics.acc DESC"}, "metrics.acc", "desc"},
		{[]string{"metrics.acc"}, "metrics.acc", "asc"},
		{[]string{"metric.`acc` asc"}, "metrics.acc", "asc"},
		{[]string{`metrics."acc" DESC`}, "metrics.acc", "desc"},
		{[]string{"metrics.accuracy DESC"}, "metrics.acc", ""},
		{[]string{"params.`my-param` DESC"}, "params.`my-param`", "desc"},
		{[]string{"attribute.start_time DESC"}, "attributes.start_time", "desc"},
	}
	for _, tt := range tests {
		if got := sortState(tt.orderBy, tt.key); got != tt.want {
			t.Errorf("sortState(%q, %q) = %q, want %q", tt.orderBy, tt.key, got, tt.want)
		}
	}
	if got := nextOrder("", "metrics.acc"); got != "metrics.acc DESC" {
		t.Errorf("first click: %q", got)
	}
	if got := nextOrder("desc", "metrics.acc"); got != "metrics.acc ASC" {
		t.Errorf("second click: %q", got)
	}
}

func TestDefaultColumns(t *testing.T) {
	run := tracking.Run{}
	for i := range 12 {
		run.Data.Metrics = append(run.Data.Metrics, tracking.Metric{Key: fmt.Sprintf("m%02d", i), Value: float64(i)})
		run.Data.Params = append(run.Data.Params, tracking.Param{Key: fmt.Sprintf("p%02d", i), Value: "v"})
	}
	run.Data.Tags = []tracking.Tag{{Key: "team", Value: "x"}, {Key: "mlflow.user", Value: "u"}}
	avail := availableColumns([]tracking.Run{run})
	if len(avail) != 25 {
		t.Fatalf("%d available columns, want 12 metrics + 12 params + 1 user tag", len(avail))
	}
	cols, hidden := defaultColumns(avail)
	if len(cols) != maxDefaultMetrics+maxDefaultParams || hidden != 4 {
		t.Errorf("%d default columns, %d hidden; want %d and 4", len(cols), hidden, maxDefaultMetrics+maxDefaultParams)
	}
	if cols[0] != (column{"metrics", "m00"}) || cols[maxDefaultMetrics] != (column{"params", "p00"}) {
		t.Errorf("default columns not metrics then params by key: %v", cols)
	}
	if got := cellValue(&run, column{"metrics", "m03"}); got != "3" {
		t.Errorf("cell m03 = %q", got)
	}
	if got := cellValue(&run, column{"tags", "team"}); got != "x" {
		t.Errorf("cell tag team = %q", got)
	}
	if got := cellValue(&run, column{"params", "absent"}); got != "" {
		t.Errorf("missing param cell = %q", got)
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{0.1234567: "0.123457", 3: "3", 1e-9: "1e-09", math.Inf(-1): "-Infinity"} {
		if got := formatFloat(v); got != want {
			t.Errorf("formatFloat(%v) = %q, want %q", v, got, want)
		}
	}
	if got := formatFloat(math.NaN()); got != "NaN" {
		t.Errorf("NaN = %q", got)
	}
	for _, c := range []struct {
		start, end int64
		want       string
	}{{1000, 1500, "500ms"}, {1000, 13500, "12.5s"}, {0, 3_725_000, ""}, {1, 3_725_001, "1h 2m"}, {5, 0, ""}} {
		if got := formatDuration(c.start, c.end); got != c.want {
			t.Errorf("formatDuration(%d, %d) = %q, want %q", c.start, c.end, got, c.want)
		}
	}
	if got := formatSize(1536); got != "1.5 KiB" {
		t.Errorf("formatSize(1536) = %q", got)
	}
}

func TestSplitList(t *testing.T) {
	if got := splitList([]string{"a,b", " c ", "a"}, true); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("runs: %v", got)
	}
	if got := splitList([]string{"loss,val", "acc", ""}, false); !slices.Equal(got, []string{"loss,val", "acc"}) {
		t.Errorf("metrics: %v", got)
	}
}

// The query readers take whatever a URL carries; they must not panic and
// what they accept must round-trip through the column's own spelling.
func FuzzParseColumns(f *testing.F) {
	for _, s := range []string{"metrics.acc,params.lr", "tag.`x`", "metrics.", ",,", "params.a.b,metric.c", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cols, err := parseColumns([]string{s})
		if err != nil {
			return
		}
		for _, c := range cols {
			again, err := parseColumns([]string{c.String()})
			if err != nil || len(again) != 1 || again[0] != c {
				t.Fatalf("column %v does not round-trip: %v %v", c, again, err)
			}
			if sortState([]string{c.OrderKey() + " DESC"}, c.OrderKey()) != "desc" {
				t.Fatalf("sortState does not recognise %q", c.OrderKey())
			}
		}
	})
}

func FuzzSortState(f *testing.F) {
	for _, s := range []string{"metrics.acc DESC", "`", "a.`", "params.\"x\" asc", " ", ""} {
		f.Add(s, "metrics.acc")
	}
	f.Fuzz(func(t *testing.T, order, key string) {
		switch sortState([]string{order}, key) {
		case "", "asc", "desc":
		default:
			t.Fatal("unexpected state")
		}
		_ = splitList([]string{order, key}, true)
	})
}
