// Package capture defines what the transformer records for the probes on a
// probe step: attention maps, values and residual streams of one forward pass
// (and, with the replicator probes, the gradients of a backward pass), with
// the captured batch's tokens and position groups.
//
// The transformer owns this type and fills it (transformer.Trainer.Capture);
// the probes package reads it and never the model. The package is a leaf: it
// imports only the standard library, so readers of captures (probes, the
// report, the DuckDB interop tests) do not compile the training engine.
//
// Shape letters: B batch, T sequence length (with the sink token's position
// when there is one), L layers, H heads, HD head dimension, D model width, Tk
// key slots per query row (T, plus 1 with the key/value bias). Names follow
// TransformerLens's hooks. All slices are row-major.
package capture

import "fmt"

// Capture holds what a probe step records from one forward pass of the model
// on the fixed evaluation batch. All tensors are float32.
type Capture struct {
	B, T, L, H, HD, D int // batch, sequence length, layers, heads, head dim, model width

	// Attn[l] is blocks.{l}.attn.hook_pattern: attention weights after the
	// normalizer (and mask). (B, H, T, T)
	Attn [][]float32
	// Values[l] is blocks.{l}.attn.hook_v: the value vectors. (B, H, T, HD)
	Values [][]float32
	// Resid[l] is blocks.{l}.hook_resid_pre: the residual stream entering block l. (B, T, D)
	Resid [][]float32
	// ResidFinal is blocks.{L−1}.hook_resid_post: the residual stream after
	// the last block, before the final LayerNorm. (B, T, D); nil when not
	// captured.
	ResidFinal []float32

	// Tokens are the input ids of the captured batch, (B, T) without the sink
	// token's position, for labelling attention maps. May be nil.
	Tokens []int32

	// Task is the data task's registry name (data.TaskInduction, ...): it
	// selects the task-specific row groups of probes.RowGroups (paper_rows,
	// cls). May be empty.
	Task string
	// GroupNames are the task's metric groups (data.Task.Groups()); PosGroup
	// holds each position's index into them (data.Batch.Group), (B, T) without
	// the sink token's position. With two or more names every group becomes a
	// row group (e.g. trigger / non_trigger). PosGroup may be nil.
	GroupNames []string
	PosGroup   []uint8
	// Score marks the positions the task scores (data.Batch.Score): the CLS
	// position for classification. (B, T) without the sink token's position.
	// May be nil.
	Score []bool

	Causal     bool // attention is causally masked
	Normalized bool // rows of Attn sum to 1 (attention.VariantRowsSumToOne and no key/value bias)
	// Signed marks a variant whose weights can be negative (dot, dot-norm,
	// mlp, mlp-norm: attention.VariantSigned): the probes then take ratios of
	// |A|.
	Signed    bool
	SinkToken bool // position 0 is a learned sink token rather than BOS
	// Variant is the attention variant name (model.attention), recorded with the rows.
	Variant string
	// NullMass[l] is the mass each query row puts on no key at all,
	// 1 − Σ_j A_ij over every key slot (the key/value bias slot included):
	// the sink logit's p₀ (model.sink_logit), or what softmax1's 1 takes.
	// (B, H, T). nil for the other variants.
	NullMass [][]float32

	// Flow holds the replicator probes' tensors (gradients at the weights and
	// scores, flow rates) of a forward and backward pass on the same batch;
	// nil when the probe step ran the forward pass only.
	Flow *Flow
}

// Flow holds what the replicator probes (SCIENCE.md §3b) read from one
// forward and backward pass of the model on the probe batch, per layer. Key
// slots: Tk per query row, the first Off of them the key/value bias slot
// (Off = 1) when the model has one; slot Off + j is token j. Rows a query
// cannot see (causal) are ignored.
type Flow struct {
	Tk, Off int
	// P[l] are the attention weights over every key slot. (B, H, T, Tk)
	P [][]float64
	// G[l] is the upstream gradient ∂L/∂P of the loss L on the probe batch
	// (the training loss). (B, H, T, Tk)
	G [][]float64
	// DS[l] is ∂L/∂S, S the scores before the normalizer. (B, H, T, Tk)
	DS [][]float64
	// PDot[l] is ṗ = J·ṡ with ṡ = −∂L/∂S and J = ∂P/∂S the variant's Jacobian:
	// the rate the weights move under gradient flow on the scores. (B, H, T, Tk)
	PDot [][]float64
}

// SeqLen returns the task's sequence length: T without the sink token's position.
func (c *Capture) SeqLen() int {
	if c.SinkToken {
		return c.T - 1
	}
	return c.T
}

