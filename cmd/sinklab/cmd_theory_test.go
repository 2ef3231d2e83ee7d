package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/attention"
	"github.com/sinklab/sinklab/probes"
)

// runCLI runs sinklab with args through newRootCmd and returns what it wrote
// to stdout and stderr and the exit status exitCode maps its error to. The
// app takes os.Stdout and os.Stderr when newRootCmd builds it, so they are
// swapped for files around the call (tests using it must not run in parallel).
func runCLI(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	dir := t.TempDir()
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outF, errF
	func() {
		defer func() { os.Stdout, os.Stderr = oldOut, oldErr }()
		root := newRootCmd()
		root.SetArgs(args)
		code = exitCode(root.Execute())
	}()
	outF.Close()
	errF.Close()
	o, _ := os.ReadFile(outF.Name())
	e, _ := os.ReadFile(errF.Name())
	return string(o), string(e), code
}

func TestTheoryBadInput(t *testing.T) {
	out := t.TempDir()
	if _, stderr, code := runCLI(t, "theory", "--out", out, "--run-id", "taken", "--set", "steps=3", "-q"); code != 0 {
		t.Fatalf("setup run failed (%d): %s", code, stderr)
	}
	tests := []struct {
		name   string
		args   []string
		wantIn string
	}{
		{"unknown experiment", []string{"--experiment", "logistics"}, `unknown experiment "logistics"`},
		{"unknown key", []string{"--set", "learning_rate=0.1"}, `unknown config key "learning_rate" (valid keys: loss, normalizer`},
		{"no equals", []string{"--set", "lr"}, "want key=value"},
		{"n < 2", []string{"--set", "n=1"}, "n must be at least 2"},
		{"lr = 0", []string{"--set", "lr=0"}, "lr must be finite and > 0"},
		{"lr < 0", []string{"--set", "lr=-1"}, "lr must be finite and > 0"},
		{"steps < 1", []string{"--set", "steps=0"}, "steps must be at least 1"},
		{"bad number", []string{"--set", "steps=many"}, "not an integer"},
		{"unknown normalizer", []string{"--set", "normalizer=softmin"}, "unknown normalizer"},
		{"bad engine", []string{"--engine", "torch"}, "engine must be closed or gorgonia"},
		{"folder exists", []string{"--out", out, "--run-id", "taken"}, "already exists"},
		{"bad run id", []string{"--run-id", "../escape"}, "--run-id"},
		{"unknown flag", []string{"--bogus"}, "unknown flag"},
		{"argument", []string{"extra"}, "no arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"theory", "--out", t.TempDir()}, tc.args...)
			stdout, stderr, code := runCLI(t, args...)
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
	// --force lets a run write into the existing folder
	if _, stderr, code := runCLI(t, "theory", "--out", out, "--run-id", "taken", "--set", "steps=3", "--force", "-q"); code != 0 {
		t.Errorf("--force: exit %d: %s", code, stderr)
	}
}

func TestTheoryShortRunWritesParquet(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := runCLI(t, "theory", "--out", out, "--run-id", "short", "--set", "steps=1e3",
		"--set", "seed=3", "--flow")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dir := filepath.Join(out, "short")
	rows, meta, err := probes.ReadTheory(filepath.Join(dir, probes.TheoryFile))
	if err != nil {
		t.Fatal(err)
	}
	steps := attention.RecordSteps(1000, 20)
	if len(rows) != len(steps) {
		t.Fatalf("%d rows, want %d", len(rows), len(steps))
	}
	for i, r := range rows {
		if r.RunID != "short" || r.Experiment != "logistic" || r.Variant != "logistic/softmax" || r.Step != steps[i] ||
			math.Abs(r.Time-0.1*float64(steps[i])) > 1e-12 || len(r.Weights) != 8 || len(r.U) != 8 {
			t.Fatalf("row %d: %+v", i, r)
		}
		if r.FlowEntropy == nil || r.FlowMaxWeight == nil || r.SelColNorm != nil {
			t.Fatalf("row %d: flow %v %v, columns %v", i, r.FlowEntropy, r.FlowMaxWeight, r.SelColNorm)
		}
		s := 0.0
		for _, w := range r.Weights {
			s += w
		}
		if math.Abs(s-1) > 1e-12 || math.Abs(r.SumAlpha-1) > 1e-12 || r.ConservedDrift > 1e-12 {
			t.Fatalf("row %d: Σσ %v, sum_alpha %v, drift %v", i, s, r.SumAlpha, r.ConservedDrift)
		}
	}
	if math.Abs(rows[0].Entropy-math.Log(8)) > 1e-12 {
		t.Errorf("a₀ = 0 but initial entropy %v ≠ log 8", rows[0].Entropy)
	}
	if meta["run_id"] != "short" || !strings.Contains(meta["config"], `"experiment":"logistic"`) {
		t.Errorf("metadata %v", meta)
	}
	var cfg theoryRunConfig
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Seed != 3 || cfg.Config.Seed != 3 || cfg.Version == "" || cfg.RunID != "short" || !cfg.Config.Flow ||
		cfg.Config.Steps[0] != 1000 || cfg.Config.N != 8 {
		t.Errorf("config.json: %+v", cfg)
	}
	// the table: one header, one variant line, then the folder
	if !strings.Contains(stdout, "logistic/softmax") || !strings.Contains(stdout, "max |H − H_flow|") ||
		!strings.Contains(stdout, "run folder: "+dir) {
		t.Errorf("stdout:\n%s", stdout)
	}
	if strings.Contains(stdout, "INFO") || !strings.Contains(stderr, "theory run") {
		t.Errorf("logs belong on stderr; stdout %q stderr %q", stdout, stderr)
	}
}

func TestTheoryDivergenceKeepsRows(t *testing.T) {
	out := t.TempDir()
	_, stderr, code := runCLI(t, "theory", "--out", out, "--run-id", "boom", "-e", "normalizers",
		"--set", "loss=square", "--set", "normalizer=softmax", "--set", "lr=1e3", "--set", "steps=1e4")
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	if !strings.Contains(stderr, "square/softmax diverged at step") {
		t.Errorf("stderr %q does not say where it diverged", stderr)
	}
	rows, _, err := probes.ReadTheory(filepath.Join(out, "boom", probes.TheoryFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || len(rows) >= len(attention.RecordSteps(10000, 20)) {
		t.Errorf("%d rows kept", len(rows))
	}
	for _, r := range rows {
		if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
			t.Errorf("row at step %d has loss %v", r.Step, r.Loss)
		}
	}
}

func TestTheoryDefaultRunIDsAreUnique(t *testing.T) {
	out := t.TempDir()
	for range 2 {
		if _, stderr, code := runCLI(t, "theory", "--out", out, "--set", "steps=2", "-q"); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("run folders %v, want 2", entries)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "logistic-20") {
			t.Errorf("run id %q, want logistic-<UTC timestamp>", e.Name())
		}
		if _, err := os.Stat(filepath.Join(out, e.Name(), probes.TheoryFile)); err != nil {
			t.Error(err)
		}
	}
}

func TestTheoryVariantsAndEngines(t *testing.T) {
	tests := []struct {
		name string
		args []string
		rows int
		tied bool
	}{
		{"normalizers", []string{"-e", "normalizers", "--set", "steps=10"}, 14 * len(attention.RecordSteps(10, 20)), false},
		{"tied", []string{"-e", "tied", "--set", "steps=10", "--set", "D=4,6"}, 2 * len(attention.RecordSteps(10, 20)), true},
		{"gorgonia", []string{"-e", "regression", "--engine", "gorgonia", "--set", "steps=10", "--set", "kappa=2", "--set", "n=4", "--set", "d=3", "--set", "m=5"}, len(attention.RecordSteps(10, 20)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"theory", "--out", out, "--run-id", "x", "-q"}, tc.args...)
			stdout, stderr, code := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			rows, _, err := probes.ReadTheory(filepath.Join(out, "x", probes.TheoryFile))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tc.rows {
				t.Errorf("%d rows, want %d", len(rows), tc.rows)
			}
			for _, r := range rows {
				if (r.SelColNorm != nil) != tc.tied || r.FlowEntropy != nil {
					t.Fatalf("row %+v", r)
				}
			}
			if strings.Contains(stdout, "H_flow") {
				t.Errorf("flow column without --flow:\n%s", stdout)
			}
		})
	}
}

func TestTheoryListAndHelp(t *testing.T) {
	stdout, _, code := runCLI(t, "theory", "--list")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(attention.ExperimentNames()) {
		t.Fatalf("--list printed %d lines:\n%s", len(lines), stdout)
	}
	for i, name := range attention.ExperimentNames() {
		if !strings.HasPrefix(lines[i], name+" ") {
			t.Errorf("line %d %q does not start with %q", i, lines[i], name)
		}
	}
	help, _, code := runCLI(t, "theory", "--help")
	if code != 0 || !strings.Contains(help, "Examples:") || !strings.Contains(help, "sinklab theory --list") ||
		!strings.Contains(help, "kappa") {
		t.Errorf("--help (exit %d):\n%s", code, help)
	}
}
