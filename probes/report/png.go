package report

import (
	"bytes"
	"fmt"
	"github.com/sinklab/sinklab/checkpoints/atomicfile"
	"image/color"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PNG output: the same chart data drawn by gonum.org/v1/plot, for papers and
// slides.

// pngDPI is the resolution of the PNG files.
const pngDPI = 144

func rgba(hex string) color.RGBA {
	r, g, b := parseHex(hex)
	return color.RGBA{R: r, G: g, B: b, A: 255}
}

func dashLengths(i int) []vg.Length {
	var out []vg.Length
	for _, f := range strings.Fields(dashOf(i)) {
		v, _ := strconv.ParseFloat(f, 64)
		out = append(out, vg.Points(v))
	}
	return out
}

// linePlot builds the gonum plot of a line chart, downsampled to about px
// columns.
func linePlot(c *Chart, px int, legend bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text, p.Y.Label.Text = c.XLabel, c.YLabel
	if c.Small {
		p.Title.TextStyle.Font.Size = vg.Points(9)
		p.X.Label.Text, p.Y.Label.Text = "", ""
		p.X.Tick.Label.Font.Size = vg.Points(7)
		p.Y.Tick.Label.Font.Size = vg.Points(7)
	}
	if c.XLog {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	if c.YLog {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	named, _ := legendSeries(c)
	for k, s := range c.Series {
		if c.Scatter {
			xs, ys := thinPoints(s.X, s.Y, maxScatterPoints)
			pts := make(plotter.XYs, len(xs))
			for i := range xs {
				pts[i].X, pts[i].Y = xs[i], ys[i]
			}
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, fmt.Errorf("report: chart %s, series %q: %w", c.ID, s.Name, err)
			}
			sc.GlyphStyle.Color = rgba(colorOf(s.Color))
			sc.GlyphStyle.Radius = vg.Points(1.6)
			sc.GlyphStyle.Shape = draw.CircleGlyph{}
			p.Add(sc)
			if legend && s.Name != "" && k < len(named) {
				p.Legend.Add(s.Name, sc)
			}
			continue
		}
		xs, ys := Downsample(s.X, s.Y, px)
		pts := make(plotter.XYs, len(xs))
		for i := range xs {
			pts[i].X, pts[i].Y = xs[i], ys[i]
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("report: chart %s, series %q: %w", c.ID, s.Name, err)
		}
		l.Color = rgba(colorOf(s.Color))
		l.Width = vg.Points(1.3)
		l.Dashes = dashLengths(s.Dash)
		p.Add(l)
		if legend && s.Name != "" && k < len(named) {
			p.Legend.Add(s.Name, l)
		}
	}
	if c.YRange != nil && !c.YLog {
		p.Y.Min, p.Y.Max = c.YRange[0], c.YRange[1]
	}
	p.Legend.Top = true
	return p, nil
}

// renderPNG draws fn on a w × h canvas and encodes it.
func renderPNG(w, h vg.Length, fn func(dc draw.Canvas)) ([]byte, error) {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI))
	dc := draw.New(img)
	fn(dc)
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// heatGrid adapts a Heatmap to plotter.GridXYZ: column j is key j, row r is
// query T−1−r so that query 0 is on top.
type heatGrid struct{ h *Heatmap }

func (g heatGrid) Dims() (c, r int)   { return len(g.h.Values), len(g.h.Values) }
func (g heatGrid) Z(c, r int) float64 { return float64(g.h.Values[len(g.h.Values)-1-r][c]) }
func (g heatGrid) X(c int) float64    { return float64(c) }
func (g heatGrid) Y(r int) float64    { return float64(r) }

// heatPalette is a quantized ramp as a gonum palette.
type heatPalette []color.Color

func (p heatPalette) Colors() []color.Color { return p }

func heatmapPlot(h *Heatmap) *plot.Plot {
	p := plot.New()
	p.Title.Text = h.Title
	p.Title.TextStyle.Font.Size = vg.Points(9)
	pal := make(heatPalette, heatLevels)
	for l := range pal {
		pal[l] = rgba(h.levelColor(l))
	}
	hm := plotter.NewHeatMap(heatGrid{h}, pal)
	hm.Min, hm.Max = h.VMin, h.VMax
	if !(hm.Max > hm.Min) {
		hm.Max = hm.Min + 1
	}
	p.Add(hm)
	T := len(h.Values)
	every := max(1, (T+15)/16)
	var xt, yt plot.ConstantTicks
	for i := 0; i < T; i += every {
		xt = append(xt, plot.Tick{Value: float64(i), Label: h.Labels[i]})
		yt = append(yt, plot.Tick{Value: float64(T - 1 - i), Label: h.Labels[i]})
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = xt, yt
	p.X.Tick.Label.Font.Size = vg.Points(6)
	p.Y.Tick.Label.Font.Size = vg.Points(6)
	p.X.Tick.Label.Rotation = math.Pi / 2
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	return p
}

// tiles draws a grid of plots (nil cells left blank) under a title.
func tiles(title string, plots [][]*plot.Plot, cellW, cellH vg.Length) ([]byte, error) {
	rows, cols := len(plots), len(plots[0])
	t := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(6), PadY: vg.Points(6), PadTop: vg.Points(4),
		PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(4)}
	head := vg.Points(22)
	return renderPNG(cellW*vg.Length(cols), cellH*vg.Length(rows)+head, func(dc draw.Canvas) {
		sty := plot.New().Title.TextStyle
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
		dc.FillText(sty, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y - vg.Points(4)}, title)
		cs := plot.Align(plots, t, draw.Crop(dc, 0, 0, 0, -head))
		for i := range plots {
			for j, p := range plots[i] {
				if p != nil {
					p.Draw(cs[i][j])
				}
			}
		}
	})
}

