package ui_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
	"github.com/mlship/mlship/tracking/sqlstore"
	"github.com/mlship/mlship/tracking/ui"
)

// Hostile values planted in names, param and tag values (stores refuse
// such keys): if any reaches a page
// unescaped, the page grows a script element or an attribute it should
// not have.
const (
	hostileName  = `<script>alert("run")</script>`
	hostileParam = `"><img src=x onerror=alert(1)>`
	hostileExp   = `<script>alert('exp')</script> & co`
)

// magenta fills the PNG artifact, a colour nothing else on the run page
// uses, so a screenshot shows whether the preview was drawn.
var magenta = color.RGBA{R: 255, G: 0, B: 255, A: 255}

type fixture struct {
	store  *sqlstore.Store
	srv    *httptest.Server
	expID  string
	hostID string   // the experiment with the hostile name
	runs   []string // run ids of expID, in creation order
	evil   string   // the run with hostile values
	model  string   // the run with artifacts and a logged model
	png    []byte
}

const mlmodelText = `artifact_path: model
flavors:
  python_function:
    env:
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    python_version: 3.11.4
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.3.0
mlflow_version: 2.8.0
model_uuid: 3b1a5cf4e1b94a3c8c1c4bb4fdbb2f0a
run_id: RUNID
signature:
  inputs: '[{"type": "double", "name": "sepal_length", "required": true}, {"type":
    "string", "name": "<b>species</b>", "required": false}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]'
  params: '[{"name": "temperature", "type": "double", "default": 0.5, "shape": null}]'
utc_time_created: '2024-01-02 03:04:05.123456'
`

