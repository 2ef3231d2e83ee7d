package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFile writes content to name in dir and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// textConfig returns the text task's defaults changed by edit.
func textConfig(edit func(*Config)) Config {
	c, _ := DefaultConfig(TaskText)
	c.EvalSize = 64
	if edit != nil {
		edit(&c)
	}
	return c
}

func mustText(t *testing.T, cfg Config, seed uint64, tok Tokenizer) Task {
	t.Helper()
	task, err := NewText(cfg, seed, tok)
	if err != nil {
		t.Fatalf("NewText: %v", err)
	}
	return task
}

func TestTextDefaults(t *testing.T) {
	c, err := DefaultConfig(TaskText)
	if err != nil {
		t.Fatal(err)
	}
	if c.SeqLen != 128 || c.ValFrac != 0.1 || c.Tokenizer != TokenizerBPE || c.VocabSize != 512 || !c.BOS ||
		c.Path != "" || c.EvalSize != 512 || c.Pool != 0 {
		t.Fatalf("defaults %+v", c)
	}
	task := mustNew(t, TaskText, nil, 1)
	tok := TokenizerOf(task)
	if tok == nil {
		t.Fatal("TokenizerOf(New(text)) is nil")
	}
	if TokenizerOf(mustNew(t, TaskZipf, nil, 1)) != nil {
		t.Error("TokenizerOf(zipf) is not nil")
	}
	if task.Vocab() != 512 || task.SeqLen() != 128 || !task.Causal() || !slices.Equal(task.Groups(), []string{"all"}) {
		t.Errorf("vocab %d T %d causal %v groups %v", task.Vocab(), task.SeqLen(), task.Causal(), task.Groups())
	}
	if tok.VocabSize() != 512 || tok.BOS() != 0 {
		t.Errorf("tokenizer vocab %d bos %d", tok.VocabSize(), tok.BOS())
	}
	char := mustText(t, textConfig(func(c *Config) { c.Tokenizer = TokenizerChar }), 1, nil)
	if char.Vocab() != 93 { // Opticks: 91 characters + <bos> + <unk>
		t.Errorf("char vocab %d, want 93", char.Vocab())
	}
}

// TestTextWindows: every sequence is a window of the training text, starts
// with <bos> exactly when data.bos is set, and has the mean-CE mask.
func TestTextWindows(t *testing.T) {
	text := opticks(t)
	train := text[:splitPoint(text, 0.1)]
	for _, tokName := range []string{TokenizerChar, TokenizerBPE} {
		for _, bos := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/bos=%v", tokName, bos), func(t *testing.T) {
				cfg := textConfig(func(c *Config) { c.Tokenizer, c.BOS, c.SeqLen = tokName, bos, 32 })
				task := mustText(t, cfg, 1, nil)
				tok := TokenizerOf(task)
				b := fill(task, newRNG(2), 64)
				checkCommon(t, task, b, 1)
				for i := 0; i < b.B; i++ {
					r := batchRow(b, i)
					if got := r.in[0] == tok.BOS(); got != bos {
						t.Fatalf("row %d starts with <bos>: %v, want %v", i, got, bos)
					}
					if slices.Contains(r.in[1:], tok.BOS()) || slices.Contains(r.tgt, tok.BOS()) {
						t.Fatalf("row %d has <bos> past position 0", i)
					}
					if !slices.Equal(r.in[1:], r.tgt[:b.T-1]) {
						t.Fatalf("row %d: targets are not the inputs shifted by one", i)
					}
					window := r.tgt
					if !bos {
						window = append([]int32{r.in[0]}, r.tgt...)
					}
					if s := tok.Decode(window); !strings.Contains(train, s) {
						t.Fatalf("row %d decodes to %q, not a substring of the training part", i, s)
					}
					for p := 0; p < b.T; p++ {
						if math.Abs(float64(r.mask[p])-1.0/32) > 1e-9 || !r.score[p] || r.group[p] != 0 {
							t.Fatalf("row %d pos %d: mask %v score %v group %d", i, p, r.mask[p], r.score[p], r.group[p])
						}
					}
				}
			})
		}
	}
}

// TestTextSplit: training windows come from the first 90% of the file and
// evaluation windows from the last 10%, here told apart by their letters.
func TestTextSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	letters := func(n int, from, to byte) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = from + byte(rng.IntN(int(to-from)+1))
		}
		return string(b)
	}
	path := writeFile(t, t.TempDir(), "split.txt", letters(900, 'a', 'm')+letters(100, 'n', 'z'))
	for _, tokName := range []string{TokenizerChar, TokenizerBPE} {
		t.Run(tokName, func(t *testing.T) {
			task := mustText(t, textConfig(func(c *Config) { c.Path, c.Tokenizer, c.SeqLen = path, tokName, 16 }), 3, nil)
			tok := TokenizerOf(task)
			trainText := tok.Decode(fill(task, newRNG(1), 200).Targets)
			evalText := ""
			for _, b := range task.Eval(16) {
				evalText += tok.Decode(b.Targets)
			}
			if strings.ContainsAny(trainText, "nopqrstuvwxyz") || strings.ContainsAny(evalText, "abcdefghijklm") {
				t.Fatalf("training windows %.40q… or eval windows %.40q… cross the split", trainText, evalText)
			}
			if len(evalText) != 64*16 {
				t.Fatalf("eval has %d characters, want 64 windows of 16", len(evalText))
			}
		})
	}
}

