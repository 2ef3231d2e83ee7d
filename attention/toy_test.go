package attention

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

var allLosses = []Loss{Logistic, Square, Regression, CrossEntropy, Tied}

// testToy builds a small toy model whose logits stay away from the kinks of
// l1 and relu and from the pole of sum.
func testToy(t testing.TB, loss Loss, nz Normalizer, seed uint64) *Toy {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	m, err := NewToy(ToySpec{Loss: loss, Norm: nz, N: 5, D: 4, M: 3, Kappa: 3,
		VScale: 0.5, AMean: 1, AScale: 0.2}, rng)
	if err != nil {
		t.Fatal(err)
	}
	if loss == Tied {
		for i := range m.V { // U = I + small noise: logits U a near a
			m.V[i] *= 0.2
		}
		for i := 0; i < m.D; i++ {
			m.V[i*m.N+i] += 0.8
		}
	}
	return m
}

func TestToyGradientFiniteDifferences(t *testing.T) {
	for _, loss := range allLosses {
		for _, name := range NormalizerNames() {
			nz, _ := NormalizerByName(name)
			t.Run(loss.String()+"/"+name, func(t *testing.T) {
				m := testToy(t, loss, nz, 11)
				dV := make([]float64, len(m.V))
				dA := make([]float64, len(m.A))
				m.Gradient(dV, dA)
				alpha := make([]float64, m.N)
				fd := func(p []float64) []float64 {
					out := make([]float64, len(p))
					const h = 1e-6
					for i := range p {
						x := p[i]
						p[i] = x + h
						lp := m.LossAndWeights(alpha)
						p[i] = x - h
						lm := m.LossAndWeights(alpha)
						p[i] = x
						out[i] = (lp - lm) / (2 * h)
					}
					return out
				}
				if e := relErr(dV, fd(m.V), 1e-4); e > 1e-7 {
					t.Errorf("∂L/∂V vs central differences: rel err %.3g", e)
				}
				if e := relErr(dA, fd(m.A), 1e-4); e > 1e-7 {
					t.Errorf("∂L/∂a vs central differences: rel err %.3g", e)
				}
			})
		}
	}
}

func TestToyStepIsGradientDescent(t *testing.T) {
	for _, loss := range allLosses {
		for _, name := range NormalizerNames() {
			nz, _ := NormalizerByName(name)
			t.Run(loss.String()+"/"+name, func(t *testing.T) { stepIsGradientDescent(t, testToy(t, loss, nz, 5)) })
		}
	}
}

func stepIsGradientDescent(t *testing.T, m *Toy) {
	dV := make([]float64, len(m.V))
	dA := make([]float64, len(m.A))
	want := m.Gradient(dV, dA)
	const lr = 0.3
	wantV := append([]float64(nil), m.V...)
	wantA := append([]float64(nil), m.A...)
	for i := range wantV {
		wantV[i] -= lr * dV[i]
	}
	for i := range wantA {
		wantA[i] -= lr * dA[i]
	}
	got := m.Step(lr)
	if math.Abs(got-want) > 1e-15*math.Abs(want) {
		t.Errorf("Step loss %v, Gradient loss %v", got, want)
	}
	if e := relErr(m.V, wantV, 1); e > 1e-15 {
		t.Errorf("V after Step: rel err %.3g", e)
	}
	if e := relErr(m.A, wantA, 1); e > 1e-15 {
		t.Errorf("a after Step: rel err %.3g", e)
	}
}

func TestToyStepAllocationFree(t *testing.T) {
	for _, loss := range allLosses {
		m := testToy(t, loss, Softmax{}, 5)
		if a := testing.AllocsPerRun(100, func() { m.Step(1e-3) }); a != 0 {
			t.Errorf("%s: %v allocations per Step", loss, a)
		}
	}
}

