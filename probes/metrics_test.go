package probes

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sinklab/sinklab/transformer/capture"
)

const tol = 1e-6 // inputs are float32; sums are float64

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b))
}

// mapOf builds a (B, H=1, T, T) map from a function of the 1-based (row, key).
func mapOf(B, T int, f func(b, i, j int) float64) []float32 {
	a := make([]float32, B*T*T)
	for b := 0; b < B; b++ {
		for i := 1; i <= T; i++ {
			for j := 1; j <= T; j++ {
				a[(b*T+i-1)*T+j-1] = float32(f(b, i, j))
			}
		}
	}
	return a
}

func causal(f func(b, i, j int) float64) func(b, i, j int) float64 {
	return func(b, i, j int) float64 {
		if j > i {
			return 0
		}
		return f(b, i, j)
	}
}

func checkStats(t *testing.T, got, want HeadStats) {
	t.Helper()
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"entropy", got.Entropy, want.Entropy},
		{"entropy_norm", got.EntropyNorm, want.EntropyNorm},
		{"first_token_mass", got.FirstTokenMass, want.FirstTokenMass},
		{"bos_sink_score", got.BOSSinkScore, want.BOSSinkScore},
		{"sparsity", got.Sparsity, want.Sparsity},
		{"row_mass", got.RowMass, want.RowMass},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s: got: %v want: %v", c.name, c.got, c.want)
		}
	}
}

