package attention

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
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
// keys (Tk = T, or T+1 with the key/value bias in slot 0), O = P·V. The weights
// P of the last forward pass stay in the op (Weights) for probes: reading them
// costs nothing extra, and downstream ops cannot overwrite them.
//
//	qkv (B·T, 3D), kvb (2, D) → O (B·T, D)
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
// key/value bias when cfg.KVBias, else nil.
func NewMultiHead[T gop.Float](qkv, kvb *G.Node, cfg MultiHeadConfig) (*G.Node, *MultiHeadOp[T], error) {
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
	op := &MultiHeadOp[T]{Base: gop.Base{Name: "multihead-" + cfg.Variant}, cfg: cfg, v: v, d: d,
		nb: btoi(cfg.KVBias), scale: T(1 / math.Sqrt(float64(cfg.HD)))}
	op.tk = cfg.T + op.nb
	op.out, op.obuf = gop.NewDense[T](cfg.B*cfg.T, d)
	bh := cfg.B * cfg.H
	op.kbuf = make([]T, bh*op.tk*cfg.HD)
	op.vbuf = make([]T, bh*op.tk*cfg.HD)
	op.s = make([]T, bh*cfg.T*op.tk)
	op.p = make([]T, bh*cfg.T*op.tk)
	op.z = make([]T, bh*cfg.T)
	in := G.Nodes{qkv}
	if kvb != nil {
		in = append(in, kvb)
	}
	n, err := G.ApplyOp(op, in...)
	return n, op, err
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

func (op *MultiHeadOp[T]) Arity() int { return 1 + op.nb }
func (op *MultiHeadOp[T]) Type() hm.Type {
	if op.nb == 1 {
		return gop.FnType(2, 2, 2)
	}
	return gop.FnType(2, 2)
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
	c := op.cfg
	d, tk, hd := op.d, op.tk, c.HD
	for b := 0; b < c.B; b++ {
		for h := 0; h < c.H; h++ {
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
			q := qkv[b*c.T*3*d+h*hd:]            // (T, HD), row stride 3D
			s := op.s[bh*c.T*tk : (bh+1)*c.T*tk] // (T, Tk)
			p := op.p[bh*c.T*tk : (bh+1)*c.T*tk] // (T, Tk)
			gemm(false, true, c.T, tk, hd, op.scale, q, 3*d, kb, hd, 0, s, tk)
			for i := 0; i < c.T; i++ {
				op.z[bh*c.T+i] = rowForward(op.v, s[i*tk:(i+1)*tk], p[i*tk:(i+1)*tk], op.visible(i))
			}
			if op.bumpOn && op.bumpAt/(c.T*tk) == bh {
				p[op.bumpAt%(c.T*tk)] += op.bumpEps
			}
			gemm(false, false, c.T, hd, tk, 1, p, tk, vb, hd, 0, op.obuf[b*c.T*d+h*hd:], d)
		}
	}
	return op.out, nil
}

// DiffWRT: qkv and the key/value bias are differentiable.
func (op *MultiHeadOp[T]) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff returns dqkv (and dkvb) as views of the backward op's packed buffer.
func (op *MultiHeadOp[T]) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	c := op.cfg
	bw := &multiHeadBackOp[T]{Base: gop.Base{Name: "multihead-backward"}, f: op}
	n := c.B * c.T * 3 * op.d
	bw.packed, bw.buf = gop.NewDense[T](n + op.nb*2*op.d)
	bh := c.B * c.H
	bw.dp = make([]T, c.T*op.tk)
	bw.ds = make([]T, c.T*op.tk)
	bw.dk = make([]T, op.tk*c.HD)
	bw.dv = make([]T, op.tk*c.HD)
	_ = bh
	packed, err := G.ApplyOp(bw, in[0], grad)
	if err != nil {
		return nil, err
	}
	dqkv, err := gop.Pick[T](packed, 0, c.B*c.T, 3*op.d)
	if err != nil {
		return nil, err
	}
	if op.nb == 0 {
		return G.Nodes{dqkv}, nil
	}
	dkvb, err := gop.Pick[T](packed, n, 2, op.d)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dqkv, dkvb}, nil
}

// multiHeadBackOp computes, per (b, h), with dO the output gradient:
//
//	dP = dO·Vᵀ, dV = Pᵀ·dO, dS = rowBackward(dP), dQ = dS·K/√HD, dK = dSᵀ·Q/√HD
//
// into dqkv | dkvb (the bias slot's gradients summed over the batch).
type multiHeadBackOp[T gop.Float] struct {
	gop.Base
	f              *MultiHeadOp[T]
	packed         *tensor.Dense
	buf            []T
	dp, ds, dk, dv []T // scratch: (T, Tk), (T, Tk), (Tk, HD), (Tk, HD)
}

func (op *multiHeadBackOp[T]) Arity() int    { return 2 }
func (op *multiHeadBackOp[T]) Type() hm.Type { return gop.FnType(1, 2, 2) }
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
	dkvb := op.buf[n:]
	clear(dkvb)
	for b := 0; b < c.B; b++ {
		for h := 0; h < c.H; h++ {
			bh := b*c.H + h
			kb := f.kbuf[bh*tk*hd : (bh+1)*tk*hd]
			vb := f.vbuf[bh*tk*hd : (bh+1)*tk*hd]
			s := f.s[bh*c.T*tk : (bh+1)*c.T*tk]
			p := f.p[bh*c.T*tk : (bh+1)*c.T*tk]
			do := dO[b*c.T*d+h*hd:] // (T, HD), row stride D
			q := qkv[b*c.T*3*d+h*hd:]
			gemm(false, true, c.T, tk, hd, 1, do, d, vb, hd, 0, op.dp, tk)
			gemm(true, false, tk, hd, c.T, 1, p, tk, do, d, 0, op.dv, hd)
			for i := 0; i < c.T; i++ {
				r := op.dp[i*tk : (i+1)*tk]
				rowBackward(f.v, s[i*tk:(i+1)*tk], p[i*tk:(i+1)*tk], r, op.ds[i*tk:(i+1)*tk], f.visible(i), f.z[bh*c.T+i])
			}
			if f.gP != nil {
				copy(f.gP[bh*c.T*tk:(bh+1)*c.T*tk], op.dp)
				copy(f.gS[bh*c.T*tk:(bh+1)*c.T*tk], op.ds)
			}
			dq := dqkv[b*c.T*3*d+h*hd:]
			gemm(false, false, c.T, hd, tk, f.scale, op.ds, tk, kb, hd, 0, dq, 3*d)
			gemm(true, false, tk, hd, c.T, f.scale, op.ds, tk, q, 3*d, 0, op.dk, hd)
			for t := 0; t < c.T; t++ {
				row := dqkv[(b*c.T+t)*3*d:]
				copy(row[d+h*hd:d+(h+1)*hd], op.dk[(t+nb)*hd:(t+nb+1)*hd])
				copy(row[2*d+h*hd:2*d+(h+1)*hd], op.dv[(t+nb)*hd:(t+nb+1)*hd])
			}
			if nb == 1 {
				for j := 0; j < hd; j++ {
					dkvb[h*hd+j] += op.dk[j]
					dkvb[d+h*hd+j] += op.dv[j]
				}
			}
		}
	}
	return op.packed, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
