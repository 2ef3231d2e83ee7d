package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sinklab/sinklab/checkpoints/atomicfile"
	"math"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/sinklab/sinklab/attention"
	"github.com/sinklab/sinklab/probes"
)

func init() { subcommands = append(subcommands, newTheoryCmd) }

// theoryOptions are the flags of sinklab theory.
type theoryOptions struct {
	Experiment string
	Sets       []string // key=value
	Flow       bool
	Engine     string
	Out        string
	RunID      string
	Force      bool
	List       bool

	flowSet, engineSet bool // whether --flow and --engine were given
}

// AddFlags registers the options' flags.
func (o *theoryOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.Experiment, "experiment", "e", "logistic", "experiment to run (see --list)")
	f.StringArrayVar(&o.Sets, "set", nil, "override a setting, key=value (repeatable; lists are comma-separated)")
	f.BoolVar(&o.Flow, "flow", false, "integrate the exact gradient flow beside gradient descent")
	f.StringVar(&o.Engine, "engine", "closed", "gradients from the closed form (closed) or gorgonia's autodiff (gorgonia, slow)")
	f.StringVarP(&o.Out, "out", "o", "runs", "folder that holds the run folders")
	f.StringVar(&o.RunID, "run-id", "", "name of the run folder (default: experiment-UTC timestamp)")
	f.BoolVar(&o.Force, "force", false, "write into an existing run folder")
	f.BoolVar(&o.List, "list", false, "list the experiments and exit")
}

