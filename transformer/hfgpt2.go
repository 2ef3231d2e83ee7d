package transformer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sinklab/sinklab/attention"
	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/checkpoints"
)

// Files of a Hugging Face GPT-2 folder (what save_pretrained writes).
const (
	HFConfigFile    = "config.json"
	HFWeightsFile   = "model.safetensors"
	HFTokenizerFile = "tokenizer.json"
)

// HFGPT2Config is the part of a Hugging Face GPT-2 config.json that sinklab
// reads (transformers' GPT2Config; field names as in the file).
type HFGPT2Config struct {
	ModelType  string `json:"model_type"`
	VocabSize  int    `json:"vocab_size"`
	NPositions int    `json:"n_positions"`
	NEmbd      int    `json:"n_embd"`
	NLayer     int    `json:"n_layer"`
	NHead      int    `json:"n_head"`
	// NInner is the MLP's hidden width; null (nil) means 4·n_embd.
	NInner *int `json:"n_inner"`
	// ActivationFunction is gelu_new (default; tanh GELU), gelu_pytorch_tanh
	// (the same) or gelu (exact, erf).
	ActivationFunction string  `json:"activation_function"`
	LayerNormEpsilon   float64 `json:"layer_norm_epsilon"`
	// ScaleAttnWeights divides the scores by √d_head (default true).
	ScaleAttnWeights *bool `json:"scale_attn_weights"`
	// ScaleAttnByInverseLayerIdx and AddCrossAttention change the model;
	// sinklab reads neither and rejects them.
	ScaleAttnByInverseLayerIdx bool `json:"scale_attn_by_inverse_layer_idx"`
	AddCrossAttention          bool `json:"add_cross_attention"`
	// TieWordEmbeddings: the unembedding is wteᵀ (default true); without it
	// the folder must hold lm_head.weight.
	TieWordEmbeddings *bool `json:"tie_word_embeddings"`
	BOSTokenID        *int  `json:"bos_token_id"`
}

