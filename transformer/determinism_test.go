package transformer

import (
	"runtime"
	"slices"
	"testing"

	"github.com/sinklab/sinklab/data"
)

func smallInduction(c *Config) {
	c.Model.DModel, c.Model.Heads = 32, 2
	c.Train.Batch, c.Train.Steps = 16, 12
	c.Data.EvalSize, c.Train.EvalBatch = 32, 16
}

// trainParams trains and returns every parameter's values and the losses.
func trainParams(t *testing.T, steps int, mod func(c *Config)) ([][]float32, []float64) {
	tr := newTestTrainer(t, data.TaskInduction, mod)
	var losses []float64
	for i := 0; i < steps; i++ {
		st, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, st.Loss)
	}
	var ps [][]float32
	for _, p := range tr.Model.Params {
		ps = append(ps, slices.Clone(p.Data))
	}
	return ps, losses
}

func equalRuns(t *testing.T, what string, a, b [][]float32, la, lb []float64) {
	t.Helper()
	if !slices.Equal(la, lb) {
		t.Fatalf("%s: losses differ:\n%v\n%v", what, la, lb)
	}
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatalf("%s: parameter %d differs", what, i)
		}
	}
}

// Same seed twice ⇒ bit-identical parameters and losses; another seed differs.
func TestSameSeedSameRun(t *testing.T) {
	a, la := trainParams(t, 6, smallInduction)
	b, lb := trainParams(t, 6, smallInduction)
	equalRuns(t, "same seed", a, b, la, lb)
	_, lc := trainParams(t, 6, func(c *Config) { smallInduction(c); c.Seed = 2 })
	if slices.Equal(la, lc) {
		t.Fatal("seed 2 gave the same losses as seed 1")
	}
}

// GOMAXPROCS 1 and 2 give bit-identical results: the shards are fixed by the
// config, not by the number of cores, and gradients are summed in shard order.
func TestGOMAXPROCSInvariant(t *testing.T) {
	old := runtime.GOMAXPROCS(1)
	a, la := trainParams(t, 6, smallInduction)
	runtime.GOMAXPROCS(2)
	b, lb := trainParams(t, 6, smallInduction)
	runtime.GOMAXPROCS(old)
	equalRuns(t, "GOMAXPROCS 1 vs 2", a, b, la, lb)
}

// Snapshot after N steps, restore into a fresh trainer, continue: the result
// equals the uninterrupted run, for AdamW and for SGD with momentum.
func TestSnapshotResumeEqualsUninterrupted(t *testing.T) {
	for _, opt := range []string{"adamw", "sgd"} {
		t.Run(opt, func(t *testing.T) {
			mod := func(c *Config) { smallInduction(c); c.Optim.Name = opt; c.Optim.Momentum = 0.9 }
			want, lw := trainParams(t, 8, mod)
			first := newTestTrainer(t, data.TaskInduction, mod)
			var losses []float64
			for i := 0; i < 5; i++ {
				st, err := first.Step()
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, st.Loss)
			}
			snap, err := first.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			// A trainer in another state (two steps taken: other weights,
			// moments, counters and data position) must be fully overwritten.
			// The seed stays: it fixes the task's pool and epoch orders, which
			// a resumed run keeps (the command line refuses a new seed).
			second := newTestTrainer(t, data.TaskInduction, mod)
			for i := 0; i < 2; i++ {
				if _, err := second.Step(); err != nil {
					t.Fatal(err)
				}
			}
			if err := second.Restore(snap); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				st, err := second.Step()
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, st.Loss)
			}
			var got [][]float32
			for _, p := range second.Model.Params {
				got = append(got, p.Data)
			}
			equalRuns(t, "resumed", want, got, lw, losses)
		})
	}
}

// A snapshot from another architecture is refused and changes nothing.
func TestRestoreMismatch(t *testing.T) {
	a := newTestTrainer(t, data.TaskInduction, smallInduction)
	snap, _ := a.Snapshot()
	b := newTestTrainer(t, data.TaskInduction, func(c *Config) { smallInduction(c); c.Model.DModel = 16 })
	before := slices.Clone(b.Model.Params[0].Data)
	if err := b.Restore(snap); err == nil {
		t.Fatal("restore across d_model 32 → 16 succeeded")
	}
	if !slices.Equal(before, b.Model.Params[0].Data) {
		t.Fatal("failed restore changed the weights")
	}
}

// TestStepAllocatesNothing: a steady-state training step (data, forward,
// backward, gradient sum, clipping, AdamW) makes no heap allocation.
func TestStepAllocatesNothing(t *testing.T) {
	tr := newTestTrainer(t, data.TaskInduction, smallInduction)
	for i := 0; i < 3; i++ {
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per step, want 0", allocs)
	}
}
