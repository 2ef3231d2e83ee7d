package transformer

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/checkpoints"
	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
)

// requireTorch skips without Debian's python3-torch, or fails when
// SINKLAB_REQUIRE_TORCH is set (as TestTorchReproducesLogits).
func requireTorch(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
		if os.Getenv("SINKLAB_REQUIRE_TORCH") != "" {
			t.Fatalf("python3-torch is required here but %s cannot import torch: %v", py, err)
		}
		t.Skipf("%s cannot import torch (apt-get install python3-torch): %v", py, err)
	}
	return py
}

// forwardOnly returns a trainer that only runs forward passes of m.
func forwardOnly[T float32 | float64](m *Model[T]) *Trainer[T] {
	return &Trainer[T]{Model: m, Task: probeTask{name: data.TaskText, vocab: m.Cfg.Vocab, seqLen: m.T},
		evals: map[int][]*graph[T]{}}
}

// batchOf builds a batch of the given (B, T) ids with targets shifted by one.
func batchOf(ids []int32, b, t int) *data.Batch {
	bt := data.NewBatch(b, t)
	copy(bt.Inputs, ids)
	for i := range bt.Targets {
		if (i+1)%t != 0 {
			bt.Targets[i] = ids[i+1]
		}
		bt.Mask[i], bt.Score[i] = 1/float32(t), true
	}
	return bt
}

