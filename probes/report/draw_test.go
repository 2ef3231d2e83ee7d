package report

import (
	"bytes"
	"encoding/xml"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestDownsample(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n, buckets := 100_000, 200
	x, y := make([]float64, n), make([]float64, n)
	for i := range x {
		x[i] = float64(i)
		y[i] = math.Sin(float64(i)/500) + rng.NormFloat64()*0.1
	}
	y[31_337] = 50 // a spike must survive
	xs, ys := Downsample(x, y, buckets)
	if len(xs) > 4*buckets || len(xs) < buckets {
		t.Fatalf("%d points for %d buckets", len(xs), buckets)
	}
	if xs[0] != 0 || xs[len(xs)-1] != float64(n-1) || !slices.IsSorted(xs) {
		t.Errorf("first %v last %v sorted %v", xs[0], xs[len(xs)-1], slices.IsSorted(xs))
	}
	// each bucket keeps its min and max
	per := n / buckets
	for b := 0; b < buckets; b++ {
		lo, hi := slices.Min(y[b*per:(b+1)*per]), slices.Max(y[b*per:(b+1)*per])
		var got []float64
		for i, xv := range xs {
			if int(xv)/per == b {
				got = append(got, ys[i])
			}
		}
		if !slices.Contains(got, lo) || !slices.Contains(got, hi) {
			t.Fatalf("bucket %d lost its min %v or max %v: %v", b, lo, hi, got)
		}
	}
	if !slices.Contains(ys, 50) {
		t.Error("the spike was lost")
	}
	for i := range xs { // every kept point is a real one
		if y[int(xs[i])] != ys[i] {
			t.Fatalf("point %v: %v is not the data's %v", xs[i], ys[i], y[int(xs[i])])
		}
	}
	short := []float64{1, 2, 3}
	if sx, _ := Downsample(short, short, 1); len(sx) != 3 {
		t.Errorf("a short series was changed: %v", sx)
	}
}

func TestAxisTicks(t *testing.T) {
	labels := func(a *axis) []string {
		var out []string
		for _, tk := range a.ticks {
			out = append(out, tk.label)
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		lo, hi   float64
		log      bool
		want     []string
		from, to float64 // the axis range after widening
	}{
		{"unit", 0.03, 0.97, false, []string{"0", "0.2", "0.4", "0.6", "0.8", "1.0"}, 0, 1},
		{"steps", 0, 100_000, false, []string{"0", "20k", "40k", "60k", "80k", "100k"}, 0, 100_000},
		{"decades", 1, 1e6, true, []string{"1", "100", "10⁴", "10⁶"}, 0, 6}, // every other decade for 5 ticks
		{"small", 2e-5, 3e-2, true, []string{"10⁻⁵", "10⁻⁴", "0.001", "0.01", "0.1"}, -5, -1},
		{"under a decade", 2, 7, true, []string{"2", "3", "4", "5", "6", "7"}, math.Log10(2), math.Log10(7)},
		{"a third of a decade", 0.055, 0.19, true, []string{"0.06", "0.08", "0.10", "0.12", "0.14", "0.16", "0.18"}, math.Log10(0.055), math.Log10(0.19)},
		{"constant", 3, 3, false, []string{"2.4", "2.6", "2.8", "3.0", "3.2", "3.4", "3.6"}, 2.4, 3.6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAxis(tc.lo, tc.hi, tc.log, true, 0, 100, 5)
			if got := labels(a); !slices.Equal(got, tc.want) {
				t.Errorf("ticks %v, want %v", got, tc.want)
			}
			if math.Abs(a.lo-tc.from) > 1e-9 || math.Abs(a.hi-tc.to) > 1e-9 {
				t.Errorf("range [%v, %v], want [%v, %v]", a.lo, a.hi, tc.from, tc.to)
			}
			if p := a.pos(tc.lo); p < -1e-9 || p > 100+1e-9 {
				t.Errorf("data minimum at pixel %v, outside the axis", p)
			}
		})
	}
}

// wellFormed parses an SVG fragment as XML.
func wellFormed(t *testing.T, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%.300s", err, svg)
		}
	}
}

var pointsRE = regexp.MustCompile(`points="([^"]*)"`)

