package transformer

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
)

// crossEntropyOp is softmax and cross-entropy fused, with a loss weight per
// position. Targets and weights are held by the op (set before each run):
//
//	loss = scale · Σ_{b,t} mask[b,t] · (−log softmax(logits[b,t])[target[b,t]])
//
// With a sink token, logits have T+1 rows per sequence and the first is skipped.
// Forward keeps the probabilities for the backward pass, and the per-position
// loss and argmax for metrics.
//
//	logits (B·T', V) → scalar
type crossEntropyOp[T gop.Float] struct {
	gop.Base
	b, t, v int
	sink    bool
	scale   T
	targets []int32   // (B, T), not owned
	mask    []float32 // (B, T), not owned
	probs   []T       // (B, T, V) softmax of the scored rows
	ce      []float64 // (B, T) per-position cross-entropy
	pred    []int32   // (B, T) argmax
	out     G.Value
}

func crossEntropy[T gop.Float](logits *G.Node, b, t int, sink bool, scale T) (*G.Node, *crossEntropyOp[T], error) {
	s := logits.Shape()
	tp := t + btoi(sink)
	if len(s) != 2 || s[0] != b*tp {
		return nil, nil, fmt.Errorf("transformer: cross-entropy: logits %v for a (%d, %d) batch", s, b, tp)
	}
	op := &crossEntropyOp[T]{Base: gop.Base{Name: "cross-entropy"}, b: b, t: t, v: s[1], sink: sink, scale: scale,
		probs: make([]T, b*t*s[1]), ce: make([]float64, b*t), pred: make([]int32, b*t)}
	if gop.Dtype[T]() == tensor.Float32 {
		op.out = G.NewF32(0)
	} else {
		op.out = G.NewF64(0)
	}
	n, err := G.ApplyOp(op, logits)
	return n, op, err
}

func (op *crossEntropyOp[T]) setTargets(targets []int32, mask []float32) {
	op.targets, op.mask = targets, mask
}

func (op *crossEntropyOp[T]) Arity() int    { return 1 }
func (op *crossEntropyOp[T]) Type() hm.Type { return gop.FnType(0, 2) }
func (op *crossEntropyOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}

func (op *crossEntropyOp[T]) Do(vs ...G.Value) (G.Value, error) {
	if len(op.targets) != op.b*op.t || len(op.mask) != op.b*op.t {
		return nil, fmt.Errorf("transformer: cross-entropy: targets for a (%d, %d) batch not set", op.b, op.t)
	}
	logits := gop.Data[T](vs[0])
	v, tp, so := op.v, op.t+btoi(op.sink), btoi(op.sink)
	var total float64
	for b := 0; b < op.b; b++ {
		for t := 0; t < op.t; t++ {
			i := b*op.t + t
			row := logits[(b*tp+t+so)*v : (b*tp+t+so+1)*v]
			p := op.probs[i*v : (i+1)*v]
			mx, am := row[0], 0
			for j, x := range row {
				if x > mx {
					mx, am = x, j
				}
			}
			z := gop.ExpShift(row, p, mx)
			inv := 1 / z
			for j := range p {
				p[j] *= inv
			}
			tg := int(op.targets[i])
			if tg < 0 || tg >= v {
				return nil, fmt.Errorf("transformer: target id %d outside the output size %d", tg, v)
			}
			ce := math.Log(float64(z)) - float64(row[tg]-mx)
			op.ce[i], op.pred[i] = ce, int32(am)
			total += float64(op.mask[i]) * ce
		}
	}
	loss := total * float64(op.scale)
	switch o := op.out.(type) {
	case *G.F32:
		*o = G.F32(loss)
	case *G.F64:
		*o = G.F64(loss)
	}
	return op.out, nil
}

func (op *crossEntropyOp[T]) DiffWRT(int) []bool { return []bool{true} }

func (op *crossEntropyOp[T]) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	bw := &crossEntropyBackOp[T]{Base: gop.Base{Name: "cross-entropy-backward"}, f: op}
	bw.dl, bw.buf = gop.NewDense[T](op.b*(op.t+btoi(op.sink)), op.v)
	d, err := G.ApplyOp(bw, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

// crossEntropyBackOp: dlogits = g · scale · mask · (p − onehot(target)); sink rows get 0.
type crossEntropyBackOp[T gop.Float] struct {
	gop.Base
	f   *crossEntropyOp[T]
	dl  *tensor.Dense
	buf []T
}

func (op *crossEntropyBackOp[T]) Arity() int    { return 1 }
func (op *crossEntropyBackOp[T]) Type() hm.Type { return gop.FnType(2, 0) }
func (op *crossEntropyBackOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.f.b * (op.f.t + btoi(op.f.sink)), op.f.v}, nil
}

func (op *crossEntropyBackOp[T]) Do(vs ...G.Value) (G.Value, error) {
	f := op.f
	var g T
	switch x := vs[0].(type) {
	case *G.F32:
		g = T(*x)
	case *G.F64:
		g = T(*x)
	default:
		return nil, fmt.Errorf("transformer: cross-entropy backward: gradient of type %T", vs[0])
	}
	v, tp, so := f.v, f.t+btoi(f.sink), btoi(f.sink)
	if f.sink {
		for b := 0; b < f.b; b++ {
			clear(op.buf[b*tp*v : (b*tp+1)*v])
		}
	}
	for b := 0; b < f.b; b++ {
		for t := 0; t < f.t; t++ {
			i := b*f.t + t
			w := g * f.scale * T(f.mask[i])
			d := op.buf[(b*tp+t+so)*v : (b*tp+t+so+1)*v]
			p := f.probs[i*v : (i+1)*v]
			for j := range d {
				d[j] = w * p[j]
			}
			d[f.targets[i]] -= w
		}
	}
	return op.dl, nil
}
