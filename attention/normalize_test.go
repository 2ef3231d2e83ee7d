package attention

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// fdVJP returns the central finite-difference estimate of J_α(a)ᵀ g.
func fdVJP(nz Normalizer, a, g []float64, h float64) []float64 {
	n := len(a)
	out := make([]float64, n)
	ap := append([]float64(nil), a...)
	al := make([]float64, n)
	f := func() float64 {
		nz.Forward(al, ap)
		s := 0.0
		for i := range al {
			s += g[i] * al[i]
		}
		return s
	}
	for j := range a {
		ap[j] = a[j] + h
		fp := f()
		ap[j] = a[j] - h
		fm := f()
		ap[j] = a[j]
		out[j] = (fp - fm) / (2 * h)
	}
	return out
}

// relErr is ‖x − y‖∞ / max(‖y‖∞, floor).
func relErr(x, y []float64, floor float64) float64 {
	num, den := 0.0, floor
	for i := range x {
		num = max(num, math.Abs(x[i]-y[i]))
		den = max(den, math.Abs(y[i]))
	}
	return num / den
}

func TestNormalizerVJPFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// positive logits away from every kink (|x| at 0, relu at 0, Σa = 0)
	pos := func(n int) []float64 {
		a := make([]float64, n)
		for i := range a {
			a[i] = 0.5 + rng.Float64()
		}
		return a
	}
	// mixed signs, |aᵢ| ≥ 0.3, with Σa well away from 0
	mixed := func(n int) []float64 {
		a := make([]float64, n)
		for i := range a {
			a[i] = 0.3 + rng.Float64()
			if i%3 == 1 {
				a[i] = -a[i] / 2
			}
		}
		return a
	}
	inputs := []struct {
		name string
		a    []float64
	}{
		{"positive", pos(7)},
		{"mixed", mixed(9)},
		{"two", []float64{0.7, 1.9}},
	}
	for _, name := range NormalizerNames() {
		nz, err := NormalizerByName(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range inputs {
			t.Run(name+"/"+in.name, func(t *testing.T) {
				n := len(in.a)
				g := make([]float64, n)
				for i := range g {
					g[i] = rng.NormFloat64()
				}
				alpha := make([]float64, n)
				nz.Forward(alpha, in.a)
				da := make([]float64, n)
				nz.VJP(da, in.a, alpha, g)
				want := fdVJP(nz, in.a, g, 1e-6)
				if e := relErr(da, want, 1e-3); e > 1e-7 {
					t.Errorf("VJP vs central differences: rel err %.3g\ngot:  %v\nwant: %v", e, da, want)
				}
				// da may alias g
				g2 := append([]float64(nil), g...)
				nz.VJP(g2, in.a, alpha, g2)
				for i := range g2 {
					if g2[i] != da[i] {
						t.Fatalf("VJP with da aliasing g differs at %d: %v != %v", i, g2[i], da[i])
					}
				}
			})
		}
	}
}

func TestNormalizerValues(t *testing.T) {
	a := []float64{1, -2, 3, 0.5}
	sm := func(a []float64, plusOne bool) []float64 {
		s := 0.0
		if plusOne {
			s = 1
		}
		for _, v := range a {
			s += math.Exp(v)
		}
		out := make([]float64, len(a))
		for i, v := range a {
			out[i] = math.Exp(v) / s
		}
		return out
	}
	tests := []struct {
		name string
		want []float64
	}{
		{"softmax", sm(a, false)},
		{"softmax1", sm(a, true)},
		{"l1", []float64{1 / 6.5, 2 / 6.5, 3 / 6.5, 0.5 / 6.5}},
		{"sum", []float64{1 / 2.5, -2 / 2.5, 3 / 2.5, 0.5 / 2.5}},
		{"l2", []float64{1 / 14.25, 4 / 14.25, 9 / 14.25, 0.25 / 14.25}},
		{"relu", []float64{1 / 4.5, 0, 3 / 4.5, 0.5 / 4.5}},
		{"sigmoid", []float64{1 / (1 + math.Exp(-1)), 1 / (1 + math.Exp(2)), 1 / (1 + math.Exp(-3)), 1 / (1 + math.Exp(-0.5))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nz, err := NormalizerByName(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float64, len(a))
			nz.Forward(got, a)
			if e := relErr(got, tc.want, 1e-300); e > 1e-14 {
				t.Errorf("got: %v want: %v", got, tc.want)
			}
			s := 0.0
			for _, v := range got {
				s += v
			}
			if nz.Simplex() && math.Abs(s-1) > 1e-14 {
				t.Errorf("Simplex() but Σα = %v", s)
			}
		})
	}
}

