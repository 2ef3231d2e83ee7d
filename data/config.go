package data

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
)

// Task names, as used by New, DefaultConfig and `sinklab train --task`.
const (
	TaskInduction      = "induction"
	TaskClassification = "classification"
	TaskBackcopy       = "bigram-backcopy"
	TaskCopy           = "copy"
	TaskZipf           = "zipf"
	TaskText           = "text"
)

// Size limits that keep a bad config from allocating the machine away.
const (
	maxVocab     = 1 << 24 // token ids are int32; embeddings of more rows make no sense here
	maxSeqLen    = 1 << 16
	maxRowTokens = 1 << 28 // pool·T and eval_size·T each (14 bytes per token stored)
)

// Config holds every knob of the synthetic tasks. One struct serves all tasks;
// DefaultConfig fills the fields a task uses and leaves the others zero, and
// Validate refuses a nonzero value in a field the task does not use (so a
// mistyped --set is not silently ignored). Fields hold plain types only: the
// command line maps `--set data.<json name>=value` onto them by their json tag.
//
// Where a value is derived from other knobs (seq_len of induction and
// classification, vocab of induction and bigram-backcopy), 0 means "derived"
// and a nonzero value must equal the derived one.
type Config struct {
	// SeqLen is T, the length of Batch.Inputs (a sequence has T+1 tokens for the
	// causal tasks: inputs are seq[:-1], targets seq[1:]). Defaults: 256 for
	// bigram-backcopy (Guo et al. 2024), 64 for zipf, 33 for copy (T = 2L+1, so
	// L = 16 tokens are copied; T must be odd). Derived (0) for induction
	// (n_distinct+2 = 12) and classification (sample_len+1 = 11).
	SeqLen int `json:"seq_len"`
	// Vocab is the number of token ids, specials included. Defaults: 41 for
	// classification (CLS + 4 groups of 10, the paper's §4.2; sweep 81, 161),
	// 64 for copy (BOS, SEP and 62 content tokens) and zipf (BOS and 63 content
	// tokens). Derived (0) for induction (2·(base_vocab+1) = 100 with
	// shift_query, base_vocab+1 = 50 without) and bigram-backcopy (the corpus's
	// distinct characters + BOS).
	Vocab int `json:"vocab"`

	// NDistinct is the number of distinct context tokens t₁…tₙ of an induction
	// sequence. Default 10 (Varre et al. §4.1).
	NDistinct int `json:"n_distinct"`
	// BaseVocab is the number of induction content tokens, ids 1…base_vocab.
	// Default 49 (tokens 1…49; BOS = 0), so that with the +50 query shift the
	// vocabulary is exactly 100 as in the paper.
	BaseVocab int `json:"base_vocab"`
	// ShiftQuery makes the induction query token r = tᵢ + (base_vocab+1), a
	// token never seen in the context, instead of r = tᵢ. Default true (the
	// paper's "shift query token" setting).
	ShiftQuery bool `json:"shift_query"`
	// AuxWeight weighs the mean cross-entropy of the induction positions before
	// the last one: loss = CE(last) + aux_weight · mean CE(earlier). Default 0.2
	// (Varre et al. §4.1).
	AuxWeight float64 `json:"aux_weight"`

	// Labels is the number of classification labels; label g owns the
	// (vocab−1)/labels tokens 1+g·G … G+g·G (G the group size). Default 4
	// (Varre et al. §4.2).
	Labels int `json:"labels"`
	// SampleLen is the number of distinct tokens of one group in a
	// classification sample, before CLS. Default 10 (the paper; with vocab 41
	// a sample is a whole group in random order). At most the group size.
	SampleLen int `json:"sample_len"`

	// Corpus is the character corpus of bigram-backcopy. Default "" means
	// $(go env GOROOT)/src/testdata/Isaac.Newton-Opticks.txt, Newton's Opticks
	// (567 kB, 91 distinct characters), present in every Go installation.
	Corpus string `json:"corpus"`
	// Triggers is k, the number of most frequent corpus characters that act as
	// triggers in bigram-backcopy. Default 3 (Guo et al. 2024).
	Triggers int `json:"triggers"`

	// ZipfS is the exponent s of the zipf task's unigram P(rank k) ∝ k^−s over
	// the content tokens. Default 1.0 (classic Zipf; 0 gives uniform tokens).
	ZipfS float64 `json:"zipf_s"`

	// Path is the text task's corpus: a UTF-8 text file or a glob of them
	// (expanded and sorted). Default "" means Newton's Opticks, as for corpus.
	Path string `json:"path"`
	// ValFrac is the fraction of each text file, at its end, held out for
	// Eval. Default 0.1. In [0, 1).
	ValFrac float64 `json:"val_frac"`
	// Tokenizer is the text task's tokenizer: "bpe" (byte-level BPE trained
	// on the training part, default) or "char" (one token per character).
	Tokenizer string `json:"tokenizer"`
	// VocabSize is the number of BPE token ids, <bos> included: 256 byte
	// tokens + <bos> + vocab_size−257 merges (fewer if the corpus runs out of
	// pairs). Default 512. Not used by the char tokenizer.
	VocabSize int `json:"vocab_size"`
	// BOS puts the <bos> token first in every text window (inputs <bos>,
	// x₁…x_{T−1}; targets x₁…x_T); false gives windows that start mid-text
	// (inputs x₀…x_{T−1}, targets x₁…x_T). Default true.
	BOS bool `json:"bos"`

	// Pool is the number of training sequences generated once from the task
	// seed. A trainer consumes the pool in shuffled epochs (EpochOrder); Fill
	// samples from it with replacement. 0: every Fill generates fresh
	// sequences. Defaults: the paper's 100000 for induction, 10000 for
	// classification; 0 for the other tasks.
	Pool int `json:"pool"`
	// EvalSize is the number of held-out sequences returned by Task.Eval,
	// generated from their own seed stream. Defaults: the paper's 1000 for
	// induction and classification, 512 for text (65536 tokens: a forward
	// pass of about 3% of the training time at train.eval_every 100), 2048 for the other tasks. 0 means no held-out
	// set. The probes read the first train.eval_batch sequences, which do not
	// depend on EvalSize.
	EvalSize int `json:"eval_size"`
}

