package data

import (
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// opticks returns the default corpus text.
func opticks(t testing.TB) string {
	t.Helper()
	path, err := defaultCorpusPath()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// opticksBPE is the BPE tokenizer of the whole of Opticks at vocab 512,
// trained once per test binary.
var opticksBPE = sync.OnceValue(func() *bpeTokenizer {
	path, _ := defaultCorpusPath()
	raw, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return trainBPE([]string{string(raw)}, 512)
})

// pieces splits s by nextPiece.
func pieces(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		j := nextPiece(s, i)
		out = append(out, s[i:j])
		i = j
	}
	return out
}

// TestPretokenizeHF: the pieces are those of Hugging Face's ByteLevel
// pre-tokenizer (use_regex true, add_prefix_space false); the expected
// values were produced by tokenizers 0.23.2.
func TestPretokenizeHF(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"Hello  world", []string{"Hello", " ", " world"}},
		{"  \nThe", []string{"  ", "\n", "The"}},
		{"don't", []string{"don", "'t"}},
		{"x\u00a0y  ", []string{"x", "\u00a0", "y", "  "}},
		{"!'s 42abc\t\tz", []string{"!'", "s", " 42", "abc", "\t", "\t", "z"}},
		{" 's", []string{" '", "s"}},
		{"I'll've 'RE it's", []string{"I", "'ll", "'ve", " '", "RE", " it", "'s"}},
		{"½٣ 😀😀 naïve", []string{"½٣", " 😀😀", " naïve"}},
		{"   ", []string{"   "}},
		{"a \n", []string{"a", " \n"}},
		{"\u3000x", []string{"\u3000", "x"}},
		{"a\r\nb  c\n", []string{"a", "\r", "\n", "b", " ", " c", "\n"}},
		{"'", []string{"'"}},
		{"end ", []string{"end", " "}},
		{"x'", []string{"x", "'"}},
		{"Ⅻ ⅻ2", []string{"Ⅻ", " ⅻ2"}},
	} {
		if got := pieces(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("pieces(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// randomText draws n characters from a mix that exercises every branch of
// the pre-tokenizer and the byte-level encoder.
func randomText(rng *rand.Rand, n int) string {
	alphabet := []string{"a", "b", "e", "s", "t", "l", "r", "v", "m", "d", "Z", " ", " ", "  ", "\n", "\t", "'", "!", ".",
		"-", "3", "7", "é", "ï", "½", "\u00a0", "\u3000", "😀", "λ", "\r\n", "'s", "'ll", "'ve"}
	var b strings.Builder
	for range n {
		b.WriteString(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

func TestPretokenizeCovers(t *testing.T) {
	rng := newRNG(3)
	for range 200 {
		s := randomText(rng, rng.IntN(40))
		ps := pieces(s)
		if strings.Join(ps, "") != s {
			t.Fatalf("pieces of %q do not concatenate back: %q", s, ps)
		}
		for _, p := range ps {
			if p == "" {
				t.Fatalf("empty piece in %q", s)
			}
		}
	}
}

func TestCharTokenizer(t *testing.T) {
	tok := charTokenizerFor([]string{"hello", "wörld\n"})
	// <bos>, <unk>, then '\n' d e h l o r w ö by code point.
	want := []rune{-1, -1, '\n', 'd', 'e', 'h', 'l', 'o', 'r', 'w', 'ö'}
	if !slices.Equal(tok.runes, want) || tok.VocabSize() != len(want) || tok.BOS() != 0 || tok.unk != 1 {
		t.Fatalf("runes %q, vocab %d, bos %d, unk %d; want %q", tok.runes, tok.VocabSize(), tok.BOS(), tok.unk, want)
	}
	if got := tok.Encode("low\nö"); !slices.Equal(got, []int32{6, 7, 9, 2, 10}) {
		t.Errorf("Encode(low\\nö) = %v", got)
	}
	ids := tok.Encode("hex\xff!")
	if !slices.Equal(ids, []int32{5, 4, 1, 1, 1}) {
		t.Errorf("unknown characters and bytes: %v, want <unk> (1) for x, \\xff and !", ids)
	}
	if got := tok.Decode([]int32{0, 5, 4, 1, 99, -1}); got != "he\uFFFD\uFFFD\uFFFD" {
		t.Errorf("Decode = %q: <bos> gives nothing, <unk> and bad ids U+FFFD", got)
	}
}

func TestBPETrainerMatchesNaive(t *testing.T) {
	for seed := range uint64(12) {
		rng := newRNG(seed)
		texts := []string{randomText(rng, 150), randomText(rng, 80)}
		if seed%3 == 0 {
			texts = append(texts, strings.Repeat("aaaa bbbb <bos> ", 5)) // overlapping pairs, and "<bos>" spelled out
		}
		vocab := 257 + 10 + rng.IntN(60)
		got := trainBPE(texts, vocab)
		want := naiveBPE(texts, vocab)
		if !slices.Equal(got.mergeList, want) {
			t.Fatalf("seed %d: merges differ from the naive trainer:\n got %v\nwant %v", seed, got.mergeList, want)
		}
		if got.VocabSize() != 257+len(want) {
			t.Fatalf("seed %d: vocab %d, want %d", seed, got.VocabSize(), 257+len(want))
		}
		for id, tok := range got.tokens {
			if string(tok) == tokBOS {
				t.Fatalf("seed %d: token %d spells %s", seed, id, tokBOS)
			}
		}
	}
}

// naiveBPE is the reference trainer: recount every adjacent pair of every
// word at each step, merge the most frequent (ties: the smaller pair) that
// does not spell <bos>, left to right in each word.
func naiveBPE(texts []string, vocab int) [][2]int32 {
	counts := map[string]int64{}
	for _, s := range texts {
		for _, p := range pieces(s) {
			counts[p]++
		}
	}
	type word struct {
		sym []int32
		n   int64
	}
	var words []word
	for p, n := range counts {
		w := word{n: n}
		for i := 0; i < len(p); i++ {
			w.sym = append(w.sym, 1+int32(p[i]))
		}
		words = append(words, w)
	}
	tokens := make([]string, 257)
	for b := range 256 {
		tokens[1+b] = string([]byte{byte(b)})
	}
	var merges [][2]int32
	for len(tokens) < vocab {
		pc := map[[2]int32]int64{}
		for _, w := range words {
			for i := 0; i+1 < len(w.sym); i++ {
				pc[[2]int32{w.sym[i], w.sym[i+1]}] += w.n
			}
		}
		var best [2]int32
		var bestN int64
		for p, n := range pc {
			if tokens[p[0]]+tokens[p[1]] == tokBOS {
				continue
			}
			if n > bestN || (n == bestN && (p[0] < best[0] || (p[0] == best[0] && p[1] < best[1]))) {
				best, bestN = p, n
			}
		}
		if bestN == 0 {
			break
		}
		id := int32(len(tokens))
		tokens = append(tokens, tokens[best[0]]+tokens[best[1]])
		merges = append(merges, best)
		for k := range words {
			s := words[k].sym
			var out []int32
			for i := 0; i < len(s); i++ {
				if i+1 < len(s) && s[i] == best[0] && s[i+1] == best[1] {
					out = append(out, id)
					i++
				} else {
					out = append(out, s[i])
				}
			}
			words[k].sym = out
		}
	}
	return merges
}

func TestBPETrainerDeterministic(t *testing.T) {
	text := opticks(t)[:100000]
	a, b := trainBPE([]string{text}, 400), trainBPE([]string{text}, 400)
	if !slices.Equal(a.mergeList, b.mergeList) {
		t.Fatal("two trainings on the same text gave different merges")
	}
	if a.VocabSize() != 400 {
		t.Errorf("vocab %d, want 400", a.VocabSize())
	}
	// A corpus that runs out of pairs stops early.
	if small := trainBPE([]string{"abab"}, 1000); small.VocabSize() != 259 {
		t.Errorf("vocab on \"abab\" = %d, want 259 (ab, then abab)", small.VocabSize())
	}
}

// naiveEncodePiece is Hugging Face's merge order done slowly: repeatedly
// apply the lowest-ranked adjacent pair, the leftmost among equals.
func naiveEncodePiece(t *bpeTokenizer, piece string) []int32 {
	var sym []int32
	for i := 0; i < len(piece); i++ {
		sym = append(sym, t.byteID[piece[i]])
	}
	for {
		best, bestRank := -1, int32(-1)
		var bestID int32
		for i := 0; i+1 < len(sym); i++ {
			if m, ok := t.merges[pairKey(sym[i], sym[i+1])]; ok && (best < 0 || m.rank < bestRank) {
				best, bestRank, bestID = i, m.rank, m.id
			}
		}
		if best < 0 {
			return sym
		}
		sym = slices.Replace(sym, best, best+2, bestID)
	}
}

func TestBPEEncodeMatchesNaive(t *testing.T) {
	tok := opticksBPE()
	rng := newRNG(5)
	texts := []string{opticks(t)[:20000], strings.Repeat("-", 300) + strings.Repeat(" ", 77) + "\n\n\n  x"}
	for range 100 {
		texts = append(texts, randomText(rng, 60))
	}
	var sc bpeScratch
	for _, text := range texts {
		var want []int32
		for _, p := range pieces(text) {
			want = append(want, naiveEncodePiece(tok, p)...)
			if got := tok.encodePiece(&sc, p, nil); !slices.Equal(got, naiveEncodePiece(tok, p)) {
				t.Fatalf("piece %q: %v, naive %v", p, got, naiveEncodePiece(tok, p))
			}
		}
		if got := tok.Encode(text); !slices.Equal(got, want) {
			t.Fatalf("Encode(%.40q…) differs from piece-by-piece encoding", text)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	text := opticks(t)
	bpe := opticksBPE()
	char := charTokenizerFor([]string{text})
	for _, tc := range []struct {
		name string
		tok  Tokenizer
	}{{TokenizerBPE, bpe}, {TokenizerChar, char}} {
		t.Run(tc.name, func(t *testing.T) {
			ids := tc.tok.Encode(text)
			if got := tc.tok.Decode(ids); got != text {
				t.Fatal("Decode(Encode(Opticks)) differs from Opticks")
			}
			for _, id := range ids {
				if id < 0 || int(id) >= tc.tok.VocabSize() || id == tc.tok.BOS() {
					t.Fatalf("id %d: outside [0, %d) or <bos>", id, tc.tok.VocabSize())
				}
			}
			if tc.name == TokenizerChar && len(ids) != utf8.RuneCountInString(text) {
				t.Errorf("char: %d ids for %d characters", len(ids), utf8.RuneCountInString(text))
			}
			if tc.name == TokenizerBPE && len(ids) > len(text)/2 {
				t.Errorf("bpe at 512: %d ids for %d bytes, expected better than 2 bytes per token", len(ids), len(text))
			}
		})
	}
	// Byte-level BPE is exact on any bytes, invalid UTF-8 included.
	rng := newRNG(9)
	for range 100 {
		s := []byte(randomText(rng, 30))
		if len(s) > 0 && rng.IntN(2) == 0 {
			s[rng.IntN(len(s))] = byte(0x80 + rng.IntN(0x80))
		}
		if got := bpe.Decode(bpe.Encode(string(s))); got != string(s) {
			t.Fatalf("bpe round trip of %q gave %q", s, got)
		}
	}
}

// FuzzBPERoundTrip: Encode → Decode is the identity on any input.
func FuzzBPERoundTrip(f *testing.F) {
	for _, s := range []string{"", "hello world", "  \n\n x", "don't 'LL", "\xff\xfe", "😀😀 naïve", "<bos>"} {
		f.Add(s)
	}
	tok := trainBPE([]string{"the cat sat on the mat, don't   you see?\n\n<bos> 123 ½"}, 300)
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Join(pieces(s), "") != s {
			t.Fatalf("pieces of %q do not concatenate back", s)
		}
		if got := tok.Decode(tok.Encode(s)); got != s {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	})
}

// BenchmarkEncodeOpticks encodes all of Opticks (567 kB) with the BPE
// tokenizer at vocab 512; MB/s is reported from SetBytes.
func BenchmarkEncodeOpticks(b *testing.B) {
	text := opticks(b)
	tok := opticksBPE()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(tok.Encode(text))
	}
	b.ReportMetric(float64(len(text))/float64(n), "bytes/token")
}

// BenchmarkTrainBPEOpticks trains byte-level BPE at vocab 512 on Opticks.
func BenchmarkTrainBPEOpticks(b *testing.B) {
	text := opticks(b)
	b.ReportAllocs()
	for b.Loop() {
		trainBPE([]string{text}, 512)
	}
}
