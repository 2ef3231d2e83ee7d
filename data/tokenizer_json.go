package data

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sinklab/sinklab/checkpoints/atomicfile"
	"os"
	"strings"
	"unicode/utf8"
)

// The tokenizers are saved in the Hugging Face tokenizers schema
// (tokenizer.json, version "1.0"), so `tokenizers.Tokenizer.from_file` and
// transformers' PreTrainedTokenizerFast read them and give the same ids:
//
//   - bpe: model BPE (vocab in id order, merges "a b" in rank order, tokens
//     spelled in GPT-2's byte-to-unicode alphabet), pre_tokenizer and decoder
//     ByteLevel with add_prefix_space false and use_regex true.
//   - char: model WordLevel with unk_token "<unk>", pre_tokenizer Split on
//     every character ("[\s\S]", Isolated), decoder Fuse.
//
// Special tokens are listed in added_tokens (special: true) and in the
// model's vocab with the same id. Hugging Face splits a literal "<bos>" in
// raw text into the special token; Tokenizer.Encode here does not.
//
// LoadTokenizer reads back exactly these two layouts and reports anything
// else (another model, normalizer or pre-tokenizer) as unsupported.

// charSplitPattern is the Split pre-tokenizer's regex: one match per character.
const charSplitPattern = `[\s\S]`

// hfFile is the top level of tokenizer.json.
type hfFile struct {
	Version       string          `json:"version"`
	Truncation    json.RawMessage `json:"truncation"`
	Padding       json.RawMessage `json:"padding"`
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

// hfAddedToken is one entry of added_tokens.
type hfAddedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// hfByteLevel is the ByteLevel pre-tokenizer and decoder.
type hfByteLevel struct {
	Type           string `json:"type"`
	AddPrefixSpace bool   `json:"add_prefix_space"`
	TrimOffsets    bool   `json:"trim_offsets"`
	UseRegex       *bool  `json:"use_regex"` // absent means true
}

// hfSplit is the Split pre-tokenizer.
type hfSplit struct {
	Type    string `json:"type"`
	Pattern struct {
		Regex  *string `json:"Regex,omitempty"`
		String *string `json:"String,omitempty"`
	} `json:"pattern"`
	Behavior string `json:"behavior"`
	Invert   bool   `json:"invert"`
}

// byteChars is GPT-2's bytes_to_unicode: the printable bytes '!'…'~',
// '¡'…'¬', '®'…'ÿ' stand for themselves and the other 68 bytes, in order,
// for U+0100…U+0143 (so the space is 'Ġ' and the newline 'Ċ'). charBytes is
// its inverse, indexed by code point (−1: not in the alphabet).
var byteChars, charBytes = func() (m [256]rune, inv [256 + 68]int16) {
	for i := range inv {
		inv[i] = -1
	}
	n := rune(0)
	for b := 0; b < 256; b++ {
		if ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF) {
			m[b] = rune(b)
		} else {
			m[b] = 256 + n
			n++
		}
		inv[m[b]] = int16(b)
	}
	return m, inv
}()

// byteLevelString spells bytes in the byte-to-unicode alphabet.
func byteLevelString(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(byteChars[c])
	}
	return sb.String()
}

// byteLevelBytes reads a byte-level spelling back; ok is false if s is empty
// or has a character outside the alphabet.
func byteLevelBytes(s string) (b []byte, ok bool) {
	for _, r := range s {
		if r < 0 || int(r) >= len(charBytes) || charBytes[r] < 0 {
			return nil, false
		}
		b = append(b, byte(charBytes[r]))
	}
	return b, len(b) > 0
}

// jsonString encodes s as a JSON string without HTML escaping.
func jsonString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// writeVocab writes `"vocab":{…}` with the entries in id order.
func writeVocab(buf *bytes.Buffer, names []string) {
	buf.WriteString(`"vocab":{`)
	for id, name := range names {
		if id > 0 {
			buf.WriteByte(',')
		}
		buf.Write(jsonString(name))
		fmt.Fprintf(buf, ":%d", id)
	}
	buf.WriteByte('}')
}

