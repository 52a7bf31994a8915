package ui_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
	"github.com/mlship/mlship/tracking/ui"
)

func TestExperimentsPage(t *testing.T) {
	f := newFixture(t, ui.Options{})
	p := f.get(t, "/")
	if p.status != http.StatusOK {
		t.Fatalf("status %d: %s", p.status, p.body)
	}
	assertSafe(t, p)
	rows := find(p.doc, "tr", "experiment")
	counts := map[string]string{}
	for _, r := range rows {
		cells := find(r, "td", "")
		counts[text(cells[1])] = text(cells[2])
		if a := one(t, cells[1], "a", ""); text(a) == "vision" && attr(a, "href") != "/experiments/"+f.expID {
			t.Errorf("vision links to %q", attr(a, "href"))
		}
	}
	if counts["vision"] != "5" || counts[hostileExp] != "1" || counts["Default"] != "0" {
		t.Errorf("experiments and run counts %v, want vision 5, the hostile one 1 (its name shown literally), Default 0", counts)
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("no content security policy: %q", csp)
	}
}

// runNames reads the run names of a runs table in row order.
func runNames(t *testing.T, p page) []string {
	t.Helper()
	var names []string
	for _, r := range find(p.doc, "tr", "run") {
		names = append(names, text(find(r, "td", "")[1]))
	}
	return names
}

func TestRunsTableColumnsAndSorting(t *testing.T) {
	f := newFixture(t, ui.Options{})
	p := f.get(t, "/experiments/"+f.expID)
	if p.status != http.StatusOK {
		t.Fatalf("status %d: %s", p.status, p.body)
	}
	// Default order: newest first. Default columns: every metric, then
	// every param, by key.
	if got := runNames(t, p); !slices.Equal(got, []string{"run-4", "run-3", "run-2", "run-1", "run-0"}) {
		t.Errorf("rows %v, want newest first", got)
	}
	var heads []string
	for _, th := range find(one(t, p.doc, "table", "#runs"), "th", "")[1:] {
		heads = append(heads, text(th))
	}
	want := []string{"Run", "Created ▼", "Duration", "Status", "User", "metrics acc", "metrics loss", "params lr", "params model"}
	if !slices.Equal(heads, want) {
		t.Errorf("headers %q, want %q", heads, want)
	}
	if th := one(t, p.doc, "th", "sorted-desc"); !strings.HasPrefix(text(th), "Created ▼") {
		t.Errorf("default order not shown on the Created header: %q", text(th))
	}
	if got := text(one(t, p.doc, "p", "note")); got != "Image models" {
		t.Errorf("description %q", got)
	}
	row := find(p.doc, "tr", "run")[0]
	cells := find(row, "td", "")
	if got := []string{text(cells[3]), text(cells[4]), text(cells[5]), text(cells[6]), text(cells[8])}; !slices.Equal(got, []string{"42.0s", "FINISHED", "ana", "0.9", "0.5"}) {
		t.Errorf("run-4 cells %q", got)
	}

	// The acc header sorts descending, then ascending.
	var accLink string
	for _, a := range find(p.doc, "a", "") {
		if text(a) == "acc" {
			accLink = attr(a, "href")
		}
	}
	u, err := url.Parse(accLink)
	if err != nil || u.Query().Get("order_by") != "metrics.acc DESC" {
		t.Fatalf("acc header links to %q", accLink)
	}
	p = f.get(t, accLink)
	if got := runNames(t, p); !slices.Equal(got, []string{"run-4", "run-3", "run-2", "run-1", "run-0"}) {
		t.Errorf("by acc DESC: %v", got)
	}
	p = f.get(t, "/experiments/"+f.expID+"?order_by="+url.QueryEscape("metrics.acc ASC"))
	if got := runNames(t, p); !slices.Equal(got, []string{"run-0", "run-1", "run-2", "run-3", "run-4"}) {
		t.Errorf("by acc ASC: %v", got)
	}
	if th := one(t, p.doc, "th", "sorted-asc"); !strings.Contains(text(th), "acc ▲") {
		t.Errorf("sorted header shows %q", text(th))
	}
	p = f.get(t, "/experiments/"+f.expID+"?order_by="+url.QueryEscape("params.model DESC")+"&order_by="+url.QueryEscape("attributes.run_name ASC"))
	if got := runNames(t, p); !slices.Equal(got, []string{"run-1", "run-3", "run-0", "run-2", "run-4"}) {
		t.Errorf("by model DESC, name: %v", got)
	}

	// Chosen columns, including a user tag.
	p = f.get(t, "/experiments/"+f.expID+"?columns=params.lr,tags.team")
	heads = nil
	for _, th := range find(one(t, p.doc, "table", "#runs"), "th", "")[6:] {
		heads = append(heads, text(th))
	}
	if !slices.Equal(heads, []string{"params lr", "tags team"}) {
		t.Errorf("chosen columns %q", heads)
	}
	if p = f.get(t, "/experiments/"+f.expID+"?columns=bogus"); p.status != http.StatusBadRequest || !strings.Contains(text(one(t, p.doc, "p", "#error")), "invalid column") {
		t.Errorf("bad column: status %d", p.status)
	}
}

