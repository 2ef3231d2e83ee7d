package report

import (
	"bytes"
	"fmt"
	"github.com/sinklab/sinklab/checkpoints/atomicfile"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// css is the page's only style sheet, inline.
const css = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;color:#222;background:#fff}
header{padding:14px 20px 6px;background:#f4f5f7;border-bottom:1px solid #ddd}
main{padding:4px 20px 24px}
footer{padding:10px 24px;color:#777;font-size:12px;border-top:1px solid #eee}
h1{font-size:20px;margin:0 0 8px}
h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #e3e3e3;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px}
nav{margin:6px 0 4px;font-size:13px}
nav a{margin-right:14px;color:#1f5fa8;text-decoration:none}
table{border-collapse:collapse;margin:6px 0 14px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:3px 9px;text-align:right;vertical-align:top}
th{background:#f4f5f7;font-weight:600}
td:first-child,th:first-child{text-align:left}
table.runs td,table.runs th{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.grid{display:grid;gap:2px 6px;align-items:center;justify-items:start;margin-bottom:10px}
.grid .lab{font-size:12px;color:#555;white-space:nowrap}
.grid .col{justify-self:center}
.legend{font-size:12px;margin:2px 0 6px}
.legend span.sw{display:inline-block;width:22px;height:0;border-top:2px solid;margin:0 5px 3px 12px;vertical-align:middle}
.note{color:#666;font-style:italic;margin:4px 0}
.desc{color:#555;font-size:13px;margin:2px 0 8px}
svg{overflow:visible}
svg text{font-family:inherit}
`

// WriteHTML writes the report as one self-contained HTML page: inline SVG,
// inline CSS, no script and no external resource (a Content-Security-Policy
// forbids any), so it opens offline in any browser.
func (r *Report) WriteHTML(w io.Writer) error {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	b.WriteString(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">` + "\n")
	b.WriteString(`<meta name="viewport" content="width=device-width, initial-scale=1">` + "\n")
	fmt.Fprintf(&b, "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n", esc(r.Title), css)
	b.WriteString("<header>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n", esc(r.Title))
	b.WriteString(`<table class="runs"><tr><th>run</th><th>kind</th><th>key config</th><th>created</th><th>folder</th></tr>` + "\n")
	for _, ri := range r.Runs {
		var kv []string
		for _, c := range ri.Config {
			kv = append(kv, esc(c.Key)+" <b>"+esc(c.Value)+"</b>")
		}
		fmt.Fprintf(&b, `<tr><td><span class="legend"><span class="sw" style="border-color:%s;margin-left:0"></span></span><b>%s</b></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>`+"\n",
			colorOf(ri.Index), esc(ri.ID), esc(ri.Kind), strings.Join(kv, " · "), esc(ri.Created), esc(ri.Dir))
	}
	b.WriteString("</table>\n<nav>")
	for _, s := range r.Sections {
		fmt.Fprintf(&b, `<a href="#%s">%s</a>`, esc(s.ID), esc(s.Title))
	}
	b.WriteString("</nav>\n</header>\n<main>\n")
	for _, s := range r.Sections {
		writeSection(&b, s)
	}
	b.WriteString("</main>\n<footer>")
	if r.Version != "" {
		fmt.Fprintf(&b, "Made by sinklab %s. ", esc(r.Version))
	}
	b.WriteString("Self-contained page: no scripts, no network. Lines are downsampled for drawing (first, last, min and max " +
		"per pixel column); tables use every logged row.</footer>\n</body>\n</html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSection(b *strings.Builder, s *Section) {
	fmt.Fprintf(b, "<section id=\"%s\">\n<h2>%s</h2>\n", esc(s.ID), esc(s.Title))
	for _, n := range s.Notes {
		fmt.Fprintf(b, "<p class=\"note\">%s</p>\n", esc(n))
	}
	for _, t := range s.Tables {
		fmt.Fprintf(b, "<h3>%s</h3>\n<table id=\"%s\">\n<tr>", esc(t.Title), esc(t.ID))
		for _, c := range t.Columns {
			fmt.Fprintf(b, "<th>%s</th>", esc(c))
		}
		b.WriteString("</tr>\n")
		for _, row := range t.Rows {
			b.WriteString("<tr>")
			for _, c := range row {
				fmt.Fprintf(b, "<td>%s</td>", esc(c))
			}
			b.WriteString("</tr>\n")
		}
		b.WriteString("</table>\n")
	}
	if len(s.Charts) > 0 {
		b.WriteString("<div class=\"charts\">\n")
		for _, c := range s.Charts {
			b.WriteString(chartSVG(c))
			b.WriteByte('\n')
		}
		b.WriteString("</div>\n")
	}
	for _, g := range s.Grids {
		fmt.Fprintf(b, "<h3>%s</h3>\n", esc(g.Title))
		if len(g.Legend) > 0 {
			b.WriteString(`<div class="legend">`)
			for _, e := range g.Legend {
				fmt.Fprintf(b, `<span class="sw" style="border-color:%s"></span>%s`, colorOf(e.Color), esc(e.Name))
			}
			b.WriteString("</div>\n")
		}
		fmt.Fprintf(b, "<div class=\"grid\" id=\"%s\" style=\"grid-template-columns:max-content repeat(%d,max-content)\">\n<div></div>",
			esc(g.ID), len(g.ColLabels))
		for _, c := range g.ColLabels {
			fmt.Fprintf(b, `<div class="lab col">%s</div>`, esc(c))
		}
		b.WriteByte('\n')
		for i, row := range g.Cells {
			fmt.Fprintf(b, `<div class="lab">%s</div>`, esc(g.RowLabels[i]))
			for _, c := range row {
				if c == nil {
					b.WriteString("<div></div>")
				} else {
					b.WriteString(chartSVG(c))
				}
			}
			b.WriteByte('\n')
		}
		b.WriteString("</div>\n")
	}
	if len(s.Heatmaps) > 0 {
		b.WriteString(`<p class="desc">Rows are query positions, columns keys; labels are the token ids (or decoded tokens) ` +
			`of the sequence. One colour scale per run.</p>` + "\n")
	}
	for _, g := range s.Heatmaps {
		fmt.Fprintf(b, "<h3>%s</h3>\n", esc(g.Title))
		if g.Note != "" {
			fmt.Fprintf(b, "<p class=\"note\">%s</p>\n", esc(g.Note))
		}
		fmt.Fprintf(b, "<div class=\"grid\" id=\"%s\" style=\"grid-template-columns:max-content repeat(%d,max-content)\">\n<div></div>",
			esc(g.ID), len(g.ColLabels))
		for _, c := range g.ColLabels {
			fmt.Fprintf(b, `<div class="lab col">%s</div>`, esc(c))
		}
		b.WriteByte('\n')
		for i, row := range g.Maps {
			fmt.Fprintf(b, `<div class="lab">%s</div>`, esc(g.RowLabels[i]))
			for _, h := range row {
				b.WriteString(heatmapSVG(h))
			}
			b.WriteByte('\n')
		}
		b.WriteString("</div>\n")
	}
	b.WriteString("</section>\n")
}

// WriteHTMLFile writes the report to path atomically (a hidden temporary
// file in the same folder, renamed into place).
func (r *Report) WriteHTMLFile(path string) error {
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes()); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}

// Generate loads the run folders and builds their report.
func Generate(dirs []string, opts *Options) (*Report, error) {
	if len(dirs) == 0 {
		return nil, fmt.Errorf("report: no run folders given")
	}
	runs := make([]*Run, 0, len(dirs))
	for _, d := range dirs {
		r, err := Load(d)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return Build(runs, opts), nil
}

// DefaultOutput is where the report of dirs goes without -o: RUN_DIR/report.html
// for one run, ./report.html for several.
func DefaultOutput(dirs []string) string {
	if len(dirs) == 1 {
		return filepath.Join(dirs[0], "report.html")
	}
	return "report.html"
}

// ensureDir creates dir if needed.
func ensureDir(dir string) error { return os.MkdirAll(dir, 0o755) }
