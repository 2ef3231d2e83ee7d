package data

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"unicode/utf8"
)

// Groups of bigram-backcopy positions.
const (
	groupNonTrigger = 0 // input token is not a trigger: target drawn from the bigram
	groupTrigger    = 1 // input token is a trigger: target is the copied token
)

// backcopy is the Bigram-Backcopy task of Guo et al. 2024 (SCIENCE.md §4).
//
// Vocabulary: BOS = 0, then the corpus's distinct characters (Unicode code
// points) in increasing order as ids 1…K. Unigram and bigram counts come from
// the corpus; the triggers are the k most frequent characters (ties broken by
// the smaller code point). A sequence is BOS, x₁ drawn from the unigram
// marginal without the triggers, then repeatedly: after a trigger, the token
// before the trigger (a copy); otherwise a draw from the bigram P(·|current).
// A character that is never followed by another in the corpus (only possible
// for the corpus's last character) draws its successor from the unigram.
// Inputs seq[:-1], targets seq[1:], T = seq_len.
//
// Mask 1/T and Score at every position (mean next-token CE per sequence).
// Groups: "non-trigger" (input token not a trigger, the BOS position
// included) and "trigger" (input token is a trigger, so the target is a copy).
type backcopy struct {
	chars   []rune       // chars[id−1] is the character of token id
	trigger []bool       // (K+1) whether token id is a trigger
	first   aliasTable   // x₁: unigram without triggers, over index id−1
	next    []aliasTable // (K+1) bigram P(·|id) over index id−1; next[0] unused
	w       float32      // 1/T
}

// corpusStats are the character statistics of a corpus.
type corpusStats struct {
	chars    []rune    // distinct characters, increasing
	unigram  []float64 // (K) counts by index id−1
	bigram   []float64 // (K, K) counts of (id_a−1, id_b−1) pairs
	triggers []int32   // token ids of the k most frequent characters, most frequent first
}

func buildBackcopy(c Config) (*task, error) {
	path := c.Corpus
	if path == "" {
		var err error
		if path, err = defaultCorpusPath(); err != nil {
			return nil, err
		}
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: %s: read corpus %s: %w", TaskBackcopy, path, err)
	}
	st, err := readCorpusStats(text, c.Triggers)
	if err != nil {
		return nil, fmt.Errorf("data: %s: corpus %s: %w", TaskBackcopy, path, err)
	}
	k := len(st.chars)
	g := &backcopy{chars: st.chars, trigger: make([]bool, k+1), next: make([]aliasTable, k+1),
		w: 1 / float32(c.SeqLen)}
	for _, id := range st.triggers {
		g.trigger[id] = true
	}
	firstW := slices.Clone(st.unigram)
	for _, id := range st.triggers {
		firstW[id-1] = 0
	}
	g.first = newAliasTable(firstW)
	for a := 0; a < k; a++ {
		row := st.bigram[a*k : (a+1)*k]
		if sum(row) == 0 {
			row = st.unigram
		}
		g.next[a+1] = newAliasTable(row)
	}
	return &task{vocab: k + 1, seqLen: c.SeqLen, causal: true,
		groups: []string{"non-trigger", "trigger"}, gen: g}, nil
}

// readCorpusStats counts characters and character pairs of a UTF-8 text and
// picks the nTriggers most frequent characters.
func readCorpusStats(text []byte, nTriggers int) (*corpusStats, error) {
	if !utf8.Valid(text) {
		return nil, errors.New("not valid UTF-8")
	}
	s := string(text)
	count := map[rune]int{}
	for _, r := range s {
		count[r]++
	}
	if len(count) <= nTriggers {
		return nil, fmt.Errorf("%d distinct characters: need more than triggers = %d", len(count), nTriggers)
	}
	if len(count)+1 > maxVocab {
		return nil, fmt.Errorf("%d distinct characters: more than %d", len(count), maxVocab-1)
	}
	st := &corpusStats{}
	for r := range count {
		st.chars = append(st.chars, r)
	}
	slices.Sort(st.chars)
	k := len(st.chars)
	id := make(map[rune]int32, k) // token id − 1
	st.unigram = make([]float64, k)
	for i, r := range st.chars {
		id[r] = int32(i)
		st.unigram[i] = float64(count[r])
	}
	st.bigram = make([]float64, k*k)
	prev := int32(-1)
	for _, r := range s {
		cur := id[r]
		if prev >= 0 {
			st.bigram[int(prev)*k+int(cur)]++
		}
		prev = cur
	}
	order := make([]int32, k)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int {
		return cmp.Compare(st.unigram[b], st.unigram[a]) // by count, descending; stable keeps code-point order
	})
	for _, i := range order[:nTriggers] {
		st.triggers = append(st.triggers, i+1)
	}
	return st, nil
}

// defaultCorpusPath returns $(go env GOROOT)/src/testdata/Isaac.Newton-Opticks.txt,
// trying runtime.GOROOT() (which honours $GOROOT) before running `go env GOROOT`.
func defaultCorpusPath() (string, error) {
	rel := filepath.Join("src", "testdata", "Isaac.Newton-Opticks.txt")
	var tried []string
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if root := strings.TrimSpace(string(out)); root != "" {
			return filepath.Join(root, rel), nil // a missing file is reported, with its path, by the reader
		}
	}
	if len(tried) > 0 {
		return tried[0], nil
	}
	return "", fmt.Errorf("data: %s: cannot find GOROOT for the default corpus %s; set data.corpus to a text file", TaskBackcopy, rel)
}

func sum(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}

func (g *backcopy) row(rng *rand.Rand, r rowRef) {
	t := len(r.in)
	prev, cur := int32(0), 1+g.first.sample(rng) // seq[p−1], seq[p]
	r.in[0], r.tgt[0], r.group[0] = 0, cur, groupNonTrigger
	for p := 1; p < t; p++ {
		r.in[p] = cur
		var nx int32
		if g.trigger[cur] {
			nx = prev // copy the token before the trigger
			r.group[p] = groupTrigger
		} else {
			nx = 1 + g.next[cur].sample(rng)
			r.group[p] = groupNonTrigger
		}
		r.tgt[p] = nx
		prev, cur = cur, nx
	}
	for p := 0; p < t; p++ {
		r.mask[p], r.score[p] = g.w, true
	}
}
