package attention

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
)

// TestSinkLogitGradCheck checks dqkv, dkvb and the sink logit's gradient db
// against central differences in float64: causal and full, with and without
// the key/value bias, T = 1 and 5, and scores of ~1e3.
func TestSinkLogitGradCheck(t *testing.T) {
	type tc struct {
		T           int
		causal, kvb bool
		scale       float64
	}
	for _, c := range []tc{{5, true, false, 1}, {5, false, false, 1}, {5, true, true, 1}, {1, true, false, 1}, {4, true, false, 25}} {
		t.Run(fmt.Sprintf("T%d/causal=%v/kvb=%v/scale=%g", c.T, c.causal, c.kvb, c.scale), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(c.T), 17))
			cfg := MultiHeadConfig{B: 2, T: c.T, H: 2, HD: 3, Causal: c.causal, Variant: VariantSoftmax, KVBias: c.kvb, SinkLogit: true}
			d := cfg.H * cfg.HD
			inputs := [][]float64{randn(rng, cfg.B*cfg.T*3*d, c.scale)}
			shapes := [][]int{{cfg.B * cfg.T, 3 * d}}
			if c.kvb {
				inputs, shapes = append(inputs, randn(rng, 2*d, c.scale)), append(shapes, []int{2, d})
			}
			// Sink logits of the scores' size, so that p₀ is neither 0 nor 1.
			inputs, shapes = append(inputs, []float64{0.3 * c.scale, -0.5 * c.scale}), append(shapes, []int{cfg.H})
			errs, err := gop.GradCheck(inputs, shapes, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) {
				var kvb *G.Node
				if c.kvb {
					kvb = in[1]
				}
				out, _, err := NewMultiHeadSinkLogit[float64](in[0], kvb, in[len(in)-1], cfg)
				return out, err
			}, 1e-6, 5)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range errs {
				if c.scale > 1 && i == len(errs)-1 {
					// With scores of ~1e3 every row's p₀ is ~1 or below 1e-8:
					// ∂L/∂b is below the finite differences' rounding noise
					// (the scale-1 cases check it).
					continue
				}
				if !(e <= 1e-6) {
					t.Errorf("input %d: relative error %g > 1e-6", i, e)
				}
			}
		})
	}
}

