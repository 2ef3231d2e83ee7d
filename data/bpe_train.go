package data

import (
	"bytes"
	"slices"
)

// trainBPE learns a byte-level BPE tokenizer from texts: <bos> is id 0, byte
// b is id 1+b, and merges are added (ids 257, 258, …) until the vocabulary
// has vocabSize tokens or no adjacent pair is left. vocabSize must be ≥ 257.
//
// This is the standard BPE trainer (Sennrich et al. 2016; Hugging Face's
// BpeTrainer): the texts are cut into pieces by the GPT-2 pattern
// (nextPiece), each distinct piece is a word of bytes weighted by its count,
// and each step merges the most frequent adjacent pair of symbols in every
// word, updating the pair counts incrementally. Ties go to the smaller pair
// (first token id, then second), so the result depends only on the texts. A
// merge whose bytes spell "<bos>" is never made, so no token collides with
// the special token's name in tokenizer.json.
//
// We train here instead of with sugarme/tokenizer v0.3.0's BpeTrainer, which
// breaks ties by map iteration order (two runs on Opticks give different
// merge orders, hence different ids), never decrements the counts of the
// pairs a merge destroys, and takes 7–10 s on Opticks at vocab 512.
func trainBPE(texts []string, vocabSize int) *bpeTokenizer {
	// Distinct pieces and their counts, in sorted order for determinism.
	counts := map[string]int64{}
	for _, s := range texts {
		for i := 0; i < len(s); {
			j := nextPiece(s, i)
			counts[s[i:j]]++
			i = j
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	words := make([]bpeWord, len(keys))
	for i, k := range keys {
		sym := make([]int32, len(k))
		for j := 0; j < len(k); j++ {
			sym[j] = 1 + int32(k[j])
		}
		words[i] = bpeWord{sym: sym, n: counts[k]}
	}

	tokens := make([][]byte, 257, vocabSize)
	for b := 0; b < 256; b++ {
		tokens[1+b] = []byte{byte(b)}
	}
	var mergeList [][2]int32

	// Pair counts, the words each pair occurs in (with repeats and stale
	// entries, filtered when used), and a max-heap of (count, pair) with lazy
	// updates: an entry whose count is out of date is re-pushed when popped.
	pairCount := map[uint64]int64{}
	where := map[uint64][]int32{}
	for wi, w := range words {
		for j := 0; j+1 < len(w.sym); j++ {
			k := pairKey(w.sym[j], w.sym[j+1])
			pairCount[k] += w.n
			where[k] = append(where[k], int32(wi))
		}
	}
	var h pairHeap
	for k, c := range pairCount {
		h.push(pairEntry{c, k})
	}

	stamp := make([]int, len(words)) // merge step at which a word was last merged
	delta := map[uint64]int64{}
	for step := 1; len(tokens) < vocabSize && len(h) > 0; {
		top := h.pop()
		cur := pairCount[top.pair]
		if cur != top.count {
			if cur > 0 {
				h.push(pairEntry{cur, top.pair})
			}
			continue
		}
		a, b := int32(top.pair>>32), int32(uint32(top.pair))
		tok := append(slices.Clip(tokens[a]), tokens[b]...)
		if bytes.Equal(tok, []byte(tokBOS)) {
			continue
		}
		id := int32(len(tokens))
		tokens = append(tokens, tok)
		mergeList = append(mergeList, [2]int32{a, b})

		clear(delta)
		for _, wi := range where[top.pair] {
			if stamp[wi] == step {
				continue
			}
			stamp[wi] = step
			w := &words[wi]
			w.merge(a, b, id, func(k uint64, d int64) {
				delta[k] += d * w.n
				if d > 0 {
					where[k] = append(where[k], wi)
				}
			})
		}
		delete(where, top.pair)
		delete(pairCount, top.pair)
		for k, d := range delta {
			if k == top.pair {
				continue // an overlapping occurrence, as in "aaa"; the pair is gone
			}
			c := pairCount[k] + d
			pairCount[k] = c
			if d > 0 && c > 0 {
				h.push(pairEntry{c, k})
			}
		}
		step++
	}
	t, err := newBPETokenizer(tokens, 0, mergeList)
	if err != nil {
		panic("data: trainBPE built an invalid tokenizer: " + err.Error()) // a bug here, not bad input
	}
	return t
}

// bpeWord is a distinct piece as a sequence of token ids, with its count.
type bpeWord struct {
	sym []int32
	n   int64
}

// merge replaces every occurrence of the pair (a, b) in w, left to right, by
// c, and reports the change of each adjacent pair's count (per occurrence of
// the word) to change: −1 for a pair destroyed, +1 for a pair formed. The
// merged pair itself is not reported.
func (w *bpeWord) merge(a, b, c int32, change func(pair uint64, d int64)) {
	s := w.sym
	out := s[:0] // in place: out never overtakes the read position
	for i := 0; i < len(s); {
		if i+1 < len(s) && s[i] == a && s[i+1] == b {
			if len(out) > 0 {
				prev := out[len(out)-1]
				change(pairKey(prev, a), -1)
				change(pairKey(prev, c), +1)
			}
			if i+2 < len(s) {
				next := s[i+2]
				change(pairKey(b, next), -1)
				change(pairKey(c, next), +1)
			}
			out = append(out, c)
			i += 2
			continue
		}
		out = append(out, s[i])
		i++
	}
	w.sym = out
}

// pairEntry is a heap entry: a pair and its count when pushed.
type pairEntry struct {
	count int64
	pair  uint64
}

// before orders the heap: higher count first, then the smaller pair.
func (e pairEntry) before(f pairEntry) bool {
	return e.count > f.count || (e.count == f.count && e.pair < f.pair)
}

// pairHeap is a binary heap of pair entries, best first.
type pairHeap []pairEntry

func (h *pairHeap) push(e pairEntry) {
	s := append(*h, e)
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s[i].before(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
	*h = s
}

func (h *pairHeap) pop() pairEntry {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, best := 2*i+1, i
		if l < len(s) && s[l].before(s[best]) {
			best = l
		}
		if r := l + 1; r < len(s) && s[r].before(s[best]) {
			best = r
		}
		if best == i {
			break
		}
		s[i], s[best] = s[best], s[i]
		i = best
	}
	*h = s
	return top
}
