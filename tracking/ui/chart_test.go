package ui

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestNiceScale(t *testing.T) {
	tests := []struct {
		name           string
		min, max       float64
		n              int
		lo, hi, step   float64
		firstTick, end string
	}{
		{"unit", 0, 1, 6, 0, 1, 0.2, "0.0", "1.0"},
		{"loss", 0.0213, 2.31, 6, 0, 2.5, 0.5, "0.0", "2.5"},
		{"steps", 0, 99, 8, 0, 100, 10, "0", "100"},
		{"negative", -3.2, 7.9, 6, -4, 8, 2, "-4", "8"},
		{"one value", 5, 5, 6, 4.4, 5.6, 0.2, "4.4", "5.6"},
		{"one zero", 0, 0, 6, -1, 1, 0.5, "-1.0", "1.0"},
		{"big", 1e9, 3e9, 6, 1e9, 3e9, 5e8, "1e+09", "3e+09"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := niceScale(tt.min, tt.max, tt.n)
			if !near(s.lo, tt.lo) || !near(s.hi, tt.hi) || !near(s.step, tt.step) {
				t.Fatalf("niceScale(%v, %v) = [%v, %v] step %v, want [%v, %v] step %v", tt.min, tt.max, s.lo, s.hi, s.step, tt.lo, tt.hi, tt.step)
			}
			if s.lo > tt.min || s.hi < tt.max {
				t.Errorf("domain [%v, %v] does not cover [%v, %v]", s.lo, s.hi, tt.min, tt.max)
			}
			first, last := formatTick(s.ticks[0], s.step), formatTick(s.ticks[len(s.ticks)-1], s.step)
			if first != tt.firstTick || last != tt.end {
				t.Errorf("ticks %q..%q, want %q..%q", first, last, tt.firstTick, tt.end)
			}
			if !near(s.ticks[len(s.ticks)-1], s.hi) {
				t.Errorf("last tick %v, want the domain's end %v", s.ticks[len(s.ticks)-1], s.hi)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestFormatTickNoFloatNoise(t *testing.T) {
	s := niceScale(0.1, 0.7, 7)
	for _, v := range s.ticks {
		l := formatTick(v, s.step)
		if len(l) > 4 {
			t.Errorf("tick %v printed as %q", v, l)
		}
	}
}

var pathCoord = regexp.MustCompile(`[ML](-?[0-9.]+) (-?[0-9.]+)`)

func TestLayoutChart(t *testing.T) {
	data := []series{
		{Label: "run-a", Color: seriesColor(0), X: []float64{0, 1, 2, 3}, Y: []float64{1, 0.5, 0.25, 0.125}},
		{Label: "run-b", Color: seriesColor(1), X: []float64{0, 1, 2, 3, 4}, Y: []float64{2, math.NaN(), 1, 0.8, math.Inf(1)}},
		{Label: "lonely", Color: seriesColor(2), X: []float64{7}, Y: []float64{0.3}},
	}
	c := layoutChart("loss", "step", data, 800, 400)
	if c.Empty {
		t.Fatal("chart with finite points is Empty")
	}
	if len(c.Lines) != 3 || len(c.Legend) != 3 {
		t.Fatalf("%d lines, %d legend entries; want 3 and 3", len(c.Lines), len(c.Legend))
	}
	if c.Height != 400+3*legendRow+6 {
		t.Errorf("height %d does not leave one legend row per series", c.Height)
	}
	for i, l := range c.Lines {
		if l.Color != palette[i] {
			t.Errorf("line %d colour %s, want %s", i, l.Color, palette[i])
		}
		for _, m := range pathCoord.FindAllStringSubmatch(l.Path, -1) {
			x, _ := strconv.ParseFloat(m[1], 64)
			y, _ := strconv.ParseFloat(m[2], 64)
			if x < c.Left-0.05 || x > c.Right+0.05 || y < c.Top-0.05 || y > c.Bottom+0.05 {
				t.Errorf("line %d point (%v, %v) outside the plot [%v..%v]x[%v..%v]", i, x, y, c.Left, c.Right, c.Top, c.Bottom)
			}
		}
	}
	// run-a: one subpath of four points; the first point is at the left
	// edge (x=0 is the domain's start) and the highest value at the top.
	a := c.Lines[0]
	if strings.Count(a.Path, "M") != 1 || strings.Count(a.Path, "L") != 3 {
		t.Errorf("run-a path %q: want one M and three L", a.Path)
	}
	if !strings.HasPrefix(a.Path, "M70 ") {
		t.Errorf("run-a path %q does not start at the left edge x=70", a.Path)
	}
	// run-b: NaN after the first point and +Inf at the end leave a lone
	// point (a dot) and a two-point segment.
	b := c.Lines[1]
	if strings.Count(b.Path, "M") != 2 || len(b.Dots) != 1 {
		t.Errorf("run-b path %q dots %v: want two subpaths and one dot", b.Path, b.Dots)
	}
	if len(c.Lines[2].Dots) != 1 {
		t.Errorf("a one-point series has no dot: %+v", c.Lines[2])
	}
	// Ticks: x covers 0..7 in nice steps, y ticks are ordered top-down.
	if got := c.XTicks[0].Label; got != "0" {
		t.Errorf("first x tick %q, want 0", got)
	}
	for i := 1; i < len(c.YTicks); i++ {
		if c.YTicks[i].Pos >= c.YTicks[i-1].Pos {
			t.Errorf("y ticks not rising up the plot: %v", c.YTicks)
		}
	}
}

func TestLayoutChartEmpty(t *testing.T) {
	c := layoutChart("m", "step", []series{{Label: "x", X: []float64{1}, Y: []float64{math.NaN()}}}, 800, 400)
	if !c.Empty || len(c.Lines) != 0 {
		t.Fatalf("all-NaN chart: Empty=%v lines=%d", c.Empty, len(c.Lines))
	}
	if len(c.Legend) != 1 {
		t.Errorf("legend dropped for an empty chart")
	}
}

func TestLegendLabelShortened(t *testing.T) {
	long := strings.Repeat("é", 100)
	c := layoutChart("m", "step", []series{{Label: long, X: []float64{1}, Y: []float64{1}}}, 800, 400)
	if got := []rune(c.Legend[0].Label); len(got) != maxLegendLabel {
		t.Errorf("label of %d runes, want %d", len(got), maxLegendLabel)
	}
	if c.Legend[0].Full != long {
		t.Errorf("full label lost")
	}
}

func TestThin(t *testing.T) {
	h := make([]float64, 10001)
	for i := range h {
		h[i] = float64(i)
	}
	s := toSeries("r", "#000", historyOf(h), false)
	if len(s.X) != maxChartPoints || s.X[0] != 0 || s.X[len(s.X)-1] != 10000 {
		t.Errorf("thinned to %d points from %v to %v; want %d from 0 to 10000", len(s.X), s.X[0], s.X[len(s.X)-1], maxChartPoints)
	}
}

// Metric values are whatever clients logged, including extremes: the
// layout must always produce finite coordinates inside the plot and a
// bounded number of ticks.
func FuzzLayoutChart(f *testing.F) {
	f.Add(0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
	f.Add(-1e308, 1e308, 0.0, -1e308, 1.0, 1e308)
	f.Add(1.0, 1.0, 1.0, 1.0+1e-15, 1.0, 1.0)
	f.Add(5e-324, -5e-324, 0.0, 0.0, math.MaxFloat64, -math.MaxFloat64)
	f.Fuzz(func(t *testing.T, x0, y0, x1, y1, x2, y2 float64) {
		c := layoutChart("m", "step", []series{{Label: "a", X: []float64{x0, x1, x2}, Y: []float64{y0, y1, y2}}}, 800, 400)
		if c.Empty {
			return
		}
		if len(c.XTicks) > 102 || len(c.YTicks) > 102 || len(c.XTicks) < 2 || len(c.YTicks) < 2 {
			t.Fatalf("%d x ticks, %d y ticks", len(c.XTicks), len(c.YTicks))
		}
		for _, l := range c.Lines {
			if strings.Contains(l.Path, "NaN") || strings.Contains(l.Path, "Inf") {
				t.Fatalf("path %q", l.Path)
			}
			for _, m := range pathCoord.FindAllStringSubmatch(l.Path, -1) {
				x, _ := strconv.ParseFloat(m[1], 64)
				y, _ := strconv.ParseFloat(m[2], 64)
				if x < c.Left-0.05 || x > c.Right+0.05 || y < c.Top-0.05 || y > c.Bottom+0.05 {
					t.Fatalf("point (%v, %v) outside the plot", x, y)
				}
			}
			for _, d := range l.Dots {
				if !finite(d.X) || !finite(d.Y) {
					t.Fatalf("dot %v", d)
				}
			}
		}
		for _, tk := range append(c.XTicks, c.YTicks...) {
			if !finite(tk.Pos) {
				t.Fatalf("tick %v", tk)
			}
		}
	})
}
