package transformer

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/attention/kernels"
)

// gateOp is the output gate of gated attention (Qiu et al., NeurIPS 2025:
// a sigmoid gate after scaled dot-product attention, computed from the same
// hidden states as q, k and v):
//
//	g = sigmoid(x·W + b)            (N, G)
//	y[n, c] = a[n, c] · g[n, c/(D/G)]
//
// with G = H (one gate per head and position, shared by the head's HD
// channels) or G = D (one per channel).
//
//	a (N, D) attention output, x (N, D) attention input, W (D, G), b (G) → y (N, D)
type gateOp[T gop.Float] struct {
	gop.Base
	n, d, gw int
	y        *tensor.Dense
	ybuf     []T // (N, D)
	g        []T // the gates of the last forward pass (N, G)
}

// gate applies the output gate: a and x are (N, D), w is (D, G), b is (G);
// G must divide D.
func gate[T gop.Float](a, x, w, b *G.Node) (*G.Node, error) {
	as, xs, ws := a.Shape(), x.Shape(), w.Shape()
	if len(as) != 2 || len(xs) != 2 || len(ws) != 2 || as[0] != xs[0] || as[1] != xs[1] || ws[0] != xs[1] ||
		ws[1] < 1 || as[1]%ws[1] != 0 || b.Shape().TotalSize() != ws[1] {
		return nil, fmt.Errorf("transformer: gate: a %v, x %v, W %v, b %v do not fit", as, xs, ws, b.Shape())
	}
	op := &gateOp[T]{Base: gop.Base{Name: "gate"}, n: as[0], d: as[1], gw: ws[1]}
	op.y, op.ybuf = gop.NewDense[T](op.n, op.d)
	op.g = make([]T, op.n*op.gw)
	return G.ApplyOp(op, a, x, w, b)
}

func (op *gateOp[T]) Arity() int    { return 4 }
func (op *gateOp[T]) Type() hm.Type { return gop.FnType(2, 2, 2, 2, 1) }
func (op *gateOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n, op.d}, nil
}

func sigmoid[T gop.Float](x T) T {
	if x >= 0 {
		return 1 / (1 + gop.Exp(-x))
	}
	e := gop.Exp(x)
	return e / (1 + e)
}

func (op *gateOp[T]) Do(vs ...G.Value) (G.Value, error) {
	a, x, w, b := gop.Data[T](vs[0]), gop.Data[T](vs[1]), gop.Data[T](vs[2]), gop.Data[T](vs[3])
	n, d, gw := op.n, op.d, op.gw
	for i := 0; i < n; i++ {
		copy(op.g[i*gw:(i+1)*gw], b)
	}
	kernels.Gemm(false, false, n, gw, d, 1, x, d, w, gw, 1, op.g, gw)
	for i, u := range op.g {
		op.g[i] = sigmoid(u)
	}
	grp := d / gw
	for i := 0; i < n; i++ {
		for c := 0; c < d; c++ {
			op.ybuf[i*d+c] = a[i*d+c] * op.g[i*gw+c/grp]
		}
	}
	return op.y, nil
}

func (op *gateOp[T]) DiffWRT(n int) []bool { return []bool{true, true, true, true} }

// SymDiff returns da, dx, dW and db as views of one packed buffer.
func (op *gateOp[T]) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	n, d, gw := op.n, op.d, op.gw
	bw := &gateBackOp[T]{Base: gop.Base{Name: "gate-backward"}, f: op, du: make([]T, n*gw)}
	bw.packed, bw.buf = gop.NewDense[T](2*n*d + d*gw + gw)
	packed, err := G.ApplyOp(bw, in[0], in[1], in[2], grad)
	if err != nil {
		return nil, err
	}
	return gop.Picks[T](packed, []int{n, d}, []int{n, d}, []int{d, gw}, []int{gw})
}

// gateBackOp computes, with g the forward's gates and u its pre-activations,
//
//	da = dy ⊙ g (broadcast over each gate's channels), dg = Σ_{channels of the gate} dy ⊙ a,
//	du = dg ⊙ g(1 − g), dW = xᵀ·du, db = Σ_n du, dx = du·Wᵀ
//
// into one buffer da | dx | dW | db. Inputs: a, x, W, dy.
type gateBackOp[T gop.Float] struct {
	gop.Base
	f      *gateOp[T]
	packed *tensor.Dense
	buf    []T
	du     []T // (N, G)
}

func (op *gateBackOp[T]) Arity() int    { return 4 }
func (op *gateBackOp[T]) Type() hm.Type { return gop.FnType(1, 2, 2, 2, 2) }
func (op *gateBackOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{len(op.buf)}, nil
}

func (op *gateBackOp[T]) Do(vs ...G.Value) (G.Value, error) {
	f := op.f
	a, x, w, dy := gop.Data[T](vs[0]), gop.Data[T](vs[1]), gop.Data[T](vs[2]), gop.Data[T](vs[3])
	n, d, gw := f.n, f.d, f.gw
	grp := d / gw
	da := op.buf[:n*d]
	dx := op.buf[n*d : 2*n*d]
	dw := op.buf[2*n*d : 2*n*d+d*gw]
	db := op.buf[2*n*d+d*gw:]
	clear(op.du)
	for i := 0; i < n; i++ {
		for c := 0; c < d; c++ {
			k := i*gw + c/grp
			da[i*d+c] = dy[i*d+c] * f.g[k]
			op.du[k] += dy[i*d+c] * a[i*d+c]
		}
	}
	for k, g := range f.g {
		op.du[k] *= g * (1 - g)
	}
	kernels.Gemm(true, false, d, gw, n, 1, x, d, op.du, gw, 0, dw, gw)
	clear(db)
	for i := 0; i < n; i++ {
		for k, v := range op.du[i*gw : (i+1)*gw] {
			db[k] += v
		}
	}
	kernels.Gemm(false, true, n, d, gw, 1, op.du, gw, w, gw, 0, dx, d)
	return op.packed, nil
}