func newTheoryCmd(a *app) *cobra.Command {
	o := &theoryOptions{}
	var experiments strings.Builder
	for _, e := range attention.Experiments() {
		fmt.Fprintf(&experiments, "  %-14s %s  %s\n", e.Name, e.Label, e.Summary)
	}
	cmd := &cobra.Command{
		Use:   "theory [flags]",
		Short: "Run the value-softmax toy experiments (E1–E5), optionally beside their exact gradient flow",
		Long: `theory trains the toy model y = V σ(a) of Varre, Rofin and Flammarion (2026) by gradient
descent with the paper's settings and records, on about 20 log-spaced steps per decade, the
weights σ(a), their entropy and largest weight, the loss and the drift of the conserved
quantities into runs/<run-id>/theory.parquet (config.json beside it). With --flow the exact
gradient flow is integrated by an adaptive Dormand–Prince 5(4) solver and recorded at the
same times t = step × lr. A short table per variant ends the output.

Experiments:
` + experiments.String() + `
Keys for --set:
  ` + strings.Join(attention.ExperimentConfigKeyHelp(), "\n  "),
		Example: `  sinklab theory                                    # E1: logistic loss, 10⁶ steps
  sinklab theory --experiment normalizers --flow    # E2: every normalizer beside the flow
  sinklab theory -e regression --set kappa=1,5 --set steps=1e5
  sinklab theory -e tied --set D=10,20 --run-id tied-small --out /tmp/runs
  sinklab theory --list`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("theory takes no arguments, got %q", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.flowSet = cmd.Flags().Changed("flow")
			o.engineSet = cmd.Flags().Changed("engine")
			return runTheory(cmd.Context(), a, o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// theoryConfig resolves the configuration: the experiment's defaults, then
// every --set in order, then --flow and --engine when given.
func theoryConfig(o *theoryOptions) (attention.ExperimentConfig, error) {
	cfg, err := attention.DefaultExperimentConfig(o.Experiment)
	if err != nil {
		return cfg, usagef("%w", err)
	}
	for _, kv := range o.Sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return cfg, usagef("--set %q: want key=value", kv)
		}
		if err := cfg.Set(strings.TrimSpace(k), v); err != nil {
			return cfg, usagef("--set %s: %w", kv, err)
		}
	}
	if o.flowSet {
		cfg.Flow = o.Flow
	}
	if o.engineSet {
		cfg.Engine = o.Engine
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usagef("%w", err)
	}
	return cfg, nil
}

// theoryRunConfig is the content of config.json.
type theoryRunConfig struct {
	Command string                     `json:"command"`
	RunID   string                     `json:"run_id"`
	Version string                     `json:"sinklab_version"`
	Seed    uint64                     `json:"seed"`
	Created string                     `json:"created"`
	Config  attention.ExperimentConfig `json:"config"`
}

// theoryRow converts a record into a row of theory.parquet.
func theoryRow(runID, experiment string, r attention.TheoryRecord) probes.TheoryRow {
	row := probes.TheoryRow{
		RunID: runID, Experiment: experiment, Variant: r.Variant, Step: r.Step, Time: r.Time, Loss: r.Loss,
		Entropy: r.Entropy, MaxWeight: r.MaxWeight, Argmax: int32(r.Argmax), SumA: r.SumA,
		ConservedDrift: r.Drift, SumAlpha: r.SumAlpha, Weights: r.Weights, U: r.U,
	}
	if row.U == nil {
		row.U = []float64{}
	}
	if r.HasFlow {
		fe, fm := r.FlowEntropy, r.FlowMaxWeight
		row.FlowEntropy, row.FlowMaxWeight = &fe, &fm
	}
	if r.HasColumns {
		s, o := r.SelColNorm, r.OtherColNorm
		row.SelColNorm, row.OtherColNorm = &s, &o
	}
	return row
}

func runTheory(ctx context.Context, a *app, o *theoryOptions) (err error) {
	if o.List {
		for _, e := range attention.Experiments() {
			fmt.Fprintf(a.stdout, "%-14s %s  %s\n", e.Name, e.Label, e.Summary)
		}
		return nil
	}
	cfg, err := theoryConfig(o)
	if err != nil {
		return err
	}
	variants, err := cfg.ToyVariants()
	if err != nil {
		return usagef("%w", err)
	}
	dir, runID, err := makeRunDir(o.Out, o.RunID, cfg.Experiment, o.Force)
	if err != nil {
		return err
	}
	cfgJSON, err := json.MarshalIndent(theoryRunConfig{Command: "theory", RunID: runID, Version: Version(),
		Seed: cfg.Seed, Created: time.Now().UTC().Format(time.RFC3339), Config: cfg}, "", "  ")
	if err != nil {
		return fmt.Errorf("theory: encode config: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), append(cfgJSON, '\n')); err != nil {
		return fmt.Errorf("theory: write config: %w", err)
	}
	compact, _ := json.Marshal(cfg)
	path := filepath.Join(dir, probes.TheoryFile)
	w, err := probes.NewTheoryWriter(path, map[string]string{
		"run_id": runID, "config": string(compact), "sinklab_version": Version(), "kind": "theory",
	}, 0)
	if err != nil {
		return fmt.Errorf("theory: %w", err)
	}
	var total int64
	for _, v := range variants {
		total += v.Steps
	}
	a.log.Info("theory run", zap.String("run_id", runID), zap.String("experiment", cfg.Experiment),
		zap.Int("variants", len(variants)), zap.Int64("steps", total), zap.Bool("flow", cfg.Flow),
		zap.String("engine", cfg.Engine), zap.String("dir", dir))
	prog := a.newProgress("theory", total)
	var current string
	start := time.Now()
	sums, runErr := attention.RunExperiment(ctx, cfg, attention.ExperimentHooks{
		Start: func(v attention.ToyVariant) {
			current = v.Name
			a.log.Info("variant", zap.String("variant", v.Name), zap.Float64("lr", v.LR), zap.Int64("steps", v.Steps))
		},
		Record: func(r attention.TheoryRecord) error { return w.Write(theoryRow(runID, cfg.Experiment, r)) },
		Done: func(s attention.VariantSummary) {
			a.log.Info("variant done", zap.String("variant", s.Variant), zap.Float64("entropy", s.FinalEntropy),
				zap.Float64("max_weight", s.FinalMaxWeight), zap.Int("winner", s.Winner), zap.Float64("loss", s.FinalLoss))
		},
		FlowStopped: func(variant string, t float64, err error) {
			a.log.Warn("flow integration stopped; the variant goes on without it", zap.String("variant", variant),
				zap.Float64("t", t), zap.Error(err))
		},
		Progress: func(done, total int64) { prog.Set(done, current) },
	})
	prog.Finish()
	closeErr := w.Close()
	if closeErr != nil {
		closeErr = fmt.Errorf("theory: %w", closeErr)
	}
	if runErr != nil {
		if closeErr == nil {
			a.log.Warn("run stopped; theory.parquet keeps the rows recorded so far",
				zap.String("file", path), zap.Int64("rows", w.Rows()))
		}
		if len(sums) > 0 {
			printTheoryTable(a, sums, cfg.Flow)
		}
		return errors.Join(fmt.Errorf("theory: %w", runErr), closeErr)
	}
	if closeErr != nil {
		return closeErr
	}
	a.log.Info("theory run done", zap.Duration("elapsed", time.Since(start).Round(time.Millisecond)),
		zap.Int64("rows", w.Rows()), zap.String("file", path))
	printTheoryTable(a, sums, cfg.Flow)
	fmt.Fprintf(a.stdout, "\nrun folder: %s\n", dir)
	return nil
}

// printTheoryTable prints one line per variant: entropy at the start and the
// end, the final largest weight and its token, the drift of the conserved
// quantity and, with the flow, the largest gap to the flow's entropy.
func printTheoryTable(a *app, sums []attention.VariantSummary, flow bool) {
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	head := "variant\tsteps\tentropy start\tentropy end\tmax weight\twinner\tconserved drift"
	if flow {
		head += "\tmax |H − H_flow|"
	}
	fmt.Fprintln(tw, head)
	num := func(x float64) string {
		if math.IsNaN(x) {
			return "NaN"
		}
		return fmt.Sprintf("%.4f", x)
	}
	for _, s := range sums {
		line := fmt.Sprintf("%s\t%d\t%s\t%s\t%s\t%d\t%.2e", s.Variant, s.Steps, num(s.InitialEntropy),
			num(s.FinalEntropy), num(s.FinalMaxWeight), s.Winner, s.Drift)
		if flow {
			line += fmt.Sprintf("\t%.2e", s.MaxFlowGap)
			if !math.IsNaN(s.FlowStoppedAt) {
				line += fmt.Sprintf(" (flow stopped at t=%.4g)", s.FlowStoppedAt)
			}
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}
