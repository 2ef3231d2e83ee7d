package transformer

import (
	"fmt"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
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
// flow rates ṗ = J·(−∂L/∂S) (probes.Flow). Buffers are allocated per call
// (the capture owns them); the graph is reused between probe steps.
func (tr *Trainer[T]) captureFlow(b *data.Batch) (*probes.Capture, error) {
	g, err := tr.probeGraph(b.B)
	if err != nil {
		return nil, err
	}
	if err := g.run(b.Inputs, b.Targets, b.Mask); err != nil {
		return nil, fmt.Errorf("transformer: replicator probe pass: %w", err)
	}
	c := tr.captureOf(g, b)
	tk := g.attn[0].KeySlots()
	f := &probes.Flow{Tk: tk, Off: tk - c.T}
	var pdot []T
	for _, op := range g.attn {
		if pdot == nil {
			pdot = make([]T, len(op.Weights()))
		}
		if err := op.FlowRates(pdot); err != nil {
			return nil, fmt.Errorf("transformer: replicator probes: %w", err)
		}
		f.P = append(f.P, toF64(op.Weights()))
		f.G = append(f.G, toF64(op.UpstreamGrad()))
		f.DS = append(f.DS, toF64(op.ScoreGrad()))
		f.PDot = append(f.PDot, toF64(pdot))
	}
	c.Flow = f
	return c, nil
}

// toF64 returns a float64 copy of x.
func toF64[F gop.Float](x []F) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
