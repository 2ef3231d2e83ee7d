package attention

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
)

// rowSum says what a variant's rows of weights sum to over the visible keys.
type rowSum int

const (
	rowsSumToOne   rowSum = iota // exactly 1
	rowsAtMostOne                // in [0, 1]: softmax1 keeps e^0 for "nothing"
	rowsOneOrZero                // 1, or 0 when no key gets any weight
	rowsOneUpToEps               // Σ/(Σ + 1e-9) in [0, 1]: the paper's ε in the denominator (≈ 1 unless Σ ≲ 1e-8)
	rowsFree                     // unnormalized or signed: any value
)

// variantOracle is the test's own formula for one variant's weights, written
// from the definition (SCIENCE.md §2, the comments in variants.go), not from
// the op's code, and what its rows sum to.
type variantOracle struct {
	// weights returns one query row's weights over its visible keys, from the
	// query q (HD) and the visible keys ks (one per visible slot, HD each;
	// the key/value bias slot first when there is one).
	weights func(q []float64, ks [][]float64) []float64
	rows    rowSum
}

// oracles has one entry per variant of Variants(): a variant without one
// fails TestVariantRowSums and TestMultiHeadForwardOracle. A variant that is
// not a function of the scores q·k/√HD alone (a kernel on q and k, an MLP on
// them) gets its own weights func rather than fromScores.
var oracles = map[string]variantOracle{
	// p_j = e^{s_j} / Σ_k e^{s_k}.
	VariantSoftmax: {fromScores(normalizeLogs), rowsSumToOne},
	// p_j = e^{s_j} / (1 + Σ_k e^{s_k}) = 1 / (e^{−s_j} + Σ_k e^{s_k − s_j}).
	VariantSoftmax1: {fromScores(func(s []float64) []float64 {
		return each(s, func(sj float64) float64 {
			d := math.Exp(-sj)
			for _, sk := range s {
				d += math.Exp(sk - sj)
			}
			return 1 / d
		})
	}), rowsAtMostOne},
	VariantSigmoid: {fromScores(func(s []float64) []float64 { return each(s, sigmoid64) }), rowsFree},
	// p = σ(s) / (Σσ(s) + 1e-9) (the paper's sigmoid_norm).
	VariantSigmoidNorm: {fromScores(func(s []float64) []float64 {
		return normalizeEps(each(s, sigmoid64))
	}), rowsOneUpToEps},
	VariantElu: {fromScores(func(s []float64) []float64 { return each(s, eluPlusOne) }), rowsFree},
	// p = (elu(s)+1) / (Σ(elu(s)+1) + 1e-9) (the paper's coupled_linear_norm).
	VariantEluNorm: {fromScores(func(s []float64) []float64 {
		return normalizeEps(each(s, expOrPlusOne))
	}), rowsOneUpToEps},
	VariantDot: {fromScores(func(s []float64) []float64 { return append([]float64(nil), s...) }), rowsFree},
	// p = s / max(|Σ s|, 1).
	VariantDotNorm: {fromScores(func(s []float64) []float64 {
		var sum float64
		for _, x := range s {
			sum += x
		}
		d := math.Max(math.Abs(sum), 1)
		return each(s, func(x float64) float64 { return x / d })
	}), rowsFree},
	// p = relu(s) / Σ relu(s), all zero when every s ≤ 0.
	VariantReluNorm: {fromScores(func(s []float64) []float64 {
		return normalize(each(s, func(x float64) float64 { return math.Max(x, 0) }))
	}), rowsOneOrZero},
	// p = 1 / (n + 1e-9) on the n visible keys (the paper's uniform).
	VariantUniform: {func(q []float64, ks [][]float64) []float64 {
		return normalizeEps(each(make([]float64, len(ks)), func(float64) float64 { return 1 }))
	}, rowsOneUpToEps},
	// p_j = φ(q)·φ(k_j), φ = elu + 1 elementwise, no 1/√HD (the paper's linear_unnorm).
	VariantKernel: {kernelWeights, rowsFree},
	// The same divided by Σ + 1e-9 (the paper's linear).
	VariantKernelNorm: {func(q []float64, ks [][]float64) []float64 {
		return normalizeEps(kernelWeights(q, ks))
	}, rowsOneUpToEps},
	// p_j = φ(q)·φ(k_j)/√HD with φ the MLP oracleMLP (the paper's mlp_unnorm).
	VariantMLP: {mlpWeights, rowsFree},
	// The same divided by max(|Σ|, 1) (the paper's mlp_norm).
	VariantMLPNorm: {func(q []float64, ks [][]float64) []float64 {
		p := mlpWeights(q, ks)
		var sum float64
		for _, x := range p {
			sum += x
		}
		d := math.Max(math.Abs(sum), 1)
		return each(p, func(x float64) float64 { return x / d })
	}, rowsFree},
	// p_j = relu(e^{s_j} − 1) / (Σ_k |e^{s_k} − 1| + 1e-8·e^{m}), m = max s: the
	// authors' softpick, whose max trick scales their ε = 1e-8 by e^{m}. Each
	// |e^{s} − 1|·e^{−m} is written with expm1 so that neither side overflows.
	VariantSoftpick: {fromScores(func(s []float64) []float64 {
		m := s[0]
		for _, x := range s {
			m = math.Max(m, x)
		}
		absScaled := func(x float64) float64 { // |e^x − 1|·e^{−m}
			if x > 0 {
				return -math.Expm1(-x) * math.Exp(x-m)
			}
			return -math.Expm1(x) * math.Exp(-m)
		}
		var den float64
		for _, x := range s {
			den += absScaled(x)
		}
		den += 1e-8
		return each(s, func(x float64) float64 {
			if x <= 0 {
				return 0
			}
			return absScaled(x) / den
		})
	}), rowsAtMostOne},
}

