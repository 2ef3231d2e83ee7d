package transformer

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/attention/kernels"
)

// linearOp computes Y = X·W (+ b) (+ R): a dense layer with an optional bias and
// an optional residual input, fused so that a block's "x + proj(…)" is one op.
//
//	X (N, In), W (In, Out), b (Out), R (N, Out) → Y (N, Out)
type linearOp[T gop.Float] struct {
	gop.Base
	n, in, out  int
	bias, resid bool
	y           *tensor.Dense
	ybuf        []T // (N, Out)
}

// linear applies Y = X·W (+ b) (+ r); b and r may be nil.
func linear[T gop.Float](x, w, b, r *G.Node) (*G.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	if len(xs) != 2 || len(ws) != 2 || xs[1] != ws[0] {
		return nil, fmt.Errorf("transformer: linear: X %v and W %v do not chain", xs, ws)
	}
	op := &linearOp[T]{Base: gop.Base{Name: "linear"}, n: xs[0], in: xs[1], out: ws[1], bias: b != nil, resid: r != nil}
	op.y, op.ybuf = gop.NewDense[T](op.n, op.out)
	in := G.Nodes{x, w}
	if b != nil {
		in = append(in, b)
	}
	if r != nil {
		in = append(in, r)
	}
	return G.ApplyOp(op, in...)
}

func (op *linearOp[T]) Arity() int { return 2 + btoi(op.bias) + btoi(op.resid) }

func (op *linearOp[T]) Type() hm.Type {
	r := []int{2, 2}
	if op.bias {
		r = append(r, 1)
	}
	if op.resid {
		r = append(r, 2)
	}
	return gop.FnType(2, r...)
}

func (op *linearOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n, op.out}, nil
}

func (op *linearOp[T]) Do(vs ...G.Value) (G.Value, error) {
	x, w := gop.Data[T](vs[0]), gop.Data[T](vs[1])
	y := op.ybuf
	beta := T(0)
	if op.resid {
		copy(y, gop.Data[T](vs[len(vs)-1]))
		beta = 1
	}
	if op.bias {
		b := gop.Data[T](vs[2])
		if !op.resid {
			for i := 0; i < op.n; i++ {
				copy(y[i*op.out:(i+1)*op.out], b)
			}
		} else {
			for i := 0; i < op.n; i++ {
				row := y[i*op.out : (i+1)*op.out]
				for j, v := range b {
					row[j] += v
				}
			}
		}
		beta = 1
	}
	kernels.Gemm(false, false, op.n, op.out, op.in, 1, x, op.in, w, op.out, beta, y, op.out)
	return op.y, nil
}

func (op *linearOp[T]) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff returns dX, dW (and db) as views of one packed buffer; the gradient
// of the residual input is the output gradient itself.
func (op *linearOp[T]) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	bw := &linearBackOp[T]{Base: gop.Base{Name: "linear-backward"}, f: op}
	size := op.n*op.in + op.in*op.out + btoi(op.bias)*op.out
	bw.packed, bw.buf = gop.NewDense[T](size)
	packed, err := G.ApplyOp(bw, in[0], in[1], grad)
	if err != nil {
		return nil, err
	}
	dx, err := gop.Pick[T](packed, 0, op.n, op.in)
	if err != nil {
		return nil, err
	}
	dw, err := gop.Pick[T](packed, op.n*op.in, op.in, op.out)
	if err != nil {
		return nil, err
	}
	res := G.Nodes{dx, dw}
	if op.bias {
		db, err := gop.Pick[T](packed, op.n*op.in+op.in*op.out, op.out)
		if err != nil {
			return nil, err
		}
		res = append(res, db)
	}
	if op.resid {
		res = append(res, grad)
	}
	return res, nil
}

// linearBackOp computes dX = dY·Wᵀ, dW = Xᵀ·dY, db = Σ_rows dY into one buffer.
type linearBackOp[T gop.Float] struct {
	gop.Base
	f      *linearOp[T]
	packed *tensor.Dense
	buf    []T // dX (N·In) | dW (In·Out) | db (Out)
}

func (op *linearBackOp[T]) Arity() int    { return 3 }
func (op *linearBackOp[T]) Type() hm.Type { return gop.FnType(1, 2, 2, 2) }
func (op *linearBackOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{len(op.buf)}, nil
}

func (op *linearBackOp[T]) Do(vs ...G.Value) (G.Value, error) {
	f := op.f
	x, w, dy := gop.Data[T](vs[0]), gop.Data[T](vs[1]), gop.Data[T](vs[2])
	n, in, out := f.n, f.in, f.out
	dx := op.buf[:n*in]
	dw := op.buf[n*in : n*in+in*out]
	kernels.Gemm(false, true, n, in, out, 1, dy, out, w, out, 0, dx, in)
	kernels.Gemm(true, false, in, out, n, 1, x, in, dy, out, 0, dw, out)
	if f.bias {
		db := op.buf[n*in+in*out:]
		clear(db)
		for i := 0; i < n; i++ {
			row := dy[i*out : (i+1)*out]
			for j, v := range row {
				db[j] += v
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
