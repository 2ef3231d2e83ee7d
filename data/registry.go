package data

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Loss contract shared by every task in this package: the trainer's loss for
// a batch is
//
//	loss = Σ_{b,t} Mask[b,t] · CE(b,t) / B
//
// the mask-weighted sum of per-position cross-entropies divided by B, the
// number of sequences (not by the number of masked positions). Each task sets
// its mask so that this is the per-sequence loss it wants: induction puts 1 at
// the last position and aux_weight/(T−1) at each earlier one (CE at the answer
// + aux_weight × mean CE elsewhere, mask sum 1 + aux_weight); classification
// puts 1 at CLS; bigram-backcopy and zipf put 1/T everywhere and copy puts 1/L
// on the copied half (mean CE per trained token, mask sum 1).

// entry is one registered task.
type entry struct {
	name, desc string
	build      func(c Config) (*task, error) // nil for text, which New builds with NewText
}

// entries lists the tasks in the order shown to users.
func entries() []entry {
	return []entry{
		{TaskInduction, "induction heads (Varre et al. §4.1): BOS, 10 distinct tokens, a query repeating tᵢ (+50), answer tᵢ₊₁; loss at the answer + 0.2 × mean elsewhere", buildInduction},
		{TaskClassification, "bag-of-tokens classification (Varre et al. §4.2): 10 distinct tokens of one of 4 groups, then CLS; predict the group's label at CLS; non-causal", buildClassification},
		{TaskBackcopy, "bigram-backcopy (Guo et al. 2024): character bigrams of a corpus, and after each of the 3 most frequent characters a copy of the character before it", buildBackcopy},
		{TaskCopy, "copy: BOS, L random tokens, SEP, the same L tokens again; loss on the copied half", buildCopy},
		{TaskZipf, "Zipf unigram: BOS, then tokens drawn i.i.d. with P(rank k) ∝ k^−s; next-token loss everywhere", buildZipf},
		{TaskText, "text: next-token prediction on random windows of UTF-8 text files (default Newton's Opticks), byte-level BPE or char tokens; the last 10% of each file held out", nil},
	}
}

// Names returns the registered task names.
func Names() []string {
	es := entries()
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.name
	}
	return names
}

// Describe returns a one-line description of the named task, or "" if there is
// no such task.
func Describe(name string) string {
	for _, e := range entries() {
		if e.name == name {
			return e.desc
		}
	}
	return ""
}

func knownTask(name string) bool { return slices.Contains(Names(), name) }

