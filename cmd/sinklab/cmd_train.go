package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/sinklab/sinklab/checkpoints"
	"github.com/sinklab/sinklab/checkpoints/atomicfile"
	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
	"github.com/sinklab/sinklab/probes/report"
	"github.com/sinklab/sinklab/transformer"
	"github.com/sinklab/sinklab/transformer/capture"
)

func init() { subcommands = append(subcommands, newTrainCmd) }

// trainOptions are the flags of `sinklab train`.
type trainOptions struct {
	Task      string
	Config    string
	Sets      []string
	Steps     int
	Seed      int64
	Out       string
	RunID     string
	ListTasks bool
	ShowCfg   bool
	Resume    string

	// stepsSet and seedSet record whether --steps and --seed were given, so
	// that no value of either doubles as "not given".
	stepsSet, seedSet bool
}

// AddFlags registers the flags.
func (o *trainOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Task, "task", "", "task to train on (default induction; see --list-tasks)")
	f.StringVar(&o.Config, "config", "", "YAML config file (sections task, seed, model, optim, train, data, probe, checkpoint, log)")
	f.StringArrayVar(&o.Sets, "set", nil, "override one config key, e.g. --set model.n_heads=8 (repeatable)")
	f.IntVar(&o.Steps, "steps", 0, "number of training steps, ≥ 1 (same as --set train.steps=N; default: the config's)")
	f.Int64Var(&o.Seed, "seed", 0, "random seed, ≥ 0 (same as --set seed=S; default: the config's)")
	f.StringVar(&o.Out, "out", "runs", "folder that holds run folders")
	f.StringVar(&o.RunID, "run-id", "", "name of the run folder (default <task>-<UTC time>)")
	f.BoolVar(&o.ListTasks, "list-tasks", false, "list the tasks and exit")
	f.BoolVar(&o.ShowCfg, "print-config", false, "print the resolved config as JSON and exit")
	f.StringVar(&o.Resume, "resume", "", "continue the run in this folder from its newest valid checkpoint (--steps and --set may extend or adjust training, not the model or data)")
}

func newTrainCmd(a *app) *cobra.Command {
	o := &trainOptions{}
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a small transformer and record how attention sinks form",
		Long: `train trains a causal transformer (or a non-causal one for classification) on a
synthetic task and writes runs/<run-id>/: config.json, metrics/ (one Parquet part per
flush), probes/ and layers/ (per-head and per-layer sink metrics at probe steps).

The configuration is resolved in order: the task's defaults, then --config FILE.yaml,
then every --set key=value. Unknown keys are errors. Keys are printed by --print-config.` + attentionHelp(),
		Example: `  sinklab train                                   # the paper's recipe on induction: learned in 400 steps, layer-1 sink heads form
  sinklab train --config docs/configs/paper/induction.yaml   # the paper's run (10 epochs)
  sinklab train --task copy --steps 300
  sinklab train --set model.attention=sigmoid --set model.n_heads=8
  sinklab train --config sweep-cell.yaml --run-id my-run
  sinklab train --resume runs/induction-20261128-120000 --steps 2000
  sinklab train --list-tasks`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.stepsSet = cmd.Flags().Changed("steps")
			o.seedSet = cmd.Flags().Changed("seed")
			return runTrain(cmd.Context(), a, o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// resolveTrainConfig applies defaults, the config file and --set overrides.
func resolveTrainConfig(o *trainOptions) (transformer.Config, error) {
	var file []byte
	task := o.Task
	if o.Config != "" {
		b, err := os.ReadFile(o.Config)
		if err != nil {
			return transformer.Config{}, usagef("config file: %v", err)
		}
		file = b
		var head struct {
			Task string `yaml:"task"`
		}
		if err := yaml.Unmarshal(b, &head); err != nil {
			return transformer.Config{}, usagef("config file %s: %v", o.Config, err)
		}
		if task == "" {
			task = head.Task
		} else if head.Task != "" && head.Task != task {
			return transformer.Config{}, usagef("--task %s contradicts task: %s in %s", task, head.Task, o.Config)
		}
	}
	for _, s := range o.Sets {
		if k, v, ok := strings.Cut(s, "="); ok && strings.TrimSpace(k) == "task" {
			if task != "" && task != strings.TrimSpace(v) {
				return transformer.Config{}, usagef("--set task=%s contradicts task %s", v, task)
			}
			task = strings.TrimSpace(v)
		}
	}
	if task == "" {
		task = data.TaskInduction
	}
	cfg, err := transformer.DefaultConfig(task)
	if err != nil {
		return cfg, usagef("unknown task %q (tasks: %s)", task, strings.Join(data.Names(), ", "))
	}
	if file != nil {
		if err := cfg.ApplyYAML(file); err != nil {
			return cfg, usagef("%s: %v", o.Config, err)
		}
		if t := cfg.Train; t.Steps > 0 && t.Epochs > 0 {
			return cfg, usagef("%s: train.steps = %d and train.epochs = %d are both set: set one of them", o.Config, t.Steps, t.Epochs)
		}
		cfg.NewLayer() // the command line overrides the file
	}
	for _, s := range o.Sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return cfg, usagef("--set %q: want key=value", s)
		}
		if err := cfg.Set(strings.TrimSpace(k), v); err != nil {
			return cfg, usagef("--set: %v", err)
		}
	}
	if err := o.applyFlags(&cfg); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usagef("%v", err)
	}
	return cfg, nil
}

