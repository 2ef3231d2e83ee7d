package transformer

import (
	"context"
	"fmt"
	"time"

	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/transformer/capture"
)

// LogRow is one logged step as Run hands it to Hooks.Metrics: every
// train.log_every steps, the first and last step, and every evaluation or
// probe step. The caller maps it onto its log (the command line: a row of
// metrics.parquet).
type LogRow struct {
	StepStats
	// GroupLoss is the training batch's loss per metric group (GroupLoss, nil
	// for tasks with fewer than two groups); on evaluation steps it also holds
	// the held-out loss per group as "val_<group>".
	GroupLoss map[string]float64
	// Eval is the evaluation of this step; nil on other steps.
	Eval *EvalStats
	// SinkRate is the probe step's Sink₁^ε in percent as Hooks.Probe
	// returned it; nil on other steps.
	SinkRate *float64
}

// Hooks receive what a training run produces; the caller decides where it
// goes (Parquet logs, progress display, checkpoints). Nil hooks are skipped.
type Hooks struct {
	// Metrics receives one row per logged step (and every evaluation or probe step).
	Metrics func(row LogRow) error
	// Probe receives the capture of a probe step and returns its sink rate.
	Probe func(step int, tokens int64, c *capture.Capture) (sinkRate float64, err error)
	// Progress is called after every step; ev is non-nil on evaluation steps.
	Progress func(st StepStats, ev *EvalStats)
	// Checkpoint is called on checkpoint steps (every checkpoint.every steps,
	// at the first step after checkpoint.every_seconds of wall time) and at
	// the end of the run, always right after Flush.
	Checkpoint func(step int) error
	// Flush makes everything logged so far durable (finished Parquet parts).
	// It is called at the first step after log.flush_seconds of wall time
	// since the last flush, and before every checkpoint.
	Flush func(step int) error
	// Now is the clock of the time-based flushes and checkpoints; nil means
	// time.Now. Tests substitute a fake clock.
	Now func() time.Time
}

// Runner is a Trainer of either precision, as the command line sees it.
type Runner interface {
	Step() (StepStats, error)
	Evaluate() (EvalStats, error)
	Capture() (*capture.Capture, error) // its Flow is valid until the next Capture
	CaptureBatch(b *data.Batch) (*capture.Capture, error)
	HasEval() bool
	StepCount() int
	Tokens() int64
	Close()
	Config() Config
	GroupLoss() map[string]float64
	Snapshot() (*Snapshot, error)
	Restore(s *Snapshot) error
	Logits(b *data.Batch) ([]float32, error)
	SeqLen() int
}

// Config returns the resolved configuration (with vocabulary and positions filled in).
func (tr *Trainer[T]) Config() Config { return tr.Cfg }

// GroupLoss returns the last training batch's mean cross-entropy per metric
// group, over the positions with a loss weight.
func (tr *Trainer[T]) GroupLoss() map[string]float64 {
	groups := tr.Task.Groups()
	if len(groups) < 2 {
		return nil
	}
	sum := make([]float64, len(groups))
	cnt := make([]float64, len(groups))
	b := tr.cur.batch
	per := b.B / len(tr.cur.shards) * b.T
	for s, g := range tr.cur.shards {
		for i, ce := range g.ce.ce {
			k := s*per + i
			if b.Mask[k] > 0 {
				gi := int(b.Group[k])
				sum[gi] += ce
				cnt[gi]++
			}
		}
	}
	out := map[string]float64{}
	for i, name := range groups {
		if cnt[i] > 0 {
			out[name] = sum[i] / cnt[i]
		}
	}
	return out
}

// NewRunner builds a trainer of the configured precision.
func NewRunner(cfg Config, task data.Task) (Runner, error) {
	if cfg.Model.Precision == "float64" {
		return NewTrainer[float64](cfg, task)
	}
	return NewTrainer[float32](cfg, task)
}

// Run trains from the runner's current step to cfg.TotalSteps(), evaluating,
// probing, logging and checkpointing on the configured steps. Probes also run
// before the first step of a fresh run (step 0). A non-finite loss stops the
// run with an error naming the step; the parameters then are those of the
// last good step. Cancelling ctx stops after the current step with ctx's error.
//
// Wall time is read once per step (after it) to flush the logs every
// log.flush_seconds and checkpoint every checkpoint.every_seconds; both
// clocks start when Run is called, and a checkpoint also restarts the flush
// clock since it flushes first.
func Run(ctx context.Context, r Runner, h Hooks) error {
	cfg := r.Config()
	steps := cfg.TotalSteps()
	pe := cfg.Probe.Every
	now := h.Now
	if now == nil {
		now = time.Now
	}
	flushEvery := seconds(cfg.Log.FlushSeconds)
	ckEvery := seconds(cfg.Checkpoint.EverySeconds)
	lastFlush := now()
	lastCk := lastFlush
	if pe > 0 && r.StepCount() == 0 && h.Probe != nil {
		c, err := r.Capture()
		if err != nil {
			return err
		}
		if _, err := h.Probe(0, 0, c); err != nil {
			return err
		}
	}
	for r.StepCount() < steps {
		st, err := r.Step()
		if err != nil {
			return err
		}
		step := st.Step
		last := step == steps
		evalNow := r.HasEval() && ((cfg.Train.EvalEvery > 0 && step%cfg.Train.EvalEvery == 0) || last)
		probeNow := pe > 0 && h.Probe != nil && (step%pe == 0 || last)
		row := LogRow{StepStats: st}
		logNow := step%cfg.Train.LogEvery == 0 || step == 1 || last || evalNow || probeNow
		if logNow {
			row.GroupLoss = r.GroupLoss()
		}
		var ev *EvalStats
		if evalNow {
			e, err := r.Evaluate()
			if err != nil {
				return err
			}
			ev = &e
			row.Eval = ev
			if len(e.Groups) > 1 {
				if row.GroupLoss == nil {
					row.GroupLoss = map[string]float64{}
				}
				for k, v := range e.Groups {
					row.GroupLoss["val_"+k] = v
				}
			}
		}
		if probeNow {
			c, err := r.Capture()
			if err != nil {
				return err
			}
			rate, err := h.Probe(step, st.Tokens, c)
			if err != nil {
				return err
			}
			row.SinkRate = &rate
		}
		if logNow && h.Metrics != nil {
			if err := h.Metrics(row); err != nil {
				return err
			}
		}
		if h.Progress != nil {
			h.Progress(st, ev)
		}
		t := now()
		ce := cfg.Checkpoint.Every
		ckNow := h.Checkpoint != nil && (last || (ce > 0 && step%ce == 0) || (ckEvery > 0 && t.Sub(lastCk) >= ckEvery))
		if ckNow || (flushEvery > 0 && t.Sub(lastFlush) >= flushEvery) {
			if h.Flush != nil {
				if err := h.Flush(step); err != nil {
					return err
				}
			}
			lastFlush = t
		}
		if ckNow {
			if err := h.Checkpoint(step); err != nil {
				return err
			}
			lastCk = t
		}
		if err := ctx.Err(); err != nil && !last {
			return fmt.Errorf("training stopped after step %d: %w", step, err)
		}
	}
	return nil
}

// seconds converts a config's seconds to a duration; 0 or less means off (0).
func seconds(s float64) time.Duration {
	if !(s > 0) {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}
