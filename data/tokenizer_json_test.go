package data

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/model/bpe"
	"github.com/sugarme/tokenizer/pretrained"
)

// interopTail is text that exercises the pre-tokenizer's corners.
const interopTail = " tail  \n\n\t x\u00a0y\u3000z don't 'LL  42abc ½ ٣ 😀 naïve -------  \n"

func TestSaveLoadTokenizer(t *testing.T) {
	text := opticks(t)
	for _, tc := range []struct {
		name string
		tok  Tokenizer
	}{{TokenizerBPE, opticksBPE()}, {TokenizerChar, charTokenizerFor([]string{text})}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "tokenizer.json")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tc.tok.SaveTokenizer(path); err != nil { // replaces the old file
				t.Fatal(err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("save left %d files in the folder, want 1", len(entries))
			}
			back, err := LoadTokenizer(path)
			if err != nil {
				t.Fatal(err)
			}
			if back.VocabSize() != tc.tok.VocabSize() || back.BOS() != tc.tok.BOS() {
				t.Fatalf("loaded vocab %d bos %d, saved %d %d", back.VocabSize(), back.BOS(), tc.tok.VocabSize(), tc.tok.BOS())
			}
			full := text + interopTail
			ids := tc.tok.Encode(full)
			if !slices.Equal(back.Encode(full), ids) {
				t.Fatal("the loaded tokenizer gives other ids")
			}
			if back.Decode(ids) != tc.tok.Decode(ids) {
				t.Fatal("the loaded tokenizer decodes otherwise")
			}
			// Saving the loaded tokenizer writes the same bytes.
			again := filepath.Join(dir, "again.json")
			if err := back.SaveTokenizer(again); err != nil {
				t.Fatal(err)
			}
			a, _ := os.ReadFile(path)
			b, _ := os.ReadFile(again)
			if !bytes.Equal(a, b) {
				t.Error("save → load → save changed the file")
			}
			var f map[string]any
			if err := json.Unmarshal(a, &f); err != nil || f["version"] != "1.0" || f["model"] == nil {
				t.Errorf("not a tokenizer.json: %v", err)
			}
			if !bytes.Contains(a, []byte(`"content": "<bos>"`)) {
				t.Error("<bos> is not spelled plainly in added_tokens")
			}
		})
	}
	err := opticksBPE().SaveTokenizer(filepath.Join(t.TempDir(), "missing", "tokenizer.json"))
	if err == nil || !strings.HasPrefix(err.Error(), "data: save tokenizer") {
		t.Errorf("save into a missing folder: %v", err)
	}
}