// applyFlags applies --steps and --seed when they were given; a given value
// out of range is a usage error, never read as "not given".
func (o *trainOptions) applyFlags(cfg *transformer.Config) error {
	if o.stepsSet {
		if o.Steps < 1 {
			return usagef("--steps must be ≥ 1, got %d", o.Steps)
		}
		if err := cfg.Set("train.steps", strconv.Itoa(o.Steps)); err != nil {
			return usagef("--steps: %v", err)
		}
	}
	if o.seedSet {
		if o.Seed < 0 {
			return usagef("--seed must be ≥ 0, got %d", o.Seed)
		}
		cfg.Seed = uint64(o.Seed)
	}
	return nil
}

// resolveResumeConfig reads a run folder's config.json and applies --steps,
// --seed and --set; changes to the task, seed, model or data are refused.
func resolveResumeConfig(o *trainOptions) (transformer.Config, trainRunConfig, error) {
	var rc trainRunConfig
	b, err := os.ReadFile(filepath.Join(o.Resume, "config.json"))
	if err != nil {
		return transformer.Config{}, rc, usagef("--resume: %v", err)
	}
	// Keys missing from the config.json of an older version (such as
	// log.flush_seconds) take today's defaults for the run's task.
	var head struct {
		Config struct {
			Task string `json:"task"`
		} `json:"config"`
	}
	if json.Unmarshal(b, &head) == nil {
		if def, err := transformer.DefaultConfig(head.Config.Task); err == nil {
			rc.Config = def
		}
	}
	if err := json.Unmarshal(b, &rc); err != nil {
		return transformer.Config{}, rc, usagef("--resume: %s: %v", filepath.Join(o.Resume, "config.json"), err)
	}
	legacyRecipe(b, &rc.Config)
	if rc.Command != "train" {
		return transformer.Config{}, rc, usagef("--resume: %s is a %q run, not a train run", o.Resume, rc.Command)
	}
	if o.Task != "" || o.Config != "" || o.RunID != "" {
		return transformer.Config{}, rc, usagef("--resume takes its task, config and run id from the run folder; drop --task, --config and --run-id")
	}
	cfg := rc.Config
	for _, s := range o.Sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return cfg, rc, usagef("--set %q: want key=value", s)
		}
		if err := cfg.Set(strings.TrimSpace(k), v); err != nil {
			return cfg, rc, usagef("--set: %v", err)
		}
	}
	if err := o.applyFlags(&cfg); err != nil {
		return cfg, rc, err
	}
	if ch := transformer.ArchitectureChanges(&rc.Config, &cfg); len(ch) > 0 {
		return cfg, rc, usagef("--resume cannot change %s: it would not be the same run", strings.Join(ch, ", "))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, rc, usagef("%v", err)
	}
	return cfg, rc, nil
}

