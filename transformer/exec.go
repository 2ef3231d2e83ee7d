package transformer

import (
	"fmt"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// executor runs a compiled gorgonia graph (forward and, for training graphs,
// the backward nodes G.Grad added) in topological order, calling each op's Do
// with a preallocated argument slice.
//
// It replaces gorgonia's TapeMachine for the training step: the TapeMachine
// allocates on every run (an argument slice per op, type inference when it
// binds gradients to dual values, a goroutine and channels per RunAll), about
// 1,400 allocations per step on the tiny config. Here every op returns a
// buffer it owns (our ops) or writes into one allocated once (gorgonia's own
// elementwise adds, through UsePreallocDo), so a steady-state step allocates
// nothing. Gradients are read from the gradient nodes' values, which are
// recomputed (not accumulated) by every run.
type executor struct {
	steps  []execStep
	values []G.Value // by position in the topological order
	index  map[*G.Node]int
}

type execStep struct {
	node     *G.Node
	op       G.Op
	out      int
	in       []int
	args     []G.Value
	prealloc G.Value // for gorgonia ops with UsePreallocDo
	add      bool    // gorgonia's elementwise add, done here into prealloc
}

// newExecutor orders the graph's nodes and binds the input nodes' values.
func newExecutor(g *G.ExprGraph) (*executor, error) {
	sorted, err := G.Sort(g)
	if err != nil {
		return nil, fmt.Errorf("transformer: order the graph: %w", err)
	}
	n := len(sorted)
	e := &executor{values: make([]G.Value, n), index: make(map[*G.Node]int, n)}
	for i := range sorted { // Sort gives outputs first; run inputs first.
		e.index[sorted[n-1-i]] = i
	}
	for i := 0; i < n; i++ {
		node := sorted[n-1-i]
		if node.Op() == nil {
			if node.Value() == nil {
				return nil, fmt.Errorf("transformer: input node %s has no value", node.Name())
			}
			e.values[i] = node.Value()
			continue
		}
		st := execStep{node: node, op: node.Op(), out: i}
		for it := g.From(node.ID()); it.Next(); {
			c := it.Node().(*G.Node)
			j, ok := e.index[c]
			if !ok || j >= i {
				return nil, fmt.Errorf("transformer: node %s is not ordered after its input %s", node.Name(), c.Name())
			}
			st.in = append(st.in, j)
		}
		st.args = make([]G.Value, len(st.in))
		if _, ok := st.op.(G.UsePreallocDoer); ok && !node.Shape().IsScalar() {
			st.prealloc = tensor.New(tensor.WithShape(node.Shape().Clone()...), tensor.Of(node.Dtype()))
			// G.Grad sums the gradients of a node with several consumers with
			// gorgonia's elementwise add, whose UsePreallocDo still allocates
			// option closures on every call: do that sum here.
			st.add = strings.HasPrefix(st.op.String(), "+ ") && len(st.in) == 2
		}
		e.steps = append(e.steps, st)
	}
	return e, nil
}

// run executes every op once.
func (e *executor) run() error {
	for k := range e.steps {
		st := &e.steps[k]
		for a, j := range st.in {
			st.args[a] = e.values[j]
		}
		var v G.Value
		var err error
		switch {
		case st.add && addInto(st.prealloc, st.args[0], st.args[1]):
			v = st.prealloc
		case st.prealloc != nil:
			v, err = st.op.(G.UsePreallocDoer).UsePreallocDo(st.prealloc, st.args...)
		default:
			v, err = st.op.Do(st.args...)
		}
		if err != nil {
			return fmt.Errorf("transformer: %s: %w", st.op, err)
		}
		e.values[st.out] = v
	}
	return nil
}

// value returns the value a node had in the last run.
func (e *executor) value(n *G.Node) (G.Value, error) {
	i, ok := e.index[n]
	if !ok || e.values[i] == nil {
		return nil, fmt.Errorf("transformer: node %s has no value", n.Name())
	}
	return e.values[i], nil
}

// addInto writes a + b into dst when all three are dense tensors of one
// floating type and size; it reports false (and writes nothing) otherwise.
func addInto(dst, a, b G.Value) bool {
	d, ok1 := dst.(*tensor.Dense)
	x, ok2 := a.(*tensor.Dense)
	y, ok3 := b.(*tensor.Dense)
	if !ok1 || !ok2 || !ok3 || d.Len() != x.Len() || d.Len() != y.Len() || d.Dtype() != x.Dtype() || d.Dtype() != y.Dtype() {
		return false
	}
	switch d.Dtype() {
	case tensor.Float32:
		o, p, q := d.Float32s(), x.Float32s(), y.Float32s()
		for i := range o {
			o[i] = p[i] + q[i]
		}
	case tensor.Float64:
		o, p, q := d.Float64s(), x.Float64s(), y.Float64s()
		for i := range o {
			o[i] = p[i] + q[i]
		}
	default:
		return false
	}
	return true
}
