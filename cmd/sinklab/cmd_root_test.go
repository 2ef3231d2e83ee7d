package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sinklab/sinklab/checkpoints"
)

func TestVersionAndLogFormat(t *testing.T) {
	out, _, code := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "sinklab ") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
	dir := t.TempDir()
	_, stderr, code := runCLI(t, "theory", "--out", dir, "--set", "steps=10", "--log-format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["msg"] == nil {
			t.Fatalf("log line is not JSON with msg: %q (%v)", l, err)
		}
	}
	if _, stderr, code := runCLI(t, "version", "--log-format", "xml"); code != 2 || !strings.Contains(stderr, "--log-format") {
		t.Fatalf("bad log format: exit %d, %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, "trian"); code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Fatalf("unknown command: exit %d, %s", code, stderr)
	}
}

// TestInterruptWritesCheckpoint: cancelling the context (what SIGINT and
// SIGTERM do) stops training after the current step, writes a checkpoint,
// says how to resume, and exits with status 130; the run then resumes.
func TestInterruptWritesCheckpoint(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(3*time.Second, cancel) // as signal.NotifyContext does on SIGINT
	root := newRootCmd()
	root.SetArgs(append([]string{"train", "--out", out, "--run-id", "i", "--steps", "1000000"}, tinyTrain...))
	err := root.ExecuteContext(ctx)
	if code := exitCode(err); code != 130 {
		t.Fatalf("exit %d (%v), want 130", code, err)
	}
	if !strings.Contains(err.Error(), "sinklab train --resume "+filepath.Join(out, "i")) {
		t.Fatalf("error does not say how to resume: %v", err)
	}
	ck, _, lerr := checkpoints.Latest(filepath.Join(out, "i"))
	if lerr != nil || ck.State.Step < 1 {
		t.Fatalf("no checkpoint after the interrupt: %v", lerr)
	}
	if _, e, c := runCLI(t, "train", "--resume", filepath.Join(out, "i"), "--steps", itoa(ck.State.Step+2), "-q"); c != 0 {
		t.Fatalf("resume after interrupt: %s", e)
	}
}

// TestCheckpointFromAnotherTask: a checkpoint copied in from a run of another
// task is refused with an error naming both tasks.
func TestCheckpointFromAnotherTask(t *testing.T) {
	out := t.TempDir()
	if _, e, c := runCLI(t, append([]string{"train", "--out", out, "--run-id", "ind", "--steps", "2"}, tinyTrain...)...); c != 0 {
		t.Fatalf("train: %s", e)
	}
	args := []string{"train", "--task", "copy", "--out", out, "--run-id", "cp", "--steps", "1",
		"--set", "model.d_model=16", "--set", "model.n_heads=2", "--set", "model.n_layers=1", "--set", "train.batch=8",
		"--set", "data.eval_size=16", "--set", "train.eval_batch=8", "-q"}
	if _, e, c := runCLI(t, args...); c != 0 {
		t.Fatalf("train copy: %s", e)
	}
	src := checkpoints.StepDir(filepath.Join(out, "ind"), 2)
	dst := checkpoints.StepDir(filepath.Join(out, "cp"), 5)
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
	// The moved checkpoint's state says step 2; fix the folder name to match.
	if err := os.Rename(dst, checkpoints.StepDir(filepath.Join(out, "cp"), 2)); err != nil {
		t.Fatal(err)
	}
	_, stderr, c := runCLI(t, "train", "--resume", filepath.Join(out, "cp"), "--steps", "3", "-q")
	if c == 0 || !strings.Contains(stderr, `checkpoint is from task "induction", this run trains "copy"`) {
		t.Fatalf("exit %d, stderr %q", c, stderr)
	}
}

func TestTextBadInput(t *testing.T) {
	out := t.TempDir()
	empty := filepath.Join(out, "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(out, "missing.txt"), "missing.txt"},
		{empty, "empty"},
	} {
		_, stderr, c := runCLI(t, "train", "--task", "text", "--out", out, "--set", "data.path="+tc.path)
		if c != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Fatalf("%s: exit %d, stderr %q", tc.path, c, stderr)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
