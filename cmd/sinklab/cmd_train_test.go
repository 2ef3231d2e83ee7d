package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sinklab/sinklab/probes"
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
		{"heads do not divide", []string{"--set", "model.n_heads=3"}, "does not divide model.d_model"},
		{"sequence longer than positions", []string{"--set", "model.n_ctx=8"}, "longer than model.n_ctx = 8"},
		{"steps < 1", []string{"--steps", "-1"}, "train.steps must be ≥ 1"},
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
	heads := readParts[probes.HeadRow](t, filepath.Join(dir, "probes"))
	// probes at steps 0, 2, 4 × 1 layer × 2 heads
	if len(heads) != 6 || heads[0].Step != 0 || heads[5].Step != 4 {
		t.Fatalf("%d probe rows: %+v", len(heads), heads)
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

// TestDefaultRunFormsSink trains the default induction configuration briefly
// and reads probes back through the Parquet reader: at the last step at least
// one head must be a sink head, BOS sink score > 0.9 (SCIENCE.md §3, Varre et
// al. §4.1), and is_sink_head must say so.
func TestDefaultRunFormsSink(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the default model for 200 steps; skipped with -short")
	}
	const steps = 200
	out := t.TempDir()
	if _, e, c := runCLI(t, "train", "--out", out, "--run-id", "d", "--steps", fmt.Sprint(steps), "--set", "train.eval_every=0", "-q"); c != 0 {
		t.Fatalf("exit %d: %s", c, e)
	}
	heads := readParts[probes.HeadRow](t, filepath.Join(out, "d", "probes"))
	final := map[[2]int32]probes.HeadRow{}
	for _, h := range heads {
		if h.Step == steps {
			final[[2]int32{h.Layer, h.Head}] = h
		}
	}
	if len(final) != 8 {
		t.Fatalf("want 8 heads at step %d, got %d", steps, len(final))
	}
	best := probes.HeadRow{BOSSinkScore: math.Inf(-1)}
	var scores []string
	for _, h := range final {
		scores = append(scores, fmt.Sprintf("L%dH%d %.3f", h.Layer, h.Head, h.BOSSinkScore))
		if h.BOSSinkScore > best.BOSSinkScore {
			best = h
		}
		if h.IsSinkHead != (h.BOSSinkScore > 0.9) {
			t.Errorf("layer %d head %d: is_sink_head %v with BOS sink score %.3f", h.Layer, h.Head, h.IsSinkHead, h.BOSSinkScore)
		}
	}
	slices.Sort(scores)
	t.Logf("BOS sink scores at step %d: %s", steps, strings.Join(scores, ", "))
	if !(best.BOSSinkScore > 0.9) {
		t.Fatalf("no sink head at step %d: the largest BOS sink score is %.3f (layer %d head %d), want > 0.9",
			steps, best.BOSSinkScore, best.Layer, best.Head)
	}
}
