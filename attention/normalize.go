package attention

import (
	"fmt"
	"math"
	"strings"
)

// Normalizer maps a logit vector a (n) to weights α(a) (n), the σ of y = V σ(a)
// (SCIENCE.md §1, E2). Implementations are stateless and allocation-free: the
// caller passes every buffer. Buffers must not alias each other, except that da
// may alias g in VJP.
type Normalizer interface {
	// Name is the normalizer's name as NormalizerByName accepts it.
	Name() string
	// Forward writes α(a) into alpha. len(alpha) == len(a).
	Forward(alpha, a []float64)
	// VJP writes the vector-Jacobian product da = J_α(a)ᵀ g, given a and
	// alpha = α(a) as Forward wrote it.
	VJP(da, a, alpha, g []float64)
	// Simplex reports whether α(a) always lies on the probability simplex
	// (non-negative, summing to one).
	Simplex() bool
}

// normalizers lists every normalizer, in the order NormalizerNames reports.
var normalizers = [...]Normalizer{
	Softmax{}, Softmax1{}, L1{}, Sum{}, L2{}, ReLU{}, Sigmoid{},
}

// NormalizerNames returns the names NormalizerByName accepts.
func NormalizerNames() []string {
	names := make([]string, len(normalizers))
	for i, n := range normalizers {
		names[i] = n.Name()
	}
	return names
}

