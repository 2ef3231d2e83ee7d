package transformer

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention"
	"github.com/sinklab/sinklab/attention/gop"
)

// Param is one parameter tensor of the model. Its data is shared by every
// graph built from the model (training shards, evaluation), and updated in
// place by the optimizer.
type Param[T gop.Float] struct {
	Name  string // TransformerLens-like: blocks.0.attn.W_QKV
	Shape []int
	Data  []T
	Decay bool // a matrix or embedding (not a bias or gain): decayed under optim.decay = matrices
	dense *tensor.Dense
}

// Model is the set of parameters and the shape of the network.
type Model[T gop.Float] struct {
	Cfg    ModelConfig
	Params []*Param[T]
	byName map[string]*Param[T]
	T      int // sequence length of the task (without the sink token)
}

// D returns the residual width.
func (m *Model[T]) D() int { return m.Cfg.DModel }

// HD returns the head dimension.
func (m *Model[T]) HD() int { return m.Cfg.DModel / m.Cfg.Heads }

// Param returns the parameter with the given name, or nil.
func (m *Model[T]) Param(name string) *Param[T] { return m.byName[name] }

// NumParams counts the model's scalars.
func (m *Model[T]) NumParams() int {
	n := 0
	for _, p := range m.Params {
		n += len(p.Data)
	}
	return n
}

// NewModel creates the parameters with the initialisation cfg.Init names.
//
// torch (the paper's, PyTorch's defaults): token and position embeddings
// N(0, 1) (nn.Embedding); every weight and bias of a Linear U(±1/√fan_in)
// (nn.Linear), with the fan-in of the paper's separate Linears: d for the
// q, k, v and o projections (here fused as W_QKV), the MLP's input and the
// unembedding, 4d for the MLP's output; LayerNorm gains 1 and biases 0. The
// sink token is an embedding (N(0, 1)); the key/value biases are biases of the
// d-wide projections (U(±1/√d)); the attention output gate (model.gate) is a
// Linear of fan-in d (blocks.{l}.attn.W_gate (d, H or d), b_gate); the sink
// logits (blocks.{l}.attn.sink_logit, (H)) start at 0, where the head is
// softmax1, under either initialisation. MLP attention's φ (blocks.{l}.attn.mlp.*,
// d_head → mlp_ratio·d_head → d_head, the paper's attn_mlp) is two Linears:
// fan-in d_head, then mlp_ratio·d_head.
//
// gpt2: weights N(0, init_std²), residual output projections (W_O and the
// MLP's W_out) N(0, init_std²/(2·n_layers)), biases 0, LayerNorm gains 1;
// φ's weights N(0, init_std²).
//
// cfg.Vocab, cfg.NCtx and cfg.DOut must be resolved.
func NewModel[T gop.Float](cfg ModelConfig, seqLen int, seed uint64) (*Model[T], error) {
	if cfg.Vocab < 1 || cfg.NCtx < seqLen || cfg.DOut < 1 {
		return nil, fmt.Errorf("transformer: vocabulary %d, outputs %d and n_ctx %d (sequence length %d) must be resolved",
			cfg.Vocab, cfg.DOut, cfg.NCtx, seqLen)
	}
	if cfg.Init != InitTorch && cfg.Init != InitGPT2 {
		return nil, fmt.Errorf("transformer: model.init = %q: want torch or gpt2", cfg.Init)
	}
	m := &Model[T]{Cfg: cfg, byName: map[string]*Param[T]{}, T: seqLen}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	d, f := cfg.DModel, cfg.DModel*cfg.MLPRatio
	add := func(name string, decay bool, init func() T, shape ...int) {
		n := 1
		for _, s := range shape {
			n *= s
		}
		p := &Param[T]{Name: name, Shape: shape, Data: make([]T, n), Decay: decay}
		for i := range p.Data {
			p.Data[i] = init()
		}
		p.dense = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(p.Data))
		m.Params = append(m.Params, p)
		m.byName[name] = p
	}
	normal := func(s float64) func() T { return func() T { return T(s * rng.NormFloat64()) } }
	uniform := func(fanIn int) func() T {
		b := 1 / math.Sqrt(float64(fanIn))
		return func() T { return T(b * (2*rng.Float64() - 1)) }
	}
	zero := func() T { return 0 }
	one := func() T { return 1 }
	// Initialisers by role: embedding, Linear weight and Linear bias of the
	// given fan-in, and a residual output projection's weight.
	embedInit := normal(1)
	weight, bias, resWeight := uniform, uniform, uniform
	if cfg.Init == InitGPT2 {
		std := cfg.InitStd
		embedInit = normal(std)
		weight = func(int) func() T { return normal(std) }
		bias = func(int) func() T { return zero }
		resWeight = func(int) func() T { return normal(std / math.Sqrt(2*float64(cfg.Layers))) }
	}
	de, dp := d, d
	if cfg.Positions == PosConcat {
		de, dp = d/2, d-d/2
	}
	add("embed.W_E", true, embedInit, cfg.Vocab, de)
	if cfg.Positions != PosNone {
		add("pos_embed.W_pos", true, embedInit, cfg.NCtx, dp)
	}
	if cfg.SinkToken {
		add("sink_token", false, embedInit, d)
	}
	for l := 0; l < cfg.Layers; l++ {
		b := fmt.Sprintf("blocks.%d.", l)
		if cfg.PreLN {
			add(b+"ln1.w", false, one, d)
			add(b+"ln1.b", false, zero, d)
		}
		add(b+"attn.W_QKV", true, weight(d), d, 3*d)
		add(b+"attn.b_QKV", false, bias(d), 3*d)
		if cfg.KVBias {
			kv := bias(d)
			if cfg.Init == InitGPT2 {
				kv = normal(cfg.InitStd)
			}
			add(b+"attn.kv_bias", false, kv, 2, d)
		}
		if cfg.SinkLogit {
			add(b+"attn.sink_logit", false, zero, cfg.Heads)
		}
		if gw := gateWidth(cfg); gw > 0 { // a Linear d → H or d → d
			add(b+"attn.W_gate", true, weight(d), d, gw)
			add(b+"attn.b_gate", false, bias(d), gw)
		}
		if attention.VariantHasMLP(cfg.Attention) { // φ of MLP attention, shared by the heads
			hd, fa := m.HD(), cfg.PhiRatio()*m.HD()
			add(b+"attn.mlp.W_in", true, weight(hd), hd, fa)
			add(b+"attn.mlp.b_in", false, bias(hd), fa)
			add(b+"attn.mlp.W_out", true, weight(fa), fa, hd)
			add(b+"attn.mlp.b_out", false, bias(fa), hd)
		}
		add(b+"attn.W_O", true, resWeight(d), d, d)
		add(b+"attn.b_O", false, bias(d), d)
		if cfg.MLP {
			if cfg.PreLN {
				add(b+"ln2.w", false, one, d)
				add(b+"ln2.b", false, zero, d)
			}
			add(b+"mlp.W_in", true, weight(d), d, f)
			add(b+"mlp.b_in", false, bias(d), f)
			add(b+"mlp.W_out", true, resWeight(f), f, d)
			add(b+"mlp.b_out", false, bias(f), d)
		}
	}
	if cfg.PreLN {
		add("ln_final.w", false, one, d)
		add("ln_final.b", false, zero, d)
	}
	add("unembed.W_U", true, weight(d), d, cfg.DOut)
	if cfg.UnembedBias {
		add("unembed.b_U", false, bias(d), cfg.DOut)
	}
	return m, nil
}