func unknownTask(name string) error {
	return fmt.Errorf("data: unknown task %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// New builds the named task from cfg. The seed fixes everything the task
// generates by itself: the training pool (when cfg.Pool > 0) and the held-out
// evaluation set, each from its own stream derived from seed. Training batches
// drawn with Fill depend only on the rng passed to Fill (and the pool).
func New(name string, cfg Config, seed uint64) (Task, error) {
	var build func(Config) (*task, error)
	for _, e := range entries() {
		if e.name == name {
			build = e.build
		}
	}
	if name == TaskText {
		return NewText(cfg, seed, nil)
	}
	if build == nil {
		return nil, unknownTask(name)
	}
	if err := cfg.Validate(name); err != nil {
		return nil, err
	}
	t, err := build(cfg)
	if err != nil {
		return nil, err
	}
	t.name = name
	if cfg.Pool > 0 {
		t.pool = generateRows(t.gen, streamRNG(seed, streamPool), cfg.Pool, t.seqLen)
	}
	t.eval = generateRows(t.gen, streamRNG(seed, streamEval), cfg.EvalSize, t.seqLen)
	return t, nil
}

// rowGen writes one sequence of a task.
type rowGen interface {
	// row writes one sequence drawn with rng into r, every position of every
	// field (positions that are not trained get Mask 0). It does not allocate
	// and its output depends only on the rng state.
	row(rng *rand.Rand, r rowRef)
}

// rowRef is one sequence's slice of each Batch field, all of length T.
type rowRef struct {
	in, tgt []int32
	mask    []float32
	score   []bool
	group   []uint8
}

// task implements Task on top of a rowGen, with optional pool and held-out set.
// Fill reuses the generator's scratch, so a task is not safe for concurrent
// Fill calls.
type task struct {
	name          string
	vocab, seqLen int
	causal        bool
	groups        []string
	gen           rowGen
	pool          *rowStore // nil: generate on the fly
	eval          *rowStore
	outputs       int // model outputs (labels for classification); 0 = vocab
}

// Outputs is the number of outputs the model's unembedding needs: the
// vocabulary for next-token tasks, the number of labels for classification.
func (t *task) Outputs() int {
	if t.outputs > 0 {
		return t.outputs
	}
	return t.vocab
}

// PoolSize is the number of sequences of the fixed training pool (0 without one).
func (t *task) PoolSize() int {
	if t.pool == nil {
		return 0
	}
	return t.pool.n
}

// FillPool copies the pool sequences idx[0], idx[1], … into the rows of b
// (len(idx) = b.B). It panics on a shape mismatch or an index out of range
// (programmer errors).
func (t *task) FillPool(idx []int32, b *Batch) {
	if t.pool == nil || b.T != t.seqLen || len(idx) != b.B || len(b.Inputs) != b.B*b.T {
		panic(fmt.Sprintf("data: %s: FillPool of %d rows into a (%d, %d) batch", t.name, len(idx), b.B, b.T))
	}
	for i, k := range idx {
		batchRow(b, i).copyFrom(t.pool.row(int(k)))
	}
}

// Name returns the task's registry name.
func (t *task) Name() string { return t.name }

// Vocab returns the number of token ids (the embedding and output size).
func (t *task) Vocab() int { return t.vocab }

// SeqLen returns T.
func (t *task) SeqLen() int { return t.seqLen }

// Causal reports whether the task is next-token prediction.
func (t *task) Causal() bool { return t.causal }

// Groups returns a copy of the metric group names.
func (t *task) Groups() []string { return slices.Clone(t.groups) }

// Fill writes b.B sequences into b: fresh ones drawn with rng, or, in pool
// mode, pool sequences chosen uniformly with replacement by rng. It panics if
// b's shape does not match the task (a programmer error).
func (t *task) Fill(rng *rand.Rand, b *Batch) {
	if b.T != t.seqLen {
		panic(fmt.Sprintf("data: %s: batch T = %d, task SeqLen = %d", t.name, b.T, t.seqLen))
	}
	n := b.B * b.T
	if b.B < 0 || len(b.Inputs) != n || len(b.Targets) != n || len(b.Mask) != n || len(b.Score) != n || len(b.Group) != n {
		panic(fmt.Sprintf("data: %s: batch fields do not have length B·T = %d·%d", t.name, b.B, b.T))
	}
	for i := 0; i < b.B; i++ {
		r := batchRow(b, i)
		if t.pool != nil {
			r.copyFrom(t.pool.row(rng.IntN(t.pool.n)))
		} else {
			t.gen.row(rng, r)
		}
	}
}

// Eval returns the held-out set as fresh batches of at most batchSize
// sequences (the last may be smaller); the contents are the same on every
// call. It panics if batchSize < 1.
func (t *task) Eval(batchSize int) []*Batch {
	if batchSize < 1 {
		panic(fmt.Sprintf("data: %s: Eval batch size %d < 1", t.name, batchSize))
	}
	return t.eval.batches(batchSize)
}

func batchRow(b *Batch, i int) rowRef {
	lo, hi := i*b.T, (i+1)*b.T
	return rowRef{b.Inputs[lo:hi], b.Targets[lo:hi], b.Mask[lo:hi], b.Score[lo:hi], b.Group[lo:hi]}
}

func (r rowRef) copyFrom(s rowRef) {
	copy(r.in, s.in)
	copy(r.tgt, s.tgt)
	copy(r.mask, s.mask)
	copy(r.score, s.score)
	copy(r.group, s.group)
}
