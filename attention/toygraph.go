package attention

import (
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ToyGraph is a Toy built as a gorgonia expression graph: gorgonia's autodiff
// computes the gradients and its VanillaSolver takes the gradient-descent
// steps. It shares the Toy's parameter slices (V and A back the graph's
// tensors), so the Toy always holds the current parameters.
//
// The normalizers are composed from gorgonia primitives, never G.SoftMax (whose
// forward pass returns NaN rows, see dependencies.md) nor G.LogSumExp (which
// computes log(Σexp(x−m) + m)): softmax is exp(x − max x) / Σ exp(x − max x)
// and softmax1 shifts by max(0, max x). The shift's own gradient is zero, as
// the expression does not depend on it.
type ToyGraph struct {
	toy      *Toy
	g        *G.ExprGraph
	v, a     *G.Node
	vm       G.VM
	loss     G.Value
	solver   *G.VanillaSolver
	solverLR float64
}

// NewToyGraph builds the graph of m's loss and a tape machine for it.
func NewToyGraph(m *Toy) (*ToyGraph, error) {
	tg := &ToyGraph{toy: m, g: G.NewGraph()}
	if err := tg.build(); err != nil {
		return nil, fmt.Errorf("attention: toy graph (%s, %s): %w", m.Loss, m.Norm.Name(), err)
	}
	return tg, nil
}

func (tg *ToyGraph) build() error {
	m, g := tg.toy, tg.g
	n, d := m.N, m.D
	vec := func(name string, data []float64) *G.Node {
		return G.NewVector(g, tensor.Float64, G.WithShape(len(data)), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(len(data)), tensor.WithBacking(data))))
	}
	tg.v = G.NewMatrix(g, tensor.Float64, G.WithShape(d, n), G.WithName("V"),
		G.WithValue(tensor.New(tensor.WithShape(d, n), tensor.WithBacking(m.V))))
	tg.a = vec("a", m.A)

	// e collects the first error of a chain of gorgonia calls.
	var err error
	e := func(n *G.Node, e error) *G.Node {
		if err == nil && e != nil {
			err = e
		}
		return n
	}
	logits := tg.a // (N)
	if m.Loss == Tied {
		logits = e(G.Mul(tg.v, tg.a)) // (D) = (N)
	}
	if err != nil {
		return err
	}
	sigma, err := normalizerGraph(g, m.Norm.Name(), logits) // (N)
	if err != nil {
		return err
	}
	y := e(G.Mul(tg.v, sigma)) // (D)
	if err != nil {
		return err
	}
	var cost *G.Node
	switch m.Loss {
	case Logistic, Tied: // softplus(−βᵀy)
		z := e(G.Mul(vec("beta", m.Beta), y))
		cost = e(G.Softplus(e(G.Neg(z))))
	case Square: // ½‖y − β‖²
		s := e(G.Sum(e(G.Square(e(G.Sub(y, vec("beta", m.Beta)))))))
		cost = e(G.Mul(G.NewConstant(0.5), s))
	case Regression: // ‖β − X y‖²
		x := G.NewMatrix(g, tensor.Float64, G.WithShape(m.M, d), G.WithName("X"),
			G.WithValue(tensor.New(tensor.WithShape(m.M, d), tensor.WithBacking(m.X))))
		r := e(G.Sub(vec("beta", m.Beta), e(G.Mul(x, y))))
		cost = e(G.Sum(e(G.Square(r))))
	case CrossEntropy: // log Σ exp(y) − p*ᵀy, shifted by max y
		mx := e(G.Max(y))
		lse := e(G.Add(e(G.Log(e(G.Sum(e(G.Exp(e(G.Sub(y, mx)))))))), mx))
		cost = e(G.Sub(lse, e(G.Mul(vec("pstar", m.PStar), y))))
	default:
		return fmt.Errorf("unknown loss %v", m.Loss)
	}
	if err != nil {
		return err
	}
	G.Read(cost, &tg.loss)
	if _, err := G.Grad(cost, tg.v, tg.a); err != nil {
		return err
	}
	tg.vm = G.NewTapeMachine(g, G.BindDualValues(tg.v, tg.a))
	return nil
}

