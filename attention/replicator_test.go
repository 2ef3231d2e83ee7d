package attention

import (
	"math"
	"math/rand/v2"
	"testing"
)

// rowJVP is the exact forward-mode counterpart of rowBackward for every
// variant: ⟨a, J·u⟩ = ⟨Jᵀa, u⟩ for random a and u, on rows with fewer
// visible keys than slots and scores of both signs (and for linear-norm rows
// whose |Σs| is below and above 1). The generic fallback agrees with each
// closed form.
func TestRowJVPIsAdjointOfBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const tk = 7
	for vi, name := range variantNames {
		v := attnVariant(vi)
		for trial := 0; trial < 20; trial++ {
			n := 2 + trial%(tk-1)
			s, p := make([]float64, tk), make([]float64, tk)
			a, u := make([]float64, tk), make([]float64, tk)
			scale := 1.5
			if trial%4 == 0 {
				scale = 0.05 // |Σs| < 1 for linear-norm
			}
			for j := range s {
				s[j], a[j], u[j] = scale*rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
			}
			z := rowForward(v, s, p, n)
			ds, jv, gen := make([]float64, tk), make([]float64, tk), make([]float64, tk)
			rowBackward(v, s, p, a, ds, n, z)
			rowJVP(v, s, p, u, jv, n, z, make([]float64, 3*tk))
			var lhs, rhs float64
			for j := 0; j < n; j++ {
				lhs += a[j] * jv[j]
				rhs += ds[j] * u[j]
			}
			if math.Abs(lhs-rhs) > 1e-12*(1+math.Abs(rhs)) {
				t.Fatalf("%s trial %d: ⟨a, J u⟩ = %.15g, ⟨Jᵀa, u⟩ = %.15g", name, trial, lhs, rhs)
			}
			jacobianJVP(v, s, p, u, gen, n, z, make([]float64, 3*tk))
			for j := range gen {
				if math.Abs(gen[j]-jv[j]) > 1e-12*(1+math.Abs(jv[j])) {
					t.Fatalf("%s trial %d key %d: closed-form J·u = %.15g, from the backward %.15g", name, trial, j, jv[j], gen[j])
				}
			}
			for j := n; j < tk; j++ {
				if jv[j] != 0 {
					t.Fatalf("%s: J·u at hidden key %d = %g", name, j, jv[j])
				}
			}
		}
	}
}