// WritePNGs writes every drawing of the report as a PNG file into dir
// (created if needed): <chart id>.png for each line chart, <grid id>.png for
// each grid of small multiples and <group id>.png for each group of
// attention heatmaps. Files are written atomically. It returns the paths.
func (r *Report) WritePNGs(dir string) ([]string, error) {
	if err := ensureDir(dir); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var paths []string
	write := func(id string, data []byte, err error) error {
		if err != nil {
			return fmt.Errorf("report: draw %s: %w", id, err)
		}
		path := filepath.Join(dir, sanitizeID(id)+".png")
		if err := atomicfile.WriteFile(path, data); err != nil {
			return fmt.Errorf("report: write %s: %w", path, err)
		}
		paths = append(paths, path)
		return nil
	}
	for _, s := range r.Sections {
		for _, c := range s.Charts {
			p, err := linePlot(c, 800, true)
			if err != nil {
				return paths, err
			}
			data, err := renderPNG(6*vg.Inch, 4*vg.Inch, func(dc draw.Canvas) { p.Draw(dc) })
			if err := write(c.ID, data, err); err != nil {
				return paths, err
			}
		}
		for _, g := range s.Grids {
			plots := make([][]*plot.Plot, len(g.Cells))
			for i, row := range g.Cells {
				plots[i] = make([]*plot.Plot, len(row))
				for j, c := range row {
					if c == nil {
						continue
					}
					p, err := linePlot(c, 300, i == 0 && j == 0 && len(g.Legend) > 0)
					if err != nil {
						return paths, err
					}
					plots[i][j] = p
				}
			}
			if len(plots) == 0 || len(plots[0]) == 0 {
				continue
			}
			data, err := tiles(g.Title, plots, 2.4*vg.Inch, 1.8*vg.Inch)
			if err := write(g.ID, data, err); err != nil {
				return paths, err
			}
		}
		for _, g := range s.Heatmaps {
			if len(g.Maps) == 0 || len(g.Maps[0]) == 0 {
				continue
			}
			plots := make([][]*plot.Plot, len(g.Maps))
			for i, row := range g.Maps {
				plots[i] = make([]*plot.Plot, len(g.Maps[0]))
				for j, h := range row {
					if j < len(plots[i]) {
						plots[i][j] = heatmapPlot(h)
					}
				}
			}
			data, err := tiles(g.Title, plots, 2.4*vg.Inch, 2.4*vg.Inch)
			if err := write(g.ID, data, err); err != nil {
				return paths, err
			}
		}
	}
	return paths, nil
}
