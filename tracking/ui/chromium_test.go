package ui_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/tracking/ui"
)

// -screenshots DIR keeps the browser's screenshots (docs/img has one).
var screenshots = flag.String("screenshots", "", "directory to copy the Chromium screenshots into")

// chromium runs headless Chromium once with ENVIRONMENT.md's flags (no
// background networking, no sandbox for root in containers), bounded by
// 30 s, and returns its stdout.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium not installed (apt-get install chromium)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// screenshot renders url at width×height and decodes the PNG.
func screenshot(t *testing.T, name, url string, width, height int) image.Image {
	t.Helper()
	file := filepath.Join(t.TempDir(), name+".png")
	chromium(t, "--screenshot="+file, fmt.Sprintf("--window-size=%d,%d", width, height), url)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if *screenshots != "" {
		if err := os.WriteFile(filepath.Join(*screenshots, name+".png"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// pixels counts the pixels within tol (per channel) of c, and their
// bounding box.
func pixels(img image.Image, c color.RGBA, tol int) (n int, box image.Rectangle) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if abs(int(r>>8)-int(c.R)) <= tol && abs(int(g>>8)-int(c.G)) <= tol && abs(int(bl>>8)-int(c.B)) <= tol {
				n++
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return n, box
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// assertDrawn fails on a blank page: almost all white, or too few colours
// for text, tables and the stylesheet's header bar.
func assertDrawn(t *testing.T, name string, img image.Image) {
	t.Helper()
	white, _ := pixels(img, color.RGBA{255, 255, 255, 255}, 0)
	total := img.Bounds().Dx() * img.Bounds().Dy()
	if white > total*98/100 {
		t.Errorf("%s: %d of %d pixels white: blank page", name, white, total)
	}
	// The header bar (style.css --accent) across the top proves the
	// stylesheet loaded under the page's content security policy.
	if n, box := pixels(img, color.RGBA{0x3b, 0x4a, 0x6b, 255}, 2); n < 10000 || box.Min.Y > 2 || box.Dx() < img.Bounds().Dx()-2 {
		t.Errorf("%s: header bar not drawn (%d pixels in %v): stylesheet missing", name, n, box)
	}
}

func hex(s string) color.RGBA {
	var c color.RGBA
	fmt.Sscanf(s, "#%02x%02x%02x", &c.R, &c.G, &c.B)
	c.A = 255
	return c
}

func TestChromium(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		testenv.Missing(t, "chromium not installed (apt-get install chromium)")
	}
	f := newFixture(t, ui.Options{})
	base := f.srv.URL
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want 127.0.0.1", base)
	}

	t.Run("experiment", func(t *testing.T) {
		t.Parallel()
		url := base + "/experiments/" + f.expID
		img := screenshot(t, "experiment", url, 1280, 900)
		assertDrawn(t, "experiment page", img)
		dom := string(chromium(t, "--dump-dom", url))
		if n := strings.Count(dom, `<tr class="run"`); n != 5 {
			t.Errorf("rendered DOM has %d run rows, want 5", n)
		}
		// ui.js ran (allowed by the CSP): Compare is off until a run is
		// ticked.
		if !strings.Contains(dom, `id="compare" disabled=""`) {
			t.Errorf("the page script did not run: compare button not disabled")
		}
	})

	t.Run("run", func(t *testing.T) {
		t.Parallel()
		url := base + "/runs/" + f.model + "?file=plots/loss.png"
		img := screenshot(t, "run", url, 1280, 2400)
		assertDrawn(t, "run page", img)
		// The 120×80 magenta PNG came through the raw route into <img>.
		if n, box := pixels(img, magenta, 0); n < 120*80*9/10 || box.Dx() < 110 || box.Dy() < 70 {
			t.Errorf("image preview not drawn: %d magenta pixels in %v", n, box)
		}
		dom := string(chromium(t, "--dump-dom", url))
		for _, want := range []string{`class="flavor"`, "sepal_length", `class="artifact-image"`, "loader_module"} {
			if !strings.Contains(dom, want) {
				t.Errorf("rendered run page lacks %s", want)
			}
		}
	})

	t.Run("compare", func(t *testing.T) {
		t.Parallel()
		url := base + "/compare?runs=" + f.runs[0] + "," + f.runs[1] + "," + f.runs[2] + "&metric=loss"
		img := screenshot(t, "compare", url, 1280, 900)
		assertDrawn(t, "compare page", img)
		// Each series colour must cover a line across the plot (the
		// swatches and legend are 30 px at most), not just a legend mark.
		for i, c := range []string{"#1f77b4", "#d62728", "#2ca02c"} {
			n, box := pixels(img, hex(c), 6)
			if n < 300 || box.Dx() < 500 || box.Dy() < 100 {
				t.Errorf("series %d (%s): %d pixels in %v; want a line across the chart", i, c, n, box)
			}
		}
		dom := string(chromium(t, "--dump-dom", url))
		if n := strings.Count(dom, `<path class="series"`); n != 3 {
			t.Errorf("rendered DOM has %d chart paths, want 3", n)
		}
		if n := strings.Count(dom, `class="tick xtick"`); n < 3 {
			t.Errorf("rendered chart has %d x ticks", n)
		}
	})
}
