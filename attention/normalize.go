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

// Softmax is α(a)ᵢ = exp(aᵢ) / Σⱼ exp(aⱼ), computed after shifting a by its
// maximum, so any finite logits give finite weights.
type Softmax struct{}

// Name implements Normalizer.
func (Softmax) Name() string { return "softmax" }

// Simplex implements Normalizer.
func (Softmax) Simplex() bool { return true }

// Forward implements Normalizer.
func (Softmax) Forward(alpha, a []float64) {
	checkLen("softmax", len(a), alpha)
	softmaxForward(alpha, a, false)
}

// VJP implements Normalizer: daᵢ = αᵢ (gᵢ − Σⱼ αⱼ gⱼ).
func (Softmax) VJP(da, a, alpha, g []float64) {
	checkLen("softmax vjp", len(a), alpha, g, da)
	softmaxVJP(da, alpha, g)
}

// softmaxForward writes softmax(a) (plusOne: with a 1 added to the
// denominator) into alpha, shifted by the maximum logit for stability.
func softmaxForward(alpha, a []float64, plusOne bool) {
	m := math.Inf(-1)
	if plusOne {
		m = 0 // the extra 1 is exp(0): a logit of zero that is never shifted away
	}
	for _, v := range a {
		if v > m {
			m = v
		}
	}
	s := 0.0
	if plusOne {
		s = math.Exp(-m)
	}
	for i, v := range a {
		e := math.Exp(v - m)
		alpha[i] = e
		s += e
	}
	inv := 1 / s
	for i := range alpha {
		alpha[i] *= inv
	}
}

// softmaxVJP is the VJP shared by softmax and softmax1, whose Jacobians are
// both diag(α) − ααᵀ.
func softmaxVJP(da, alpha, g []float64) {
	dot := dotProd(alpha, g)
	for i, al := range alpha {
		da[i] = al * (g[i] - dot)
	}
}

// Softmax1 is softmax with a 1 added to the denominator,
// α(a)ᵢ = exp(aᵢ) / (1 + Σⱼ exp(aⱼ)): a head can attend to nothing. Its
// weights sum to less than one.
type Softmax1 struct{}

// Name implements Normalizer.
func (Softmax1) Name() string { return "softmax1" }

// Simplex implements Normalizer.
func (Softmax1) Simplex() bool { return false }

// Forward implements Normalizer.
func (Softmax1) Forward(alpha, a []float64) {
	checkLen("softmax1", len(a), alpha)
	softmaxForward(alpha, a, true)
}

// VJP implements Normalizer: daᵢ = αᵢ (gᵢ − Σⱼ αⱼ gⱼ), as for softmax.
func (Softmax1) VJP(da, a, alpha, g []float64) {
	checkLen("softmax1 vjp", len(a), alpha, g, da)
	softmaxVJP(da, alpha, g)
}

