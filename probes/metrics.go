package probes

import (
	"fmt"
	"math"

	"github.com/sinklab/sinklab/transformer/capture"
)

// Shape letters: B batch, T sequence length, L layers, H heads, HD head
// dimension, D model width. Indices in comments are 1-based like SCIENCE.md §3
// (row i, key j); code is 0-based.
//
// Conventions shared by every metric (metrics version 1):
//
//   - Keys of a row. In a causal map row i has the keys j ≤ i (entries above the
//     diagonal are ignored even if non-zero); in a non-causal map every row has
//     all T keys.
//   - Â. Metrics defined on the normalized map use Âᵢⱼ = |Aᵢⱼ| / Σⱼ|Aᵢⱼ|. For the
//     non-negative maps of every variant but the signed ones (dot, mlp:
//     attention.VariantSigned) this is exactly A / rowsum (SCIENCE.md §3); for
//     maps with negative entries it is the |α|/Σ|α| rule of SCIENCE.md §1
//     (E2), the only choice that keeps Â a distribution.
//   - Zero-mass rows (Σⱼ|Aᵢⱼ| = 0, e.g. a ReLU row that is off) have no Â: they
//     are left out of entropy, entropy_norm and sparsity, and contribute 0 to
//     row_mass, first_token_mass and the BOS sink score's sums. 0·log 0 = 0 for
//     single zero entries of a row that has mass.
//   - Averages over rows and samples pool all (sample, row) pairs with equal
//     weight. An average over an empty set is NaN ("undefined"): that is what
//     T = 1 gives for entropy, the BOS sink score and the norm ratios.
//   - Raw A is used, not Â, where SCIENCE.md §3 writes A: first_token_mass,
//     bos_sink_score, row_mass and the paper's abs_attn_bos / abs_attn_all. For
//     unnormalized variants first_token_mass can therefore exceed 1; read it
//     beside row_mass.
//   - Signed maps (Capture.Signed: dot and mlp attention, whose weights can
//     be negative). Ratios of signed sums are meaningless (SCIENCE.md §3), so
//     every ratio (bos_sink_score, rel_attn_bos, rel_attn_bos_global,
//     rel_attn_max) is taken of |A|, and is_sink_head comes from that |A|
//     ratio. The raw signed sums (first_token_mass, row_mass, abs_attn_bos,
//     abs_attn_all, abs_attn_max, abs_attn_sum) stay beside them. For maps
//     without negative entries |A| = A, so nothing changes for them.
//   - Row groups (SCIENCE.md §3 "Row groups"). Every per-head metric is also
//     computed on a subset of query rows (see RowGroups): each metric keeps its
//     own row rule and the group restricts it to the group's rows.
//   - NaN in the inputs propagates to the metrics it enters.

// MetricsVersion is the version of the metric definitions in this file. It is
// written into every log file's metadata; change it whenever a definition or a
// convention above changes. Version 2 added row groups, the paper's four BOS
// metrics and the |A| rule for the ratios of signed maps.
const MetricsVersion = "2"

// DefaultSinkEpsilon is the ε of Sink₁^ε (Gu et al.): a head counts towards the
// sink rate when its first-token mass α₁ exceeds it.
const DefaultSinkEpsilon = 0.3

// SinkHeadThreshold is the BOS sink score above which a head is a sink head
// (Varre et al. §4.1).
const SinkHeadThreshold = 0.9

// HeadMap is one head's attention maps over a batch: a view into a layer's
// blocks.{l}.attn.hook_pattern tensor.
type HeadMap struct {
	A      []float32 // (B, H, T, T)
	B      int
	H      int
	T      int
	Head   int  // which head of A, 0-based
	Causal bool // rows see only keys j ≤ i
	// Signed marks a variant whose weights can be negative (dot, mlp):
	// every ratio (bos_sink_score, rel_attn_bos, rel_attn_bos_global) is then
	// taken of |A|, never of signed sums. Entropy and sparsity always use Â.
	Signed bool
}