// normalizeEps divides by the sum + 1e-9, the paper's row normalization.
func normalizeEps(p []float64) []float64 {
	var sum float64
	for _, x := range p {
		sum += x
	}
	return each(p, func(x float64) float64 { return x / (sum + 1e-9) })
}

// expOrPlusOne is elu(x) + 1 written as x + 1 for x > 0 and e^x otherwise
// (eluPlusOne's e^x − 1 + 1 loses e^x's digits for x ≪ 0, which a row
// normalized by Σ + 1e-9 can magnify).
func expOrPlusOne(x float64) float64 {
	if x > 0 {
		return x + 1
	}
	return math.Exp(x)
}

// kernelWeights is φ(q)·φ(k_j) for every visible key, φ = elu + 1.
func kernelWeights(q []float64, ks [][]float64) []float64 {
	p := make([]float64, len(ks))
	for j, k := range ks {
		for d := range q {
			p[j] += expOrPlusOne(q[d]) * expOrPlusOne(k[d])
		}
	}
	return p
}

// oracleMLP is φ of the MLP variants in the forward tests: HD 3 → 12 → 3,
// float32-representable so that the float32 runs see the same function.
var oracleMLP = func() mlpParams {
	p := randMLP(rand.New(rand.NewPCG(21, 21)), 3, 12, 0.7)
	for _, x := range [][]float64{p.w1, p.b1, p.w2, p.b2} {
		for i := range x {
			x[i] = float64(float32(x[i]))
		}
	}
	return p
}()

