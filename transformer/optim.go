package transformer

import (
	"math"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/attention/vmath"
)

// optimizer updates the parameters in place from summed gradients. It is our
// own, not gorgonia's: gorgonia v0.9.18's NewAdamW never updates the weights,
// and a fused loop here allocates nothing.
type optimizer[T gop.Float] struct {
	cfg  OptimConfig
	m, v [][]T // Adam's first and second moments (SGD's momentum buffer in m)
	t    int   // number of updates applied
}

func newOptimizer[T gop.Float](cfg OptimConfig, params []*Param[T]) *optimizer[T] {
	o := &optimizer[T]{cfg: cfg}
	for _, p := range params {
		o.m = append(o.m, make([]T, len(p.Data)))
		if cfg.Name == "adamw" {
			o.v = append(o.v, make([]T, len(p.Data)))
		}
	}
	return o
}

// lrAt is the learning rate of step (0-based) out of total: constant, or a
// linear warm-up followed by a cosine decay to lr·min_lr_ratio.
func lrAt(c OptimConfig, step, total int) float64 {
	if c.Schedule != "warmup-cosine" {
		return c.LR
	}
	if step < c.Warmup {
		return c.LR * float64(step+1) / float64(c.Warmup)
	}
	span := total - c.Warmup
	if span <= 1 {
		return c.LR
	}
	frac := float64(step-c.Warmup) / float64(span-1)
	min := c.LR * c.MinLRRatio
	return min + 0.5*(c.LR-min)*(1+math.Cos(math.Pi*frac))
}

// decays reports whether weight decay applies to p: every tensor with
// optim.decay = all, matrices and embeddings only with optim.decay = matrices.
func (o *optimizer[T]) decays(p *Param[T]) bool {
	return o.cfg.Decay != DecayMatrices || p.Decay
}

// step applies one update with learning rate lr.
//
// AdamW (PyTorch's order): w ← w·(1 − lr·wd) for decayed tensors (see decays), then
// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², w ← w − lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε).
// SGD: g ← g + wd·w for decayed tensors, b ← μb + g, w ← w − lr·b.
func (o *optimizer[T]) step(params []*Param[T], grads [][]T, lr float64) {
	o.t++
	c := o.cfg
	switch c.Name {
	case "adamw":
		b1, b2 := c.Beta1, c.Beta2
		bc1 := 1 - math.Pow(b1, float64(o.t))
		bc2 := 1 - math.Pow(b2, float64(o.t))
		stepSize := T(lr / bc1)
		rbc2 := 1 / math.Sqrt(bc2)
		eps := T(c.Eps)
		for i, p := range params {
			w, g, m, v := p.Data, grads[i], o.m[i], o.v[i]
			decay := T(1)
			if o.decays(p) {
				decay = T(1 - lr*c.WeightDecay)
			}
			B1, B2 := T(b1), T(b2)
			if w32, ok := any(w).([]float32); ok {
				vmath.AdamW(w32, any(g).([]float32), any(m).([]float32), any(v).([]float32),
					float32(b1), float32(b2), float32(decay), float32(stepSize), float32(rbc2), float32(eps))
				continue
			}
			for j := range w {
				gj := g[j]
				m[j] = B1*m[j] + (1-B1)*gj
				v[j] = B2*v[j] + (1-B2)*gj*gj
				denom := T(math.Sqrt(float64(v[j])))*T(rbc2) + eps
				w[j] = w[j]*decay - stepSize*m[j]/denom
			}
		}
	default: // sgd
		mu, wd := T(c.Momentum), T(c.WeightDecay)
		for i, p := range params {
			w, g, b := p.Data, grads[i], o.m[i]
			decays := o.decays(p)
			for j := range w {
				gj := g[j]
				if decays {
					gj += wd * w[j]
				}
				if mu != 0 {
					b[j] = mu*b[j] + gj
					gj = b[j]
				}
				w[j] -= T(lr) * gj
			}
		}
	}
}
