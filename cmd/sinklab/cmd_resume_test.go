package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/checkpoints"
	"github.com/sinklab/sinklab/probes"
)

// metricsNoTiming drops the wall-time column so runs can be compared.
func metricsNoTiming(rows []probes.MetricsRow) []probes.MetricsRow {
	out := slices.Clone(rows)
	for i := range out {
		out[i].StepSeconds = 0
	}
	return out
}

// TestResumeEqualsUninterrupted: a run stopped after its step-4 checkpoint
// (rows after it discarded as a kill would) and resumed to step 8 writes the
// same metrics and probe values as an uninterrupted 8-step run.
func TestResumeEqualsUninterrupted(t *testing.T) {
	out := t.TempDir()
	common := append([]string{"--set", "checkpoint.every=4"}, tinyTrain...)
	if _, e, c := runCLI(t, append([]string{"train", "--out", out, "--run-id", "full", "--steps", "8"}, common...)...); c != 0 {
		t.Fatalf("full run: %s", e)
	}
	if _, e, c := runCLI(t, append([]string{"train", "--out", out, "--run-id", "part", "--steps", "6"}, common...)...); c != 0 {
		t.Fatalf("part run: %s", e)
	}
	part := filepath.Join(out, "part")
	// Simulate a kill after step 6: the step-6 (final) checkpoint never happened.
	if err := os.RemoveAll(checkpoints.StepDir(part, 6)); err != nil {
		t.Fatal(err)
	}
	if _, e, c := runCLI(t, "train", "--resume", part, "--steps", "8", "-q"); c != 0 {
		t.Fatalf("resume: %s", e)
	}
	fm := metricsNoTiming(readParts[probes.MetricsRow](t, filepath.Join(out, "full", "metrics")))
	pm := metricsNoTiming(readParts[probes.MetricsRow](t, filepath.Join(part, "metrics")))
	for i := range pm {
		pm[i].RunID = "full"
	}
	if len(fm) != 8 || len(pm) != 8 {
		t.Fatalf("metrics rows: full %d, resumed %d; want 8 each", len(fm), len(pm))
	}
	for i := range fm {
		a, b := fm[i], pm[i]
		if a.Step != b.Step || a.Loss != b.Loss || a.GradNorm != b.GradNorm || a.Tokens != b.Tokens ||
			(a.ValLoss == nil) != (b.ValLoss == nil) || (a.ValLoss != nil && *a.ValLoss != *b.ValLoss) ||
			(a.SinkRate == nil) != (b.SinkRate == nil) || (a.SinkRate != nil && *a.SinkRate != *b.SinkRate) {
			t.Fatalf("metrics row %d differs:\nfull    %+v\nresumed %+v", i, a, b)
		}
	}
	fp := readParts[probes.HeadRow](t, filepath.Join(out, "full", "probes"))
	pp := readParts[probes.HeadRow](t, filepath.Join(part, "probes"))
	if len(fp) != len(pp) {
		t.Fatalf("probe rows: full %d, resumed %d", len(fp), len(pp))
	}
	for i := range fp {
		pp[i].RunID = fp[i].RunID
		if !reflect.DeepEqual(fp[i], pp[i]) { // the replicator columns are pointers
			t.Fatalf("probe row %d differs:\nfull    %+v\nresumed %+v", i, fp[i], pp[i])
		}
	}
}

