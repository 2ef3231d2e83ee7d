package data

import (
	"math"
	"testing"
)

// TestInductionStructure checks SCIENCE.md §2 on many sequences: BOS first,
// t₁…tₙ distinct in 1…base_vocab, r = tᵢ (+ base_vocab+1) with i uniform in
// 1…n (all n positions, as the paper's code), target at the last position
// c = tᵢ₊₁, or c = r when i = n (the rate of that case is checked with the
// other values of i: 1/n within 5 standard errors), targets = inputs shifted by one, mask
// 1 at the last position and aux_weight/(T−1) before it, score at the last only.
func TestInductionStructure(t *testing.T) {
	for _, tc := range []struct {
		label string
		edit  func(*Config)
		n     int
		base  int
		shift int32
		vocab int
	}{
		{"default", nil, 10, 49, 50, 100},
		{"no-shift", func(c *Config) { c.ShiftQuery = false }, 10, 49, 0, 50},
		{"n2-base3", func(c *Config) { c.NDistinct, c.BaseVocab, c.AuxWeight = 2, 3, 0.5 }, 2, 3, 4, 8},
		{"n20", func(c *Config) { c.NDistinct = 20 }, 20, 49, 50, 100},
	} {
		t.Run(tc.label, func(t *testing.T) {
			task := mustNew(t, TaskInduction, tc.edit, 1)
			c, _ := DefaultConfig(TaskInduction)
			if tc.edit != nil {
				tc.edit(&c)
			}
			T := tc.n + 2
			if task.SeqLen() != T || task.Vocab() != tc.vocab {
				t.Fatalf("T %d vocab %d, want %d %d", task.SeqLen(), task.Vocab(), T, tc.vocab)
			}
			b := fill(task, newRNG(5), 3000)
			checkCommon(t, task, b, 1+c.AuxWeight)
			seenI := map[int]int{}
			seenTok := map[int32]bool{}
			for s := 0; s < b.B; s++ {
				r := batchRow(b, s)
				if r.in[0] != 0 {
					t.Fatalf("seq %d: first input %d, want BOS", s, r.in[0])
				}
				ctx := r.in[1 : tc.n+1]
				pos := map[int32]int{}
				for k, x := range ctx {
					if x < 1 || int(x) > tc.base {
						t.Fatalf("seq %d: context token %d outside 1…%d", s, x, tc.base)
					}
					if _, dup := pos[x]; dup {
						t.Fatalf("seq %d: context %v repeats %d", s, ctx, x)
					}
					pos[x] = k + 1 // 1-based
					seenTok[x] = true
				}
				q := r.in[T-1]
				i, ok := pos[q-tc.shift]
				if !ok || i > tc.n {
					t.Fatalf("seq %d: query %d is not tᵢ+%d for i in 1…%d (context %v)", s, q, tc.shift, tc.n, ctx)
				}
				seenI[i]++
				if i == tc.n {
					if r.tgt[T-1] != q {
						t.Fatalf("seq %d: i = n, target %d, want c = r = %d", s, r.tgt[T-1], q)
					}
				} else if r.tgt[T-1] != ctx[i] {
					t.Fatalf("seq %d: target %d, want tᵢ₊₁ = %d", s, r.tgt[T-1], ctx[i])
				}
				for p := 0; p < T-1; p++ {
					if r.tgt[p] != r.in[p+1] {
						t.Fatalf("seq %d: target[%d] = %d, want input[%d] = %d", s, p, r.tgt[p], p+1, r.in[p+1])
					}
					if want := float32(c.AuxWeight / float64(T-1)); r.mask[p] != want || r.score[p] {
						t.Fatalf("seq %d pos %d: mask %v score %v, want %v false", s, p, r.mask[p], r.score[p], want)
					}
				}
				if r.mask[T-1] != 1 || !r.score[T-1] {
					t.Fatalf("seq %d: last mask %v score %v", s, r.mask[T-1], r.score[T-1])
				}
			}
			// Every allowed i and every token occur; i is about uniform.
			if len(seenI) != tc.n || len(seenTok) != tc.base {
				t.Fatalf("saw %d values of i and %d tokens, want %d and %d", len(seenI), len(seenTok), tc.n, tc.base)
			}
			p := 1 / float64(tc.n)
			for i, k := range seenI {
				if f := float64(k) / float64(b.B); math.Abs(f-p) > 5*math.Sqrt(p*(1-p)/float64(b.B)) {
					t.Errorf("i = %d has frequency %.3f, want %.3f", i, f, p)
				}
			}
		})
	}
}