// marshalHF assembles a tokenizer.json, indented like Hugging Face's own.
func marshalHF(added []hfAddedToken, preTok, decoder string, model []byte) ([]byte, error) {
	f := hfFile{Version: "1.0", Truncation: json.RawMessage("null"), Padding: json.RawMessage("null"),
		AddedTokens: added, Normalizer: json.RawMessage("null"), PreTokenizer: json.RawMessage(preTok),
		PostProcessor: json.RawMessage("null"), Decoder: json.RawMessage(decoder), Model: model}
	var compact bytes.Buffer
	enc := json.NewEncoder(&compact)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func specialToken(id int32, content string) hfAddedToken {
	return hfAddedToken{ID: id, Content: content, Special: true}
}

// marshal returns the BPE tokenizer as tokenizer.json.
func (t *bpeTokenizer) marshal() ([]byte, error) {
	names := make([]string, len(t.tokens))
	var added []hfAddedToken
	for id, tok := range t.tokens {
		if tok == nil {
			if int32(id) != t.bos {
				return nil, fmt.Errorf("token %d is an unnamed special token", id)
			}
			name := tokBOS
			if t.bosName != "" {
				name = t.bosName
			}
			names[id] = name
			added = append(added, specialToken(int32(id), name))
			continue
		}
		names[id] = byteLevelString(tok)
	}
	var m bytes.Buffer
	m.WriteString(`{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,` +
		`"end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,`)
	writeVocab(&m, names)
	m.WriteString(`,"merges":[`)
	for r, p := range t.mergeList {
		if r > 0 {
			m.WriteByte(',')
		}
		m.Write(jsonString(names[p[0]] + " " + names[p[1]]))
	}
	m.WriteString(`]}`)
	const byteLevel = `{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}`
	return marshalHF(added, byteLevel, byteLevel, m.Bytes())
}

// marshal returns the character tokenizer as tokenizer.json.
func (t *charTokenizer) marshal() ([]byte, error) {
	names := make([]string, len(t.runes))
	var added []hfAddedToken
	for id, r := range t.runes {
		switch {
		case r >= 0:
			names[id] = string(r)
		case int32(id) == t.bos:
			names[id] = tokBOS
		case int32(id) == t.unk:
			names[id] = tokUnk
		default:
			return nil, fmt.Errorf("token %d is an unnamed special token", id)
		}
		if r < 0 {
			added = append(added, specialToken(int32(id), names[id]))
		}
	}
	var m bytes.Buffer
	m.WriteString(`{"type":"WordLevel",`)
	writeVocab(&m, names)
	m.WriteString(`,"unk_token":"` + tokUnk + `"}`)
	split := `{"type":"Split","pattern":{"Regex":` + string(jsonString(charSplitPattern)) +
		`},"behavior":"Isolated","invert":false}`
	return marshalHF(added, split, `{"type":"Fuse"}`, m.Bytes())
}

// SaveTokenizer writes the tokenizer to path as tokenizer.json (atomically).
func (t *bpeTokenizer) SaveTokenizer(path string) error { return saveTokenizer(t.marshal, path) }

// SaveTokenizer writes the tokenizer to path as tokenizer.json (atomically).
func (t *charTokenizer) SaveTokenizer(path string) error { return saveTokenizer(t.marshal, path) }

func saveTokenizer(marshal func() ([]byte, error), path string) error {
	raw, err := marshal()
	if err == nil {
		err = atomicfile.WriteFile(path, raw)
	}
	if err != nil {
		return fmt.Errorf("data: save tokenizer %s: %w", path, err)
	}
	return nil
}

// LoadTokenizer reads a tokenizer.json written by SaveTokenizer (or any
// Hugging Face file of the same two layouts) and returns the tokenizer.
func LoadTokenizer(path string) (Tokenizer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: load tokenizer: %w", err)
	}
	t, err := parseTokenizer(raw)
	if err != nil {
		return nil, fmt.Errorf("data: load tokenizer %s: %w", path, err)
	}
	return t, nil
}

// parseTokenizer decodes tokenizer.json.
func parseTokenizer(raw []byte) (Tokenizer, error) {
	var f hfFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("not a tokenizer.json: %w", err)
	}
	if !isNull(f.Normalizer) {
		return nil, errors.New("unsupported: a normalizer (want null)")
	}
	var model struct {
		Type string `json:"type"`
	}
	if len(f.Model) == 0 || json.Unmarshal(f.Model, &model) != nil {
		return nil, errors.New("no model object")
	}
	switch model.Type {
	case "BPE":
		return parseBPE(f)
	case "WordLevel":
		return parseChar(f)
	}
	return nil, fmt.Errorf("unsupported model type %q (want BPE or WordLevel)", model.Type)
}