func TestRunsFilter(t *testing.T) {
	f := newFixture(t, ui.Options{})
	p := f.get(t, "/experiments/"+f.expID+"?filter="+url.QueryEscape("metrics.acc > 0.65 and params.model = 'cnn'"))
	if p.status != http.StatusOK {
		t.Fatalf("status %d: %s", p.status, p.body)
	}
	if got := runNames(t, p); !slices.Equal(got, []string{"run-4", "run-2"}) {
		t.Errorf("filtered rows %v, want run-4 and run-2", got)
	}
	if got := attr(one(t, p.doc, "input", "#filter"), "value"); got != "metrics.acc > 0.65 and params.model = 'cnn'" {
		t.Errorf("search box lost the filter: %q", got)
	}

	// A malformed filter: 400, the store's message above the table, the
	// form still there with what was typed.
	bad := "metrics.acc >>> 'x' OR <script>"
	p = f.get(t, "/experiments/"+f.expID+"?filter="+url.QueryEscape(bad))
	if p.status != http.StatusBadRequest {
		t.Fatalf("bad filter: status %d", p.status)
	}
	assertSafe(t, p)
	msg := text(one(t, p.doc, "p", "#error"))
	_, _, err := f.store.SearchRuns(context.Background(), tracking.RunQuery{ExperimentIDs: []string{f.expID}, Filter: bad})
	if err == nil || msg != strings.Join(strings.Fields(err.Error()), " ") {
		t.Errorf("inline error %q, want the store's %v", msg, err)
	}
	if got := attr(one(t, p.doc, "input", "#filter"), "value"); got != bad {
		t.Errorf("search box %q", got)
	}
	if len(find(p.doc, "tr", "run")) != 0 {
		t.Errorf("rows shown for a bad filter")
	}
}

func TestRunsPaging(t *testing.T) {
	f := newFixture(t, ui.Options{})
	var seen []string
	next := "/experiments/" + f.expID + "?max_results=2&order_by=" + url.QueryEscape("attributes.run_name ASC")
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("more than 3 pages of 2 for 5 runs")
		}
		p := f.get(t, next)
		if p.status != http.StatusOK {
			t.Fatalf("%s: status %d", next, p.status)
		}
		names := runNames(t, p)
		if len(names) == 0 || len(names) > 2 {
			t.Fatalf("page of %d rows", len(names))
		}
		seen = append(seen, names...)
		next = ""
		if links := find(p.doc, "a", "#next-page"); len(links) == 1 {
			next = attr(links[0], "href")
			if u, _ := url.Parse(next); u.Query().Get("max_results") != "2" || u.Query().Get("order_by") != "attributes.run_name ASC" {
				t.Errorf("next link %q drops the page size or order", next)
			}
		}
		if pages > 0 && len(find(p.doc, "a", "#first-page")) != 1 {
			t.Errorf("page %d has no link back to the first", pages+1)
		}
	}
	if !slices.Equal(seen, []string{"run-0", "run-1", "run-2", "run-3", "run-4"}) {
		t.Errorf("pages gave %v", seen)
	}
	if p := f.get(t, "/experiments/"+f.expID+"?page_token=garbage"); p.status != http.StatusBadRequest || len(find(p.doc, "p", "#error")) != 1 {
		t.Errorf("bad page token: status %d", p.status)
	}
}

