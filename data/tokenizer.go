package data

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tokenizer maps text to token ids and back. The text task's tokenizers are
// the character-level one (`data.tokenizer=char`) and byte-level BPE
// (`data.tokenizer=bpe`); both are saved as a Hugging Face tokenizer.json by
// SaveTokenizer and read back by LoadTokenizer. Implementations in this
// package are safe for concurrent use.
type Tokenizer interface {
	// Encode returns the token ids of text. It never inserts special tokens:
	// a literal "<bos>" in the text is encoded as ordinary characters.
	Encode(text string) []int32
	// Decode returns the text of ids. Special tokens decode to nothing, except
	// the character tokenizer's <unk>, which decodes to U+FFFD; so do ids
	// outside [0, VocabSize()). Byte-level BPE ids decode to their exact
	// bytes, so a cut through a multi-byte character gives invalid UTF-8.
	Decode(ids []int32) string
	// VocabSize is the number of token ids, special tokens included.
	VocabSize() int
	// BOS is the id of the <bos> special token (<|endoftext|> for a loaded GPT-2 tokenizer).
	BOS() int32
	// SaveTokenizer writes the tokenizer to path as a Hugging Face
	// tokenizer.json, atomically (a temporary file renamed over path).
	SaveTokenizer(path string) error
}

// Tokenizer kinds (`data.tokenizer`).
const (
	TokenizerChar = "char" // one token per Unicode character of the corpus
	TokenizerBPE  = "bpe"  // byte-level BPE (GPT-2 pre-tokenization), trained on the corpus
)

// minBPEVocab is the smallest BPE vocabulary: the 256 byte tokens and <bos>.
const minBPEVocab = 257

// Special tokens. The tokenizers trained here put them first: <bos> is id 0,
// and the character tokenizer's <unk> is id 1.
const (
	tokBOS = "<bos>"
	tokUnk = "<unk>"
	// tokEndOfText is GPT-2's one special token, its BOS and EOS; a loaded
	// byte-level BPE tokenizer may use it in place of <bos>.
	tokEndOfText = "<|endoftext|>"
)

// ---------------------------------------------------------------------------
// Character tokenizer

// charTokenizer has one token per character. Trained here, its ids are
// 0 = <bos>, 1 = <unk>, then the corpus's characters in increasing code
// point order; a loaded one keeps the ids of its file.
type charTokenizer struct {
	runes []rune               // (V) character of each id; −1 for special tokens
	bos   int32                // id of <bos>
	unk   int32                // id of <unk>, for characters outside the vocabulary
	ids   map[rune]int32       // id of each character
	ascii [utf8.RuneSelf]int32 // id of each ASCII character (unk if absent)
}

// newCharTokenizer builds a character tokenizer from the character of each
// id (−1 for special tokens) and the ids of <bos> and <unk>.
func newCharTokenizer(runes []rune, bos, unk int32) (*charTokenizer, error) {
	n := int32(len(runes))
	for _, sp := range []struct {
		name string
		id   int32
	}{{tokBOS, bos}, {tokUnk, unk}} {
		if sp.id < 0 || sp.id >= n || runes[sp.id] >= 0 {
			return nil, fmt.Errorf("%s id %d is not a special token of the %d", sp.name, sp.id, n)
		}
	}
	if bos == unk {
		return nil, fmt.Errorf("%s and %s have the same id %d", tokBOS, tokUnk, bos)
	}
	t := &charTokenizer{runes: runes, bos: bos, unk: unk, ids: make(map[rune]int32, len(runes))}
	for i := range t.ascii {
		t.ascii[i] = unk
	}
	for id, r := range runes {
		if r < 0 {
			continue
		}
		if !utf8.ValidRune(r) {
			return nil, fmt.Errorf("token %d is not a valid character (%U)", id, r)
		}
		if prev, dup := t.ids[r]; dup {
			return nil, fmt.Errorf("tokens %d and %d are both %q", prev, id, r)
		}
		t.ids[r] = int32(id)
		if r < utf8.RuneSelf {
			t.ascii[r] = int32(id)
		}
	}
	return t, nil
}

