package data

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// TokenizerOf returns the tokenizer that made a text task's token ids, or nil
// for a task of another kind. A run saves it beside its checkpoints
// (TokenizerOf(task).SaveTokenizer(dir/tokenizer.json)), and later runs on
// the same data (resume, sample, probe) rebuild the task with
// NewText(cfg, seed, tok) from LoadTokenizer's tok to get the same ids.
func TokenizerOf(t Task) Tokenizer {
	if tt, ok := t.(*task); ok {
		if g, ok := tt.gen.(*textGen); ok {
			return g.tok
		}
	}
	return nil
}

// NewText builds the text task: next-token prediction on windows of UTF-8
// text, the language-model setting in which attention sinks were first seen.
//
// Corpus: cfg.Path, one file or a glob (matches sorted); "" is Newton's
// Opticks from GOROOT. The last cfg.ValFrac of each file's bytes (cut at a
// character boundary) is the validation part, the rest the training part.
//
// Tokenizer: tok, or if tok is nil one made from the corpus: "char" takes the
// distinct characters of the whole corpus (<bos> = 0, <unk> = 1, then the
// characters by code point), "bpe" trains byte-level BPE with cfg.VocabSize
// ids on the training parts only (trainBPE: deterministic, tens of
// milliseconds on Opticks at 512). A given tok must be of the kind cfg.Tokenizer names. Every
// part is encoded once, here; Fill only copies.
//
// Sequences: a window of consecutive tokens of one file's part, its start
// uniform over all windows of all files (a file part shorter than a window
// gives none). With cfg.BOS the inputs are <bos>, x₁…x_{T−1} and the targets
// x₁…x_T (T tokens per window); without, inputs x₀…x_{T−1} and targets
// x₁…x_T (T+1 tokens). Fill draws training windows with the rng it is given
// (or pool windows, drawn once from the seed's pool stream); Eval is
// cfg.EvalSize windows of the validation parts drawn from the seed's eval
// stream. Mask 1/T and Score at every position (mean next-token CE, accuracy
// over all positions); one group, "all".
//
// Errors (returned, never panics): a missing file or a glob that matches
// none, an empty file, a file that is not UTF-8 text (invalid UTF-8 or a NUL
// byte), a training part (or, with eval_size > 0, validation part) with no
// file long enough for one window, and a tok of the wrong kind; config errors
// as Config.Validate.
func NewText(cfg Config, seed uint64, tok Tokenizer) (Task, error) {
	if err := cfg.Validate(TaskText); err != nil {
		return nil, err
	}
	paths, err := textPaths(cfg.Path)
	if err != nil {
		return nil, err
	}
	var whole, train, val []string
	for _, p := range paths {
		text, err := readText(p)
		if err != nil {
			return nil, err
		}
		cut := splitPoint(text, cfg.ValFrac)
		whole, train, val = append(whole, text), append(train, text[:cut]), append(val, text[cut:])
	}

	switch tk := tok.(type) {
	case nil:
		if cfg.Tokenizer == TokenizerChar {
			tok = charTokenizerFor(whole)
		} else {
			tok = trainBPE(train, cfg.VocabSize)
		}
	case *bpeTokenizer, *charTokenizer:
		kind := TokenizerBPE
		if _, ok := tk.(*charTokenizer); ok {
			kind = TokenizerChar
		}
		if kind != cfg.Tokenizer {
			return nil, fmt.Errorf("data: %s: the given tokenizer is %s but data.tokenizer = %s", TaskText, kind, cfg.Tokenizer)
		}
	}

	need := cfg.SeqLen + 1 // tokens per window
	if cfg.BOS {
		need = cfg.SeqLen
	}
	trainW, err := newTextWindows(tok, train, need)
	if err != nil {
		return nil, fmt.Errorf("data: %s: training part: %w (seq_len = %d, bos = %v)", TaskText, err, cfg.SeqLen, cfg.BOS)
	}
	w := 1 / float32(cfg.SeqLen)
	gen := &textGen{tok: tok, win: trainW, bos: tok.BOS(), useBOS: cfg.BOS, w: w}
	t := &task{name: TaskText, vocab: tok.VocabSize(), seqLen: cfg.SeqLen, causal: true, groups: []string{"all"}, gen: gen}
	if cfg.Pool > 0 {
		t.pool = generateRows(gen, streamRNG(seed, streamPool), cfg.Pool, cfg.SeqLen)
	}
	evalGen := gen
	if cfg.EvalSize > 0 {
		valW, err := newTextWindows(tok, val, need)
		if err != nil {
			return nil, fmt.Errorf("data: %s: validation part (val_frac = %v): %w (seq_len = %d, bos = %v); "+
				"raise val_frac, lower seq_len, or set eval_size = 0", TaskText, cfg.ValFrac, err, cfg.SeqLen, cfg.BOS)
		}
		evalGen = &textGen{tok: tok, win: valW, bos: tok.BOS(), useBOS: cfg.BOS, w: w}
	}
	t.eval = generateRows(evalGen, streamRNG(seed, streamEval), cfg.EvalSize, cfg.SeqLen)
	return t, nil
}

