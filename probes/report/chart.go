package report

import (
	"strings"
)

// The chart model: what a report draws, as plain data. Build turns runs into
// a Report; the SVG, HTML and PNG writers only draw it. Series hold every
// point that is drawn, before the drawing-time downsampling: points whose
// value is undefined (NaN, ±Inf, or ≤ 0 on a log axis) are left out, so a
// Report always encodes as JSON.

// Report is a whole report: a header with the runs, then sections.
type Report struct {
	Title    string     `json:"title"`
	Version  string     `json:"version,omitempty"` // sinklab version that made the report
	Runs     []RunInfo  `json:"runs"`
	Sections []*Section `json:"sections"`
}

// RunInfo is one run's line in the report's header.
type RunInfo struct {
	Index   int    `json:"index"` // position in the report: colour of the run in overlaid charts
	ID      string `json:"id"`
	Dir     string `json:"-"`
	Kind    string `json:"kind"`
	Version string `json:"version,omitempty"`
	Created string `json:"created,omitempty"`
	// Config lists the key settings of the run, in display order.
	Config []KV `json:"config"`
}

// KV is a key and its value, as shown.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Section is a titled part of the report. Its parts are drawn in the order
// notes, tables, charts, grids, heatmap groups.
type Section struct {
	ID       string          `json:"id"`
	Title    string          `json:"title"`
	Notes    []string        `json:"notes,omitempty"`
	Tables   []*Table        `json:"tables,omitempty"`
	Charts   []*Chart        `json:"charts,omitempty"`
	Grids    []*Grid         `json:"grids,omitempty"`
	Heatmaps []*HeatmapGroup `json:"heatmaps,omitempty"`
}

// Table is a table of formatted cells.
type Table struct {
	ID      string     `json:"id"`
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

// Chart is a line chart: one or more series over a common x axis. A scatter
// chart (Scatter) draws each series' points as dots, without lines.
type Chart struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	XLabel string `json:"x_label"`
	YLabel string `json:"y_label"`
	XLog   bool   `json:"x_log,omitempty"`
	YLog   bool   `json:"y_log,omitempty"`
	// Scatter draws points only, every one of them (no downsampling below
	// maxScatterPoints per series), with the axes' zero lines.
	Scatter bool `json:"scatter,omitempty"`
	// Caption is a line of text drawn below the chart ("" for none).
	Caption string `json:"caption,omitempty"`
	// Small marks a small multiple: drawn small, without a legend.
	Small bool `json:"small,omitempty"`
	// YRange, when set, fixes the y axis (small multiples of a grid share it).
	YRange *[2]float64 `json:"y_range,omitempty"`
	Series []*Series   `json:"series"`
	// Dropped counts the points left out: undefined values (NaN, ±Inf) and
	// values ≤ 0 on a log axis (such as step 0 on a log step axis).
	Dropped int `json:"dropped,omitempty"`
}

// Series is one line of a chart.
type Series struct {
	Name  string    `json:"name"`
	Run   int       `json:"run"`   // index of the run it comes from
	Color int       `json:"color"` // index into the palette
	Dash  int       `json:"dash"`  // 0 solid, 1 dashed, 2 dotted, 3 dash-dot
	X     []float64 `json:"x"`
	Y     []float64 `json:"y"`
}

// Points returns the number of points of all series.
func (c *Chart) Points() int {
	n := 0
	for _, s := range c.Series {
		n += len(s.X)
	}
	return n
}

// Grid is a layer × head grid of small multiples sharing their axes.
type Grid struct {
	ID        string     `json:"id"`
	Title     string     `json:"title"`
	RowLabels []string   `json:"row_labels"` // "layer 0", …
	ColLabels []string   `json:"col_labels"` // "head 0", …
	Cells     [][]*Chart `json:"cells"`      // [row][col]; nil where no run has that head
	// Legend names the runs' colours when several runs are overlaid.
	Legend []LegendEntry `json:"legend,omitempty"`
}

// LegendEntry is one entry of a grid's shared legend.
type LegendEntry struct {
	Name  string `json:"name"`
	Color int    `json:"color"`
	Dash  int    `json:"dash"`
}

// HeatmapGroup is the attention maps of one run at one step: a layer × head
// grid of heatmaps.
type HeatmapGroup struct {
	ID        string       `json:"id"`
	Title     string       `json:"title"`
	Run       int          `json:"run"`
	Step      int64        `json:"step"`
	RowLabels []string     `json:"row_labels"`
	ColLabels []string     `json:"col_labels"`
	Maps      [][]*Heatmap `json:"maps"` // [layer][head]
	Note      string       `json:"note,omitempty"`
}

// Heatmap is one head's attention map: Values[i][j] is query i's weight on
// key j. The colour scale runs from VMin to VMax.
type Heatmap struct {
	ID     string      `json:"id"`
	Title  string      `json:"title"`
	Labels []string    `json:"labels"` // one per position, for both axes
	Values [][]float32 `json:"values"`
	VMin   float64     `json:"vmin"`
	VMax   float64     `json:"vmax"`
}

// NumCharts counts the drawings of each kind in the report: line charts
// (with the small multiples of the grids) and heatmaps. The HTML has one
// <svg class="chart"> per line chart and one <svg class="heatmap"> per
// heatmap.
func (r *Report) NumCharts() (lines, small, heatmaps int) {
	for _, s := range r.Sections {
		lines += len(s.Charts)
		for _, g := range s.Grids {
			for _, row := range g.Cells {
				for _, c := range row {
					if c != nil {
						small++
					}
				}
			}
		}
		for _, h := range s.Heatmaps {
			for _, row := range h.Maps {
				heatmaps += len(row)
			}
		}
	}
	return lines, small, heatmaps
}

// Section returns the section with the given id, or nil.
func (r *Report) Section(id string) *Section {
	for _, s := range r.Sections {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// Chart returns the line chart (not a small multiple) with the given id, or nil.
func (r *Report) Chart(id string) *Chart {
	for _, s := range r.Sections {
		for _, c := range s.Charts {
			if c.ID == id {
				return c
			}
		}
	}
	return nil
}

// sanitizeID turns s into a fragment usable in an HTML id and a file name.
func sanitizeID(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.'
		if ok {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-.")
}
