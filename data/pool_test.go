package data

import (
	"testing"
)

// TestPoolDrawsOnlyPoolSequences: in pool mode every filled sequence is one of
// the pool's, many different pool sequences are drawn, and the held-out set is
// disjoint from the pool.
func TestPoolDrawsOnlyPoolSequences(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			const poolSize = 50
			tk := mustNew(t, name, func(c *Config) { c.Pool, c.EvalSize = poolSize, 200 }, 21)
			pool := tk.(*task).pool
			if pool == nil || pool.n != poolSize {
				t.Fatalf("pool not built")
			}
			inPool := map[string]bool{}
			asBatch := pool.batches(poolSize)[0]
			for i := 0; i < poolSize; i++ {
				inPool[rowKey(asBatch, i)] = true
			}
			drawn := map[string]bool{}
			rng := newRNG(4)
			for k := 0; k < 10; k++ {
				b := fill(tk, rng, 64)
				for i := 0; i < b.B; i++ {
					key := rowKey(b, i)
					if !inPool[key] {
						t.Fatalf("batch %d row %d is not a pool sequence", k, i)
					}
					drawn[key] = true
				}
			}
			// 640 uniform draws from 50 miss a given sequence with probability (49/50)^640 ≈ 2e-6.
			if len(drawn) != len(inPool) {
				t.Errorf("drew %d distinct pool sequences of %d", len(drawn), len(inPool))
			}
			// The pool rows are not all the same sequence.
			if len(inPool) < poolSize/2 {
				t.Errorf("pool has only %d distinct sequences of %d", len(inPool), poolSize)
			}
			if name == TaskClassification {
				return // a class sample is one of 4·10! orders: the eval set may repeat a pool sequence
			}
			eval := tk.Eval(200)[0]
			for i := 0; i < eval.B; i++ {
				if inPool[rowKey(eval, i)] {
					t.Errorf("eval sequence %d is also in the pool", i)
				}
			}
		})
	}
}

// TestPoolMatchesGeneration: the pool is the first N sequences of the pool
// stream, so it does not depend on the eval size or on Fill calls.
func TestPoolMatchesGeneration(t *testing.T) {
	a := mustNew(t, TaskInduction, func(c *Config) { c.Pool, c.EvalSize = 30, 10 }, 3).(*task)
	b := mustNew(t, TaskInduction, func(c *Config) { c.Pool, c.EvalSize = 30, 500 }, 3).(*task)
	ref := generateRows(a.gen, streamRNG(3, streamPool), 30, a.seqLen)
	for _, s := range []*rowStore{a.pool, b.pool} {
		x, y := s.batches(30)[0], ref.batches(30)[0]
		if !batchesEqual(x, y) {
			t.Fatal("pool differs from the pool stream's first sequences")
		}
	}
}

func TestStreamRNGDistinct(t *testing.T) {
	seen := map[uint64]string{}
	for seed := uint64(0); seed < 50; seed++ {
		for _, s := range []struct {
			name string
			tag  uint64
		}{{"pool", streamPool}, {"eval", streamEval}} {
			v := streamRNG(seed, s.tag).Uint64()
			if prev, dup := seen[v]; dup {
				t.Fatalf("seed %d stream %s repeats the first output of %s", seed, s.name, prev)
			}
			seen[v] = s.name
		}
	}
}

// TestEpochOrder: every epoch's order is a permutation of the pool indices,
// the same for the same (seed, epoch), and different across epochs and seeds.
func TestEpochOrder(t *testing.T) {
	const n = 1000
	a, b, c, d := make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
	EpochOrder(7, 0, a)
	EpochOrder(7, 0, b)
	EpochOrder(7, 1, c)
	EpochOrder(8, 0, d)
	seen := make([]bool, n)
	for _, k := range a {
		if k < 0 || k >= n || seen[k] {
			t.Fatalf("epoch order is not a permutation: %d repeated or out of range", k)
		}
		seen[k] = true
	}
	same := func(x, y []int32) int {
		m := 0
		for i := range x {
			if x[i] == y[i] {
				m++
			}
		}
		return m
	}
	if same(a, b) != n {
		t.Fatal("same seed and epoch gave another order")
	}
	// Two independent permutations agree at about one position in expectation.
	if m := same(a, c); m > 10 {
		t.Fatalf("epochs 0 and 1 agree at %d of %d positions", m, n)
	}
	if m := same(a, d); m > 10 {
		t.Fatalf("seeds 7 and 8 agree at %d of %d positions", m, n)
	}
}