// NormalizerByName returns the normalizer with the given name.
func NormalizerByName(name string) (Normalizer, error) {
	for _, n := range normalizers {
		if n.Name() == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("attention: unknown normalizer %q (valid: %s)", name, strings.Join(NormalizerNames(), ", "))
}

func checkLen(what string, n int, xs ...[]float64) {
	for _, x := range xs {
		if len(x) != n {
			panic(fmt.Sprintf("attention: %s: length mismatch: %d != %d", what, len(x), n))
		}
	}
}

// The normalizers that are also attention variants (softmax, softmax1,
// sigmoid, and relu, which is relu-norm) run the multi-head op's row
// functions rowForward and rowBackward (variants.go) at T = float64: the toy
// model, its flow and the op share one implementation of each.
type (
	// Softmax is α(a)ᵢ = exp(aᵢ) / Σⱼ exp(aⱼ), computed after shifting a by
	// its maximum, so any finite logits give finite weights: the attention
	// variant softmax. Its VJP is daᵢ = αᵢ (gᵢ − Σⱼ αⱼ gⱼ).
	Softmax struct{}
	// Softmax1 is softmax with a 1 added to the denominator,
	// α(a)ᵢ = exp(aᵢ) / (1 + Σⱼ exp(aⱼ)): a head can attend to nothing. Its
	// weights sum to less than one; its VJP is softmax's. It is the attention
	// variant softmax1.
	Softmax1 struct{}
	// ReLU is α(a) = relu(a) / Σ relu(a), the attention variant relu-norm.
	// When no logit is positive the weights are all zero (0/0 := 0, the head
	// attends to nothing) and so is the gradient; the derivative of relu at 0
	// is taken as 0. Its VJP is daⱼ = 1[aⱼ>0]/Σrelu(a) (gⱼ − Σᵢ αᵢ gᵢ).
	ReLU struct{}
	// Sigmoid is the unnormalized α(a)ᵢ = 1 / (1 + exp(−aᵢ)), the attention
	// variant sigmoid. Its VJP is daᵢ = gᵢ αᵢ (1 − αᵢ).
	Sigmoid struct{}
)

// The normalizers that have no attention variant.
type (
	// L1 is α(a) = |a| / Σ|a|. The all-zero vector maps to zero weights
	// (0/0 := 0) with a zero gradient; the derivative of |x| at 0 is taken as
	// 0. Its VJP is daⱼ = sign(aⱼ)/Σ|a| (gⱼ − Σᵢ αᵢ gᵢ).
	L1 struct{}
	// Sum is α(a) = a / Σa. It leaves the simplex when some aᵢ < 0, and has a
	// pole at Σa = 0 (the weights become infinite there, which a run reports
	// as divergence). Its VJP is daⱼ = (gⱼ − Σᵢ αᵢ gᵢ) / Σa.
	Sum struct{}
	// L2 is α(a) = a² / Σa² (elementwise square). It is computed on a / max|a|
	// so that no square overflows. The zero vector maps to zero weights. Its
	// VJP is daⱼ = 2aⱼ/Σa² (gⱼ − Σᵢ αᵢ gᵢ).
	L2 struct{}
)

// The normalizers' Name and Simplex methods (Normalizer), in the order of
// NormalizerNames.

func (Softmax) Name() string  { return "softmax" }
func (Softmax1) Name() string { return "softmax1" }
func (L1) Name() string       { return "l1" }
func (Sum) Name() string      { return "sum" }
func (L2) Name() string       { return "l2" }
func (ReLU) Name() string     { return "relu" }
func (Sigmoid) Name() string  { return "sigmoid" }

func (Softmax) Simplex() bool  { return true }
func (Softmax1) Simplex() bool { return false }
func (L1) Simplex() bool       { return true }
func (Sum) Simplex() bool      { return false }
func (L2) Simplex() bool       { return true }
func (ReLU) Simplex() bool     { return true }
func (Sigmoid) Simplex() bool  { return false }

// Forward and VJP (Normalizer) of the attention variants.

func (n Softmax) Forward(alpha, a []float64)  { variantForward(n, avSoftmax, alpha, a) }
func (n Softmax1) Forward(alpha, a []float64) { variantForward(n, avSoftmax1, alpha, a) }
func (n ReLU) Forward(alpha, a []float64)     { variantForward(n, avReluNorm, alpha, a) }
func (n Sigmoid) Forward(alpha, a []float64)  { variantForward(n, avSigmoid, alpha, a) }

func (n Softmax) VJP(da, a, alpha, g []float64)  { variantVJP(n, avSoftmax, da, a, alpha, g, 1) }
func (n Softmax1) VJP(da, a, alpha, g []float64) { variantVJP(n, avSoftmax1, da, a, alpha, g, 1) }
func (n ReLU) VJP(da, a, alpha, g []float64)     { variantVJP(n, avReluNorm, da, a, alpha, g, reluSum(a)) }
func (n Sigmoid) VJP(da, a, alpha, g []float64)  { variantVJP(n, avSigmoid, da, a, alpha, g, 1) }

// variantForward writes α(a) into alpha with variant v's rowForward.
func variantForward(n Normalizer, v attnVariant, alpha, a []float64) {
	checkLen(n.Name(), len(a), alpha)
	if len(a) > 0 {
		rowForward(v, a, alpha, len(a))
	}
}

// variantVJP writes da = J_α(a)ᵀ g with variant v's rowBackward, given the
// row normalizer z that rowForward returned for a (only relu-norm's backward
// reads it).
func variantVJP(n Normalizer, v attnVariant, da, a, alpha, g []float64, z float64) {
	if len(alpha) != len(a) || len(g) != len(a) || len(da) != len(a) {
		checkLen(n.Name()+" vjp", len(a), alpha, g, da) // panics
	}
	rowBackward(v, a, alpha, g, da, len(a), z)
}

// Forward implements Normalizer.
func (L1) Forward(alpha, a []float64) {
	checkLen("l1", len(a), alpha)
	inv := 0.0
	if s := absSum(a); s != 0 {
		inv = 1 / s
	}
	for i, v := range a {
		alpha[i] = math.Abs(v) * inv
	}
}

// VJP implements Normalizer.
func (L1) VJP(da, a, alpha, g []float64) {
	checkLen("l1 vjp", len(a), alpha, g, da)
	s := absSum(a)
	if s == 0 {
		clear(da)
		return
	}
	dot := dotProd(alpha, g)
	inv := 1 / s
	for i, v := range a {
		sg := 0.0
		switch {
		case v > 0:
			sg = inv
		case v < 0:
			sg = -inv
		}
		da[i] = sg * (g[i] - dot)
	}
}

// absSum returns Σ|aᵢ|.
func absSum(a []float64) float64 {
	s := 0.0
	for _, v := range a {
		s += math.Abs(v)
	}
	return s
}

// Forward implements Normalizer.
func (Sum) Forward(alpha, a []float64) {
	checkLen("sum", len(a), alpha)
	s := sumOf(a)
	for i, v := range a {
		alpha[i] = v / s
	}
}

// VJP implements Normalizer.
func (Sum) VJP(da, a, alpha, g []float64) {
	checkLen("sum vjp", len(a), alpha, g, da)
	s := sumOf(a)
	dot := dotProd(alpha, g)
	for i := range da {
		da[i] = (g[i] - dot) / s
	}
}

// Forward implements Normalizer.
func (L2) Forward(alpha, a []float64) {
	checkLen("l2", len(a), alpha)
	c, q := scaledSquares(a)
	if c == 0 {
		clear(alpha)
		return
	}
	inv, iq := 1/c, 1/q
	for i, v := range a {
		x := v * inv
		alpha[i] = x * x * iq
	}
}

// VJP implements Normalizer.
func (L2) VJP(da, a, alpha, g []float64) {
	checkLen("l2 vjp", len(a), alpha, g, da)
	c, q := scaledSquares(a)
	if c == 0 {
		clear(da)
		return
	}
	inv := 1 / c
	f := 2 / (q * c) // 2aⱼ/Σa² = 2 (aⱼ/c) / (c Σ(a/c)²)
	dot := dotProd(alpha, g)
	for i, v := range a {
		da[i] = f * v * inv * (g[i] - dot)
	}
}

// scaledSquares returns c = max|aᵢ| and q = Σ(aᵢ/c)², so that Σa² = c²q
// without overflow; q = 0 when c = 0.
func scaledSquares(a []float64) (c, q float64) {
	for _, v := range a {
		if av := math.Abs(v); av > c { // NaNs are skipped
			c = av
		}
	}
	if c == 0 {
		return 0, 0
	}
	inv := 1 / c
	for _, v := range a {
		x := v * inv
		q += x * x
	}
	return c, q
}

// Polarization describes how concentrated a weight vector α is. Entropy,
// MaxWeight and Argmax are those of p = |α| / Σ|α| (equal to α itself when α
// is a probability vector); SumAlpha is the raw Σα.
type Polarization struct {
	Entropy   float64 // −Σ pᵢ log pᵢ, with 0 log 0 = 0; NaN when α = 0
	MaxWeight float64 // maxᵢ pᵢ; NaN when α = 0
	Argmax    int     // the first index of the largest |αᵢ|; −1 when α = 0
	SumAlpha  float64 // Σ αᵢ (not normalized)
}

// Polarize measures the concentration of alpha. It does not allocate.
func Polarize(alpha []float64) Polarization {
	sAbs, sum := 0.0, 0.0
	arg, best := -1, -1.0
	for i, v := range alpha {
		av := math.Abs(v)
		sAbs += av
		sum += v
		if av > best {
			best, arg = av, i
		}
	}
	if !(sAbs > 0) {
		return Polarization{Entropy: math.NaN(), MaxWeight: math.NaN(), Argmax: -1, SumAlpha: sum}
	}
	h := 0.0
	for _, v := range alpha {
		if p := math.Abs(v) / sAbs; p > 0 {
			h -= p * math.Log(p)
		}
	}
	return Polarization{Entropy: h, MaxWeight: best / sAbs, Argmax: arg, SumAlpha: sum}
}