// runSinkLogit runs the op forward in float64 or float32 and returns the
// weights (B, H, T, Tk) and the null mass (B, H, T) widened to float64.
func runSinkLogit[T gop.Float](t *testing.T, cfg MultiHeadConfig, qkv, kvb, b []float64) (w, p0 []float64) {
	t.Helper()
	conv := func(x []float64) []T {
		y := make([]T, len(x))
		for i, v := range x {
			y[i] = T(v)
		}
		return y
	}
	g := G.NewGraph()
	d := cfg.H * cfg.HD
	x := G.NodeFromAny(g, tensor.New(tensor.WithShape(cfg.B*cfg.T, 3*d), tensor.WithBacking(conv(qkv))), G.WithName("qkv"))
	var kn *G.Node
	if kvb != nil {
		kn = G.NodeFromAny(g, tensor.New(tensor.WithShape(2, d), tensor.WithBacking(conv(kvb))), G.WithName("kvb"))
	}
	bn := G.NodeFromAny(g, tensor.New(tensor.WithShape(cfg.H), tensor.WithBacking(conv(b))), G.WithName("sink"))
	_, op, err := NewMultiHeadSinkLogit[T](x, kn, bn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	for _, v := range op.Weights() {
		w = append(w, float64(v))
	}
	for _, v := range op.NullMass() {
		p0 = append(p0, float64(v))
	}
	return w, p0
}

// TestSinkLogitForwardOracle compares the weights with the definition
// p_j = 1 / (e^{b_h − s_j} + Σ_k e^{s_k − s_j}) and the null mass with
// 1 / (1 + Σ_k e^{s_k − b_h}), in float64 (1e-12) and float32 (2e-6), and
// checks that b = 0 gives softmax1's weights.
func TestSinkLogitForwardOracle(t *testing.T) {
	for _, c := range []struct {
		causal, kvb bool
		scale       float64
	}{{true, false, 1}, {false, true, 1}, {true, true, 25}} {
		t.Run(fmt.Sprintf("causal=%v/kvb=%v/scale=%g", c.causal, c.kvb, c.scale), func(t *testing.T) {
			cfg := MultiHeadConfig{B: 2, T: 5, H: 2, HD: 3, Causal: c.causal, Variant: VariantSoftmax, KVBias: c.kvb, SinkLogit: true}
			d, tk := cfg.H*cfg.HD, cfg.T+btoi(c.kvb)
			rng := rand.New(rand.NewPCG(3, uint64(c.scale)))
			round := func(x []float64) []float64 { // float32-representable inputs
				for i := range x {
					x[i] = float64(float32(x[i]))
				}
				return x
			}
			qkv := round(randn(rng, cfg.B*cfg.T*3*d, c.scale))
			var kvb []float64
			if c.kvb {
				kvb = round(randn(rng, 2*d, c.scale))
			}
			b := round([]float64{0.7 * c.scale, -1.2})
			check := func(w, p0 []float64, tol float64) {
				for bb := 0; bb < cfg.B; bb++ {
					for h := 0; h < cfg.H; h++ {
						for i := 0; i < cfg.T; i++ {
							q, ks, _ := rowInputs(cfg, qkv, kvb, bb, h, i)
							s := make([]float64, len(ks))
							for j, k := range ks {
								for e := range q {
									s[j] += q[e] * k[e]
								}
								s[j] /= math.Sqrt(float64(cfg.HD))
							}
							r := (bb*cfg.H+h)*cfg.T + i
							for j, sj := range s {
								den := math.Exp(b[h] - sj)
								for _, sk := range s {
									den += math.Exp(sk - sj)
								}
								if got, want := w[r*tk+j], 1/den; math.Abs(got-want) > tol {
									t.Fatalf("row %d key %d: weight %v, want %v", r, j, got, want)
								}
							}
							den := 1.0
							for _, sk := range s {
								den += math.Exp(sk - b[h])
							}
							if got, want := p0[r], 1/den; math.Abs(got-want) > tol {
								t.Fatalf("row %d: null mass %v, want %v", r, got, want)
							}
						}
					}
				}
			}
			w, p0 := runSinkLogit[float64](t, cfg, qkv, kvb, b)
			check(w, p0, 1e-12)
			if c.scale == 1 {
				w, p0 = runSinkLogit[float32](t, cfg, qkv, kvb, b)
				check(w, p0, 2e-6)
			}
			// b = 0 is softmax1.
			w, _ = runSinkLogit[float64](t, cfg, qkv, kvb, []float64{0, 0})
			c1 := cfg
			c1.Variant, c1.SinkLogit = VariantSoftmax1, false
			g := G.NewGraph()
			x := G.NodeFromAny(g, tensor.New(tensor.WithShape(cfg.B*cfg.T, 3*d), tensor.WithBacking(append([]float64(nil), qkv...))))
			var kn *G.Node
			if c.kvb {
				kn = G.NodeFromAny(g, tensor.New(tensor.WithShape(2, d), tensor.WithBacking(append([]float64(nil), kvb...))))
			}
			_, op1, err := NewMultiHead[float64](x, kn, c1)
			if err != nil {
				t.Fatal(err)
			}
			m := G.NewTapeMachine(g)
			defer m.Close()
			if err := m.RunAll(); err != nil {
				t.Fatal(err)
			}
			for i, v := range op1.Weights() {
				if math.Abs(v-w[i]) > 1e-12 {
					t.Fatalf("b = 0: weight %d is %v, softmax1 gives %v", i, w[i], v)
				}
			}
		})
	}
}

// TestSinkLogitConfigErrors: the sink logit needs softmax and a node of shape (H).
func TestSinkLogitConfigErrors(t *testing.T) {
	g := G.NewGraph()
	cfg := MultiHeadConfig{B: 1, T: 3, H: 2, HD: 2, Causal: true, Variant: VariantSoftmax1, SinkLogit: true}
	x := G.NewMatrix(g, G.Float64, G.WithShape(3, 12), G.WithName("qkv"))
	b := G.NewVector(g, G.Float64, G.WithShape(2), G.WithName("b"))
	if _, _, err := NewMultiHeadSinkLogit[float64](x, nil, b, cfg); err == nil {
		t.Error("sink logit with softmax1 accepted")
	}
	cfg.Variant = VariantSoftmax
	b3 := G.NewVector(g, G.Float64, G.WithShape(3), G.WithName("b3"))
	if _, _, err := NewMultiHeadSinkLogit[float64](x, nil, b3, cfg); err == nil {
		t.Error("sink logit of shape (3) accepted for 2 heads")
	}
	cfg.SinkLogit = false
	if _, _, err := NewMultiHeadSinkLogit[float64](x, nil, b, cfg); err == nil {
		t.Error("sink logit node accepted without cfg.SinkLogit")
	}
}

// TestSoftpickRow checks softpick's row backward against central differences
// of its forward in float64 (mixed-sign scores, the max at a positive and at a
// negative score, and a single key), and that the replicator probes' generic
// JVP (ReplicatorRow) is the Jacobian times the flow direction.
func TestSoftpickRow(t *testing.T) {
	for _, s := range [][]float64{
		{0.3, -1.2, 2.5, 0.01, -0.4},
		{-0.3, -1.2, -2.5, -0.2}, // all ≤ 0: the row is zero, its gradient is not
		{1.7},
		{40, -30, 39.5, 0.2},
	} {
		n := len(s)
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		g := randn(rng, n, 1)
		p, ds, pdot := make([]float64, n), make([]float64, n), make([]float64, n)
		if err := ReplicatorRow(VariantSoftpick, s, g, p, ds, pdot); err != nil {
			t.Fatal(err)
		}
		f := func(x []float64) []float64 {
			q := make([]float64, n)
			rowForward(avSoftpick, append([]float64(nil), x...), q, n)
			return q
		}
		const h = 1e-6
		x := append([]float64(nil), s...)
		jac := make([][]float64, n) // jac[k][j] = ∂p_j/∂s_k
		for k := range x {
			x[k] = s[k] + h
			fp := f(x)
			x[k] = s[k] - h
			fm := f(x)
			x[k] = s[k]
			jac[k] = make([]float64, n)
			for j := range fp {
				jac[k][j] = (fp[j] - fm[j]) / (2 * h)
			}
		}
		for k := range s {
			var want float64
			for j := range g {
				want += jac[k][j] * g[j]
			}
			if math.Abs(ds[k]-want) > 1e-7*(1+math.Abs(want)) {
				t.Errorf("s %v: ∂L/∂s[%d] = %v, finite differences %v", s, k, ds[k], want)
			}
		}
		for j := range s {
			var want float64
			for k := range s {
				want += jac[k][j] * -ds[k]
			}
			if math.Abs(pdot[j]-want) > 1e-7*(1+math.Abs(want)) {
				t.Errorf("s %v: ṗ[%d] = %v, J·(−ds) %v", s, j, pdot[j], want)
			}
		}
	}
}
