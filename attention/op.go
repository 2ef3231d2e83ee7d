package attention

import (
	"fmt"
	"math"
	"slices"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/attention/kernels"
	"github.com/sinklab/sinklab/attention/vmath"
)

// MultiHeadConfig fixes the shapes and options of one multi-head attention op.
type MultiHeadConfig struct {
	B, T, H, HD int    // batch, sequence length, heads, head dimension (D = H·HD)
	Causal      bool   // key j is visible to query i only when j ≤ i
	Variant     string // one of Variants()
	// KVBias adds one learned key and value per head (Gu et al.'s key/value
	// biases): an extra key slot, visible to every query, that the head can
	// put weight on instead of a real token.
	KVBias bool
	// MLPHidden is F, the hidden width of MLP attention's φ (the paper's
	// mlp_ratio·HD; model.attn_mlp_ratio sets it apart). Used by the mlp variants only.
	MLPHidden int
	// SinkLogit adds one learned logit b_h per head to every row's softmax
	// denominator, a key with no value (softmax only; see sinklogit.go and
	// NewMultiHeadSinkLogit).
	SinkLogit bool
}

// MLPNodes are the parameters of MLP attention's feature map, one per layer and
// shared by the layer's heads (as in the paper):
//
//	φ(x) = gelu(x·W1 + b1)·W2 + b2    x (HD) → (F) → (HD), gelu exact (erf)
//
// applied to every query and key row of every head.
type MLPNodes struct {
	W1 *G.Node // (HD, F)
	B1 *G.Node // (F)
	W2 *G.Node // (F, HD)
	B2 *G.Node // (HD)
}

// MultiHeadOp is multi-head attention as one gorgonia op with a hand-written
// backward pass.
//
// Its input is the fused projection qkv = [Q | K | V] (B·T, 3D), one matmul in
// the model, so the op has a single differentiable input (plus the optional
// key/value bias (2, D)): the companion backward op writes dqkv (and dkvb) into
// one op-owned buffer, and zero-copy pick views hand each gradient to gorgonia.
// This is the pattern gorgonia's symbolic differentiation allows for an op with
// one expensive backward that yields several gradients; splitting it into one
// backward op per input would recompute dS three times.
//
// Per (b, h): S = QKᵀ/√HD (T, Tk), P = normalize(S) row by row over the visible
// keys (Tk = T, or T+1 with the key/value bias in slot 0), O = P·V. Kernel and
// MLP attention first map every query and key row through a feature map φ
// (elu+1, or the learned MLP whose parameters are further inputs):
// S = φ(Q)φ(K)ᵀ (/√HD for MLP). The weights P of the last forward pass stay in
// the op (Weights) for probes: reading them costs nothing extra, and
// downstream ops cannot overwrite them.
//
//	qkv (B·T, 3D), kvb (2, D), W1 (HD, F), b1 (F), W2 (F, HD), b2 (HD) → O (B·T, D)
type MultiHeadOp[T gop.Float] struct {
	gop.Base
	cfg     MultiHeadConfig
	v       attnVariant
	d, tk   int
	nb      int // 1 with the key/value bias slot
	scale   T
	out     *tensor.Dense
	obuf    []T // (B·T, D)
	kbuf    []T // (B, H, Tk, HD) keys, bias slot first
	vbuf    []T // (B, H, Tk, HD) values, bias slot first
	s, p, z []T // scores and weights (B, H, T, Tk); row normalizers (B, H, T)

	// Feature maps (kernel and MLP attention). The R = B·H·(T+Tk) rows of x
	// are the queries (B, H, T, HD) followed by the keys, kbuf, (B, H, Tk, HD);
	// f = φ(x) has the same layout.
	feat feature
	nmlp int // 4 with the MLP's parameter inputs
	x, f []T // (R, HD)
	fq   []T // f's query rows (B, H, T, HD)
	fk   []T // f's key rows (B, H, Tk, HD)
	u, a []T // MLP pre-activations x·W1 + b1 and activations gelu(u) (R, F)
	dg   []T // gelu'(u) = Φ(u) + u·e^{−u²/2}/√(2π) (R, F)

	// Sink logit (sinklogit.go): ns is 1 with the logit input (H); sink holds
	// its values during a forward pass and p0 the mass each row puts on it,
	// e^{b_h}/(e^{b_h} + Σ e^s), (B, H, T).
	ns   int
	sink []T
	p0   []T

	// Replicator probes (replicator.go): with CaptureGrads on, the backward
	// keeps ∂L/∂P and ∂L/∂S of every head, (B, H, T, Tk) each; nil when off.
	gP, gS []T
	// A test hook (PerturbWeight): bumpEps is added to P[bumpAt] after the
	// forward normalization, when bumpOn.
	bumpOn  bool
	bumpAt  int
	bumpEps T
}

