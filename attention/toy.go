package attention

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// Loss is one of the objectives ℓ of SCIENCE.md §1 on the toy model y = V σ(a).
type Loss int

// The losses of SCIENCE.md §1.
const (
	// Logistic is ℓ(y) = log(1 + exp(−βᵀy)) with β a random unit vector.
	Logistic Loss = iota
	// Square is ℓ(y) = ½‖y − β‖².
	Square
	// Regression is ℓ(y) = ‖β − X y‖², X (m, d) with singular values
	// linspace(1, 1/κ, min(m, d)) and β a random unit vector in Rᵐ.
	Regression
	// CrossEntropy is ℓ(y) = −Σ p*ᵢ log softmax(y)ᵢ with p* = softmax(10·U[0,1]ᵏ).
	// The paper's V ∈ R^{n×k} is stored transposed, as (k, n), so y = V σ(a).
	CrossEntropy
	// Tied is the logistic loss on y = U σ(U a), U (D, D) stored in V.
	Tied
)

var lossNames = [...]string{"logistic", "square", "regression", "cross-entropy", "tied"}

// String returns the loss's name as LossByName accepts it.
func (l Loss) String() string {
	if l < 0 || int(l) >= len(lossNames) {
		return fmt.Sprintf("Loss(%d)", int(l))
	}
	return lossNames[l]
}

// LossNames returns the names LossByName accepts.
func LossNames() []string { return append([]string(nil), lossNames[:]...) }

// LossByName returns the loss with the given name.
func LossByName(name string) (Loss, error) {
	for i, n := range lossNames {
		if n == name {
			return Loss(i), nil
		}
	}
	return 0, fmt.Errorf("attention: unknown loss %q (valid: %s)", name, strings.Join(lossNames[:], ", "))
}

// ToySpec describes a toy model for NewToy.
type ToySpec struct {
	Loss Loss
	Norm Normalizer
	// N is the number of tokens (the length of a). Tied: ignored, N = D.
	N int
	// D is the number of rows of V: the value dimension d; the number of
	// classes k for cross-entropy; the width D of U for tied.
	D int
	// M is the number of rows of X (regression only).
	M int
	// Kappa is the condition number of X (regression only, ≥ 1).
	Kappa float64
	// VScale: V₀ = VScale·N(0,1) (tied: U₀ = I + VScale·N(0,1)).
	VScale float64
	// AMean, AScale: a₀ = AMean + AScale·N(0,1).
	AMean, AScale float64
}

// Toy is the value-softmax model y = V σ(a) with one loss (SCIENCE.md §1), its
// closed-form gradients and gradient-descent step. Parameters V and A may be
// read and written between calls; the methods allocate nothing.
type Toy struct {
	Loss Loss
	Norm Normalizer
	N    int // tokens: length of A
	D    int // rows of V
	M    int // regression: rows of X

	V     []float64 // (D, N) row-major; tied: U (D, D)
	A     []float64 // (N)
	Beta  []float64 // logistic, square, tied: (D); regression: (M); cross-entropy: nil
	X     []float64 // regression: (M, D) row-major
	PStar []float64 // cross-entropy: (D) target distribution

	// scratch
	logits []float64 // (N) tied: U a
	alpha  []float64 // (N) σ(logits)
	y      []float64 // (D)
	g      []float64 // (D) ∇ℓ(y)
	w      []float64 // (N) Vᵀ g = ∂L/∂σ
	da     []float64 // (N) ∂L/∂logits
	r      []float64 // (M) regression residual X y − β
	dV     []float64 // (D, N) tied step
	dA     []float64 // (N) tied step
}