// mlpWeights is φ(q)·φ(k_j)/√HD for every visible key, with
// φ(x) = gelu(x·W1 + b1)·W2 + b2, gelu(u) = ½u(1 + erf(u/√2)).
func mlpWeights(q []float64, ks [][]float64) []float64 {
	hd, f := len(q), len(oracleMLP.b1)
	phi := func(x []float64) []float64 {
		y := append([]float64(nil), oracleMLP.b2...)
		for c := 0; c < f; c++ {
			u := oracleMLP.b1[c]
			for i := 0; i < hd; i++ {
				u += x[i] * oracleMLP.w1[i*f+c]
			}
			a := 0.5 * u * (1 + math.Erf(u/math.Sqrt2))
			for j := 0; j < hd; j++ {
				y[j] += a * oracleMLP.w2[c*hd+j]
			}
		}
		return y
	}
	fq := phi(q)
	p := make([]float64, len(ks))
	for j, k := range ks {
		fk := phi(k)
		for d := range fq {
			p[j] += fq[d] * fk[d]
		}
		p[j] /= math.Sqrt(float64(hd))
	}
	return p
}

// fromScores turns a formula on the scores s_j = q·k_j/√HD into a weights func.
func fromScores(f func(s []float64) []float64) func(q []float64, ks [][]float64) []float64 {
	return func(q []float64, ks [][]float64) []float64 {
		s := make([]float64, len(ks))
		for j, k := range ks {
			for d := range q {
				s[j] += q[d] * k[d]
			}
			s[j] /= math.Sqrt(float64(len(q)))
		}
		return f(s)
	}
}

func each(s []float64, f func(float64) float64) []float64 {
	out := make([]float64, len(s))
	for j, x := range s {
		out[j] = f(x)
	}
	return out
}

// normalize divides by the sum, leaving an all-zero row zero.
func normalize(p []float64) []float64 {
	var sum float64
	for _, x := range p {
		sum += x
	}
	if sum == 0 {
		return p
	}
	return each(p, func(x float64) float64 { return x / sum })
}

// normalizeLogs returns f_j / Σ_k f_k from l = log f, as 1 / Σ_k e^{l_k − l_j}:
// finite however small or large the f are, without taking a maximum.
func normalizeLogs(l []float64) []float64 {
	return each(l, func(lj float64) float64 {
		var d float64
		for _, lk := range l {
			d += math.Exp(lk - lj)
		}
		return 1 / d
	})
}

