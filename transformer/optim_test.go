package transformer

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/data"
)

// One update of each optimizer against the formulas written out by hand
// (PyTorch's AdamW and SGD), for a decayed and an undecayed tensor.
func TestOptimizerOneStep(t *testing.T) {
	params := []*Param[float64]{
		{Name: "w", Data: []float64{1, -2}, Decay: true},
		{Name: "b", Data: []float64{0.5}, Decay: false},
	}
	grads := [][]float64{{0.1, -0.3}, {2}}
	lr, wd := 0.01, 0.1
	t.Run("adamw", func(t *testing.T) {
		ps := []*Param[float64]{{Data: []float64{1, -2}, Decay: true}, {Data: []float64{0.5}}}
		o := newOptimizer(OptimConfig{Name: "adamw", Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: wd, Decay: DecayMatrices}, ps)
		o.step(ps, grads, lr)
		for i, p := range params {
			for j, w0 := range p.Data {
				g := grads[i][j]
				w := w0
				if p.Decay {
					w *= 1 - lr*wd
				}
				m := 0.1 * g / (1 - 0.9)
				v := 0.001 * g * g / (1 - 0.999)
				w -= lr * m / (math.Sqrt(v) + 1e-8)
				if got := ps[i].Data[j]; math.Abs(got-w) > 1e-12 {
					t.Errorf("%s[%d] = %v, want %v", p.Name, j, got, w)
				}
			}
		}
	})
	t.Run("sgd-momentum", func(t *testing.T) {
		ps := []*Param[float64]{{Data: []float64{1, -2}, Decay: true}, {Data: []float64{0.5}}}
		o := newOptimizer(OptimConfig{Name: "sgd", Momentum: 0.9, WeightDecay: wd, Decay: DecayMatrices}, ps)
		o.step(ps, grads, lr)
		o.step(ps, grads, lr)
		for i, p := range params {
			for j, w := range p.Data {
				g := grads[i][j]
				var b float64
				for k := 0; k < 2; k++ {
					gk := g
					if p.Decay {
						gk += wd * w
					}
					b = 0.9*b + gk
					w -= lr * b
				}
				if got := ps[i].Data[j]; math.Abs(got-w) > 1e-12 {
					t.Errorf("%s[%d] = %v, want %v", p.Name, j, got, w)
				}
			}
		}
	})
}

// optim.decay = all decays every tensor (the paper's AdamW over
// model.parameters()), matrices only the tensors marked Decay.
func TestOptimizerDecayScope(t *testing.T) {
	for _, c := range []struct {
		scope    string
		wantBias float64
	}{{DecayAll, 0.5 * (1 - 0.01*0.1)}, {DecayMatrices, 0.5}} {
		ps := []*Param[float64]{{Data: []float64{1}, Decay: true}, {Data: []float64{0.5}}}
		o := newOptimizer(OptimConfig{Name: "adamw", Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, Decay: c.scope}, ps)
		o.step(ps, [][]float64{{0}, {0}}, 0.01) // zero gradient: only the decay moves the weights
		if got := ps[1].Data[0]; math.Abs(got-c.wantBias) > 1e-15 {
			t.Errorf("decay %s: bias = %v, want %v", c.scope, got, c.wantBias)
		}
		if got, want := ps[0].Data[0], 1-0.01*0.1; math.Abs(got-want) > 1e-15 {
			t.Errorf("decay %s: matrix = %v, want %v", c.scope, got, want)
		}
	}
}

func TestWarmupCosine(t *testing.T) {
	c := OptimConfig{LR: 1, Schedule: "warmup-cosine", Warmup: 10, MinLRRatio: 0.1}
	for _, tc := range []struct {
		step int
		want float64
	}{{0, 0.1}, {9, 1}, {10, 1}, {109, 0.1}, {59, 0.1 + 0.45*(1+math.Cos(math.Pi*49/99))}} {
		if got := lrAt(c, tc.step, 110); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("lr at step %d = %v, want %v", tc.step, got, tc.want)
		}
	}
}

// A NaN in the weights makes Step fail with ErrNonFinite, naming the step,
// and leaves the weights as they were.
func TestNonFiniteStopsAndKeepsWeights(t *testing.T) {
	tr := newTestTrainer(t, data.TaskInduction, smallInduction)
	if _, err := tr.Step(); err != nil {
		t.Fatal(err)
	}
	p := tr.Model.Params[len(tr.Model.Params)-1]
	p.Data[0] = float32(math.NaN())
	before := append([]float32(nil), tr.Model.Params[0].Data...)
	_, err := tr.Step()
	if err == nil || !errorsIs(err, ErrNonFinite) {
		t.Fatalf("err = %v, want ErrNonFinite", err)
	}
	if want := "step 2"; !contains(err.Error(), want) {
		t.Fatalf("error %q does not name %q", err, want)
	}
	for j, v := range tr.Model.Params[0].Data {
		if v != before[j] {
			t.Fatal("a failed step changed the weights")
		}
	}
	if tr.StepCount() != 1 {
		t.Fatalf("step count %d after a failed step, want 1", tr.StepCount())
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
func contains(s, sub string) bool     { return strings.Contains(s, sub) }
