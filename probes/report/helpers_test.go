package report

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sinklab/sinklab/attention"
	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
	"github.com/sinklab/sinklab/transformer"
	"github.com/sinklab/sinklab/transformer/capture"
)

// trainTiny trains a small induction model with the transformer package and
// writes its run folder the way sinklab train does: config.json, the Parquet
// logs through probes.Recorder, and an attention snapshot of the first
// evaluation sequence at every AttnSnapshotDue probe step. mod adjusts the
// config (nil: none). It returns the resolved config.
func trainTiny(t testing.TB, runDir, runID string, steps int, mod func(c *transformer.Config)) transformer.Config {
	t.Helper()
	cfg, err := transformer.DefaultConfig(data.TaskInduction)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Model.DModel, cfg.Model.Heads = 32, 2
	cfg.Train.Batch, cfg.Train.Steps = 16, steps
	cfg.Data.EvalSize, cfg.Train.EvalBatch = 32, 16
	cfg.Train.EvalEvery, cfg.Train.LogEvery, cfg.Probe.Every = 10, 5, 10
	cfg.Optim.LR = 1e-2
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	task, err := data.New(cfg.Task, cfg.Data, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	runner, err := transformer.NewRunner(cfg, task)
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close()
	cfg = runner.Config()
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cj, err := json.MarshalIndent(map[string]any{"command": "train", "run_id": runID, "sinklab_version": "test",
		"seed": cfg.Seed, "created": "2026-01-01T00:00:00Z", "config": cfg}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runDir, "config.json"), cj, 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := probes.NewRecorder(runDir, runID, string(cj), "test", &probes.RecorderOptions{SinkEpsilon: cfg.Probe.Eps})
	if err != nil {
		t.Fatal(err)
	}
	evalTokens := task.Eval(cfg.Train.EvalBatch)[0].Inputs[:task.SeqLen()]
	hooks := transformer.Hooks{
		Metrics: func(r transformer.LogRow) error { return rec.WriteMetrics(metricsRow(r)) },
		Probe: func(step int, tokens int64, c *capture.Capture) (float64, error) {
			rate, err := rec.WriteProbes(int64(step), tokens, c)
			if err != nil || !AttnSnapshotDue(step, cfg.Probe.Every, cfg.Train.Steps) {
				return rate, err
			}
			s, err := NewAttnSnapshot(c, 0, int64(step), evalTokens, 0)
			if err != nil {
				return rate, err
			}
			return rate, WriteAttnSnapshot(runDir, s)
		},
	}
	if err := transformer.Run(context.Background(), runner, hooks); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// metricsRow maps a logged step onto its metrics.parquet row, as sinklab
// train does (cmd/sinklab metricsRow).
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

// theoryTiny runs a short value-softmax experiment (with the exact flow) and
// writes its run folder the way sinklab theory does.
func theoryTiny(t testing.TB, runDir, runID, experiment string, sets map[string]string) {
	t.Helper()
	cfg, err := attention.DefaultExperimentConfig(experiment)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range sets {
		if err := cfg.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cj, err := json.MarshalIndent(map[string]any{"command": "theory", "run_id": runID, "sinklab_version": "test",
		"seed": cfg.Seed, "created": "2026-01-01T00:00:00Z", "config": cfg}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runDir, "config.json"), cj, 0o644); err != nil {
		t.Fatal(err)
	}
	compact, _ := json.Marshal(cfg)
	w, err := probes.NewTheoryWriter(filepath.Join(runDir, probes.TheoryFile), map[string]string{
		"run_id": runID, "config": string(compact), "sinklab_version": "test", "kind": "theory"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = attention.RunExperiment(context.Background(), cfg, attention.ExperimentHooks{
		Record: func(r attention.TheoryRecord) error {
			row := probes.TheoryRow{RunID: runID, Experiment: cfg.Experiment, Variant: r.Variant, Step: r.Step,
				Time: r.Time, Loss: r.Loss, Entropy: r.Entropy, MaxWeight: r.MaxWeight, Argmax: int32(r.Argmax),
				SumA: r.SumA, ConservedDrift: r.Drift, SumAlpha: r.SumAlpha, Weights: r.Weights, U: r.U}
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
			return w.Write(row)
		},
	})
	if err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