func sigmoid64(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// eluPlusOne is elu(x) + 1: x + 1 for x > 0, (e^x − 1) + 1 otherwise.
func eluPlusOne(x float64) float64 {
	if x > 0 {
		return x + 1
	}
	return math.Expm1(x) + 1
}

// oracleFor returns v's oracle, failing the test when it has none.
func oracleFor(t *testing.T, v string) variantOracle {
	t.Helper()
	o, ok := oracles[v]
	if !ok || o.weights == nil {
		t.Fatalf("variant %q is in Variants() but has no oracle: add its weights formula to oracles (oracle_test.go)", v)
	}
	return o
}

// oracleCase is one input of the forward tests.
type oracleCase struct {
	causal, kvb bool
	scale       float64 // input scale: 1 → scores O(1); 25 → scores O(1e3)
	zeroQ       bool    // batch 1 has q = 0: every score 0
}

func (c oracleCase) String() string {
	return fmt.Sprintf("causal=%v/kvb=%v/scale=%g/zeroQ=%v", c.causal, c.kvb, c.scale, c.zeroQ)
}

var oracleCases = []oracleCase{
	{true, false, 1, false}, {false, false, 1, false}, {true, true, 1, false}, {false, true, 1, true},
	{true, false, 1, true}, {true, false, 25, false}, {false, true, 25, false},
}

// forward runs NewMultiHead[T] on random inputs and returns the inputs (as
// float64, after rounding to T), the weights (B, H, T, Tk) and the output
// (B·T, D), widened to float64.
func forward[T gop.Float](t *testing.T, v string, c oracleCase) (cfg MultiHeadConfig, qkv, kvb, w, out []float64) {
	t.Helper()
	cfg = MultiHeadConfig{B: 2, T: 5, H: 2, HD: 3, Causal: c.causal, Variant: v, KVBias: c.kvb, MLPHidden: len(oracleMLP.b1)}
	d := cfg.H * cfg.HD
	rng := rand.New(rand.NewPCG(5, uint64(c.scale)))
	round := func(x []float64) []T {
		y := make([]T, len(x))
		for i := range x {
			y[i] = T(x[i])
			x[i] = float64(y[i])
		}
		return y
	}
	qkv = randn(rng, cfg.B*cfg.T*3*d, c.scale)
	if c.zeroQ {
		for r := cfg.T; r < 2*cfg.T; r++ {
			clear(qkv[r*3*d : r*3*d+d])
		}
	}
	g := G.NewGraph()
	x := G.NodeFromAny(g, tensor.New(tensor.WithShape(cfg.B*cfg.T, 3*d), tensor.WithBacking(round(qkv))))
	var kvbNode *G.Node
	if c.kvb {
		kvb = randn(rng, 2*d, c.scale)
		kvbNode = G.NodeFromAny(g, tensor.New(tensor.WithShape(2, d), tensor.WithBacking(round(kvb))))
	}
	var mlp *MLPNodes
	if VariantHasMLP(v) {
		p := oracleMLP
		mk := func(x []float64, shape ...int) *G.Node {
			return G.NodeFromAny(g, tensor.New(tensor.WithShape(shape...), tensor.WithBacking(round(append([]float64(nil), x...)))))
		}
		mlp = &MLPNodes{mk(p.w1, cfg.HD, cfg.MLPHidden), mk(p.b1, cfg.MLPHidden), mk(p.w2, cfg.MLPHidden, cfg.HD), mk(p.b2, cfg.HD)}
	}
	o, op, err := NewMultiHeadMLP[T](x, kvbNode, mlp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ov G.Value
	G.Read(o, &ov)
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	for _, p := range op.Weights() {
		w = append(w, float64(p))
	}
	for _, y := range gop.Data[T](ov) {
		out = append(out, float64(y))
	}
	return cfg, qkv, kvb, w, out
}

// rowInputs returns query row i of (b, h) and its visible keys and values.
func rowInputs(cfg MultiHeadConfig, qkv, kvb []float64, b, h, i int) (q []float64, ks, vs [][]float64) {
	d, hd := cfg.H*cfg.HD, cfg.HD
	at := func(t, part int) []float64 { // part 0 = q, 1 = k, 2 = v
		o := (b*cfg.T+t)*3*d + part*d + h*hd
		return qkv[o : o+hd]
	}
	if kvb != nil {
		ks = append(ks, kvb[h*hd:(h+1)*hd])
		vs = append(vs, kvb[d+h*hd:d+(h+1)*hd])
	}
	n := cfg.T
	if cfg.Causal {
		n = i + 1
	}
	for j := 0; j < n; j++ {
		ks, vs = append(ks, at(j, 1)), append(vs, at(j, 2))
	}
	return at(i, 0), ks, vs
}

// TestVariantRowSums checks, for every variant through the multi-head op in
// float64 and float32, that masked key slots get exactly 0 and that the rows
// sum to what the oracle table says (1; in [0, 1]; 1 or 0; anything), and that
// VariantRowsSumToOne agrees with the table.
func TestVariantRowSums(t *testing.T) {
	for _, v := range Variants() {
		t.Run(v, func(t *testing.T) {
			o := oracleFor(t, v)
			if got, want := VariantRowsSumToOne(v), o.rows == rowsSumToOne || o.rows == rowsOneUpToEps; got != want {
				t.Errorf("VariantRowsSumToOne(%q) = %v, want %v", v, got, want)
			}
			for _, c := range oracleCases {
				t.Run(c.String(), func(t *testing.T) {
					checkRowSums(t, o.rows, 1e-12, func() (MultiHeadConfig, []float64) {
						cfg, _, _, w, _ := forward[float64](t, v, c)
						return cfg, w
					})
					checkRowSums(t, o.rows, 1e-6, func() (MultiHeadConfig, []float64) {
						cfg, _, _, w, _ := forward[float32](t, v, c)
						return cfg, w
					})
				})
			}
		})
	}
	if _, err := parseVariant("softmax2"); err == nil {
		t.Fatal("unknown variant accepted")
	}
}

func checkRowSums(t *testing.T, rows rowSum, tol float64, run func() (MultiHeadConfig, []float64)) {
	t.Helper()
	cfg, w := run()
	nb := btoi(cfg.KVBias)
	tk := cfg.T + nb
	for r := 0; r < cfg.B*cfg.H*cfg.T; r++ {
		i := r % cfg.T
		row := w[r*tk : (r+1)*tk]
		n := tk
		if cfg.Causal {
			n = nb + i + 1
		}
		var sum float64
		for j, p := range row {
			if j >= n && p != 0 {
				t.Fatalf("row %d: masked slot %d has weight %v: %v", r, j, p, row)
			}
			sum += p
		}
		ok := true
		switch rows {
		case rowsSumToOne:
			ok = math.Abs(sum-1) <= tol
		case rowsAtMostOne, rowsOneUpToEps:
			ok = sum >= 0 && sum <= 1+tol
		case rowsOneOrZero:
			ok = sum == 0 || math.Abs(sum-1) <= tol
		}
		if !ok || math.IsNaN(sum) {
			t.Fatalf("row %d sums to %v: %v", r, sum, row)
		}
	}
}

// TestMultiHeadForwardOracle compares every variant's weights and output
// O_i = Σ_j p_ij v_j with the oracle's formula evaluated in float64 on the
// same inputs: causal and full, with and without the key/value bias, scores
// of O(1) and O(1e3), all-zero queries; in float64 (to 1e-12) and, for the
// O(1) scores, in float32 (to 2e-6, through the SIMD kernels).
func TestMultiHeadForwardOracle(t *testing.T) {
	for _, v := range Variants() {
		t.Run(v, func(t *testing.T) {
			o := oracleFor(t, v)
			for _, c := range oracleCases {
				t.Run(c.String()+"/float64", func(t *testing.T) {
					cfg, qkv, kvb, w, out := forward[float64](t, v, c)
					checkOracle(t, o, cfg, qkv, kvb, w, out, 1e-12)
				})
				if c.scale == 1 {
					t.Run(c.String()+"/float32", func(t *testing.T) {
						cfg, qkv, kvb, w, out := forward[float32](t, v, c)
						checkOracle(t, o, cfg, qkv, kvb, w, out, 2e-6)
					})
				}
			}
		})
	}
}

// checkOracle compares weights to tol·max(1, |p|) and outputs to
// tol·(1 + Σ_j |p_j v_j|).
func checkOracle(t *testing.T, o variantOracle, cfg MultiHeadConfig, qkv, kvb, w, out []float64, tol float64) {
	t.Helper()
	d, tk := cfg.H*cfg.HD, cfg.T+btoi(cfg.KVBias)
	for b := 0; b < cfg.B; b++ {
		for h := 0; h < cfg.H; h++ {
			for i := 0; i < cfg.T; i++ {
				q, ks, vs := rowInputs(cfg, qkv, kvb, b, h, i)
				want := o.weights(q, ks)
				got := w[((b*cfg.H+h)*cfg.T+i)*tk:][:len(ks)]
				for j := range want {
					if e := math.Abs(got[j] - want[j]); !(e <= tol*math.Max(1, math.Abs(want[j]))) {
						t.Fatalf("b %d h %d row %d: weights %v, want %v", b, h, i, got, want)
					}
				}
				for e := 0; e < cfg.HD; e++ {
					var y, mag float64
					for j := range want {
						y += want[j] * vs[j][e]
						mag += math.Abs(want[j] * vs[j][e])
					}
					g := out[(b*cfg.T+i)*d+h*cfg.HD+e]
					if !(math.Abs(g-y) <= tol*(1+mag)) {
						t.Fatalf("b %d h %d row %d: output[%d] = %v, want %v", b, h, i, e, g, y)
					}
				}
			}
		}
	}
}
