package transformer

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/attention/vmath"
)

// lnEps is LayerNorm's ε (PyTorch's default).
const lnEps = 1e-5

// layerNormOp normalizes each row: Y = (X − mean)·rstd·γ + β, rstd = 1/√(var + ε).
// It keeps mean and rstd for the backward pass.
//
//	X (N, D), γ (D), β (D) → Y (N, D)
type layerNormOp[T gop.Float] struct {
	gop.Base
	n, d       int
	y          *tensor.Dense
	ybuf       []T // (N, D)
	mean, rstd []T // (N)
}

func layerNorm[T gop.Float](x, gamma, beta *G.Node) (*G.Node, error) {
	s := x.Shape()
	if len(s) != 2 {
		return nil, fmt.Errorf("transformer: layernorm wants a matrix, got %v", s)
	}
	op := &layerNormOp[T]{Base: gop.Base{Name: "layernorm"}, n: s[0], d: s[1],
		mean: make([]T, s[0]), rstd: make([]T, s[0])}
	op.y, op.ybuf = gop.NewDense[T](s[0], s[1])
	return G.ApplyOp(op, x, gamma, beta)
}

func (op *layerNormOp[T]) Arity() int    { return 3 }
func (op *layerNormOp[T]) Type() hm.Type { return gop.FnType(2, 2, 1, 1) }
func (op *layerNormOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n, op.d}, nil
}

func (op *layerNormOp[T]) Do(vs ...G.Value) (G.Value, error) {
	x, g, b := gop.Data[T](vs[0]), gop.Data[T](vs[1]), gop.Data[T](vs[2])
	d := op.d
	if x32, ok := any(x).([]float32); ok {
		vmath.LayerNormRows(x32, any(g).([]float32), any(b).([]float32), any(op.ybuf).([]float32),
			any(op.mean).([]float32), any(op.rstd).([]float32), op.n, d, lnEps)
		return op.y, nil
	}
	inv := 1 / T(d)
	for i := 0; i < op.n; i++ {
		row := x[i*d : (i+1)*d]
		var m T
		for _, v := range row {
			m += v
		}
		m *= inv
		var vr T
		for _, v := range row {
			c := v - m
			vr += c * c
		}
		vr *= inv
		r := T(1 / math.Sqrt(float64(vr)+lnEps))
		op.mean[i], op.rstd[i] = m, r
		out := op.ybuf[i*d : (i+1)*d]
		for j, v := range row {
			out[j] = (v-m)*r*g[j] + b[j]
		}
	}
	return op.y, nil
}

func (op *layerNormOp[T]) DiffWRT(int) []bool { return []bool{true, true, true} }

func (op *layerNormOp[T]) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	bw := &layerNormBackOp[T]{Base: gop.Base{Name: "layernorm-backward"}, f: op}
	bw.packed, bw.buf = gop.NewDense[T](op.n*op.d + 2*op.d)
	packed, err := G.ApplyOp(bw, in[0], in[1], grad)
	if err != nil {
		return nil, err
	}
	return gop.Picks[T](packed, []int{op.n, op.d}, []int{op.d}, []int{op.d})
}

// layerNormBackOp computes dX | dγ | dβ:
//
//	x̂ = (x − mean)·rstd, dx̂ = dy·γ,
//	dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dγ = Σ_rows dy·x̂, dβ = Σ_rows dy.
type layerNormBackOp[T gop.Float] struct {
	gop.Base
	f      *layerNormOp[T]
	packed *tensor.Dense
	buf    []T
}

func (op *layerNormBackOp[T]) Arity() int    { return 3 }
func (op *layerNormBackOp[T]) Type() hm.Type { return gop.FnType(1, 2, 1, 2) }
func (op *layerNormBackOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{len(op.buf)}, nil
}

func (op *layerNormBackOp[T]) Do(vs ...G.Value) (G.Value, error) {
	f := op.f
	x, g, dy := gop.Data[T](vs[0]), gop.Data[T](vs[1]), gop.Data[T](vs[2])
	n, d := f.n, f.d
	dx, dg, db := op.buf[:n*d], op.buf[n*d:n*d+d], op.buf[n*d+d:]
	clear(dg)
	clear(db)
	if x32, ok := any(x).([]float32); ok {
		vmath.LayerNormRowsBackward(x32, any(g).([]float32), any(dy).([]float32), any(f.mean).([]float32),
			any(f.rstd).([]float32), any(dx).([]float32), any(dg).([]float32), any(db).([]float32), n, d)
		return op.packed, nil
	}
	inv := 1 / T(d)
	for i := 0; i < n; i++ {
		m, r := f.mean[i], f.rstd[i]
		xr, dyr, dxr := x[i*d:(i+1)*d], dy[i*d:(i+1)*d], dx[i*d:(i+1)*d]
		var s1, s2 T
		for j := range xr {
			xh := (xr[j] - m) * r
			dxh := dyr[j] * g[j]
			s1 += dxh
			s2 += dxh * xh
			dg[j] += dyr[j] * xh
			db[j] += dyr[j]
		}
		s1 *= inv
		s2 *= inv
		for j := range xr {
			xh := (xr[j] - m) * r
			dxr[j] = r * (dyr[j]*g[j] - s1 - xh*s2)
		}
	}
	return op.packed, nil
}

// denseOf wraps a slice as a tensor of the given shape.
func denseOf[T gop.Float](x []T, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x))
}