func TestNormalizerStableLargeLogits(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := map[string][]float64{
		"extremes":     {1e4, -1e4, 0, 1e4 - 1, -3},
		"all large":    {1e4, 1e4, 1e4, 9999.5},
		"all negative": {-1e4, -9999, -1e4 + 0.5, -5000},
		"random":       nil,
	}
	r := make([]float64, 16)
	for i := range r {
		r[i] = (2*rng.Float64() - 1) * 1e4
	}
	cases["random"] = r
	for _, name := range NormalizerNames() {
		nz, _ := NormalizerByName(name)
		for cname, a := range cases {
			t.Run(name+"/"+cname, func(t *testing.T) {
				n := len(a)
				alpha := make([]float64, n)
				nz.Forward(alpha, a)
				g := make([]float64, n)
				for i := range g {
					g[i] = rng.NormFloat64()
				}
				da := make([]float64, n)
				nz.VJP(da, a, alpha, g)
				for i := range alpha {
					if math.IsNaN(alpha[i]) || math.IsInf(alpha[i], 0) || math.IsNaN(da[i]) || math.IsInf(da[i], 0) {
						t.Fatalf("non-finite at %d: alpha %v da %v", i, alpha, da)
					}
				}
				p := Polarize(alpha)
				if (name == "relu" || name == "sigmoid" || name == "softmax1") && cname == "all negative" {
					// no positive logit: relu weights are zero by definition, and
					// sigmoid(−5000) and exp(−5000)/(1+…) underflow to zero
					if p.Argmax != -1 || p.SumAlpha != 0 {
						t.Errorf("%s of all-negative logits: want zero weights, got %v", name, alpha)
					}
					return
				}
				if math.IsNaN(p.Entropy) || p.Entropy < -1e-12 || p.Entropy > math.Log(float64(n))+1e-12 {
					t.Errorf("entropy %v outside [0, log n]", p.Entropy)
				}
			})
		}
	}
	// softmax at the float64 extremes
	alpha := make([]float64, 3)
	Softmax{}.Forward(alpha, []float64{1e300, -1e300, 1e300})
	if alpha[0] != 0.5 || alpha[1] != 0 || alpha[2] != 0.5 {
		t.Errorf("softmax(±1e300) = %v, want [0.5 0 0.5]", alpha)
	}
	Softmax1{}.Forward(alpha, []float64{-1e300, -1e300, -1e300})
	if alpha[0] != 0 {
		t.Errorf("softmax1(-1e300) = %v, want 0", alpha)
	}
	L2{}.Forward(alpha, []float64{1e200, -1e200, 0})
	if alpha[0] != 0.5 || alpha[1] != 0.5 || alpha[2] != 0 {
		t.Errorf("l2(±1e200) = %v, want [0.5 0.5 0]", alpha)
	}
}

func TestSoftmax1AttendsToNothing(t *testing.T) {
	alpha := make([]float64, 3)
	Softmax1{}.Forward(alpha, []float64{0, 0, 0})
	for _, v := range alpha {
		if math.Abs(v-0.25) > 1e-16 {
			t.Fatalf("softmax1(0) = %v, want 1/4 each", alpha)
		}
	}
}

func TestNormalizerByNameError(t *testing.T) {
	_, err := NormalizerByName("softmaxx")
	if err == nil {
		t.Fatal("want error for unknown normalizer")
	}
	for _, name := range []string{"softmaxx", "softmax", "softmax1", "l1", "sum", "l2", "relu", "sigmoid"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not mention %q", err, name)
		}
	}
}

func TestNormalizerAllocationFree(t *testing.T) {
	a := []float64{0.3, -1, 2, 0.7, 1.1}
	alpha, g, da := make([]float64, 5), []float64{1, 2, 3, 4, 5}, make([]float64, 5)
	for _, name := range NormalizerNames() {
		nz, _ := NormalizerByName(name)
		allocs := testing.AllocsPerRun(100, func() {
			nz.Forward(alpha, a)
			nz.VJP(da, a, alpha, g)
			_ = Polarize(alpha)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Forward+VJP", name, allocs)
		}
	}
}

func TestPolarize(t *testing.T) {
	tests := []struct {
		alpha             []float64
		entropy, maxw, sa float64
		arg               int
	}{
		{[]float64{0.25, 0.25, 0.25, 0.25}, math.Log(4), 0.25, 1, 0},
		{[]float64{0, 1, 0}, 0, 1, 1, 1},
		{[]float64{-1, 3}, -(0.25*math.Log(0.25) + 0.75*math.Log(0.75)), 0.75, 2, 1},
		{[]float64{0.1, 0.1}, math.Log(2), 0.5, 0.2, 0},
	}
	for _, tc := range tests {
		p := Polarize(tc.alpha)
		if math.Abs(p.Entropy-tc.entropy) > 1e-15 || math.Abs(p.MaxWeight-tc.maxw) > 1e-15 || p.Argmax != tc.arg || math.Abs(p.SumAlpha-tc.sa) > 1e-15 {
			t.Errorf("Polarize(%v) = %+v, want entropy %v max %v argmax %d sum %v", tc.alpha, p, tc.entropy, tc.maxw, tc.arg, tc.sa)
		}
	}
}
