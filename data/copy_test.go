package data

import "testing"

// TestCopyStructure: [BOS, a₁…a_L, SEP, a₁…a_L]; the second half equals the
// first; mask 1/L and score on the copied half only.
func TestCopyStructure(t *testing.T) {
	for _, tc := range []struct{ seqLen, vocab int }{{33, 64}, {3, 3}, {101, 10}} {
		t.Run("", func(t *testing.T) {
			task := mustNew(t, TaskCopy, func(c *Config) { c.SeqLen, c.Vocab = tc.seqLen, tc.vocab }, 3)
			l := (tc.seqLen - 1) / 2
			b := fill(task, newRNG(8), 500)
			checkCommon(t, task, b, 1)
			seen := map[int32]bool{}
			for s := 0; s < b.B; s++ {
				r := batchRow(b, s)
				// Rebuild the full sequence: inputs then the last target.
				seq := append(append([]int32{}, r.in...), r.tgt[len(r.tgt)-1])
				for p := 0; p+1 < len(seq); p++ {
					if r.tgt[p] != seq[p+1] {
						t.Fatalf("seq %d: targets are not inputs shifted by one", s)
					}
				}
				if seq[0] != copyBOS || seq[l+1] != copySEP {
					t.Fatalf("seq %d: %v lacks BOS/SEP", s, seq)
				}
				for k := 1; k <= l; k++ {
					if seq[k] < 2 || int(seq[k]) >= tc.vocab {
						t.Fatalf("seq %d: content token %d outside 2…%d", s, seq[k], tc.vocab-1)
					}
					if seq[l+1+k] != seq[k] {
						t.Fatalf("seq %d: %v: second half differs from the first", s, seq)
					}
					seen[seq[k]] = true
				}
				for p := 0; p < tc.seqLen; p++ {
					copied := p > l
					if r.score[p] != copied || (copied && r.mask[p] != 1/float32(l)) || (!copied && r.mask[p] != 0) {
						t.Fatalf("seq %d pos %d: mask %v score %v", s, p, r.mask[p], r.score[p])
					}
				}
			}
			if len(seen) != tc.vocab-2 {
				t.Errorf("saw %d content tokens, want %d", len(seen), tc.vocab-2)
			}
		})
	}
}
