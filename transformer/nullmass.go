package transformer

import (
	"github.com/sinklab/sinklab/attention"
	"github.com/sinklab/sinklab/attention/gop"
)

// nullMass returns the mass each row of one layer's last forward pass put on
// no key, (B, H, T): the sink logit's p₀ (exact, from the op), or softmax1's
// 1 − Σ_j p_j over every key slot; nil for the other variants.
func nullMass[T gop.Float](mc ModelConfig, op *attention.MultiHeadOp[T], tk int) []float32 {
	if p0 := op.NullMass(); p0 != nil {
		out := make([]float32, len(p0))
		for i, v := range p0 {
			out[i] = float32(v)
		}
		return out
	}
	if mc.Attention != attention.VariantSoftmax1 {
		return nil
	}
	w := op.Weights()
	out := make([]float32, len(w)/tk)
	for r := range out {
		var sum float64
		for _, v := range w[r*tk : (r+1)*tk] {
			sum += float64(v)
		}
		out[r] = float32(1 - sum)
	}
	return out
}