// gateWidth is the number of gates per position of model.gate: H (head),
// D (elementwise) or 0 (none).
func gateWidth(cfg ModelConfig) int {
	switch cfg.Gate {
	case GateHead:
		return cfg.Heads
	case GateElementwise:
		return cfg.DModel
	}
	return 0
}

// graph is one compiled computation over a fixed batch shape: a training
// shard (with gradients) or an evaluation pass (forward only).
type graph[T gop.Float] struct {
	g      *G.ExprGraph
	ex     *executor
	grads  G.Nodes // gradient node per parameter (training graphs)
	b      int
	nodes  []*G.Node // one per model parameter, same order
	embed  *embedOp[T]
	ce     *crossEntropyOp[T]
	attn   []*attention.MultiHeadOp[T] // per layer
	qkv    []*linearOp[T]              // per layer: the fused projection (B·T', 3D)
	resid  [][]T                       // per layer: blocks.{l}.hook_resid_pre, then blocks.{L−1}.hook_resid_post (L+1 × (B·T', D))
	logits *linearOp[T]                // (B·T', V)
	loss   *G.Node
}

// buildGraph compiles the model for batches of b sequences. With train, it
// adds the backward pass and binds gradients to the parameter nodes.
func buildGraph[T gop.Float](m *Model[T], b int, train bool, lossScale T) (*graph[T], error) {
	cfg := m.Cfg
	g := G.NewGraph()
	gr := &graph[T]{g: g, b: b}
	dt := gop.Dtype[T]()
	node := map[string]*G.Node{}
	for _, p := range m.Params {
		// Every node is named: gorgonia merges unnamed input nodes that look alike.
		n := G.NewTensor(g, dt, len(p.Shape), G.WithShape(p.Shape...), G.WithName(p.Name), G.WithValue(p.dense))
		gr.nodes = append(gr.nodes, n)
		node[p.Name] = n
	}
	tp := m.T + btoi(cfg.SinkToken)
	d := cfg.DModel
	x, eop, err := embed[T](node["embed.W_E"], node["pos_embed.W_pos"], node["sink_token"], b, m.T, cfg.Positions)
	if err != nil {
		return nil, err
	}
	gr.embed = eop
	gr.resid = append(gr.resid, eop.xbuf)
	for l := 0; l < cfg.Layers; l++ {
		pre := fmt.Sprintf("blocks.%d.", l)
		h := x
		if cfg.PreLN {
			if h, err = layerNorm[T](x, node[pre+"ln1.w"], node[pre+"ln1.b"]); err != nil {
				return nil, err
			}
		}
		qkv, err := linear[T](h, node[pre+"attn.W_QKV"], node[pre+"attn.b_QKV"], nil)
		if err != nil {
			return nil, err
		}
		gr.qkv = append(gr.qkv, qkv.Op().(*linearOp[T]))
		var phi *attention.MLPNodes
		if attention.VariantHasMLP(cfg.Attention) {
			phi = &attention.MLPNodes{W1: node[pre+"attn.mlp.W_in"], B1: node[pre+"attn.mlp.b_in"],
				W2: node[pre+"attn.mlp.W_out"], B2: node[pre+"attn.mlp.b_out"]}
		}
		acfg := attention.MultiHeadConfig{
			B: b, T: tp, H: cfg.Heads, HD: d / cfg.Heads, Causal: cfg.Causal, Variant: cfg.Attention, KVBias: cfg.KVBias,
			MLPHidden: cfg.PhiRatio() * (d / cfg.Heads), SinkLogit: cfg.SinkLogit}
		var a *G.Node
		var aop *attention.MultiHeadOp[T]
		if cfg.SinkLogit {
			a, aop, err = attention.NewMultiHeadSinkLogit[T](qkv, node[pre+"attn.kv_bias"], node[pre+"attn.sink_logit"], acfg)
		} else {
			a, aop, err = attention.NewMultiHeadMLP[T](qkv, node[pre+"attn.kv_bias"], phi, acfg)
		}
		if err != nil {
			return nil, err
		}
		gr.attn = append(gr.attn, aop)
		if gateWidth(cfg) > 0 { // the output gate, from the same input h as q, k, v
			if a, err = gate[T](a, h, node[pre+"attn.W_gate"], node[pre+"attn.b_gate"]); err != nil {
				return nil, err
			}
		}
		if x, err = linear[T](a, node[pre+"attn.W_O"], node[pre+"attn.b_O"], x); err != nil {
			return nil, err
		}
		if cfg.MLP {
			h := x
			if cfg.PreLN {
				if h, err = layerNorm[T](x, node[pre+"ln2.w"], node[pre+"ln2.b"]); err != nil {
					return nil, err
				}
			}
			u, err := linear[T](h, node[pre+"mlp.W_in"], node[pre+"mlp.b_in"], nil)
			if err != nil {
				return nil, err
			}
			if u, err = gelu[T](u, cfg.GELU == GeluErf); err != nil {
				return nil, err
			}
			if x, err = linear[T](u, node[pre+"mlp.W_out"], node[pre+"mlp.b_out"], x); err != nil {
				return nil, err
			}
		}
		gr.resid = append(gr.resid, x.Op().(*linearOp[T]).ybuf) // entering block l+1; after the last: resid_post
	}
	if cfg.PreLN {
		if x, err = layerNorm[T](x, node["ln_final.w"], node["ln_final.b"]); err != nil {
			return nil, err
		}
	}
	logits, err := linear[T](x, node["unembed.W_U"], node["unembed.b_U"], nil)
	if err != nil {
		return nil, err
	}
	gr.logits = logits.Op().(*linearOp[T])
	loss, ceop, err := crossEntropy[T](logits, b, m.T, cfg.SinkToken, lossScale)
	if err != nil {
		return nil, err
	}
	gr.ce, gr.loss = ceop, loss
	if train {
		grads, err := G.Grad(loss, gr.nodes...)
		if err != nil {
			return nil, fmt.Errorf("transformer: backward graph: %w", err)
		}
		gr.grads = grads
	}
	if gr.ex, err = newExecutor(g); err != nil {
		return nil, err
	}
	return gr, nil
}

// run executes the graph on tokens, targets and mask of its batch shape.
func (gr *graph[T]) run(tokens, targets []int32, mask []float32) error {
	gr.embed.setTokens(tokens)
	gr.ce.setTargets(targets, mask)
	return gr.ex.run()
}

// lossValue returns the scalar loss of the last run.
func (gr *graph[T]) lossValue() float64 {
	switch v := gr.ce.out.(type) {
	case *G.F32:
		return float64(*v)
	case *G.F64:
		return float64(*v)
	}
	return math.NaN()
}

// grad returns the gradient of parameter i from the last run.
func (gr *graph[T]) grad(i int) ([]T, error) {
	if gr.grads == nil {
		return nil, fmt.Errorf("transformer: a forward-only graph has no gradients")
	}
	v, err := gr.ex.value(gr.grads[i])
	if err != nil {
		return nil, err
	}
	return gop.Data[T](v), nil
}
