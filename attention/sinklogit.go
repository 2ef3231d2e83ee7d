package attention

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"

	"github.com/sinklab/sinklab/attention/gop"
)

// The sink logit (MultiHeadConfig.SinkLogit): one learned logit b_h per head
// joins the softmax denominator of every row of that head as a key with no
// value,
//
//	p_j = e^{s_j} / (e^{b_h} + Σ_k e^{s_k}),
//
// so the head can put the mass p₀ = e^{b_h} / (e^{b_h} + Σ_k e^{s_k}) = 1 − Σ_j p_j
// on "nothing". With b_h fixed at 0 this is softmax1. (The "attention sinks"
// of gpt-oss are this construction.) The scores' backward is softmax's,
// ∂L/∂s_j = p_j (g_j − Σ_k p_k g_k), because ∂p_j/∂s_k = p_j(δ_jk − p_k) holds
// whatever else is in the denominator; and ∂p_j/∂b_h = −p_j p₀, so
//
//	∂L/∂b_h = −Σ_rows p₀ Σ_j p_j g_j,
//
// summed over the head's rows of every sample.

// NewMultiHeadSinkLogit is NewMultiHead with the sink logit: cfg.SinkLogit must
// be set, the variant must be softmax, and sink is the logits b (H). kvb is the
// key/value bias (2, D) when cfg.KVBias, else nil.
func NewMultiHeadSinkLogit[T gop.Float](qkv, kvb, sink *G.Node, cfg MultiHeadConfig) (*G.Node, *MultiHeadOp[T], error) {
	if sink == nil {
		return nil, nil, fmt.Errorf("attention: NewMultiHeadSinkLogit needs the sink logit node")
	}
	return newMultiHead[T](qkv, kvb, nil, sink, cfg)
}

// addSinkLogit checks the sink logit against the config and appends it to the
// op's inputs.
func (op *MultiHeadOp[T]) addSinkLogit(in G.Nodes, sink *G.Node) (G.Nodes, error) {
	c := op.cfg
	if c.SinkLogit != (sink != nil) {
		return nil, fmt.Errorf("attention: SinkLogit is %v but the sink logit node is %v", c.SinkLogit, shapeOf(sink))
	}
	if sink == nil {
		return in, nil
	}
	if op.v != avSoftmax {
		return nil, fmt.Errorf("attention: a sink logit needs softmax attention, not %s", c.Variant)
	}
	if !slices.Equal([]int(sink.Shape()), []int{c.H}) {
		return nil, fmt.Errorf("attention: sink logit has shape %v, want (%d)", sink.Shape(), c.H)
	}
	op.ns = 1
	op.p0 = make([]T, c.B*c.H*c.T)
	return append(in, sink), nil
}

// NullMass returns p₀ of the last forward pass, the mass each row put on the
// sink logit, (B, H, T), or nil without a sink logit. The slice is the op's
// own buffer.
func (op *MultiHeadOp[T]) NullMass() []T { return op.p0 }

// sinkRowForward is softmax over the n visible scores s[:n] with the extra
// logit b in the denominator: it writes p (p[n:] = 0) and returns the
// normalizer z = e^{b−m} + Σ e^{s−m} (m = max(b, max s)) and p₀ = e^{b−m}/z.
func sinkRowForward[T gop.Float](s, p []T, n int, b T) (z, p0 T) {
	clear(p[n:])
	s, p = s[:n], p[:n]
	m := b
	for _, x := range s {
		m = max(m, x)
	}
	e0 := gop.Exp(b - m)
	z = e0 + gop.ExpShift(s, p, m)
	inv := 1 / z
	for j := range p {
		p[j] *= inv
	}
	return z, e0 * inv
}

// sinkGrad adds one row's ∂L/∂b_h = −p₀ Σ_j p_j g_j to the sink logit's
// gradient, the last H values of the packed buffer. p and g are the row's
// weights and upstream gradient over its n visible keys.
func (op *multiHeadBackOp[T]) sinkGrad(h int, p, g []T, n int, p0 T) {
	var pg T
	for j := 0; j < n; j++ {
		pg += p[j] * g[j]
	}
	db := op.buf[len(op.buf)-op.f.cfg.H:]
	db[h] -= p0 * pg
}