// NewToy draws a toy model from rng in a fixed order: V₀ (D·N normals), a₀ (N
// normals), β (D normals scaled to unit length; for regression M normals, not
// normalized, as the paper's E3), then
// the loss's constants (regression: the orthogonal factors of X; cross-entropy:
// the k uniforms of p*). Models with the same shapes built from equal seeds
// share V₀, a₀ and β whatever their normalizer or κ.
func NewToy(spec ToySpec, rng *rand.Rand) (*Toy, error) {
	if spec.Norm == nil {
		return nil, errors.New("attention: toy: no normalizer")
	}
	n, d := spec.N, spec.D
	if spec.Loss == Tied {
		n = d
	}
	switch {
	case n < 2:
		return nil, fmt.Errorf("attention: toy: need at least 2 tokens, got n = %d", n)
	case d < 1 || (spec.Loss == CrossEntropy && d < 2):
		return nil, fmt.Errorf("attention: toy: bad value dimension %d for %s", d, spec.Loss)
	case spec.Loss == Regression && spec.M < 1:
		return nil, fmt.Errorf("attention: toy: regression needs m ≥ 1, got %d", spec.M)
	case spec.Loss == Regression && !(spec.Kappa >= 1):
		return nil, fmt.Errorf("attention: toy: regression needs κ ≥ 1, got %v", spec.Kappa)
	case spec.Loss < 0 || int(spec.Loss) >= len(lossNames):
		return nil, fmt.Errorf("attention: toy: unknown loss %d", int(spec.Loss))
	}
	t := &Toy{Loss: spec.Loss, Norm: spec.Norm, N: n, D: d}
	t.V = make([]float64, d*n)
	for i := range t.V {
		t.V[i] = spec.VScale * rng.NormFloat64()
	}
	if spec.Loss == Tied {
		for i := 0; i < d; i++ {
			t.V[i*n+i] += 1
		}
	}
	t.A = make([]float64, n)
	for i := range t.A {
		t.A[i] = spec.AMean + spec.AScale*rng.NormFloat64()
	}
	switch spec.Loss {
	case Logistic, Square, Tied:
		t.Beta = randomUnit(rng, d)
	case Regression:
		t.M = spec.M
		t.Beta = make([]float64, spec.M) // β ~ N(0, I_m), not normalized (the paper's E3: ‖β‖ ≈ √m)
		for i := range t.Beta {
			t.Beta[i] = rng.NormFloat64()
		}
		t.X = conditionedMatrix(rng, spec.M, d, spec.Kappa)
	case CrossEntropy:
		t.PStar = make([]float64, d)
		u := make([]float64, d)
		for i := range u {
			u[i] = 10 * rng.Float64()
		}
		Softmax{}.Forward(t.PStar, u)
	}
	t.alloc()
	return t, nil
}

// alloc makes the scratch buffers.
func (t *Toy) alloc() {
	n, d := t.N, t.D
	t.logits = make([]float64, n)
	t.alpha = make([]float64, n)
	t.y = make([]float64, d)
	t.g = make([]float64, d)
	t.w = make([]float64, n)
	t.da = make([]float64, n)
	t.r = make([]float64, t.M)
	t.dV = make([]float64, d*n)
	t.dA = make([]float64, n)
}

// Clone returns a deep copy with its own scratch buffers.
func (t *Toy) Clone() *Toy {
	c := &Toy{Loss: t.Loss, Norm: t.Norm, N: t.N, D: t.D, M: t.M}
	c.V = append([]float64(nil), t.V...)
	c.A = append([]float64(nil), t.A...)
	c.Beta = append([]float64(nil), t.Beta...)
	c.X = append([]float64(nil), t.X...)
	c.PStar = append([]float64(nil), t.PStar...)
	c.alloc()
	return c
}

// randomUnit returns a standard normal vector of length n scaled to unit norm.
func randomUnit(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for {
		s := 0.0
		for i := range v {
			v[i] = rng.NormFloat64()
			s += v[i] * v[i]
		}
		if s > 0 {
			inv := 1 / math.Sqrt(s)
			for i := range v {
				v[i] *= inv
			}
			return v
		}
	}
}

// randomOrthogonal returns a Haar-distributed orthogonal (n, n) matrix: the Q
// of a Gaussian matrix's QR factorization, columns signed by diag(R).
func randomOrthogonal(rng *rand.Rand, n int) *mat.Dense {
	g := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			g.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var q, r mat.Dense
	qr.QTo(&q)
	qr.RTo(&r)
	for j := 0; j < n; j++ {
		if r.At(j, j) < 0 {
			for i := 0; i < n; i++ {
				q.Set(i, j, -q.At(i, j))
			}
		}
	}
	return &q
}

// Linspace returns n points evenly spaced from lo to hi inclusive (n = 1: lo).
func Linspace(lo, hi float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		if n == 1 {
			out[i] = lo
			continue
		}
		out[i] = lo + (hi-lo)*float64(i)/float64(n-1)
	}
	return out
}

