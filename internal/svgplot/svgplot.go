// Package svgplot draws line charts as standalone SVG documents: a title,
// axes with units and tick labels (linear or log10), one polyline per
// series with a marker and an optional text label at each point, and a
// legend beside the plot. The output depends only on the Chart (no maps,
// no clock), so a chart written twice is the same bytes, and every text
// is XML-escaped.
//
// It serves the benchmark's sweeps (latency against throughput) and any
// comparison of such series; it is not a general plotting library.
package svgplot

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Point is one data point; Label, when set, is written beside its marker.
type Point struct {
	X, Y  float64
	Label string
}

// Series is one line. Its points are joined in the order given; a point
// that cannot be drawn (NaN, infinite, or not above zero on a log axis) is
// skipped and breaks the line.
type Series struct {
	Name   string
	Points []Point
	// Color is an SVG colour ("#0072b2"); empty takes Palette(i) for the
	// i-th series.
	Color string
	// Dashed draws the line dashed and the markers hollow.
	Dashed bool
}

// Chart is a line chart.
type Chart struct {
	Title string
	// Subtitle, when set, is a smaller line under the title (how to read
	// the chart, the machine, the date).
	Subtitle string
	// XLabel and YLabel name the axes, with their units.
	XLabel, YLabel string
	// LogX and LogY use log10 axes, extended to whole decades. Linear axes
	// always include zero.
	LogX, LogY bool
	// XFormat and YFormat format tick labels (default FormatTick).
	XFormat, YFormat func(float64) string
	Series           []Series
	// Width and Height in pixels (default 900 by 560).
	Width, Height int
}

// palette is Okabe and Ito's colour-blind-safe set, without its yellow
// (too light on white).
var palette = []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"}

// Palette returns the i-th default series colour; it cycles.
func Palette(i int) string {
	if i < 0 {
		i = -i
	}
	return palette[i%len(palette)]
}

// Layout, in pixels.
const (
	marginLeft   = 80
	marginTop    = 64
	marginBottom = 64
	legendWidth  = 190
	fontFamily   = "DejaVu Sans, Helvetica, Arial, sans-serif"
)