// The losses of SCIENCE.md §1 in closed form, evaluated independently of
// lossGrad.
func TestToyLossValues(t *testing.T) {
	for _, loss := range allLosses {
		t.Run(loss.String(), func(t *testing.T) {
			m := testToy(t, loss, Softmax{}, 9)
			alpha := make([]float64, m.N)
			got := m.LossAndWeights(alpha)
			logits := make([]float64, m.N)
			m.Logits(logits)
			sm := make([]float64, m.N)
			Softmax{}.Forward(sm, logits)
			y := make([]float64, m.D)
			for i := range y {
				for j := range sm {
					y[i] += m.V[i*m.N+j] * sm[j]
				}
			}
			var want float64
			switch loss {
			case Logistic, Tied:
				z := 0.0
				for i := range y {
					z += m.Beta[i] * y[i]
				}
				want = math.Log(1 + math.Exp(-z))
			case Square:
				for i := range y {
					want += 0.5 * (y[i] - m.Beta[i]) * (y[i] - m.Beta[i])
				}
			case Regression:
				for i := 0; i < m.M; i++ {
					xy := 0.0
					for j := range y {
						xy += m.X[i*m.D+j] * y[j]
					}
					want += (m.Beta[i] - xy) * (m.Beta[i] - xy)
				}
			case CrossEntropy:
				z := 0.0
				for _, v := range y {
					z += math.Exp(v)
				}
				for i, p := range m.PStar {
					want -= p * math.Log(math.Exp(y[i])/z)
				}
			}
			if math.Abs(got-want) > 1e-14*math.Max(1, math.Abs(want)) {
				t.Errorf("loss %v, want %v", got, want)
			}
		})
	}
}

func TestRegressionSingularValues(t *testing.T) {
	for _, tc := range []struct {
		m, d  int
		kappa float64
	}{{20, 20, 5}, {6, 4, 2}, {3, 7, 1}} {
		rng := rand.New(rand.NewPCG(3, 3))
		m, err := NewToy(ToySpec{Loss: Regression, Norm: Softmax{}, N: 3, D: tc.d, M: tc.m, Kappa: tc.kappa, VScale: 1}, rng)
		if err != nil {
			t.Fatal(err)
		}
		var svd mat.SVD
		if !svd.Factorize(mat.NewDense(tc.m, tc.d, m.X), mat.SVDNone) {
			t.Fatal("SVD failed")
		}
		got := svd.Values(nil)
		want := Linspace(1, 1/tc.kappa, min(tc.m, tc.d))
		if e := relErr(got, want, 1); e > 1e-13 {
			t.Errorf("m=%d d=%d κ=%v: singular values %v, want %v", tc.m, tc.d, tc.kappa, got, want)
		}
		// β ~ N(0, I_m), not normalized (the paper's E3): the m normals drawn
		// right after V₀ (d·n) and a₀ (n) from the same generator.
		ref := rand.New(rand.NewPCG(3, 3))
		for i := 0; i < tc.d*3+3; i++ {
			ref.NormFloat64()
		}
		if len(m.Beta) != tc.m {
			t.Fatalf("β has length %d, want m = %d", len(m.Beta), tc.m)
		}
		for i, b := range m.Beta {
			if want := ref.NormFloat64(); b != want {
				t.Fatalf("β[%d] = %v, want the normal %v (not normalized)", i, b, want)
			}
		}
	}
}

func TestCrossEntropyTarget(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	m, err := NewToy(ToySpec{Loss: CrossEntropy, Norm: Softmax{}, N: 10, D: 10, VScale: 0.1}, rng)
	if err != nil {
		t.Fatal(err)
	}
	s, mx, mn := 0.0, 0.0, 1.0
	for _, p := range m.PStar {
		s += p
		mx, mn = max(mx, p), min(mn, p)
	}
	// p* = softmax(10 u), u ∈ [0,1]: ratios are at most e¹⁰
	if math.Abs(s-1) > 1e-14 || mn <= 0 || mx/mn > math.Exp(10) {
		t.Errorf("p* = %v: sum %v, max/min %v", m.PStar, s, mx/mn)
	}
}

