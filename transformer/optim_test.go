package transformer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/attention/vmath"
	"github.com/sinklab/sinklab/data"
)

// optimRef is an independent float64 reference for the optimizers, written
// from PyTorch's documented algorithms (torch.optim.AdamW and torch.optim.SGD,
// dampening 0, no Nesterov), not from optim.go: one tensor's weights, moments
// and step count.
type optimRef struct {
	w, m, v []float64
	t       int
	decay   bool
}

// adamw is one torch.optim.AdamW step: w ← w·(1 − lr·wd) first (decoupled
// decay), then m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², m̂ = m/(1−β₁ᵗ),
// v̂ = v/(1−β₂ᵗ), w ← w − lr·m̂/(√v̂ + ε).
func (r *optimRef) adamw(g []float64, lr, b1, b2, eps, wd float64) {
	r.t++
	for j := range r.w {
		if r.decay {
			r.w[j] *= 1 - lr*wd
		}
		r.m[j] = b1*r.m[j] + (1-b1)*g[j]
		r.v[j] = b2*r.v[j] + (1-b2)*g[j]*g[j]
		mhat := r.m[j] / (1 - math.Pow(b1, float64(r.t)))
		vhat := r.v[j] / (1 - math.Pow(b2, float64(r.t)))
		r.w[j] -= lr * mhat / (math.Sqrt(vhat) + eps)
	}
}

// sgd is one torch.optim.SGD step: g ← g + wd·w (L2 decay), b ← μb + g (b = g
// at the first step, which is μ·0 + g), w ← w − lr·b.
func (r *optimRef) sgd(g []float64, lr, mu, wd float64) {
	r.t++
	for j := range r.w {
		gj := g[j]
		if r.decay {
			gj += wd * r.w[j]
		}
		if mu != 0 {
			r.m[j] = mu*r.m[j] + gj
			gj = r.m[j]
		}
		r.w[j] -= lr * gj
	}
}

// TestOptimizerSteps runs each optimizer for several steps with a different
// gradient and learning rate at every step, in float32 (through every vmath
// kernel the CPU has) and float64, from zero moments and from non-zero moments
// at step 10 (as after a resume), and compares every weight and moment with
// optimRef after every step. The first step from zero moments cannot see β₁,
// β₂ or the bias-correction powers (m̂ = g, v̂ = g² whatever they are); the
// later steps and the resumed start do, so swapped betas, a wrong power of the
// bias correction or a misplaced decay fail here.
func TestOptimizerSteps(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  OptimConfig
	}{
		{"adamw", OptimConfig{Name: "adamw", Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, Decay: DecayMatrices}},
		{"adamw-betas", OptimConfig{Name: "adamw", Beta1: 0.8, Beta2: 0.95, Eps: 1e-6, WeightDecay: 0.3, Decay: DecayMatrices}},
		{"sgd-momentum", OptimConfig{Name: "sgd", Momentum: 0.9, WeightDecay: 0.1, Decay: DecayMatrices}},
		{"sgd", OptimConfig{Name: "sgd", WeightDecay: 0.05, Decay: DecayMatrices}},
	} {
		name, cfg := c.name, c.cfg
		for _, resume := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/resume=%v/float64", name, resume), func(t *testing.T) {
				checkOptimizer[float64](t, cfg, resume, optimTol{1e-14, 1e-14, 1e-14})
			})
			impls := []string{"auto"}
			if cfg.Name == "adamw" { // float32 AdamW runs in vmath's kernels
				impls = []string{"generic", "avx2", "avx512"}
			}
			for _, impl := range impls {
				t.Run(fmt.Sprintf("%s/resume=%v/float32/%s", name, resume, impl), func(t *testing.T) {
					defer vmath.SetImpl("auto")
					if err := vmath.SetImpl(impl); err != nil {
						t.Skipf("vmath kernel %s: %v", impl, err)
					}
					// Measured largest errors over these cases: w 6.2e-7, m 1.1e-6
					// (momentum sums of gradients of 10), v 1.3e-5. v's is the
					// float32 kernel's 1 − β₂ computed from β₂ rounded to float32:
					// 1 − float32(0.999) = 0.00099998713, 1.3e-5 off 0.001.
					// Tolerances are about 3× those.
					checkOptimizer[float32](t, cfg, resume, optimTol{2e-6, 3e-6, 4e-5})
				})
			}
		}
	}
}

