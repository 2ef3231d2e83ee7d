package attention

// Flow is the exact gradient flow of a toy model (SCIENCE.md §1):
// V̇ = −∂L/∂V and ȧ = −∂L/∂a, the continuous-time limit of Toy.Step, on the
// packed state y = [V (D·N) | a (N)]. For softmax, ȧ is the replicator field
// ȧᵢ = σᵢ (wᵢ − Σⱼ σⱼ wⱼ) with w = −Vᵀ∇ℓ(y). Field is the right-hand side
// to give an ODE integrator such as DOPRI54.
type Flow struct {
	m *Toy
}

// NewFlow returns the gradient flow of m's loss and normalizer. It keeps a
// copy of m: later changes to m do not reach it.
func NewFlow(m *Toy) *Flow { return &Flow{m: m.Clone()} }

// Dim returns the length of the packed state, D·N + N.
func (f *Flow) Dim() int { return f.m.D*f.m.N + f.m.N }

// Pack writes the state [V | a] of model m (same shapes as the flow's) into
// dst (Dim()) and returns dst.
func (f *Flow) Pack(dst []float64, m *Toy) []float64 {
	checkLen("flow pack", f.Dim(), dst)
	checkLen("flow pack: V", f.m.D*f.m.N, m.V)
	copy(dst, m.V)
	copy(dst[len(m.V):], m.A)
	return dst
}

// split returns views of V (D, N) and a (N) inside the packed state y.
func (f *Flow) split(y []float64) (V, A []float64) {
	checkLen("flow state", f.Dim(), y)
	dn := f.m.D * f.m.N
	return y[:dn:dn], y[dn:]
}

// Field writes the vector field −∇L(y) into dy. It is an ODEFunc; it
// allocates nothing and is not safe for concurrent use.
func (f *Flow) Field(_ float64, y, dy []float64) {
	V, A := f.split(y)
	dV, dA := f.split(dy)
	f.m.gradAt(V, A, dV, dA)
	for i := range dy {
		dy[i] = -dy[i]
	}
}

// Weights returns the loss at state y and writes the weights σ (N) there into
// alpha.
func (f *Flow) Weights(y, alpha []float64) float64 {
	checkLen("flow weights", f.m.N, alpha)
	V, A := f.split(y)
	return f.m.lossAt(V, A, alpha)
}