// TestHFGPT2MatchesTorch has a PyTorch script build a random GPT-2 in the
// Hugging Face layout from GPT-2's published definition
// (testdata/hf_gpt2.py: config.json, model.safetensors, tokenizer.json and
// the logits of some token ids) and checks that sinklab, loading the folder,
// computes the same logits to 1e-4; with and without the "transformer."
// prefix and the attn.bias / attn.masked_bias buffers.
func TestHFGPT2MatchesTorch(t *testing.T) {
	py := requireTorch(t)
	for _, flags := range [][]string{nil, {"--prefix", "--buffers"}} {
		t.Run(strings.Join(append([]string{"plain"}, flags...), ""), func(t *testing.T) {
			dir := t.TempDir()
			out, err := exec.Command(py, append([]string{"testdata/hf_gpt2.py", dir}, flags...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("hf_gpt2.py: %v\n%s", err, out)
			}
			ts, _, err := checkpoints.ReadSafetensors(filepath.Join(dir, "batch.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			want, ids := ts[0].F32, ts[1].I64 // name order: logits, tokens
			b, tl := ts[1].Shape[0], ts[1].Shape[1]
			m, hc, err := LoadHFGPT2[float32](dir, tl)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := data.LoadTokenizer(filepath.Join(dir, HFTokenizerFile))
			if err != nil {
				t.Fatal(err)
			}
			if tok.VocabSize() != hc.VocabSize || int(tok.BOS()) != hc.VocabSize-1 {
				t.Fatalf("tokenizer: %d tokens, BOS %d; config vocab_size %d", tok.VocabSize(), tok.BOS(), hc.VocabSize)
			}
			if got := tok.Decode(tok.Encode(" the other")); got != " the other" {
				t.Fatalf("tokenizer round trip gave %q", got)
			}
			in := make([]int32, len(ids))
			for i, v := range ids {
				in[i] = int32(v)
			}
			got, err := forwardOnly(m).Logits(batchOf(in, b, tl))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d logits, PyTorch has %d", len(got), len(want))
			}
			var worst float64
			for i := range got {
				worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
			}
			t.Logf("largest |sinklab − PyTorch| logit difference: %.3g (logits ~%.2g)", worst, want[0])
			if worst > 1e-4 {
				t.Fatalf("logits differ from PyTorch's by %g > 1e-4", worst)
			}
		})
	}
}

// smallGPT2 is a GPT-2 config small enough for fast tests.
func smallGPT2() *HFGPT2Config {
	return &HFGPT2Config{ModelType: "gpt2", VocabSize: 40, NPositions: 12, NEmbd: 16, NLayer: 2, NHead: 2,
		ActivationFunction: "gelu_new", LayerNormEpsilon: 1e-5}
}

// perturb makes every parameter of m random at scale s (GPT-2's
// initialisation leaves biases zero and gains one), keeping W_U = W_Eᵀ.
func perturb(m *Model[float32], s float64, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, p := range m.Params {
		for i := range p.Data {
			p.Data[i] += float32(s * rng.NormFloat64())
		}
	}
	we, wu := m.Param("embed.W_E"), m.Param("unembed.W_U")
	v, d := m.Cfg.Vocab, m.Cfg.DModel
	for i := 0; i < v; i++ {
		for j := 0; j < d; j++ {
			wu.Data[j*v+i] = we.Data[i*d+j]
		}
	}
}

// rewriteWeights reads dir/model.safetensors, applies edit to its tensors and
// writes it back.
func rewriteWeights(t *testing.T, dir string, edit func([]checkpoints.Tensor) []checkpoints.Tensor) {
	t.Helper()
	p := filepath.Join(dir, HFWeightsFile)
	ts, _, err := checkpoints.ReadSafetensors(p)
	if err != nil {
		t.Fatal(err)
	}
	ts = edit(ts)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoints.WriteSafetensors(f, ts, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestHFGPT2PrefixAndBuffers writes a model in the Hugging Face layout, adds
// the "transformer." prefix (GPT2LMHeadModel's names) and the causal-mask
// buffers, and reads back exactly the same parameters; an untied
// lm_head.weight becomes the unembedding.
func TestHFGPT2PrefixAndBuffers(t *testing.T) {
	hc := smallGPT2()
	m, err := NewHFGPT2Model[float32](hc, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	perturb(m, 0.1, 4)
	check := func(t *testing.T, dir string, want *Model[float32]) {
		t.Helper()
		got, _, err := LoadHFGPT2[float32](dir, 8)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range want.Params {
			if q := got.Params[i]; q.Name != p.Name || !reflect.DeepEqual(q.Data, p.Data) {
				t.Fatalf("parameter %s differs after the round trip", p.Name)
			}
		}
	}
	t.Run("plain", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteHFGPT2(dir, m); err != nil {
			t.Fatal(err)
		}
		check(t, dir, m)
	})
	t.Run("prefix+buffers", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteHFGPT2(dir, m); err != nil {
			t.Fatal(err)
		}
		rewriteWeights(t, dir, func(ts []checkpoints.Tensor) []checkpoints.Tensor {
			for i := range ts {
				ts[i].Name = "transformer." + ts[i].Name
			}
			n := hc.NPositions
			for l := 0; l < hc.NLayer; l++ {
				mask := make([]float32, n*n)
				for i := 0; i < n; i++ {
					for j := 0; j <= i; j++ {
						mask[i*n+j] = 1
					}
				}
				ts = append(ts,
					checkpoints.Tensor{Name: "transformer.h." + strconv.Itoa(l) + ".attn.bias", Shape: []int{1, 1, n, n}, F32: mask},
					checkpoints.Tensor{Name: "transformer.h." + strconv.Itoa(l) + ".attn.masked_bias", Shape: []int{}, F32: []float32{-1e4}})
			}
			return ts
		})
		check(t, dir, m)
	})
	t.Run("untied lm_head", func(t *testing.T) {
		u, err := NewHFGPT2Model[float32](hc, 8, 3)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range m.Params {
			copy(u.Params[i].Data, p.Data)
		}
		u.Param("unembed.W_U").Data[5] += 1 // no longer W_Eᵀ: written as lm_head.weight
		dir := t.TempDir()
		if err := WriteHFGPT2(dir, u); err != nil {
			t.Fatal(err)
		}
		check(t, dir, u)
	})
}

// TestHFGPT2BadInput checks the one-line errors of LoadHFGPT2: a folder
// without the files, another architecture (the error names model_type), a
// missing, misshapen or unexpected tensor (named), and a LayerNorm ε that
// sinklab's LayerNorm does not compute.
func TestHFGPT2BadInput(t *testing.T) {
	hc := smallGPT2()
	m, err := NewHFGPT2Model[float32](hc, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	good := t.TempDir()
	if err := WriteHFGPT2(good, m); err != nil {
		t.Fatal(err)
	}
	editConfig := func(t *testing.T, dir string, key string, v any) {
		raw, err := os.ReadFile(filepath.Join(dir, HFConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		c[key] = v
		raw, _ = json.Marshal(c)
		if err := os.WriteFile(filepath.Join(dir, HFConfigFile), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyDir := func(t *testing.T) string {
		dir := t.TempDir()
		for _, f := range []string{HFConfigFile, HFWeightsFile} {
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
	cases := []struct {
		name string
		make func(t *testing.T) string
		want []string
	}{
		{"empty folder", func(t *testing.T) string { return t.TempDir() }, []string{"no config.json"}},
		{"no weights", func(t *testing.T) string {
			d := copyDir(t)
			os.Remove(filepath.Join(d, HFWeightsFile))
			return d
		}, []string{"no model.safetensors"}},
		{"llama", func(t *testing.T) string {
			d := copyDir(t)
			editConfig(t, d, "model_type", "llama")
			return d
		}, []string{"model_type", `"llama"`}},
		{"layer norm eps", func(t *testing.T) string {
			d := copyDir(t)
			editConfig(t, d, "layer_norm_epsilon", 1e-6)
			return d
		}, []string{"layer_norm_epsilon"}},
		{"activation", func(t *testing.T) string {
			d := copyDir(t)
			editConfig(t, d, "activation_function", "relu")
			return d
		}, []string{"activation_function", "relu"}},
		{"missing tensor", func(t *testing.T) string {
			d := copyDir(t)
			rewriteWeights(t, d, func(ts []checkpoints.Tensor) []checkpoints.Tensor {
				var out []checkpoints.Tensor
				for _, x := range ts {
					if x.Name != "h.1.mlp.c_fc.bias" {
						out = append(out, x)
					}
				}
				return out
			})
			return d
		}, []string{"h.1.mlp.c_fc.bias", "missing"}},
		{"wrong shape", func(t *testing.T) string {
			d := copyDir(t)
			editConfig(t, d, "n_embd", 8) // the file's tensors are 16 wide
			editConfig(t, d, "n_inner", nil)
			return d
		}, []string{"wte.weight", "shape [40 16], want [40 8]"}},
		{"unexpected tensor", func(t *testing.T) string {
			d := copyDir(t)
			rewriteWeights(t, d, func(ts []checkpoints.Tensor) []checkpoints.Tensor {
				return append(ts, checkpoints.Tensor{Name: "h.0.crossattention.c_attn.weight", Shape: []int{1}, F32: []float32{0}})
			})
			return d
		}, []string{"unexpected tensor h.0.crossattention.c_attn.weight"}},
		{"sequence too long", func(t *testing.T) string { return copyDir(t) }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seq := 8
			if c.want == nil {
				seq, c.want = 13, []string{"sequence length 13", "n_positions = 12"}
			}
			_, _, err := LoadHFGPT2[float32](c.make(t), seq)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// TestProbeModelEqualsTrainingPath checks that the pretrained path (a
// Hugging Face folder read by LoadHFGPT2, probed in chunks by ProbeModel)
// gives the capture of the training path's probe pass over the whole batch
// (Trainer.CaptureBatch on one graph), and so the same probe rows from the
// one implementation of the metrics (probes.MeasureCapture); and that its
// perplexity is exp of the training path's mean cross-entropy.
func TestProbeModelEqualsTrainingPath(t *testing.T) {
	hc := smallGPT2()
	const B, T = 5, 10
	m, err := NewHFGPT2Model[float32](hc, T, 7)
	if err != nil {
		t.Fatal(err)
	}
	perturb(m, 0.3, 8)
	dir := t.TempDir()
	if err := WriteHFGPT2(dir, m); err != nil {
		t.Fatal(err)
	}
	loaded, _, err := LoadHFGPT2[float32](dir, T)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	ids := make([]int32, B*T)
	for i := range ids {
		ids[i] = int32(rng.IntN(hc.VocabSize))
	}
	b := batchOf(ids, B, T)
	var done []int
	got, err := ProbeModel(loaded, b, data.TaskText, 2, func(n int) { done = append(done, n) })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(done, []int{2, 4, 5}) {
		t.Errorf("progress %v, want [2 4 5]", done)
	}
	tr := forwardOnly(m)
	want, err := tr.CaptureBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Capture, want) {
		t.Fatal("the chunked capture of the pretrained path differs from the training path's capture of the whole batch")
	}
	gh, gl, gr := probes.MeasureCapture(got.Capture, 0.3)
	wh, wl, wr := probes.MeasureCapture(want, 0.3)
	if !reflect.DeepEqual(gh, wh) || !reflect.DeepEqual(gl, wl) || gr != wr {
		t.Fatal("probe rows differ")
	}
	if len(gh) != hc.NLayer*hc.NHead || len(gl) != hc.NLayer+1 { // layer rows: each block's input and the final residual
		t.Fatalf("%d head rows and %d layer rows", len(gh), len(gl))
	}
	// The training path's loss is the mean over sequences of Σ mask·CE with
	// mask 1/T: the mean cross-entropy per token (to float32's 1/T).
	ce := tr.evals[B][0].lossValue()
	if got.Tokens != B*T || math.Abs(got.Perplexity()-math.Exp(ce)) > 1e-6*math.Exp(ce) {
		t.Fatalf("perplexity %v over %d tokens, want exp(%v) = %v over %d", got.Perplexity(), got.Tokens, ce, math.Exp(ce), B*T)
	}
}
