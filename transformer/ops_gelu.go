package transformer

import (
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/attention/vmath"
)

// geluC is √(2/π), the constant of GELU's tanh form.
const geluC = 0.7978845608028654

// geluOp is GELU, exact or in its tanh form.
//
// exact (PyTorch's nn.GELU(), the paper's): y = x·Φ(x) with Φ the standard
// normal CDF, Φ(x) = ½(1 + erf(x/√2)); it keeps Φ and e^(−x²/2) for the
// backward pass, dx = dy·(Φ(x) + x·e^(−x²/2)/√(2π)).
//
// tanh (GPT-2's, PyTorch's approximate="tanh"): y = ½x(1 + tanh(c(x +
// 0.044715x³))); it keeps tanh for the backward pass.
//
//	X (N, F) → Y (N, F)
type geluOp[T gop.Float] struct {
	gop.Base
	exact bool
	shape tensor.Shape
	y     *tensor.Dense
	ybuf  []T
	th    []T // tanh(c(x + 0.044715x³)), or Φ(x) when exact; same shape as X
	ex    []T // e^(−x²/2) when exact; same shape as X
}

func gelu[T gop.Float](x *G.Node, exact bool) (*G.Node, error) {
	s := x.Shape().Clone()
	name := "gelu-tanh"
	if exact {
		name = "gelu"
	}
	op := &geluOp[T]{Base: gop.Base{Name: name}, shape: s, exact: exact}
	op.y, op.ybuf = gop.NewDense[T](s...)
	op.th = make([]T, len(op.ybuf))
	if exact {
		op.ex = make([]T, len(op.ybuf))
	}
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
	if op.exact {
		geluErfForward(x, y, th, op.ex)
		return op.y, nil
	}
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
	if op.f.exact {
		const invSqrt2Pi = 0.3989422804014327
		ex := op.f.ex
		for i, v := range x {
			op.buf[i] = dy[i] * (th[i] + v*ex[i]*invSqrt2Pi)
		}
		return op.dx, nil
	}
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

// geluErfForward computes y = x·Φ(x), phi = Φ(x) and ex = e^(−x²/2). float64
// uses math.Erf and math.Exp. float32 takes e^(−x²/2) from the SIMD exp kernel
// and erfc(|x|/√2) = gop.ErfcPoly32(|x|/√2)·e^(−x²/2), Abramowitz & Stegun
// 7.1.26 (absolute error of erfc below 1.5e-7, so of Φ
// below 7.5e-8: float32's rounding near 1); TestGeluErf32 checks it against
// float64.
func geluErfForward[T gop.Float](x, y, phi, ex []T) {
	const invSqrt2 = 0.7071067811865476
	if x32, ok := any(x).([]float32); ok {
		y32, p32, e32 := any(y).([]float32), any(phi).([]float32), any(ex).([]float32)
		for i, v := range x32 {
			e32[i] = -0.5 * v * v
		}
		vmath.ExpShift(e32, e32, 0)
		for i, v := range x32 {
			z := v * invSqrt2
			if z < 0 {
				z = -z
			}
			half := 0.5 * gop.ErfcPoly32(z) * e32[i] // ½erfc(|x|/√2) = Φ(−|x|)
			p := half
			if v >= 0 {
				p = 1 - half
			}
			p32[i] = p
			y32[i] = v * p
		}
		return
	}
	for i, v := range x {
		f := float64(v)
		p := 0.5 * math.Erfc(-f*invSqrt2)
		phi[i] = T(p)
		ex[i] = T(math.Exp(-0.5 * f * f))
		y[i] = T(f * p)
	}
}