// charTokenizerFor returns the character tokenizer of the distinct
// characters of texts: <bos> = 0, <unk> = 1, then the characters in
// increasing code point order.
func charTokenizerFor(texts []string) *charTokenizer {
	seen := map[rune]bool{}
	for _, s := range texts {
		for _, r := range s {
			seen[r] = true
		}
	}
	runes := []rune{-1, -1}
	for r := range seen {
		runes = append(runes, r)
	}
	slices.Sort(runes[2:])
	t, err := newCharTokenizer(runes, 0, 1)
	if err != nil {
		panic("data: charTokenizerFor: " + err.Error()) // a bug here, not bad input
	}
	return t
}

// Encode returns one id per character; characters outside the vocabulary
// (and invalid UTF-8 bytes) get <unk>.
func (t *charTokenizer) Encode(text string) []int32 {
	out := make([]int32, 0, len(text))
	for i := 0; i < len(text); {
		if c := text[i]; c < utf8.RuneSelf {
			out = append(out, t.ascii[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		id, ok := t.ids[r]
		if !ok || (r == utf8.RuneError && size == 1) {
			id = t.unk
		}
		out = append(out, id)
		i += size
	}
	return out
}

// Decode concatenates the characters of ids.
func (t *charTokenizer) Decode(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		switch {
		case id >= 0 && int(id) < len(t.runes) && t.runes[id] >= 0:
			b.WriteRune(t.runes[id])
		case id == t.bos:
		default: // <unk>, out of range
			b.WriteRune(utf8.RuneError)
		}
	}
	return b.String()
}

// VocabSize returns the number of tokens: the characters, <bos> and <unk>.
func (t *charTokenizer) VocabSize() int { return len(t.runes) }

// BOS returns the id of <bos>.
func (t *charTokenizer) BOS() int32 { return t.bos }

// ---------------------------------------------------------------------------
// Byte-level BPE

// bpeTokenizer is byte-level BPE as in GPT-2 and Hugging Face's ByteLevel
// pre-tokenizer (add_prefix_space false): the text is split into pieces by
// the GPT-2 pattern (see nextPiece), each piece's UTF-8 bytes are the initial
// symbols, and merges are applied by rank exactly as Hugging Face's BPE model
// does (the lowest-ranked adjacent pair first, then the leftmost).
//
// Ids: 0 = <bos>; for tokenizers trained here, 1+b is the token of byte b and
// 257+r the token made by merge r. A loaded tokenizer may number its tokens
// otherwise.
type bpeTokenizer struct {
	bos int32
	// bosName is the name of the BOS special token in tokenizer.json: "" for
	// <bos>, "<|endoftext|>" for a loaded GPT-2 tokenizer.
	bosName string
	tokens  [][]byte         // (V) bytes of each token; nil for special tokens
	byteID  [256]int32       // token of each single byte
	merges  map[uint64]merge // pair (a<<32 | b) → its merge
	// mergeList is the merges in rank order as (a, b) pairs, for saving.
	mergeList [][2]int32
}

// merge is one BPE merge: its rank (lower merges first) and the new token.
type merge struct{ rank, id int32 }

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// Encode returns the BPE ids of text. A piece seen before in the same call
// is looked up instead of merged again.
func (t *bpeTokenizer) Encode(text string) []int32 {
	out := make([]int32, 0, len(text)/2+1)
	cache := make(map[string][2]int32) // piece → [start, end) in arena
	var arena []int32
	var sc bpeScratch
	for i := 0; i < len(text); {
		j := nextPiece(text, i)
		piece := text[i:j]
		if se, ok := cache[piece]; ok {
			out = append(out, arena[se[0]:se[1]]...)
		} else {
			start := int32(len(arena))
			arena = t.encodePiece(&sc, piece, arena)
			cache[piece] = [2]int32{start, int32(len(arena))}
			out = append(out, arena[start:]...)
		}
		i = j
	}
	return out
}

// bpeScratch is the reusable state of encodePiece.
type bpeScratch struct {
	sym  []bpeSymbol
	heap []bpeCand
}

// bpeSymbol is one symbol of a piece being merged, in a doubly linked list.
type bpeSymbol struct {
	id         int32
	prev, next int32 // −1 at the ends
	dead       bool  // merged into its left neighbour
}

// bpeCand is a candidate merge of the symbol at pos with its next symbol.
type bpeCand struct{ rank, pos, id int32 }

func (c bpeCand) less(d bpeCand) bool { return c.rank < d.rank || (c.rank == d.rank && c.pos < d.pos) }

// encodePiece appends the ids of one piece to out. This is Hugging Face's
// Word::merge_all: a min-heap of candidate merges ordered by (rank,
// position); a popped candidate is applied if the pair at its position still
// makes the same token, and the pairs it forms with its neighbours are
// pushed. O(n log n) in the piece length.
func (t *bpeTokenizer) encodePiece(sc *bpeScratch, piece string, out []int32) []int32 {
	n := len(piece)
	if n == 1 {
		return append(out, t.byteID[piece[0]])
	}
	sc.sym = sc.sym[:0]
	sc.heap = sc.heap[:0]
	for i := 0; i < n; i++ {
		sc.sym = append(sc.sym, bpeSymbol{id: t.byteID[piece[i]], prev: int32(i - 1), next: int32(i + 1)})
	}
	sc.sym[n-1].next = -1
	for i := 0; i+1 < n; i++ {
		if m, ok := t.merges[pairKey(sc.sym[i].id, sc.sym[i+1].id)]; ok {
			sc.push(bpeCand{m.rank, int32(i), m.id})
		}
	}
	for len(sc.heap) > 0 {
		c := sc.pop()
		s := &sc.sym[c.pos]
		if s.dead || s.next < 0 {
			continue
		}
		right := &sc.sym[s.next]
		if m, ok := t.merges[pairKey(s.id, right.id)]; !ok || m.id != c.id {
			continue // stale: the pair at pos changed since the push
		}
		s.id = c.id
		right.dead = true
		s.next = right.next
		if s.next >= 0 {
			sc.sym[s.next].prev = c.pos
		}
		if s.prev >= 0 {
			if m, ok := t.merges[pairKey(sc.sym[s.prev].id, s.id)]; ok {
				sc.push(bpeCand{m.rank, s.prev, m.id})
			}
		}
		if s.next >= 0 {
			if m, ok := t.merges[pairKey(s.id, sc.sym[s.next].id)]; ok {
				sc.push(bpeCand{m.rank, c.pos, m.id})
			}
		}
	}
	for i := int32(0); i >= 0; i = sc.sym[i].next {
		out = append(out, sc.sym[i].id)
	}
	return out
}

func (sc *bpeScratch) push(c bpeCand) {
	h := append(sc.heap, c)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].less(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	sc.heap = h
}

func (sc *bpeScratch) pop() bpeCand {
	h := sc.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, small := 2*i+1, i
		if l < len(h) && h[l].less(h[small]) {
			small = l
		}
		if r := l + 1; r < len(h) && h[r].less(h[small]) {
			small = r
		}
		if small == i {
			break
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
	sc.heap = h
	return top
}

// Decode concatenates the bytes of ids; special tokens give nothing and ids
// outside the vocabulary give U+FFFD.
func (t *bpeTokenizer) Decode(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.tokens) {
			b.WriteRune(utf8.RuneError)
			continue
		}
		b.Write(t.tokens[id])
	}
	return b.String()
}

// VocabSize returns the number of tokens, <bos> included.
func (t *bpeTokenizer) VocabSize() int { return len(t.tokens) }

// BOS returns the id of <bos>.
func (t *bpeTokenizer) BOS() int32 { return t.bos }

// ---------------------------------------------------------------------------
// GPT-2 pre-tokenization

// Character classes of the GPT-2 pattern.
const (
	classOther  = iota // [^\s\p{L}\p{N}]
	classLetter        // \p{L}
	classNumber        // \p{N}
	classSpace         // \s (Unicode White_Space)
)

// asciiClass is the class of each ASCII byte.
var asciiClass = func() (c [utf8.RuneSelf]uint8) {
	for i := range c {
		c[i] = runeClass(rune(i))
	}
	return c
}()

func runeClass(r rune) uint8 {
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

// classAt returns the class and byte width of the character at s[i]. An
// invalid UTF-8 byte is one character of class other.
func classAt(s string, i int) (uint8, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size == 1 {
		return classOther, 1
	}
	return runeClass(r), size
}

// nextPiece returns the end of the pre-tokenization piece that starts at
// s[i]. The pieces are the matches of GPT-2's pattern (the one Hugging Face's
// ByteLevel pre-tokenizer uses with use_regex true):
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// matched leftmost-first; they cover s, so the pieces concatenate to s.
// Go's regexp has no look-ahead, hence this hand-written scanner.
func nextPiece(s string, i int) int {
	n := len(s)
	if s[i] == '\'' && i+1 < n {
		switch s[i+1] {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v': // 're, 've
			if i+2 < n && s[i+2] == 'e' {
				return i + 3
			}
		case 'l': // 'll
			if i+2 < n && s[i+2] == 'l' {
				return i + 3
			}
		}
	}
	cls, w := classAt(s, i)
	j := i + w
	if s[i] == ' ' && j < n {
		if c, _ := classAt(s, j); c != classSpace {
			cls, i = c, j // " ?X+": the space joins the run that follows
			_, w = classAt(s, i)
			j = i + w
		}
	}
	if cls != classSpace {
		for j < n {
			c, w := classAt(s, j)
			if c != cls {
				break
			}
			j += w
		}
		return j
	}
	// A run of white space: \s+(?!\S) takes all of it but the last character
	// when a non-space follows (that character then starts the next piece,
	// either joining a word as " ?X+" or alone by \s+); otherwise all of it.
	last := i
	for j < n {
		c, w := classAt(s, j)
		if c != classSpace {
			if last > i {
				return last
			}
			return j
		}
		last = j
		j += w
	}
	return j
}

// newBPETokenizer builds a byte-level BPE tokenizer from the bytes of each
// token (nil for a special token), the id of <bos>, and the merges in rank
// order as pairs of token ids; the token a merge makes is the one whose bytes
// are the concatenation. It reports duplicate tokens, a missing single-byte
// token, and merges of unknown or special tokens or with no resulting token.
func newBPETokenizer(tokens [][]byte, bos int32, mergeList [][2]int32) (*bpeTokenizer, error) {
	n := int32(len(tokens))
	if bos < 0 || bos >= n || tokens[bos] != nil {
		return nil, fmt.Errorf("bos id %d is not a special token of the %d", bos, n)
	}
	t := &bpeTokenizer{bos: bos, tokens: tokens, merges: make(map[uint64]merge, len(mergeList)),
		mergeList: mergeList}
	byBytes := make(map[string]int32, len(tokens))
	for id, tok := range tokens {
		if tok == nil {
			continue
		}
		if len(tok) == 0 {
			return nil, fmt.Errorf("token %d is empty", id)
		}
		if prev, dup := byBytes[string(tok)]; dup {
			return nil, fmt.Errorf("tokens %d and %d are both %q", prev, id, tok)
		}
		byBytes[string(tok)] = int32(id)
	}
	for b := 0; b < 256; b++ {
		id, ok := byBytes[string([]byte{byte(b)})]
		if !ok {
			return nil, fmt.Errorf("no token for byte 0x%02x: not a byte-level vocabulary", b)
		}
		t.byteID[b] = id
	}
	for r, m := range mergeList {
		a, b := m[0], m[1]
		if a < 0 || a >= n || b < 0 || b >= n || tokens[a] == nil || tokens[b] == nil {
			return nil, fmt.Errorf("merge %d (%d, %d) is not a pair of ordinary tokens", r, a, b)
		}
		id, ok := byBytes[string(tokens[a])+string(tokens[b])]
		if !ok {
			return nil, fmt.Errorf("merge %d %q + %q makes no token of the vocabulary", r, tokens[a], tokens[b])
		}
		k := pairKey(a, b)
		if _, dup := t.merges[k]; dup {
			return nil, fmt.Errorf("merge %d %q + %q is repeated", r, tokens[a], tokens[b])
		}
		t.merges[k] = merge{rank: int32(r), id: id}
	}
	return t, nil
}
