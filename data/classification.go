package data

import "math/rand/v2"

// classification is the bag-of-tokens task of Varre et al. §4.2 (SCIENCE.md §2).
//
// Token 0 is CLS; label g in 0…labels−1 owns the G = (vocab−1)/labels tokens
// 1+g·G … G+g·G (1…10, 11…20, … for the defaults). A sample is sample_len
// distinct tokens of one group, in random order, followed by CLS, so
// T = sample_len+1. The target at CLS is the label g itself, used as a token
// id 0…labels−1. The task is not
// causal (the model attends over the whole sample). Outputs() is labels: the
// paper reads a labels-way output at CLS. Mask 1 and Score at CLS
// only; the other positions have target 0 and mask 0. One group, "all".
type classification struct {
	labels, size, n int     // labels, tokens per label G, tokens per sample
	perm            []int32 // offsets 0…G−1; the identity between rows
	swapIndex       []int
}

func buildClassification(c Config) (*task, error) {
	g := &classification{
		labels:    c.Labels,
		size:      (c.Vocab - 1) / c.Labels,
		n:         c.SampleLen,
		swapIndex: make([]int, c.SampleLen),
	}
	g.perm = make([]int32, g.size)
	for k := range g.perm {
		g.perm[k] = int32(k)
	}
	return &task{vocab: c.Vocab, seqLen: c.seqLen(TaskClassification), causal: false,
		groups: []string{"all"}, gen: g, outputs: c.Labels}, nil
}

func (g *classification) row(rng *rand.Rand, r rowRef) {
	label := rng.IntN(g.labels)
	drawDistinct(rng, g.perm, g.swapIndex)
	first := int32(1 + label*g.size)
	for k := 0; k < g.n; k++ {
		r.in[k] = first + g.perm[k]
		r.tgt[k], r.mask[k], r.score[k], r.group[k] = 0, 0, false, 0
	}
	r.in[g.n] = 0 // CLS
	r.tgt[g.n], r.mask[g.n], r.score[g.n], r.group[g.n] = int32(label), 1, true, 0
	undoDistinct(g.perm, g.swapIndex)
}
