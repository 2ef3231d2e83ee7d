package gop

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GradCheck compares the gradients gorgonia computes through an op's SymDiff
// with central finite differences, in float64.
//
// build receives the graph and one input node per entry of inputs (each bound
// to a copy of that tensor) and returns the output node. The scalar checked is
// L = Σ rᵢ·yᵢ with r a fixed random vector, so every output element's gradient
// path is exercised. before, when not nil, runs before every forward pass (for
// ops holding non-graph state). It returns, per input, the relative error
// ‖g_ad − g_fd‖₂ / max(‖g_fd‖₂, 1e-12).
func GradCheck(inputs [][]float64, shapes [][]int, build func(g *G.ExprGraph, in G.Nodes) (*G.Node, error), h float64, seed uint64) ([]float64, error) {
	g := G.NewGraph()
	nodes := make(G.Nodes, len(inputs))
	data := make([][]float64, len(inputs))
	for i, x := range inputs {
		data[i] = append([]float64(nil), x...)
		t := tensor.New(tensor.WithShape(shapes[i]...), tensor.WithBacking(data[i]))
		nodes[i] = G.NodeFromAny(g, t, G.WithName(fmt.Sprintf("in%d", i)))
	}
	y, err := build(g, nodes)
	if err != nil {
		return nil, err
	}
	ws := &wsumOp{Base: Base{Name: "weighted-sum"}, shape: y.Shape().Clone()}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	ws.r = make([]float64, y.Shape().TotalSize())
	for i := range ws.r {
		ws.r[i] = rng.NormFloat64()
	}
	if y.Shape().IsScalar() {
		ws.r = []float64{1}
	}
	cost, err := G.ApplyOp(ws, y)
	if err != nil {
		return nil, err
	}
	if _, err := G.Grad(cost, nodes...); err != nil {
		return nil, fmt.Errorf("gop: grad: %w", err)
	}
	m := G.NewTapeMachine(g, G.BindDualValues(nodes...))
	defer m.Close()
	if err := m.RunAll(); err != nil {
		return nil, err
	}
	ad := make([][]float64, len(nodes))
	for i, n := range nodes {
		gv, err := n.Grad()
		if err != nil {
			return nil, fmt.Errorf("gop: input %d has no gradient: %w", i, err)
		}
		ad[i] = append([]float64(nil), Data[float64](gv)...)
	}
	eval := func() (float64, error) {
		m.Reset()
		if err := m.RunAll(); err != nil {
			return 0, err
		}
		return ws.last, nil
	}
	errs := make([]float64, len(nodes))
	for i := range nodes {
		var num, den float64
		for j := range data[i] {
			x := data[i][j]
			data[i][j] = x + h
			fp, err := eval()
			if err != nil {
				return nil, err
			}
			data[i][j] = x - h
			fm, err := eval()
			if err != nil {
				return nil, err
			}
			data[i][j] = x
			fd := (fp - fm) / (2 * h)
			num += (ad[i][j] - fd) * (ad[i][j] - fd)
			den += fd * fd
		}
		errs[i] = math.Sqrt(num) / math.Max(math.Sqrt(den), 1e-12)
	}
	return errs, nil
}

// wsumOp is L = Σ rᵢ·yᵢ, the scalar a gradient check differentiates.
type wsumOp struct {
	Base
	shape tensor.Shape
	r     []float64
	last  float64
}

func (op *wsumOp) Arity() int    { return 1 }
func (op *wsumOp) Type() hm.Type { return FnType(0, len(op.shape)) }
func (op *wsumOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}
func (op *wsumOp) Do(vs ...G.Value) (G.Value, error) {
	var s float64
	switch v := vs[0].(type) {
	case *G.F64:
		s = float64(*v) * op.r[0]
	default:
		for i, x := range Data[float64](v) {
			s += op.r[i] * x
		}
	}
	op.last = s
	return G.NewF64(s), nil
}
func (op *wsumOp) DiffWRT(int) []bool { return []bool{true} }
func (op *wsumOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	b := &wsumBackOp{Base: Base{Name: "weighted-sum-backward"}, f: op}
	n, err := G.ApplyOp(b, grad)
	return G.Nodes{n}, err
}

type wsumBackOp struct {
	Base
	f *wsumOp
}

func (op *wsumBackOp) Arity() int    { return 1 }
func (op *wsumBackOp) Type() hm.Type { return FnType(len(op.f.shape), 0) }
func (op *wsumBackOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.f.shape.Clone(), nil
}
func (op *wsumBackOp) Do(vs ...G.Value) (G.Value, error) {
	g := float64(*vs[0].(*G.F64))
	if op.f.shape.IsScalar() {
		return G.NewF64(g), nil
	}
	out := make([]float64, len(op.f.r))
	for i, r := range op.f.r {
		out[i] = g * r
	}
	return tensor.New(tensor.WithShape(op.f.shape...), tensor.WithBacking(out)), nil
}