func TestResumeBadInput(t *testing.T) {
	out := t.TempDir()
	if _, e, c := runCLI(t, append([]string{"train", "--out", out, "--run-id", "r", "--steps", "2"}, tinyTrain...)...); c != 0 {
		t.Fatalf("setup: %s", e)
	}
	run := filepath.Join(out, "r")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		wantIn string
	}{
		{"architecture change", []string{"--resume", run, "--set", "model.n_heads=4"}, 2, "cannot change model.n_heads (2 → 4)"},
		{"not a run", []string{"--resume", out}, 2, "config.json"},
		{"task flag", []string{"--resume", run, "--task", "copy"}, 2, "drop --task"},
		{"steps 0 is not unset", []string{"--resume", run, "--steps", "0"}, 2, "--steps must be ≥ 1, got 0"},
		{"negative steps", []string{"--resume", run, "--steps", "-5"}, 2, "--steps must be ≥ 1, got -5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, append([]string{"train"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.wantIn) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tc.code, stderr, tc.wantIn)
			}
		})
	}
	// A damaged newest checkpoint is skipped; with none left, a clear error.
	ck := checkpoints.StepDir(run, 2)
	if err := os.Truncate(filepath.Join(ck, checkpoints.ModelFile), 10); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "train", "--resume", run, "--steps", "3", "-q")
	if code != 1 || !strings.Contains(stderr, "no valid checkpoint") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestProbeRecomputesLiveRows: `sinklab probe` on a run's checkpoints writes
// the same probe and layer rows as the live run at those steps.
func TestProbeRecomputesLiveRows(t *testing.T) {
	out := t.TempDir()
	if _, e, c := runCLI(t, append([]string{"train", "--out", out, "--run-id", "p", "--steps", "4", "--set", "checkpoint.every=2"}, tinyTrain...)...); c != 0 {
		t.Fatalf("train: %s", e)
	}
	run := filepath.Join(out, "p")
	if _, e, c := runCLI(t, "probe", run, "-q"); c != 0 {
		t.Fatalf("probe: %s", e)
	}
	live := readParts[probes.HeadRow](t, filepath.Join(run, "probes"))
	re := readParts[probes.HeadRow](t, filepath.Join(run, "reprobe", "probes"))
	if len(re) != 8 { // steps 2 and 4 × 2 heads × row groups all and paper_rows
		t.Fatalf("%d recomputed rows, want 8", len(re))
	}
	for _, r := range re {
		found := false
		for _, l := range live {
			if l.Step == r.Step && l.Layer == r.Layer && l.Head == r.Head && l.Group == r.Group {
				found = true
				if !reflect.DeepEqual(l, r) { // the replicator columns are pointers
					t.Fatalf("step %d head %d: live %+v, recomputed %+v", r.Step, r.Head, l, r)
				}
			}
		}
		if !found {
			t.Fatalf("no live row for step %d head %d", r.Step, r.Head)
		}
	}
	if _, stderr, c := runCLI(t, "probe", run, "-q"); c != 2 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("second probe without --force: exit %d, %s", c, stderr)
	}
	if _, stderr, c := runCLI(t, "probe", run, "--eps", "0", "--force"); c != 2 || !strings.Contains(stderr, "--eps must be in (0, 1), got 0") {
		t.Fatalf("--eps 0 (not the run's ε): exit %d, %s", c, stderr)
	}
}

// TestSample: greedy sampling from a run's checkpoint prints token ids, the
// same ones twice; a prompt on a synthetic run is refused.
func TestSample(t *testing.T) {
	out := t.TempDir()
	if _, e, c := runCLI(t, append([]string{"train", "--out", out, "--run-id", "s", "--steps", "2"}, tinyTrain...)...); c != 0 {
		t.Fatalf("train: %s", e)
	}
	run := filepath.Join(out, "s")
	a, e, c := runCLI(t, "sample", run, "--tokens", "0,3,4", "--max-new", "15", "--temperature", "0", "-q")
	if c != 0 {
		t.Fatalf("sample: %s", e)
	}
	b, _, _ := runCLI(t, "sample", run, "--tokens", "0,3,4", "--max-new", "15", "--temperature", "0", "-q")
	if a != b || strings.Count(a, ",") != 14 {
		t.Fatalf("greedy samples %q and %q: want the same 15 ids", a, b)
	}
	if _, stderr, c := runCLI(t, "sample", run, "--prompt", "hi"); c != 2 || !strings.Contains(stderr, "needs a text run") {
		t.Fatalf("prompt on induction: exit %d, %s", c, stderr)
	}
	if _, stderr, c := runCLI(t, "sample", run, "--tokens", "0,999"); c != 2 || !strings.Contains(stderr, "outside the vocabulary") {
		t.Fatalf("bad token: exit %d, %s", c, stderr)
	}
	for _, tc := range []struct{ flag, value, want string }{
		{"--max-new", "0", "--max-new must be ≥ 1, got 0"},
		{"--max-new", "-3", "--max-new must be ≥ 1, got -3"},
		{"--checkpoint", "-1", "--checkpoint must be a step ≥ 0, got -1"},
	} {
		_, stderr, c := runCLI(t, "sample", run, tc.flag, tc.value)
		if c != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Fatalf("sample %s %s: exit %d, stderr %q; want 2 and one line with %q", tc.flag, tc.value, c, stderr, tc.want)
		}
	}
}