func TestRunPage(t *testing.T) {
	f := newFixture(t, ui.Options{})
	p := f.get(t, "/runs/"+f.model)
	if p.status != http.StatusOK {
		t.Fatalf("status %d: %s", p.status, p.body)
	}
	info := text(one(t, p.doc, "section", "#info"))
	for _, want := range []string{"FINISHED", "vision", "2023-11-14 22:13:20", "42.0s", "ana", "Source train.py", "Source type LOCAL"} {
		if !strings.Contains(info, want) {
			t.Errorf("run info %q lacks %q", info, want)
		}
	}
	if got := text(one(t, p.doc, "section", "#params")); !strings.Contains(got, "lr 0.1") || !strings.Contains(got, "model cnn") {
		t.Errorf("params: %q", got)
	}
	metrics := find(p.doc, "tr", "metric")
	if len(metrics) != 2 || text(metrics[1]) != "loss 0.0223708 19 2023-11-14 22:13:39" {
		t.Errorf("metrics: %d rows, loss row %q", len(metrics), text(metrics[len(metrics)-1]))
	}
	if got := text(one(t, p.doc, "tr", "tag")); got != "team cv" {
		t.Errorf("user tags: %q", got)
	}
	if got := text(one(t, p.doc, "section", "#datasets")); !strings.Contains(got, "iris d41d8cd9 train local") {
		t.Errorf("datasets: %q", got)
	}
	sys := one(t, p.doc, "details", "system-tags")
	if got := text(sys); !strings.Contains(got, "mlflow.log-model.history") || !strings.Contains(got, "mlflow.source.name") {
		t.Errorf("system tags not grouped: %q", got)
	}

	// Artifact browser: the root listing, folders first by path order.
	var names []string
	for _, li := range find(one(t, p.doc, "ul", "listing"), "li", "") {
		names = append(names, text(one(t, li, "a", "")))
	}
	if !slices.Equal(names, []string{"big.log", "evil.svg", "model/", "notes.txt", "plots/"}) {
		t.Errorf("listing %q", names)
	}

	// The logged model: flavors and signature from model/MLmodel.
	model := one(t, p.doc, "div", "model")
	got := text(model)
	for _, want := range []string{"python_function", "loader_module=mlflow.sklearn", "sklearn_version=1.3.0", "sepal_length double yes", "<b>species</b> string no", "float64 (-1)", "temperature double 0.5"} {
		if !strings.Contains(got, want) {
			t.Errorf("model section %q lacks %q", got, want)
		}
	}
	for _, b := range find(model, "b", "") {
		if text(b) == "species" {
			t.Errorf("a column name became markup")
		}
	}
}

func TestRunPageHostile(t *testing.T) {
	f := newFixture(t, ui.Options{})
	for _, path := range []string{"/", "/experiments/" + f.hostID, "/runs/" + f.evil, "/compare?runs=" + f.evil} {
		p := f.get(t, path)
		if p.status != http.StatusOK {
			t.Fatalf("%s: status %d", path, p.status)
		}
		assertSafe(t, p)
	}
	p := f.get(t, "/runs/"+f.evil)
	if got := text(one(t, p.doc, "h1", "")); !strings.HasPrefix(got, hostileName) {
		t.Errorf("title %q does not show the name literally", got)
	}
	if got := text(one(t, p.doc, "tr", "param")); got != "payload "+hostileParam {
		t.Errorf("param row %q", got)
	}
}