// DefaultConfig returns the default configuration of the named task.
func DefaultConfig(task string) (Config, error) {
	c := Config{Pool: 0, EvalSize: 2048}
	switch task {
	case TaskInduction:
		c.NDistinct, c.BaseVocab, c.ShiftQuery, c.AuxWeight = 10, 49, true, 0.2
		c.Pool, c.EvalSize = 100000, 1000 // the paper's num_train, num_eval
	case TaskClassification:
		c.Vocab, c.Labels, c.SampleLen = 41, 4, 10
		c.Pool, c.EvalSize = 10000, 1000 // the paper's num_train, num_eval
	case TaskBackcopy:
		c.SeqLen, c.Triggers = 256, 3
	case TaskCopy:
		c.SeqLen, c.Vocab = 33, 64
	case TaskZipf:
		c.SeqLen, c.Vocab, c.ZipfS = 64, 64, 1.0
	case TaskText:
		c.SeqLen, c.ValFrac, c.Tokenizer, c.VocabSize, c.BOS = 128, 0.1, TokenizerBPE, 512, true
		c.EvalSize = 512 // see EvalSize
	default:
		return Config{}, unknownTask(task)
	}
	return c, nil
}

// usedFields lists the json names of the fields a task reads.
func usedFields(task string) []string {
	common := []string{"pool", "eval_size"}
	switch task {
	case TaskInduction:
		return append(common, "seq_len", "vocab", "n_distinct", "base_vocab", "shift_query", "aux_weight")
	case TaskClassification:
		return append(common, "seq_len", "vocab", "labels", "sample_len")
	case TaskBackcopy:
		return append(common, "seq_len", "vocab", "corpus", "triggers")
	case TaskCopy:
		return append(common, "seq_len", "vocab")
	case TaskZipf:
		return append(common, "seq_len", "vocab", "zipf_s")
	case TaskText:
		return append(common, "seq_len", "vocab", "path", "val_frac", "tokenizer", "vocab_size", "bos")
	}
	return nil
}