// Lines writes c as an SVG document to w. It returns only w's errors:
// data that cannot be drawn is left out, and a chart with nothing to draw
// says so in the plot area.
func Lines(w io.Writer, c Chart) error {
	width, height := c.Width, c.Height
	if width <= 0 {
		width = 900
	}
	if height <= 0 {
		height = 560
	}
	if c.XFormat == nil {
		c.XFormat = FormatTick
	}
	if c.YFormat == nil {
		c.YFormat = FormatTick
	}
	// The plot area.
	left, top := float64(marginLeft), float64(marginTop)
	if c.Subtitle == "" {
		top -= 18
	}
	right := float64(width - legendWidth)
	bottom := float64(height - marginBottom)
	if right-left < 50 {
		right = left + 50
	}
	if bottom-top < 50 {
		bottom = top + 50
	}

	xs, ys := c.values()
	xa := newAxis(xs, c.LogX)
	ya := newAxis(ys, c.LogY)
	px := func(v float64) float64 { return left + xa.frac(v)*(right-left) }
	py := func(v float64) float64 { return bottom - ya.frac(v)*(bottom-top) }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="13">
<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>
`, width, height, width, height, fontFamily, width, height)
	if c.Title != "" {
		fmt.Fprintf(&b, `<text x="%s" y="24" text-anchor="middle" font-size="17" font-weight="bold">%s</text>
`, num(float64(width)/2), esc(c.Title))
	}
	if c.Subtitle != "" {
		fmt.Fprintf(&b, `<text x="%s" y="44" text-anchor="middle" font-size="12" fill="#444444">%s</text>
`, num(float64(width)/2), esc(c.Subtitle))
	}

	// Grid and ticks.
	b.WriteString(`<g stroke="#eeeeee" stroke-width="1">` + "\n")
	for _, v := range xa.minor {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", num(px(v)), num(top), num(px(v)), num(bottom))
	}
	for _, v := range ya.minor {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", num(left), num(py(v)), num(right), num(py(v)))
	}
	b.WriteString("</g>\n" + `<g stroke="#cccccc" stroke-width="1">` + "\n")
	for _, v := range xa.ticks {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", num(px(v)), num(top), num(px(v)), num(bottom))
	}
	for _, v := range ya.ticks {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", num(left), num(py(v)), num(right), num(py(v)))
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#333333" stroke-width="1"/>
`, num(left), num(top), num(right-left), num(bottom-top))
	b.WriteString(`<g font-size="12" fill="#333333">` + "\n")
	for _, v := range xa.ticks {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/><text x="%s" y="%s" text-anchor="middle">%s</text>
`, num(px(v)), num(bottom), num(px(v)), num(bottom+5), num(px(v)), num(bottom+19), esc(c.XFormat(v)))
	}
	for _, v := range ya.ticks {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/><text x="%s" y="%s" text-anchor="end">%s</text>
`, num(left-5), num(py(v)), num(left), num(py(v)), num(left-8), num(py(v)+4), esc(c.YFormat(v)))
	}
	b.WriteString("</g>\n")
	if c.XLabel != "" {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>
`, num(left+(right-left)/2), num(bottom+44), esc(c.XLabel))
	}
	if c.YLabel != "" {
		cy := top + (bottom-top)/2
		fmt.Fprintf(&b, `<text x="20" y="%s" text-anchor="middle" transform="rotate(-90 20 %s)">%s</text>
`, num(cy), num(cy), esc(c.YLabel))
	}
	if len(xs) == 0 {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" fill="#888888">no data</text>
`, num(left+(right-left)/2), num(top+(bottom-top)/2))
	}

	// Series: lines, then markers and labels over them.
	for i, s := range c.Series {
		color := s.Color
		if color == "" {
			color = Palette(i)
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="7 4"`
		}
		var path strings.Builder
		move := true
		for _, p := range s.Points {
			if !xa.ok(p.X) || !ya.ok(p.Y) {
				move = true
				continue
			}
			cmd := "L"
			if move {
				cmd = "M"
			}
			if path.Len() > 0 {
				path.WriteByte(' ')
			}
			path.WriteString(cmd + num(px(p.X)) + " " + num(py(p.Y)))
			move = false
		}
		fmt.Fprintf(&b, `<g stroke="%s" fill="%s">
`, esc(color), esc(color))
		if path.Len() > 0 {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke-width="2"%s/>
`, path.String(), dash)
		}
		fill := esc(color)
		if s.Dashed {
			fill = "#ffffff"
		}
		for _, p := range s.Points {
			if !xa.ok(p.X) || !ya.ok(p.Y) {
				continue
			}
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3.5" fill="%s" stroke-width="1.5"/>
`, num(px(p.X)), num(py(p.Y)), fill)
			if p.Label != "" {
				fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="11" stroke="#ffffff" stroke-width="3" paint-order="stroke">%s</text>
`, num(px(p.X)+5), num(py(p.Y)-6), esc(p.Label))
			}
		}
		b.WriteString("</g>\n")
	}

	// Legend, right of the plot area.
	lx := right + 18
	for i, s := range c.Series {
		color := s.Color
		if color == "" {
			color = Palette(i)
		}
		y := top + 10 + float64(i)*20
		dash, fill := "", esc(color)
		if s.Dashed {
			dash, fill = ` stroke-dasharray="7 4"`, "#ffffff"
		}
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/><circle cx="%s" cy="%s" r="3.5" fill="%s" stroke="%s" stroke-width="1.5"/><text x="%s" y="%s" font-size="12">%s</text>
`, num(lx), num(y), num(lx+28), num(y), esc(color), dash, num(lx+14), num(y), fill, esc(color), num(lx+36), num(y+4), esc(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// values returns the finite coordinates of every point, by axis.
func (c *Chart) values() (xs, ys []float64) {
	for _, s := range c.Series {
		for _, p := range s.Points {
			if finite(p.X) && finite(p.Y) && (!c.LogX || p.X > 0) && (!c.LogY || p.Y > 0) {
				xs = append(xs, p.X)
				ys = append(ys, p.Y)
			}
		}
	}
	return xs, ys
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// axis maps values to a fraction of the plot's extent.
type axis struct {
	log          bool
	lo, hi       float64 // the domain; log10 of it on a log axis
	ticks, minor []float64
}

// newAxis fits an axis to vs (every value drawable on it).
func newAxis(vs []float64, log bool) axis {
	if log {
		return logAxis(vs)
	}
	return linearAxis(vs)
}

func linearAxis(vs []float64) axis {
	lo, hi := 0.0, 0.0 // linear axes include zero
	for _, v := range vs {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if lo == hi {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / 5)
	lo = math.Floor(lo/step) * step
	hi = math.Ceil(hi/step) * step
	a := axis{lo: lo, hi: hi}
	for i := 0; ; i++ {
		v := lo + float64(i)*step
		if v > hi+step/2 {
			break
		}
		a.ticks = append(a.ticks, clean(v, step))
	}
	return a
}

// niceStep returns the smallest of 1, 2 or 5 times a power of ten at or
// above raw (> 0).
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// clean rounds v to a multiple of step's precision, so 0.30000000000000004
// prints as 0.3.
func clean(v, step float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(step))-3)
	r := math.Round(v/p) * p
	if math.Abs(r) < p/2 {
		return 0
	}
	return r
}

// logAxis fits a log10 axis to vs (each > 0). Its ends are 1, 2 or 5
// times a power of ten around the data, or whole decades when it spans
// more than three and a half; it labels 1, 2 and 5 times each power of
// ten when it spans up to that, else every decade (or every other one
// past eight), with a grid line at each other multiple up to six decades.
func logAxis(vs []float64) axis {
	if len(vs) == 0 {
		vs = []float64{1, 10}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	steps := []float64{1, 2, 5}
	if math.Log10(hi)-math.Log10(lo) > 3.5 {
		steps = []float64{1}
	}
	// The 1-2-5 (or decade) values around the data.
	down := func(v float64) float64 {
		d := math.Floor(math.Log10(v) + 1e-9)
		for k := len(steps) - 1; k >= 0; k-- {
			if m := steps[k] * math.Pow(10, d); m <= v*(1+1e-9) {
				return m
			}
		}
		return math.Pow(10, d)
	}
	up := func(v float64) float64 {
		d := math.Floor(math.Log10(v) + 1e-9)
		for _, m := range append(steps[:len(steps):len(steps)], 10) {
			if m*math.Pow(10, d) >= v*(1-1e-9) {
				return m * math.Pow(10, d)
			}
		}
		return math.Pow(10, d+1)
	}
	l, h := down(lo), up(hi)
	if l >= h*(1-1e-9) { // one value, on a step
		l, h = down(l*(1-1e-6)), up(h*(1+1e-6))
	}
	a := axis{log: true, lo: math.Log10(l), hi: math.Log10(h)}
	span := a.hi - a.lo
	every := 1
	if span > 8 {
		every = int(math.Ceil(span / 8))
	}
	for d := int(math.Floor(a.lo + 1e-9)); float64(d) <= a.hi+1e-9; d++ {
		base := math.Pow(10, float64(d))
		for m := 1; m <= 9; m++ {
			v := float64(m) * base
			if v < l*(1-1e-9) || v > h*(1+1e-9) {
				continue
			}
			switch {
			case m == 1 && (d-int(math.Floor(a.lo+1e-9)))%every == 0:
				a.ticks = append(a.ticks, v)
			case (m == 2 || m == 5) && len(steps) == 3:
				a.ticks = append(a.ticks, v)
			case span <= 6:
				a.minor = append(a.minor, v)
			}
		}
	}
	return a
}

// ok reports whether v can be drawn on the axis.
func (a *axis) ok(v float64) bool { return finite(v) && (!a.log || v > 0) }

// frac returns v's position on the axis, 0 at lo and 1 at hi.
func (a *axis) frac(v float64) float64 {
	if a.log {
		v = math.Log10(v)
	}
	return (v - a.lo) / (a.hi - a.lo)
}

// FormatTick formats a tick value compactly: 0.5, 20, 150k, 1.5M, 2G.
func FormatTick(v float64) string {
	abs := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case abs >= 1e9:
		return short(v/1e9) + "G"
	case abs >= 1e6:
		return short(v/1e6) + "M"
	case abs >= 1e3:
		return short(v/1e3) + "k"
	}
	return short(v)
}

// short formats v with at most three significant digits.
func short(v float64) string {
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// num formats a coordinate with one decimal, without a trailing ".0".
func num(v float64) string {
	if !finite(v) {
		v = 0
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		s = "0"
	}
	return s
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xfffe || r == 0xffff {
				b.WriteRune('\ufffd')
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}