// TestTextFiles: a glob takes every matching file, windows stay inside one
// file, and a file too short for a window only contributes none.
func TestTextFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "b.txt", strings.Repeat("bB", 200))
	writeFile(t, dir, "a.txt", strings.Repeat("aA", 200))
	writeFile(t, dir, "c.txt", strings.Repeat("cC", 200))
	writeFile(t, dir, "d.txt", "dD") // shorter than a window
	writeFile(t, dir, "other.md", "zz")
	cfg := textConfig(func(c *Config) { c.Path, c.Tokenizer, c.SeqLen = filepath.Join(dir, "*.txt"), TokenizerChar, 8 })
	task := mustText(t, cfg, 1, nil)
	tok := TokenizerOf(task)
	if task.Vocab() != 2+8 { // <bos>, <unk>, aAbBcCdD
		t.Fatalf("vocab %d: the glob did not take exactly the four .txt files", task.Vocab())
	}
	seen := map[byte]int{}
	b := fill(task, newRNG(1), 300)
	for i := 0; i < b.B; i++ {
		s := strings.ToLower(tok.Decode(batchRow(b, i).tgt))
		if strings.Trim(s, s[:1]) != "" {
			t.Fatalf("window %q mixes files", s)
		}
		seen[s[0]]++
	}
	if seen['a'] < 50 || seen['b'] < 50 || seen['c'] < 50 || seen['d'] != 0 {
		t.Errorf("windows per file %v, want a, b, c about 100 each and no d", seen)
	}
}

func TestTextErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.txt", strings.Repeat("the quick brown fox jumps over the lazy dog. ", 40))
	empty := writeFile(t, dir, "empty.txt", "")
	binary := writeFile(t, dir, "binary.bin", "text then \xff\xfe bytes")
	nul := writeFile(t, dir, "nul.txt", "utf-16\x00l\x00i\x00k\x00e\x00")
	short := writeFile(t, dir, "short.txt", "only a few characters")
	charTok := charTokenizerFor([]string{"abc"})
	for _, tc := range []struct {
		label string
		edit  func(*Config)
		tok   Tokenizer
		want  string
	}{
		{"missing", func(c *Config) { c.Path = filepath.Join(dir, "nope.txt") }, nil, "no such file"},
		{"glob-none", func(c *Config) { c.Path = filepath.Join(dir, "*.nope") }, nil, "no file matches"},
		{"glob-bad", func(c *Config) { c.Path = filepath.Join(dir, "[") }, nil, "syntax error in pattern"},
		{"empty", func(c *Config) { c.Path = empty }, nil, "empty.txt is empty"},
		{"binary", func(c *Config) { c.Path = binary }, nil, "not UTF-8 text (byte 0xff at offset 10)"},
		{"nul", func(c *Config) { c.Path = nul }, nil, "NUL byte at offset 6"},
		{"bpe-vocab-256", func(c *Config) { c.Path, c.VocabSize = good, 256 }, nil, "vocab_size must be in [257,"},
		{"train-short", func(c *Config) { c.Path = short }, nil, "training part: shorter than one window of 128 tokens"},
		{"val-short", func(c *Config) { c.Path, c.Tokenizer, c.SeqLen = good, TokenizerChar, 200 }, nil,
			"validation part (val_frac = 0.1): shorter than one window of 200 tokens"},
		{"val-none", func(c *Config) { c.Path, c.ValFrac, c.SeqLen = good, 0, 16 }, nil, "validation part (val_frac = 0)"},
		{"no-bos-needs-one-more", func(c *Config) { // 18 training characters: enough with <bos>, not without
			c.Path, c.Tokenizer, c.SeqLen, c.BOS, c.EvalSize = short, TokenizerChar, 18, false, 0
		}, nil, "shorter than one window of 19 tokens"},
		{"val-frac-1", func(c *Config) { c.ValFrac = 1 }, nil, "val_frac must be in [0, 1)"},
		{"val-frac-nan", func(c *Config) { c.ValFrac = math.NaN() }, nil, "val_frac must be in [0, 1)"},
		{"tokenizer-name", func(c *Config) { c.Tokenizer = "wordpiece" }, nil, `tokenizer must be bpe or char (got "wordpiece")`},
		{"vocab-set", func(c *Config) { c.Vocab = 512 }, nil, "vocab is set by the tokenizer"},
		{"seq-len-0", func(c *Config) { c.SeqLen = 0 }, nil, "seq_len must be ≥ 1"},
		{"wrong-kind", func(c *Config) { c.Path = good }, charTok, "the given tokenizer is char but data.tokenizer = bpe"},
	} {
		t.Run(tc.label, func(t *testing.T) {
			_, err := NewText(textConfig(tc.edit), 1, tc.tok)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "data: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if tc.tok == nil {
				if _, err2 := New(TaskText, textConfig(tc.edit), 1); err2 == nil || err2.Error() != err.Error() {
					t.Errorf("New(text) gave %v, NewText %v", err2, err)
				}
			}
		})
	}
	// Fields of other tasks are refused, and text fields are refused elsewhere.
	if err := textConfig(func(c *Config) { c.Triggers = 3 }).Validate(TaskText); err == nil {
		t.Error("triggers accepted by text")
	}
	c, _ := DefaultConfig(TaskZipf)
	c.BOS = true
	if err := c.Validate(TaskZipf); err == nil || !strings.Contains(err.Error(), "bos is not used by task zipf") {
		t.Errorf("bos on zipf: %v", err)
	}
	mustText(t, textConfig(func(c *Config) { c.Path, c.Tokenizer, c.SeqLen, c.EvalSize = short, TokenizerChar, 18, 0 }), 1, nil)
	// Eval size 0 needs no validation part.
	mustText(t, textConfig(func(c *Config) { c.Path, c.ValFrac, c.SeqLen, c.EvalSize = good, 0, 16, 0 }), 1, nil)
}

