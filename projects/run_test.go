package projects

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/tracking"
)

func TestTypedProject(t *testing.T) {
	requirePython(t)
	ts := newTrackingServer(t)
	dir := example(t, "typed")
	o, stdout, _ := ts.options(t, dir, "alpha=0.3", "epochs=7", "note=hello world")
	o.ExperimentName = "typed-exp"
	o.RunName = "first"
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != tracking.StatusFinished || res.ExitCode != 0 {
		t.Errorf("result %+v", res)
	}
	r := ts.run(t, res.RunID)
	if r.Info.Status != tracking.StatusFinished || r.Info.EndTime == 0 || r.Info.RunName != "first" || r.Info.ExperimentID != res.ExperimentID || res.ExperimentID == "0" {
		t.Errorf("run info %+v", r.Info)
	}
	// The path parameter is logged as given (here the default), as MLflow
	// logs it; the command got it absolute (got.Data below).
	data := filepath.Join(dir, "data", "train.csv")
	if !reflect.DeepEqual(r.params, map[string]string{
		"alpha": "0.3", "l1_ratio": "0.1", "epochs": "7", "data": "data/train.csv", "label": "first run", "note": "hello world",
	}) {
		t.Errorf("params %v", r.params)
	}
	wantMap(t, "tag", r.tags, map[string]string{
		TagSourceType: "PROJECT", TagSourceName: dir, TagEntryPoint: "main", TagEnv: "local",
		TagBackend: "local", TagRunName: "first", TagUser: "tester",
	})
	if _, ok := r.tags[TagGitCommit]; ok {
		t.Errorf("a directory outside git has a commit tag: %v", r.tags)
	}
	// The script saw typed values, the extra parameter and the run id.
	var got struct {
		Alpha  float64  `json:"alpha"`
		Epochs int      `json:"epochs"`
		Rows   int      `json:"rows"`
		Label  string   `json:"label"`
		Data   string   `json:"data"`
		Extra  []string `json:"extra"`
		RunID  string   `json:"run_id"`
		Cwd    string   `json:"cwd"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout.String())), &got); err != nil {
		t.Fatalf("%v: %q", err, stdout.String())
	}
	if got.Alpha != 0.3 || got.Epochs != 7 || got.Rows != 3 || got.Label != "first run" || got.RunID != res.RunID ||
		!reflect.DeepEqual(got.Extra, []string{"--note", "hello world"}) || got.Cwd != dir || got.Data != data {
		t.Errorf("script saw %+v", got)
	}

	// The second entry point: a uri and a string with a quote.
	o, stdout, _ = ts.options(t, dir, "title=it's \"quoted\" $HOME")
	o.EntryPoint = "report"
	o.ExperimentID = res.ExperimentID
	res2, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	want := "output=file:///tmp/typed-report\ntitle=it's \"quoted\" $HOME\nrun=" + res2.RunID + " experiment=" + res.ExperimentID + "\n"
	if stdout.String() != want {
		t.Errorf("report printed %q, want %q", stdout.String(), want)
	}
	if r := ts.run(t, res2.RunID); r.tags[TagEntryPoint] != "report" || r.params["output"] != "file:///tmp/typed-report" || r.Info.RunName == "" {
		t.Errorf("report run %+v %v", r.Info, r.params)
	}
}

// TestValidationLeavesNoRun: bad parameters fail before a run exists.
func TestValidationLeavesNoRun(t *testing.T) {
	ts := newTrackingServer(t)
	dir := example(t, "typed")
	id, err := ts.client.CreateExperiment(context.Background(), "validation", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		entryPoint string
		params     []string
		want       string
	}{
		{"float", "main", []string{"alpha=abc"}, "Expected float for parameter alpha but got abc"},
		{"int", "main", []string{"alpha=1", "epochs=2.5"}, "Expected int for parameter epochs but got 2.5"},
		{"missing", "main", nil, "No value given for missing parameters: 'alpha'"},
		{"path", "main", []string{"alpha=1", "data=nope.csv"}, "Got value nope.csv for parameter data, but no such file or directory was found."},
		{"uri", "report", []string{"output=/no/scheme"}, "Expected URI for parameter output but got /no/scheme"},
		{"entry point", "nope", nil, "Could not find nope among entry points ['main', 'report'] or interpret nope as a runnable script. Supported script file extensions: ['.py', '.sh']"},
		{"script", "missing.py", nil, "no such script"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _, _ := ts.options(t, dir, tc.params...)
			o.ExperimentID = id
			o.EntryPoint = tc.entryPoint
			_, err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want %q", err, tc.want)
			}
		})
	}
	if runs := ts.runs(t, id); len(runs) != 0 {
		t.Errorf("validation failures left %d runs", len(runs))
	}
}

func TestFailingProject(t *testing.T) {
	ts := newTrackingServer(t)
	o, stdout, stderr := ts.options(t, example(t, "failing"), "code=3")
	res, err := Run(context.Background(), o)
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "exited with status 3") {
		t.Fatalf("Run = %v", err)
	}
	if res.Status != tracking.StatusFailed || res.ExitCode != 3 {
		t.Errorf("result %+v", res)
	}
	r := ts.run(t, res.RunID)
	if r.Info.Status != tracking.StatusFailed || r.Info.EndTime == 0 || r.params["code"] != "3" {
		t.Errorf("run %+v %v", r.Info, r.params)
	}
	if !strings.Contains(stdout.String(), "about to fail with status 3") || !strings.Contains(stderr.String(), "something went wrong") {
		t.Errorf("streams: %q %q", stdout.String(), stderr.String())
	}
	// Exit status 0 of the same script: FINISHED.
	o, _, _ = ts.options(t, example(t, "failing"), "code=0")
	if res, err := Run(context.Background(), o); err != nil || ts.run(t, res.RunID).Info.Status != tracking.StatusFinished {
		t.Errorf("code=0: %v", err)
	}
}

func TestProjectWithoutMLproject(t *testing.T) {
	requirePython(t)
	ts := newTrackingServer(t)
	dir := example(t, "noproject")
	o, stdout, _ := ts.options(t, dir, "lr=0.1", "name=a b", "quote=it's")
	o.EntryPoint = "train.py"
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Argv []string }
	if err := json.Unmarshal([]byte(stdout.String()), &got); err != nil {
		t.Fatal(err)
	}
	if want := []string{"--lr", "0.1", "--name", "a b", "--quote", "it's"}; !reflect.DeepEqual(got.Argv, want) {
		t.Errorf("argv %q, want %q", got.Argv, want)
	}
	r := ts.run(t, res.RunID)
	if !reflect.DeepEqual(r.params, map[string]string{"lr": "0.1", "name": "a b", "quote": "it's"}) || r.tags[TagEntryPoint] != "train.py" {
		t.Errorf("run %v %v", r.params, r.tags)
	}
	o, stdout, _ = ts.options(t, dir, "x=1 2")
	o.EntryPoint = "run.sh"
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "arg:--x\narg:1 2\n" {
		t.Errorf("run.sh printed %q", stdout.String())
	}
}

func TestLogModelProject(t *testing.T) {
	requirePython(t)
	ts := newTrackingServer(t)
	o, stdout, _ := ts.options(t, example(t, "logmodel"), "slope=3")
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := ts.run(t, res.RunID)
	if r.Info.Status != tracking.StatusFinished || r.params["slope"] != "3" || r.params["intercept"] != "0.5" {
		t.Errorf("run %+v %v", r.Info, r.params)
	}
	if r.metrics["accuracy"] != 0.875 || r.metrics["loss"] != 0.25 {
		t.Errorf("metrics %v", r.metrics)
	}
	hist, _, err := ts.client.MetricHistory(ctx, res.RunID, "loss", tracking.Page{})
	if err != nil || len(hist) != 3 || hist[0].Value != 1 || hist[2].Step != 2 {
		t.Errorf("loss history %v %v", hist, err)
	}
	files, err := ts.client.ListArtifacts(ctx, res.RunID, "model")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Path)
	}
	if want := []string{"model/MLmodel", "model/code", "model/python_env.yaml", "model/requirements.txt", "model/weights.json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("artifacts %v, want %v", names, want)
	}
	local, err := ts.client.DownloadArtifacts(ctx, res.RunID, "model", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var w struct{ Slope, Intercept float64 }
	if data, err := readFile(filepath.Join(local, "weights.json")); err != nil || json.Unmarshal(data, &w) != nil || w.Slope != 3 || w.Intercept != 0.5 {
		t.Errorf("weights.json: %s %v", data, err)
	}
	if data, err := readFile(filepath.Join(local, "MLmodel")); err != nil || !strings.Contains(string(data), "run_id: "+res.RunID) {
		t.Errorf("MLmodel: %s %v", data, err)
	}
	var history []map[string]any
	if err := json.Unmarshal([]byte(r.tags["mlflow.log-model.history"]), &history); err != nil || len(history) != 1 || history[0]["run_id"] != res.RunID {
		t.Errorf("log-model history %q: %v", r.tags["mlflow.log-model.history"], err)
	}
	if !strings.Contains(stdout.String(), "logged model runs:/"+res.RunID+"/model") {
		t.Errorf("stdout %q", stdout.String())
	}
}

// TestPathParameterOverHTTP: an http(s) path value is downloaded into
// the storage directory, param_<position>/, and the command gets the file.
func TestPathParameterOverHTTP(t *testing.T) {
	requirePython(t)
	ts := newTrackingServer(t)
	files := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(testenv.RepoRoot(t), "examples", "projects", "typed", "data"))))
	defer files.Close()
	o, stdout, _ := ts.options(t, example(t, "typed"), "alpha=1", "data="+files.URL+"/train.csv")
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// The run records the URL (as MLflow does); the command got the
	// download, in <storage dir>/<new directory>/param_3/.
	if r := ts.run(t, res.RunID); r.params["data"] != files.URL+"/train.csv" {
		t.Errorf("data param %q, want the URL", r.params["data"])
	}
	var got struct{ Data string }
	if err := json.Unmarshal([]byte(stdout.String()), &got); err != nil {
		t.Fatal(err)
	}
	if rel, err := filepath.Rel(o.StorageDir, got.Data); err != nil || !strings.HasSuffix(rel, "/param_3/train.csv") || strings.Count(rel, "/") != 2 {
		t.Errorf("the command read %s, want a file under %s/*/param_3/", got.Data, o.StorageDir)
	}
	if !strings.Contains(stdout.String(), `"rows": 3`) {
		t.Errorf("stdout %s", stdout.String())
	}
	// Two runs of a sweep fetching files of the same name each read their
	// own: every invocation downloads into a directory of its own.
	site := t.TempDir()
	for dir, rows := range map[string]int{"a": 3, "b": 5} {
		if err := os.MkdirAll(filepath.Join(site, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(site, dir, "train.csv"), []byte("x\n"+strings.Repeat("1\n", rows)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	two := httptest.NewServer(http.FileServer(http.Dir(site)))
	defer two.Close()
	o, stdout, _ = ts.options(t, example(t, "typed"), "alpha=1", "data="+two.URL+"/a/train.csv,"+two.URL+"/b/train.csv")
	o.Sweep = true
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[1 data=" + two.URL + "/a/train.csv] {", `"rows": 3`, "[2 data=" + two.URL + "/b/train.csv] {", `"rows": 5`} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("sweep output lacks %q:\n%s", want, stdout.String())
		}
	}
	o, _, _ = ts.options(t, example(t, "typed"), "alpha=1", "data="+files.URL+"/missing.csv")
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing file: %v", err)
	}
}

// TestUserAsMLflow: mlflow.user is getpass.getuser()'s answer, as MLflow
// records it: LOGNAME, USER, LNAME, USERNAME, then the account.
func TestUserAsMLflow(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"USER=u", "LOGNAME=l"}, "l"},
		{[]string{"USER=u", "USERNAME=n"}, "u"},
		{[]string{"LNAME=ln", "USERNAME=n"}, "ln"},
		{[]string{"USERNAME=n"}, "n"},
	} {
		r := &runner{getenv: getenvOf(tc.env)}
		if got := r.user(); got != tc.want {
			t.Errorf("%v: user %q, want %q", tc.env, got, tc.want)
		}
	}
	if got := (&runner{getenv: getenvOf(nil)}).user(); got == "" || got == "unknown" {
		t.Errorf("without variables: %q, want the account's name", got)
	}
}
