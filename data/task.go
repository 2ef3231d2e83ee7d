package data

import "math/rand/v2"

// Batch is one batch of sequences, stored row-major. B sequences of length T.
// The trainer allocates it once (NewBatch) and tasks fill it in place.
type Batch struct {
	B, T    int
	Inputs  []int32   // (B, T) token ids fed to the model
	Targets []int32   // (B, T) next-token (or label) targets
	Mask    []float32 // (B, T) loss weight per position; 0 = not trained on
	// Score marks the positions where accuracy is measured (the last position
	// for induction, the CLS position for classification). (B, T)
	Score []bool
	// Group is the metric group of each position, an index into Task.Groups()
	// (for example trigger vs non-trigger for bigram-backcopy). (B, T)
	Group []uint8
}

// NewBatch allocates a batch of b sequences of length t.
func NewBatch(b, t int) *Batch {
	return &Batch{B: b, T: t,
		Inputs: make([]int32, b*t), Targets: make([]int32, b*t), Mask: make([]float32, b*t),
		Score: make([]bool, b*t), Group: make([]uint8, b*t)}
}

// Task generates batches for training and evaluation. Implementations are
// deterministic: the same rng state gives the same batch.
type Task interface {
	// Name is the task's registry name ("induction", ...).
	Name() string
	// Vocab is the number of token ids the model must embed (ids are in [0, Vocab)).
	Vocab() int
	// SeqLen is T, the length of Inputs.
	SeqLen() int
	// Causal reports whether the task is a causal (next-token) task; false for
	// classification, which attends over the whole sequence.
	Causal() bool
	// Groups names the metric groups used in Batch.Group; index 0 is the default
	// group. A task without groups returns []string{"all"}.
	Groups() []string
	// Fill writes b.B sequences drawn with rng into b (allocation-free).
	Fill(rng *rand.Rand, b *Batch)
	// Eval returns the held-out evaluation set as batches of at most batchSize
	// sequences. It is the same on every call and disjoint in generation from
	// training (its own seed stream).
	Eval(batchSize int) []*Batch
}