// conditionedMatrix returns X = P diag(s) Qᵀ (m, d) row-major, with P (m, m) and
// Q (d, d) random orthogonal and s = linspace(1, 1/κ, min(m, d)).
func conditionedMatrix(rng *rand.Rand, m, d int, kappa float64) []float64 {
	p := randomOrthogonal(rng, m)
	q := randomOrthogonal(rng, d)
	r := min(m, d)
	s := Linspace(1, 1/kappa, r)
	x := make([]float64, m*d)
	for i := 0; i < m; i++ {
		for j := 0; j < d; j++ {
			v := 0.0
			for l := 0; l < r; l++ {
				v += p.At(i, l) * s[l] * q.At(j, l)
			}
			x[i*d+j] = v
		}
	}
	return x
}

// matVec writes y = M x for M (rows, cols) row-major.
func matVec(y, m, x []float64, rows, cols int) {
	for i := 0; i < rows; i++ {
		row := m[i*cols : (i+1)*cols]
		s := 0.0
		for j, v := range row {
			s += v * x[j]
		}
		y[i] = s
	}
}

// matTVec writes y = Mᵀ x for M (rows, cols) row-major.
func matTVec(y, m, x []float64, rows, cols int) {
	clear(y[:cols])
	for i := 0; i < rows; i++ {
		row := m[i*cols : (i+1)*cols]
		xi := x[i]
		for j, v := range row {
			y[j] += v * xi
		}
	}
}

// lossGrad writes g = ∇ℓ(y) and returns ℓ(y). For tied it is the logistic
// loss.
func (t *Toy) lossGrad(y, g []float64) float64 {
	switch t.Loss {
	case Logistic, Tied:
		z := dotProd(t.Beta, y)
		s := sigmoid(-z)
		for i, b := range t.Beta {
			g[i] = -s * b
		}
		return softplus(-z)
	case Square:
		l := 0.0
		for i, b := range t.Beta {
			e := y[i] - b
			g[i] = e
			l += e * e
		}
		return l / 2
	case Regression:
		matVec(t.r, t.X, y, t.M, t.D)
		l := 0.0
		for i, b := range t.Beta {
			t.r[i] -= b
			l += t.r[i] * t.r[i]
			t.r[i] *= 2
		}
		matTVec(g, t.X, t.r, t.M, t.D)
		return l
	case CrossEntropy:
		m := math.Inf(-1)
		for _, v := range y {
			m = max(m, v)
		}
		s, py := 0.0, 0.0
		for i, v := range y {
			e := math.Exp(v - m)
			g[i] = e
			s += e
			py += t.PStar[i] * v
		}
		inv := 1 / s
		for i := range g {
			g[i] = g[i]*inv - t.PStar[i]
		}
		return m + math.Log(s) - py
	}
	panic("attention: unknown loss")
}

// softplus is log(1 + exp(x)) without overflow for any x.
func softplus(x float64) float64 {
	return max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}

// forwardAt computes σ into alpha and y = V σ at (V, A) and returns the logits
// σ was taken of (A itself, or U a for tied).
func (t *Toy) forwardAt(V, A, alpha []float64) []float64 {
	logits := A
	if t.Loss == Tied {
		matVec(t.logits, V, A, t.D, t.N)
		logits = t.logits
	}
	t.Norm.Forward(alpha, logits)
	matVec(t.y, V, alpha, t.D, t.N)
	return logits
}

// lossAt returns L(V, A) and writes the weights σ into alpha.
func (t *Toy) lossAt(V, A, alpha []float64) float64 {
	t.forwardAt(V, A, alpha)
	return t.lossGrad(t.y, t.g)
}

// gradAt writes ∂L/∂V (D, N) into dV and ∂L/∂a (N) into dA at (V, A) and
// returns L(V, A).
//
// With σ = α(logits), y = V σ, g = ∇ℓ(y), w = Vᵀ g and δ = J_αᵀ w:
// ∂L/∂V = g σᵀ and ∂L/∂a = δ; tied (logits = U a, V = U):
// ∂L/∂U = g σᵀ + δ aᵀ and ∂L/∂a = Uᵀ δ.
func (t *Toy) gradAt(V, A, dV, dA []float64) float64 {
	n, d := t.N, t.D
	logits := t.forwardAt(V, A, t.alpha)
	loss := t.lossGrad(t.y, t.g)
	matTVec(t.w, V, t.g, d, n)
	t.Norm.VJP(t.da, logits, t.alpha, t.w)
	for i := 0; i < d; i++ {
		gi := t.g[i]
		row := dV[i*n : (i+1)*n]
		for j, s := range t.alpha {
			row[j] = gi * s
		}
	}
	if t.Loss != Tied {
		copy(dA, t.da)
		return loss
	}
	for i := 0; i < d; i++ {
		di := t.da[i]
		row := dV[i*n : (i+1)*n]
		for j, v := range A {
			row[j] += di * v
		}
	}
	matTVec(dA, V, t.da, d, n)
	return loss
}

