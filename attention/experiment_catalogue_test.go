package attention

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestDefaultConfigsArePapers(t *testing.T) {
	tests := []struct {
		name       string
		loss, norm []string
		n, d       int
		lr         []float64
		steps      []int64
		vScale     float64
		aMean      float64
		aScale     float64
		variants   int
	}{
		{"logistic", []string{"logistic"}, []string{"softmax"}, 8, 8, []float64{0.1}, []int64{1e6}, 0.1, 0, 0, 1},
		{"normalizers", []string{"square", "logistic"}, NormalizerNames(), 10, 10, []float64{0.1, 0.5}, []int64{5000, 1e5}, 0.1, 1, 0.1, 14},
		{"regression", []string{"regression"}, []string{"softmax"}, 20, 20, []float64{1e-3}, []int64{3e5}, 1e-5, 0, 1e-3, 5},
		{"cross-entropy", []string{"cross-entropy"}, []string{"softmax"}, 10, 8, []float64{0.1}, []int64{3e6}, 0.1, 0, 0, 1},
		{"tied", []string{"tied"}, []string{"softmax"}, 8, 8, []float64{0.05}, []int64{1e4}, 0, 1, 0.1, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DefaultExperimentConfig(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Loss, tc.loss) || !slices.Equal(c.Normalizer, tc.norm) || c.N != tc.n || c.D != tc.d ||
				!slices.Equal(c.LR, tc.lr) || !slices.Equal(c.Steps, tc.steps) || c.VScale != tc.vScale ||
				c.AMean != tc.aMean || c.AScale != tc.aScale {
				t.Errorf("got: %+v", c)
			}
			vs, err := c.ToyVariants()
			if err != nil || len(vs) != tc.variants {
				t.Fatalf("%d variants (err %v), want %d", len(vs), err, tc.variants)
			}
		})
	}
	e3, _ := DefaultExperimentConfig("regression")
	if e3.M != 20 || !slices.Equal(e3.Kappa, []float64{1, 2, 3, 4, 5}) {
		t.Errorf("E3: m=%d kappa=%v", e3.M, e3.Kappa)
	}
	e4, _ := DefaultExperimentConfig("cross-entropy")
	if e4.K != 10 {
		t.Errorf("E4: k=%d", e4.K)
	}
	e5, _ := DefaultExperimentConfig("tied")
	if !slices.Equal(e5.TiedDims, []int{10, 20, 50, 100}) {
		t.Errorf("E5: D=%v", e5.TiedDims)
	}
	if _, err := DefaultExperimentConfig("logistics"); err == nil || !strings.Contains(err.Error(), "cross-entropy") {
		t.Errorf("unknown experiment: err %v should list the valid names", err)
	}
}

// TestE3EntropyFallsWithKappa runs E3 at the paper's settings (n = d = m = 20,
// β ~ N(0, I), 3·10⁵ steps of lr 1e-3, seed 0): with κ = 1 the weights stay
// uniform (entropy log 20 within 0.01), and the final entropy falls strictly
// as κ grows (SCIENCE.md §1, the paper's ill-conditioned regression).
func TestE3EntropyFallsWithKappa(t *testing.T) {
	c, err := DefaultExperimentConfig("regression")
	if err != nil {
		t.Fatal(err)
	}
	_, sums, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 5 {
		t.Fatalf("%d variants, want κ = 1…5", len(sums))
	}
	for i, s := range sums {
		t.Logf("%s: entropy %.4f → %.4f", s.Variant, s.InitialEntropy, s.FinalEntropy)
		if i == 0 && math.Abs(s.FinalEntropy-math.Log(20)) > 0.01 {
			t.Errorf("κ = 1: final entropy %.4f, want log 20 = %.4f", s.FinalEntropy, math.Log(20))
		}
		if i > 0 && !(s.FinalEntropy < sums[i-1].FinalEntropy-0.05) {
			t.Errorf("%s: final entropy %.4f does not fall below %s's %.4f", s.Variant, s.FinalEntropy, sums[i-1].Variant, sums[i-1].FinalEntropy)
		}
	}
}
