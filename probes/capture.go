package probes

// Capture holds what a probe step records from one forward pass of the model on
// the fixed evaluation batch. Names follow TransformerLens's hooks. All slices
// are row-major float32.
type Capture struct {
	B, T, L, H, HD, D int // batch, sequence length, layers, heads, head dim, model width

	// Attn[l] is blocks.{l}.attn.hook_pattern: attention weights after the
	// normalizer (and mask). (B, H, T, T)
	Attn [][]float32
	// Values[l] is blocks.{l}.attn.hook_v: the value vectors. (B, H, T, HD)
	Values [][]float32
	// Resid[l] is blocks.{l}.hook_resid_pre: the residual stream entering block l. (B, T, D)
	Resid [][]float32

	// Tokens are the input ids of the captured batch, (B, T) without the sink
	// token's position, for labelling attention maps. May be nil.
	Tokens []int32

	// Task is the data task's registry name (data.TaskInduction, ...): it
	// selects the task-specific row groups of RowGroups (paper_rows, cls).
	// May be empty.
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
	// mlp, mlp-norm: attention.VariantSigned): ratios are then taken of |A|
	// (see metrics.go).
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