// textPaths expands the corpus path: "" is the default corpus, a pattern
// with glob characters its sorted matches, anything else itself.
func textPaths(path string) ([]string, error) {
	if path == "" {
		p, err := defaultCorpusPath()
		if err != nil {
			return nil, fmt.Errorf("data: %s: cannot find the default corpus (Newton's Opticks in GOROOT); set data.path", TaskText)
		}
		return []string{p}, nil
	}
	if !strings.ContainsAny(path, `*?[\`) {
		return []string{path}, nil
	}
	matches, err := filepath.Glob(path)
	if err != nil {
		return nil, fmt.Errorf("data: %s: data.path %q: %w", TaskText, path, err)
	}
	if len(matches) == 0 {
		if _, err := os.Stat(path); err == nil {
			return []string{path}, nil // a file whose name has glob characters
		}
		return nil, fmt.Errorf("data: %s: no file matches data.path %q", TaskText, path)
	}
	return matches, nil // filepath.Glob sorts its matches
}

// readText reads a corpus file and checks that it is non-empty UTF-8 text.
func readText(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("data: %s: read corpus: %w", TaskText, err)
	}
	if len(raw) == 0 {
		return "", fmt.Errorf("data: %s: corpus file %s is empty", TaskText, path)
	}
	if i := bytes.IndexByte(raw, 0); i >= 0 {
		return "", fmt.Errorf("data: %s: corpus file %s has a NUL byte at offset %d: a binary file, not text", TaskText, path, i)
	}
	if !utf8.Valid(raw) {
		i := 0
		for i < len(raw) {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		return "", fmt.Errorf("data: %s: corpus file %s is not UTF-8 text (byte 0x%02x at offset %d): a binary file?", TaskText, path, raw[i], i)
	}
	return string(raw), nil
}

// splitPoint returns the byte offset where the validation part of text
// starts: ⌊(1−valFrac)·len⌋ moved back to a character boundary.
func splitPoint(text string, valFrac float64) int {
	cut := min(int(float64(len(text))*(1-valFrac)), len(text))
	for cut > 0 && cut < len(text) && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return cut
}

// textWindows holds the tokens of the files' parts and indexes the windows
// of need consecutive tokens that fit inside one part.
type textWindows struct {
	tokens []int32 // the parts with a window, concatenated
	starts []int   // (parts) offset of each part in tokens
	cum    []int   // (parts) windows in parts 0…k, cumulated
	total  int     // number of windows
}

// newTextWindows encodes the parts and indexes their windows. It fails if
// no part has need tokens.
func newTextWindows(tok Tokenizer, parts []string, need int) (*textWindows, error) {
	w := &textWindows{}
	longest := 0
	for _, p := range parts {
		ids := tok.Encode(p)
		longest = max(longest, len(ids))
		if len(ids) < need {
			continue
		}
		w.starts = append(w.starts, len(w.tokens))
		w.tokens = append(w.tokens, ids...)
		w.total += len(ids) - need + 1
		w.cum = append(w.cum, w.total)
	}
	if w.total == 0 {
		return nil, fmt.Errorf("shorter than one window of %d tokens: the longest file part has %d", need, longest)
	}
	return w, nil
}

// start returns the token offset of window u ∈ [0, total).
func (w *textWindows) start(u int) int {
	lo, hi := 0, len(w.cum)-1 // first part with cum > u
	for lo < hi {
		mid := (lo + hi) / 2
		if w.cum[mid] > u {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	before := 0
	if lo > 0 {
		before = w.cum[lo-1]
	}
	return w.starts[lo] + u - before
}

// textGen draws uniform windows of a textWindows.
type textGen struct {
	tok    Tokenizer
	win    *textWindows
	bos    int32
	useBOS bool
	w      float32 // 1/T
}

func (g *textGen) row(rng *rand.Rand, r rowRef) {
	t := len(r.in)
	s := g.win.start(rng.IntN(g.win.total))
	toks := g.win.tokens
	if g.useBOS {
		r.in[0] = g.bos
		copy(r.in[1:], toks[s:s+t-1])
		copy(r.tgt, toks[s:s+t])
	} else {
		copy(r.in, toks[s:s+t])
		copy(r.tgt, toks[s+1:s+t+1])
	}
	for p := 0; p < t; p++ {
		r.mask[p], r.score[p], r.group[p] = g.w, true, 0
	}
}
