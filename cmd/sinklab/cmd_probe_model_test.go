package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/checkpoints"
	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
	"github.com/sinklab/sinklab/transformer"
)

// hfFolder writes a small random GPT-2 in the Hugging Face layout (config.json,
// model.safetensors, tokenizer.json: byte-level BPE trained on the corpus at
// text) and returns its folder and the model.
func hfFolder(t *testing.T, text string) (string, *transformer.Model[float32]) {
	t.Helper()
	dc, err := data.DefaultConfig(data.TaskText)
	if err != nil {
		t.Fatal(err)
	}
	dc.Path, dc.VocabSize, dc.SeqLen, dc.EvalSize = text, 300, 8, 0
	task, err := data.NewText(dc, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := data.TokenizerOf(task)
	hc := &transformer.HFGPT2Config{ModelType: "gpt2", VocabSize: tok.VocabSize(), NPositions: 16, NEmbd: 16,
		NLayer: 2, NHead: 2, ActivationFunction: "gelu_new", LayerNormEpsilon: 1e-5}
	m, err := transformer.NewHFGPT2Model[float32](hc, 12, 5)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(6, 6)) // GPT-2's initialisation leaves biases 0 and gains 1
	for _, p := range m.Params {
		if p.Name != "unembed.W_U" {
			for i := range p.Data {
				p.Data[i] += float32(0.3 * rng.NormFloat64())
			}
		}
	}
	we, wu := m.Param("embed.W_E"), m.Param("unembed.W_U")
	for i := 0; i < hc.VocabSize; i++ {
		for j := 0; j < hc.NEmbd; j++ {
			wu.Data[j*hc.VocabSize+i] = we.Data[i*hc.NEmbd+j]
		}
	}
	dir := filepath.Join(t.TempDir(), "tiny-gpt2")
	if err := transformer.WriteHFGPT2(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := tok.SaveTokenizer(filepath.Join(dir, transformer.HFTokenizerFile)); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// corpus writes a few kilobytes of text.
func corpus(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "text.txt")
	s := strings.Repeat("The rays of light which differ in refrangibility differ also in colour; "+
		"and the whitest light is compounded of all the colours. ", 40)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestProbeModel runs `sinklab probe --model` on a small GPT-2 folder and
// checks that its probes/ and layers/ rows are those the training path's
// probe code (probes.MeasureCapture) computes on a capture of one forward
// pass over the same sequences, and that it prints the summary and the
// perplexity.
func TestProbeModel(t *testing.T) {
	text := corpus(t)
	dir, _ := hfFolder(t, text)
	out := filepath.Join(t.TempDir(), "probe")
	stdout, stderr, code := runCLI(t, "probe", "--model", dir, "--text", text, "--seq-len", "12", "--samples", "6",
		"--out", out, "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"layer  head  entropy", "sink heads (BOS sink score > 0.9)", "perplexity: ", "probe logs: " + out} {
		if !strings.Contains(stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, stdout)
		}
	}
	heads := readParts[probes.HeadRow](t, filepath.Join(out, "probes"))
	layers := readParts[probes.LayerRow](t, filepath.Join(out, "layers"))

	// The training path on the same sequences: one graph over the whole batch.
	m, _, err := transformer.LoadHFGPT2[float32](dir, 12)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := data.LoadTokenizer(filepath.Join(dir, transformer.HFTokenizerFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := data.TextWindows(text, tok, 12, 6, true)
	if err != nil {
		t.Fatal(err)
	}
	if b.Inputs[0] != tok.BOS() || b.Inputs[12] != tok.BOS() {
		t.Fatalf("sequences do not start with BOS: %v", b.Inputs[:13])
	}
	res, err := transformer.ProbeModel(m, b, data.TaskText, b.B, nil)
	if err != nil {
		t.Fatal(err)
	}
	wh, wl, _ := probes.MeasureCapture(res.Capture, probes.DefaultSinkEpsilon)
	for i := range wh {
		wh[i].RunID, wh[i].Tokens = "probe", int64(b.B*b.T)
	}
	for i := range wl {
		wl[i].RunID, wl[i].Tokens = "probe", int64(b.B*b.T)
	}
	if !reflect.DeepEqual(heads, wh) {
		t.Fatalf("probe rows differ from the training path's:\n%+v\n%+v", heads, wh)
	}
	if !reflect.DeepEqual(layers, wl) {
		t.Fatalf("layer rows differ from the training path's:\n%+v\n%+v", layers, wl)
	}
	var cfg map[string]any
	raw, err := os.ReadFile(filepath.Join(out, "config.json"))
	if err != nil || json.Unmarshal(raw, &cfg) != nil || cfg["samples"] != 6.0 || cfg["bos"] != true {
		t.Fatalf("config.json: %v %s", err, raw)
	}
	ppl := res.Perplexity()
	if math.IsNaN(ppl) || !strings.Contains(stdout, "over 72 tokens") {
		t.Fatalf("perplexity %v; output:\n%s", ppl, stdout)
	}
}

// TestProbeModelBadInput: one-line errors and exit status 2 for a folder
// without the files, another architecture, a missing or misshapen tensor and
// a tokenizer of another vocabulary.
func TestProbeModelBadInput(t *testing.T) {
	text := corpus(t)
	good, _ := hfFolder(t, text)
	clone := func(t *testing.T, skip string) string {
		dir := t.TempDir()
		for _, f := range []string{transformer.HFConfigFile, transformer.HFWeightsFile, transformer.HFTokenizerFile} {
			if f == skip {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(good, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	setConfig := func(t *testing.T, dir, key string, v any) {
		raw, _ := os.ReadFile(filepath.Join(dir, transformer.HFConfigFile))
		var c map[string]any
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		c[key] = v
		raw, _ = json.Marshal(c)
		if err := os.WriteFile(filepath.Join(dir, transformer.HFConfigFile), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	editWeights := func(t *testing.T, dir string, edit func(*checkpoints.Tensor) bool) {
		p := filepath.Join(dir, transformer.HFWeightsFile)
		ts, _, err := checkpoints.ReadSafetensors(p)
		if err != nil {
			t.Fatal(err)
		}
		var keep []checkpoints.Tensor
		for i := range ts {
			if edit(&ts[i]) {
				keep = append(keep, ts[i])
			}
		}
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkpoints.WriteSafetensors(f, keep, nil); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	cases := []struct {
		name string
		dir  func(t *testing.T) string
		want string
	}{
		{"no files", func(t *testing.T) string { return t.TempDir() }, "is not a Hugging Face model folder: no config.json"},
		{"no weights", func(t *testing.T) string { return clone(t, transformer.HFWeightsFile) }, "no model.safetensors"},
		{"no tokenizer", func(t *testing.T) string { return clone(t, transformer.HFTokenizerFile) }, "no tokenizer.json"},
		{"bert", func(t *testing.T) string {
			d := clone(t, "")
			setConfig(t, d, "model_type", "bert")
			return d
		}, `model_type = "bert"`},
		{"missing tensor", func(t *testing.T) string {
			d := clone(t, "")
			editWeights(t, d, func(x *checkpoints.Tensor) bool { return x.Name != "h.0.attn.c_proj.weight" })
			return d
		}, "tensor h.0.attn.c_proj.weight is missing"},
		{"wrong shape", func(t *testing.T) string {
			d := clone(t, "")
			editWeights(t, d, func(x *checkpoints.Tensor) bool {
				if x.Name == "h.1.mlp.c_fc.bias" {
					x.Shape, x.F32 = []int{8}, x.F32[:8]
				}
				return true
			})
			return d
		}, "tensor h.1.mlp.c_fc.bias has shape [8], want [64]"},
		{"tokenizer of another vocabulary", func(t *testing.T) string {
			d := clone(t, "")
			raw, _ := os.ReadFile(filepath.Join(d, transformer.HFConfigFile))
			var c map[string]any
			_ = json.Unmarshal(raw, &c)
			setConfig(t, d, "vocab_size", c["vocab_size"].(float64)+5)
			return d
		}, "tokenizer.json has 300 tokens but config.json has vocab_size = 305"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, "probe", "--model", c.dir(t), "--text", text, "--seq-len", "12",
				"--samples", "2", "--out", filepath.Join(t.TempDir(), "o"), "-q")
			msg := strings.TrimSpace(stderr)
			if code != 2 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, c.want) {
				t.Fatalf("exit %d, stderr %q; want status 2 and one line with %q", code, stderr, c.want)
			}
		})
	}
	_, stderr, code := runCLI(t, "probe", "--model", good, "--text", text, "--seq-len", "12", "--samples", "100000", "-q",
		"--out", filepath.Join(t.TempDir(), "o"))
	if code != 2 || !strings.Contains(stderr, "fewer than the 100000 samples") {
		t.Fatalf("too little text: exit %d, %s", code, stderr)
	}
}