func (m HeadMap) check() {
	if m.B < 0 || m.H < 1 || m.T < 0 || m.Head < 0 || m.Head >= m.H || len(m.A) != m.B*m.H*m.T*m.T {
		panic(fmt.Sprintf("probes: head map shape mismatch: len %d, B=%d H=%d T=%d head %d", len(m.A), m.B, m.H, m.T, m.Head))
	}
}

// row returns the keys of row i (0-based) of sample b.
func (m HeadMap) row(b, i int) []float32 {
	off := ((b*m.H+m.Head)*m.T + i) * m.T
	n := m.T
	if m.Causal {
		n = i + 1
	}
	return m.A[off : off+n]
}

// HeadStats holds the per-head metrics of SCIENCE.md §3 for one head over a
// batch, on the query rows of one row group (every row for the "all" group).
// Undefined values are NaN (see the conventions above).
type HeadStats struct {
	// Entropy is the mean of Hᵢ = −Σⱼ Âᵢⱼ log Âᵢⱼ over rows with at least two
	// keys (causal: rows i ≥ 2; non-causal: all rows) and samples.
	Entropy float64
	// EntropyNorm is the mean of Hᵢ / log nᵢ over the same rows, nᵢ the number
	// of keys of row i (i if causal, T if not): 1 for uniform rows.
	EntropyNorm float64
	// FirstTokenMass is α₁ = (1/T) Σᵢ Aᵢ₁, averaged over samples (raw A).
	FirstTokenMass float64
	// BOSSinkScore is Σᵢ Aᵢ₁ / Σᵢ Σⱼ Aᵢⱼ over query rows 2 … T−2, averaged over
	// samples whose denominator is non-zero. For T < 4 that row range is empty
	// and rows 2 … T are used instead; T = 1 gives NaN. Of |A| for signed maps.
	BOSSinkScore float64
	// Sparsity is the mean of maxⱼ Âᵢⱼ over all rows (with mass) and samples.
	Sparsity float64
	// RowMass is the mean of Σⱼ Aᵢⱼ over all rows and samples (raw A).
	RowMass float64

	// The four BOS metrics of Varre et al.'s code (exp_induction.py), over the
	// group's rows and the samples:
	//
	// AbsAttnBOS is the mean of Aᵢ₁ (raw A; equal to FirstTokenMass).
	AbsAttnBOS float64
	// AbsAttnAll is the mean of Σⱼ Aᵢⱼ (raw A; equal to RowMass).
	AbsAttnAll float64
	// RelAttnBOS is the mean of Aᵢ₁ / (Σⱼ Aᵢⱼ + 1e-9) (of |A| for signed maps).
	RelAttnBOS float64
	// RelAttnBOSGlobal is, per sample, Σᵢ Aᵢ₁ / (Σᵢ Σⱼ Aᵢⱼ + 1e-9) over the
	// group's rows of that sample, averaged over the samples that have such
	// rows (of |A| for signed maps).
	RelAttnBOSGlobal float64
}

// IsSinkHead reports whether the BOS sink score exceeds SinkHeadThreshold.
func (s HeadStats) IsSinkHead() bool { return s.BOSSinkScore > SinkHeadThreshold }

// paperEps is the 1e-9 that Varre et al.'s code adds to the denominators of
// rel_attn_bos and rel_attn_bos_global.
const paperEps = 1e-9

// sinkRows returns the 0-based half-open range of query rows used by the BOS
// sink score: rows 2 … T−2 (1-based), or rows 2 … T when T < 4.
func sinkRows(T int) (lo, hi int) {
	if T >= 4 {
		return 1, T - 2
	}
	return 1, T
}

// MeasureHead computes the per-head metrics of one head over every query row
// (the "all" group) in one pass over its maps. It panics if the shape of m is
// inconsistent.
func MeasureHead(m HeadMap) HeadStats { return MeasureHeadRows(m, nil) }