// TestTextSavedTokenizer: a task rebuilt from the saved tokenizer.json has
// the same ids, so the same batches and held-out set.
func TestTextSavedTokenizer(t *testing.T) {
	for _, tokName := range []string{TokenizerBPE, TokenizerChar} {
		t.Run(tokName, func(t *testing.T) {
			cfg := textConfig(func(c *Config) { c.Tokenizer, c.SeqLen = tokName, 48 })
			a := mustText(t, cfg, 5, nil)
			path := filepath.Join(t.TempDir(), "tokenizer.json")
			if err := TokenizerOf(a).SaveTokenizer(path); err != nil {
				t.Fatal(err)
			}
			tok, err := LoadTokenizer(path)
			if err != nil {
				t.Fatal(err)
			}
			b := mustText(t, cfg, 5, tok)
			if b.Vocab() != a.Vocab() || !batchesEqual(fill(a, newRNG(8), 16), fill(b, newRNG(8), 16)) ||
				!batchesEqual(a.Eval(64)[0], b.Eval(64)[0]) {
				t.Fatal("the task rebuilt from tokenizer.json differs")
			}
			if TokenizerOf(b) != tok {
				t.Error("TokenizerOf is not the tokenizer given")
			}
		})
	}
}

func TestTextFillAllocs(t *testing.T) {
	for _, bos := range []bool{true, false} {
		task := mustText(t, textConfig(func(c *Config) { c.Tokenizer, c.BOS = TokenizerChar, bos }), 1, nil)
		rng := newRNG(1)
		b := NewBatch(32, task.SeqLen())
		if n := testing.AllocsPerRun(20, func() { task.Fill(rng, b) }); n != 0 {
			t.Errorf("bos=%v: Fill allocates %v times per call", bos, n)
		}
	}
}

func BenchmarkFillText(b *testing.B) { benchFill(b, TaskText, nil, 64) }

// ExampleNewText builds the character-level text task on Opticks, saves its
// tokenizer and rebuilds the task from the saved file.
func ExampleNewText() {
	cfg, err := DefaultConfig(TaskText)
	if err != nil {
		panic(err)
	}
	cfg.Tokenizer, cfg.SeqLen, cfg.EvalSize = TokenizerChar, 64, 128
	task, err := NewText(cfg, 1, nil)
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "sinklab-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tokenizer.json")
	if err := TokenizerOf(task).SaveTokenizer(path); err != nil {
		panic(err)
	}
	tok, err := LoadTokenizer(path)
	if err != nil {
		panic(err)
	}
	again, err := NewText(cfg, 1, tok)
	if err != nil {
		panic(err)
	}
	b := NewBatch(4, task.SeqLen()) // (B, T)
	again.Fill(rand.New(rand.NewPCG(1, 2)), b)
	fmt.Printf("vocab %d, T %d, first input <bos>: %v, %q\n", again.Vocab(), again.SeqLen(),
		b.Inputs[0] == tok.BOS(), tok.Decode([]int32{tok.BOS(), 2, 3}))
	// Output: vocab 93, T 64, first input <bos>: true, "\n "
}