// normalizerGraph returns the node of α(x) for the named normalizer.
func normalizerGraph(g *G.ExprGraph, name string, x *G.Node) (*G.Node, error) {
	var err error
	e := func(n *G.Node, e error) *G.Node {
		if err == nil && e != nil {
			err = e
		}
		return n
	}
	var out *G.Node
	switch name {
	case "softmax":
		ex := e(G.Exp(e(G.Sub(x, e(G.Max(x))))))
		out = e(G.Div(ex, e(G.Sum(ex))))
	case "softmax1":
		zero := G.NewVector(g, tensor.Float64, G.WithShape(1), G.WithName("zero"),
			G.WithValue(tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{0}))))
		m := e(G.Max(e(G.Concat(0, x, zero)))) // max(0, max x)
		ex := e(G.Exp(e(G.Sub(x, m))))
		den := e(G.Add(e(G.Exp(e(G.Neg(m)))), e(G.Sum(ex))))
		out = e(G.Div(ex, den))
	case "l1":
		ab := e(G.Abs(x))
		out = e(G.Div(ab, e(G.Sum(ab))))
	case "sum":
		out = e(G.Div(x, e(G.Sum(x))))
	case "l2":
		sq := e(G.Square(x))
		out = e(G.Div(sq, e(G.Sum(sq))))
	case "relu":
		r := e(G.Rectify(x))
		out = e(G.Div(r, e(G.Sum(r))))
	case "sigmoid":
		out = e(G.Sigmoid(x))
	default:
		return nil, fmt.Errorf("normalizer %q has no graph", name)
	}
	return out, err
}

// run evaluates the graph and its gradients once and returns the loss.
func (tg *ToyGraph) run() (float64, error) {
	if err := tg.vm.RunAll(); err != nil {
		return 0, err
	}
	defer tg.vm.Reset()
	l, ok := tg.loss.Data().(float64)
	if !ok {
		return 0, fmt.Errorf("loss value is %T", tg.loss.Data())
	}
	return l, nil
}

// Gradient writes gorgonia's ∂L/∂V (D, N) into dV and ∂L/∂a (N) into dA at
// the current parameters and returns the loss. It leaves the accumulated
// gradients at zero.
func (tg *ToyGraph) Gradient(dV, dA []float64) (float64, error) {
	checkLen("toy graph gradient dV", len(tg.toy.V), dV)
	checkLen("toy graph gradient dA", len(tg.toy.A), dA)
	l, err := tg.run()
	if err != nil {
		return 0, fmt.Errorf("attention: toy graph: %w", err)
	}
	for _, p := range []struct {
		n   *G.Node
		dst []float64
	}{{tg.v, dV}, {tg.a, dA}} {
		gv, err := p.n.Grad()
		if err != nil {
			return 0, fmt.Errorf("attention: toy graph: gradient of %s: %w", p.n.Name(), err)
		}
		t, ok := gv.(*tensor.Dense)
		if !ok {
			return 0, fmt.Errorf("attention: toy graph: gradient of %s is %T", p.n.Name(), gv)
		}
		copy(p.dst, t.Float64s())
		t.Zero() // gradients accumulate across runs
	}
	return l, nil
}

// Step takes one gradient-descent step with gorgonia's VanillaSolver and
// returns the loss before it.
func (tg *ToyGraph) Step(lr float64) (float64, error) {
	if tg.solver == nil || tg.solverLR != lr {
		tg.solver, tg.solverLR = G.NewVanillaSolver(G.WithLearnRate(lr)), lr
	}
	l, err := tg.run()
	if err != nil {
		return 0, fmt.Errorf("attention: toy graph: %w", err)
	}
	if err := tg.solver.Step(G.NodesToValueGrads(G.Nodes{tg.v, tg.a})); err != nil {
		return 0, fmt.Errorf("attention: toy graph: solver: %w", err)
	}
	if err := tg.checkShared(); err != nil {
		return 0, err
	}
	return l, nil
}

// checkShared verifies that the graph still updates the Toy's own slices.
func (tg *ToyGraph) checkShared() error {
	for _, p := range []struct {
		n    *G.Node
		data []float64
	}{{tg.v, tg.toy.V}, {tg.a, tg.toy.A}} {
		t, ok := p.n.Value().(*tensor.Dense)
		if !ok || len(t.Float64s()) == 0 || &t.Float64s()[0] != &p.data[0] {
			return errors.New("attention: toy graph: parameters no longer share the toy's memory")
		}
	}
	return nil
}

// Close releases the tape machine.
func (tg *ToyGraph) Close() error {
	if tg.vm != nil {
		return tg.vm.Close()
	}
	return nil
}