func isNull(m json.RawMessage) bool {
	return len(m) == 0 || string(bytes.TrimSpace(m)) == "null"
}

// vocabIDs lays out the model vocab and the added tokens as one name per
// id 0…V−1 and returns the names and the set of special ids. Every id must
// be used exactly once, and an added token in the vocab must keep its id.
func vocabIDs(vocab map[string]int32, added []hfAddedToken) (names []string, special map[int32]bool, err error) {
	byID := map[int32]string{}
	for name, id := range vocab {
		if prev, dup := byID[id]; dup {
			return nil, nil, fmt.Errorf("vocab: %q and %q have the same id %d", prev, name, id)
		}
		byID[id] = name
	}
	special = map[int32]bool{}
	seen := map[string]bool{}
	for _, a := range added {
		if seen[a.Content] {
			return nil, nil, fmt.Errorf("added token %q is listed twice", a.Content)
		}
		seen[a.Content] = true
		if id, ok := vocab[a.Content]; ok && id != a.ID {
			return nil, nil, fmt.Errorf("added token %q has id %d, vocab says %d", a.Content, a.ID, id)
		}
		if name, ok := byID[a.ID]; ok && name != a.Content {
			return nil, nil, fmt.Errorf("added token %q has the id %d of %q", a.Content, a.ID, name)
		}
		if !a.Special {
			return nil, nil, fmt.Errorf("unsupported: added token %q is not special", a.Content)
		}
		byID[a.ID] = a.Content
		special[a.ID] = true
	}
	n := len(byID)
	if n == 0 || n > maxVocab {
		return nil, nil, fmt.Errorf("vocab has %d tokens", n)
	}
	names = make([]string, n)
	for id, name := range byID {
		if id < 0 || int(id) >= n {
			return nil, nil, fmt.Errorf("ids are not 0…%d: %q has id %d", n-1, name, id)
		}
		names[id] = name
	}
	return names, special, nil
}

// specialIDs returns the ids of the special tokens named want, in order; a
// missing one, or a special token of another name, is an error.
func specialIDs(names []string, special map[int32]bool, want ...string) ([]int32, error) {
	ids := make([]int32, len(want))
	for i, name := range want {
		ids[i] = -1
		for id := range special {
			if names[id] == name {
				ids[i] = id
			}
		}
		if ids[i] < 0 {
			return nil, fmt.Errorf("no special token %s in added_tokens", name)
		}
	}
	if len(special) != len(want) {
		return nil, fmt.Errorf("unsupported: special tokens other than %s", strings.Join(want, ", "))
	}
	return ids, nil
}

