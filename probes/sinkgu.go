package probes

import (
	"math"
	"strconv"
)

// Gu et al.'s sink metric, exactly as their code computes it
// (github.com/sail-sg/Attention-Sink, eval_sink_open_source.py
// compute_attention_sink and pretrain/eval_sink_pretrain.py): for every
// (sample, layer, head) cell the importance score of key k,
//
//	α_k = Σ_i A_{i,k} / (T − k + 1)        (1-based k, every query row i)
//
// (their `(attention_scores / ratios).sum(dim=-2)` with ratios T, T−1, …, 1
// along the key axis: the mean over the rows that can see key k in a causal
// map; they divide by T − k + 1 for non-causal maps too), and
//
//	Sink_k^ε = 100 × the share of (sample, layer, head) cells with α_k > ε.
//
// It differs from sink_rate (SinkRate) in where the threshold goes: sink_rate
// averages α₁ over the samples first and thresholds per (layer, head); Gu et
// al. threshold each sample's cell and average the indicators. Both use raw A.

// GuAlphas appends to dst α_k of every sample of one head's maps (B values,
// in sample order) and returns it. k outside 1 … T gives NaN for every
// sample (never above ε).
func GuAlphas(dst []float64, m HeadMap, k int) []float64 {
	m.check()
	if k < 1 || k > m.T {
		for b := 0; b < m.B; b++ {
			dst = append(dst, math.NaN())
		}
		return dst
	}
	den := float64(m.T - k + 1)
	for b := 0; b < m.B; b++ {
		var sum float64
		for i := k - 1; i < m.T; i++ { // rows i < k−1 cannot see key k in a causal map
			sum += float64(m.A[((b*m.H+m.Head)*m.T+i)*m.T+k-1])
		}
		if !m.Causal {
			for i := 0; i < k-1; i++ {
				sum += float64(m.A[((b*m.H+m.Head)*m.T+i)*m.T+k-1])
			}
		}
		dst = append(dst, sum/den)
	}
	return dst
}

// guKey is the key of sink_gu maps: k in decimal.
func guKey(k int) string { return strconv.Itoa(k) }