// legacyRecipe gives the recipe keys that a config.json written before the
// paper's recipe became the default lacks the values that run was trained
// with (GPT-2 initialisation, tanh GELU, no output bias, decay on matrices,
// train.steps only, the vocabulary as output size), not today's defaults.
func legacyRecipe(configJSON []byte, c *transformer.Config) {
	var raw struct {
		Config struct {
			Model map[string]json.RawMessage `json:"model"`
			Optim map[string]json.RawMessage `json:"optim"`
			Train map[string]json.RawMessage `json:"train"`
		} `json:"config"`
	}
	if json.Unmarshal(configJSON, &raw) != nil || raw.Config.Model == nil {
		return
	}
	missing := func(m map[string]json.RawMessage, k string) bool { _, ok := m[k]; return !ok }
	if missing(raw.Config.Model, "init") {
		c.Model.Init = transformer.InitGPT2
	}
	if missing(raw.Config.Model, "gelu") {
		c.Model.GELU = transformer.GeluTanh
	}
	if missing(raw.Config.Model, "unembed_bias") {
		c.Model.UnembedBias = false
	}
	if missing(raw.Config.Model, "d_out") {
		c.Model.DOut = c.Model.Vocab
	}
	if missing(raw.Config.Optim, "decay") {
		c.Optim.Decay = transformer.DecayMatrices
	}
	if missing(raw.Config.Train, "epochs") {
		c.Train.Epochs = 0
	}
}

// trainRunConfig is the content of config.json.
type trainRunConfig struct {
	Command string             `json:"command"`
	RunID   string             `json:"run_id"`
	Version string             `json:"sinklab_version"`
	Seed    uint64             `json:"seed"`
	Created string             `json:"created"`
	Config  transformer.Config `json:"config"`
}

