package transformer

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/checkpoints"
	"github.com/sinklab/sinklab/data"
)

// TestTorchReproducesLogits saves a trained model as a checkpoint, writes the
// logits sinklab computes for a fixed batch, and has PyTorch (Debian's
// python3-torch) load model.safetensors into the equivalent module and
// reproduce them to 1e-4 (testdata/torch_logits.py). .ci/run installs torch
// and sets SINKLAB_REQUIRE_TORCH=1, so there the test cannot skip.
func TestTorchReproducesLogits(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
		if os.Getenv("SINKLAB_REQUIRE_TORCH") != "" {
			t.Fatalf("python3-torch is required here but %s cannot import torch: %v", py, err)
		}
		t.Skipf("%s cannot import torch (apt-get install python3-torch): %v", py, err)
	}
	cases := map[string]func(c *Config){
		"default-concat": func(c *Config) {},
		"learned-add/sink-token/kv-bias/sigmoid": func(c *Config) {
			c.Model.Positions, c.Model.SinkToken, c.Model.KVBias, c.Model.Attention = PosLearnedAdd, true, true, "sigmoid"
		},
		"no-ln/elu-norm": func(c *Config) { c.Model.PreLN, c.Model.Attention = false, "elu-norm" },
		"gpt2-init/tanh-gelu/no-output-bias": func(c *Config) {
			c.Model.Init, c.Model.GELU, c.Model.UnembedBias = InitGPT2, GeluTanh, false
		},
		"kv-bias/mlp-norm":     func(c *Config) { c.Model.KVBias, c.Model.Attention = true, "mlp-norm" },
		"mlp/attn-mlp-ratio-2": func(c *Config) { c.Model.Attention, c.Model.AttnMLPRatio = "mlp", 2 },
		"linear (kernel-norm)": func(c *Config) { c.Model.Attention = "kernel-norm" },
		"gate-head/sink-logit": func(c *Config) { c.Model.Gate, c.Model.SinkLogit = GateHead, true },
		"gate-elementwise/no-ln/gpt2-init": func(c *Config) {
			c.Model.Gate, c.Model.PreLN, c.Model.Init = GateElementwise, false, InitGPT2
		},
		"sink-logit/kv-bias/sink-token": func(c *Config) { c.Model.SinkLogit, c.Model.KVBias, c.Model.SinkToken = true, true, true },
		"softpick/kv-bias":              func(c *Config) { c.Model.Attention, c.Model.KVBias = "softpick", true },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			tr := newTestTrainer(t, data.TaskInduction, func(c *Config) { smallInduction(c); mod(c) })
			for i := 0; i < 5; i++ {
				if _, err := tr.Step(); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range tr.Model.Params { // sink logits far from softmax1's 0, so the test tells them apart
				if strings.HasSuffix(p.Name, ".attn.sink_logit") {
					for h := range p.Data {
						p.Data[h] = float32(1.5 * float64(h+1) * math.Pow(-1, float64(h)))
					}
				}
			}
			snap, err := tr.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			run := t.TempDir()
			cj, _ := json.Marshal(map[string]any{"config": tr.Cfg})
			ck, err := checkpoints.Save(run, checkpoints.State{Step: snap.Step, Tokens: snap.Tokens, RNG: snap.RNG, Config: cj},
				snap.Model, snap.Optimizer, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := tr.Task.Eval(tr.Cfg.Train.EvalBatch)[0]
			logits, err := tr.Logits(b)
			if err != nil {
				t.Fatal(err)
			}
			tok := make([]int64, len(b.Inputs))
			for i, v := range b.Inputs {
				tok[i] = int64(v)
			}
			tp := b.T
			if tr.Cfg.Model.SinkToken {
				tp++
			}
			f, err := os.Create(filepath.Join(run, "batch.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			err = checkpoints.WriteSafetensors(f, []checkpoints.Tensor{
				{Name: "tokens", Shape: []int{b.B, b.T}, I64: tok},
				{Name: "logits", Shape: []int{b.B, tp, tr.Cfg.Model.DOut}, F32: logits},
			}, nil)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(py, "testdata/torch_logits.py", ck, f.Name(), "1e-4").CombinedOutput()
			t.Logf("%s", out)
			if err != nil {
				t.Fatalf("PyTorch did not reproduce the logits: %v", err)
			}
		})
	}
}