func parseBPE(f hfFile) (Tokenizer, error) {
	var m struct {
		Vocab                   map[string]int32 `json:"vocab"`
		Merges                  json.RawMessage  `json:"merges"`
		Dropout                 *float64         `json:"dropout"`
		ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
		ByteFallback            bool             `json:"byte_fallback"`
		IgnoreMerges            bool             `json:"ignore_merges"`
	}
	if err := json.Unmarshal(f.Model, &m); err != nil {
		return nil, fmt.Errorf("BPE model: %w", err)
	}
	switch {
	case m.Dropout != nil && *m.Dropout != 0:
		return nil, errors.New("unsupported: BPE dropout")
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "",
		m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return nil, errors.New("unsupported: BPE subword prefix or suffix (not byte-level BPE)")
	case m.ByteFallback || m.IgnoreMerges:
		return nil, errors.New("unsupported: BPE byte_fallback or ignore_merges")
	}
	var bl hfByteLevel
	if json.Unmarshal(f.PreTokenizer, &bl) != nil || bl.Type != "ByteLevel" || bl.AddPrefixSpace ||
		(bl.UseRegex != nil && !*bl.UseRegex) {
		return nil, fmt.Errorf("unsupported pre_tokenizer %s (want ByteLevel, add_prefix_space false, use_regex true)",
			bytes.TrimSpace(f.PreTokenizer))
	}
	// The ByteLevel decoder maps symbols back to bytes whatever its options
	// (GPT-2's own tokenizer.json sets add_prefix_space true on it).
	if json.Unmarshal(f.Decoder, &bl) != nil || bl.Type != "ByteLevel" {
		return nil, fmt.Errorf("unsupported decoder %s (want ByteLevel)", bytes.TrimSpace(f.Decoder))
	}
	names, special, err := vocabIDs(m.Vocab, f.AddedTokens)
	if err != nil {
		return nil, err
	}
	// The BOS is <bos> (tokenizers trained here) or GPT-2's <|endoftext|>,
	// which GPT-2 uses as its BOS and EOS.
	bosName := tokBOS
	if len(special) == 1 {
		for id := range special {
			if names[id] == tokEndOfText {
				bosName = tokEndOfText
			}
		}
	}
	sp, err := specialIDs(names, special, bosName)
	if err != nil {
		return nil, err
	}
	tokens := make([][]byte, len(names))
	for id, name := range names {
		if special[int32(id)] {
			continue
		}
		b, ok := byteLevelBytes(name)
		if !ok {
			return nil, fmt.Errorf("token %d %q is not spelled in the byte-level alphabet", id, name)
		}
		tokens[id] = b
	}
	pairs, err := parseMerges(m.Merges)
	if err != nil {
		return nil, err
	}
	mergeList := make([][2]int32, len(pairs))
	for r, p := range pairs {
		for k, name := range p {
			id, ok := m.Vocab[name]
			if !ok {
				return nil, fmt.Errorf("merge %d %q: %q is not in the vocab", r, p, name)
			}
			mergeList[r][k] = id
		}
	}
	t, err := newBPETokenizer(tokens, sp[0], mergeList)
	if err != nil {
		return nil, err
	}
	if bosName != tokBOS {
		t.bosName = bosName
	}
	return t, nil
}

// parseMerges reads merges as "a b" strings or as [a, b] pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		out := make([][2]string, len(strs))
		for r, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok || a == "" || b == "" || strings.Contains(b, " ") {
				return nil, fmt.Errorf("merge %d %q is not two tokens separated by one space", r, s)
			}
			out[r] = [2]string{a, b}
		}
		return out, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	out := make([][2]string, len(pairs))
	for r, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("merge %d has %d parts, want 2", r, len(p))
		}
		out[r] = [2]string{p[0], p[1]}
	}
	return out, nil
}

func parseChar(f hfFile) (Tokenizer, error) {
	var m struct {
		Vocab    map[string]int32 `json:"vocab"`
		UnkToken string           `json:"unk_token"`
	}
	if err := json.Unmarshal(f.Model, &m); err != nil {
		return nil, fmt.Errorf("WordLevel model: %w", err)
	}
	var sp hfSplit
	if json.Unmarshal(f.PreTokenizer, &sp) != nil || sp.Type != "Split" || sp.Pattern.Regex == nil ||
		*sp.Pattern.Regex != charSplitPattern || sp.Behavior != "Isolated" || sp.Invert {
		return nil, fmt.Errorf("unsupported pre_tokenizer %s (want Split on %q, Isolated)",
			bytes.TrimSpace(f.PreTokenizer), charSplitPattern)
	}
	var dec struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(f.Decoder, &dec) != nil || dec.Type != "Fuse" {
		return nil, fmt.Errorf("unsupported decoder %s (want Fuse)", bytes.TrimSpace(f.Decoder))
	}
	if m.UnkToken != tokUnk {
		return nil, fmt.Errorf("unk_token is %q, want %q", m.UnkToken, tokUnk)
	}
	names, special, err := vocabIDs(m.Vocab, f.AddedTokens)
	if err != nil {
		return nil, err
	}
	spIDs, err := specialIDs(names, special, tokBOS, tokUnk)
	if err != nil {
		return nil, err
	}
	runes := make([]rune, len(names))
	for id, name := range names {
		if special[int32(id)] {
			runes[id] = -1
			continue
		}
		r, size := utf8.DecodeRuneInString(name)
		if size == 0 || size != len(name) || (r == utf8.RuneError && size == 1) {
			return nil, fmt.Errorf("token %d %q is not one character", id, name)
		}
		runes[id] = r
	}
	return newCharTokenizer(runes, spIDs[0], spIDs[1])
}
