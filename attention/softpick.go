package attention

import (
	"github.com/sinklab/sinklab/attention/gop"
)

// Softpick (Zuhri, Fuadi, Aji 2025, "Softpick: No Attention Sink, No Massive
// Activations with Rectified Softmax", arXiv 2504.20966) is the rectified
// softmax
//
//	softpick(s)_j = relu(e^{s_j} − 1) / (Σ_k |e^{s_k} − 1| + ε),  ε = 1e-8,
//
// over the visible keys of a row. We compute it exactly as the authors'
// reference code does (github.com/zaydzuhri/softpick-attention,
// naive_softpick_attn.py, softpick(x, eps=1e-8)): with m = max_k s_k, both
// sides are multiplied by e^{−m},
//
//	p_j = relu(e^{s_j−m} − e^{−m}) / (Σ_k |e^{s_k−m} − e^{−m}| + ε),
//
// which is the formula above with ε scaled to ε·e^{m}; masked keys do not
// enter the sum. Keys with s_j ≤ 0 get exactly 0, and a row whose scores are
// all ≤ 0 is all zero: the head attends to nothing. Rows sum to less than 1.
//
// The backward pass differentiates that function, m included (PyTorch's
// autograd does the same through torch.max): with a_k = e^{s_k−m},
// e_k = a_k − e^{−m}, D = Σ_k |e_k| + ε and G = Σ_j p_j g_j,
//
//	∂L/∂s_k = (1[e_k > 0]·a_k·g_k − sign(e_k)·a_k·G − ε·1[k = argmax]·G) / D.

// softpickEps is the ε of the authors' softpick.
const softpickEps = 1e-8

// softpickForward writes softpick(s) into p (same length) and returns the
// denominator D = Σ_k |e^{s_k−m} − e^{−m}| + ε.
func softpickForward[T gop.Float](s, p []T) T {
	m := s[0]
	for _, x := range s[1:] {
		m = max(m, x)
	}
	c := gop.Exp(-m)
	gop.ExpShift(s, p, m) // p = e^{s−m}
	var den T
	for j := range p {
		e := p[j] - c
		if e > 0 {
			den += e
			p[j] = e
		} else {
			den -= e
			p[j] = 0
		}
	}
	den += softpickEps
	inv := 1 / den
	for j := range p {
		p[j] *= inv
	}
	return den
}

// softpickBackward writes ds = (∂p/∂s)ᵀ dp for one row of visible keys, given
// the scores s, the denominator den from softpickForward and
// pdp = Σ_j p_j dp_j.
func softpickBackward[T gop.Float](s, dp, ds []T, den, pdp T) {
	m, am := s[0], 0
	for j, x := range s[1:] {
		if x > m {
			m, am = x, j+1
		}
	}
	c := gop.Exp(-m)
	for k, x := range s {
		a := gop.Exp(x - m)
		switch e := a - c; {
		case e > 0:
			ds[k] = a * (dp[k] - pdp) / den
		case e < 0:
			ds[k] = a * pdp / den
		default:
			ds[k] = 0
		}
	}
	ds[am] -= softpickEps * pdp / den
}