// newFixture builds a real SQLite store with two experiments, six runs
// (params, metric histories, tags, one hostile), artifacts on local disk,
// and the UI over it on 127.0.0.1.
func newFixture(t *testing.T, opts ui.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlstore.Open(ctx, "sqlite:///"+filepath.Join(dir, "mlflow.db"), sqlstore.Options{DefaultArtifactRoot: filepath.Join(dir, "artifacts")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{store: store}
	if f.expID, err = store.CreateExperiment(ctx, "vision", "", []tracking.Tag{{Key: "mlflow.note.content", Value: "Image models"}, {Key: "team", Value: "cv"}}); err != nil {
		t.Fatal(err)
	}
	if f.hostID, err = store.CreateExperiment(ctx, hostileExp, "", nil); err != nil {
		t.Fatal(err)
	}
	base := int64(1_700_000_000_000)
	for i := range 5 {
		r, err := store.CreateRun(ctx, tracking.CreateRun{
			ExperimentID: f.expID, UserID: "ana", RunName: fmt.Sprintf("run-%d", i), StartTime: base + int64(i)*60_000,
			Tags: []tracking.Tag{{Key: "mlflow.source.name", Value: "train.py"}, {Key: "mlflow.source.type", Value: "LOCAL"}, {Key: "team", Value: "cv"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		id := r.Info.RunID
		f.runs = append(f.runs, id)
		var ms []tracking.Metric
		for step := range 20 {
			// loss falls from a run-dependent start; acc is the run's index.
			ms = append(ms, tracking.Metric{Key: "loss", Value: float64(i+1) * math.Exp(-float64(step)/5), Step: int64(step), Timestamp: base + int64(i)*60_000 + int64(step)*1000})
		}
		ms = append(ms, tracking.Metric{Key: "acc", Value: 0.5 + float64(i)/10, Step: 19, Timestamp: base + 30_000})
		params := []tracking.Param{{Key: "lr", Value: fmt.Sprintf("0.%d", i+1)}, {Key: "model", Value: []string{"cnn", "mlp"}[i%2]}}
		if err := store.LogBatch(ctx, id, ms, params, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := store.UpdateRun(ctx, id, tracking.UpdateRun{Status: tracking.StatusFinished, EndTime: base + int64(i)*60_000 + 42_000}); err != nil {
			t.Fatal(err)
		}
	}
	evil, err := store.CreateRun(ctx, tracking.CreateRun{ExperimentID: f.hostID, UserID: hostileName, RunName: hostileName, StartTime: base})
	if err != nil {
		t.Fatal(err)
	}
	f.evil = evil.Info.RunID
	if err := store.LogBatch(ctx, f.evil,
		[]tracking.Metric{{Key: "score", Value: 1, Timestamp: base}},
		[]tracking.Param{{Key: "payload", Value: hostileParam}},
		[]tracking.Tag{{Key: "payload", Value: hostileName}, {Key: "mlflow.note.content", Value: hostileName}}); err != nil {
		t.Fatal(err)
	}

	// Artifacts of run-0: a text file, a PNG, a hostile SVG, a big file,
	// and a logged model with its history tag.
	f.model = f.runs[0]
	run, err := store.GetRun(ctx, f.model)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := artifacts.Open(ctx, run.Info.ArtifactURI, artifacts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 120, 80))
	for y := range 80 {
		for x := range 120 {
			img.Set(x, y, magenta)
		}
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		t.Fatal(err)
	}
	f.png = pngBuf.Bytes()
	put := func(p string, data []byte) {
		if err := repo.Put(ctx, p, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	put("notes.txt", []byte("epoch 1: <b>ok</b>\nepoch 2: fine\n"))
	put("plots/loss.png", f.png)
	put("evil.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
	put("big.log", bytes.Repeat([]byte("x"), 1<<20+10))
	put("model/MLmodel", []byte(strings.ReplaceAll(mlmodelText, "RUNID", f.model)))
	put("model/model.pkl", []byte{0x80, 0x04, 0x95, 0, 0, 0xff})
	history := `[{"run_id": "` + f.model + `", "artifact_path": "model", "utc_time_created": "2024-01-02 03:04:05.123456", "flavors": {"python_function": {"loader_module": "mlflow.sklearn"}, "sklearn": {"sklearn_version": "1.3.0"}}, "model_uuid": "3b1a5cf4e1b94a3c8c1c4bb4fdbb2f0a", "mlflow_version": "2.8.0"}]`
	if err := store.LogBatch(ctx, f.model, nil, nil, []tracking.Tag{{Key: "mlflow.log-model.history", Value: history}}); err != nil {
		t.Fatal(err)
	}

	if err := store.LogInputs(ctx, f.model, []tracking.DatasetInput{{
		Tags:    []tracking.Tag{{Key: "mlflow.data.context", Value: "train"}},
		Dataset: tracking.Dataset{Name: "iris", Digest: "d41d8cd9", SourceType: "local", Source: `{"uri": "iris.csv"}`, Schema: "{}"},
	}}); err != nil {
		t.Fatal(err)
	}

	if opts.Artifacts == nil {
		opts.Artifacts = func(ctx context.Context, run *tracking.Run) (artifacts.Repository, error) {
			return artifacts.Open(ctx, run.Info.ArtifactURI, artifacts.Options{})
		}
	}
	f.srv = httptest.NewServer(ui.New(store, opts))
	t.Cleanup(f.srv.Close)
	return f
}

type page struct {
	status int
	header http.Header
	body   string
	doc    *html.Node
}

// get fetches path from the UI and parses the answer as HTML.
func (f *fixture) get(t *testing.T, path string) page {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := page{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if p.doc, err = html.Parse(bytes.NewReader(b)); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return p
}

// find returns the elements matching tag and, if set, a class (one of the
// element's classes) or id ("#id").
func find(n *html.Node, tag, sel string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (tag == "" || n.Data == tag) && matches(n, sel) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func matches(n *html.Node, sel string) bool {
	if sel == "" {
		return true
	}
	if id, ok := strings.CutPrefix(sel, "#"); ok {
		return attr(n, "id") == id
	}
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == sel {
			return true
		}
	}
	return false
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// text is n's text content with runs of space collapsed; table cells and
// other elements end with a space, so cells read "key value".
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if n.Type == html.ElementNode {
			b.WriteByte(' ')
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func one(t *testing.T, n *html.Node, tag, sel string) *html.Node {
	t.Helper()
	got := find(n, tag, sel)
	if len(got) != 1 {
		t.Fatalf("%d <%s %s> elements, want 1", len(got), tag, sel)
	}
	return got[0]
}

// assertSafe checks a page has no script but the UI's own and no element
// with an event-handler attribute: what escaping failures would leave.
func assertSafe(t *testing.T, p page) {
	t.Helper()
	for _, s := range find(p.doc, "script", "") {
		if src := attr(s, "src"); !strings.HasSuffix(src, "/static/ui.js") || s.FirstChild != nil {
			t.Errorf("unexpected script element src=%q", src)
		}
	}
	for _, n := range find(p.doc, "", "") {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s> has event handler %s=%q", n.Data, a.Key, a.Val)
			}
		}
	}
	if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") {
		t.Errorf("hostile markup reached the page unescaped")
	}
}