// TestMeasureHeadKnown checks MeasureHead on hand-built maps whose metrics are
// known in closed form (SCIENCE.md §3).
func TestMeasureHeadKnown(t *testing.T) {
	const T = 8
	var sumLog, sumInv, sinkInv float64 // Σ_{i=2..T} log i, Σ_{i=1..T} 1/i, Σ_{i=2..T−2} 1/i
	for i := 1; i <= T; i++ {
		if i >= 2 {
			sumLog += math.Log(float64(i))
		}
		sumInv += 1 / float64(i)
		if i >= 2 && i <= T-2 {
			sinkInv += 1 / float64(i)
		}
	}
	uniform := causal(func(_, i, _ int) float64 { return 1 / float64(i) })
	rowScale := func(b, i int) float64 { return 0.1 + 0.05*float64(i) + 0.2*float64(b) }
	var meanScale, meanScaledFirst float64
	for b := 0; b < 2; b++ {
		for i := 1; i <= T; i++ {
			meanScale += rowScale(b, i) / (2 * T)
			meanScaledFirst += rowScale(b, i) / float64(i) / (2 * T)
		}
	}
	tests := []struct {
		name   string
		B, T   int
		causal bool
		f      func(b, i, j int) float64
		want   HeadStats
	}{
		{
			name: "uniform causal", B: 3, T: T, causal: true, f: uniform,
			want: HeadStats{
				Entropy:        sumLog / (T - 1),
				EntropyNorm:    1,
				FirstTokenMass: sumInv / T,
				BOSSinkScore:   sinkInv / (T - 3), // each sink row has mass 1
				Sparsity:       sumInv / T,
				RowMass:        1,
			},
		},
		{
			name: "all mass on first token", B: 2, T: T, causal: true,
			f: func(_, _, j int) float64 {
				if j == 1 {
					return 1
				}
				return 0
			},
			want: HeadStats{Entropy: 0, EntropyNorm: 0, FirstTokenMass: 1, BOSSinkScore: 1, Sparsity: 1, RowMass: 1},
		},
		{
			// Unnormalized (sigmoid-like) rows: uniform shape, row i scaled by
			// s(b, i). Entropy and sparsity are those of Â (the uniform map);
			// row mass and first-token mass see the scale.
			name: "unnormalized rows", B: 2, T: T, causal: true,
			f: causal(func(b, i, _ int) float64 { return rowScale(b, i) / float64(i) }),
			want: HeadStats{
				Entropy:        sumLog / (T - 1),
				EntropyNorm:    1,
				FirstTokenMass: meanScaledFirst,
				BOSSinkScore: func() float64 {
					var s float64
					for b := 0; b < 2; b++ {
						var first, mass float64
						for i := 2; i <= T-2; i++ {
							first += rowScale(b, i) / float64(i)
							mass += rowScale(b, i)
						}
						s += first / mass / 2
					}
					return s
				}(),
				Sparsity: sumInv / T,
				RowMass:  meanScale,
			},
		},
		{
			name: "uniform non-causal", B: 2, T: 5, causal: false,
			f: func(_, _, _ int) float64 { return 0.2 },
			want: HeadStats{
				Entropy: math.Log(5), EntropyNorm: 1, FirstTokenMass: 0.2,
				BOSSinkScore: 0.2, Sparsity: 0.2, RowMass: 1,
			},
		},
		{
			// T = 2: one row with two keys; T < 4 so the sink score uses row 2.
			name: "single non-trivial row", B: 1, T: 2, causal: true,
			f: causal(func(_, i, j int) float64 {
				if i == 1 {
					return 1
				}
				return []float64{0.25, 0.75}[j-1]
			}),
			want: HeadStats{
				Entropy:        -0.25*math.Log(0.25) - 0.75*math.Log(0.75),
				EntropyNorm:    (-0.25*math.Log(0.25) - 0.75*math.Log(0.75)) / math.Log(2),
				FirstTokenMass: (1 + 0.25) / 2,
				BOSSinkScore:   0.25,
				Sparsity:       (1 + 0.75) / 2,
				RowMass:        1,
			},
		},
		{
			// T = 1: no row has two keys and no query row 2 exists.
			name: "T=1", B: 2, T: 1, causal: true,
			f: func(b, _, _ int) float64 { return 0.5 + 0.25*float64(b) },
			want: HeadStats{
				Entropy: math.NaN(), EntropyNorm: math.NaN(), FirstTokenMass: 0.625,
				BOSSinkScore: math.NaN(), Sparsity: 1, RowMass: 0.625,
			},
		},
		{
			// Rows 3 and 5 have zero mass: left out of entropy and sparsity,
			// 0 in row mass; no NaN from 0·log 0.
			name: "zero-mass rows", B: 1, T: 5, causal: true,
			f: causal(func(_, i, _ int) float64 {
				if i == 3 || i == 5 {
					return 0
				}
				return 1 / float64(i)
			}),
			want: HeadStats{
				Entropy:        (math.Log(2) + math.Log(4)) / 2,
				EntropyNorm:    1,
				FirstTokenMass: (1 + 0.5 + 0.25) / 5,
				BOSSinkScore:   (0.5 + 0) / (1 + 0), // rows 2 … 3
				Sparsity:       (1 + 0.5 + 0.25) / 3,
				RowMass:        3.0 / 5,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := HeadMap{A: mapOf(tc.B, tc.T, tc.f), B: tc.B, H: 1, T: tc.T, Causal: tc.causal}
			got := MeasureHead(m)
			checkStats(t, got, tc.want)
			if got.IsSinkHead() != (tc.want.BOSSinkScore > SinkHeadThreshold) {
				t.Errorf("IsSinkHead: got: %v want: %v", got.IsSinkHead(), !got.IsSinkHead())
			}
		})
	}
}

