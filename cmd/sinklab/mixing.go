package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
	"github.com/sinklab/sinklab/transformer"
)

// runMixing runs the label-mixing experiment (Varre et al. §4.2,
// probes.LabelMixing) on the runner's current model: it captures every head's
// CLS-row attention on the task's whole evaluation set, predicts the labels of
// the mixed samples with the model's forward pass, and writes the rows to
// path (mixing.parquet) atomically. step is the training step of the model.
func runMixing(r transformer.Runner, task data.Task, pairs int, step int64, path, runID, configJSON string) ([]probes.MixingRow, error) {
	cfg := r.Config()
	batches := task.Eval(cfg.Train.EvalBatch)
	if len(batches) == 0 {
		return nil, fmt.Errorf("label mixing: the task has no evaluation set")
	}
	set := &probes.MixingSet{}
	for _, b := range batches {
		c, err := r.CaptureBatch(b)
		if err != nil {
			return nil, fmt.Errorf("label mixing: %w", err)
		}
		labels := make([]int32, b.B) // the target at CLS, the last position
		for i := range labels {
			labels[i] = b.Targets[i*b.T+b.T-1]
		}
		if err := set.Add(c, labels); err != nil {
			return nil, fmt.Errorf("label mixing: %w", err)
		}
	}
	T := task.SeqLen()
	tp := T // positions of the model's output
	if cfg.Model.SinkToken {
		tp++
	}
	B := batches[0].B // reuses the evaluation graph of that size
	batch := data.NewBatch(B, T)
	predict := func(tokens []int32, n int) ([]int32, error) { // tokens (n, T)
		out := make([]int32, 0, n)
		for lo := 0; lo < n; lo += B {
			m := min(B, n-lo)
			copy(batch.Inputs, tokens[lo*T:(lo+m)*T])
			for i := m; i < B; i++ { // pad a short last batch with its first sequence
				copy(batch.Inputs[i*T:(i+1)*T], tokens[lo*T:(lo+1)*T])
			}
			logits, err := r.Logits(batch) // (B, T', V_out)
			if err != nil {
				return nil, err
			}
			pred, err := probes.CLSPredictions(logits, B, tp, cfg.Data.Labels)
			if err != nil {
				return nil, err
			}
			out = append(out, pred[:m]...)
		}
		return out, nil
	}
	rows, err := probes.LabelMixing(set, pairs, cfg.Seed, predict)
	if err != nil {
		return nil, fmt.Errorf("label mixing: %w", err)
	}
	for i := range rows {
		rows[i].RunID, rows[i].Step = runID, step
	}
	meta := probes.MixingMeta(pairs, cfg.Seed, set.N())
	meta[probes.MetaRunID], meta[probes.MetaConfig], meta[probes.MetaVersion] = runID, configJSON, Version()
	if err := probes.WriteMixing(path, rows, meta); err != nil {
		return nil, fmt.Errorf("label mixing: %w", err)
	}
	return rows, nil
}

// printMixing prints the label-mixing rows as a table.
func printMixing(w io.Writer, rows []probes.MixingRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nlabel mixing at step %d (%d pairs; top-1 dominance = (rate A + rate B)/2; CLS-row attention):\n",
		rows[0].Step, rows[0].Pairs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\thead\trate A\trate B\ttop-1 dominance\tmax attn\tattn sum\trel max attn\t")
	for _, m := range rows {
		fmt.Fprintf(tw, "%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n", m.Layer, m.Head, m.RateA, m.RateB,
			m.Top1Dominance, m.AbsAttnMax, m.AbsAttnSum, m.RelAttnMax)
	}
	tw.Flush()
}
