package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
	"github.com/sinklab/sinklab/transformer"
)

// tinyTrain are --set flags for a train run that takes a fraction of a second.
var tinyTrain = []string{"--set", "model.d_model=16", "--set", "model.n_heads=2", "--set", "model.n_layers=1",
	"--set", "train.batch=8", "--set", "data.eval_size=16", "--set", "train.eval_batch=8",
	"--set", "probe.every=2", "--set", "train.log_every=1", "-q"}

func TestTrainBadInput(t *testing.T) {
	out := t.TempDir()
	if _, stderr, code := runCLI(t, append([]string{"train", "--out", out, "--run-id", "taken", "--steps", "2"}, tinyTrain...)...); code != 0 {
		t.Fatalf("setup run failed (%d): %s", code, stderr)
	}
	tests := []struct {
		name   string
		args   []string
		wantIn string
	}{
		{"unknown task", []string{"--task", "inductoin"}, `unknown task "inductoin"`},
		{"unknown key", []string{"--set", "model.n_head=4"}, `unknown config key "model.n_head"`},
		{"unknown section", []string{"--set", "modle.n_heads=4"}, `unknown config key "modle.n_heads"`},
		{"unknown variant", []string{"--set", "model.attention=softermax"}, `model.attention = "softermax"`},
		{"unknown variant softpik", []string{"--set", "model.attention=softpik"}, `model.attention = "softpik"`},
		{"unknown gate", []string{"--set", "model.gate=channel"}, `model.gate = "channel": want none, head or elementwise`},
		{"sink logit with sigmoid", []string{"--set", "model.sink_logit=true", "--set", "model.attention=sigmoid_unnorm"},
			"model.sink_logit = true needs model.attention = softmax, got sigmoid"},
		{"sink logit with softmax1", []string{"--set", "model.attention=softmax1", "--set", "model.sink_logit=true"},
			"model.sink_logit = true needs model.attention = softmax, got softmax1"},
		{"sink logit with softpick", []string{"--set", "model.attention=softpick", "--set", "model.sink_logit=true"},
			"needs model.attention = softmax"},
		{"attn_mlp_ratio with softmax", []string{"--set", "model.attn_mlp_ratio=2"},
			"model.attn_mlp_ratio sets MLP attention's φ, but model.attention = softmax has none"},
		{"attn_mlp_ratio with dot-norm", []string{"--set", "model.attention=raw_dotproduct_norm", "--set", "model.attn_mlp_ratio=2"},
			"model.attention = dot-norm has none"},
		{"attn_mlp_ratio < 0", []string{"--set", "model.attention=mlp", "--set", "model.attn_mlp_ratio=-1"},
			"model.attn_mlp_ratio must be ≥ 1"},
		{"sink logit not a bool", []string{"--set", "model.sink_logit=yes"}, `config key "model.sink_logit": want true or false`},
		{"bad sink_k", []string{"--set", "probe.sink_k=1,0"}, `probe.sink_k = "1,0"`},
		{"heads do not divide", []string{"--set", "model.n_heads=3"}, "does not divide model.d_model"},
		{"sequence longer than positions", []string{"--set", "model.n_ctx=8"}, "longer than model.n_ctx = 8"},
		{"steps < 1", []string{"--steps", "-1"}, "--steps must be ≥ 1, got -1"},
		{"steps 0 is not unset", []string{"--steps", "0"}, "--steps must be ≥ 1, got 0"},
		{"train.steps 0", []string{"--set", "train.steps=0"}, "train.steps must be ≥ 1"},
		{"seed < 0", []string{"--seed", "-1"}, "--seed must be ≥ 0, got -1"},
		{"flush_seconds 0", []string{"--set", "log.flush_seconds=0"}, "log.flush_seconds must be > 0, got 0"},
		{"every_seconds < 0", []string{"--set", "checkpoint.every_seconds=-1"}, "checkpoint.every_seconds must be ≥ 0"},
		{"bad value", []string{"--set", "optim.lr=fast"}, `config key "optim.lr": want a finite number`},
		{"no equals", []string{"--set", "optim.lr"}, "want key=value"},
		{"run folder exists", []string{"--run-id", "taken"}, "already exists"},
		{"unknown flag", []string{"--stepz", "3"}, "unknown flag"},
		{"missing config file", []string{"--config", filepath.Join(out, "nope.yaml")}, "config file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"train", "--out", out}, tc.args...)
			_, stderr, code := runCLI(t, args...)
			if code != 2 {
				t.Fatalf("exit status %d, want 2; stderr: %s", code, stderr)
			}
			if !strings.Contains(stderr, tc.wantIn) {
				t.Fatalf("stderr %q does not contain %q", stderr, tc.wantIn)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
				t.Fatalf("want one line, got %d:\n%s", n+1, stderr)
			}
		})
	}
}

