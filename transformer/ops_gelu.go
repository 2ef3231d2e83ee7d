package transformer

import (
	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/attention/vmath"
)

// geluC is √(2/π), the constant of GELU's tanh form.
const geluC = 0.7978845608028654

// geluOp is GELU in its tanh form (GPT-2's, PyTorch's approximate="tanh"):
// y = ½x(1 + tanh(c(x + 0.044715x³))). It keeps tanh for the backward pass.
//
//	X (N, F) → Y (N, F)
type geluOp[T gop.Float] struct {
	gop.Base
	shape tensor.Shape
	y     *tensor.Dense
	ybuf  []T
	th    []T // tanh(c(x + 0.044715x³)), same shape as X
}

func gelu[T gop.Float](x *G.Node) (*G.Node, error) {
	s := x.Shape().Clone()
	op := &geluOp[T]{Base: gop.Base{Name: "gelu"}, shape: s}
	op.y, op.ybuf = gop.NewDense[T](s...)
	op.th = make([]T, len(op.ybuf))
	return G.ApplyOp(op, x)
}

func (op *geluOp[T]) Arity() int    { return 1 }
func (op *geluOp[T]) Type() hm.Type { return gop.FnType(len(op.shape), len(op.shape)) }
func (op *geluOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}

func (op *geluOp[T]) Do(vs ...G.Value) (G.Value, error) {
	x := gop.Data[T](vs[0])
	y, th := op.ybuf, op.th
	if x32, ok := any(x).([]float32); ok {
		vmath.GeluTanh(x32, any(y).([]float32), any(th).([]float32))
		return op.y, nil
	}
	for i, v := range x {
		t := gop.Tanh(T(geluC) * (v + 0.044715*v*v*v))
		th[i] = t
		y[i] = 0.5 * v * (1 + t)
	}
	return op.y, nil
}

func (op *geluOp[T]) DiffWRT(int) []bool { return []bool{true} }

func (op *geluOp[T]) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	bw := &geluBackOp[T]{Base: gop.Base{Name: "gelu-backward"}, f: op}
	bw.dx, bw.buf = gop.NewDense[T](op.shape...)
	dx, err := G.ApplyOp(bw, in[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// geluBackOp: dx = dy·(½(1 + t) + ½x(1 − t²)·c(1 + 3·0.044715x²)).
type geluBackOp[T gop.Float] struct {
	gop.Base
	f   *geluOp[T]
	dx  *tensor.Dense
	buf []T
}

func (op *geluBackOp[T]) Arity() int { return 2 }
func (op *geluBackOp[T]) Type() hm.Type {
	d := len(op.f.shape)
	return gop.FnType(d, d, d)
}
func (op *geluBackOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.f.shape.Clone(), nil
}

func (op *geluBackOp[T]) Do(vs ...G.Value) (G.Value, error) {
	x, dy := gop.Data[T](vs[0]), gop.Data[T](vs[1])
	th := op.f.th
	if x32, ok := any(x).([]float32); ok {
		vmath.GeluTanhBackward(x32, any(th).([]float32), any(dy).([]float32), any(op.buf).([]float32))
		return op.dx, nil
	}
	for i, v := range x {
		t := th[i]
		op.buf[i] = dy[i] * (0.5*(1+t) + 0.5*v*(1-t*t)*T(geluC)*(1+3*0.044715*v*v))
	}
	return op.dx, nil
}
