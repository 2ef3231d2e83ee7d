package attention

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// SCIENCE.md §1, logistic loss, reduced system: with u = Vᵀβ, z = σᵀu,
// s = sigmoid(−z): u̇ = s σ and ȧ = s σ ⊙ (u − z1).
func TestFlowLogisticReducedSystem(t *testing.T) {
	m := testToy(t, Logistic, Softmax{}, 17)
	f := NewFlow(m)
	y := f.Pack(make([]float64, f.Dim()), m)
	dy := make([]float64, f.Dim())
	f.Field(0, y, dy)
	n, d := m.N, m.D
	sigma := make([]float64, n)
	Softmax{}.Forward(sigma, m.A)
	u := make([]float64, n)
	m.BetaProjection(u)
	z := dotProd(sigma, u)
	s := 1 / (1 + math.Exp(z))
	udot := make([]float64, n) // V̇ᵀβ
	for i := 0; i < d; i++ {
		for j := 0; j < n; j++ {
			udot[j] += dy[i*n+j] * m.Beta[i]
		}
	}
	for j := 0; j < n; j++ {
		if w := s * sigma[j]; math.Abs(udot[j]-w) > 1e-15 {
			t.Errorf("u̇[%d] = %v, want sσ = %v", j, udot[j], w)
		}
		if w := s * sigma[j] * (u[j] - z); math.Abs(dy[d*n+j]-w) > 1e-15 {
			t.Errorf("ȧ[%d] = %v, want sσ(u−z) = %v", j, dy[d*n+j], w)
		}
	}
}

// Along the integrated flow, Σa and (for logistic) (I − ββᵀ)V are conserved
// and the loss never increases.
func TestFlowConservationAndDescent(t *testing.T) {
	for _, loss := range []Loss{Logistic, Square, Regression, CrossEntropy} {
		t.Run(loss.String(), func(t *testing.T) {
			m := testToy(t, loss, Softmax{}, 2)
			f := NewFlow(m)
			y0 := f.Pack(make([]float64, f.Dim()), m)
			s := NewDOPRI54(f.Field, 0, y0, 1e-10, 1e-12)
			alpha := make([]float64, m.N)
			sumA := func(y []float64) float64 {
				v := 0.0
				for _, x := range y[m.D*m.N:] {
					v += x
				}
				return v
			}
			s0, prevLoss := sumA(y0), f.Weights(y0, alpha)
			for _, tt := range []float64{0.5, 1, 5, 20, 100, 1000} {
				if err := s.Advance(tt); err != nil {
					t.Fatal(err)
				}
				if d := math.Abs(sumA(s.Y()) - s0); d > 1e-9*math.Abs(s0) {
					t.Errorf("t=%v: Σa drift %.3g", tt, d)
				}
				l := f.Weights(s.Y(), alpha)
				if l > prevLoss+1e-12 {
					t.Errorf("t=%v: loss rose from %v to %v", tt, prevLoss, l)
				}
				prevLoss = l
				if loss == Logistic {
					if d := ProjectedDrift(s.Y()[:m.D*m.N], m.V, m.Beta, m.D, m.N); d > 1e-9 {
						t.Errorf("t=%v: ‖(I−ββᵀ)(V−V₀)‖ = %.3g", tt, d)
					}
				}
			}
		})
	}
}

// E1 setting at small scale: gradient descent with lr 1e-3 tracks the flow,
// |H(σ_GD(k)) − H(σ_flow(k·lr))| ≤ 1e-3 for every k·lr ≤ 100.
func TestGradientDescentTracksFlow(t *testing.T) {
	for _, tc := range []struct {
		vScale, minDrop float64
	}{
		{0.1, 0.02}, // E1's initialization: slow start
		{1, 1},      // larger values: σ polarizes before t = 100
	} {
		t.Run(fmt.Sprintf("v_scale=%v", tc.vScale), func(t *testing.T) { gdTracksFlow(t, tc.vScale, tc.minDrop) })
	}
}

func gdTracksFlow(t *testing.T, vScale, minDrop float64) {
	rng := rand.New(rand.NewPCG(0, 1))
	m, err := NewToy(ToySpec{Loss: Logistic, Norm: Softmax{}, N: 8, D: 8, VScale: vScale}, rng)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFlow(m)
	s := NewDOPRI54(f.Field, 0, f.Pack(make([]float64, f.Dim()), m), 1e-10, 1e-12)
	const lr = 1e-3
	ga, fa := make([]float64, 8), make([]float64, 8)
	worst, h0, hEnd := 0.0, 0.0, 0.0
	for k := 0; k <= 100000; k++ {
		if k%1000 == 0 {
			if err := s.Advance(float64(k) * lr); err != nil {
				t.Fatal(err)
			}
			m.LossAndWeights(ga)
			f.Weights(s.Y(), fa)
			hg, hf := Polarize(ga).Entropy, Polarize(fa).Entropy
			worst = max(worst, math.Abs(hg-hf))
			if k == 0 {
				h0 = hg
			}
			hEnd = hg
		}
		m.Step(lr)
	}
	if worst > 1e-3 {
		t.Errorf("max entropy gap between GD and flow over t ≤ 100: %.3g", worst)
	}
	if h0-hEnd < minDrop {
		t.Errorf("entropy moved only from %v to %v: tracking is vacuous", h0, hEnd)
	}
	t.Logf("entropy %v → %v, max gap %.3g", h0, hEnd, worst)
}
