package probes

import (
	"fmt"
	"math"
)

// FlowHead is one head's slice of a Flow (one layer), for FlowStatsRows.
type FlowHead struct {
	P, G, DS, PDot []float64 // (B, H, T, Tk)
	B, H, T, Tk    int
	Off            int  // key slots before token 0 (1 with the key/value bias)
	Head           int  // which head, 0-based
	Causal         bool // row i sees key slots 0 … Off+i
	// Signed marks a variant whose weights can be negative: the entropy
	// drift is then that of |p|/Σ|p|, like the entropy column.
	Signed bool
}

// FlowStats are the replicator probes of one head on one row group
// (SCIENCE.md §3b). Undefined values (an empty group) are NaN; winners are −1
// for the key/value bias slot and −2 when undefined.
type FlowStats struct {
	// BOSAdvantage is the mean over rows of fᵢ₀ / (std over visible keys of
	// fᵢ· + 1e-12), fᵢⱼ = wᵢⱼ − Σₖ pᵢₖ wᵢₖ the advantage of key j, wᵢⱼ = −Gᵢⱼ.
	BOSAdvantage float64
	// BOSDrift is the mean over rows of ṗᵢ₀: d/dt of first_token_mass under
	// gradient flow on the scores.
	BOSDrift float64
	// EntropyDrift is the mean of dĤᵢ/dt = −Σⱼ (d/dt p̂ᵢⱼ) log p̂ᵢⱼ over the
	// rows the entropy column averages (at least two token keys, non-zero
	// mass), p̂ = |p|/Σ|p| over the token keys (= p for softmax): d/dt of the
	// entropy column.
	EntropyDrift float64
	// PredictedWinner is the token whose weight gains most: argmax over key
	// slots of the mean over rows of ṗ.
	PredictedWinner int32
	// MaxMassKey is the token with the most mass now: argmax over key slots
	// of the mean over rows of |p|.
	MaxMassKey int32
	// GradNormScores is the Frobenius norm of ∂L/∂S over the group's rows.
	GradNormScores float64
}

// flowEps keeps bos_advantage finite when a row's advantages are all equal.
const flowEps = 1e-12

// FlowStatsRows computes the replicator probes of one head on the query rows
// marked by rows ((B, T), nil for every row). It panics on inconsistent
// shapes.
func FlowStatsRows(f FlowHead, rows []bool) FlowStats {
	n := f.B * f.H * f.T * f.Tk
	if f.Head < 0 || f.Head >= f.H || f.Tk < f.T+f.Off || len(f.P) != n || len(f.G) != n || len(f.DS) != n || len(f.PDot) != n {
		panic(fmt.Sprintf("probes: flow head shape mismatch: B=%d H=%d T=%d Tk=%d head %d, len %d %d %d %d",
			f.B, f.H, f.T, f.Tk, f.Head, len(f.P), len(f.G), len(f.DS), len(f.PDot)))
	}
	if rows != nil && len(rows) != f.B*f.T {
		panic(fmt.Sprintf("probes: row group mask has %d entries, want B·T = %d", len(rows), f.B*f.T))
	}
	var advSum, driftSum, entSum, gsq float64
	var rowN, entN int
	meanPDot := make([]float64, f.Tk)
	meanMass := make([]float64, f.Tk)
	for b := 0; b < f.B; b++ {
		for i := 0; i < f.T; i++ {
			if rows != nil && !rows[b*f.T+i] {
				continue
			}
			nv := f.Tk
			if f.Causal {
				nv = f.Off + i + 1
			}
			o := ((b*f.H+f.Head)*f.T + i) * f.Tk
			p, g, ds, pd := f.P[o:o+nv], f.G[o:o+nv], f.DS[o:o+nv], f.PDot[o:o+nv]
			rowN++
			// Advantage f_j = w_j − Σ p_k w_k with w = −G.
			var pw float64
			for j := range p {
				pw -= p[j] * g[j]
			}
			var fm, fsq float64
			for j := range g {
				fm += -g[j] - pw
			}
			fm /= float64(nv)
			for j := range g {
				d := -g[j] - pw - fm
				fsq += d * d
			}
			advSum += (-g[f.Off] - pw) / (math.Sqrt(fsq/float64(nv)) + flowEps)
			driftSum += pd[f.Off]
			for j := range p {
				meanPDot[j] += pd[j]
				meanMass[j] += math.Abs(p[j])
				gsq += ds[j] * ds[j]
			}
			if h, ok := entropyDrift(p[f.Off:], pd[f.Off:], f.Signed); ok {
				entSum += h
				entN++
			}
		}
	}
	st := FlowStats{BOSAdvantage: mean(advSum, rowN), BOSDrift: mean(driftSum, rowN),
		EntropyDrift: mean(entSum, entN), PredictedWinner: -2, MaxMassKey: -2, GradNormScores: math.Sqrt(gsq)}
	if rowN > 0 {
		st.PredictedWinner = int32(argmax(meanPDot) - f.Off)
		st.MaxMassKey = int32(argmax(meanMass) - f.Off)
	}
	return st
}

// entropyDrift returns dĤ/dt for one row's token weights p and their rates
// pd, with p̂ = |p|/Σ|p|: d/dt p̂ⱼ = (sⱼṗⱼ − p̂ⱼ Σₖ sₖṗₖ)/Σ|p| (s = sign p) and
// dĤ/dt = −Σⱼ (d/dt p̂ⱼ) log p̂ⱼ (keys with p̂ⱼ = 0 skipped). ok is false for
// rows the entropy column skips: fewer than two keys, or no mass.
func entropyDrift(p, pd []float64, signed bool) (float64, bool) {
	if len(p) < 2 {
		return 0, false
	}
	var abs, sd float64
	for j, x := range p {
		s := 1.0
		if signed && x < 0 {
			s = -1
		}
		abs += s * x
		sd += s * pd[j]
	}
	if abs == 0 {
		return 0, false
	}
	var h float64
	for j, x := range p {
		s := 1.0
		if signed && x < 0 {
			s = -1
		}
		q := s * x / abs
		if q <= 0 {
			continue
		}
		h -= (s*pd[j] - q*sd) / abs * math.Log(q)
	}
	return h, true
}

// argmax returns the index of the largest value (the first on ties).
func argmax(x []float64) int {
	k := 0
	for j, v := range x {
		if v > x[k] {
			k = j
		}
	}
	return k
}