// dotProd returns Σᵢ xᵢ yᵢ.
func dotProd(x, y []float64) float64 {
	s := 0.0
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// L1 is α(a) = |a| / Σ|a|. The all-zero vector maps to zero weights (0/0 := 0)
// with a zero gradient; the derivative of |x| at 0 is taken as 0.
type L1 struct{}

// Name implements Normalizer.
func (L1) Name() string { return "l1" }

// Simplex implements Normalizer.
func (L1) Simplex() bool { return true }

// Forward implements Normalizer.
func (L1) Forward(alpha, a []float64) {
	checkLen("l1", len(a), alpha)
	s := 0.0
	for _, v := range a {
		s += math.Abs(v)
	}
	inv := 0.0
	if s != 0 {
		inv = 1 / s
	}
	for i, v := range a {
		alpha[i] = math.Abs(v) * inv
	}
}

// VJP implements Normalizer: daⱼ = sign(aⱼ)/Σ|a| (gⱼ − Σᵢ αᵢ gᵢ).
func (L1) VJP(da, a, alpha, g []float64) {
	checkLen("l1 vjp", len(a), alpha, g, da)
	s := 0.0
	for _, v := range a {
		s += math.Abs(v)
	}
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

// Sum is α(a) = a / Σa. It leaves the simplex when some aᵢ < 0, and has a pole
// at Σa = 0 (the weights become infinite there, which a run reports as
// divergence).
type Sum struct{}

// Name implements Normalizer.
func (Sum) Name() string { return "sum" }

// Simplex implements Normalizer.
func (Sum) Simplex() bool { return false }

// Forward implements Normalizer.
func (Sum) Forward(alpha, a []float64) {
	checkLen("sum", len(a), alpha)
	s := 0.0
	for _, v := range a {
		s += v
	}
	for i, v := range a {
		alpha[i] = v / s
	}
}

// VJP implements Normalizer: daⱼ = (gⱼ − Σᵢ αᵢ gᵢ) / Σa.
func (Sum) VJP(da, a, alpha, g []float64) {
	checkLen("sum vjp", len(a), alpha, g, da)
	s := 0.0
	for _, v := range a {
		s += v
	}
	dot := dotProd(alpha, g)
	for i := range da {
		da[i] = (g[i] - dot) / s
	}
}

// L2 is α(a) = a² / Σa² (elementwise square). It is computed on a / max|a| so
// that no square overflows. The zero vector maps to zero weights.
type L2 struct{}

// Name implements Normalizer.
func (L2) Name() string { return "l2" }

// Simplex implements Normalizer.
func (L2) Simplex() bool { return true }

// maxAbs returns max |aᵢ|.
func maxAbs(a []float64) float64 {
	m := 0.0
	for _, v := range a {
		if av := math.Abs(v); av > m {
			m = av
		}
	}
	return m
}

// Forward implements Normalizer.
func (L2) Forward(alpha, a []float64) {
	checkLen("l2", len(a), alpha)
	c := maxAbs(a)
	if c == 0 {
		clear(alpha)
		return
	}
	inv := 1 / c
	q := 0.0
	for i, v := range a {
		x := v * inv
		alpha[i] = x * x
		q += x * x
	}
	iq := 1 / q
	for i := range alpha {
		alpha[i] *= iq
	}
}

// VJP implements Normalizer: daⱼ = 2aⱼ/Σa² (gⱼ − Σᵢ αᵢ gᵢ).
func (L2) VJP(da, a, alpha, g []float64) {
	checkLen("l2 vjp", len(a), alpha, g, da)
	c := maxAbs(a)
	if c == 0 {
		clear(da)
		return
	}
	inv := 1 / c
	q := 0.0
	for _, v := range a {
		x := v * inv
		q += x * x
	}
	f := 2 / (q * c) // 2aⱼ/Σa² = 2 (aⱼ/c) / (c Σ(a/c)²)
	dot := dotProd(alpha, g)
	for i, v := range a {
		da[i] = f * v * inv * (g[i] - dot)
	}
}

// ReLU is α(a) = relu(a) / Σ relu(a). When no logit is positive the weights
// are all zero (0/0 := 0, the head attends to nothing) and so is the gradient;
// the derivative of relu at 0 is taken as 0.
type ReLU struct{}

// Name implements Normalizer.
func (ReLU) Name() string { return "relu" }

// Simplex implements Normalizer.
func (ReLU) Simplex() bool { return true }

// Forward implements Normalizer.
func (ReLU) Forward(alpha, a []float64) {
	checkLen("relu", len(a), alpha)
	s := 0.0
	for _, v := range a {
		if v > 0 {
			s += v
		}
	}
	inv := 0.0
	if s > 0 {
		inv = 1 / s
	}
	for i, v := range a {
		alpha[i] = max(v, 0) * inv
	}
}

// VJP implements Normalizer: daⱼ = 1[aⱼ>0]/Σrelu(a) (gⱼ − Σᵢ αᵢ gᵢ).
func (ReLU) VJP(da, a, alpha, g []float64) {
	checkLen("relu vjp", len(a), alpha, g, da)
	s := 0.0
	for _, v := range a {
		if v > 0 {
			s += v
		}
	}
	if s == 0 {
		clear(da)
		return
	}
	inv := 1 / s
	dot := dotProd(alpha, g)
	for i, v := range a {
		if v > 0 {
			da[i] = inv * (g[i] - dot)
		} else {
			da[i] = 0
		}
	}
}

// Sigmoid is the unnormalized α(a)ᵢ = 1 / (1 + exp(−aᵢ)).
type Sigmoid struct{}

// Name implements Normalizer.
func (Sigmoid) Name() string { return "sigmoid" }

// Simplex implements Normalizer.
func (Sigmoid) Simplex() bool { return false }

// Forward implements Normalizer.
func (Sigmoid) Forward(alpha, a []float64) {
	checkLen("sigmoid", len(a), alpha)
	for i, v := range a {
		alpha[i] = sigmoid(v)
	}
}

// VJP implements Normalizer: daᵢ = gᵢ αᵢ (1 − αᵢ).
func (Sigmoid) VJP(da, a, alpha, g []float64) {
	checkLen("sigmoid vjp", len(a), alpha, g, da)
	for i, al := range alpha {
		da[i] = g[i] * al * (1 - al)
	}
}

// sigmoid is 1/(1+exp(−x)) without overflow for any x.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// softplus is log(1 + exp(x)) without overflow for any x.
func softplus(x float64) float64 {
	return max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
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
