package data

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// zipf is the Zipf unigram control of SCIENCE.md §4.
//
// A sequence is BOS=0 followed by T tokens drawn i.i.d. from the content
// tokens 1…vocab−1 with P(token k) ∝ k^−s (token k has rank k). Next-token
// loss everywhere: mask 1/T and Score at every position. One group, "all".
type zipf struct {
	dist aliasTable // over indices 0…vocab−2, token = index+1
	w    float32    // 1/T
}

func buildZipf(c Config) (*task, error) {
	weights := zipfWeights(c.Vocab-1, c.ZipfS)
	return &task{vocab: c.Vocab, seqLen: c.SeqLen, causal: true, groups: []string{"all"},
		gen: &zipf{dist: newAliasTable(weights), w: 1 / float32(c.SeqLen)}}, nil
}

// zipfWeights returns the unnormalized weights k^−s for ranks k = 1…n.
func zipfWeights(n int, s float64) []float64 {
	w := make([]float64, n)
	for k := range w {
		w[k] = math.Pow(float64(k+1), -s)
	}
	return w
}

func (g *zipf) row(rng *rand.Rand, r rowRef) {
	t := len(r.in)
	r.in[0] = 0 // BOS
	for p := 0; p < t; p++ {
		x := 1 + g.dist.sample(rng)
		r.tgt[p] = x
		if p+1 < t {
			r.in[p+1] = x
		}
		r.mask[p], r.score[p], r.group[p] = g.w, true, 0
	}
}

// aliasTable samples an index in [0, n) with given weights in O(1) (Walker's
// alias method, Vose's construction).
type aliasTable struct {
	keep  []uint64 // probability of keeping the drawn column, times 2⁶⁴ (saturated)
	alias []int32  // the column's other index
}

// newAliasTable builds the table for weights w (each ≥ 0, sum > 0). An index
// with weight 0 is never sampled.
func newAliasTable(w []float64) aliasTable {
	n := len(w)
	var sum float64
	best := 0
	for i, x := range w {
		sum += x
		if x > w[best] {
			best = i
		}
	}
	prob := make([]float64, n)
	a := aliasTable{keep: make([]uint64, n), alias: make([]int32, n)}
	p := make([]float64, n)
	small := make([]int32, 0, n)
	large := make([]int32, 0, n)
	for i, x := range w {
		p[i] = x * float64(n) / sum
		if p[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s := small[len(small)-1]
		small = small[:len(small)-1]
		l := large[len(large)-1]
		large = large[:len(large)-1]
		prob[s], a.alias[s] = p[s], l
		p[l] = (p[l] + p[s]) - 1
		if p[l] < 1 {
			small = append(small, l)
		} else {
			large = append(large, l)
		}
	}
	// What is left has p ≈ 1 up to rounding; a zero weight can only be left
	// over through rounding and must stay unreachable.
	for _, rest := range [][]int32{small, large} {
		for _, i := range rest {
			if w[i] > 0 {
				prob[i], a.alias[i] = 1, i
			} else {
				prob[i], a.alias[i] = 0, int32(best)
			}
		}
	}
	for i, q := range prob {
		switch {
		case q >= 1:
			a.keep[i] = math.MaxUint64
		case q > 0:
			a.keep[i] = uint64(math.Ldexp(q, 64)) // q < 1, so < 2⁶⁴
		}
	}
	return a
}

// sample draws one index from one 64-bit draw: the high word of u·n is the
// column (uniform up to n/2⁶⁴), the low word the uniform coin within it.
func (a *aliasTable) sample(rng *rand.Rand) int32 {
	col, coin := bits.Mul64(rng.Uint64(), uint64(len(a.keep)))
	if coin < a.keep[col] {
		return int32(col)
	}
	return a.alias[col]
}