// MeasureHeadRows computes the per-head metrics of one head on the query rows
// of one row group: rows is a (B, T) mask of the rows in the group, nil for
// every row. Each metric keeps its own row rule (entropy: rows with ≥ 2 keys;
// bos_sink_score: rows 2 … T−2) and the group restricts it to its rows; the
// averages "over all rows" become averages over the group's rows. It panics
// if the shape of m or the length of rows is inconsistent.
func MeasureHeadRows(m HeadMap, rows []bool) HeadStats {
	m.check()
	if rows != nil && len(rows) != m.B*m.T {
		panic(fmt.Sprintf("probes: row group mask has %d entries, want B·T = %d", len(rows), m.B*m.T))
	}
	var (
		entSum, entNormSum float64
		entN               int
		spSum              float64
		spN                int
		massSum            float64
		alphaSum           float64
		rowN               int
		sinkSum            float64
		sinkN              int
		relSum             float64
		globSum            float64
		globN              int
	)
	sLo, sHi := sinkRows(m.T)
	for b := 0; b < m.B; b++ {
		var first, mass float64   // sums over the sink score's rows (|A| if signed)
		var gFirst, gMass float64 // sums over the group's rows (|A| if signed)
		gRows := 0                // the group's rows in this sample
		for i := 0; i < m.T; i++ {
			if rows != nil && !rows[b*m.T+i] {
				continue
			}
			keys := m.row(b, i)
			var sum, abs, maxAbs float64
			for _, x := range keys {
				v := float64(x)
				sum += v
				a := math.Abs(v)
				abs += a
				if a > maxAbs {
					maxAbs = a
				}
			}
			bos, rmass := float64(keys[0]), sum // the ratios' numerator and denominator
			if m.Signed {
				bos, rmass = math.Abs(bos), abs
			}
			rowN++
			gRows++
			massSum += sum
			alphaSum += float64(keys[0])
			relSum += bos / (rmass + paperEps)
			gFirst += bos
			gMass += rmass
			if i >= sLo && i < sHi {
				first += bos
				mass += rmass
			}
			if abs == 0 {
				continue // zero-mass row: no Â
			}
			spSum += maxAbs / abs
			spN++
			if len(keys) < 2 {
				continue
			}
			inv := 1 / abs
			var h float64
			for _, x := range keys {
				if p := math.Abs(float64(x)) * inv; p > 0 {
					h -= p * math.Log(p)
				}
			}
			entSum += h
			entNormSum += h / math.Log(float64(len(keys)))
			entN++
		}
		if sHi > sLo && mass != 0 {
			sinkSum += first / mass
			sinkN++
		}
		if gRows > 0 {
			globSum += gFirst / (gMass + paperEps)
			globN++
		}
	}
	return HeadStats{
		Entropy:          mean(entSum, entN),
		EntropyNorm:      mean(entNormSum, entN),
		FirstTokenMass:   mean(alphaSum, rowN),
		BOSSinkScore:     mean(sinkSum, sinkN),
		Sparsity:         mean(spSum, spN),
		RowMass:          mean(massSum, rowN),
		AbsAttnBOS:       mean(alphaSum, rowN),
		AbsAttnAll:       mean(massSum, rowN),
		RelAttnBOS:       mean(relSum, rowN),
		RelAttnBOSGlobal: mean(globSum, globN),
	}
}