// NewMultiHead applies multi-head attention to qkv (B·T, 3D); kvb (2, D) is the
// key/value bias when cfg.KVBias, else nil. MLP attention needs
// NewMultiHeadMLP.
func NewMultiHead[T gop.Float](qkv, kvb *G.Node, cfg MultiHeadConfig) (*G.Node, *MultiHeadOp[T], error) {
	return NewMultiHeadMLP[T](qkv, kvb, nil, cfg)
}

// NewMultiHeadMLP is NewMultiHead with the parameters of MLP attention's φ:
// mlp is required by the mlp variants and must be nil for the others.
func NewMultiHeadMLP[T gop.Float](qkv, kvb *G.Node, mlp *MLPNodes, cfg MultiHeadConfig) (*G.Node, *MultiHeadOp[T], error) {
	return newMultiHead[T](qkv, kvb, mlp, nil, cfg)
}

// newMultiHead builds the op; sink is the sink logit (H) or nil.
func newMultiHead[T gop.Float](qkv, kvb *G.Node, mlp *MLPNodes, sink *G.Node, cfg MultiHeadConfig) (*G.Node, *MultiHeadOp[T], error) {
	v, err := parseVariant(cfg.Variant)
	if err != nil {
		return nil, nil, err
	}
	d := cfg.H * cfg.HD
	if s := qkv.Shape(); len(s) != 2 || s[0] != cfg.B*cfg.T || s[1] != 3*d {
		return nil, nil, fmt.Errorf("attention: qkv has shape %v, want (%d, %d)", s, cfg.B*cfg.T, 3*d)
	}
	if cfg.KVBias != (kvb != nil) {
		return nil, nil, fmt.Errorf("attention: KVBias is %v but the bias node is %v", cfg.KVBias, kvb)
	}
	feat := v.feature()
	if (feat == featMLP) != (mlp != nil) {
		return nil, nil, fmt.Errorf("attention: variant %s with MLP parameters %v: MLP attention needs them, other variants take none", cfg.Variant, mlp != nil)
	}
	op := &MultiHeadOp[T]{Base: gop.Base{Name: "multihead-" + cfg.Variant}, cfg: cfg, v: v, d: d,
		nb: btoi(cfg.KVBias), scale: T(1 / math.Sqrt(float64(cfg.HD))), feat: feat}
	if !v.scaled() {
		op.scale = 1
	}
	op.tk = cfg.T + op.nb
	op.out, op.obuf = gop.NewDense[T](cfg.B*cfg.T, d)
	bh := cfg.B * cfg.H
	op.vbuf = make([]T, bh*op.tk*cfg.HD)
	op.s = make([]T, bh*cfg.T*op.tk)
	op.p = make([]T, bh*cfg.T*op.tk)
	op.z = make([]T, bh*cfg.T)
	in := G.Nodes{qkv}
	if kvb != nil {
		in = append(in, kvb)
	}
	if feat == featNone {
		op.kbuf = make([]T, bh*op.tk*cfg.HD)
	} else {
		nq := bh * cfg.T * cfg.HD
		r := bh * (cfg.T + op.tk)
		op.x, op.f = make([]T, r*cfg.HD), make([]T, r*cfg.HD)
		op.kbuf, op.fq, op.fk = op.x[nq:], op.f[:nq], op.f[nq:]
	}
	if feat == featMLP {
		hd, f := cfg.HD, cfg.MLPHidden
		if f < 1 {
			return nil, nil, fmt.Errorf("attention: MLP attention needs MLPHidden ≥ 1, got %d", f)
		}
		for _, c := range []struct {
			name  string
			n     *G.Node
			shape []int
		}{{"W1", mlp.W1, []int{hd, f}}, {"b1", mlp.B1, []int{f}}, {"W2", mlp.W2, []int{f, hd}}, {"b2", mlp.B2, []int{hd}}} {
			if c.n == nil || !slices.Equal([]int(c.n.Shape()), c.shape) {
				return nil, nil, fmt.Errorf("attention: MLP attention parameter %s: want shape %v, got %v", c.name, c.shape, shapeOf(c.n))
			}
		}
		r := bh * (cfg.T + op.tk)
		op.u, op.a, op.dg = make([]T, r*f), make([]T, r*f), make([]T, r*f)
		op.nmlp = 4
		in = append(in, mlp.W1, mlp.B1, mlp.W2, mlp.B2)
	}
	if in, err = op.addSinkLogit(in, sink); err != nil {
		return nil, nil, err
	}
	n, err := G.ApplyOp(op, in...)
	return n, op, err
}

