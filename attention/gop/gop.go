// Package gop is the plumbing shared by sinklab's hand-written gorgonia ops
// (attention in package attention; LayerNorm, GELU, linear, embedding and
// cross-entropy in package transformer).
//
// gorgonia's G.Grad uses only symbolic differentiation (SDOp.SymDiff). An op with
// several differentiable inputs gets one companion backward op that writes every
// input gradient into one op-owned packed buffer; cheap zero-copy Pick ops return
// views of it, one per input. All ops here return op-owned buffers that are
// reused across steps (ReturnsPtr false), so a training step allocates nothing
// for them, and every op hashes by its own address so that gorgonia never merges
// two stateful ops into one node.
package gop

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Float is the element type of every op: float32 for training, float64 for
// gradient checks.
type Float interface{ ~float32 | ~float64 }

// Dtype returns gorgonia's dtype for T.
func Dtype[T Float]() tensor.Dtype {
	var z T
	if _, ok := any(z).(float32); ok {
		return tensor.Float32
	}
	return tensor.Float64
}

// Base implements the bookkeeping methods of G.Op for ops that return op-owned
// buffers and never overwrite their inputs. Embed it by value and set Name.
type Base struct {
	Name string
}

// ReturnsPtr is false: the output is an op-owned buffer.
func (b *Base) ReturnsPtr() bool { return false }

// CallsExtern is false: kernels are plain Go and Go assembly.
func (b *Base) CallsExtern() bool { return false }

// OverwritesInput is −1: inputs are never written.
func (b *Base) OverwritesInput() int { return -1 }

// String names the op.
func (b *Base) String() string { return b.Name }

// WriteHash writes the op's name and address, so that each op instance is unique.
func (b *Base) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s@%p", b.Name, b) }

// Hashcode hashes WriteHash.
func (b *Base) Hashcode() uint32 {
	h := fnv.New32a()
	b.WriteHash(h)
	return h.Sum32()
}

// FnType returns the gorgonia type of an op taking tensors of the given ranks
// and returning a tensor of rank out (0 = scalar), all of one dtype variable.
func FnType(out int, in ...int) hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(in)+1)
	for _, d := range in {
		ts = append(ts, tt(d, a))
	}
	ts = append(ts, tt(out, a))
	return hm.NewFnType(ts...)
}

func tt(d int, a hm.TypeVariable) hm.Type {
	if d == 0 {
		return a
	}
	return G.TensorType{Dims: d, Of: a}
}

// Data returns the backing slice of a dense tensor value without allocating.
func Data[T Float](v G.Value) []T {
	d, ok := v.(*tensor.Dense)
	if !ok {
		panic(fmt.Sprintf("gop: want *tensor.Dense, got %T", v))
	}
	var z T
	switch any(z).(type) {
	case float32:
		s := d.Float32s()
		return any(s).([]T)
	default:
		s := d.Float64s()
		return any(s).([]T)
	}
}

// NewDense allocates an op-owned dense tensor of the given shape.
func NewDense[T Float](shape ...int) (*tensor.Dense, []T) {
	buf := make([]T, prod(shape))
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(buf)), buf
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// pickOp returns a fixed view (offset, shape) of a packed gradient buffer.
type pickOp[T Float] struct {
	Base
	off   int
	shape []int
	view  *tensor.Dense // cached view over the packed buffer
	src   []T           // the packed buffer the cached view points into
}

// Pick returns a node that views elements [off, off+prod(shape)) of the 1-D
// packed node as a tensor of the given shape. It copies nothing: the view is
// built once over the backward op's buffer.
func Pick[T Float](packed *G.Node, off int, shape ...int) (*G.Node, error) {
	op := &pickOp[T]{Base: Base{Name: fmt.Sprintf("pick[%d:%v]", off, shape)}, off: off, shape: append([]int(nil), shape...)}
	return G.ApplyOp(op, packed)
}

// Picks splits a packed gradient buffer into consecutive views of the given
// shapes, in order (the usual way an op's backward returns several gradients
// from one buffer).
func Picks[T Float](packed *G.Node, shapes ...[]int) (G.Nodes, error) {
	res := make(G.Nodes, 0, len(shapes))
	off := 0
	for _, s := range shapes {
		p, err := Pick[T](packed, off, s...)
		if err != nil {
			return nil, err
		}
		res = append(res, p)
		off += prod(s)
	}
	return res, nil
}

func (op *pickOp[T]) Arity() int    { return 1 }
func (op *pickOp[T]) Type() hm.Type { return FnType(len(op.shape), 1) }
func (op *pickOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.shape...)), nil
}

func (op *pickOp[T]) Do(vs ...G.Value) (G.Value, error) {
	src := Data[T](vs[0])
	n := prod(op.shape)
	if op.off+n > len(src) {
		return nil, fmt.Errorf("gop: pick [%d:%d] out of a packed buffer of %d", op.off, op.off+n, len(src))
	}
	if op.view == nil || len(op.src) == 0 || &op.src[0] != &src[0] {
		op.src = src
		op.view = tensor.New(tensor.WithShape(op.shape...), tensor.WithBacking(src[op.off:op.off+n]))
	}
	return op.view, nil
}