// Validate checks c for the named task. It does not read the corpus; New
// reports a missing or unusable corpus file.
func (c Config) Validate(task string) error {
	if !knownTask(task) {
		return unknownTask(task)
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}

	// Fields the task does not use must keep their zero value.
	used := usedFields(task)
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if !v.Field(i).IsZero() && !slices.Contains(used, name) {
			bad("%s is not used by task %s (got %v)", name, task, v.Field(i).Interface())
		}
	}

	if c.Pool < 0 {
		bad("pool must be ≥ 0 (got %d)", c.Pool)
	}
	if c.EvalSize < 0 {
		bad("eval_size must be ≥ 0 (got %d)", c.EvalSize)
	}
	if c.SeqLen < 0 || c.SeqLen > maxSeqLen {
		bad("seq_len must be in [0, %d] (got %d)", maxSeqLen, c.SeqLen)
	}
	if c.Vocab < 0 || c.Vocab > maxVocab {
		bad("vocab must be in [0, %d] (got %d)", maxVocab, c.Vocab)
	}

	switch task {
	case TaskInduction:
		if c.NDistinct < 2 {
			bad("n_distinct must be ≥ 2 so that tᵢ₊₁ exists (got %d)", c.NDistinct)
		}
		if c.BaseVocab < 1 || c.BaseVocab > maxVocab/2-1 {
			bad("base_vocab must be in [1, %d] (got %d)", maxVocab/2-1, c.BaseVocab)
		}
		if c.NDistinct > c.BaseVocab {
			bad("n_distinct (%d) must be ≤ base_vocab (%d): the context tokens are distinct", c.NDistinct, c.BaseVocab)
		}
		if math.IsNaN(c.AuxWeight) || c.AuxWeight < 0 || c.AuxWeight > 1e6 {
			bad("aux_weight must be in [0, 1e6] (got %v)", c.AuxWeight)
		}
	case TaskClassification:
		if c.Labels < 2 {
			bad("labels must be ≥ 2 (got %d)", c.Labels)
		}
		if c.Vocab < 1+c.Labels || c.Labels < 1 || (c.Vocab-1)%c.Labels != 0 {
			bad("vocab must be 1 + labels·G with G ≥ 1 tokens per label (got vocab %d, labels %d)", c.Vocab, c.Labels)
		} else if c.SampleLen < 1 || c.SampleLen > (c.Vocab-1)/c.Labels {
			bad("sample_len must be in [1, (vocab−1)/labels = %d] (got %d)", (c.Vocab-1)/c.Labels, c.SampleLen)
		}
	case TaskBackcopy:
		if c.SeqLen < 2 {
			bad("seq_len must be ≥ 2 (got %d)", c.SeqLen)
		}
		if c.Triggers < 0 {
			bad("triggers must be ≥ 0 (got %d)", c.Triggers)
		}
		if c.Vocab != 0 {
			bad("vocab is set by the corpus for %s: leave it 0 (got %d)", task, c.Vocab)
		}
	case TaskCopy:
		if c.SeqLen < 3 || c.SeqLen%2 == 0 {
			bad("seq_len must be odd and ≥ 3 (T = 2L+1 for L copied tokens; got %d)", c.SeqLen)
		}
		if c.Vocab < 3 {
			bad("vocab must be ≥ 3 (BOS, SEP and at least one content token; got %d)", c.Vocab)
		}
	case TaskZipf:
		if c.SeqLen < 1 {
			bad("seq_len must be ≥ 1 (got %d)", c.SeqLen)
		}
		if c.Vocab < 2 {
			bad("vocab must be ≥ 2 (BOS and at least one content token; got %d)", c.Vocab)
		}
		if math.IsNaN(c.ZipfS) || math.IsInf(c.ZipfS, 0) || c.ZipfS < 0 || c.ZipfS > 100 {
			bad("zipf_s must be in [0, 100] (got %v)", c.ZipfS)
		}
	case TaskText:
		if c.SeqLen < 1 {
			bad("seq_len must be ≥ 1 (got %d)", c.SeqLen)
		}
		if c.Vocab != 0 {
			bad("vocab is set by the tokenizer for %s: leave it 0 (got %d)", task, c.Vocab)
		}
		if !(c.ValFrac >= 0 && c.ValFrac < 1) {
			bad("val_frac must be in [0, 1) (got %v)", c.ValFrac)
		}
		switch c.Tokenizer {
		case TokenizerBPE:
			if c.VocabSize < minBPEVocab || c.VocabSize > maxVocab {
				bad("vocab_size must be in [%d, %d] for tokenizer bpe: 256 byte tokens + <bos> at least (got %d)",
					minBPEVocab, maxVocab, c.VocabSize)
			}
		case TokenizerChar:
			if c.VocabSize < 0 {
				bad("vocab_size must be ≥ 0 (got %d; the char tokenizer does not use it)", c.VocabSize)
			}
		default:
			bad("tokenizer must be %s or %s (got %q)", TokenizerBPE, TokenizerChar, c.Tokenizer)
		}
	}

	// Derived sizes: a nonzero value must agree with the derivation.
	if len(errs) == 0 {
		if d := c.derivedSeqLen(task); d > 0 && c.SeqLen != 0 && c.SeqLen != d {
			bad("seq_len of %s is derived (%d); leave it 0 or set it to %d (got %d)", task, d, d, c.SeqLen)
		}
		if d := c.derivedVocab(task); d > 0 && c.Vocab != 0 && c.Vocab != d {
			bad("vocab of %s is derived (%d); leave it 0 or set it to %d (got %d)", task, d, d, c.Vocab)
		}
		if d := c.derivedSeqLen(task); d > maxSeqLen {
			bad("derived seq_len %d exceeds %d", d, maxSeqLen)
		}
		t := c.seqLen(task)
		if int64(c.Pool)*int64(t) > maxRowTokens {
			bad("pool·seq_len = %d·%d exceeds %d tokens", c.Pool, t, maxRowTokens)
		}
		if int64(c.EvalSize)*int64(t) > maxRowTokens {
			bad("eval_size·seq_len = %d·%d exceeds %d tokens", c.EvalSize, t, maxRowTokens)
		}
	}

	if len(errs) > 0 {
		return fmt.Errorf("data: config for task %s: %w", task, errors.Join(errs...))
	}
	return nil
}

// derivedSeqLen returns the sequence length implied by the other knobs, or 0
// when the task takes seq_len as given.
func (c Config) derivedSeqLen(task string) int {
	switch task {
	case TaskInduction:
		return c.NDistinct + 2 // inputs BOS, t₁…tₙ, r
	case TaskClassification:
		return c.SampleLen + 1 // sample then CLS
	}
	return 0
}

// derivedVocab returns the vocabulary implied by the other knobs, or 0 when
// vocab is given (or, for bigram-backcopy, known only from the corpus).
func (c Config) derivedVocab(task string) int {
	if task == TaskInduction {
		if c.ShiftQuery {
			return 2 * (c.BaseVocab + 1)
		}
		return c.BaseVocab + 1
	}
	return 0
}

// seqLen returns T for the task: the derived length where there is one.
func (c Config) seqLen(task string) int {
	if d := c.derivedSeqLen(task); d > 0 {
		return d
	}
	return c.SeqLen
}
