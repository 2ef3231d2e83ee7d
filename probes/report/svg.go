package report

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Colours of series (d3's category10) and dash patterns, shared by the SVG
// and PNG writers.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
	"#7f7f7f", "#bcbd22", "#17becf"}

var dashes = []string{"", "6 3", "2 2", "8 3 2 3"}

func colorOf(i int) string { return palette[((i%len(palette))+len(palette))%len(palette)] }
func dashOf(i int) string  { return dashes[((i%len(dashes))+len(dashes))%len(dashes)] }

// esc escapes text for HTML and SVG.
func esc(s string) string { return html.EscapeString(s) }

// f1 formats a coordinate with one decimal, trimming ".0".
func f1(v float64) string {
	s := strconv.FormatFloat(math.Round(v*10)/10, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0")
}

// textWidth estimates the width of text in a sans-serif font of size px.
func textWidth(s string, px float64) float64 { return float64(len([]rune(s))) * px * 0.58 }

// ---- axes ----

// axis maps data values to pixels, linearly or on log10.
type axis struct {
	log      bool
	lo, hi   float64 // data range (log: of log10 values)
	p0, p1   float64 // pixel range
	ticks    []tick
	minorLog []float64 // minor tick positions (data values) on log axes
}

type tick struct {
	v     float64 // data value
	label string
}

func (a *axis) pos(v float64) float64 {
	if a.log {
		v = math.Log10(v)
	}
	return a.p0 + (v-a.lo)/(a.hi-a.lo)*(a.p1-a.p0)
}

// niceStep returns a 1, 2 or 5 × 10ᵏ step giving about n intervals over span.
func niceStep(span float64, n int) float64 {
	if !(span > 0) || math.IsInf(span, 0) {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / p; {
	case f < 1.5:
		return p
	case f < 3:
		return 2 * p
	case f < 7:
		return 5 * p
	}
	return 10 * p
}

var superDigits = []rune("⁰¹²³⁴⁵⁶⁷⁸⁹")

func superscript(n int) string {
	var b strings.Builder
	if n < 0 {
		b.WriteRune('⁻')
		n = -n
	}
	for _, c := range strconv.Itoa(n) {
		b.WriteRune(superDigits[c-'0'])
	}
	return b.String()
}

// linLabel formats a tick value v of a linear axis with tick spacing step.
func linLabel(v, step float64) string {
	if math.Abs(v) < step*1e-9 {
		return "0"
	}
	av := math.Abs(v)
	dec := func(scale float64) int { return max(0, int(math.Ceil(-math.Log10(step/scale)-1e-9))) }
	switch {
	case av >= 1e9 || av < 1e-4:
		s := strconv.FormatFloat(v, 'e', max(0, min(3, dec(math.Pow(10, math.Floor(math.Log10(av)))))), 64)
		mant, exp, _ := strings.Cut(s, "e")
		e, _ := strconv.Atoi(exp)
		return mant + "·10" + superscript(e)
	case av >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', dec(1e6), 64) + "M"
	case av >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', dec(1e3), 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', dec(1), 64)
}

// logLabel formats 10^e.
func logLabel(e int) string {
	switch {
	case e >= -3 && e <= 0:
		return strconv.FormatFloat(math.Pow(10, float64(e)), 'f', -e, 64)
	case e >= 1 && e <= 3:
		return strconv.Itoa(int(math.Pow(10, float64(e))))
	}
	return "10" + superscript(e)
}

// newAxis builds an axis over the data range [lo, hi] (log: values > 0).
// nice extends a linear range to whole ticks and a log range to whole decades
// when it spans at least one.
func newAxis(lo, hi float64, log, nice bool, p0, p1 float64, nTicks int) *axis {
	a := &axis{log: log, p0: p0, p1: p1}
	if log {
		lo, hi = math.Log10(lo), math.Log10(hi)
		if hi-lo < 1e-9 {
			lo, hi = lo-0.5, hi+0.5
		}
		if nice && hi-lo >= 1 {
			lo, hi = math.Floor(lo+1e-9), math.Ceil(hi-1e-9)
		}
		a.lo, a.hi = lo, hi
		e0, e1 := int(math.Ceil(lo-1e-9)), int(math.Floor(hi+1e-9))
		k := max(1, (e1-e0+nTicks-1)/nTicks)
		for e := e0; e <= e1; e++ {
			if (e-e0)%k == 0 {
				a.ticks = append(a.ticks, tick{math.Pow(10, float64(e)), logLabel(e)})
			}
		}
		if e1-e0 <= 6 {
			for e := e0 - 1; e <= e1; e++ {
				for m := 2; m <= 9; m++ {
					v := float64(m) * math.Pow(10, float64(e))
					if lv := math.Log10(v); lv >= lo-1e-9 && lv <= hi+1e-9 {
						a.minorLog = append(a.minorLog, v)
					}
				}
			}
		}
		if len(a.ticks) < 2 { // less than a decade: linear ticks, placed on the log scale
			a.ticks = a.ticks[:0]
			vlo, vhi := math.Pow(10, lo), math.Pow(10, hi)
			step := niceStep(vhi-vlo, nTicks)
			for v := math.Ceil(vlo/step-1e-9) * step; v <= vhi*(1+1e-9); v += step {
				if v > 0 {
					a.ticks = append(a.ticks, tick{v, linLabel(v, step)})
				}
			}
			sort.Slice(a.ticks, func(i, j int) bool { return a.ticks[i].v < a.ticks[j].v })
		}
		return a
	}
	if hi-lo < 1e-12*math.Max(1, math.Abs(hi)) {
		d := math.Max(math.Abs(lo)*0.1, 0.5)
		lo, hi = lo-d, hi+d
	}
	step := niceStep(hi-lo, nTicks)
	if nice {
		lo, hi = math.Floor(lo/step+1e-9)*step, math.Ceil(hi/step-1e-9)*step
	}
	a.lo, a.hi = lo, hi
	for v := math.Ceil(lo/step-1e-9) * step; v <= hi+step*1e-9; v += step {
		a.ticks = append(a.ticks, tick{v, linLabel(v, step)})
	}
	return a
}

// ticksFit reports whether the labels of a's ticks fit side by side in
// width at font size px, with a gap between them.
func ticksFit(a *axis, width, px float64) bool {
	w := 0.0
	for _, t := range a.ticks {
		w += textWidth(t.label, px) + px
	}
	return w <= width
}

// dataRange returns the range of the series' values on one axis.
func dataRange(c *Chart, y bool) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		vs := s.X
		if y {
			vs = s.Y
		}
		for _, v := range vs {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return lo, hi, lo <= hi
}

// ---- line charts ----

// chartLayout is the geometry of a line chart.
type chartLayout struct {
	w, plotH             float64
	left, right, top, bt float64
	font, title          float64
}

var (
	normalLayout = chartLayout{w: 396, plotH: 220, left: 62, right: 16, top: 30, bt: 44, font: 12, title: 13}
	smallLayout  = chartLayout{w: 230, plotH: 110, left: 44, right: 10, top: 20, bt: 26, font: 10, title: 11}
)

// maxLegend bounds the legend entries drawn (a tied run with D = 100 has 100
// σ components); the rest are summed up as "+ N more".
const maxLegend = 24

// legendSeries returns the series named in the legend and how many are not.
func legendSeries(c *Chart) ([]*Series, int) {
	if len(c.Series) > maxLegend {
		return c.Series[:maxLegend-1], len(c.Series) - (maxLegend - 1)
	}
	return c.Series, 0
}

// legendLayout places legend entries in rows below the plot.
func legendLayout(c *Chart, width, px float64) (pos [][2]float64, rows int) {
	x, row := 0.0, 0
	series, more := legendSeries(c)
	names := make([]string, 0, len(series)+1)
	for _, s := range series {
		names = append(names, s.Name)
	}
	if more > 0 {
		names = append(names, fmt.Sprintf("+ %d more", more))
	}
	for _, name := range names {
		w := 30 + textWidth(name, px) + 14
		if x > 0 && x+w > width {
			x, row = 0, row+1
		}
		pos = append(pos, [2]float64{x, float64(row)})
		x += w
	}
	if len(names) > 0 {
		rows = row + 1
	}
	return pos, rows
}

// chartSVG draws a line chart as an <svg class="chart">.
func chartSVG(c *Chart) string {
	lay := normalLayout
	if c.Small {
		lay = smallLayout
	}
	plotW := lay.w - lay.left - lay.right
	var legendPos [][2]float64
	legendRows := 0
	if !c.Small && (len(c.Series) > 1 || (len(c.Series) == 1 && c.Series[0].Name != "")) {
		legendPos, legendRows = legendLayout(c, plotW, lay.font)
	}
	h := lay.top + lay.plotH + lay.bt + float64(legendRows)*17
	if c.Dropped > 0 && !c.Small {
		h += 14
	}
	if c.Caption != "" && !c.Small {
		h += 16
	}
	var b strings.Builder
	class := "chart"
	if c.Small {
		class = "chart small"
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="%s" id="%s" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-label="%s">`,
		class, esc(c.ID), f1(lay.w), f1(h), f1(lay.w), f1(h), esc(c.Title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))
	fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="%s" font-weight="600" text-anchor="middle">%s</text>`,
		f1(lay.w/2), f1(lay.title+2), f1(lay.title), esc(c.Title))
	x0, x1 := lay.left, lay.left+plotW
	y0, y1 := lay.top+lay.plotH, lay.top // pixel y of the axis bottom and top
	xlo, xhi, okx := dataRange(c, false)
	ylo, yhi, oky := dataRange(c, true)
	if !okx || !oky {
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="%s" text-anchor="middle" fill="#888">no data</text></svg>`,
			f1(lay.w/2), f1(lay.top+lay.plotH/2), f1(lay.font))
		return b.String()
	}
	if c.Scatter { // the axes reach 0, so that the signs show
		if !c.XLog {
			xlo, xhi = min(xlo, 0), max(xhi, 0)
		}
		if !c.YLog {
			ylo, yhi = min(ylo, 0), max(yhi, 0)
		}
	}
	nx, ny := 6, 5
	if c.Small {
		nx, ny = 3, 4
	}
	xa := newAxis(xlo, xhi, c.XLog, c.Scatter, x0, x1, nx)
	for nx > 2 && !ticksFit(xa, plotW, lay.font) { // wide labels (such as 5·10⁻⁷): fewer ticks
		nx--
		xa = newAxis(xlo, xhi, c.XLog, c.Scatter, x0, x1, nx)
	}
	var ya *axis
	if c.YRange != nil && !c.YLog {
		ya = newAxis(c.YRange[0], c.YRange[1], false, false, y0, y1, ny)
	} else {
		ya = newAxis(ylo, yhi, c.YLog, true, y0, y1, ny)
	}
	// frame, grid lines and ticks
	fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="#fff" stroke="#bbb"/>`, f1(x0), f1(y1), f1(plotW), f1(lay.plotH))
	b.WriteString(`<g stroke="#eee">`)
	for _, t := range ya.ticks {
		if p := ya.pos(t.v); p < y0-0.5 && p > y1+0.5 {
			fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(x0), f1(x1), f1(p), f1(p))
		}
	}
	for _, t := range xa.ticks {
		if p := xa.pos(t.v); p > x0+0.5 && p < x1-0.5 {
			fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(p), f1(p), f1(y0), f1(y1))
		}
	}
	if c.Scatter { // the zero lines split the plot into agreeing and disagreeing quadrants
		if !ya.log && ya.lo <= 0 && ya.hi >= 0 {
			p := ya.pos(0)
			fmt.Fprintf(&b, `<line class="zero" stroke="#999" x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(x0), f1(x1), f1(p), f1(p))
		}
		if !xa.log && xa.lo <= 0 && xa.hi >= 0 {
			p := xa.pos(0)
			fmt.Fprintf(&b, `<line class="zero" stroke="#999" x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(p), f1(p), f1(y0), f1(y1))
		}
	}
	b.WriteString(`</g><g stroke="#999">`)
	for _, v := range xa.minorLog {
		p := xa.pos(v)
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(p), f1(p), f1(y0), f1(y0+3))
	}
	for _, v := range ya.minorLog {
		p := ya.pos(v)
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(x0-3), f1(x0), f1(p), f1(p))
	}
	for _, t := range xa.ticks {
		p := xa.pos(t.v)
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(p), f1(p), f1(y0), f1(y0+5))
	}
	for _, t := range ya.ticks {
		p := ya.pos(t.v)
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s"/>`, f1(x0-5), f1(x0), f1(p), f1(p))
	}
	b.WriteString(`</g>`)
	fmt.Fprintf(&b, `<g font-size="%s" fill="#333">`, f1(lay.font))
	for _, t := range xa.ticks {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`, f1(xa.pos(t.v)), f1(y0+7+lay.font), esc(t.label))
	}
	for _, t := range ya.ticks {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end">%s</text>`, f1(x0-7), f1(ya.pos(t.v)+lay.font*0.35), esc(t.label))
	}
	if !c.Small {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`, f1((x0+x1)/2), f1(y0+2*lay.font+14), esc(c.XLabel))
		fmt.Fprintf(&b, `<text transform="translate(%s,%s) rotate(-90)" text-anchor="middle">%s</text>`,
			f1(14), f1((y0+y1)/2), esc(c.YLabel))
	}
	b.WriteString(`</g>`)
	// series, clipped to the plot area
	clip := "clip-" + c.ID
	fmt.Fprintf(&b, `<clipPath id="%s"><rect x="%s" y="%s" width="%s" height="%s"/></clipPath>`,
		esc(clip), f1(x0-3), f1(y1-3), f1(plotW+6), f1(lay.plotH+6))
	fmt.Fprintf(&b, `<g clip-path="url(#%s)" fill="none" stroke-width="%s" stroke-linejoin="round">`, esc(clip), map[bool]string{true: "1.2", false: "1.6"}[c.Small])
	for _, s := range c.Series {
		if c.Scatter {
			xs, ys := thinPoints(s.X, s.Y, maxScatterPoints)
			fmt.Fprintf(&b, `<g class="points" data-name="%s" fill="%s" fill-opacity="0.6" stroke="none">`, esc(s.Name), colorOf(s.Color))
			for i := range xs {
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.2"/>`, f1(xa.pos(xs[i])), f1(ya.pos(ys[i])))
			}
			b.WriteString(`</g>`)
			continue
		}
		xs, ys := Downsample(s.X, s.Y, int(plotW))
		dash := ""
		if d := dashOf(s.Dash); d != "" {
			dash = ` stroke-dasharray="` + d + `"`
		}
		col := colorOf(s.Color)
		fmt.Fprintf(&b, `<polyline class="series" data-name="%s" stroke="%s"%s points="`, esc(s.Name), col, dash)
		for i := range xs {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f1(xa.pos(xs[i])))
			b.WriteByte(',')
			b.WriteString(f1(ya.pos(ys[i])))
		}
		b.WriteString(`"/>`)
		if len(xs) <= 40 {
			fmt.Fprintf(&b, `<g fill="%s" stroke="none">`, col)
			r := map[bool]string{true: "1.8", false: "2.4"}[c.Small]
			for i := range xs {
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="%s"/>`, f1(xa.pos(xs[i])), f1(ya.pos(ys[i])), r)
			}
			b.WriteString(`</g>`)
		}
	}
	b.WriteString(`</g>`)
	// legend
	ly := y0 + lay.bt + 8
	if legendRows > 0 {
		fmt.Fprintf(&b, `<g class="legend" font-size="%s" fill="#333">`, f1(lay.font))
		series, more := legendSeries(c)
		if more > 0 {
			p := legendPos[len(legendPos)-1]
			fmt.Fprintf(&b, `<text x="%s" y="%s">+ %d more</text>`, f1(x0+p[0]), f1(ly+p[1]*17+lay.font*0.35), more)
		}
		for i, s := range series {
			px, py := x0+legendPos[i][0], ly+legendPos[i][1]*17
			if c.Scatter {
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`, f1(px+12), f1(py), colorOf(s.Color))
				fmt.Fprintf(&b, `<text x="%s" y="%s">%s</text>`, f1(px+30), f1(py+lay.font*0.35), esc(s.Name))
				continue
			}
			dash := ""
			if d := dashOf(s.Dash); d != "" {
				dash = ` stroke-dasharray="` + d + `"`
			}
			fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="2"%s/>`,
				f1(px), f1(px+24), f1(py), f1(py), colorOf(s.Color), dash)
			fmt.Fprintf(&b, `<text x="%s" y="%s">%s</text>`, f1(px+30), f1(py+lay.font*0.35), esc(s.Name))
		}
		b.WriteString(`</g>`)
	}
	if c.Caption != "" && !c.Small {
		cy := h - 6
		if c.Dropped > 0 {
			cy -= 14
		}
		fmt.Fprintf(&b, `<text class="caption" x="%s" y="%s" font-size="11" fill="#333">%s</text>`, f1(x0), f1(cy), esc(c.Caption))
	}
	if c.Dropped > 0 && !c.Small {
		what := "points"
		if c.Dropped == 1 {
			what = "point"
		}
		fmt.Fprintf(&b, `<text class="dropped" x="%s" y="%s" font-size="10" fill="#888">%d %s not drawn: undefined (NaN), or ≤ 0 on a log axis (such as step 0)</text>`,
			f1(x0), f1(h-4), c.Dropped, what)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// maxScatterPoints bounds the dots drawn per scatter series; a series with
// more is thinned to every k-th point when drawn (the chart keeps them all).
const maxScatterPoints = 3000

// thinPoints returns at most n of the points (x, y): all of them, or every
// k-th with k the smallest stride that fits.
func thinPoints(x, y []float64, n int) ([]float64, []float64) {
	if len(x) <= n || n <= 0 {
		return x, y
	}
	k := (len(x) + n - 1) / n
	xs, ys := make([]float64, 0, n), make([]float64, 0, n)
	for i := 0; i < len(x); i += k {
		xs, ys = append(xs, x[i]), append(ys, y[i])
	}
	return xs, ys
}

// ---- heatmaps ----

// Sequential (YlGnBu) and diverging (RdBu reversed) colour ramps.
var (
	seqRamp = []string{"#ffffd9", "#edf8b1", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#253494", "#081d58"}
	divRamp = []string{"#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b"}
)

// heatLevels is the number of colours a heatmap is quantized to.
const heatLevels = 64

func parseHex(s string) (r, g, b uint8) {
	v, _ := strconv.ParseUint(s[1:], 16, 32)
	return uint8(v >> 16), uint8(v >> 8), uint8(v)
}

// rampRGB interpolates the ramp at t ∈ [0, 1].
func rampRGB(ramp []string, t float64) (r, g, b uint8) {
	t = min(max(t, 0), 1) * float64(len(ramp)-1)
	i := min(int(t), len(ramp)-2)
	f := t - float64(i)
	r0, g0, b0 := parseHex(ramp[i])
	r1, g1, b1 := parseHex(ramp[i+1])
	mix := func(a, b uint8) uint8 { return uint8(math.Round(float64(a)*(1-f) + float64(b)*f)) }
	return mix(r0, r1), mix(g0, g1), mix(b0, b1)
}

func (h *Heatmap) ramp() []string {
	if h.VMin < 0 {
		return divRamp
	}
	return seqRamp
}

// level quantizes v to [0, heatLevels).
func (h *Heatmap) level(v float64) int {
	span := h.VMax - h.VMin
	if !(span > 0) || math.IsNaN(v) {
		return 0
	}
	return min(max(int(math.Round((v-h.VMin)/span*(heatLevels-1))), 0), heatLevels-1)
}

func (h *Heatmap) levelColor(l int) string {
	r, g, b := rampRGB(h.ramp(), float64(l)/(heatLevels-1))
	return fmt.Sprintf("#%02x%02x%02x", r, g, b)
}

// heatCell is the pixel size of one cell for T positions.
func heatCell(T int) int { return min(max(216/max(T, 1), 3), 18) }

// heatmapSVG draws one attention map as an <svg class="heatmap">: rows are
// queries (top to bottom), columns keys (left to right).
func heatmapSVG(hm *Heatmap) string {
	T := len(hm.Values)
	cs := heatCell(T)
	every := 1
	if cs < 8 {
		every = (8 + cs - 1) / cs
	}
	font := float64(min(11, max(7, cs-1)))
	labels := make([]string, T)
	maxChars := 1
	for i := range labels {
		l := []rune(hm.Labels[i])
		if len(l) > 6 {
			l = append(l[:5], '…')
		}
		labels[i] = string(l)
		if i%every == 0 {
			maxChars = max(maxChars, len(l))
		}
	}
	lw := float64(maxChars)*font*0.62 + 6
	left, top := lw+4, 20.0
	side := float64(cs * T)
	right := 52.0
	w, h := left+side+right, top+side+lw+6
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" id="%s" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-label="%s">`,
		esc(hm.ID), f1(w), f1(h), f1(w), f1(h), esc(hm.Title))
	fmt.Fprintf(&b, `<title>%s (rows: queries, columns: keys)</title>`, esc(hm.Title))
	fmt.Fprintf(&b, `<text x="%s" y="14" font-size="12" font-weight="600" text-anchor="middle">%s</text>`, f1(left+side/2), esc(hm.Title))
	// cells: a background of the most common colour, then one path per other colour
	counts := make([]int, heatLevels)
	lv := make([][]int, T)
	for i, row := range hm.Values {
		lv[i] = make([]int, len(row))
		for j, v := range row {
			lv[i][j] = hm.level(float64(v))
			counts[lv[i][j]]++
		}
	}
	bg := 0
	for l, n := range counts {
		if n > counts[bg] {
			bg = l
		}
	}
	fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, f1(left), f1(top), f1(side), f1(side), hm.levelColor(bg))
	paths := make([]strings.Builder, heatLevels)
	for i := range lv {
		for j, l := range lv[i] {
			if l != bg {
				fmt.Fprintf(&paths[l], "M%s %sh%dv%dh-%dz", f1(left+float64(j*cs)), f1(top+float64(i*cs)), cs, cs, cs)
			}
		}
	}
	for l := range paths {
		if paths[l].Len() > 0 {
			fmt.Fprintf(&b, `<path fill="%s" d="%s"/>`, hm.levelColor(l), paths[l].String())
		}
	}
	fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#999"/>`, f1(left), f1(top), f1(side), f1(side))
	// position labels: rows on the left, keys rotated below
	fmt.Fprintf(&b, `<g font-size="%s" fill="#333">`, f1(font))
	for i := 0; i < T; i += every {
		c := float64(i*cs) + float64(cs)/2
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end">%s</text>`, f1(left-3), f1(top+c+font*0.35), esc(labels[i]))
		fmt.Fprintf(&b, `<text transform="translate(%s,%s) rotate(-90)" text-anchor="end">%s</text>`,
			f1(left+c+font*0.35), f1(top+side+3), esc(labels[i]))
	}
	b.WriteString(`</g>`)
	// colour bar
	gid := "grad-" + hm.ID
	bx := left + side + 8
	fmt.Fprintf(&b, `<defs><linearGradient id="%s" x1="0" y1="1" x2="0" y2="0">`, esc(gid))
	ramp := hm.ramp()
	for k, c := range ramp {
		fmt.Fprintf(&b, `<stop offset="%s" stop-color="%s"/>`, f1(float64(k)/float64(len(ramp)-1)*100)+"%", c)
	}
	b.WriteString(`</linearGradient></defs>`)
	fmt.Fprintf(&b, `<rect x="%s" y="%s" width="8" height="%s" fill="url(#%s)" stroke="#999" stroke-width="0.5"/>`,
		f1(bx), f1(top), f1(side), esc(gid))
	fmt.Fprintf(&b, `<g font-size="9" fill="#333"><text x="%s" y="%s">%s</text><text x="%s" y="%s">%s</text></g>`,
		f1(bx+11), f1(top+7), esc(fmtNum(hm.VMax)), f1(bx+11), f1(top+side), esc(fmtNum(hm.VMin)))
	b.WriteString(`</svg>`)
	return b.String()
}
