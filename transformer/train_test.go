package transformer

import (
	"testing"

	"github.com/sinklab/sinklab/data"
)

func newTestTrainer(t testing.TB, task string, mod func(c *Config)) *Trainer[float32] {
	t.Helper()
	cfg, err := DefaultConfig(task)
	if err != nil {
		t.Fatal(err)
	}
	mod(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tk, err := data.New(task, cfg.Data, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer[float32](cfg, tk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// TestLearnsCopy: a small model learns the copy task: the loss falls well
// below its start and accuracy on the copied half is far above chance.
func TestLearnsCopy(t *testing.T) {
	tr := newTestTrainer(t, data.TaskCopy, func(c *Config) {
		c.Model.DModel, c.Model.Layers, c.Model.Heads = 64, 2, 4
		c.Model.Positions = PosLearnedAdd
		c.Data.SeqLen, c.Data.Vocab, c.Data.EvalSize = 17, 16, 256
		c.Train.Batch, c.Train.Steps = 32, 400
		c.Optim.LR = 3e-3
	})
	first, err := tr.Step()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < tr.Cfg.Train.Steps; i++ {
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := tr.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	chance := 1.0 / 14
	t.Logf("first loss %.3f, eval loss %.3f, accuracy %.3f (chance %.3f)", first.Loss, ev.Loss, ev.Accuracy, chance)
	if !(ev.Loss < 0.3*first.Loss) {
		t.Errorf("eval loss %.3f not well below the first loss %.3f", ev.Loss, first.Loss)
	}
	if !(ev.Accuracy > 0.8) {
		t.Errorf("accuracy %.3f, want > 0.8 (chance %.3f)", ev.Accuracy, chance)
	}
}

// Evaluate spreads the held-out batches over the shard goroutines and reduces
// them in batch order: the same numbers, bit for bit, as one goroutine, also
// with a last, shorter batch and task groups. (The shards change training's
// summation order, so the models are compared at initialisation.)
func TestEvaluateShardsIdentical(t *testing.T) {
	eval := func(shards int) EvalStats {
		tr := newTestTrainer(t, data.TaskBackcopy, func(c *Config) {
			c.Model.DModel, c.Model.Heads, c.Model.Layers = 16, 2, 1
			c.Data.SeqLen, c.Data.EvalSize = 32, 53
			c.Train.Batch, c.Train.EvalBatch, c.Train.Shards = 8, 8, shards
		})
		ev, err := tr.Evaluate() // before any step: the same parameters for both
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	one, two := eval(1), eval(2)
	if len(one.Groups) < 2 {
		t.Fatalf("want task groups, got %v", one.Groups)
	}
	if one.Loss != two.Loss || !(one.Accuracy == two.Accuracy || one.Accuracy != one.Accuracy && two.Accuracy != two.Accuracy) {
		t.Fatalf("1 shard: %+v, 2 shards: %+v", one, two)
	}
	for k, v := range one.Groups {
		if two.Groups[k] != v {
			t.Fatalf("group %s: 1 shard %v, 2 shards %v", k, v, two.Groups[k])
		}
	}
}

// The capture holds the final residual stream: the input of the final
// LayerNorm, (B, T, D).
func TestCaptureFinalResidual(t *testing.T) {
	tr := newTestTrainer(t, data.TaskInduction, tinyReplicator)
	c, err := tr.Capture()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.ResidFinal), c.B*c.T*c.D; got != want {
		t.Fatalf("final residual has %d values, want B·T·D = %d", got, want)
	}
	same := true
	for i, v := range c.ResidFinal {
		same = same && v == c.Resid[c.L-1][i]
	}
	if same {
		t.Fatal("the final residual stream equals the last block's input")
	}
}