func TestToySeedsShareInitialState(t *testing.T) {
	build := func(nz Normalizer, loss Loss, kappa float64) *Toy {
		m, err := NewToy(ToySpec{Loss: loss, Norm: nz, N: 6, D: 6, M: 6, Kappa: kappa, VScale: 0.1, AMean: 1, AScale: 0.1},
			rand.New(rand.NewPCG(42, 1)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := build(Softmax{}, Square, 1), build(L2{}, Logistic, 1)
	for i := range a.V {
		if a.V[i] != b.V[i] {
			t.Fatal("V₀ differs between normalizers with the same seed")
		}
	}
	for i := range a.A {
		if a.A[i] != b.A[i] || a.Beta[i] != b.Beta[i] {
			t.Fatal("a₀ or β differs between normalizers with the same seed")
		}
	}
	r1, r2 := build(Softmax{}, Regression, 1), build(Softmax{}, Regression, 5)
	same := true
	for i := range r1.X {
		same = same && r1.X[i] == r2.X[i]
	}
	if same {
		t.Error("X does not depend on κ")
	}
	r3 := build(Softmax{}, Regression, 5)
	for i := range r2.X {
		if r2.X[i] != r3.X[i] {
			t.Fatal("same seed, different X")
		}
	}
}

func TestNewToyRejectsBadShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, spec := range []ToySpec{
		{Loss: Logistic, Norm: Softmax{}, N: 1, D: 3},
		{Loss: Logistic, Norm: Softmax{}, N: 3, D: 0},
		{Loss: Regression, Norm: Softmax{}, N: 3, D: 3, M: 0, Kappa: 2},
		{Loss: Regression, Norm: Softmax{}, N: 3, D: 3, M: 3, Kappa: 0.5},
		{Loss: CrossEntropy, Norm: Softmax{}, N: 3, D: 1},
		{Loss: Tied, Norm: Softmax{}, D: 1},
		{Loss: Logistic, N: 3, D: 3},
	} {
		if _, err := NewToy(spec, rng); err == nil {
			t.Errorf("NewToy(%+v): want error", spec)
		}
	}
}

// SCIENCE.md §1: Σa is conserved under gradient descent for every loss whose
// softmax acts on a itself (softmax is shift-invariant). The tied model's
// softmax acts on U a, so its Σa is not conserved (see the next test).
func TestSumOfLogitsConservedByGradientDescent(t *testing.T) {
	for _, loss := range []Loss{Logistic, Square, Regression, CrossEntropy} {
		t.Run(loss.String(), func(t *testing.T) {
			m := testToy(t, loss, Softmax{}, 21)
			s0 := 0.0
			for _, v := range m.A {
				s0 += v
			}
			for range 100000 {
				m.Step(0.1)
			}
			s := 0.0
			for _, v := range m.A {
				s += v
			}
			if math.Abs(s-s0) > 1e-9*math.Abs(s0) {
				t.Errorf("Σa drifted from %v to %v (rel %.3g)", s0, s, math.Abs(s-s0)/math.Abs(s0))
			}
			moved := false
			for _, v := range m.A {
				moved = moved || math.Abs(v-s0/float64(m.N)) > 1e-3
			}
			if !moved {
				t.Error("logits did not move: the conservation check is vacuous")
			}
		})
	}
}

// The tied model's symmetry is a → a + c U⁻¹1 (it shifts U a by c1), so its
// gradient is orthogonal to U⁻¹1 rather than to 1.
func TestTiedGradientOrthogonalToSymmetry(t *testing.T) {
	m := testToy(t, Tied, Softmax{}, 3)
	dV := make([]float64, len(m.V))
	dA := make([]float64, len(m.A))
	m.Gradient(dV, dA)
	var x mat.VecDense
	ones := make([]float64, m.D)
	for i := range ones {
		ones[i] = 1
	}
	if err := x.SolveVec(mat.NewDense(m.D, m.D, m.V), mat.NewVecDense(m.D, ones)); err != nil {
		t.Fatal(err)
	}
	dot, norm := 0.0, 0.0
	for i, g := range dA {
		dot += g * x.AtVec(i)
		norm += g * g
	}
	if math.Abs(dot) > 1e-14*math.Sqrt(norm)*mat.Norm(&x, 2) {
		t.Errorf("⟨∂L/∂a, U⁻¹1⟩ = %v, want 0", dot)
	}
}

// SCIENCE.md §1: for the logistic loss every update of V is along β, so
// (I − ββᵀ)V is conserved, whatever the normalizer.
func TestLogisticProjectionConserved(t *testing.T) {
	for _, name := range []string{"softmax", "l2", "sigmoid"} {
		nz, _ := NormalizerByName(name)
		t.Run(name, func(t *testing.T) {
			m := testToy(t, Logistic, nz, 8)
			v0 := append([]float64(nil), m.V...)
			for range 100000 {
				m.Step(0.1)
			}
			drift, moved := ProjectedDrift(m.V, v0, m.Beta, m.D, m.N), 0.0
			for i := range v0 {
				moved = max(moved, math.Abs(m.V[i]-v0[i]))
			}
			if drift > 1e-9*frobenius(v0) {
				t.Errorf("‖(I−ββᵀ)(V−V₀)‖ = %.3g", drift)
			}
			if moved < 1e-2 {
				t.Errorf("V moved only %v: the check is vacuous", moved)
			}
		})
	}
}

func frobenius(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}

// BenchmarkE1Step is one gradient-descent step of E1 (n = d = 8, logistic
// loss, softmax). The PyTorch peer does 29,000 steps/s.
func BenchmarkE1Step(b *testing.B) {
	rng := rand.New(rand.NewPCG(0, 0))
	m, err := NewToy(ToySpec{Loss: Logistic, Norm: Softmax{}, N: 8, D: 8, VScale: 0.1}, rng)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.Step(0.1)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}
