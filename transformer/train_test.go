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
