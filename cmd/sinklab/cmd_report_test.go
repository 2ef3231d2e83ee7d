package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/probes/report"
)

// reportTrainArgs make a training run of a few seconds with probes.
var reportTrainArgs = []string{"--steps", "6", "--set", "model.d_model=16", "--set", "model.n_heads=2",
	"--set", "model.n_layers=1", "--set", "train.batch=8", "--set", "data.eval_size=16", "--set", "train.eval_batch=8",
	"--set", "probe.every=2", "--set", "train.eval_every=3", "--set", "train.log_every=1", "-q"}

// reportRuns trains a tiny run and a short theory run under out.
func reportRuns(t *testing.T, out string) (train, theory string) {
	t.Helper()
	if _, e, c := runCLI(t, append([]string{"train", "--out", out, "--run-id", "tr"}, reportTrainArgs...)...); c != 0 {
		t.Fatalf("train: %s", e)
	}
	if _, e, c := runCLI(t, "theory", "--out", out, "--run-id", "th", "--set", "steps=300", "--set", "n=4",
		"--set", "d=4", "-q"); c != 0 {
		t.Fatalf("theory: %s", e)
	}
	return filepath.Join(out, "tr"), filepath.Join(out, "th")
}

func TestReport(t *testing.T) {
	out := t.TempDir()
	train, theory := reportRuns(t, out)

	stdout, stderr, code := runCLI(t, "report", train, "-q")
	want := filepath.Join(train, "report.html")
	if code != 0 || stdout != "report: "+want+"\n" {
		t.Fatalf("report: status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	page, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`id="loss"`, `id="sink-rate"`, `id="grid-entropy"`, `id="entropy-l0-h1"`, `id="resid-peak"`, "tr"} {
		if !bytes.Contains(page, []byte(s)) {
			t.Errorf("report lacks %s", s)
		}
	}
	// attention maps: drawn when training saved snapshots, else the section says they are absent
	steps, err := report.ListAttnSnapshots(train)
	if err != nil {
		t.Fatal(err)
	}
	if hasMaps := bytes.Contains(page, []byte(`class="heatmap"`)); hasMaps != (len(steps) > 0) ||
		(!hasMaps && !bytes.Contains(page, []byte("no attention snapshots"))) {
		t.Errorf("%d snapshots, heatmaps drawn: %v", len(steps), hasMaps)
	}

	// several runs, -o and --png
	html, pngs := filepath.Join(out, "both.html"), filepath.Join(out, "png")
	stdout, stderr, code = runCLI(t, "report", train, theory, "-o", html, "--png", pngs, "-q")
	if code != 0 || !strings.Contains(stdout, "report: "+html) || !strings.Contains(stdout, "png: ") {
		t.Fatalf("report -o --png: status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	page, err = os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`id="loss"`, `id="theory-logistic-softmax-entropy"`, `id="summary-theory"`, "<th>tr</th>"} {
		if !bytes.Contains(page, []byte(s)) {
			t.Errorf("combined report lacks %s", s)
		}
	}
	for _, name := range []string{"loss.png", "grid-sink-score.png", "theory-logistic-softmax-weights.png"} {
		b, err := os.ReadFile(filepath.Join(pngs, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// several runs without -o: ./report.html
	t.Chdir(out)
	if _, stderr, code := runCLI(t, "report", "tr", "th", "-q"); code != 0 {
		t.Fatalf("report of two runs: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "report.html")); err != nil {
		t.Errorf("default output of several runs: %v", err)
	}
}

func TestReportBadInput(t *testing.T) {
	out := t.TempDir()
	empty := filepath.Join(out, "empty")
	noLogs := filepath.Join(out, "nologs")
	for _, d := range []string{empty, noLogs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(noLogs, "config.json"), []byte(`{"command":"train","run_id":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, e, c := runCLI(t, append([]string{"train", "--out", out, "--run-id", "ok"}, reportTrainArgs...)...); c != 0 {
		t.Fatalf("train: %s", e)
	}
	ok := filepath.Join(out, "ok")
	file := filepath.Join(out, "file.txt")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		wantIn string
	}{
		{"no run", nil, "needs at least one run folder"},
		{"missing folder", []string{filepath.Join(out, "nope")}, "no such folder"},
		{"not a run", []string{empty}, "not a sinklab run folder"},
		{"a file", []string{file}, "not a folder"},
		{"missing logs", []string{noLogs}, "metrics/ has no part files"},
		{"second run bad", []string{noLogs, empty}, "metrics/ has no part files"},
		{"output folder missing", []string{ok, "-o", filepath.Join(out, "no", "r.html")}, "does not exist"},
		{"output is a folder", []string{ok, "-o", out}, "is a folder"},
		{"unknown flag", []string{empty, "--bogus"}, "unknown flag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append([]string{"report"}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit status %d, want 2 (stderr %q)", code, stderr)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(stderr, tc.wantIn) {
				t.Errorf("stderr %q: want one line containing %q", stderr, tc.wantIn)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
	for _, d := range []string{empty, ok, out} {
		if _, err := os.Stat(filepath.Join(d, "report.html")); err == nil {
			t.Errorf("a failed report left %s", filepath.Join(d, "report.html"))
		}
	}
}
