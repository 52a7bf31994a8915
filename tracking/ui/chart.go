package ui

import (
	"math"
	"strconv"
	"strings"
)

// The UI's charting library: a line chart laid out in Go and drawn as inline
// SVG by the chart template. Laying it out here, not in browser JavaScript,
// keeps the chart testable without a browser and lets the page work with
// scripts off. Every number the template draws is computed here; text
// (titles, tick labels, run names) is escaped by html/template.

// palette is the series colours in order. The first two are what the
// Chromium test looks for in screenshots, so no other page element uses
// them.
var palette = []string{
	"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
	"#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
}

// seriesColor is the colour of the i-th series, cycling through palette.
func seriesColor(i int) string { return palette[i%len(palette)] }

// series is one line's data: X and Y of equal length, in drawing order.
// Non-finite values break the line.
type series struct {
	Label string
	Color string
	X, Y  []float64
}

// chart is a laid-out line chart in SVG user units.
type chart struct {
	Title         string
	XLabel        string
	Width, Height int
	// Plot area.
	Left, Top, Right, Bottom float64
	XTicks, YTicks           []tick
	Lines                    []line
	Legend                   []legendEntry
	// Empty is set when no series has a finite point; the template then
	// says so instead of drawing axes over nothing.
	Empty bool
}

type tick struct {
	Pos   float64 // x for XTicks, y for YTicks
	Label string
}

type line struct {
	Color string
	Path  string // SVG path data: "M x y L x y ..." (only numbers and M/L)
	// Dots marks isolated points (a series of one value, or a value between
	// two gaps), which a path alone would not show.
	Dots []point
}

type point struct{ X, Y float64 }

type legendEntry struct {
	Color    string
	Label    string // shortened for display
	Full     string // the whole label, as a tooltip
	Y        float64
	LineX1   float64
	LineX2   float64
	TextX    float64
	TextBase float64
}

const (
	chartMarginLeft   = 70
	chartMarginRight  = 20
	chartMarginTop    = 30
	chartMarginBottom = 45
	legendRow         = 18
	maxLegendLabel    = 60
)

// layoutChart scales the series into a width×height plot (plus one legend
// row per series below it) with "nice" ticks on both axes.
func layoutChart(title, xlabel string, data []series, width, plotHeight int) chart {
	c := chart{
		Title: title, XLabel: xlabel, Width: width,
		Left: chartMarginLeft, Top: chartMarginTop,
		Right: float64(width - chartMarginRight), Bottom: float64(plotHeight - chartMarginBottom),
	}
	c.Height = plotHeight + legendRow*len(data) + 6
	for i, s := range data {
		y := float64(plotHeight + legendRow*i + 6)
		label := s.Label
		if r := []rune(label); len(r) > maxLegendLabel {
			label = string(r[:maxLegendLabel-1]) + "…"
		}
		c.Legend = append(c.Legend, legendEntry{
			Color: s.Color, Label: label, Full: s.Label, Y: y,
			LineX1: c.Left, LineX2: c.Left + 24, TextX: c.Left + 30, TextBase: y + 4,
		})
	}

	xmin, xmax, ymin, ymax, ok := bounds(data)
	if !ok {
		c.Empty = true
		return c
	}
	xs := niceScale(xmin, xmax, 8)
	ys := niceScale(ymin, ymax, 6)
	px := func(v float64) float64 { return c.Left + xs.at(v)*(c.Right-c.Left) }
	py := func(v float64) float64 { return c.Bottom - ys.at(v)*(c.Bottom-c.Top) }
	for _, v := range xs.ticks {
		c.XTicks = append(c.XTicks, tick{Pos: round1(px(v)), Label: formatTick(v, xs.step)})
	}
	for _, v := range ys.ticks {
		c.YTicks = append(c.YTicks, tick{Pos: round1(py(v)), Label: formatTick(v, ys.step)})
	}
	for _, s := range data {
		c.Lines = append(c.Lines, pathOf(s, px, py))
	}
	return c
}