// refHead computes the metrics straight from the formulas of SCIENCE.md §3,
// one metric at a time, as an oracle for the fused MeasureHead.
func refHead(a [][][]float64, causal bool) HeadStats { // a[b][i][j], 0-based
	B, T := len(a), len(a[0])
	keys := func(i int) int {
		if causal {
			return i + 1
		}
		return T
	}
	var s HeadStats
	// entropy, entropy_norm: Â = |A| / Σ|A|, rows with ≥ 2 keys and mass.
	var hs, hn, n float64
	for b := range B {
		for i := range T {
			var z float64
			for j := range keys(i) {
				z += math.Abs(a[b][i][j])
			}
			if z == 0 || keys(i) < 2 {
				continue
			}
			var h float64
			for j := range keys(i) {
				if p := math.Abs(a[b][i][j]) / z; p > 0 {
					h -= p * math.Log(p)
				}
			}
			hs += h
			hn += h / math.Log(float64(keys(i)))
			n++
		}
	}
	s.Entropy, s.EntropyNorm = hs/n, hn/n
	// α₁
	for b := range B {
		for i := range T {
			s.FirstTokenMass += a[b][i][0] / float64(B*T)
		}
	}
	// BOS sink score over rows 2 … T−2 (1-based).
	for b := range B {
		var num, den float64
		for i := 1; i <= T-3; i++ {
			num += a[b][i][0]
			for j := range keys(i) {
				den += a[b][i][j]
			}
		}
		s.BOSSinkScore += num / den / float64(B)
	}
	// sparsity and row mass over all rows.
	for b := range B {
		for i := range T {
			var z, mx, sum float64
			for j := range keys(i) {
				z += math.Abs(a[b][i][j])
				mx = math.Max(mx, math.Abs(a[b][i][j]))
				sum += a[b][i][j]
			}
			s.Sparsity += mx / z / float64(B*T)
			s.RowMass += sum / float64(B*T)
		}
	}
	return s
}

// TestMeasureHeadOracle compares MeasureHead with the one-metric-at-a-time
// reference on random maps of several heads, including signed (dot) maps.
func TestMeasureHeadOracle(t *testing.T) {
	for _, tc := range []struct {
		name         string
		B, H, T      int
		causal, sign bool
	}{
		{"causal T=4", 3, 2, 4, true, false},
		{"causal T=9", 2, 3, 9, true, false},
		{"non-causal T=6", 2, 2, 6, false, false},
		{"signed causal T=7", 2, 2, 7, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(tc.T)))
			A := make([]float32, tc.B*tc.H*tc.T*tc.T) // (B, H, T, T)
			for i := range A {
				v := rng.Float64()
				if tc.sign {
					v = 2*v - 0.8
				}
				A[i] = float32(v)
			}
			for h := 0; h < tc.H; h++ {
				a := make([][][]float64, tc.B)
				for b := range a {
					a[b] = make([][]float64, tc.T)
					for i := range a[b] {
						a[b][i] = make([]float64, tc.T)
						for j := range a[b][i] {
							a[b][i][j] = float64(A[((b*tc.H+h)*tc.T+i)*tc.T+j])
						}
					}
				}
				got := MeasureHead(HeadMap{A: A, B: tc.B, H: tc.H, T: tc.T, Head: h, Causal: tc.causal})
				checkStats(t, got, refHead(a, tc.causal))
			}
		})
	}
}

func TestFirstTokenMassK(t *testing.T) {
	const T = 6
	uniform := mapOf(2, T, causal(func(_, i, _ int) float64 { return 1 / float64(i) }))
	m := HeadMap{A: uniform, B: 2, H: 1, T: T, Causal: true}
	for k := 1; k <= T; k++ {
		var want float64
		for i := k; i <= T; i++ {
			want += 1 / float64(i) / float64(T-k+1)
		}
		if got := FirstTokenMass(m, k); !near(got, want) {
			t.Errorf("α_%d: got: %v want: %v", k, got, want)
		}
	}
	if got, want := FirstTokenMass(m, 1), MeasureHead(m).FirstTokenMass; !near(got, want) {
		t.Errorf("α_1 differs from MeasureHead: got: %v want: %v", got, want)
	}
	// Non-causal: every row sees key k.
	nc := HeadMap{A: mapOf(1, 3, func(_, i, j int) float64 { return float64(i*10 + j) }), B: 1, H: 1, T: 3}
	if got, want := FirstTokenMass(nc, 2), (12.0+22+32)/3; !near(got, want) {
		t.Errorf("non-causal α_2: got: %v want: %v", got, want)
	}
	for _, k := range []int{0, T + 1} {
		if got := FirstTokenMass(m, k); !math.IsNaN(got) {
			t.Errorf("α_%d: got: %v want: NaN", k, got)
		}
	}
}

