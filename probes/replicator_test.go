package probes_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sinklab/sinklab/attention"
	"github.com/sinklab/sinklab/probes"
)

// On the value-softmax toy y = V σ(a) (one head, one query, SCIENCE.md §1)
// the replicator probe, fed p = σ(a) and G = ∂ℓ/∂σ = Vᵀ∇ℓ, gives the exact
// gradient flow: −∂L/∂s is the flow's ȧ (the replicator field of attention's
// Flow), and the probe's ṗ — bos_drift for token 0, and the flow rate of
// every token j when token j is put first — is d/dt σ(a(t)) under that flow,
// to 1e-9 (the reference σ̇ is a central difference in time of σ(a + t ȧ)).
func TestReplicatorMatchesToyFlow(t *testing.T) {
	norm, err := attention.NormalizerByName("softmax")
	if err != nil {
		t.Fatal(err)
	}
	for _, loss := range []attention.Loss{attention.Logistic, attention.Square, attention.CrossEntropy} {
		rng := rand.New(rand.NewPCG(7, uint64(loss)))
		toy, err := attention.NewToy(attention.ToySpec{Loss: loss, Norm: norm, N: 6, D: 5, VScale: 1, AScale: 1}, rng)
		if err != nil {
			t.Fatal(err)
		}
		n := toy.N
		g := make([]float64, n)
		toy.WeightGrad(g)
		p, ds, pdot := make([]float64, n), make([]float64, n), make([]float64, n)
		if err := attention.ReplicatorRow(attention.VariantSoftmax, toy.A, g, p, ds, pdot); err != nil {
			t.Fatal(err)
		}
		// The exact flow's ȧ.
		fl := attention.NewFlow(toy)
		y := fl.Pack(make([]float64, fl.Dim()), toy)
		dy := make([]float64, fl.Dim())
		fl.Field(0, y, dy)
		adot := dy[len(dy)-n:]
		for j := range adot {
			if math.Abs(-ds[j]-adot[j]) > 1e-12 {
				t.Fatalf("%v: ṡ_%d = %g, flow ȧ_%d = %g", loss, j, -ds[j], j, adot[j])
			}
		}
		// σ̇ = d/dt σ(a + t ȧ) at t = 0, by a central difference in t.
		const h = 1e-4
		sig := func(t float64) []float64 {
			a := make([]float64, n)
			for j := range a {
				a[j] = toy.A[j] + t*adot[j]
			}
			out := make([]float64, n)
			m := math.Inf(-1)
			for _, x := range a {
				m = max(m, x)
			}
			var sum float64
			for j, x := range a {
				out[j] = math.Exp(x - m)
				sum += out[j]
			}
			for j := range out {
				out[j] /= sum
			}
			return out
		}
		sp, sm := sig(h), sig(-h)
		sdot := make([]float64, n)
		for j := range sdot {
			sdot[j] = (sp[j] - sm[j]) / (2 * h)
		}
		for first := 0; first < n; first++ {
			// Put token `first` in key slot 0: the probe's bos_drift is its rate.
			perm := func(x []float64) []float64 {
				out := make([]float64, n)
				for k := range out {
					out[k] = x[(k+first)%n]
				}
				return out
			}
			f := probes.FlowHead{P: perm(p), G: perm(g), DS: perm(ds), PDot: perm(pdot), B: 1, H: 1, T: 1, Tk: n}
			st := probes.FlowStatsRows(f, nil)
			if d := math.Abs(st.BOSDrift - sdot[first]); d > 1e-9 {
				t.Errorf("%v: bos_drift of token %d = %.12g, flow σ̇ = %.12g", loss, first, st.BOSDrift, sdot[first])
			}
			if first == 0 {
				best := 0
				var h float64
				for j := range sdot {
					if sdot[j] > sdot[best] {
						best = j
					}
					h -= sdot[j] * math.Log(p[j])
				}
				if int(st.PredictedWinner) != best {
					t.Errorf("%v: predicted_winner %d, argmax σ̇ = %d", loss, st.PredictedWinner, best)
				}
				if math.Abs(st.EntropyDrift-h) > 1e-9 {
					t.Errorf("%v: entropy_drift %.12g, −Σ σ̇ log σ = %.12g", loss, st.EntropyDrift, h)
				}
			}
		}
	}
}
