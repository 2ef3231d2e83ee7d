package transformer

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/transformer/capture"
)

// ModelProbe is what ProbeModel measures on a batch: the capture of every
// sequence and the model's cross-entropy on the batch's targets.
type ModelProbe struct {
	// Capture holds the attention maps, values and residual streams of all
	// B sequences, exactly as one forward pass over the whole batch gives
	// them (Trainer.CaptureBatch); the replicator tensors (Flow) are nil.
	Capture *capture.Capture
	// NLL is the summed next-token cross-entropy (nats) over the positions
	// whose loss weight (data.Batch.Mask) is positive; Tokens counts them.
	NLL    float64
	Tokens int
}

// Perplexity returns exp(NLL/Tokens), the model's perplexity on the batch
// (NaN without scored positions).
func (p *ModelProbe) Perplexity() float64 {
	if p.Tokens == 0 {
		return math.NaN()
	}
	return math.Exp(p.NLL / float64(p.Tokens))
}

// ProbeModel runs m forward (no gradients) over batch b in chunks of at most
// chunk sequences, so that memory holds the logits of one chunk only ((chunk,
// T, V) instead of (B, T, V)), and returns the capture of all B sequences and
// the cross-entropy. The chunks' captures are concatenated along the batch
// axis; since every sequence is computed independently, the capture (and so
// every probe row measured on it) is that of one pass over the whole batch.
// The capture names task as its data task (its row groups: see
// probes.RowGroups). progress, if not nil, is called with the sequences done
// after each chunk. b.T must be m.T.
func ProbeModel[T gop.Float](m *Model[T], b *data.Batch, task string, chunk int, progress func(done int)) (*ModelProbe, error) {
	if b.T != m.T {
		return nil, fmt.Errorf("transformer: probe: batch of length %d for a model built for %d", b.T, m.T)
	}
	if chunk < 1 || b.B < 1 {
		return nil, fmt.Errorf("transformer: probe: chunk %d and batch %d must be ≥ 1", chunk, b.B)
	}
	tr := &Trainer[T]{Model: m, Task: probeTask{name: task, vocab: m.Cfg.Vocab, seqLen: m.T},
		evals: map[int][]*graph[T]{}}
	res := &ModelProbe{}
	var parts []*capture.Capture
	for lo := 0; lo < b.B; lo += chunk {
		n := min(chunk, b.B-lo)
		if _, ok := tr.evals[n]; !ok {
			clear(tr.evals) // one graph (its buffers) at a time
		}
		sub := subBatch(b, lo, n)
		c, err := tr.CaptureBatch(sub)
		if err != nil {
			return nil, fmt.Errorf("transformer: probe: sequences %d…%d: %w", lo, lo+n-1, err)
		}
		for i, ce := range tr.evals[n][0].ce.ce { // (n, T)
			if sub.Mask[i] > 0 {
				res.NLL += ce
				res.Tokens++
			}
		}
		parts = append(parts, c)
		if progress != nil {
			progress(lo + n)
		}
	}
	clear(tr.evals)
	res.Capture = concatCaptures(parts)
	return res, nil
}

// subBatch returns sequences lo … lo+n−1 of b, sharing its memory.
func subBatch(b *data.Batch, lo, n int) *data.Batch {
	i, j := lo*b.T, (lo+n)*b.T
	return &data.Batch{B: n, T: b.T, Inputs: b.Inputs[i:j], Targets: b.Targets[i:j], Mask: b.Mask[i:j],
		Score: b.Score[i:j], Group: b.Group[i:j]}
}

// concatCaptures joins captures of the same model over consecutive parts of
// a batch into one capture along the batch axis (every tensor is batch-major:
// Attn (B, H, T, T), Values (B, H, T, HD), Resid and ResidFinal (B, T, D),
// NullMass (B, H, T)). The parts'
// tensors are released layer by layer, so the peak memory is the joined
// capture plus one layer.
func concatCaptures(parts []*capture.Capture) *capture.Capture {
	if len(parts) == 1 {
		return parts[0]
	}
	c := *parts[0]
	c.B = 0
	c.Tokens, c.PosGroup, c.Score = nil, nil, nil
	for _, p := range parts {
		c.B += p.B
		c.Tokens = append(c.Tokens, p.Tokens...)
		c.PosGroup = append(c.PosGroup, p.PosGroup...)
		c.Score = append(c.Score, p.Score...)
	}
	join := func(get func(p *capture.Capture) [][]float32) [][]float32 {
		if get(parts[0]) == nil {
			return nil
		}
		out := make([][]float32, c.L)
		for l := range out {
			n := 0
			for _, p := range parts {
				n += len(get(p)[l])
			}
			out[l] = make([]float32, 0, n)
			for _, p := range parts {
				out[l] = append(out[l], get(p)[l]...)
				get(p)[l] = nil
			}
		}
		return out
	}
	c.Attn = join(func(p *capture.Capture) [][]float32 { return p.Attn })
	c.Values = join(func(p *capture.Capture) [][]float32 { return p.Values })
	c.Resid = join(func(p *capture.Capture) [][]float32 { return p.Resid })
	c.NullMass = join(func(p *capture.Capture) [][]float32 { return p.NullMass })
	if parts[0].ResidFinal != nil {
		c.ResidFinal = nil
		for _, p := range parts {
			c.ResidFinal = append(c.ResidFinal, p.ResidFinal...)
			p.ResidFinal = nil
		}
	}
	return &c
}

// probeTask stands for the text a model is probed on: captureOf reads the
// task's name and groups only.
type probeTask struct {
	name          string
	vocab, seqLen int
}

func (t probeTask) Name() string                     { return t.name }
func (t probeTask) Vocab() int                       { return t.vocab }
func (t probeTask) SeqLen() int                      { return t.seqLen }
func (t probeTask) Causal() bool                     { return true }
func (t probeTask) Groups() []string                 { return []string{"all"} }
func (t probeTask) Fill(_ *rand.Rand, _ *data.Batch) {}
func (t probeTask) Eval(int) []*data.Batch           { return nil }