// bounds is the range of the finite points of all series.
func bounds(data []series) (xmin, xmax, ymin, ymax float64, ok bool) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, s := range data {
		for i := range s.X {
			x, y := s.X[i], s.Y[i]
			if !finite(x) || !finite(y) {
				continue
			}
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
			ymin, ymax = math.Min(ymin, y), math.Max(ymax, y)
			ok = true
		}
	}
	return
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// pathOf draws s as one path, starting a new subpath after every gap.
func pathOf(s series, px, py func(float64) float64) line {
	l := line{Color: s.Color}
	var b strings.Builder
	run := 0 // points in the current subpath
	var first point
	flush := func() {
		if run == 1 {
			l.Dots = append(l.Dots, first)
		}
		run = 0
	}
	for i := range s.X {
		if !finite(s.X[i]) || !finite(s.Y[i]) {
			flush()
			continue
		}
		p := point{round1(px(s.X[i])), round1(py(s.Y[i]))}
		if run == 0 {
			first = p
			b.WriteString("M")
		} else {
			b.WriteString(" L")
		}
		b.WriteString(strconv.FormatFloat(p.X, 'f', -1, 64))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(p.Y, 'f', -1, 64))
		run++
	}
	flush()
	l.Path = b.String()
	return l
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// scale is an axis domain [lo, hi] with ticks every step.
type scale struct {
	lo, hi, step float64
	ticks        []float64
}

// niceScale widens [min, max] to multiples of a 1, 2 or 5 × 10^k step
// giving about n ticks (Heckbert's "nice numbers").
func niceScale(min, max float64, n int) scale {
	if min == max {
		// One value: centre it in a small range around it.
		d := math.Abs(min) * 0.1
		if d == 0 {
			d = 1
		}
		min, max = clampFinite(min-d), clampFinite(max+d)
	}
	// Values near ±MaxFloat64 overflow max-min; dividing first does not.
	raw := (max - min) / float64(n-1)
	if !finite(raw) {
		raw = max/float64(n-1) - min/float64(n-1)
	}
	step := niceNum(raw, true)
	if !finite(step) {
		step = raw
	}
	if step == 0 {
		step = 1
	}
	s := scale{lo: math.Floor(min/step) * step, hi: math.Ceil(max/step) * step, step: step}
	if !finite(s.lo) {
		s.lo = min
	}
	if !finite(s.hi) {
		s.hi = max
	}
	if s.lo == s.hi {
		s.hi = s.lo + step
	}
	// Counting ticks by index, not by adding step, keeps float error from
	// dropping the last one.
	for i := 0; i <= 100; i++ {
		v := s.lo + float64(i)*step
		if v-s.hi > step/2 || !finite(v) {
			break
		}
		s.ticks = append(s.ticks, v)
	}
	return s
}

// at maps v in the domain to [0, 1], without overflowing on domains wider
// than MaxFloat64.
func (s scale) at(v float64) float64 {
	if d := s.hi - s.lo; finite(d) {
		return (v - s.lo) / d
	}
	return (v/2 - s.lo/2) / (s.hi/2 - s.lo/2)
}

func clampFinite(v float64) float64 {
	return math.Max(-math.MaxFloat64, math.Min(math.MaxFloat64, v))
}

func niceNum(x float64, round bool) float64 {
	if x <= 0 || !finite(x) {
		return 0
	}
	exp := math.Floor(math.Log10(x))
	f := x / math.Pow(10, exp)
	var nf float64
	switch {
	case round && f < 1.5, !round && f <= 1:
		nf = 1
	case round && f < 3, !round && f <= 2:
		nf = 2
	case round && f < 7, !round && f <= 5:
		nf = 5
	default:
		nf = 10
	}
	return nf * math.Pow(10, exp)
}

// formatTick prints v with as many decimals as the step needs, so ticks
// read 0.1, 0.2 rather than 0.30000000000000004.
func formatTick(v, step float64) string {
	if math.Abs(v) < step/1e6 {
		v = 0
	}
	if a := math.Abs(v); a >= 1e7 || (a != 0 && step < 1e-4) {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	dec := 0
	if step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}
