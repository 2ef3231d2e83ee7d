package attention

import (
	"fmt"

	"github.com/sinklab/sinklab/attention/gop"
)

// Replicator probes (SCIENCE.md §3b): the gradient flow of a head's scores on
// a fixed batch, ṡ = −∂L/∂S, and the rate it moves the weights, ṗ = J ṡ with
// J = ∂P/∂S the variant's row Jacobian. For softmax this is the replicator
// equation ṗᵢⱼ = pᵢⱼ(ṡᵢⱼ − Σₖ pᵢₖ ṡᵢₖ) with ṡᵢⱼ = pᵢⱼ fᵢⱼ.

// CaptureGrads turns on (or off) keeping the upstream gradients of the
// backward pass: ∂L/∂P and ∂L/∂S of every head, read with UpstreamGrad and
// ScoreGrad. It allocates the two (B, H, T, Tk) buffers once; a training
// graph leaves it off, so its step stays allocation-free and copy-free.
func (op *MultiHeadOp[T]) CaptureGrads(on bool) {
	if !on {
		op.gP, op.gS = nil, nil
		return
	}
	if op.gP == nil {
		op.gP = make([]T, len(op.p))
		op.gS = make([]T, len(op.p))
	}
}

// UpstreamGrad returns G = ∂L/∂P of the last backward pass, (B, H, T, Tk) in
// the layout of Weights (entries at keys a row cannot see are meaningless),
// or nil when CaptureGrads is off. The slice is the op's own buffer.
func (op *MultiHeadOp[T]) UpstreamGrad() []T { return op.gP }

// ScoreGrad returns ∂L/∂S of the last backward pass, (B, H, T, Tk), zero at
// keys a row cannot see, or nil when CaptureGrads is off. The slice is the
// op's own buffer.
func (op *MultiHeadOp[T]) ScoreGrad() []T { return op.gS }

// FlowRates writes ṗ = J·ṡ with ṡ = −∂L/∂S (the last backward's ScoreGrad)
// into pdot (B, H, T, Tk), row by row through the variant's exact Jacobian at
// the last forward's scores and weights; pdot is zero at keys a row cannot
// see. It needs CaptureGrads on and a backward pass after the forward.
func (op *MultiHeadOp[T]) FlowRates(pdot []T) error {
	if op.gS == nil {
		return fmt.Errorf("attention: FlowRates needs CaptureGrads on")
	}
	if len(pdot) != len(op.p) {
		return fmt.Errorf("attention: FlowRates: pdot has %d values, want B·H·T·Tk = %d", len(pdot), len(op.p))
	}
	c, tk := op.cfg, op.tk
	sdot := make([]T, tk)
	scratch := make([]T, 3*tk)
	for r := 0; r < c.B*c.H*c.T; r++ {
		n := op.visible(r % c.T)
		for j := range sdot {
			sdot[j] = -op.gS[r*tk+j]
		}
		rowJVP(op.v, op.s[r*tk:(r+1)*tk], op.p[r*tk:(r+1)*tk], sdot, pdot[r*tk:(r+1)*tk], n, op.z[r], scratch)
	}
	return nil
}

// PerturbWeight makes every later forward pass add eps to the weight at flat
// index i of Weights (B, H, T, Tk) right after the normalization, so that
// the loss is a function of that one weight: a test hook for checking
// UpstreamGrad against finite differences. eps = 0 turns it off.
func (op *MultiHeadOp[T]) PerturbWeight(i int, eps T) {
	op.bumpOn, op.bumpAt, op.bumpEps = eps != 0, i, eps
}