// mean returns sum/n, or NaN when n is 0.
func mean(sum float64, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// FirstTokenMass returns the mass on key k (1-based) of SCIENCE.md §3,
// α_k = (1/(T−k+1)) Σ_{i≥k} A_{i,k} for a causal map (the rows that can see
// key k), or (1/T) Σᵢ A_{i,k} for a non-causal one, averaged over samples.
// It uses raw A. k outside 1 … T gives NaN.
func FirstTokenMass(m HeadMap, k int) float64 {
	m.check()
	if k < 1 || k > m.T {
		return math.NaN()
	}
	lo := 0
	if m.Causal {
		lo = k - 1
	}
	var sum float64
	for b := 0; b < m.B; b++ {
		for i := lo; i < m.T; i++ {
			sum += float64(m.row(b, i)[k-1])
		}
	}
	return mean(sum, m.B*(m.T-lo))
}

// SinkRate returns Sink^ε = 100 × the share of heads whose first-token mass
// exceeds eps (Gu et al.), given α₁ of every (layer, head). No heads gives NaN.
func SinkRate(firstTokenMass []float64, eps float64) float64 {
	n := 0
	for _, a := range firstTokenMass {
		if a > eps {
			n++
		}
	}
	return 100 * mean(float64(n), len(firstTokenMass))
}

// peakRatio returns, for x of shape (B, T, W) read with the given sample and
// token strides, the mean over samples of ‖x₁‖ / mean_{j>1} ‖xⱼ‖. Samples whose
// denominator is 0 are left out; T < 2 or no sample left gives NaN.
func peakRatio(x []float32, B, T, W, sampleStride int) float64 {
	if T < 2 {
		return math.NaN()
	}
	var sum float64
	n := 0
	for b := 0; b < B; b++ {
		s := x[b*sampleStride : b*sampleStride+T*W]
		first := norm(s[:W])
		var rest float64
		for j := 1; j < T; j++ {
			rest += norm(s[j*W : (j+1)*W])
		}
		rest /= float64(T - 1)
		if rest == 0 {
			continue
		}
		sum += first / rest
		n++
	}
	return mean(sum, n)
}

// norm returns the Euclidean norm of v in float64.
func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// ValueNormRatio returns the BOS value norm ratio ‖v₁‖ / mean_{j>1} ‖vⱼ‖ of one
// head (Guo et al. 2024), averaged over samples. v is a layer's
// blocks.{l}.attn.hook_v. Samples whose denominator is 0 are left out; T < 2
// gives NaN. It panics on a shape mismatch.
func ValueNormRatio(v []float32, B, H, T, HD, head int) float64 { // v: (B, H, T, HD)
	if B < 0 || H < 1 || T < 0 || HD < 1 || head < 0 || head >= H || len(v) != B*H*T*HD {
		panic(fmt.Sprintf("probes: value shape mismatch: len %d, B=%d H=%d T=%d HD=%d head %d", len(v), B, H, T, HD, head))
	}
	if B == 0 {
		return math.NaN()
	}
	return peakRatio(v[head*T*HD:], B, T, HD, H*T*HD)
}

// ResidPeakRatio returns the residual peak ratio ‖h₁‖ / mean_{j>1} ‖hⱼ‖ of one
// layer's residual stream (Guo et al. 2024), averaged over samples, with the
// same conventions as ValueNormRatio.
func ResidPeakRatio(h []float32, B, T, D int) float64 { // h: (B, T, D)
	if B < 0 || T < 0 || D < 1 || len(h) != B*T*D {
		panic(fmt.Sprintf("probes: residual shape mismatch: len %d, B=%d T=%d D=%d", len(h), B, T, D))
	}
	return peakRatio(h, B, T, D, T*D)
}

// MassiveActivationRatio returns max|h| / median|h| over every entry of h, all
// samples, tokens and channels of one layer's residual stream (Sun et al.
// 2024). The median of an even count is the mean of the two middle values.
// A zero median gives +Inf (or NaN when h is all zero); empty h or any NaN
// gives NaN. scratch is reused when it is large enough; the buffer used is
// returned for the next call.
func MassiveActivationRatio(h []float32, scratch []float32) (float64, []float32) {
	n := len(h)
	if n == 0 {
		return math.NaN(), scratch
	}
	if cap(scratch) < n {
		scratch = make([]float32, n)
	}
	s := scratch[:n]
	var maxAbs float32
	for i, x := range h {
		if x != x {
			return math.NaN(), scratch
		}
		if x < 0 {
			x = -x
		}
		s[i] = x
		if x > maxAbs {
			maxAbs = x
		}
	}
	k := n / 2
	hi := float64(selectKth(s, k))
	med := hi
	if n%2 == 0 {
		// After selection s[:k] holds the k smallest values: the lower middle
		// value is their maximum.
		lo := s[0]
		for _, x := range s[1:k] {
			if x > lo {
				lo = x
			}
		}
		med = (float64(lo) + hi) / 2
	}
	return float64(maxAbs) / med, scratch
}

// selectKth reorders s so that s[k] is the value a sort would put there, with
// s[:k] ≤ s[k] ≤ s[k+1:], and returns s[k]. Quickselect with a median-of-three
// pivot and three-way partition; s must not contain NaN.
func selectKth(s []float32, k int) float32 {
	lo, hi := 0, len(s)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		a, b, c := s[lo], s[mid], s[hi]
		if a > b {
			a, b = b, a
		}
		p := max(a, min(b, c)) // median of the three
		// Three-way partition of s[lo:hi+1]: < p | == p | > p.
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch x := s[i]; {
			case x < p:
				s[lt], s[i] = s[i], s[lt]
				lt++
				i++
			case x > p:
				s[i], s[gt] = s[gt], s[i]
				gt--
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt - 1
		case k > gt:
			lo = gt + 1
		default:
			return p
		}
	}
	return s[k]
}