func TestArtifactPreview(t *testing.T) {
	f := newFixture(t, ui.Options{})
	run := "/runs/" + f.model
	p := f.get(t, run+"?file=notes.txt")
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}
	if got := one(t, p.doc, "pre", "text-preview").FirstChild.Data; got != "epoch 1: <b>ok</b>\nepoch 2: fine\n" {
		t.Errorf("text preview %q", got)
	}

	p = f.get(t, run+"?file=plots/loss.png")
	img := one(t, p.doc, "img", "artifact-image")
	src := attr(img, "src")
	if src != "/ui/artifacts/"+f.model+"/raw?path=plots%2Floss.png" {
		t.Errorf("image src %q", src)
	}
	raw := f.get(t, src)
	if raw.status != http.StatusOK || raw.header.Get("Content-Type") != "image/png" || raw.body != string(f.png) {
		t.Errorf("raw png: status %d type %q, %d bytes", raw.status, raw.header.Get("Content-Type"), len(raw.body))
	}
	if raw.header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(raw.header.Get("Content-Disposition"), "inline") {
		t.Errorf("raw png headers %v", raw.header)
	}

	// SVG: previewed through <img> (no script runs there), but a direct
	// visit downloads it, sandboxed.
	svg := f.get(t, "/ui/artifacts/"+f.model+"/raw?path=evil.svg")
	if svg.header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(svg.header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(svg.header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("svg served with %v", svg.header)
	}
	pkl := f.get(t, "/ui/artifacts/"+f.model+"/raw?path=model/model.pkl")
	if pkl.header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(pkl.header.Get("Content-Disposition"), "attachment") {
		t.Errorf("binary served with %v", pkl.header)
	}

	p = f.get(t, run+"?file=big.log")
	if got := text(one(t, p.doc, "div", "preview")); !strings.Contains(got, "Too large to preview") || len(find(p.doc, "pre", "")) != 0 {
		t.Errorf("big file preview: %q", got)
	}
	p = f.get(t, run+"?file=model/model.pkl")
	if got := text(one(t, p.doc, "div", "preview")); !strings.Contains(got, "Binary file") {
		t.Errorf("binary preview: %q", got)
	}
	p = f.get(t, run+"?dir=model")
	var names []string
	for _, li := range find(one(t, p.doc, "ul", "listing"), "li", "") {
		names = append(names, text(one(t, li, "a", "")))
	}
	if !slices.Equal(names, []string{"MLmodel", "model.pkl"}) {
		t.Errorf("model/ lists %q", names)
	}
	if p = f.get(t, run+"?file=absent.txt"); p.status != http.StatusNotFound {
		t.Errorf("missing artifact: status %d", p.status)
	}
}

func TestArtifactTraversal(t *testing.T) {
	f := newFixture(t, ui.Options{})
	for _, q := range []string{"file=../../mlflow.db", "dir=..", "file=/etc/passwd", "dir=%252e%252e", "file=plots/..%2F..%2Fx"} {
		p := f.get(t, "/runs/"+f.model+"?"+q)
		if p.status != http.StatusBadRequest || text(one(t, p.doc, "p", "#artifact-error")) != "Invalid path" {
			t.Errorf("%s: status %d", q, p.status)
		}
	}
	for _, q := range []string{"..%2Fmlflow.db", "%2Fetc%2Fpasswd", "%252e%252e/x", ""} {
		p := f.get(t, "/ui/artifacts/"+f.model+"/raw?path="+q)
		if p.status != http.StatusBadRequest {
			t.Errorf("raw %q: status %d", q, p.status)
		}
	}
}

func TestArtifactRepositoryFailure(t *testing.T) {
	f := newFixture(t, ui.Options{Artifacts: func(context.Context, *tracking.Run) (artifacts.Repository, error) {
		return nil, errors.New("bucket unreachable")
	}})
	p := f.get(t, "/runs/"+f.model)
	if p.status != http.StatusOK {
		t.Fatalf("status %d", p.status)
	}
	if got := text(one(t, p.doc, "p", "#artifact-error")); !strings.Contains(got, "bucket unreachable") {
		t.Errorf("artifact error %q", got)
	}
	// The history tag still names the model (without a signature).
	if got := text(one(t, p.doc, "div", "model")); !strings.Contains(got, "sklearn_version=1.3.0") || !strings.Contains(got, "No signature") {
		t.Errorf("model from the history tag: %q", got)
	}
}