func TestChartSVG(t *testing.T) {
	n := 50_000
	x, y := make([]float64, n), make([]float64, n)
	for i := range x {
		x[i], y[i] = float64(i), 1/float64(i+1)
	}
	c := &Chart{ID: "big", Title: `loss <&> "quotes"`, XLabel: "step", YLabel: "loss", YLog: true}
	c.addSeries("train", 0, 0, 0, x, y)
	c.addSeries("nan", 0, 1, 1, []float64{1, 2, 3}, []float64{math.NaN(), 0, 2})
	if c.Dropped != 2 || len(c.Series[1].X) != 1 {
		t.Fatalf("dropped %d, kept %v", c.Dropped, c.Series[1].X)
	}
	svg := chartSVG(c)
	wellFormed(t, svg)
	m := pointsRE.FindAllStringSubmatch(svg, -1)
	if len(m) != 2 {
		t.Fatalf("%d polylines, want 2", len(m))
	}
	if pts := len(strings.Fields(m[0][1])); pts > 4*int(normalLayout.w) || pts < 100 {
		t.Errorf("%d points drawn for %d", pts, n)
	}
	if !strings.Contains(svg, "loss &lt;&amp;&gt; &#34;quotes&#34;") || !strings.Contains(svg, "2 points not drawn") {
		t.Error("title not escaped or dropped points not reported")
	}
	many := &Chart{ID: "many", Title: "σ(a)"}
	for i := range 30 {
		many.addSeries("σ"+subscript(i+1), 0, i, 0, []float64{0, 1}, []float64{0, float64(i)})
	}
	ms := chartSVG(many)
	wellFormed(t, ms)
	if !strings.Contains(ms, "+ 7 more") || strings.Contains(ms, ">σ₂₄<") || !strings.Contains(ms, ">σ₂₃<") ||
		strings.Count(ms, `class="series"`) != 30 {
		t.Error("a legend of 30 series should name 23 and count 7 more, and all 30 lines drawn")
	}
	empty := chartSVG(&Chart{ID: "e", Title: "empty"})
	wellFormed(t, empty)
	if !strings.Contains(empty, "no data") {
		t.Error("an empty chart should say so")
	}
	hm := &Heatmap{ID: "h", Title: "L0 H0", Labels: []string{"BOS", "a very long token", "c"}, VMin: 0, VMax: 1,
		Values: [][]float32{{1, 0, 0}, {0.5, 0.5, 0}, {0.2, 0.3, 0.5}}}
	hs := heatmapSVG(hm)
	wellFormed(t, hs)
	if !strings.Contains(hs, "a ver…") || !strings.Contains(hs, `class="heatmap"`) {
		t.Error("heatmap labels")
	}
	if hm.level(1) != heatLevels-1 || hm.level(0) != 0 || hm.level(0.5) != 32 {
		t.Errorf("levels %d %d %d", hm.level(0), hm.level(0.5), hm.level(1))
	}
	signed := &Heatmap{VMin: -2, VMax: 2}
	r, g, b := parseHex(signed.levelColor(signed.level(0)))
	if r < 0xf0 || g < 0xf0 || b < 0xf0 {
		t.Errorf("0 on a signed scale is %s, want near white", signed.levelColor(signed.level(0)))
	}
}

// TestHTMLSelfContained: the page has no script and refers to nothing
// outside itself.
func TestHTMLSelfContained(t *testing.T) {
	fixedRuns(t)
	rep := mustGenerate(t, softmaxRun, sigmoidRun, theoryRun)
	var buf bytes.Buffer
	if err := rep.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Error("the page has a script")
	}
	for _, m := range regexp.MustCompile(`(?:href|src)="([^"]*)"|url\(([^)]*)\)|https?://[^"\s<]*`).FindAllStringSubmatch(page, -1) {
		ref := m[0]
		switch {
		case strings.HasPrefix(ref, `href="#`), strings.HasPrefix(ref, "url(#"), ref == "http://www.w3.org/2000/svg":
		default:
			t.Errorf("external reference %s", ref)
		}
	}
	lines, small, heat := rep.NumCharts()
	if got := strings.Count(page, `<svg xmlns="http://www.w3.org/2000/svg" class="chart"`); got != lines {
		t.Errorf("%d full-size charts in the page, want %d", got, lines)
	}
	if got := strings.Count(page, `class="chart small"`); got != small {
		t.Errorf("%d small multiples, want %d", got, small)
	}
	if got := strings.Count(page, `class="heatmap"`); got != heat {
		t.Errorf("%d heatmaps, want %d", got, heat)
	}
	ids := regexp.MustCompile(` id="([^"]+)"`).FindAllStringSubmatch(page, -1)
	seen := map[string]bool{}
	for _, m := range ids {
		if seen[m[1]] {
			t.Errorf("id %q used twice", m[1])
		}
		seen[m[1]] = true
	}
	for _, s := range []string{"softmax", "sigmoid", "theory", "induction", "Sink₁^ε"} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	// written atomically: no temporary file is left
	dir := t.TempDir()
	if err := rep.WriteHTMLFile(filepath.Join(dir, "r.html")); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d files after writing", len(entries))
	}
}

func TestWritePNGs(t *testing.T) {
	fixedRuns(t)
	rep := mustGenerate(t, softmaxRun, theoryRun)
	dir := filepath.Join(t.TempDir(), "png")
	paths, err := rep.WritePNGs(dir)
	if err != nil {
		t.Fatal(err)
	}
	lines, _, _ := rep.NumCharts()
	grids, groups := 0, 0
	for _, s := range rep.Sections {
		grids += len(s.Grids)
		groups += len(s.Heatmaps)
	}
	if len(paths) != lines+grids+groups {
		t.Fatalf("%d files, want %d charts + %d grids + %d heatmap groups", len(paths), lines, grids, groups)
	}
	for _, want := range []string{"loss.png", "grid-entropy.png", "attn-r0-s40.png", "theory-logistic-softmax-weights.png"} {
		b, err := os.ReadFile(filepath.Join(dir, want))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		if r := img.Bounds(); r.Dx() < 400 || r.Dy() < 300 {
			t.Errorf("%s is %v", want, r)
		}
	}
}
