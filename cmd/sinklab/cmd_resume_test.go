package main

import (
	"os"
	"path/filepath"
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
		if fp[i] != pp[i] {
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