func TestComparePage(t *testing.T) {
	f := newFixture(t, ui.Options{})
	p := f.get(t, "/compare?runs="+f.runs[0]+","+f.runs[1]+"&metric=loss&metric=acc")
	if p.status != http.StatusOK {
		t.Fatalf("status %d: %s", p.status, p.body)
	}
	charts := find(p.doc, "svg", "chart")
	if len(charts) != 2 {
		t.Fatalf("%d charts, want loss and acc", len(charts))
	}
	loss := find(charts[0], "path", "series")
	if len(loss) != 2 || attr(loss[0], "stroke") != "#1f77b4" || attr(loss[1], "stroke") != "#d62728" {
		t.Fatalf("loss chart lines %d", len(loss))
	}
	if n := strings.Count(attr(loss[0], "d"), "L"); n != 19 {
		t.Errorf("loss line of run-0 has %d segments, want 19 (20 steps)", n)
	}
	var xticks []string
	for _, tx := range find(charts[0], "text", "xtick") {
		xticks = append(xticks, text(tx))
	}
	if xticks[0] != "0" || xticks[len(xticks)-1] != "20" {
		t.Errorf("x ticks %v, want 0..20 steps", xticks)
	}
	var legend []string
	for _, g := range find(charts[0], "g", "legend") {
		legend = append(legend, text(one(t, g, "text", "")))
	}
	if !slices.Equal(legend, []string{"run-0", "run-1"}) {
		t.Errorf("legend %v", legend)
	}
	// acc has one value per run: dots, not lines.
	if dots := find(charts[1], "circle", "dot"); len(dots) != 2 {
		t.Errorf("acc chart: %d dots, want 2", len(dots))
	}
	checked := map[string]bool{}
	for _, in := range find(p.doc, "input", "") {
		if attr(in, "name") == "metric" {
			checked[attr(in, "value")] = hasAttr(in, "checked")
		}
	}
	if !checked["loss"] || !checked["acc"] || len(checked) != 2 {
		t.Errorf("metric choices %v", checked)
	}

	// Relative time: loss was logged one value per second.
	p = f.get(t, "/compare?runs="+f.runs[0]+"&metric=loss&x=time")
	if got := text(find(p.doc, "text", "axis-label")[0]); !strings.Contains(got, "time") {
		t.Errorf("x label %q", got)
	}
	// Default metric: the first every run has.
	p = f.get(t, "/compare?runs="+f.runs[0]+"&runs="+f.runs[2])
	if got := text(one(t, p.doc, "text", "chart-title")); got != "acc" {
		t.Errorf("default chart %q", got)
	}
	if p = f.get(t, "/compare?runs=0123456789abcdef0123456789abcdef"); p.status != http.StatusNotFound {
		t.Errorf("unknown run: status %d", p.status)
	}
	if p = f.get(t, "/compare"); p.status != http.StatusBadRequest {
		t.Errorf("no runs: status %d", p.status)
	}
}

func TestNotFoundAndBasePath(t *testing.T) {
	f := newFixture(t, ui.Options{BasePath: "/mlflow/"})
	for path, want := range map[string]int{
		"/mlflow/":                                http.StatusOK,
		"/mlflow/experiments/" + f.expID:          http.StatusOK,
		"/mlflow/experiments/999":                 http.StatusNotFound,
		"/mlflow/runs/" + strings.Repeat("a", 32): http.StatusNotFound,
		"/mlflow/nope":                            http.StatusNotFound,
		"/":                                       http.StatusNotFound,
		"/mlflow/static/style.css":                http.StatusOK,
	} {
		if p := f.get(t, path); p.status != want {
			t.Errorf("%s: status %d, want %d", path, p.status, want)
		}
	}
	p := f.get(t, "/mlflow/")
	if a := find(p.doc, "a", "brand"); len(a) != 1 || attr(a[0], "href") != "/mlflow/" {
		t.Errorf("links do not carry the base path")
	}
	for _, tr := range find(p.doc, "tr", "experiment") {
		if href := attr(one(t, tr, "a", ""), "href"); !strings.HasPrefix(href, "/mlflow/experiments/") {
			t.Errorf("experiment link %q", href)
		}
	}
	resp, err := http.Get(f.srv.URL + "/mlflow/static/ui.js")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Content-Type"), "javascript") || !strings.Contains(string(b), "select-all") {
		t.Errorf("ui.js served as %q", resp.Header.Get("Content-Type"))
	}
}