func shapeOf(n *G.Node) any {
	if n == nil {
		return "none"
	}
	return n.Shape()
}

// Config returns the op's configuration.
func (op *MultiHeadOp[T]) Config() MultiHeadConfig { return op.cfg }

// KeySlots is Tk, the number of key positions per row (T, or T+1 with the
// key/value bias slot first).
func (op *MultiHeadOp[T]) KeySlots() int { return op.tk }

// Weights returns the attention weights of the last forward pass, (B, H, T, Tk).
// With KVBias, key slot 0 is the bias and slot j+1 is token j. The slice is the
// op's own buffer: copy it to keep it past the next run.
func (op *MultiHeadOp[T]) Weights() []T { return op.p }

func (op *MultiHeadOp[T]) Arity() int { return 1 + op.nb + op.nmlp + op.ns }
func (op *MultiHeadOp[T]) Type() hm.Type {
	in := []int{2}
	if op.nb == 1 {
		in = append(in, 2)
	}
	if op.nmlp > 0 {
		in = append(in, 2, 1, 2, 1)
	}
	if op.ns == 1 {
		in = append(in, 1)
	}
	return gop.FnType(2, in...)
}
func (op *MultiHeadOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.cfg.B * op.cfg.T, op.d}, nil
}

// visible is the number of key slots query row i sees.
func (op *MultiHeadOp[T]) visible(i int) int {
	if op.cfg.Causal {
		return op.nb + i + 1
	}
	return op.tk
}

// Do runs the forward pass.
func (op *MultiHeadOp[T]) Do(vs ...G.Value) (G.Value, error) {
	qkv := gop.Data[T](vs[0])
	var kvb []T
	if op.nb == 1 {
		kvb = gop.Data[T](vs[1])
	}
	if op.ns == 1 {
		op.sink = gop.Data[T](vs[len(vs)-1])
	}
	c := op.cfg
	d, tk, hd := op.d, op.tk, c.HD
	if op.feat != featNone {
		for b := 0; b < c.B; b++ {
			for h := 0; h < c.H; h++ {
				op.gather(b, h, qkv, kvb)
				bh := b*c.H + h
				for t := 0; t < c.T; t++ {
					copy(op.x[(bh*c.T+t)*hd:(bh*c.T+t+1)*hd], qkv[(b*c.T+t)*3*d+h*hd:])
				}
			}
		}
		if op.feat == featElu1 {
			elu1(op.x, op.f)
		} else {
			w := vs[1+op.nb:]
			op.mlpForward(gop.Data[T](w[0]), gop.Data[T](w[1]), gop.Data[T](w[2]), gop.Data[T](w[3]))
		}
		for b := 0; b < c.B; b++ {
			for h := 0; h < c.H; h++ {
				bh := b*c.H + h
				op.attend(b, h, op.fq[bh*c.T*hd:], hd, op.fk[bh*tk*hd:(bh+1)*tk*hd])
			}
		}
		return op.out, nil
	}
	for b := 0; b < c.B; b++ {
		for h := 0; h < c.H; h++ {
			op.gather(b, h, qkv, kvb)
			bh := b*c.H + h
			op.attend(b, h, qkv[b*c.T*3*d+h*hd:], 3*d, op.kbuf[bh*tk*hd:(bh+1)*tk*hd])
		}
	}
	return op.out, nil
}

