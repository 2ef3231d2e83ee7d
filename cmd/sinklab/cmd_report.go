package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/sinklab/sinklab/probes/report"
)

func init() { subcommands = append(subcommands, newReportCmd) }

// reportOptions are the flags of `sinklab report`.
type reportOptions struct {
	Output string // HTML file (default RUN_DIR/report.html or ./report.html)
	PNG    string // folder for one PNG per chart ("" = none)
	Title  string
}

// AddFlags registers the flags.
func (o *reportOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.Output, "output", "o", "", "HTML file to write (default RUN_DIR/report.html for one run, ./report.html for several)")
	f.StringVar(&o.PNG, "png", "", "also write each chart as a PNG file into this folder")
	f.StringVar(&o.Title, "title", "", "title of the report (default: the run ids)")
}

func newReportCmd(a *app) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report RUN_DIR [RUN_DIR…]",
		Short: "Write an HTML report with charts of one or more runs",
		Long: `report reads the logs of training runs (metrics/, probes/, layers/, attn/) and theory runs
(theory.parquet) and writes one self-contained HTML file: inline SVG charts and CSS, no
scripts and no network, so it opens offline in any browser.

Training runs: loss and validation curves, Sink₁^ε, a layer × head grid of small multiples
for entropy, first-token mass and sink score, value-norm, residual-peak and massive-activation
ratios per layer, and the attention maps of the first evaluation sequence at the first, a
middle and the last snapshot step. Theory runs: σ(a)'s components (log-log), u = Vᵀβ, the
entropy of gradient descent beside the gradient flow, and the conservation drift.
Several runs are overlaid chart by chart, with a table of their final metrics side by side.

Long runs stay fast: lines are downsampled for drawing (first, last, min and max per pixel
column); summary numbers use every row.`,
		Example: `  sinklab report runs/induction-20261128-120000
  sinklab report runs/softmax runs/sigmoid -o compare.html
  sinklab report runs/X --png figures/`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("report needs at least one run folder (sinklab report RUN_DIR [RUN_DIR…])")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd.Context(), a, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runReport(ctx context.Context, a *app, o *reportOptions, dirs []string) error {
	start := time.Now()
	out := o.Output
	if out == "" {
		out = report.DefaultOutput(dirs)
	}
	rep, err := report.Generate(dirs, &report.Options{Title: o.Title, Version: Version()})
	var re *report.RunError
	switch {
	case errors.As(err, &re):
		return usageError{err}
	case err != nil:
		return err
	}
	if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
		return usagef("-o %s: folder %s does not exist", out, filepath.Dir(out))
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return usagef("-o %s is a folder; give a file name such as %s", out, filepath.Join(out, "report.html"))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := rep.WriteHTMLFile(out); err != nil {
		return err
	}
	lines, small, heat := rep.NumCharts()
	a.log.Info("report written", zap.String("file", out), zap.Int("runs", len(dirs)), zap.Int("charts", lines),
		zap.Int("small_multiples", small), zap.Int("heatmaps", heat), zap.Duration("elapsed", time.Since(start).Round(time.Millisecond)))
	fmt.Fprintf(a.stdout, "report: %s\n", out)
	if o.PNG != "" {
		paths, err := rep.WritePNGs(o.PNG)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "png: %d files in %s\n", len(paths), o.PNG)
	}
	return nil
}
