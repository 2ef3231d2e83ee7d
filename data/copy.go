package data

import "math/rand/v2"

// Special tokens of the copy task.
const (
	copyBOS = 0
	copySEP = 1
)

// copyTask is the copy control of SCIENCE.md §4.
//
// A sequence is [BOS=0, a₁ … a_L, SEP=1, a₁ … a_L] with a₁…a_L drawn
// i.i.d. uniformly from the content tokens 2…vocab−1; inputs seq[:-1],
// targets seq[1:], so T = 2L+1. Loss only on the copied half: mask 1/L and
// Score at the L positions whose target is a copied token (inputs SEP,
// a₁ … a_{L−1}); mask 0 on the first half. One group, "all".
type copyTask struct {
	l       int     // tokens copied
	content int     // number of content tokens, vocab−2
	w       float32 // 1/L
}

func buildCopy(c Config) (*task, error) {
	l := (c.SeqLen - 1) / 2
	return &task{vocab: c.Vocab, seqLen: c.SeqLen, causal: true, groups: []string{"all"},
		gen: &copyTask{l: l, content: c.Vocab - 2, w: 1 / float32(l)}}, nil
}

func (g *copyTask) row(rng *rand.Rand, r rowRef) {
	l := g.l
	// seq[0] = BOS, seq[k] = a_k (k = 1…L), seq[L+1] = SEP, seq[L+1+k] = a_k.
	// in[p] = seq[p] and tgt[p] = seq[p+1] for p = 0…2L.
	r.in[0] = copyBOS
	r.in[l+1] = copySEP
	r.tgt[l] = copySEP
	for k := 1; k <= l; k++ {
		a := int32(2 + rng.IntN(g.content))
		r.in[k] = a
		r.tgt[k-1] = a
		r.tgt[l+k] = a
		if k < l {
			r.in[l+1+k] = a
		}
	}
	for p := 0; p <= l; p++ {
		r.mask[p], r.score[p], r.group[p] = 0, false, 0
	}
	for p := l + 1; p <= 2*l; p++ {
		r.mask[p], r.score[p], r.group[p] = g.w, true, 0
	}
}