// validate checks a capture for the probes: its sizes (capture.Capture.Validate)
// and that no task group is named like a probe row group.
func validate(c *capture.Capture) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("probes: %w", err)
	}
	if len(c.GroupNames) >= 2 {
		for _, name := range c.GroupNames {
			switch groupName(name) {
			case GroupAll, GroupPaperRows, GroupCLS:
				return fmt.Errorf("probes: task group %q clashes with a probe row group", name)
			}
		}
	}
	return nil
}

// measurer computes the rows of one capture, reusing its buffers across calls.
type measurer struct {
	scratch []float32 // for the median of |h|
	alphas  []float64
	heads   []HeadRow
	layers  []LayerRow
	// sinkK are the key positions of Gu et al.'s Sink_k^ε (nil: k = 1); gu
	// holds its value per k after measure; guAll[i] the α_k of every
	// (sample, layer, head) cell for k = sinkK[i].
	sinkK []int
	gu    map[string]float64
	guAll [][]float64
}

// measure fills m.heads (one row per (layer, head, row group), layer-major,
// the groups of RowGroups in order with "all" first), m.layers (one row per
// layer whose residual stream was captured, then one with layer = L for the
// final residual stream when it was captured) and returns the sink rate (from
// the "all" rows). Run id, step and tokens are left zero. The capture must be
// valid.
func (m *measurer) measure(c *capture.Capture, eps float64) float64 {
	m.heads = m.heads[:0]
	m.layers = m.layers[:0]
	m.alphas = m.alphas[:0]
	ks := m.sinkK
	if len(ks) == 0 {
		ks = []int{1}
	}
	for len(m.guAll) < len(ks) {
		m.guAll = append(m.guAll, nil)
	}
	for i := range ks {
		m.guAll[i] = m.guAll[i][:0]
	}
	groups := RowGroups(c)
	for l := 0; l < c.L; l++ {
		for h := 0; h < c.H; h++ {
			hm := HeadMap{A: c.Attn[l], B: c.B, H: c.H, T: c.T, Head: h, Causal: c.Causal, Signed: c.Signed}
			vr := math.NaN()
			if c.Values != nil && c.Values[l] != nil {
				vr = ValueNormRatio(c.Values[l], c.B, c.H, c.T, c.HD, h)
			}
			var fh FlowHead
			if f := c.Flow; f != nil {
				fh = FlowHead{P: f.P[l], G: f.G[l], DS: f.DS[l], PDot: f.PDot[l], B: c.B, H: c.H, T: c.T,
					Tk: f.Tk, Off: f.Off, Head: h, Causal: c.Causal, Signed: c.Signed}
			}
			for i, k := range ks {
				m.guAll[i] = GuAlphas(m.guAll[i], hm, k)
			}
			for _, g := range groups {
				s := MeasureHeadRows(hm, g.Rows)
				m.heads = append(m.heads, HeadRow{
					Layer:             int32(l),
					Head:              int32(h),
					Variant:           c.Variant,
					Group:             g.Name,
					Entropy:           s.Entropy,
					EntropyNorm:       s.EntropyNorm,
					FirstTokenMass:    s.FirstTokenMass,
					BOSSinkScore:      s.BOSSinkScore,
					IsSinkHead:        s.IsSinkHead(),
					Sparsity:          s.Sparsity,
					RowMass:           s.RowMass,
					BOSValueNormRatio: vr,
					AbsAttnBOS:        s.AbsAttnBOS,
					AbsAttnAll:        s.AbsAttnAll,
					RelAttnBOS:        s.RelAttnBOS,
					RelAttnBOSGlobal:  s.RelAttnBOSGlobal,
				})
				if c.NullMass != nil {
					r := &m.heads[len(m.heads)-1]
					r.SinkLogitMass = Float(nullMass(c, c.NullMass[l], h, g.Rows))
				}
				if c.Flow != nil {
					fs := FlowStatsRows(fh, g.Rows)
					r := &m.heads[len(m.heads)-1]
					r.BOSAdvantage, r.BOSDrift, r.EntropyDrift = &fs.BOSAdvantage, &fs.BOSDrift, &fs.EntropyDrift
					r.PredictedWinner, r.MaxMassKey, r.GradNormScores = &fs.PredictedWinner, &fs.MaxMassKey, &fs.GradNormScores
				}
				if g.Rows == nil {
					m.alphas = append(m.alphas, s.FirstTokenMass)
				}
			}
		}
		if c.Resid != nil && c.Resid[l] != nil {
			m.addLayer(l, c.Resid[l], c)
		}
	}
	if c.ResidFinal != nil {
		m.addLayer(c.L, c.ResidFinal, c) // blocks.{L−1}.hook_resid_post, as layer L
	}
	m.gu = make(map[string]float64, len(ks))
	for i, k := range ks {
		m.gu[guKey(k)] = SinkRate(m.guAll[i], eps)
	}
	return SinkRate(m.alphas, eps)
}