func runTrain(ctx context.Context, a *app, o *trainOptions) (err error) {
	if o.ListTasks {
		w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		for _, n := range data.Names() {
			fmt.Fprintf(w, "%s\t%s\n", n, data.Describe(n))
		}
		return w.Flush()
	}
	var cfg transformer.Config
	var rc trainRunConfig
	if o.Resume != "" {
		cfg, rc, err = resolveResumeConfig(o)
	} else {
		cfg, err = resolveTrainConfig(o)
	}
	if err != nil {
		return err
	}
	task, err := openTask(cfg, o.Resume)
	if err != nil {
		return err
	}
	runner, err := transformer.NewRunner(cfg, task)
	if err != nil {
		return usagef("%v", err)
	}
	defer runner.Close()
	cfg = runner.Config()
	if o.ShowCfg {
		b, _ := json.MarshalIndent(cfg, "", "  ")
		fmt.Fprintln(a.stdout, string(b))
		return nil
	}
	var dir, runID string
	if o.Resume != "" {
		dir, runID = o.Resume, rc.RunID
		ck, skipped, err := checkpoints.Latest(dir)
		for _, e := range skipped {
			a.log.Warn("skipping a damaged checkpoint", zap.Error(e))
		}
		if err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		if err := restoreCheckpoint(runner, ck); err != nil {
			return fmt.Errorf("--resume: %s: %w", ck.Dir, err)
		}
		if err := probes.TruncateAfter(dir, ck.State.Step); err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		if err := report.TruncateAttnSnapshots(dir, ck.State.Step); err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		a.log.Info("resuming", zap.String("checkpoint", ck.Dir), zap.Int64("step", ck.State.Step))
		rc.Config = cfg
	} else {
		dir, runID, err = makeRunDir(o.Out, o.RunID, cfg.Task, false)
		if err != nil {
			return err
		}
		rc = trainRunConfig{Command: "train", RunID: runID, Version: Version(), Seed: cfg.Seed,
			Created: time.Now().UTC().Format(time.RFC3339), Config: cfg}
	}
	cj, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return err
	}
	if tok := data.TokenizerOf(task); tok != nil && o.Resume == "" {
		if err := tok.SaveTokenizer(filepath.Join(dir, tokenizerFile)); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), cj); err != nil {
		return fmt.Errorf("train: write config.json: %w", err)
	}
	sinkK, err := cfg.Probe.SinkKeys()
	if err != nil {
		return usagef("%v", err)
	}
	rec, err := probes.NewRecorder(dir, runID, string(cj), Version(), &probes.RecorderOptions{SinkEpsilon: cfg.Probe.Eps, SinkK: sinkK})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := rec.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	saveCheckpoint := func(step int) error {
		if err := rec.Flush(); err != nil {
			return err
		}
		snap, err := runner.Snapshot()
		if err != nil {
			return err
		}
		st := checkpoints.State{Step: snap.Step, Tokens: snap.Tokens, RNG: snap.RNG, Config: cj,
			Extra: map[string]string{"optimizer_steps": strconv.FormatInt(snap.OptSteps, 10), "task": cfg.Task}}
		ckdir, err := checkpoints.Save(dir, st, snap.Model, snap.Optimizer, cfg.Checkpoint.KeepLast)
		if err != nil {
			return fmt.Errorf("checkpoint at step %d: %w", step, err)
		}
		a.log.Debug("checkpoint", zap.String("dir", ckdir))
		return nil
	}
	a.log.Info("training", zap.String("run", dir), zap.String("task", cfg.Task),
		zap.Int("params", paramCount(runner)), zap.Int("steps", cfg.TotalSteps()), zap.Uint64("seed", cfg.Seed))

	sum := &trainSummary{eps: rec.SinkEpsilon()}
	bar := a.newProgress("train", int64(cfg.TotalSteps()))
	start := time.Now()
	var lastEval *transformer.EvalStats
	// Time and tokens of the optimizer steps alone, against which the run's
	// wall time shows the cost of evaluation, probes and logging.
	var stepSec float64
	var stepTok int64
	lastTokens := runner.Tokens()
	hooks := transformer.Hooks{
		Metrics: func(r transformer.LogRow) error { return rec.WriteMetrics(metricsRow(r)) },
		Probe: func(step int, tokens int64, c *capture.Capture) (float64, error) {
			ps, err := rec.WriteProbeStep(int64(step), tokens, c)
			rate := ps.Sinks.SinkRate
			if err == nil {
				sum.add(ps)
			}
			if err == nil && report.AttnSnapshotDue(step, cfg.Probe.Every, cfg.TotalSteps()) {
				// The attention maps of the first evaluation sequence, for the report's heatmaps.
				s, serr := report.NewAttnSnapshot(c, 0, int64(step), c.Tokens[:task.SeqLen()], 0)
				if serr == nil {
					serr = report.WriteAttnSnapshot(dir, s)
				}
				err = serr
			}
			return rate, err
		},
		Progress: func(st transformer.StepStats, ev *transformer.EvalStats) {
			stepSec += st.Seconds
			stepTok += int64(st.Tokens - lastTokens)
			lastTokens = st.Tokens
			if ev != nil {
				lastEval = ev
				sum.addEval(st.Step, ev)
			}
			status := fmt.Sprintf("loss %.4f", st.Loss)
			if lastEval != nil && !math.IsNaN(lastEval.Accuracy) {
				status += fmt.Sprintf(" acc %.3f", lastEval.Accuracy)
			}
			status += fmt.Sprintf(" %.0f tok/s", float64(st.Tokens)/time.Since(start).Seconds())
			bar.Set(int64(st.Step), status)
		},
		Checkpoint: saveCheckpoint,
		Flush:      func(int) error { return rec.Flush() },
	}
	err = transformer.Run(ctx, runner, hooks)
	bar.Finish()
	switch {
	case err == nil:
	case errors.Is(err, transformer.ErrNonFinite):
		return fmt.Errorf("%w; logs up to the previous step and the last good checkpoint are in %s", err, dir)
	case ctx.Err() != nil && runner.StepCount() > 0:
		if cerr := saveCheckpoint(runner.StepCount()); cerr != nil {
			return fmt.Errorf("%w (and the checkpoint failed: %v)", err, cerr)
		}
		return fmt.Errorf("%w; checkpoint written, continue with: sinklab train --resume %s", err, dir)
	default:
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(a.stdout, "run %s: %d steps in %s (%.0f tokens/s)\n", runID, runner.StepCount(),
		el.Round(time.Millisecond), float64(runner.Tokens())/el.Seconds())
	if stepSec > 0 {
		// The same tokens over the steps' time alone; the gap is evaluation,
		// probes, logging and checkpoints.
		fmt.Fprintf(a.stdout, "steps alone: %.0f tokens/s; evaluation, probes and logging took %.1f%% of the time\n",
			float64(stepTok)/stepSec, 100*(1-stepSec/el.Seconds()))
	}
	if lastEval != nil {
		fmt.Fprintf(a.stdout, "final validation loss %.4f", lastEval.Loss)
		if !math.IsNaN(lastEval.Accuracy) {
			fmt.Fprintf(a.stdout, ", accuracy %.4f", lastEval.Accuracy)
		}
		keys := make([]string, 0, len(lastEval.Groups))
		for k := range lastEval.Groups {
			if len(lastEval.Groups) > 1 {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(a.stdout, ", %s loss %.4f", k, lastEval.Groups[k])
		}
		fmt.Fprintln(a.stdout)
	}
	sum.print(a.stdout)
	if err := rec.Flush(); err != nil {
		return err
	}
	if err := theoryCheck(a.stdout, dir, runID, string(cj), int64(cfg.TotalSteps())); err != nil {
		return err
	}
	if cfg.Task == data.TaskClassification && cfg.Probe.MixingPairs > 0 && runner.HasEval() {
		rows, err := runMixing(runner, task, cfg.Probe.MixingPairs, int64(runner.StepCount()),
			filepath.Join(dir, probes.MixingFile), runID, string(cj))
		if err != nil {
			return err
		}
		printMixing(a.stdout, rows)
	}
	fmt.Fprintf(a.stdout, "run folder: %s\n", dir)
	return nil
}

func paramCount(r transformer.Runner) int {
	switch t := r.(type) {
	case *transformer.Trainer[float32]:
		return t.Model.NumParams()
	case *transformer.Trainer[float64]:
		return t.Model.NumParams()
	}
	return 0
}

// metricsRow maps a logged training step onto its row of metrics.parquet.
func metricsRow(r transformer.LogRow) probes.MetricsRow {
	row := probes.MetricsRow{Step: int64(r.Step), Tokens: r.Tokens, Loss: r.Loss, LR: r.LR, GradNorm: r.GradNorm,
		StepSeconds: r.Seconds, GroupLoss: r.GroupLoss, SinkRate: r.SinkRate}
	if r.Eval != nil {
		row.ValLoss = probes.Float(r.Eval.Loss)
		if !math.IsNaN(r.Eval.Accuracy) {
			row.ValAccuracy = probes.Float(r.Eval.Accuracy)
		}
	}
	return row
}

// trainSummary keeps what the end-of-run summary needs: the sink summary of
// every probe step and the first and last probe step's head metrics, from
// the rows the recorder wrote (each capture is measured once).
type trainSummary struct {
	eps   float64
	sinks []probes.SinkSummary // per probe step
	heads []probes.HeadRow     // last probe step, "all" rows
	first []probes.HeadRow     // first probe step, "all" rows
	acc   map[int]float64      // validation accuracy by evaluation step
}

func (s *trainSummary) add(ps probes.ProbeStep) {
	heads := probes.HeadRowsOf(ps.Heads, probes.GroupAll)
	if s.first == nil {
		s.first = heads
	}
	s.heads = heads
	s.sinks = append(s.sinks, ps.Sinks)
}

// addEval records the validation accuracy of an evaluation step.
func (s *trainSummary) addEval(step int, ev *transformer.EvalStats) {
	if ev == nil || math.IsNaN(ev.Accuracy) {
		return
	}
	if s.acc == nil {
		s.acc = map[int]float64{}
	}
	s.acc[step] = ev.Accuracy
}

func (s *trainSummary) print(w io.Writer) {
	if len(s.heads) == 0 {
		return
	}
	fmt.Fprintf(w, "\nprobes at step %d (first-token mass α₁ at step %d in brackets):\n", s.sinks[len(s.sinks)-1].Step, s.sinks[0].Step)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\thead\tentropy\tα₁\t(start)\tsink score\tsink head\t")
	for i, h := range s.heads {
		sink := ""
		if h.IsSinkHead {
			sink = "yes"
		}
		fmt.Fprintf(tw, "%d\t%d\t%.3f\t%.3f\t(%.3f)\t%.3f\t%s\t\n", h.Layer, h.Head, h.Entropy, h.FirstTokenMass,
			s.first[i].FirstTokenMass, h.BOSSinkScore, sink)
	}
	tw.Flush()
	// Where the sink heads are, by layer.
	byLayer := map[int32][]string{}
	var layers []int32
	for _, h := range s.heads {
		if h.IsSinkHead {
			if byLayer[h.Layer] == nil {
				layers = append(layers, h.Layer)
			}
			byLayer[h.Layer] = append(byLayer[h.Layer], strconv.Itoa(int(h.Head)))
		}
	}
	fmt.Fprintf(w, "sink heads (BOS sink score > %g):", probes.SinkHeadThreshold)
	if len(layers) == 0 {
		fmt.Fprint(w, " none")
	}
	for i, l := range layers {
		sep := ""
		if i > 0 {
			sep = ";"
		}
		fmt.Fprintf(w, "%s layer %d heads %s", sep, l, strings.Join(byLayer[l], ", "))
	}
	fmt.Fprintln(w)
	idx := sampleIdx(len(s.sinks), 8)
	fmt.Fprint(w, "over training (sink heads, validation accuracy where evaluated):")
	for _, i := range idx {
		fmt.Fprintf(w, "  step %d: %d", s.sinks[i].Step, s.sinks[i].SinkHeads)
		if a, ok := s.acc[int(s.sinks[i].Step)]; ok {
			fmt.Fprintf(w, " (acc %.3f)", a)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Sink₁^ε (ε=%g, %% of heads with α₁ > ε) over training:", s.eps)
	for _, i := range idx {
		fmt.Fprintf(w, "  step %d: %.0f%%", s.sinks[i].Step, s.sinks[i].SinkRate)
	}
	fmt.Fprintln(w)
}

// sampleIdx picks at most k indices spread evenly over [0, n), first and last included.
func sampleIdx(n, k int) []int {
	if n <= k {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, k)
	for i := range out {
		out[i] = i * (n - 1) / (k - 1)
	}
	return out
}

// restoreCheckpoint loads a checkpoint into the runner, checking that it was
// written for the same task.
func restoreCheckpoint(r transformer.Runner, ck *checkpoints.Checkpoint) error {
	if t := ck.State.Extra["task"]; t != "" && t != r.Config().Task {
		return fmt.Errorf("checkpoint is from task %q, this run trains %q", t, r.Config().Task)
	}
	opt, err := strconv.ParseInt(ck.State.Extra["optimizer_steps"], 10, 64)
	if err != nil {
		return fmt.Errorf("state.json: optimizer_steps: %w", err)
	}
	return r.Restore(&transformer.Snapshot{Model: ck.Model, Optimizer: ck.Optimizer, RNG: ck.State.RNG,
		Step: ck.State.Step, Tokens: ck.State.Tokens, OptSteps: opt})
}

// tokenizerFile is the trained tokenizer of a text run, in the Hugging Face schema.
const tokenizerFile = "tokenizer.json"

// openTask builds the run's task. A text task in an existing run folder reuses
// the folder's tokenizer.json, so resumed, probed and sampled runs see the same ids.
func openTask(cfg transformer.Config, runDir string) (data.Task, error) {
	if cfg.Task == data.TaskText && runDir != "" {
		tok, err := data.LoadTokenizer(filepath.Join(runDir, tokenizerFile))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", runDir, err)
		}
		t, err := data.NewText(cfg.Data, cfg.Seed, tok)
		if err != nil {
			return nil, usagef("%v", err)
		}
		return t, nil
	}
	t, err := data.New(cfg.Task, cfg.Data, cfg.Seed)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return t, nil
}
