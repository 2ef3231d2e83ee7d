package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/attention"
)

// TestTrainAttentionNames: --help lists every valid model.attention name (the
// paper's included); a misspelled one is one line naming them all, exit 2; a
// paper name resolves to the canonical name in the printed and stored config;
// and a short run with the paper's MLP attention trains and checkpoints φ.
func TestTrainAttentionNames(t *testing.T) {
	help, _, code := runCLI(t, "train", "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, n := range attention.VariantNames() {
		if !strings.Contains(help, n) {
			t.Errorf("--help does not list %q", n)
		}
	}
	out := t.TempDir()
	_, stderr, code := runCLI(t, "train", "--out", out, "--set", "model.attention=raw_dot_product_norm")
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("misspelled type: exit %d, stderr %q; want 2 and one line", code, stderr)
	}
	for _, n := range attention.VariantNames() {
		if !strings.Contains(stderr, n) {
			t.Errorf("the error does not list %q: %s", n, stderr)
		}
	}
	stdout, stderr, code := runCLI(t, "train", "--print-config", "--set", "model.attention=raw_dotproduct_unnorm")
	if code != 0 || !strings.Contains(stdout, `"attention": "dot"`) {
		t.Fatalf("--print-config with a paper name: exit %d, stderr %s, config %s", code, stderr, stdout)
	}
	args := append([]string{"train", "--out", out, "--run-id", "mlp", "--steps", "2", "--set", "model.attention=mlp_norm"}, tinyTrain...)
	if _, stderr, code := runCLI(t, args...); code != 0 {
		t.Fatalf("mlp_norm run: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "mlp", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rc trainRunConfig
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatal(err)
	}
	if rc.Config.Model.Attention != attention.VariantMLPNorm {
		t.Fatalf("config.json stores model.attention %q, want %q", rc.Config.Model.Attention, attention.VariantMLPNorm)
	}
	ck, err := filepath.Glob(filepath.Join(out, "mlp", "checkpoints", "*", "model.safetensors"))
	if err != nil || len(ck) == 0 {
		t.Fatalf("no checkpoint: %v", err)
	}
	w, err := os.ReadFile(ck[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"blocks.0.attn.mlp.W_in", "blocks.0.attn.mlp.b_in", "blocks.0.attn.mlp.W_out", "blocks.0.attn.mlp.b_out"} {
		if !strings.Contains(string(w), `"`+name+`"`) {
			t.Errorf("the checkpoint has no %s", name)
		}
	}
}
