package transformer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sinklab/sinklab/attention"
)

// TestModelGradCheck: the whole model's gradient (gorgonia's backward graph
// through every hand-written op) against central differences in float64, for
// every parameter tensor, relative error ≤ 1e-5.
func TestModelGradCheck(t *testing.T) {
	base := ModelConfig{Vocab: 7, DModel: 8, Layers: 2, Heads: 2, MLPRatio: 2, NCtx: 5, Positions: PosConcat,
		PreLN: true, MLP: true, Causal: true, Attention: attention.VariantSoftmax, Precision: "float64",
		Init: InitTorch, InitStd: 0.3, GELU: GeluErf, UnembedBias: true, DOut: 7}
	cases := map[string]func(c *ModelConfig){
		"default":              func(c *ModelConfig) {},
		"gpt2/tanh/no-bias":    func(c *ModelConfig) { c.Init, c.GELU, c.UnembedBias = InitGPT2, GeluTanh, false },
		"4-way-output":         func(c *ModelConfig) { c.DOut = 4 },
		"learned-add":          func(c *ModelConfig) { c.Positions = PosLearnedAdd },
		"no-pos/non-causal":    func(c *ModelConfig) { c.Positions, c.Causal = PosNone, false },
		"sink-token+kv-bias":   func(c *ModelConfig) { c.SinkToken, c.KVBias = true, true },
		"no-ln/no-mlp":         func(c *ModelConfig) { c.PreLN, c.MLP = false, false },
		"sigmoid":              func(c *ModelConfig) { c.Attention = attention.VariantSigmoid },
		"softmax1":             func(c *ModelConfig) { c.Attention = attention.VariantSoftmax1 },
		"mlp_norm+kv-bias":     func(c *ModelConfig) { c.Attention, c.KVBias = "mlp_norm", true }, // the paper's name
		"mlp":                  func(c *ModelConfig) { c.Attention = attention.VariantMLP },
		"mlp/attn_mlp_ratio=3": func(c *ModelConfig) { c.Attention, c.AttnMLPRatio = attention.VariantMLP, 3 },
		"linear (kernel)":      func(c *ModelConfig) { c.Attention = "linear" },
		"uniform":              func(c *ModelConfig) { c.Attention = attention.VariantUniform },
		"gate-head":            func(c *ModelConfig) { c.Gate = GateHead },
		"gate-elementwise/gpt2/no-ln": func(c *ModelConfig) {
			c.Gate, c.Init, c.PreLN = GateElementwise, InitGPT2, false
		},
		"sink-logit+kv-bias": func(c *ModelConfig) { c.SinkLogit, c.KVBias = true, true },
		"softpick":           func(c *ModelConfig) { c.Attention = attention.VariantSoftpick },
		"sink-logit+gate-head+sink-token": func(c *ModelConfig) {
			c.SinkLogit, c.Gate, c.SinkToken = true, GateHead, true
		},
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := base
			mod(&cfg)
			const b, T = 2, 4
			m, err := NewModel[float64](cfg, T, 3)
			if err != nil {
				t.Fatal(err)
			}
			gr, err := buildGraph(m, b, true, 1.0/b)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(9, 9))
			tok := make([]int32, b*T)
			tgt := make([]int32, b*T)
			mask := make([]float32, b*T)
			for i := range tok {
				tok[i], tgt[i], mask[i] = int32(rng.IntN(cfg.Vocab)), int32(rng.IntN(cfg.DOut)), 1
			}
			mask[1] = 0.25
			if err := gr.run(tok, tgt, mask); err != nil {
				t.Fatal(err)
			}
			ad := make([][]float64, len(m.Params))
			for i := range m.Params {
				g, err := gr.grad(i)
				if err != nil {
					t.Fatalf("%s: %v", m.Params[i].Name, err)
				}
				ad[i] = append([]float64(nil), g...)
			}
			loss := func() float64 {
				if err := gr.run(tok, tgt, mask); err != nil {
					t.Fatal(err)
				}
				return gr.lossValue()
			}
			const h = 1e-5
			for i, p := range m.Params {
				var num, den float64
				for j := range p.Data {
					x := p.Data[j]
					p.Data[j] = x + h
					fp := loss()
					p.Data[j] = x - h
					fm := loss()
					p.Data[j] = x
					fd := (fp - fm) / (2 * h)
					num += (ad[i][j] - fd) * (ad[i][j] - fd)
					den += fd * fd
				}
				rel := math.Sqrt(num) / math.Max(math.Sqrt(den), 1e-12)
				if !(rel <= 1e-5) {
					t.Errorf("%s: relative error %g (‖fd‖ = %g)", p.Name, rel, math.Sqrt(den))
				}
			}
		})
	}
}

func ExampleNewModel() {
	cfg := ModelConfig{Vocab: 100, DModel: 128, Layers: 2, Heads: 4, MLPRatio: 4, NCtx: 12, Positions: PosConcat,
		PreLN: true, MLP: true, Causal: true, Attention: "softmax", Precision: "float32",
		Init: InitTorch, GELU: GeluErf, UnembedBias: true, DOut: 100}
	m, _ := NewModel[float32](cfg, 12, 1)
	fmt.Println(len(m.Params), "tensors,", m.NumParams(), "parameters")
	// Output: 30 tensors, 416868 parameters
}

// TestAttnMLPRatio checks φ's width: model.attn_mlp_ratio·d_head when set,
// model.mlp_ratio·d_head (the paper's tie) when 0.
func TestAttnMLPRatio(t *testing.T) {
	base := ModelConfig{Vocab: 7, DModel: 8, Layers: 1, Heads: 2, MLPRatio: 4, NCtx: 5, Positions: PosConcat,
		PreLN: true, MLP: true, Causal: true, Attention: attention.VariantMLPNorm, Precision: "float64",
		Init: InitTorch, InitStd: 0.3, GELU: GeluErf, UnembedBias: true, DOut: 7}
	for ratio, want := range map[int]int{0: 4 * 4, 1: 4, 3: 3 * 4} {
		cfg := base
		cfg.AttnMLPRatio = ratio
		m, err := NewModel[float64](cfg, 4, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Param("blocks.0.attn.mlp.W_in").Shape; !slices.Equal(got, []int{4, want}) {
			t.Errorf("attn_mlp_ratio %d: W_in shape %v, want [4 %d]", ratio, got, want)
		}
		if got := m.Param("blocks.0.attn.mlp.W_out").Shape; !slices.Equal(got, []int{want, 4}) {
			t.Errorf("attn_mlp_ratio %d: W_out shape %v, want [%d 4]", ratio, got, want)
		}
		if got := m.Param("blocks.0.mlp.W_in"); got == nil || !slices.Equal(got.Shape, []int{8, 32}) {
			t.Errorf("attn_mlp_ratio %d: block MLP W_in %v, want [8 32] (mlp_ratio 4)", ratio, got)
		}
	}
}