// nullMass is the mean of one head's null mass (B, H, T) over the rows of a
// row group (nil: every row).
func nullMass(c *capture.Capture, nm []float32, h int, rows []bool) float64 {
	var sum float64
	n := 0
	for b := 0; b < c.B; b++ {
		for i := 0; i < c.T; i++ {
			if rows != nil && !rows[b*c.T+i] {
				continue
			}
			sum += float64(nm[(b*c.H+h)*c.T+i])
			n++
		}
	}
	return mean(sum, n)
}

// addLayer appends the layer row of one residual stream h, (B, T, D).
func (m *measurer) addLayer(l int, h []float32, c *capture.Capture) {
	var mar float64
	mar, m.scratch = MassiveActivationRatio(h, m.scratch)
	m.layers = append(m.layers, LayerRow{
		Layer:                  int32(l),
		ResidPeakRatio:         ResidPeakRatio(h, c.B, c.T, c.D),
		MassiveActivationRatio: mar,
	})
}

// MeasureCapture computes every metric of SCIENCE.md §3 on one capture: one
// HeadRow per (layer, head, row group) in layer-major order (see RowGroups;
// HeadRowsOf(heads, GroupAll) keeps one row per head), one LayerRow per layer
// whose residual stream was captured (and one with layer = L for the final
// residual stream, capture.Capture.ResidFinal), and the sink rate Sink₁^ε in
// percent. The rows' RunID, Step and Tokens are left zero for the caller. It
// panics if the capture is invalid (see capture.Capture.Validate).
func MeasureCapture(c *capture.Capture, eps float64) (heads []HeadRow, layers []LayerRow, sinkRate float64) {
	if err := validate(c); err != nil {
		panic(err.Error())
	}
	var m measurer
	rate := m.measure(c, eps)
	return m.heads, m.layers, rate
}
