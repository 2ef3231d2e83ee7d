package transformer

import (
	"math"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/attention"
)

// TestTorchInitStatistics: model.init = torch gives every tensor PyTorch's
// default distribution (SCIENCE.md §2): nn.Embedding N(0, 1); nn.Linear
// weight and bias U(±1/√fan_in) with the fan-in of the paper's Linear (d for
// q/k/v/o, the MLP's input and the output projection; 4d for the MLP's
// output); LayerNorm 1 and 0. Mean and standard deviation must be within 5
// standard errors of the distribution's, uniform tensors within their bound.
func TestTorchInitStatistics(t *testing.T) {
	const d = 64
	cfg := ModelConfig{Vocab: 100, DModel: d, Layers: 2, Heads: 4, MLPRatio: 4, NCtx: 12, Positions: PosConcat,
		PreLN: true, MLP: true, Causal: true, Attention: attention.VariantSoftmax, Precision: "float64",
		Init: InitTorch, InitStd: 0.02, GELU: GeluErf, UnembedBias: true, DOut: 100}
	m, err := NewModel[float64](cfg, 12, 5)
	if err != nil {
		t.Fatal(err)
	}
	fanIn := func(name string) int { // the paper's nn.Linear that each tensor belongs to
		if strings.Contains(name, "mlp.W_out") || strings.Contains(name, "mlp.b_out") {
			return 4 * d
		}
		return d
	}
	seen := 0
	for _, p := range m.Params {
		n := float64(len(p.Data))
		var mean, sq, maxAbs float64
		for _, v := range p.Data {
			mean += v / n
			maxAbs = math.Max(maxAbs, math.Abs(v))
		}
		for _, v := range p.Data {
			sq += (v - mean) * (v - mean) / n
		}
		std := math.Sqrt(sq)
		switch {
		case strings.HasPrefix(p.Name, "embed.") || strings.HasPrefix(p.Name, "pos_embed."):
			// N(0, 1): se(mean) = 1/√n, se(std) ≈ 1/√(2n).
			if math.Abs(mean) > 5/math.Sqrt(n) || math.Abs(std-1) > 5/math.Sqrt(2*n) {
				t.Errorf("%s: mean %.4f std %.4f, want N(0, 1)", p.Name, mean, std)
			}
		case strings.Contains(p.Name, ".ln") || strings.HasPrefix(p.Name, "ln_final"):
			want := 0.0
			if strings.HasSuffix(p.Name, ".w") {
				want = 1
			}
			if mean != want || std != 0 {
				t.Errorf("%s: mean %v std %v, want all %v", p.Name, mean, std, want)
			}
		default:
			// U(−b, b): std b/√3, se(mean) = b/√(3n), se(std) ≈ b/√(5n)·… (use b/√n).
			b := 1 / math.Sqrt(float64(fanIn(p.Name)))
			if maxAbs > b {
				t.Errorf("%s: |x| reaches %.5f, beyond the bound 1/√%d = %.5f", p.Name, maxAbs, fanIn(p.Name), b)
			}
			if maxAbs < b*(1-20/n) { // the largest of n uniforms is near the bound
				t.Errorf("%s: |x| only reaches %.5f of the bound %.5f", p.Name, maxAbs, b)
			}
			if math.Abs(mean) > 5*b/math.Sqrt(3*n) || math.Abs(std-b/math.Sqrt(3)) > 5*b/math.Sqrt(n) {
				t.Errorf("%s: mean %.5f std %.5f, want U(±%.5f): std %.5f", p.Name, mean, std, b, b/math.Sqrt(3))
			}
		}
		seen++
	}
	if seen != 30 || m.Param("unembed.b_U") == nil {
		t.Fatalf("checked %d tensors (want 30, the output bias included)", seen)
	}
}

// TestGPT2InitStatistics: model.init = gpt2 keeps the N(0, init_std²) weights,
// N(0, init_std²/(2·n_layers)) residual projections and zero biases.
func TestGPT2InitStatistics(t *testing.T) {
	cfg := ModelConfig{Vocab: 100, DModel: 64, Layers: 2, Heads: 4, MLPRatio: 4, NCtx: 12, Positions: PosConcat,
		PreLN: true, MLP: true, Causal: true, Attention: attention.VariantSoftmax, Precision: "float64",
		Init: InitGPT2, InitStd: 0.02, GELU: GeluTanh, DOut: 100}
	m, err := NewModel[float64](cfg, 12, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params {
		n := float64(len(p.Data))
		var sq float64
		for _, v := range p.Data {
			sq += v * v / n
		}
		rms := math.Sqrt(sq)
		want := 0.02
		switch {
		case strings.Contains(p.Name, "W_O") || strings.Contains(p.Name, "mlp.W_out"):
			want = 0.02 / 2
		case strings.Contains(p.Name, ".ln") || strings.HasPrefix(p.Name, "ln_final"):
			continue
		case strings.Contains(p.Name, ".b_"):
			want = 0
		}
		if math.Abs(rms-want) > 5*want/math.Sqrt(2*n)+1e-300 {
			t.Errorf("%s: rms %.5f, want %.5f", p.Name, rms, want)
		}
	}
	if m.Param("unembed.b_U") != nil {
		t.Fatal("unembed_bias = false still made an output bias")
	}
}