// LossAndWeights returns L(V, A) at the current parameters and writes σ
// into alpha (N).
func (t *Toy) LossAndWeights(alpha []float64) float64 {
	checkLen("toy weights", t.N, alpha)
	return t.lossAt(t.V, t.A, alpha)
}

// Gradient writes ∂L/∂V (D, N) into dV and ∂L/∂a (N) into dA at the current
// parameters and returns the loss.
func (t *Toy) Gradient(dV, dA []float64) float64 {
	checkLen("toy gradient dV", t.D*t.N, dV)
	checkLen("toy gradient dA", t.N, dA)
	return t.gradAt(t.V, t.A, dV, dA)
}

// Step takes one gradient-descent step V ← V − lr ∂L/∂V, a ← a − lr ∂L/∂a
// (both gradients taken before either update) and returns the loss before the
// step. It allocates nothing; for every loss but tied, reading Vᵀg and
// updating V share one pass over V.
func (t *Toy) Step(lr float64) float64 {
	if t.Loss == Tied {
		loss := t.gradAt(t.V, t.A, t.dV, t.dA)
		for i, g := range t.dV {
			t.V[i] -= lr * g
		}
		for i, g := range t.dA {
			t.A[i] -= lr * g
		}
		return loss
	}
	n, d := t.N, t.D
	alpha, w := t.alpha[:n], t.w[:n]
	t.Norm.Forward(alpha, t.A)
	matVec(t.y, t.V, alpha, d, n)
	loss := t.lossGrad(t.y, t.g)
	clear(w)
	for i := 0; i < d; i++ {
		gi := t.g[i]
		row := t.V[i*n : (i+1)*n]
		row = row[:len(alpha)]
		for j, v := range row {
			w[j] += v * gi
			row[j] = v - lr*(gi*alpha[j])
		}
	}
	t.Norm.VJP(t.da, t.A, alpha, w)
	for j, g := range t.da {
		t.A[j] -= lr * g
	}
	return loss
}

// Logits writes the logits σ is taken of into dst (N): a, or U a for tied.
func (t *Toy) Logits(dst []float64) {
	checkLen("toy logits", t.N, dst)
	if t.Loss == Tied {
		matVec(dst, t.V, t.A, t.D, t.N)
		return
	}
	copy(dst, t.A)
}

// BetaProjection writes u = Vᵀβ (N) into dst; the reduced coordinates of the
// logistic loss (SCIENCE.md §1). It panics when the loss has no β in Rᵈ.
func (t *Toy) BetaProjection(dst []float64) {
	checkLen("toy beta projection", t.N, dst)
	checkLen("toy beta projection: β", t.D, t.Beta)
	matTVec(dst, t.V, t.Beta, t.D, t.N)
}

// ColumnNorms writes the Euclidean norm of each column of V (N) into dst.
func (t *Toy) ColumnNorms(dst []float64) {
	checkLen("toy column norms", t.N, dst)
	clear(dst)
	for i := 0; i < t.D; i++ {
		for j, v := range t.V[i*t.N : (i+1)*t.N] {
			dst[j] += v * v
		}
	}
	for j := range dst {
		dst[j] = math.Sqrt(dst[j])
	}
}

// ProjectedDrift returns ‖(I − ββᵀ)(V − V₀)‖_F for V, V₀ (d, n) row-major and
// a unit β (d): the drift of the quantity the logistic loss conserves
// (SCIENCE.md §1).
func ProjectedDrift(V, V0, beta []float64, d, n int) float64 {
	checkLen("projected drift", d*n, V, V0)
	checkLen("projected drift: β", d, beta)
	s := 0.0
	for j := 0; j < n; j++ {
		c := 0.0
		for i := 0; i < d; i++ {
			c += beta[i] * (V[i*n+j] - V0[i*n+j])
		}
		for i := 0; i < d; i++ {
			r := V[i*n+j] - V0[i*n+j] - beta[i]*c
			s += r * r
		}
	}
	return math.Sqrt(s)
}