// ReplicatorRow computes, for one row of n scores s under the named variant
// and the upstream gradient g = ∂L/∂p, the weights p = normalize(s), the score
// gradient ds = ∂L/∂s = Jᵀg and the flow rate pdot = J·(−ds). Every slice has
// length n. It is the per-row computation of CaptureGrads and FlowRates, for
// a single head with a single query (the value-softmax toy model).
func ReplicatorRow(variant string, s, g, p, ds, pdot []float64) error {
	v, err := parseVariant(variant)
	if err != nil {
		return err
	}
	n := len(s)
	if len(g) != n || len(p) != n || len(ds) != n || len(pdot) != n {
		return fmt.Errorf("attention: ReplicatorRow: lengths s %d, g %d, p %d, ds %d, pdot %d differ",
			n, len(g), len(p), len(ds), len(pdot))
	}
	z := rowForward(v, s, p, n)
	rowBackward(v, s, p, g, ds, n, z)
	sdot := make([]float64, n)
	for j, x := range ds {
		sdot[j] = -x
	}
	rowJVP(v, s, p, sdot, pdot, n, z, make([]float64, 3*n))
	return nil
}

// rowJVP writes pdot[:n] = (∂p/∂s)·u for one row (pdot[n:] = 0), given the
// scores s, weights p and normalizer z from rowForward: the forward-mode
// counterpart of rowBackward (⟨a, J u⟩ = ⟨Jᵀa, u⟩). scratch holds at least
// 3·len(s) values; it is used only by the generic fallback.
func rowJVP[T gop.Float](v attnVariant, s, p, u, pdot []T, n int, z T, scratch []T) {
	clear(pdot[n:])
	s, p, u, pdot = s[:n], p[:n], u[:n], pdot[:n]
	switch v {
	case avSoftmax, avSoftmax1:
		pu := dotProd(p, u)
		for j := range pdot {
			pdot[j] = p[j] * (u[j] - pu)
		}
	case avSigmoid:
		for j := range pdot {
			pdot[j] = p[j] * (1 - p[j]) * u[j]
		}
	case avSigmoidNorm:
		var du T
		for j := range p {
			d := p[j] * (1 - p[j]*z) // σ'(s_j)/Σσ
			pdot[j] = d * u[j]
			du += pdot[j]
		}
		for j := range pdot {
			pdot[j] -= p[j] * du
		}
	case avElu, avDot, avKernel, avMLP:
		rowBackward(v, s, p, u, pdot, n, z) // a diagonal Jacobian: J u = Jᵀu
	case avEluNorm:
		var du T
		for j, x := range s {
			d := p[j] // e^x / z
			if x > 0 {
				d = 1 / z
			}
			pdot[j] = d * u[j]
			du += pdot[j]
		}
		for j := range pdot {
			pdot[j] -= p[j] * du
		}
	case avDotNorm:
		sg := dotNormSign(s)
		if sg == 0 {
			copy(pdot, u)
			return
		}
		su := sumOf(u)
		for j := range pdot {
			pdot[j] = (u[j] - sg*p[j]*su) / z
		}
	case avReluNorm:
		if z <= 0 {
			clear(pdot)
			return
		}
		var ru T
		for j, x := range s {
			if x > 0 {
				ru += u[j]
			}
		}
		for j, x := range s {
			pdot[j] = -p[j] * ru / z
			if x > 0 {
				pdot[j] += u[j] / z
			}
		}
	default:
		jacobianJVP(v, s, p, u, pdot, n, z, scratch)
	}
}

// jacobianJVP writes pdot[:n] = J·u for any variant from its backward, one
// row of J per key: (J u)_k = ⟨Jᵀe_k, u⟩; O(n²) per row. It is rowJVP's
// fallback for variants without a closed form. scratch holds ≥ 2n values.
func jacobianJVP[T gop.Float](v attnVariant, s, p, u, pdot []T, n int, z T, scratch []T) {
	e, col := scratch[:len(s)], scratch[len(s):2*len(s)]
	clear(e)
	for k := 0; k < n; k++ {
		e[k] = 1
		rowBackward(v, s, p, e, col, n, z)
		e[k] = 0
		var acc T
		for j := 0; j < n; j++ {
			acc += col[j] * u[j]
		}
		pdot[k] = acc
	}
	clear(pdot[n:])
}
