package data

import (
	"math"
	"testing"
)

// TestClassificationStructure checks SCIENCE.md §2 on many samples: sample_len
// distinct tokens all from one label's group, CLS (0) last, target at CLS the
// label, mask and score at CLS only; the vocab sweep {41, 81, 161} included.
func TestClassificationStructure(t *testing.T) {
	for _, tc := range []struct {
		vocab, labels, sampleLen int
	}{{41, 4, 10}, {81, 4, 10}, {161, 4, 10}, {31, 3, 4}} {
		t.Run("", func(t *testing.T) {
			task := mustNew(t, TaskClassification, func(c *Config) {
				c.Vocab, c.Labels, c.SampleLen = tc.vocab, tc.labels, tc.sampleLen
			}, 2)
			if task.Causal() || task.Vocab() != tc.vocab || task.SeqLen() != tc.sampleLen+1 {
				t.Fatalf("causal %v vocab %d T %d", task.Causal(), task.Vocab(), task.SeqLen())
			}
			size := int32((tc.vocab - 1) / tc.labels)
			b := fill(task, newRNG(3), 2000)
			checkCommon(t, task, b, 1)
			count := make([]int, tc.labels)
			seenTok := map[int32]bool{}
			for s := 0; s < b.B; s++ {
				r := batchRow(b, s)
				cls := tc.sampleLen
				label := r.tgt[cls]
				if r.in[cls] != 0 || label < 0 || int(label) >= tc.labels || r.mask[cls] != 1 || !r.score[cls] {
					t.Fatalf("seq %d: CLS position input %d target %d mask %v score %v", s, r.in[cls], label, r.mask[cls], r.score[cls])
				}
				count[label]++
				seen := map[int32]bool{}
				for p := 0; p < cls; p++ {
					x := r.in[p]
					if x < 1+label*size || x > size+label*size {
						t.Fatalf("seq %d: token %d not in label %d's group %d…%d", s, x, label, 1+label*size, size+label*size)
					}
					if seen[x] {
						t.Fatalf("seq %d: token %d repeated", s, x)
					}
					seen[x], seenTok[x] = true, true
					if r.mask[p] != 0 || r.score[p] {
						t.Fatalf("seq %d pos %d: mask %v score %v, want 0 false", s, p, r.mask[p], r.score[p])
					}
				}
			}
			if len(seenTok) != tc.vocab-1 {
				t.Errorf("saw %d distinct tokens, want all %d", len(seenTok), tc.vocab-1)
			}
			p := 1 / float64(tc.labels)
			for g, k := range count {
				if f := float64(k) / float64(b.B); math.Abs(f-p) > 5*math.Sqrt(p*(1-p)/float64(b.B)) {
					t.Errorf("label %d frequency %.3f, want %.3f", g, f, p)
				}
			}
		})
	}
}
