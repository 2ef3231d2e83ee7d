package data

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// refStats counts a corpus independently of readCorpusStats: characters by
// code point, pairs, and the k most frequent characters (ties: smaller code
// point first).
func refStats(text string, k int) (chars []rune, uni map[rune]int, bi map[[2]rune]int, triggers []rune) {
	rs := []rune(text)
	uni, bi = map[rune]int{}, map[[2]rune]int{}
	for i, r := range rs {
		uni[r]++
		if i > 0 {
			bi[[2]rune{rs[i-1], r}]++
		}
	}
	for r := range uni {
		chars = append(chars, r)
	}
	sort.Slice(chars, func(i, j int) bool { return chars[i] < chars[j] })
	byCount := slices.Clone(chars)
	sort.SliceStable(byCount, func(i, j int) bool { return uni[byCount[i]] > uni[byCount[j]] })
	return chars, uni, bi, byCount[:k]
}

func writeCorpus(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "corpus.txt")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBackcopyStructure checks SCIENCE.md §4 on the default corpus (Newton's
// Opticks) and on a small corpus: vocab = distinct characters + BOS; the
// triggers are the 3 most frequent characters; BOS first; x₁ never a trigger;
// after a trigger the target is the token before it (group "trigger");
// otherwise the transition has a positive bigram count in the corpus.
func TestBackcopyStructure(t *testing.T) {
	opticks, err := defaultCorpusPath()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		label, path string
		seqLen, k   int
	}{
		{"opticks", opticks, 256, 3},
		{"small", writeCorpus(t, "the cat sat on the mat; a bat ate the hat.\n"), 64, 3},
		{"one-trigger", writeCorpus(t, "abcabcaab éé"), 40, 1},
	} {
		t.Run(tc.label, func(t *testing.T) {
			text, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			chars, _, bi, trig := refStats(string(text), tc.k)
			tk := mustNew(t, TaskBackcopy, func(c *Config) { c.Corpus, c.SeqLen, c.Triggers = tc.path, tc.seqLen, tc.k }, 5)
			if tk.Vocab() != len(chars)+1 {
				t.Fatalf("vocab %d, want %d characters + BOS", tk.Vocab(), len(chars))
			}
			g := tk.(*task).gen.(*backcopy)
			if !slices.Equal(g.chars, chars) {
				t.Fatalf("characters %q, want %q", string(g.chars), string(chars))
			}
			var gotTrig []rune
			for id, isT := range g.trigger {
				if isT {
					gotTrig = append(gotTrig, g.chars[id-1])
				}
			}
			slices.Sort(gotTrig)
			slices.Sort(trig)
			if !slices.Equal(gotTrig, trig) {
				t.Fatalf("triggers %q, want %q", string(gotTrig), string(trig))
			}
			char := func(id int32) rune { return g.chars[id-1] }

			b := fill(tk, newRNG(9), 200)
			checkCommon(t, tk, b, 1)
			copies := 0
			for s := 0; s < b.B; s++ {
				r := batchRow(b, s)
				if r.in[0] != 0 || r.group[0] != groupNonTrigger {
					t.Fatalf("seq %d: starts with %d (group %d), want BOS", s, r.in[0], r.group[0])
				}
				if g.trigger[r.tgt[0]] {
					t.Fatalf("seq %d: x₁ = %q is a trigger", s, char(r.tgt[0]))
				}
				for p := 0; p < tc.seqLen; p++ {
					if r.mask[p] != 1/float32(tc.seqLen) || !r.score[p] {
						t.Fatalf("seq %d pos %d: mask %v score %v", s, p, r.mask[p], r.score[p])
					}
					if p+1 < tc.seqLen && r.tgt[p] != r.in[p+1] {
						t.Fatalf("seq %d: targets are not inputs shifted by one at %d", s, p)
					}
					if p == 0 {
						continue
					}
					cur, nx := r.in[p], r.tgt[p]
					if g.trigger[cur] {
						copies++
						if nx != r.in[p-1] || r.group[p] != groupTrigger {
							t.Fatalf("seq %d pos %d: after trigger %q target %q (group %d), want the copy %q",
								s, p, char(cur), char(nx), r.group[p], char(r.in[p-1]))
						}
					} else {
						if r.group[p] != groupNonTrigger {
							t.Fatalf("seq %d pos %d: non-trigger input in group %d", s, p, r.group[p])
						}
						a, c := char(cur), char(nx)
						if bi[[2]rune{a, c}] == 0 && hasSuccessor(bi, a) {
							t.Fatalf("seq %d pos %d: transition %q→%q never occurs in the corpus", s, p, a, c)
						}
					}
				}
			}
			if copies == 0 {
				t.Fatal("no trigger occurred")
			}
		})
	}
}