// gather copies head (b, h)'s keys and values (bias slot first) into kbuf and
// vbuf.
func (op *MultiHeadOp[T]) gather(b, h int, qkv, kvb []T) {
	c := op.cfg
	d, tk, hd := op.d, op.tk, c.HD
	bh := b*c.H + h
	kb := op.kbuf[bh*tk*hd : (bh+1)*tk*hd] // (Tk, HD)
	vb := op.vbuf[bh*tk*hd : (bh+1)*tk*hd] // (Tk, HD)
	if op.nb == 1 {
		copy(kb[:hd], kvb[h*hd:(h+1)*hd])
		copy(vb[:hd], kvb[d+h*hd:d+(h+1)*hd])
	}
	for t := 0; t < c.T; t++ {
		row := qkv[(b*c.T+t)*3*d:]
		copy(kb[(t+op.nb)*hd:(t+op.nb+1)*hd], row[d+h*hd:d+(h+1)*hd])
		copy(vb[(t+op.nb)*hd:(t+op.nb+1)*hd], row[2*d+h*hd:2*d+(h+1)*hd])
	}
}

// attend computes head (b, h): S = scale·q·kᵀ (T, Tk), P row by row, and
// O = P·V into the output. q is (T, HD) with row stride ldq; k is (Tk, HD).
func (op *MultiHeadOp[T]) attend(b, h int, q []T, ldq int, k []T) {
	c := op.cfg
	tk, hd := op.tk, c.HD
	bh := b*c.H + h
	s := op.s[bh*c.T*tk : (bh+1)*c.T*tk] // (T, Tk)
	p := op.p[bh*c.T*tk : (bh+1)*c.T*tk] // (T, Tk)
	kernels.Gemm(false, true, c.T, tk, hd, op.scale, q, ldq, k, hd, 0, s, tk)
	for i := 0; i < c.T; i++ {
		if op.ns == 1 {
			op.z[bh*c.T+i], op.p0[bh*c.T+i] = sinkRowForward(s[i*tk:(i+1)*tk], p[i*tk:(i+1)*tk], op.visible(i), op.sink[h])
			continue
		}
		op.z[bh*c.T+i] = rowForward(op.v, s[i*tk:(i+1)*tk], p[i*tk:(i+1)*tk], op.visible(i))
	}
	if op.bumpOn && op.bumpAt/(c.T*tk) == bh {
		p[op.bumpAt%(c.T*tk)] += op.bumpEps
	}
	kernels.Gemm(false, false, c.T, hd, tk, 1, p, tk, op.vbuf[bh*tk*hd:(bh+1)*tk*hd], hd, 0, op.obuf[b*c.T*op.d+h*hd:], op.d)
}

// elu1 writes f = elu(x) + 1 (x + 1 for x > 0, eˣ otherwise).
func elu1[T gop.Float](x, f []T) {
	if x32, ok := any(x).([]float32); ok {
		vmath.ExpShift(x32, any(f).([]float32), 0) // every eˣ at SIMD speed; x > 0 is overwritten below
		for i, v := range x {
			if v > 0 {
				f[i] = v + 1
			}
		}
		return
	}
	for i, v := range x {
		if v > 0 {
			f[i] = v + 1
		} else {
			f[i] = gop.Exp(v)
		}
	}
}

// mlpForward computes f = φ(x) = gelu(x·W1 + b1)·W2 + b2 for every row of x,
// keeping u, gelu(u) and gelu'(u) for the backward pass.
func (op *MultiHeadOp[T]) mlpForward(w1, b1, w2, b2 []T) {
	hd, f := op.cfg.HD, op.cfg.MLPHidden
	r := len(op.x) / hd
	for i := 0; i < r; i++ {
		copy(op.u[i*f:(i+1)*f], b1)
		copy(op.f[i*hd:(i+1)*hd], b2)
	}
	kernels.Gemm(false, false, r, f, hd, 1, op.x, hd, w1, f, 1, op.u, f)
	geluErf(op.u, op.a, op.dg)
	kernels.Gemm(false, false, r, hd, f, 1, op.a, f, w2, hd, 1, op.f, hd)
}

