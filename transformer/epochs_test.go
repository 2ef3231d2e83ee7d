package transformer

import (
	"fmt"
	"testing"

	"github.com/sinklab/sinklab/data"
)

// TestEpochsVisitPoolOnce: with a pool of 100 and batch 16, an epoch is 7
// batches (the last holds the 4 left over, as DataLoader(shuffle=True)
// gives); each epoch visits each pool sequence exactly once, in a fresh
// order; train.epochs = 2 is 14 steps.
func TestEpochsVisitPoolOnce(t *testing.T) {
	tr := newTestTrainer(t, data.TaskInduction, func(c *Config) {
		smallInduction(c)
		c.Data.Pool, c.Train.Steps, c.Train.Epochs = 100, 0, 2
	})
	if got := tr.Cfg.TotalSteps(); got != 14 {
		t.Fatalf("TotalSteps = %d, want 14", got)
	}
	pool := tr.Task.(data.Pooled)
	all := data.NewBatch(100, tr.Task.SeqLen())
	idx := make([]int32, 100)
	for i := range idx {
		idx[i] = int32(i)
	}
	pool.FillPool(idx, all)
	key := func(b *data.Batch, i int) string {
		return fmt.Sprint(b.Inputs[i*b.T:(i+1)*b.T], b.Targets[i*b.T:(i+1)*b.T])
	}
	rowOf := map[string]int{}
	for i := 0; i < 100; i++ {
		rowOf[key(all, i)] = i
	}
	var orders [2][]int
	for e := 0; e < 2; e++ {
		count := make([]int, 100)
		for j := 0; j < 7; j++ {
			if err := tr.fill(); err != nil {
				t.Fatal(err)
			}
			b := tr.cur.batch
			if want := min(16, 100-16*j); b.B != want {
				t.Fatalf("epoch %d batch %d has %d sequences, want %d", e, j, b.B, want)
			}
			for i := 0; i < b.B; i++ {
				r, ok := rowOf[key(b, i)]
				if !ok {
					t.Fatalf("epoch %d batch %d row %d is not a pool sequence", e, j, i)
				}
				count[r]++
				orders[e] = append(orders[e], r)
			}
			tr.step++ // what Step does after a successful update
		}
		for r, c := range count {
			if c != 1 {
				t.Fatalf("epoch %d visits pool sequence %d %d times", e, r, c)
			}
		}
	}
	if fmt.Sprint(orders[0]) == fmt.Sprint(orders[1]) {
		t.Fatal("epochs 0 and 1 visit the pool in the same order")
	}
}

// TestEpochsTrainTailBatch: two epochs of real steps, the short last batch of
// each epoch included (its own graphs): every sequence is seen twice.
func TestEpochsTrainTailBatch(t *testing.T) {
	tr := newTestTrainer(t, data.TaskInduction, func(c *Config) {
		smallInduction(c)
		c.Data.Pool, c.Train.Steps, c.Train.Epochs = 100, 0, 2
	})
	for tr.StepCount() < tr.Cfg.TotalSteps() {
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
	}
	if want := int64(2 * 100 * tr.Task.SeqLen()); tr.Tokens() != want {
		t.Fatalf("tokens seen %d, want %d", tr.Tokens(), want)
	}
}