func hasSuccessor(bi map[[2]rune]int, a rune) bool {
	for pair, n := range bi {
		if pair[0] == a && n > 0 {
			return true
		}
	}
	return false
}

// TestBackcopyBigramFrequencies: the successors of the most frequent
// non-trigger character follow the corpus's bigram row (total variation
// below 0.03), and x₁ follows the unigram without triggers.
func TestBackcopyBigramFrequencies(t *testing.T) {
	tk := mustNew(t, TaskBackcopy, nil, 1)
	g := tk.(*task).gen.(*backcopy)
	path, _ := defaultCorpusPath()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	chars, uni, bi, trig := refStats(string(text), 3)
	var a rune
	for _, r := range chars {
		if !slices.Contains(trig, r) && (a == 0 || uni[r] > uni[a]) {
			a = r
		}
	}
	b := fill(tk, newRNG(2), 2000)
	next := map[rune]float64{}
	first := map[rune]float64{}
	var n float64
	for s := 0; s < b.B; s++ {
		r := batchRow(b, s)
		first[g.chars[r.tgt[0]-1]]++
		for p := 1; p < b.T; p++ {
			if g.chars[r.in[p]-1] == a {
				next[g.chars[r.tgt[p]-1]]++
				n++
			}
		}
	}
	var rowSum float64
	for pair, c := range bi {
		if pair[0] == a {
			rowSum += float64(c)
		}
	}
	var tv float64
	for _, c := range chars {
		tv += math.Abs(next[c]/n - float64(bi[[2]rune{a, c}])/rowSum)
	}
	t.Logf("successors of %q: %v draws, total variation %.4f", a, n, tv/2)
	if tv/2 > 0.03 || n < 2000 {
		t.Errorf("successors of %q (%v draws): total variation %.4f from the bigram row", a, n, tv/2)
	}
	// x₁: 2000 draws, so only check the support and the most common character.
	for r := range first {
		if slices.Contains(trig, r) {
			t.Errorf("x₁ = %q is a trigger", r)
		}
	}
}

func TestBackcopyTriggerTies(t *testing.T) {
	// b, c, d each occur 3 times, a twice: k = 2 picks b and c (smaller code points).
	st, err := readCorpusStats([]byte("dcbdcbdcbaa"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := string([]rune{st.chars[st.triggers[0]-1], st.chars[st.triggers[1]-1]}); got != "bc" {
		t.Errorf("triggers %q, want \"bc\"", got)
	}
}

func TestBackcopyCorpusErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-corpus.txt")
	for _, tc := range []struct {
		label, path, want string
	}{
		{"missing", missing, missing},
		{"too-few-characters", writeCorpus(t, "abab"), "need more than triggers"},
		{"not-utf8", writeCorpus(t, "ab\xffcd efg"), "UTF-8"},
		{"empty", writeCorpus(t, ""), "need more than triggers"},
	} {
		t.Run(tc.label, func(t *testing.T) {
			c, _ := DefaultConfig(TaskBackcopy)
			c.Corpus = tc.path
			_, err := New(TaskBackcopy, c, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