// TestTextRunTokenizer: a text run saves tokenizer.json, resumes and samples
// with it.
func TestTextRunTokenizer(t *testing.T) {
	out := t.TempDir()
	args := []string{"train", "--task", "text", "--out", out, "--run-id", "txt", "--steps", "2",
		"--set", "data.seq_len=32", "--set", "data.tokenizer=char", "--set", "data.eval_size=16",
		"--set", "model.d_model=16", "--set", "model.n_heads=2", "--set", "model.n_layers=1",
		"--set", "train.batch=8", "--set", "train.eval_batch=8", "--set", "checkpoint.every=1", "-q"}
	if _, e, c := runCLI(t, args...); c != 0 {
		t.Fatalf("train: %s", e)
	}
	run := filepath.Join(out, "txt")
	if _, err := os.Stat(filepath.Join(run, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	if _, e, c := runCLI(t, "train", "--resume", run, "--steps", "3", "-q"); c != 0 {
		t.Fatalf("resume: %s", e)
	}
	s, e, c := runCLI(t, "sample", run, "--prompt", "Light", "--max-new", "10", "-q")
	if c != 0 || !strings.HasPrefix(s, "Light") {
		t.Fatalf("sample: exit %d, %q, %s", c, s, e)
	}
	if err := os.Remove(filepath.Join(run, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	if _, stderr, c := runCLI(t, "sample", run, "--prompt", "x"); c == 0 || !strings.Contains(stderr, "tokenizer.json") {
		t.Fatalf("missing tokenizer: exit %d, %s", c, stderr)
	}
}

// TestResumeOlderConfig: a run folder whose config.json predates the log
// section and checkpoint.every_seconds resumes with their defaults.
func TestResumeOlderConfig(t *testing.T) {
	out := t.TempDir()
	if _, e, c := runCLI(t, append([]string{"train", "--out", out, "--run-id", "old", "--steps", "2"}, tinyTrain...)...); c != 0 {
		t.Fatalf("train: %s", e)
	}
	path := filepath.Join(out, "old", "config.json")
	var doc map[string]any
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &doc)
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg := doc["config"].(map[string]any)
	delete(cfg, "log")
	delete(cfg["checkpoint"].(map[string]any), "every_seconds")
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, e, c := runCLI(t, "train", "--resume", filepath.Join(out, "old"), "--steps", "3", "-q"); c != 0 {
		t.Fatalf("resume of an older config.json: %s", e)
	}
	var rc trainRunConfig
	if b, err = os.ReadFile(path); err == nil {
		err = json.Unmarshal(b, &rc)
	}
	if err != nil || rc.Config.Log.FlushSeconds != 60 || rc.Config.Checkpoint.EverySeconds != 300 {
		t.Fatalf("config.json after resume: %v, log %+v, checkpoint %+v", err, rc.Config.Log, rc.Config.Checkpoint)
	}
}