// geluErf writes the exact GELU a = u·Φ(u) = ½u(1 + erf(u/√2)) and its
// derivative dg = Φ(u) + u·e^{−u²/2}/√(2π). float32 takes e^{−u²/2} from
// vmath.ExpShift (in dg, before overwriting it) and erf from gop.Erf32Exp,
// which reuses it; float64 uses math.Erf and math.Exp.
func geluErf[T gop.Float](u, a, dg []T) {
	const invSqrt2Pi = 0.3989422804014327 // 1/√(2π)
	if u32, ok := any(u).([]float32); ok {
		a32, dg32 := any(a).([]float32), any(dg).([]float32)
		for i, v := range u32 {
			x := min(max(v, -v)*math.Sqrt2/2, 6) // |u|/√2, where erf is 1 in float32 from 6 on
			a32[i] = -x * x
		}
		vmath.ExpShift(a32, dg32, 0) // dg = e^{−x²}
		for i, v := range u32 {
			e := dg32[i]
			x := min(max(v, -v)*math.Sqrt2/2, 6)
			erf := gop.Erf32Exp(x, e)
			if v < 0 {
				erf = -erf
			}
			cdf := 0.5 * (1 + erf)
			a32[i] = v * cdf
			dg32[i] = cdf + v*invSqrt2Pi*e
			if x == 6 { // e^{−u²/2} was clamped: the density term is 0 there
				dg32[i] = cdf
			}
		}
		return
	}
	for i, v := range u {
		cdf := 0.5 * (1 + gop.Erf(v*math.Sqrt2/2))
		a[i] = v * cdf
		dg[i] = cdf + v*invSqrt2Pi*gop.Exp(-v*v/2)
	}
}

// DiffWRT: every input (qkv, the key/value bias, φ's parameters) is
// differentiable.
func (op *MultiHeadOp[T]) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff returns dqkv (and dkvb, dW1, db1, dW2, db2) as views of the backward
// op's packed buffer.
func (op *MultiHeadOp[T]) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	c := op.cfg
	bw := &multiHeadBackOp[T]{Base: gop.Base{Name: "multihead-backward"}, f: op}
	n := c.B * c.T * 3 * op.d
	hd, f := c.HD, c.MLPHidden
	total := n + op.nb*2*op.d
	if op.nmlp > 0 {
		total += hd*f + f + f*hd + hd
	}
	total += op.ns * c.H
	bw.packed, bw.buf = gop.NewDense[T](total)
	bw.dp = make([]T, c.T*op.tk)
	bw.ds = make([]T, c.T*op.tk)
	bw.dk = make([]T, op.tk*hd)
	bw.dv = make([]T, op.tk*hd)
	if op.feat != featNone {
		bw.df = make([]T, len(op.f))
		bw.dx = make([]T, len(op.x))
	}
	if op.feat == featMLP {
		bw.du = make([]T, len(op.u))
	}
	bin := G.Nodes{in[0], grad}
	if op.nmlp > 0 {
		w := in[1+op.nb:]
		bin = append(bin, w[0], w[2]) // W1, W2
	}
	packed, err := G.ApplyOp(bw, bin...)
	if err != nil {
		return nil, err
	}
	views := [][]int{{c.B * c.T, 3 * op.d}}
	if op.nb == 1 {
		views = append(views, []int{2, op.d})
	}
	if op.nmlp > 0 {
		views = append(views, []int{hd, f}, []int{f}, []int{f, hd}, []int{hd})
	}
	if op.ns == 1 {
		views = append(views, []int{c.H})
	}
	return gop.Picks[T](packed, views...)
}

// multiHeadBackOp computes, per (b, h), with dO the output gradient:
//
//	dP = dO·Vᵀ, dV = Pᵀ·dO, dS = rowBackward(dP), dQ = dS·K·scale, dK = dSᵀ·Q·scale
//
// into dqkv | dkvb (the bias slot's gradients summed over the batch). With a
// feature map, Q and K above are φ(Q) and φ(K), and the feature map's backward
// (and, for MLP attention, the gradients of W1, b1, W2, b2, summed over every
// query and key row of every head) follows: dqkv | dkvb | dW1 | db1 | dW2 | db2.
// Inputs: qkv, dO, and W1, W2 for MLP attention.
type multiHeadBackOp[T gop.Float] struct {
	gop.Base
	f              *MultiHeadOp[T]
	packed         *tensor.Dense
	buf            []T
	dp, ds, dk, dv []T // scratch: (T, Tk), (T, Tk), (Tk, HD), (Tk, HD)
	df, dx         []T // feature maps: dφ and dx, the layout of f and x (R, HD)
	du             []T // MLP attention: d(x·W1 + b1) (R, F)
}

func (op *multiHeadBackOp[T]) Arity() int { return 2 + op.f.nmlp/2 }
func (op *multiHeadBackOp[T]) Type() hm.Type {
	if op.f.nmlp > 0 {
		return gop.FnType(1, 2, 2, 2, 2)
	}
	return gop.FnType(1, 2, 2)
}
func (op *multiHeadBackOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{len(op.buf)}, nil
}