// editJSON returns the saved tokenizer of tok as a map, changed by edit, as bytes.
func editJSON(t *testing.T, tok Tokenizer, edit func(f, model map[string]any)) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tok.SaveTokenizer(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	var f map[string]any
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	edit(f, f["model"].(map[string]any))
	out, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadTokenizerErrors(t *testing.T) {
	bpeTok := trainBPE([]string{"the cat sat on the mat"}, 270)
	charTok := charTokenizerFor([]string{"abc"})
	for _, tc := range []struct {
		label string
		tok   Tokenizer
		edit  func(f, model map[string]any)
		want  string
	}{
		{"model-type", bpeTok, func(f, m map[string]any) { m["type"] = "Unigram" }, `unsupported model type "Unigram"`},
		{"normalizer", bpeTok, func(f, m map[string]any) { f["normalizer"] = map[string]any{"type": "NFC"} }, "normalizer"},
		{"pre-tokenizer", bpeTok, func(f, m map[string]any) { f["pre_tokenizer"] = map[string]any{"type": "Whitespace"} }, "unsupported pre_tokenizer"},
		{"prefix-space", bpeTok, func(f, m map[string]any) {
			f["pre_tokenizer"].(map[string]any)["add_prefix_space"] = true
		}, "add_prefix_space false"},
		{"no-bos", bpeTok, func(f, m map[string]any) {
			f["added_tokens"] = []any{}
			delete(m["vocab"].(map[string]any), "<bos>")
		}, "ids are not 0…"},
		{"bos-not-special", bpeTok, func(f, m map[string]any) {
			f["added_tokens"] = []any{}
			m["vocab"].(map[string]any)["<bos>"] = 0
		}, "no special token <bos>"},
		{"not-byte-level", bpeTok, func(f, m map[string]any) {
			v := m["vocab"].(map[string]any)
			v["x\u0800"] = v["Ġ"]
			delete(v, "Ġ")
		}, "not spelled in the byte-level alphabet"},
		{"merge-unknown", bpeTok, func(f, m map[string]any) { m["merges"] = []any{"Ġ zzz"} }, `"zzz" is not in the vocab`},
		{"merge-one-part", bpeTok, func(f, m map[string]any) { m["merges"] = []any{"th"} }, "not two tokens"},
		{"merge-no-result", bpeTok, func(f, m map[string]any) { m["merges"] = []any{"q q"} }, "makes no token"},
		{"duplicate-id", bpeTok, func(f, m map[string]any) {
			v := m["vocab"].(map[string]any)
			v["Ā"] = v["Ġ"]
		}, "same id"},
		{"byte-missing", bpeTok, func(f, m map[string]any) {
			v := m["vocab"].(map[string]any)
			v["ĀĀ"] = v["Ā"] // byte 0x00 loses its token
			delete(v, "Ā")
		}, "no token for byte 0x00"},
		{"extra-special", bpeTok, func(f, m map[string]any) {
			m["vocab"].(map[string]any)["<pad>"] = float64(len(m["vocab"].(map[string]any)))
			f["added_tokens"] = append(f["added_tokens"].([]any), map[string]any{"id": m["vocab"].(map[string]any)["<pad>"],
				"content": "<pad>", "special": true})
		}, "special tokens other than <bos>"},
		{"dropout", bpeTok, func(f, m map[string]any) { m["dropout"] = 0.1 }, "dropout"},
		{"char-unk", charTok, func(f, m map[string]any) { m["unk_token"] = "[UNK]" }, "unk_token"},
		{"char-split", charTok, func(f, m map[string]any) {
			f["pre_tokenizer"].(map[string]any)["pattern"] = map[string]any{"Regex": `\w+`}
		}, "unsupported pre_tokenizer"},
		{"char-two-runes", charTok, func(f, m map[string]any) { m["vocab"].(map[string]any)["ab"] = 5 }, "not one character"},
		{"added-moved", charTok, func(f, m map[string]any) {
			f["added_tokens"].([]any)[0].(map[string]any)["id"] = 3
		}, "added token"},
	} {
		t.Run(tc.label, func(t *testing.T) {
			raw := editJSON(t, tc.tok, tc.edit)
			_, err := parseTokenizer(raw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	dir := t.TempDir()
	if _, err := LoadTokenizer(filepath.Join(dir, "none.json")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o644)
	if _, err := LoadTokenizer(bad); err == nil || !strings.HasPrefix(err.Error(), "data: load tokenizer "+bad) {
		t.Errorf("bad JSON: %v", err)
	}
}

// hasTripleRepeat reports whether s contains some w w w (w non-empty): only
// then can two merges of the same rank overlap, where sugarme/tokenizer's
// Word.MergeAll does not pick the leftmost as Hugging Face does.
func hasTripleRepeat(s string) bool {
	for i := range s {
		for l := 1; i+3*l <= len(s); l++ {
			if s[i:i+l] == s[i+l:i+2*l] && s[i:i+l] == s[i+2*l:i+3*l] {
				return true
			}
		}
	}
	return false
}

// compareWithSugarme checks our encoding of every distinct piece of text
// against sugarme's BPE model loaded from the same tokenizer.json. Pieces
// with a triple repeat are skipped (see hasTripleRepeat); it returns how
// many were compared and skipped.
func compareWithSugarme(t *testing.T, ours Tokenizer, path, text string) (compared, skipped int) {
	t.Helper()
	lib, err := pretrained.FromFile(path)
	if err != nil {
		t.Fatalf("sugarme cannot read our tokenizer.json: %v", err)
	}
	model := lib.GetModel()
	bt := ours.(*bpeTokenizer)
	var sc bpeScratch
	seen := map[string]bool{}
	for _, p := range pieces(text) {
		if seen[p] {
			continue
		}
		seen[p] = true
		if hasTripleRepeat(p) {
			skipped++
			continue
		}
		toks, err := model.Tokenize(byteLevelString([]byte(p)))
		if err != nil {
			t.Fatalf("sugarme Tokenize(%q): %v", p, err)
		}
		var want []int32
		for _, tk := range toks {
			want = append(want, int32(tk.Id))
		}
		if got := bt.encodePiece(&sc, p, nil); !slices.Equal(got, want) {
			t.Fatalf("piece %q: ours %v, sugarme %v", p, got, want)
		}
		compared++
	}
	return compared, skipped
}

// TestEncodeMatchesSugarme: our encoder gives sugarme/tokenizer's ids, for
// the merges trained here and for merges trained by sugarme's own trainer.
func TestEncodeMatchesSugarme(t *testing.T) {
	text := opticks(t)
	t.Run("our-merges", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tokenizer.json")
		if err := opticksBPE().SaveTokenizer(path); err != nil {
			t.Fatal(err)
		}
		n, skip := compareWithSugarme(t, opticksBPE(), path, text)
		if n < 6000 || skip > n/50 {
			t.Errorf("compared %d pieces, skipped %d", n, skip)
		}
	})
	t.Run("sugarme-merges", func(t *testing.T) {
		sample := text[:30000]
		tok := sugarmeTrain(t, sample, 400)
		path := filepath.Join(t.TempDir(), "tokenizer.json")
		if err := tok.SaveTokenizer(path); err != nil {
			t.Fatal(err)
		}
		loaded, err := LoadTokenizer(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := loaded.Decode(loaded.Encode(text)); got != text {
			t.Fatal("round trip with sugarme's merges failed")
		}
		if n, _ := compareWithSugarme(t, loaded, path, sample); n < 1000 {
			t.Errorf("compared only %d pieces", n)
		}
	})
}

// sugarmeTrain trains byte-level BPE with sugarme/tokenizer's BpeTrainer on
// the pieces of text and converts the model: its ids are kept (the alphabet
// sorted by byte-level character, then merges) and <bos> is added last. The
// trainer prints to stdout whatever ShowProgress says, so stdout goes to
// /dev/null meanwhile (tests in this package do not run in parallel).
func sugarmeTrain(t *testing.T, text string, vocab int) *bpeTokenizer {
	t.Helper()
	counts := map[string]int{}
	for _, p := range pieces(text) {
		counts[byteLevelString([]byte(p))]++
	}
	b := bpe.NewBPETrainerBuilder()
	b.VocabSize(vocab)
	b.ShowProgress(false)
	alphabet := bpe.CharSet{}
	for _, r := range byteChars {
		alphabet[string(r)] = struct{}{}
	}
	b.InitialAlphabet(alphabet)
	b.SpecialTokens([]tokenizer.AddedToken{tokenizer.NewAddedToken(tokBOS, true)})
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = devNull
	model, _ := b.Build().Train(counts)
	os.Stdout = stdout
	devNull.Close()

	m := model.(bpe.BPE)
	tokens := make([][]byte, len(*m.Vocab)+1)
	for name, id := range *m.Vocab {
		bs, ok := byteLevelBytes(name)
		if !ok {
			t.Fatalf("sugarme token %q is not byte-level", name)
		}
		tokens[id] = bs
	}
	mergeList := make([][2]int32, len(*m.Merges))
	for p, v := range *m.Merges {
		mergeList[v.Rank] = [2]int32{int32(p.C1), int32(p.C2)}
	}
	tok, err := newBPETokenizer(tokens, int32(len(tokens)-1), mergeList)
	if err != nil {
		t.Fatalf("sugarme's model: %v", err)
	}
	return tok
}

// TestHuggingFaceInterop loads our tokenizer.json files with Hugging Face's
// tokenizers library (Python, or the Node binding) when one is installed,
// and checks that it gives our ids and decodes them back.
func TestHuggingFaceInterop(t *testing.T) {
	run := hfRunner(t)
	dir := t.TempDir()
	text := opticks(t)[:50000] + interopTail
	textPath := filepath.Join(dir, "text.txt")
	if err := os.WriteFile(textPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tok  Tokenizer
	}{{TokenizerBPE, opticksBPE()}, {TokenizerChar, charTokenizerFor([]string{text})}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".json")
			if err := tc.tok.SaveTokenizer(path); err != nil {
				t.Fatal(err)
			}
			out := run(path, textPath)
			var got struct {
				IDs       []int32 `json:"ids"`
				RoundTrip bool    `json:"roundtrip"`
				Vocab     int     `json:"vocab"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("HF output %q: %v", out, err)
			}
			if !slices.Equal(got.IDs, tc.tok.Encode(text)) || !got.RoundTrip || got.Vocab != tc.tok.VocabSize() {
				t.Fatalf("Hugging Face: %d ids (ours %d), equal %v, round trip %v, vocab %d (ours %d)", len(got.IDs),
					len(tc.tok.Encode(text)), slices.Equal(got.IDs, tc.tok.Encode(text)), got.RoundTrip, got.Vocab, tc.tok.VocabSize())
			}
		})
	}
}

// hfRunner returns a function that encodes a text file with a tokenizer.json
// through Hugging Face tokenizers and prints {"ids", "roundtrip", "vocab"},
// or skips the test when neither binding is installed.
func hfRunner(t *testing.T) func(tokPath, textPath string) []byte {
	const py = `import json, sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
text = open(sys.argv[2], encoding="utf-8").read()
ids = tok.encode(text, add_special_tokens=False).ids
print(json.dumps({"ids": ids, "roundtrip": tok.decode(ids) == text, "vocab": tok.get_vocab_size()}))`
	const js = `const t = require("tokenizers"), fs = require("fs");
(async () => {
  const tok = t.Tokenizer.fromFile(process.argv[1]);
  const text = fs.readFileSync(process.argv[2], "utf8");
  const ids = (await tok.encode(text, null, {addSpecialTokens: false})).getIds();
  console.log(JSON.stringify({ids, roundtrip: (await tok.decode(ids, true)) === text, vocab: tok.getVocabSize(true)}));
})();`
	if exec.Command("python3", "-c", "import tokenizers").Run() == nil {
		return func(tokPath, textPath string) []byte { return runOut(t, "python3", "-c", py, tokPath, textPath) }
	}
	if exec.Command("node", "-e", `require("tokenizers")`).Run() == nil {
		return func(tokPath, textPath string) []byte { return runOut(t, "node", "-e", js, tokPath, textPath) }
	}
	if os.Getenv("SINKLAB_REQUIRE_HF_TOKENIZERS") != "" {
		t.Fatal("SINKLAB_REQUIRE_HF_TOKENIZERS is set but neither python3 nor node can load Hugging Face tokenizers")
	}
	t.Skip("Hugging Face tokenizers is not installed (python3 -m pip install tokenizers, or npm install tokenizers with NODE_PATH)")
	return nil
}

func runOut(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}