func TestSinkRate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		alpha []float64
		eps   float64
		want  float64
	}{
		{"half", []float64{0.1, 0.5, 0.31, 0.2}, 0.3, 50},
		{"strict inequality", []float64{0.3, 0.3}, 0.3, 0},
		{"all", []float64{0.9, 1.2}, 0.3, 100},
		{"other epsilon", []float64{0.1, 0.5, 0.31, 0.2}, 0.15, 75},
		{"no heads", nil, 0.3, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SinkRate(tc.alpha, tc.eps); !near(got, tc.want) {
				t.Errorf("got: %v want: %v", got, tc.want)
			}
		})
	}
}

func TestValueNormRatio(t *testing.T) {
	// B=2, H=2, T=3, HD=2. Head 1 of sample 0: v₁ = (3, 4), v₂ = (1, 0),
	// v₃ = (0, 2): 5 / 1.5. Sample 1: v₁ = (0, 1), v₂ = v₃ = (2, 0): 1 / 2.
	// Head 0 is filled with values that must not leak into head 1.
	v := []float32{
		9, 9, 9, 9, 9, 9, // b0 h0
		3, 4, 1, 0, 0, 2, // b0 h1
		7, 7, 7, 7, 7, 7, // b1 h0
		0, 1, 2, 0, 2, 0, // b1 h1
	}
	if got, want := ValueNormRatio(v, 2, 2, 3, 2, 1), (5/1.5+0.5)/2; !near(got, want) {
		t.Errorf("head 1: got: %v want: %v", got, want)
	}
	if got, want := ValueNormRatio(v, 2, 2, 3, 2, 0), 1.0; !near(got, want) {
		t.Errorf("head 0: got: %v want: %v", got, want)
	}
	// A sample whose later values are all zero is left out.
	z := []float32{1, 0, 0, 0, 4, 0, 0, 1}
	if got, want := ValueNormRatio(z, 2, 1, 2, 2, 0), 4.0; !near(got, want) {
		t.Errorf("zero denominator: got: %v want: %v", got, want)
	}
	if got := ValueNormRatio([]float32{1, 2}, 1, 1, 1, 2, 0); !math.IsNaN(got) {
		t.Errorf("T=1: got: %v want: NaN", got)
	}
}

func TestResidPeakRatio(t *testing.T) {
	// B=1, T=3, D=2: ‖h₁‖ = 10 (6, 8), ‖h₂‖ = 1, ‖h₃‖ = 3 → 10 / 2 = 5.
	h := []float32{6, 8, 0, 1, 3, 0}
	if got, want := ResidPeakRatio(h, 1, 3, 2), 5.0; !near(got, want) {
		t.Errorf("got: %v want: %v", got, want)
	}
	two := append(slices.Clone(h), 1, 0, 1, 0, 1, 0) // second sample ratio 1
	if got, want := ResidPeakRatio(two, 2, 3, 2), 3.0; !near(got, want) {
		t.Errorf("two samples: got: %v want: %v", got, want)
	}
	if got := ResidPeakRatio([]float32{1, 2}, 1, 1, 2); !math.IsNaN(got) {
		t.Errorf("T=1: got: %v want: NaN", got)
	}
}

func TestMassiveActivationRatio(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    []float32
		want float64
	}{
		{"even count", []float32{1, -2, 3, 100}, 100 / 2.5},
		{"odd count", []float32{-50, 1, 2, 5, -4}, 50.0 / 4},
		{"single", []float32{-3}, 1},
		{"ties", []float32{2, 2, -2, 2, 8}, 4},
		{"zero median", []float32{0, 0, 0, 5}, math.Inf(1)},
		{"all zero", []float32{0, 0}, math.NaN()},
		{"NaN", []float32{1, float32(math.NaN()), 2}, math.NaN()},
		{"empty", nil, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := MassiveActivationRatio(tc.h, nil)
			if !near(got, tc.want) {
				t.Errorf("got: %v want: %v", got, tc.want)
			}
		})
	}
	// Against a sort-based median on random data with many ties, reusing scratch.
	rng := rand.New(rand.NewPCG(1, 2))
	var scratch []float32
	for _, n := range []int{2, 3, 10, 101, 1000, 4096} {
		h := make([]float32, n)
		for i := range h {
			h[i] = float32(rng.IntN(21) - 10)
		}
		h[rng.IntN(n)] = 77
		abs := make([]float64, n)
		for i, x := range h {
			abs[i] = math.Abs(float64(x))
		}
		slices.Sort(abs)
		med := abs[n/2]
		if n%2 == 0 {
			med = (abs[n/2-1] + abs[n/2]) / 2
		}
		var got float64
		got, scratch = MassiveActivationRatio(h, scratch)
		if want := 77 / med; !near(got, want) {
			t.Errorf("n=%d: got: %v want: %v", n, got, want)
		}
	}
}