func (op *multiHeadBackOp[T]) Do(vs ...G.Value) (G.Value, error) {
	f := op.f
	c := f.cfg
	qkv, dO := gop.Data[T](vs[0]), gop.Data[T](vs[1])
	d, tk, hd, nb := f.d, f.tk, c.HD, f.nb
	n := c.B * c.T * 3 * d
	dqkv := op.buf[:n]
	dkvb := op.buf[n : n+nb*2*d]
	clear(dkvb)
	if f.ns == 1 {
		clear(op.buf[len(op.buf)-c.H:]) // db of the sink logit, accumulated by head
	}
	if f.feat != featNone {
		op.featureBackward(dO, dqkv, dkvb, vs[2:])
		return op.packed, nil
	}
	for b := 0; b < c.B; b++ {
		for h := 0; h < c.H; h++ {
			bh := b*c.H + h
			op.head(b, h, dO, qkv[b*c.T*3*d+h*hd:], 3*d, f.kbuf[bh*tk*hd:(bh+1)*tk*hd], dqkv[b*c.T*3*d+h*hd:], 3*d, op.dk)
			op.scatterKV(b, h, dqkv, dkvb, op.dk)
		}
	}
	return op.packed, nil
}

// head runs the backward pass of head (b, h) up to the score inputs: dV into
// op.dv, dQ = scale·dS·k into dq (T, HD; row stride lddq) and
// dK = scale·dSᵀ·q into dk (Tk, HD). q is (T, HD) with row stride ldq; k is
// (Tk, HD).
func (op *multiHeadBackOp[T]) head(b, h int, dO, q []T, ldq int, k, dq []T, lddq int, dk []T) {
	f := op.f
	c := f.cfg
	d, tk, hd := f.d, f.tk, c.HD
	bh := b*c.H + h
	vb := f.vbuf[bh*tk*hd : (bh+1)*tk*hd]
	s := f.s[bh*c.T*tk : (bh+1)*c.T*tk]
	p := f.p[bh*c.T*tk : (bh+1)*c.T*tk]
	do := dO[b*c.T*d+h*hd:] // (T, HD), row stride D
	kernels.Gemm(false, true, c.T, tk, hd, 1, do, d, vb, hd, 0, op.dp, tk)
	kernels.Gemm(true, false, tk, hd, c.T, 1, p, tk, do, d, 0, op.dv, hd)
	for i := 0; i < c.T; i++ {
		r := op.dp[i*tk : (i+1)*tk]
		rowBackward(f.v, s[i*tk:(i+1)*tk], p[i*tk:(i+1)*tk], r, op.ds[i*tk:(i+1)*tk], f.visible(i), f.z[bh*c.T+i])
		if f.ns == 1 {
			op.sinkGrad(h, p[i*tk:(i+1)*tk], r, f.visible(i), f.p0[bh*c.T+i])
		}
	}
	if f.gP != nil {
		copy(f.gP[bh*c.T*tk:(bh+1)*c.T*tk], op.dp)
		copy(f.gS[bh*c.T*tk:(bh+1)*c.T*tk], op.ds)
	}
	kernels.Gemm(false, false, c.T, hd, tk, f.scale, op.ds, tk, k, hd, 0, dq, lddq)
	kernels.Gemm(true, false, tk, hd, c.T, f.scale, op.ds, tk, q, ldq, 0, dk, hd)
}

// scatterKV writes head (b, h)'s dK (dk, (Tk, HD)) and dV (op.dv) into dqkv,
// and adds the bias slot's to dkvb.
func (op *multiHeadBackOp[T]) scatterKV(b, h int, dqkv, dkvb, dk []T) {
	f := op.f
	c := f.cfg
	d, hd, nb := f.d, c.HD, f.nb
	for t := 0; t < c.T; t++ {
		row := dqkv[(b*c.T+t)*3*d:]
		copy(row[d+h*hd:d+(h+1)*hd], dk[(t+nb)*hd:(t+nb+1)*hd])
		copy(row[2*d+h*hd:2*d+(h+1)*hd], op.dv[(t+nb)*hd:(t+nb+1)*hd])
	}
	if nb == 1 {
		for j := 0; j < hd; j++ {
			dkvb[h*hd+j] += dk[j]
			dkvb[d+h*hd+j] += op.dv[j]
		}
	}
}

