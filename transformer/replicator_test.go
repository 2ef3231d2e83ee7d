package transformer

import (
	"context"
	"math"
	"testing"

	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
	"github.com/sinklab/sinklab/transformer/capture"
)

// newTestTrainer64 is newTestTrainer in float64.
func newTestTrainer64(t testing.TB, task string, mod func(c *Config)) *Trainer[float64] {
	t.Helper()
	cfg, err := DefaultConfig(task)
	if err != nil {
		t.Fatal(err)
	}
	mod(&cfg)
	cfg.Model.Precision = "float64"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tk, err := data.New(task, cfg.Data, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer[float64](cfg, tk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

func tinyReplicator(c *Config) {
	c.Model.DModel, c.Model.Heads, c.Model.Layers = 16, 2, 2
	c.Train.Batch, c.Train.Steps = 8, 10
	c.Data.EvalSize, c.Train.EvalBatch = 4, 4
}

// The probe's G = ∂L/∂A equals a central finite difference of the probe
// batch's loss with respect to single attention weights (SCIENCE.md §3b),
// in float64, for weights of both layers and with and without the key/value
// bias slot; for softmax, ∂L/∂S from G by the replicator formula −p·f equals
// the op's own ∂L/∂S.
func TestReplicatorGradFiniteDifference(t *testing.T) {
	for _, kv := range []bool{false, true} {
		tr := newTestTrainer64(t, data.TaskInduction, func(c *Config) { tinyReplicator(c); c.Model.KVBias = kv })
		for i := 0; i < 3; i++ { // move off the initialization
			if _, err := tr.Step(); err != nil {
				t.Fatal(err)
			}
		}
		b := tr.evalBatches()[0]
		c, err := tr.captureFlow(b)
		if err != nil {
			t.Fatal(err)
		}
		g := tr.probe
		loss := func() float64 {
			if err := g.run(b.Inputs, b.Targets, b.Mask); err != nil {
				t.Fatal(err)
			}
			return g.lossValue()
		}
		tk := c.Flow.Tk
		checked := 0
		for l, op := range g.attn {
			G := c.Flow.G[l]
			// Visible weights of sample 1, head 1, rows 3 and T−1.
			for _, i := range []int{3, c.T - 1} {
				for j := 0; j <= i+c.Flow.Off; j += 2 {
					idx := ((1*c.H+1)*c.T+i)*tk + j
					const h = 1e-5
					op.PerturbWeight(idx, h)
					lp := loss()
					op.PerturbWeight(idx, -h)
					lm := loss()
					op.PerturbWeight(idx, 0)
					fd := (lp - lm) / (2 * h)
					if d := math.Abs(fd - G[idx]); d > 1e-7*(1+math.Abs(fd)) {
						t.Errorf("kv=%v layer %d row %d key %d: G = %.10g, finite difference %.10g", kv, l, i, j, G[idx], fd)
					}
					checked++
				}
			}
		}
		if checked < 10 {
			t.Fatalf("only %d weights checked", checked)
		}
		// (b) softmax: ∂L/∂s_ij = −p_ij f_ij with f the advantage of w = −G.
		for l := range c.Flow.G {
			P, G, DS := c.Flow.P[l], c.Flow.G[l], c.Flow.DS[l]
			for r := 0; r < c.B*c.H*c.T; r++ {
				n := c.Flow.Off + r%c.T + 1
				var pw float64
				for j := 0; j < n; j++ {
					pw -= P[r*tk+j] * G[r*tk+j]
				}
				for j := 0; j < n; j++ {
					f := -G[r*tk+j] - pw
					if want := -P[r*tk+j] * f; math.Abs(want-DS[r*tk+j]) > 1e-12 {
						t.Fatalf("kv=%v layer %d row %d key %d: −p·f = %g, op's ∂L/∂s = %g", kv, l, r, j, want, DS[r*tk+j])
					}
				}
			}
		}
	}
}

// The probe pass changes nothing the training reads: losses and parameters
// after N steps are bit-identical with replicator probes every 2 steps,
// with forward-only probes, and without probes.
func TestReplicatorProbesDoNotChangeTraining(t *testing.T) {
	run := func(every int, skip bool) ([][]float32, []float64, int) {
		tr := newTestTrainer(t, data.TaskInduction, func(c *Config) {
			tinyReplicator(c)
			c.Probe.Every, c.Probe.SkipReplicator = every, skip
		})
		var losses []float64
		flows := 0
		err := Run(context.Background(), tr, Hooks{
			Progress: func(st StepStats, _ *EvalStats) { losses = append(losses, st.Loss) },
			Probe: func(_ int, _ int64, c *capture.Capture) (float64, error) {
				if c.Flow != nil {
					flows++
					probes.MeasureCapture(c, 0.3)
				}
				return 0, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		var ps [][]float32
		for _, p := range tr.Model.Params {
			ps = append(ps, append([]float32(nil), p.Data...))
		}
		return ps, losses, flows
	}
	base, lb, _ := run(0, false)
	on, lo, flows := run(2, false)
	if flows < 5 {
		t.Fatalf("replicator probes ran %d times, want ≥ 5", flows)
	}
	equalRuns(t, "replicator probes on vs probes off", base, on, lb, lo)
	fwd, lf, flows := run(2, true)
	if flows != 0 {
		t.Fatalf("probe.skip_replicator: %d captures with a flow", flows)
	}
	equalRuns(t, "replicator probes on vs forward-only probes", fwd, on, lf, lo)
}

// The capture of a replicator probe pass holds the same attention maps as a
// forward-only capture, and the replicator columns are filled.
func TestReplicatorCaptureMatchesForward(t *testing.T) {
	tr := newTestTrainer(t, data.TaskInduction, tinyReplicator)
	a, err := tr.Capture()
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.CaptureBatch(tr.evalBatches()[0])
	if err != nil {
		t.Fatal(err)
	}
	if a.Flow == nil || b.Flow != nil {
		t.Fatalf("Flow: replicator capture %v, forward capture %v", a.Flow != nil, b.Flow != nil)
	}
	for l := range a.Attn {
		for i := range a.Attn[l] {
			if a.Attn[l][i] != b.Attn[l][i] {
				t.Fatalf("layer %d: attention maps differ at %d", l, i)
			}
		}
	}
	heads, _, _ := probes.MeasureCapture(a, 0.3)
	for _, h := range heads {
		if h.BOSDrift == nil || h.EntropyDrift == nil || h.PredictedWinner == nil || h.GradNormScores == nil || !(*h.GradNormScores > 0) {
			t.Fatalf("head row %+v lacks replicator columns", h)
		}
	}
}