// ReadHFGPT2Config reads dir/config.json, fills transformers' defaults and
// checks that it describes a GPT-2 that sinklab's graph computes exactly.
// Errors are one line and name the folder and the key.
func ReadHFGPT2Config(dir string) (*HFGPT2Config, error) {
	raw, err := os.ReadFile(filepath.Join(dir, HFConfigFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a Hugging Face model folder: no %s", dir, HFConfigFile)
		}
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	c := &HFGPT2Config{ActivationFunction: "gelu_new", LayerNormEpsilon: 1e-5}
	if err := json.Unmarshal(raw, c); err != nil {
		return nil, fmt.Errorf("%s: not a JSON config: %v", filepath.Join(dir, HFConfigFile), err)
	}
	name := filepath.Join(dir, HFConfigFile)
	if c.ModelType != "gpt2" {
		return nil, fmt.Errorf("%s: model_type = %q: sinklab reads GPT-2 models only (model_type \"gpt2\")", name, c.ModelType)
	}
	inner := 4 * c.NEmbd
	if c.NInner != nil {
		inner = *c.NInner
	}
	switch {
	case c.VocabSize < 1 || c.NPositions < 1 || c.NEmbd < 1 || c.NLayer < 1 || c.NHead < 1:
		return nil, fmt.Errorf("%s: vocab_size %d, n_positions %d, n_embd %d, n_layer %d and n_head %d must all be ≥ 1",
			name, c.VocabSize, c.NPositions, c.NEmbd, c.NLayer, c.NHead)
	case c.NEmbd%c.NHead != 0:
		return nil, fmt.Errorf("%s: n_head = %d does not divide n_embd = %d", name, c.NHead, c.NEmbd)
	case inner < 1 || inner%c.NEmbd != 0:
		return nil, fmt.Errorf("%s: n_inner = %d: sinklab needs a multiple of n_embd = %d", name, inner, c.NEmbd)
	case c.geluForm() == "":
		return nil, fmt.Errorf("%s: activation_function = %q: sinklab computes gelu_new, gelu_pytorch_tanh and gelu", name, c.ActivationFunction)
	case math.Abs(c.LayerNormEpsilon-lnEps) > 1e-12:
		return nil, fmt.Errorf("%s: layer_norm_epsilon = %g: sinklab's LayerNorm uses %g", name, c.LayerNormEpsilon, lnEps)
	case c.ScaleAttnWeights != nil && !*c.ScaleAttnWeights:
		return nil, fmt.Errorf("%s: scale_attn_weights = false: sinklab always scales scores by 1/√d_head", name)
	case c.ScaleAttnByInverseLayerIdx:
		return nil, fmt.Errorf("%s: scale_attn_by_inverse_layer_idx = true is not supported", name)
	case c.AddCrossAttention:
		return nil, fmt.Errorf("%s: add_cross_attention = true is not supported (a decoder-only GPT-2 is)", name)
	}
	return c, nil
}

// geluForm maps activation_function onto model.gelu ("" if unsupported).
func (c *HFGPT2Config) geluForm() string {
	switch c.ActivationFunction {
	case "gelu_new", "gelu_pytorch_tanh":
		return GeluTanh
	case "gelu":
		return GeluErf
	}
	return ""
}

// ModelConfig returns the sinklab model that computes this GPT-2: learned
// positions added to the token embeddings, pre-LN blocks with causal softmax
// attention and a GELU MLP, a final LayerNorm and an unembedding without bias.
func (c *HFGPT2Config) ModelConfig() ModelConfig {
	inner := 4 * c.NEmbd
	if c.NInner != nil {
		inner = *c.NInner
	}
	return ModelConfig{Vocab: c.VocabSize, DModel: c.NEmbd, Layers: c.NLayer, Heads: c.NHead,
		MLPRatio: inner / c.NEmbd, NCtx: c.NPositions, Positions: PosLearnedAdd, PreLN: true, MLP: true,
		Causal: true, Attention: attention.VariantSoftmax, Precision: "float32", Init: InitGPT2, InitStd: 0.02,
		GELU: c.geluForm(), UnembedBias: false, DOut: c.VocabSize}
}

// hfIgnored reports the buffers of a GPT-2 state dict that are not weights:
// the causal mask h.N.attn.bias and h.N.attn.masked_bias.
func hfIgnored(name string) bool {
	return strings.HasPrefix(name, "h.") &&
		(strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias"))
}

// hfTensor is one weight of the Hugging Face layout and where it goes.
type hfTensor struct {
	hf, sinklab string
	transpose   bool // the sinklab tensor is the transpose of the Hugging Face one
}

// hfLayout lists the weights of a GPT-2 state dict (names without the
// "transformer." prefix) and the sinklab parameters they fill. Conv1D
// weights are stored (in, out) like sinklab's linear weights, so they map
// directly; c_attn's columns are q, k, v, each head-major, as W_QKV's.
func hfLayout(layers int, untied bool) []hfTensor {
	m := []hfTensor{{"wte.weight", "embed.W_E", false}, {"wpe.weight", "pos_embed.W_pos", false}}
	for l := 0; l < layers; l++ {
		h, b := fmt.Sprintf("h.%d.", l), fmt.Sprintf("blocks.%d.", l)
		m = append(m,
			hfTensor{h + "ln_1.weight", b + "ln1.w", false}, hfTensor{h + "ln_1.bias", b + "ln1.b", false},
			hfTensor{h + "attn.c_attn.weight", b + "attn.W_QKV", false}, hfTensor{h + "attn.c_attn.bias", b + "attn.b_QKV", false},
			hfTensor{h + "attn.c_proj.weight", b + "attn.W_O", false}, hfTensor{h + "attn.c_proj.bias", b + "attn.b_O", false},
			hfTensor{h + "ln_2.weight", b + "ln2.w", false}, hfTensor{h + "ln_2.bias", b + "ln2.b", false},
			hfTensor{h + "mlp.c_fc.weight", b + "mlp.W_in", false}, hfTensor{h + "mlp.c_fc.bias", b + "mlp.b_in", false},
			hfTensor{h + "mlp.c_proj.weight", b + "mlp.W_out", false}, hfTensor{h + "mlp.c_proj.bias", b + "mlp.b_out", false})
	}
	m = append(m, hfTensor{"ln_f.weight", "ln_final.w", false}, hfTensor{"ln_f.bias", "ln_final.b", false})
	if untied {
		m = append(m, hfTensor{"lm_head.weight", "unembed.W_U", true}) // (V, D) → (D, V)
	} else {
		m = append(m, hfTensor{"wte.weight", "unembed.W_U", true}) // tied: W_U = wteᵀ
	}
	return m
}

// LoadHFGPT2 reads a Hugging Face GPT-2 folder (config.json and
// model.safetensors, as save_pretrained writes them) into a sinklab model
// that reads sequences of seqLen tokens (≤ n_positions). Tensor names may
// carry the "transformer." prefix (GPT2LMHeadModel) or not (GPT2Model); the
// causal-mask buffers attn.bias and attn.masked_bias are ignored;
// lm_head.weight, when present, is the unembedding (else wteᵀ). Weights must
// be F32 or F64. Errors are one line and name the file and the tensor: a
// missing file, another architecture, a missing, unexpected or misshapen
// tensor.
func LoadHFGPT2[T gop.Float](dir string, seqLen int) (*Model[T], *HFGPT2Config, error) {
	hc, err := ReadHFGPT2Config(dir)
	if err != nil {
		return nil, nil, err
	}
	wpath := filepath.Join(dir, HFWeightsFile)
	if _, err := os.Stat(wpath); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s is not a Hugging Face model folder with safetensors weights: no %s", dir, HFWeightsFile)
		}
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	if seqLen < 1 || seqLen > hc.NPositions {
		return nil, nil, fmt.Errorf("sequence length %d: the model at %s has n_positions = %d", seqLen, dir, hc.NPositions)
	}
	ts, _, err := checkpoints.ReadSafetensors(wpath)
	if err != nil {
		return nil, nil, fmt.Errorf("read GPT-2 weights: %w", err)
	}
	byName := map[string]*checkpoints.Tensor{}
	for i := range ts {
		name := strings.TrimPrefix(ts[i].Name, "transformer.")
		if _, dup := byName[name]; dup {
			return nil, nil, fmt.Errorf("%s: tensor %s appears with and without the transformer. prefix", wpath, name)
		}
		byName[name] = &ts[i]
	}
	_, untied := byName["lm_head.weight"]
	if hc.TieWordEmbeddings != nil && !*hc.TieWordEmbeddings && !untied {
		return nil, nil, fmt.Errorf("%s: tie_word_embeddings = false but there is no lm_head.weight", wpath)
	}
	mc := hc.ModelConfig()
	m, err := NewModel[T](mc, seqLen, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("GPT-2 at %s: %w", dir, err)
	}
	used := map[string]bool{}
	for _, e := range hfLayout(mc.Layers, untied) {
		p := m.Param(e.sinklab)
		if p == nil {
			return nil, nil, fmt.Errorf("transformer: no parameter %s for %s", e.sinklab, e.hf)
		}
		t, ok := byName[e.hf]
		if !ok {
			return nil, nil, fmt.Errorf("%s: tensor %s is missing (needed for %s)", wpath, e.hf, e.sinklab)
		}
		used[e.hf] = true
		want := p.Shape
		if e.transpose {
			want = []int{p.Shape[1], p.Shape[0]}
		}
		if !slices.Equal(t.Shape, want) {
			return nil, nil, fmt.Errorf("%s: tensor %s has shape %v, want %v (config.json: n_embd %d, n_layer %d, vocab_size %d, n_positions %d)",
				wpath, e.hf, t.Shape, want, hc.NEmbd, hc.NLayer, hc.VocabSize, hc.NPositions)
		}
		if t.F32 == nil && t.F64 == nil {
			return nil, nil, fmt.Errorf("%s: tensor %s has dtype %s, want F32 or F64", wpath, e.hf, t.DType())
		}
		if e.transpose {
			r, c := t.Shape[0], t.Shape[1] // src (r, c) → dst (c, r)
			for i := 0; i < r; i++ {
				for j := 0; j < c; j++ {
					p.Data[j*r+i] = at[T](t, i*c+j)
				}
			}
		} else {
			for i := range p.Data {
				p.Data[i] = at[T](t, i)
			}
		}
	}
	for name := range byName {
		if !used[name] && !hfIgnored(name) {
			return nil, nil, fmt.Errorf("%s: unexpected tensor %s: not part of a GPT-2 that sinklab reads", wpath, name)
		}
	}
	return m, hc, nil
}

// at returns element i of a F32 or F64 tensor as T.
func at[T gop.Float](t *checkpoints.Tensor, i int) T {
	if t.F32 != nil {
		return T(t.F32[i])
	}
	return T(t.F64[i])
}

// WriteHFGPT2 writes m as a Hugging Face GPT-2 folder: config.json and
// model.safetensors with GPT2Model's tensor names (no "transformer."
// prefix), the inverse of LoadHFGPT2 (no tokenizer.json). The unembedding is
// left tied (no lm_head.weight) when W_U is exactly W_Eᵀ, else written as
// lm_head.weight with tie_word_embeddings false. m must have GPT-2's shape:
// learned-add positions, pre-LN, an MLP, causal softmax attention, no sink
// token, key/value bias or output bias.
func WriteHFGPT2[T gop.Float](dir string, m *Model[T]) error {
	mc := m.Cfg
	if mc.Positions != PosLearnedAdd || !mc.PreLN || !mc.MLP || !mc.Causal || mc.Attention != attention.VariantSoftmax ||
		mc.SinkToken || mc.KVBias || mc.UnembedBias || mc.DOut != mc.Vocab || mc.SinkLogit || gateWidth(mc) > 0 {
		return fmt.Errorf("transformer: write GPT-2: the model is not a GPT-2 (learned-add positions, pre-LN, MLP, causal softmax, no sink token, key/value bias, sink logit, gate or output bias)")
	}
	we, wu := m.Param("embed.W_E"), m.Param("unembed.W_U")
	tied := true
	for i := 0; i < mc.Vocab && tied; i++ {
		for j := 0; j < mc.DModel; j++ {
			if we.Data[i*mc.DModel+j] != wu.Data[j*mc.Vocab+i] {
				tied = false
				break
			}
		}
	}
	var ts []checkpoints.Tensor
	for _, e := range hfLayout(mc.Layers, !tied) {
		if e.sinklab == "unembed.W_U" && tied {
			continue
		}
		p := m.Param(e.sinklab)
		t := checkpoints.Tensor{Name: e.hf, Shape: slices.Clone(p.Shape), F32: make([]float32, len(p.Data))}
		if e.transpose {
			r, c := p.Shape[0], p.Shape[1] // (r, c) → (c, r)
			t.Shape = []int{c, r}
			for i := 0; i < r; i++ {
				for j := 0; j < c; j++ {
					t.F32[j*r+i] = float32(p.Data[i*c+j])
				}
			}
		} else {
			for i, v := range p.Data {
				t.F32[i] = float32(v)
			}
		}
		ts = append(ts, t)
	}
	cfg := map[string]any{"model_type": "gpt2", "architectures": []string{"GPT2LMHeadModel"},
		"vocab_size": mc.Vocab, "n_positions": mc.NCtx, "n_embd": mc.DModel, "n_layer": mc.Layers,
		"n_head": mc.Heads, "n_inner": mc.MLPRatio * mc.DModel, "layer_norm_epsilon": lnEps,
		"activation_function": map[string]string{GeluTanh: "gelu_new", GeluErf: "gelu"}[mc.GELU],
		"tie_word_embeddings": tied, "torch_dtype": "float32"}
	cj, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("transformer: write GPT-2 config: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("transformer: write GPT-2: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, HFConfigFile), append(cj, '\n'), 0o644); err != nil {
		return fmt.Errorf("transformer: write GPT-2: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, HFWeightsFile))
	if err != nil {
		return fmt.Errorf("transformer: write GPT-2: %w", err)
	}
	if err := checkpoints.WriteSafetensors(f, ts, map[string]string{"format": "pt"}); err != nil {
		f.Close()
		return fmt.Errorf("transformer: write GPT-2 weights: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("transformer: write GPT-2 weights: %w", err)
	}
	return nil
}

// NewHFGPT2Model returns a GPT-2-shaped sinklab model with random weights
// (the gpt2 initialisation, seed) and the unembedding tied to the token
// embedding (W_U = W_Eᵀ), as a Hugging Face GPT-2 has it; for tests and
// benchmarks of the pretrained path without a downloaded model.
func NewHFGPT2Model[T gop.Float](c *HFGPT2Config, seqLen int, seed uint64) (*Model[T], error) {
	mc := c.ModelConfig()
	m, err := NewModel[T](mc, seqLen, seed)
	if err != nil {
		return nil, err
	}
	we, wu := m.Param("embed.W_E"), m.Param("unembed.W_U")
	for i := 0; i < mc.Vocab; i++ {
		for j := 0; j < mc.DModel; j++ {
			wu.Data[j*mc.Vocab+i] = we.Data[i*mc.DModel+j]
		}
	}
	return m, nil
}
