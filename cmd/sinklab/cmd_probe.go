package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/sinklab/sinklab/checkpoints"
	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
)

func init() { subcommands = append(subcommands, newProbeCmd) }

// probeOptions are the flags of `sinklab probe`.
type probeOptions struct {
	Out         string
	Eps         float64
	Force       bool
	MixingPairs int
	model       modelProbeOptions // --model and its flags (cmd_probe_model.go)

	epsSet bool // whether --eps was given
}

// AddFlags registers the flags.
func (o *probeOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Out, "out", "", "folder for the recomputed logs (default RUN_DIR/reprobe)")
	f.Float64Var(&o.Eps, "eps", 0, "ε of Sink₁^ε (default: the run's probe.eps)")
	f.BoolVar(&o.Force, "force", false, "replace an existing output folder")
	f.IntVar(&o.MixingPairs, "mixing-pairs", -1, "classification runs: pairs of the label-mixing experiment on the newest checkpoint (-1: the run's probe.mixing_pairs, or 500 where that is 0 or absent; 0: off)")
	o.model.addFlags(f)
}

func newProbeCmd(a *app) *cobra.Command {
	o := &probeOptions{}
	cmd := &cobra.Command{
		Use:   "probe RUN_DIR | probe --model HF_GPT2_DIR",
		Short: "Recompute probes from a run's saved checkpoints, or probe a pretrained GPT-2",
		Long: `probe loads every valid checkpoint of a training run, runs the model on the run's
fixed probe batch and writes probes/ and layers/ logs (same schema and values as the
live ones at those steps) into RUN_DIR/reprobe/, for example with another ε. For a
classification run it also runs the label-mixing experiment on the newest checkpoint
and writes mixing.parquet there.

With --model it probes a pretrained GPT-2 in the Hugging Face layout instead (a folder
with config.json, model.safetensors and tokenizer.json): it runs the model on --samples
windows of --text, each --seq-len tokens starting with BOS, and writes the same probes/
and layers/ logs (step 0) and the same summary as a training run's probe step, plus the
model's perplexity on the text.`,
		Example: `  sinklab probe runs/induction-20261128-120000
  sinklab probe runs/induction-20261128-120000 --eps 0.5 --out /tmp/reprobe
  sinklab probe --model ~/models/gpt2 --out runs/gpt2-opticks`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.epsSet = cmd.Flags().Changed("eps")
			if o.model.Model != "" {
				if len(args) > 0 {
					return usagef("give a run folder or --model, not both")
				}
				return runProbeModel(cmd.Context(), a, o)
			}
			if len(args) != 1 {
				return usagef("probe needs a run folder (or --model HF_GPT2_DIR)")
			}
			return runProbe(cmd.Context(), a, args[0], o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runProbe(ctx context.Context, a *app, dir string, o *probeOptions) (err error) {
	if o.epsSet && !(o.Eps > 0 && o.Eps < 1) {
		return usagef("--eps must be in (0, 1), got %v", o.Eps)
	}
	rc, err := readTrainConfig(dir)
	if err != nil {
		return err
	}
	steps, err := checkpoints.List(dir)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if len(steps) == 0 {
		return usagef("%s has no checkpoints (train with --set checkpoint.every=N to keep some)", dir)
	}
	out := o.Out
	if out == "" {
		out = filepath.Join(dir, "reprobe")
	}
	if _, err := os.Stat(out); err == nil {
		if !o.Force {
			return usagef("%s already exists (use --force to replace it)", out)
		}
		if err := os.RemoveAll(out); err != nil {
			return err
		}
	}
	eps := rc.Config.Probe.Eps
	if o.epsSet {
		eps = o.Eps
	}
	cj, _ := json.Marshal(rc)
	sinkK, _ := rc.Config.Probe.SinkKeys() // "" (runs older than probe.sink_k) or invalid: k = 1
	rec, err := probes.NewRecorder(out, rc.RunID, string(cj), Version(), &probes.RecorderOptions{SinkEpsilon: eps, SinkK: sinkK})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := rec.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	pairs := 0
	if rc.Config.Task == data.TaskClassification {
		pairs = o.MixingPairs
		if pairs < 0 {
			pairs = rc.Config.Probe.MixingPairs
			if pairs == 0 {
				pairs = probes.DefaultMixingPairs
			}
		}
	}
	var mixing []probes.MixingRow
	sum := &trainSummary{eps: eps}
	bar := a.newProgress("probe", int64(len(steps)))
	defer bar.Finish()
	for i, step := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		lr, err := openRunAt(dir, step)
		if err != nil {
			a.log.Warn("skipping checkpoint", zap.Int64("step", step), zap.Error(err))
			continue
		}
		c, err := lr.runner.Capture()
		if err == nil {
			var ps probes.ProbeStep
			ps, err = rec.WriteProbeStep(step, lr.ck.State.Tokens, c)
			if err == nil {
				sum.add(ps)
			}
		}
		if err == nil && i == len(steps)-1 && pairs > 0 {
			mixing, err = runMixing(lr.runner, lr.task, pairs, step, filepath.Join(out, probes.MixingFile), rc.RunID, string(cj))
		}
		lr.runner.Close()
		if err != nil {
			return fmt.Errorf("probe: step %d: %w", step, err)
		}
		bar.Set(int64(i+1), fmt.Sprintf("step %d", step))
	}
	bar.Finish()
	sum.print(a.stdout)
	if err := rec.Flush(); err != nil {
		return err
	}
	if err := theoryCheck(a.stdout, out, rc.RunID, string(cj), int64(rc.Config.TotalSteps())); err != nil {
		return err
	}
	printMixing(a.stdout, mixing)
	fmt.Fprintf(a.stdout, "recomputed logs: %s\n", out)
	return nil
}