// Validate checks that the capture's sizes agree with its slices. Values,
// Resid and ResidFinal may be nil (not captured); a nil entry of Values or
// Resid means that layer was not captured.
func (c *Capture) Validate() error {
	if c == nil {
		return fmt.Errorf("capture: nil capture")
	}
	if c.B < 1 || c.T < 1 || c.L < 0 || c.H < 1 {
		return fmt.Errorf("capture: sizes B=%d T=%d L=%d H=%d: want B, T, H ≥ 1 and L ≥ 0", c.B, c.T, c.L, c.H)
	}
	if len(c.Attn) != c.L {
		return fmt.Errorf("capture: %d attention maps for L=%d", len(c.Attn), c.L)
	}
	for l, a := range c.Attn {
		if want := c.B * c.H * c.T * c.T; len(a) != want {
			return fmt.Errorf("capture: blocks.%d.attn.hook_pattern has %d values, want B·H·T·T = %d", l, len(a), want)
		}
	}
	if c.Values != nil {
		if len(c.Values) != c.L {
			return fmt.Errorf("capture: %d value tensors for L=%d", len(c.Values), c.L)
		}
		for l, v := range c.Values {
			if want := c.B * c.H * c.T * c.HD; v != nil && (c.HD < 1 || len(v) != want) {
				return fmt.Errorf("capture: blocks.%d.attn.hook_v has %d values, want B·H·T·HD = %d (HD=%d)", l, len(v), want, c.HD)
			}
		}
	}
	if c.NullMass != nil {
		if len(c.NullMass) != c.L {
			return fmt.Errorf("capture: %d null-mass tensors for L=%d", len(c.NullMass), c.L)
		}
		for l, nm := range c.NullMass {
			if want := c.B * c.H * c.T; len(nm) != want {
				return fmt.Errorf("capture: layer %d null mass has %d values, want B·H·T = %d", l, len(nm), want)
			}
		}
	}
	if err := c.validateGroups(); err != nil {
		return err
	}
	if c.Flow != nil {
		if err := c.Flow.validate(c); err != nil {
			return err
		}
	}
	if c.Resid != nil {
		if len(c.Resid) != c.L {
			return fmt.Errorf("capture: %d residual tensors for L=%d", len(c.Resid), c.L)
		}
		for l, h := range c.Resid {
			if want := c.B * c.T * c.D; h != nil && (c.D < 1 || len(h) != want) {
				return fmt.Errorf("capture: blocks.%d.hook_resid_pre has %d values, want B·T·D = %d (D=%d)", l, len(h), want, c.D)
			}
		}
	}
	if h := c.ResidFinal; h != nil {
		if want := c.B * c.T * c.D; c.D < 1 || len(h) != want {
			return fmt.Errorf("capture: blocks.%d.hook_resid_post has %d values, want B·T·D = %d (D=%d)", c.L-1, len(h), want, c.D)
		}
	}
	return nil
}

// validateGroups checks the capture's task-group fields. Group names that
// clash with the probes' own row groups are checked by the probes.
func (c *Capture) validateGroups() error {
	t := c.SeqLen()
	if c.PosGroup != nil {
		if len(c.PosGroup) != c.B*t {
			return fmt.Errorf("capture: %d position groups, want B·T = %d", len(c.PosGroup), c.B*t)
		}
		for _, g := range c.PosGroup {
			if int(g) >= len(c.GroupNames) {
				return fmt.Errorf("capture: position group %d but only %d group names %v", g, len(c.GroupNames), c.GroupNames)
			}
		}
	}
	if c.Score != nil && len(c.Score) != c.B*t {
		return fmt.Errorf("capture: %d score flags, want B·T = %d", len(c.Score), c.B*t)
	}
	return nil
}

// validate checks the flow against the capture's sizes.
func (f *Flow) validate(c *Capture) error {
	if f.Tk != c.T+f.Off || f.Off < 0 || f.Off > 1 {
		return fmt.Errorf("capture: flow has Tk=%d, Off=%d for T=%d", f.Tk, f.Off, c.T)
	}
	want := c.B * c.H * c.T * f.Tk
	for _, x := range []struct {
		name string
		ts   [][]float64
	}{{"P", f.P}, {"G", f.G}, {"DS", f.DS}, {"PDot", f.PDot}} {
		if len(x.ts) != c.L {
			return fmt.Errorf("capture: flow has %d layers of %s for L=%d", len(x.ts), x.name, c.L)
		}
		for l, t := range x.ts {
			if len(t) != want {
				return fmt.Errorf("capture: flow %s of layer %d has %d values, want B·H·T·Tk = %d", x.name, l, len(t), want)
			}
		}
	}
	return nil
}