// optimTol bounds the error of the weights and first moments (|Δ| / max(1,
// |want|)) and of the second moments (relative).
type optimTol struct{ w, m, v float64 }

func checkOptimizer[T gop.Float](t *testing.T, cfg OptimConfig, resume bool, tol optimTol) {
	rng := rand.New(rand.NewPCG(11, 12))
	// Lengths 37 and 5 cover the SIMD kernels' vector loop and their tail.
	sizes, decays := []int{37, 5, 1}, []bool{true, false, true}
	var params []*Param[T]
	var refs []*optimRef
	for i, n := range sizes {
		p := &Param[T]{Name: fmt.Sprint("p", i), Data: make([]T, n), Decay: decays[i]}
		r := &optimRef{w: make([]float64, n), m: make([]float64, n), v: make([]float64, n), decay: decays[i]}
		for j := range p.Data {
			p.Data[j] = T(rng.NormFloat64())
			r.w[j] = float64(p.Data[j])
		}
		params, refs = append(params, p), append(refs, r)
	}
	o := newOptimizer(cfg, params)
	if resume {
		// Non-zero moments at step 10, as a resumed run restores them.
		o.t = 10
		for i, r := range refs {
			r.t = 10
			for j := range r.m {
				o.m[i][j] = T(0.05 * rng.NormFloat64())
				r.m[j] = float64(o.m[i][j])
				if cfg.Name == "adamw" {
					o.v[i][j] = T(1e-3 * rng.ExpFloat64())
					r.v[j] = float64(o.v[i][j])
				}
			}
		}
	}
	var worst [3]float64 // w, m, v
	check := func(step int, k int, name string, j int, got, want, tol float64) {
		e := math.Abs(got-want) / math.Max(1, math.Abs(want))
		if k == 2 { // v is small: relative error
			e = math.Abs(got-want) / math.Max(1e-30, want)
		}
		worst[k] = math.Max(worst[k], e)
		if !(e <= tol) {
			t.Fatalf("step %d: %s.%s[%d] = %.9g, want %.9g (error %.2g > %.2g)", step, name, [3]string{"w", "m", "v"}[k], j, got, want, e, tol)
		}
	}
	for step, lr := range []float64{1e-2, 3e-2, 5e-3, 2e-2, 1e-2, 4e-2} {
		grads := make([][]T, len(params))
		for i, p := range params {
			grads[i] = make([]T, len(p.Data))
			g64 := make([]float64, len(p.Data))
			scale := math.Pow(10, float64(step%3-1)) // gradients of 0.1, 1 and 10
			for j := range g64 {
				grads[i][j] = T(scale * rng.NormFloat64())
				g64[j] = float64(grads[i][j])
			}
			if cfg.Name == "adamw" {
				refs[i].adamw(g64, lr, cfg.Beta1, cfg.Beta2, cfg.Eps, cfg.WeightDecay)
			} else {
				refs[i].sgd(g64, lr, cfg.Momentum, cfg.WeightDecay)
			}
		}
		o.step(params, grads, lr)
		for i, p := range params {
			r := refs[i]
			for j := range p.Data {
				check(step+1, 0, p.Name, j, float64(p.Data[j]), r.w[j], tol.w)
				if cfg.Name == "adamw" || cfg.Momentum != 0 {
					check(step+1, 1, p.Name, j, float64(o.m[i][j]), r.m[j], tol.m)
				}
				if cfg.Name == "adamw" {
					check(step+1, 2, p.Name, j, float64(o.v[i][j]), r.v[j], tol.v)
				}
			}
		}
	}
	t.Logf("largest error of w, m (|Δ| / max(1, |want|)) and v (relative): %.2g", worst)
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
