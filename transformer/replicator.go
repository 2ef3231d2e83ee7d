package transformer

import (
	"fmt"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/transformer/capture"
)

// probeGraph returns the forward-and-backward graph of the replicator probes
// for batches of b sequences: a training graph of its own (its own op
// buffers and gradient nodes; the parameters are shared read-only), with the
// attention ops keeping ∂L/∂P and ∂L/∂S. Running it changes nothing the
// training step reads: not the training graphs, the optimizer, the data
// stream or the parameters. The loss is the training loss (mean over the
// batch's sequences).
func (tr *Trainer[T]) probeGraph(b int) (*graph[T], error) {
	if tr.probe != nil && tr.probe.b == b {
		return tr.probe, nil
	}
	g, err := buildGraph(tr.Model, b, true, T(1/float64(b)))
	if err != nil {
		return nil, fmt.Errorf("transformer: replicator probe graph: %w", err)
	}
	for _, op := range g.attn {
		op.CaptureGrads(true)
	}
	tr.probe = g
	return g, nil
}

// captureFlow is CaptureBatch with the replicator probes: one forward and
// backward pass on batch b (no optimizer update) whose capture also holds,
// per layer, the weights over every key slot P, G = ∂L/∂P, ∂L/∂S and the
// flow rates ṗ = J·(−∂L/∂S) (capture.Flow). The graph and the Flow's float64
// tensors (4·L·B·H·T·Tk values, the bulk of a probe step's memory) are
// reused between probe steps: a capture's Flow is valid until the next
// Capture.
func (tr *Trainer[T]) captureFlow(b *data.Batch) (*capture.Capture, error) {
	g, err := tr.probeGraph(b.B)
	if err != nil {
		return nil, err
	}
	if err := g.run(b.Inputs, b.Targets, b.Mask); err != nil {
		return nil, fmt.Errorf("transformer: replicator probe pass: %w", err)
	}
	c := tr.captureOf(g, b)
	tk := g.attn[0].KeySlots()
	n := len(g.attn[0].Weights())
	f := tr.flow
	if f == nil || len(f.P) != len(g.attn) || len(f.P[0]) != n {
		f = &capture.Flow{}
		for range g.attn {
			f.P = append(f.P, make([]float64, n))
			f.G = append(f.G, make([]float64, n))
			f.DS = append(f.DS, make([]float64, n))
			f.PDot = append(f.PDot, make([]float64, n))
		}
		tr.flow, tr.pdot = f, make([]T, n)
	}
	f.Tk, f.Off = tk, tk-c.T
	for l, op := range g.attn {
		if err := op.FlowRates(tr.pdot); err != nil {
			return nil, fmt.Errorf("transformer: replicator probes: %w", err)
		}
		toF64(f.P[l], op.Weights())
		toF64(f.G[l], op.UpstreamGrad())
		toF64(f.DS[l], op.ScoreGrad())
		toF64(f.PDot[l], tr.pdot)
	}
	c.Flow = f
	return c, nil
}

// toF64 converts x into dst (same length).
func toF64[F gop.Float](dst []float64, x []F) {
	for i, v := range x[:len(dst)] {
		dst[i] = float64(v)
	}
}
