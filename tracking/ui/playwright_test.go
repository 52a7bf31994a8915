package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/tracking/ui"
)

// clickScript drives Debian's Chromium through the pages as a user would:
// sort by clicking a header, search with a bad filter, tick two runs and
// press Compare. It prints what it saw as JSON.
const clickScript = `
const { chromium } = require("playwright-core");
(async () => {
  const base = process.argv[2];
  const expPath = process.argv[3];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const out = {};
  const errors = [];
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    // The bad filter's page answers 400 on purpose; any other failed
    // load (a missing asset, a CSP violation) is an error.
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().includes("status of 400")) errors.push(m.text());
    });
    const names = () => page.$$eval("tr.run td:nth-child(2)", (tds) => tds.map((t) => t.textContent.trim()));

    await page.goto(base + expPath);
    out.initial = await names();
    out.compareDisabled = await page.isDisabled("#compare");
    await Promise.all([page.waitForNavigation(), page.click("th.metrics a:text-is('acc')")]);
    out.accFirst = await names();
    await Promise.all([page.waitForNavigation(), page.click("th.metrics a:text-is('acc')")]);
    out.accSecond = await names();
    out.sortedHeader = (await page.textContent("th.sorted-asc")).trim();

    await page.fill("#filter", "metrics.acc >>> 1");
    const [resp] = await Promise.all([page.waitForNavigation(), page.press("#filter", "Enter")]);
    out.badFilterStatus = resp.status();
    out.badFilterError = (await page.textContent("#error")).trim();

    await page.fill("#filter", "params.model = 'cnn'");
    await Promise.all([page.waitForNavigation(), page.press("#filter", "Enter")]);
    out.filtered = await names();

    const boxes = await page.$$("input[name=runs]");
    await boxes[0].check();
    await boxes[1].check();
    out.compareEnabled = !(await page.isDisabled("#compare"));
    await Promise.all([page.waitForNavigation(), page.click("#compare")]);
    out.compareURL = page.url();
    out.series = await page.$$eval("path.series", (ps) => ps.map((p) => p.getAttribute("stroke")));
    await page.check("input[name=metric][value=loss]");
    await Promise.all([page.waitForNavigation(), page.click("button:text-is('Draw')")]);
    out.charts = await page.$$eval("svg.chart .chart-title", (ts) => ts.map((t) => t.textContent));
  } catch (e) {
    errors.push(String(e));
  }
  out.errors = errors;
  await browser.close();
  console.log(JSON.stringify(out));
})();
`

type clickResult struct {
	Initial, AccFirst, AccSecond, Filtered []string
	CompareDisabled, CompareEnabled        bool
	SortedHeader                           string
	BadFilterStatus                        int
	BadFilterError                         string
	CompareURL                             string
	Series, Charts                         []string
	Errors                                 []string
}

func TestClicksInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium not installed (apt-get install chromium)")
	}
	node, modules := testenv.Playwright(t)
	f := newFixture(t, ui.Options{})
	script := filepath.Join(t.TempDir(), "clicks.js")
	if err := os.WriteFile(script, []byte(clickScript), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, f.srv.URL, "/experiments/"+f.expID)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "CHROMIUM="+bin, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1", "HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got clickResult
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("script output %q: %v", stdout.String(), err)
	}
	if len(got.Errors) > 0 {
		t.Fatalf("browser errors: %q", got.Errors)
	}
	newest := []string{"run-4", "run-3", "run-2", "run-1", "run-0"}
	if !slices.Equal(got.Initial, newest) || !slices.Equal(got.AccFirst, newest) {
		t.Errorf("initial %v, after one click on acc %v; want both %v", got.Initial, got.AccFirst, newest)
	}
	if want := []string{"run-0", "run-1", "run-2", "run-3", "run-4"}; !slices.Equal(got.AccSecond, want) {
		t.Errorf("after a second click on acc: %v, want %v", got.AccSecond, want)
	}
	if !strings.HasSuffix(got.SortedHeader, "acc ▲") {
		t.Errorf("sorted header %q", got.SortedHeader)
	}
	if got.BadFilterStatus != 400 || got.BadFilterError == "" {
		t.Errorf("bad filter: status %d, message %q", got.BadFilterStatus, got.BadFilterError)
	}
	// The filter keeps the sort chosen by clicking (ascending acc).
	if want := []string{"run-0", "run-2", "run-4"}; !slices.Equal(got.Filtered, want) {
		t.Errorf("filtered %v, want %v", got.Filtered, want)
	}
	if !got.CompareDisabled || !got.CompareEnabled {
		t.Errorf("compare button disabled before ticking: %v, enabled after: %v", got.CompareDisabled, got.CompareEnabled)
	}
	if !strings.Contains(got.CompareURL, "/compare?runs=") || len(got.Series) != 2 || got.Series[0] != "#1f77b4" {
		t.Errorf("compare: %s with series %v", got.CompareURL, got.Series)
	}
	if !slices.Equal(got.Charts, []string{"acc", "loss"}) {
		t.Errorf("charts after ticking loss: %v", got.Charts)
	}
}