// syntheticCapture builds a capture with softmax-like causal maps whose
// first-token weight grows with the head index, and random values and
// residuals with a large first token.
func syntheticCapture(B, T, L, H, HD, D int, seed uint64) *capture.Capture {
	rng := rand.New(rand.NewPCG(seed, 99))
	c := &capture.Capture{B: B, T: T, L: L, H: H, HD: HD, D: D, Causal: true, Normalized: true, Variant: "softmax"}
	for l := 0; l < L; l++ {
		a := make([]float32, B*H*T*T) // (B, H, T, T)
		for b := 0; b < B; b++ {
			for h := 0; h < H; h++ {
				bias := 6*float64(h+l)/float64(H+L-1) - 3
				for i := 0; i < T; i++ {
					row := a[((b*H+h)*T+i)*T:][:i+1]
					var z float64
					w := make([]float64, i+1)
					for j := range w {
						w[j] = math.Exp(rng.NormFloat64())
						if j == 0 {
							w[j] *= math.Exp(bias)
						}
						z += w[j]
					}
					for j := range row {
						row[j] = float32(w[j] / z)
					}
				}
			}
		}
		c.Attn = append(c.Attn, a)
		v := make([]float32, B*H*T*HD) // (B, H, T, HD)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		c.Values = append(c.Values, v)
		r := make([]float32, B*T*D) // (B, T, D)
		for i := range r {
			r[i] = float32(rng.NormFloat64())
			if i%(T*D) == 3 {
				r[i] = 50 // a massive activation on the first token of each sample
			}
		}
		c.Resid = append(c.Resid, r)
	}
	return c
}

func TestMeasureCapture(t *testing.T) {
	c := syntheticCapture(3, 12, 2, 3, 4, 5, 1)
	heads, layers, rate := MeasureCapture(c, 0.3)
	if len(heads) != c.L*c.H || len(layers) != c.L {
		t.Fatalf("rows: got: %d heads, %d layers want: %d, %d", len(heads), len(layers), c.L*c.H, c.L)
	}
	var alphas []float64
	for l := 0; l < c.L; l++ {
		for h := 0; h < c.H; h++ {
			r := heads[l*c.H+h]
			if r.Layer != int32(l) || r.Head != int32(h) || r.Variant != "softmax" {
				t.Errorf("row %d: got: layer %d head %d variant %q", l*c.H+h, r.Layer, r.Head, r.Variant)
			}
			s := MeasureHead(HeadMap{A: c.Attn[l], B: c.B, H: c.H, T: c.T, Head: h, Causal: true})
			checkStats(t, HeadStats{Entropy: r.Entropy, EntropyNorm: r.EntropyNorm, FirstTokenMass: r.FirstTokenMass,
				BOSSinkScore: r.BOSSinkScore, Sparsity: r.Sparsity, RowMass: r.RowMass}, s)
			if r.IsSinkHead != s.IsSinkHead() {
				t.Errorf("layer %d head %d: is_sink_head %v, score %v", l, h, r.IsSinkHead, s.BOSSinkScore)
			}
			if want := ValueNormRatio(c.Values[l], c.B, c.H, c.T, c.HD, h); !near(r.BOSValueNormRatio, want) {
				t.Errorf("layer %d head %d: value ratio got: %v want: %v", l, h, r.BOSValueNormRatio, want)
			}
			alphas = append(alphas, s.FirstTokenMass)
		}
		if want := ResidPeakRatio(c.Resid[l], c.B, c.T, c.D); !near(layers[l].ResidPeakRatio, want) {
			t.Errorf("layer %d: resid peak got: %v want: %v", l, layers[l].ResidPeakRatio, want)
		}
		if layers[l].MassiveActivationRatio < 10 {
			t.Errorf("layer %d: massive activation ratio %v: the planted 50 should stand out", l, layers[l].MassiveActivationRatio)
		}
	}
	if want := SinkRate(alphas, 0.3); rate != want || rate <= 0 || rate >= 100 {
		t.Errorf("sink rate: got: %v want: %v, strictly between 0 and 100 for this capture", rate, want)
	}

	// Without values and residuals: NaN value ratios, no layer rows.
	c.Values, c.Resid = nil, nil
	heads, layers, _ = MeasureCapture(c, 0.3)
	if len(layers) != 0 || !math.IsNaN(heads[0].BOSValueNormRatio) {
		t.Errorf("uncaptured tensors: got: %d layer rows, value ratio %v want: 0, NaN", len(layers), heads[0].BOSValueNormRatio)
	}
}

