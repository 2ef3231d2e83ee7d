package data

import "math/rand/v2"

// induction is the induction-head task of Varre et al. §4.1 (SCIENCE.md §2).
//
// A sequence is [BOS=0, t₁ … tₙ, r, c]: t₁…tₙ are n distinct tokens from
// 1…base_vocab, r repeats tᵢ for a uniform i in 1…n, all n positions as in
// the paper's code (shifted by base_vocab+1, so 51…99 for the defaults, when
// shift_query is on), and c is the token after tᵢ in (t₁ … tₙ, r): c = tᵢ₊₁,
// and c = r when i = n. Inputs are seq[:-1] and targets seq[1:], so
// T = n+2 = 12.
//
// Mask: 1 at the last position (input r, target c) and aux_weight/(T−1) at
// each of the T−1 earlier positions, so that Σ mask·CE = CE(last) +
// aux_weight × mean CE(earlier), as the paper's loss. Score: the last
// position only. One metric group, "all".
type induction struct {
	n         int     // distinct context tokens
	shift     int32   // added to tᵢ to make the query: base_vocab+1, or 0
	auxW      float32 // mask of each earlier position: aux_weight/(T−1)
	perm      []int32 // tokens 1…base_vocab; the identity between rows
	swapIndex []int   // partial Fisher–Yates swaps of the current row, to undo
}

func buildInduction(c Config) (*task, error) {
	g := &induction{
		n:         c.NDistinct,
		auxW:      float32(c.AuxWeight / float64(c.NDistinct+1)),
		perm:      make([]int32, c.BaseVocab),
		swapIndex: make([]int, c.NDistinct),
	}
	if c.ShiftQuery {
		g.shift = int32(c.BaseVocab + 1)
	}
	for k := range g.perm {
		g.perm[k] = int32(k + 1)
	}
	return &task{vocab: c.derivedVocab(TaskInduction), seqLen: c.seqLen(TaskInduction), causal: true,
		groups: []string{"all"}, gen: g}, nil
}

func (g *induction) row(rng *rand.Rand, r rowRef) {
	n := g.n
	// Partial Fisher–Yates: perm[0:n] becomes n distinct tokens in random order.
	drawDistinct(rng, g.perm, g.swapIndex)
	i := 1 + rng.IntN(n) // repeated token tᵢ, i in 1…n (1-based)

	r.in[0] = 0 // BOS
	for k := 0; k < n; k++ {
		r.in[k+1] = g.perm[k]
		r.tgt[k] = g.perm[k]
	}
	query := g.perm[i-1] + g.shift
	r.in[n+1] = query
	r.tgt[n] = query
	if i < n {
		r.tgt[n+1] = g.perm[i] // c = tᵢ₊₁
	} else {
		r.tgt[n+1] = query // c = r: the token after tₙ is the query itself
	}
	for p := 0; p <= n; p++ {
		r.mask[p], r.score[p], r.group[p] = g.auxW, false, 0
	}
	r.mask[n+1], r.score[n+1], r.group[n+1] = 1, true, 0

	undoDistinct(g.perm, g.swapIndex)
}

// drawDistinct runs len(swaps) steps of a Fisher–Yates shuffle on perm, so
// perm[:len(swaps)] holds that many distinct elements in uniform random order,
// and records the swaps for undoDistinct.
func drawDistinct(rng *rand.Rand, perm []int32, swaps []int) {
	for k := range swaps {
		j := k + rng.IntN(len(perm)-k)
		perm[k], perm[j] = perm[j], perm[k]
		swaps[k] = j
	}
}

// undoDistinct reverts the swaps of drawDistinct, restoring perm, so that the
// next row does not depend on this one (rows depend on the rng state only).
func undoDistinct(perm []int32, swaps []int) {
	for k := len(swaps) - 1; k >= 0; k-- {
		j := swaps[k]
		perm[k], perm[j] = perm[j], perm[k]
	}
}
