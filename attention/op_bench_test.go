package attention

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// benchMultiHead times one forward and backward pass of the attention op in
// float32 on the paper's induction shape (B 256, T 12, H 4, HD 32), through
// gorgonia's tape machine as training runs it.
func benchMultiHead(b *testing.B, variant string) {
	cfg := MultiHeadConfig{B: 256, T: 12, H: 4, HD: 32, Causal: true, Variant: variant, MLPHidden: 4 * 32}
	d := cfg.H * cfg.HD
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, cfg.B*cfg.T*3*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	g := G.NewGraph()
	qkv := G.NodeFromAny(g, tensor.New(tensor.WithShape(cfg.B*cfg.T, 3*d), tensor.WithBacking(x)), G.WithName("qkv"))
	params := G.Nodes{qkv}
	var mlp *MLPNodes
	if av, _ := parseVariant(variant); av.feature() == featMLP {
		mlp = &MLPNodes{}
		for i, s := range [][]int{{cfg.HD, cfg.MLPHidden}, {cfg.MLPHidden}, {cfg.MLPHidden, cfg.HD}, {cfg.HD}} {
			n := 1
			for _, v := range s {
				n *= v
			}
			w := make([]float32, n)
			for j := range w {
				w[j] = float32(0.1 * rng.NormFloat64())
			}
			nd := G.NodeFromAny(g, tensor.New(tensor.WithShape(s...), tensor.WithBacking(w)), G.WithName("phi"+string(rune('0'+i))))
			params = append(params, nd)
		}
		mlp.W1, mlp.B1, mlp.W2, mlp.B2 = params[1], params[2], params[3], params[4]
	}
	out, _, err := NewMultiHeadMLP[float32](qkv, nil, mlp, cfg)
	if err != nil {
		b.Fatal(err)
	}
	cost := G.Must(G.Sum(out))
	if _, err := G.Grad(cost, params...); err != nil {
		b.Fatal(err)
	}
	m := G.NewTapeMachine(g, G.BindDualValues(params...))
	defer m.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.RunAll(); err != nil {
			b.Fatal(err)
		}
		m.Reset()
	}
}

func BenchmarkMultiHeadSoftmax(b *testing.B) { benchMultiHead(b, VariantSoftmax) }

func BenchmarkMultiHeadKernelNorm(b *testing.B) { benchMultiHead(b, VariantKernelNorm) }

func BenchmarkMultiHeadMLPNorm(b *testing.B) { benchMultiHead(b, VariantMLPNorm) }