func TestMeasureCaptureT1(t *testing.T) {
	c := syntheticCapture(2, 1, 1, 2, 3, 4, 5)
	heads, layers, rate := MeasureCapture(c, 0.3)
	for _, r := range heads {
		if !math.IsNaN(r.Entropy) || !math.IsNaN(r.BOSSinkScore) || !math.IsNaN(r.BOSValueNormRatio) ||
			!near(r.FirstTokenMass, 1) || !near(r.Sparsity, 1) || r.IsSinkHead {
			t.Errorf("T=1 head row: %+v", r)
		}
	}
	if !math.IsNaN(layers[0].ResidPeakRatio) || math.IsNaN(layers[0].MassiveActivationRatio) {
		t.Errorf("T=1 layer row: %+v", layers[0])
	}
	if rate != 100 {
		t.Errorf("T=1 sink rate: got: %v want: 100 (α₁ = 1)", rate)
	}
}

func TestCaptureValidate(t *testing.T) {
	good := func() *capture.Capture { return syntheticCapture(2, 3, 2, 2, 2, 3, 1) }
	for _, tc := range []struct {
		name    string
		corrupt func(c *capture.Capture)
	}{
		{"zero batch", func(c *capture.Capture) { c.B = 0 }},
		{"missing layer", func(c *capture.Capture) { c.Attn = c.Attn[:1] }},
		{"short pattern", func(c *capture.Capture) { c.Attn[1] = c.Attn[1][:5] }},
		{"short values", func(c *capture.Capture) { c.Values[0] = c.Values[0][:3] }},
		{"values per layer", func(c *capture.Capture) { c.Values = c.Values[:1] }},
		{"short resid", func(c *capture.Capture) { c.Resid[1] = c.Resid[1][1:] }},
		{"zero D", func(c *capture.Capture) { c.D = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			if err := c.Validate(); err != nil {
				t.Fatalf("valid capture: %v", err)
			}
			tc.corrupt(c)
			if err := c.Validate(); err == nil {
				t.Errorf("got: nil error want: an error")
			}
		})
	}
	var nilCapture *capture.Capture
	if nilCapture.Validate() == nil {
		t.Errorf("nil capture: got: nil error")
	}
}

// BenchmarkMeasureCaptureTiny measures every metric on a capture of the tiny
// config's probe batch (B=16, T=32, L=2, H=4, HD=16, D=64).
func BenchmarkMeasureCaptureTiny(b *testing.B) {
	c := syntheticCapture(16, 32, 2, 4, 16, 64, 1)
	var m measurer
	b.ReportAllocs()
	for b.Loop() {
		m.measure(c, DefaultSinkEpsilon)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/capture")
}