// TestTrainShortRunWritesLogs: a short run writes config.json and readable
// metrics and probes parts with the expected rows.
func TestTrainShortRunWritesLogs(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := runCLI(t, append([]string{"train", "--out", out, "--run-id", "r", "--steps", "4"}, tinyTrain...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dir := filepath.Join(out, "r")
	if !strings.Contains(stdout, "run folder: "+dir) || !strings.Contains(stdout, "Sink₁^ε") {
		t.Fatalf("summary missing from stdout:\n%s", stdout)
	}
	var rc trainRunConfig
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rc); err != nil || rc.Config.Model.DModel != 16 || rc.Config.Model.Vocab != 100 {
		t.Fatalf("config.json: %v %+v", err, rc.Config.Model)
	}
	metrics := readParts[probes.MetricsRow](t, filepath.Join(dir, "metrics"))
	if len(metrics) != 4 {
		t.Fatalf("%d metrics rows, want 4 (log_every=1)", len(metrics))
	}
	for i, r := range metrics {
		if r.Step != int64(i+1) || r.RunID != "r" || r.Tokens != int64(8*12*(i+1)) {
			t.Fatalf("metrics row %d: %+v", i, r)
		}
	}
	if metrics[3].ValLoss == nil || metrics[3].SinkRate == nil || metrics[0].SinkRate != nil || metrics[1].SinkRate == nil {
		t.Fatalf("val_loss / sink_rate not where expected: %+v %+v", metrics[0], metrics[3])
	}
	all := readParts[probes.HeadRow](t, filepath.Join(dir, "probes"))
	// probes at steps 0, 2, 4 × 1 layer × 2 heads × row groups all and paper_rows
	heads := probes.HeadRowsOf(all, probes.GroupAll)
	if len(all) != 12 || len(heads) != 6 || heads[0].Step != 0 || heads[5].Step != 4 ||
		len(probes.HeadRowsOf(all, probes.GroupPaperRows)) != 6 {
		t.Fatalf("%d probe rows: %+v", len(all), all)
	}
}

func readParts[T any](t *testing.T, dir string) []T {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if len(files) == 0 {
		t.Fatalf("no parts in %s", dir)
	}
	var rows []T
	for _, f := range files {
		r, err := parquet.ReadFile[T](f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		rows = append(rows, r...)
	}
	return rows
}

// TestDefaultRunFormsSink runs the README's first command, `sinklab train`
// with no flags (the paper's recipe on induction, 400 steps at the paper's
// size), and reads the probes back through the Parquet reader: validation
// accuracy > 0.95, at least two layer-1 sink heads (BOS sink score > 0.9,
// SCIENCE.md §3, Varre et al. §4.1) and every layer-0 head below 0.5, as the
// paper's code gives; is_sink_head agrees with the score; the printed summary
// says both.
func TestDefaultRunFormsSink(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the default model (400 steps at the paper's size); skipped with -short")
	}
	out := t.TempDir()
	stdout, e, c := runCLI(t, "train", "--out", out, "--run-id", "d", "-q")
	if c != 0 {
		t.Fatalf("exit %d: %s", c, e)
	}
	cfg, _ := transformer.DefaultConfig(data.TaskInduction)
	steps := int64(cfg.TotalSteps())
	var acc float64 = -1
	for _, m := range readParts[probes.MetricsRow](t, filepath.Join(out, "d", "metrics")) {
		if m.Step == steps && m.ValAccuracy != nil {
			acc = *m.ValAccuracy
		}
	}
	heads := probes.HeadRowsOf(readParts[probes.HeadRow](t, filepath.Join(out, "d", "probes")), probes.GroupAll)
	var scores []string
	layer1Sinks, n := 0, 0
	for _, h := range heads {
		if h.Step != steps {
			continue
		}
		n++
		scores = append(scores, fmt.Sprintf("L%dH%d %.3f", h.Layer, h.Head, h.BOSSinkScore))
		if h.IsSinkHead != (h.BOSSinkScore > 0.9) {
			t.Errorf("layer %d head %d: is_sink_head %v with BOS sink score %.3f", h.Layer, h.Head, h.IsSinkHead, h.BOSSinkScore)
		}
		switch {
		case h.Layer == 1 && h.BOSSinkScore > 0.9:
			layer1Sinks++
		case h.Layer == 0 && !(h.BOSSinkScore < 0.5):
			t.Errorf("layer 0 head %d has BOS sink score %.3f, want < 0.5 (sinks form in layer 1)", h.Head, h.BOSSinkScore)
		}
	}
	slices.Sort(scores)
	t.Logf("step %d: validation accuracy %.4f; BOS sink scores %s", steps, acc, strings.Join(scores, ", "))
	if n != 8 {
		t.Fatalf("want 8 heads at step %d, got %d", steps, n)
	}
	if !(acc > 0.95) {
		t.Errorf("validation accuracy %.4f at step %d, want > 0.95", acc, steps)
	}
	if layer1Sinks < 2 {
		t.Errorf("%d layer-1 sink heads, want ≥ 2", layer1Sinks)
	}
	for _, want := range []string{"accuracy", "sink heads (BOS sink score > 0.9): layer 1 heads"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary does not say %q:\n%s", want, stdout)
		}
	}
}
