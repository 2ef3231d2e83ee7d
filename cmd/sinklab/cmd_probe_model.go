package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/sinklab/sinklab/checkpoints/atomicfile"
	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
	"github.com/sinklab/sinklab/transformer"
)

// probeChunk is the number of sequences per forward pass of `sinklab probe
// --model`: the logits of one chunk of GPT-2 small at 256 tokens are
// 4·256·50257 float32 ≈ 206 MB (twice that with the loss's probabilities).
const probeChunk = 4

// modelProbeOptions are the flags of `sinklab probe --model`.
type modelProbeOptions struct {
	Model   string
	Text    string
	SeqLen  int
	Samples int
	BOS     bool
}

// addFlags registers the flags.
func (o *modelProbeOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Model, "model", "", "probe a pretrained Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer.json) instead of a run")
	f.StringVar(&o.Text, "text", "", "--model: text to probe on, a file or a glob (default: Newton's Opticks from GOROOT)")
	f.IntVar(&o.SeqLen, "seq-len", 256, "--model: tokens per sequence (BOS included)")
	f.IntVar(&o.Samples, "samples", 64, "--model: sequences, evenly spaced non-overlapping windows of the text")
	f.BoolVar(&o.BOS, "bos", true, "--model: start every sequence with the tokenizer's BOS (<|endoftext|> for GPT-2)")
}

// modelProbeConfig is what `sinklab probe --model` writes as config.json and
// into the logs' metadata.
type modelProbeConfig struct {
	RunID   string                    `json:"run_id"`
	Version string                    `json:"sinklab_version"`
	Model   string                    `json:"model"`
	Text    string                    `json:"text"`
	SeqLen  int                       `json:"seq_len"`
	Samples int                       `json:"samples"`
	BOS     bool                      `json:"bos"`
	Eps     float64                   `json:"eps"`
	HF      *transformer.HFGPT2Config `json:"hf_config"`
	Sinklab transformer.ModelConfig   `json:"model_config"`
}

// runProbeModel probes a pretrained GPT-2: it runs the model on --samples
// windows of the text, writes probes/ and layers/ logs (step 0) into the
// output folder, prints the probe summary of a training run and the model's
// perplexity on the text. Bad input (a folder without the files, another
// architecture, a missing or misshapen tensor, a tokenizer of another
// vocabulary, too little text) is a usage error (exit status 2).
func runProbeModel(ctx context.Context, a *app, o *probeOptions) (err error) {
	mo := o.model
	switch {
	case o.epsSet && !(o.Eps > 0 && o.Eps < 1):
		return usagef("--eps must be in (0, 1), got %v", o.Eps)
	case mo.SeqLen < 2:
		return usagef("--seq-len must be ≥ 2, got %d", mo.SeqLen)
	case mo.Samples < 1:
		return usagef("--samples must be ≥ 1, got %d", mo.Samples)
	}
	eps := probes.DefaultSinkEpsilon
	if o.epsSet {
		eps = o.Eps
	}
	// Cheap checks first: the files, the config and the tokenizer.
	hc, err := transformer.ReadHFGPT2Config(mo.Model)
	if err != nil {
		return usagef("%v", err)
	}
	for _, f := range []string{transformer.HFWeightsFile, transformer.HFTokenizerFile} {
		if _, err := os.Stat(filepath.Join(mo.Model, f)); errors.Is(err, fs.ErrNotExist) {
			return usagef("%s is not a Hugging Face model folder: no %s", mo.Model, f)
		}
	}
	tok, err := data.LoadTokenizer(filepath.Join(mo.Model, transformer.HFTokenizerFile))
	if err != nil {
		return usagef("%v", err)
	}
	if tok.VocabSize() != hc.VocabSize {
		return usagef("%s: tokenizer.json has %d tokens but config.json has vocab_size = %d: not this model's tokenizer",
			mo.Model, tok.VocabSize(), hc.VocabSize)
	}
	if mo.SeqLen > hc.NPositions {
		return usagef("--seq-len %d is longer than the model's n_positions = %d", mo.SeqLen, hc.NPositions)
	}
	batch, err := data.TextWindows(mo.Text, tok, mo.SeqLen, mo.Samples, mo.BOS)
	if err != nil {
		return usagef("%v", err)
	}
	base := filepath.Base(filepath.Clean(mo.Model))
	out := o.Out
	if out == "" {
		out = filepath.Join("runs", "probe-"+base+"-"+time.Now().UTC().Format("20060102-150405"))
	}
	if _, err := os.Stat(out); err == nil {
		if !o.Force {
			return usagef("%s already exists (use --force to replace it)", out)
		}
		if err := os.RemoveAll(out); err != nil {
			return err
		}
	}
	a.log.Info("loading model", zap.String("model", mo.Model))
	m, _, err := transformer.LoadHFGPT2[float32](mo.Model, mo.SeqLen)
	if err != nil {
		return usagef("%v", err)
	}
	text := mo.Text
	if text == "" {
		text = "Newton's Opticks (GOROOT/src/testdata/Isaac.Newton-Opticks.txt)"
	}
	runID := filepath.Base(out)
	cfg := modelProbeConfig{RunID: runID, Version: Version(), Model: mo.Model, Text: text, SeqLen: mo.SeqLen,
		Samples: mo.Samples, BOS: mo.BOS, Eps: eps, HF: hc, Sinklab: m.Cfg}
	cj, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(out, "config.json"), append(cj, '\n')); err != nil {
		return err
	}
	rec, err := probes.NewRecorder(out, runID, string(cj), Version(), &probes.RecorderOptions{SinkEpsilon: eps})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := rec.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	bar := a.newProgress("probe", int64(mo.Samples))
	res, err := transformer.ProbeModel(m, batch, data.TaskText, probeChunk, func(done int) {
		bar.Set(int64(done), fmt.Sprintf("%d/%d sequences", done, mo.Samples))
	})
	bar.Finish()
	if err != nil {
		return fmt.Errorf("probe %s: %w", mo.Model, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tokens := int64(batch.B * batch.T)
	ps, err := rec.WriteProbeStep(0, tokens, res.Capture)
	if err != nil {
		return fmt.Errorf("probe %s: %w", mo.Model, err)
	}
	sum := &trainSummary{eps: eps}
	sum.add(ps)
	if err := rec.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s: GPT-2 (%d layers, %d heads, d_model %d, vocab %d), %d sequences of %d tokens (bos %v)\n",
		mo.Model, hc.NLayer, hc.NHead, hc.NEmbd, hc.VocabSize, mo.Samples, mo.SeqLen, mo.BOS)
	sum.print(a.stdout)
	fmt.Fprintf(a.stdout, "perplexity: %.3f (mean cross-entropy %.4f nats over %d tokens)\n",
		res.Perplexity(), res.NLL/float64(res.Tokens), res.Tokens)
	fmt.Fprintf(a.stdout, "probe logs: %s\n", out)
	return nil
}