// featureBackward is the backward pass of kernel and MLP attention: per head
// dφ(Q) and dφ(K) into df, then dx = φ'(x)ᵀ·df for every row at once (and the
// MLP's parameter gradients), then dx's query and key rows into dqkv and dkvb.
// w holds W1 and W2 for MLP attention.
func (op *multiHeadBackOp[T]) featureBackward(dO, dqkv, dkvb []T, w []G.Value) {
	f := op.f
	c := f.cfg
	d, tk, hd := f.d, f.tk, c.HD
	nq := c.B * c.H * c.T * hd
	dfq, dfk := op.df[:nq], op.df[nq:]
	for b := 0; b < c.B; b++ {
		for h := 0; h < c.H; h++ {
			bh := b*c.H + h
			op.head(b, h, dO, f.fq[bh*c.T*hd:], hd, f.fk[bh*tk*hd:(bh+1)*tk*hd], dfq[bh*c.T*hd:], hd, dfk[bh*tk*hd:(bh+1)*tk*hd])
			// dV only: dK follows once dx is known.
			for t := 0; t < c.T; t++ {
				copy(dqkv[(b*c.T+t)*3*d+2*d+h*hd:][:hd], op.dv[(t+f.nb)*hd:(t+f.nb+1)*hd])
			}
			if f.nb == 1 {
				for j := 0; j < hd; j++ {
					dkvb[d+h*hd+j] += op.dv[j]
				}
			}
		}
	}
	if f.feat == featElu1 {
		for i, x := range f.x {
			if x > 0 {
				op.dx[i] = op.df[i]
			} else {
				op.dx[i] = op.df[i] * f.f[i] // d(e^x) = e^x
			}
		}
	} else {
		op.mlpBackward(gop.Data[T](w[0]), gop.Data[T](w[1]))
	}
	dxq, dxk := op.dx[:nq], op.dx[nq:]
	for b := 0; b < c.B; b++ {
		for h := 0; h < c.H; h++ {
			bh := b*c.H + h
			for t := 0; t < c.T; t++ {
				row := dqkv[(b*c.T+t)*3*d:]
				copy(row[h*hd:(h+1)*hd], dxq[(bh*c.T+t)*hd:(bh*c.T+t+1)*hd])
				copy(row[d+h*hd:d+(h+1)*hd], dxk[(bh*tk+t+f.nb)*hd:(bh*tk+t+f.nb+1)*hd])
			}
			if f.nb == 1 {
				for j := 0; j < hd; j++ {
					dkvb[h*hd+j] += dxk[bh*tk*hd+j]
				}
			}
		}
	}
}

// mlpBackward is φ's backward pass over all R rows, from dy = op.df:
//
//	dW2 = aᵀ·dy, db2 = Σ dy, du = (dy·W2ᵀ) ⊙ gelu'(u), dW1 = xᵀ·du, db1 = Σ du, dx = du·W1ᵀ
//
// with gelu'(u) = Φ(u) + u·e^{−u²/2}/√(2π) from the forward pass.
func (op *multiHeadBackOp[T]) mlpBackward(w1, w2 []T) {
	f := op.f
	hd, fh := f.cfg.HD, f.cfg.MLPHidden
	r := len(f.x) / hd
	n := f.cfg.B * f.cfg.T * 3 * f.d
	g := op.buf[n+f.nb*2*f.d:]
	dw1, db1 := g[:hd*fh], g[hd*fh:hd*fh+fh]
	dw2, db2 := g[hd*fh+fh:2*hd*fh+fh], g[2*hd*fh+fh:2*hd*fh+fh+hd]
	dy := op.df
	kernels.Gemm(true, false, fh, hd, r, 1, f.a, fh, dy, hd, 0, dw2, hd)
	clear(db2)
	for i := 0; i < r; i++ {
		for j, v := range dy[i*hd : (i+1)*hd] {
			db2[j] += v
		}
	}
	kernels.Gemm(false, true, r, fh, hd, 1, dy, hd, w2, hd, 0, op.du, fh)
	for i, g := range f.dg {
		op.du[i] *= g
	}
	kernels.Gemm(true, false, hd, fh, r, 1, f.x, hd, op.du, fh, 0, dw1, fh)
	clear(db1)
	for i := 0; i < r; i++ {
		for j, v := range op.du[i*fh : (i+1)*fh] {
			db1[j] += v
		}
	}
	kernels.Gemm(false, true, r, hd, fh, 1, op.du, fh, w1, fh, 0, op.dx, hd)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
