package main

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sinklab/sinklab/checkpoints"
	"github.com/sinklab/sinklab/probes"
)

// killFlush is the log.flush_seconds of the killed runs.
const killFlush = 1

// killSlack bounds how much later than log.flush_seconds after the previous
// flush a part may finish: one step with its evaluation and probes (a few
// milliseconds here) plus scheduling delays on a busy machine.
const killSlack = 3 * time.Second

// killArgs are the flags of every run of TestKillSafety: the tiny model,
// a metrics row every step, probes every 2 steps, parts finished every
// second, and a constant learning rate so that a run's rows do not depend on
// train.steps (the killed runs are started with a huge step count).
var killArgs = append([]string{"--set", "optim.schedule=constant", "--set", "log.flush_seconds=" + strconv.Itoa(killFlush)},
	tinyTrain...)

// killedRun is a `sinklab train` child process that the test kills.
type killedRun struct {
	dir              string
	cmd              *exec.Cmd
	stderr           string // file
	started, killed  time.Time
	exitedBeforeKill bool
}

// startRun starts the binary training run id in out with killArgs and extra.
func startRun(t *testing.T, bin, out, id string, extra ...string) *killedRun {
	t.Helper()
	args := append([]string{"train", "--out", out, "--run-id", id, "--steps", "1000000"}, killArgs...)
	cmd := exec.Command(bin, append(args, extra...)...)
	errPath := filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stderr = f
	r := &killedRun{dir: filepath.Join(out, id), cmd: cmd, stderr: errPath, started: time.Now()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return r
}

// killWhen polls the run folder until ready reports true, then sends
// SIGKILL. It fails the test if the process ends on its own or ready is not
// reached within 30 s.
func (r *killedRun) killWhen(t *testing.T, what string, ready func() bool) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-done:
			e, _ := os.ReadFile(r.stderr)
			t.Fatalf("run %s ended (%v) before %s: %s", r.dir, err, what, e)
		case <-deadline:
			t.Fatalf("run %s: %s not reached within 30 s", r.dir, what)
		case <-time.After(10 * time.Millisecond):
		}
		if ready() {
			break
		}
	}
	if err := r.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	r.killed = time.Now()
	<-done
}

// finishedParts lists a log's finished part files.
func finishedParts(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readFinished reads every finished part of one log with parquet-go; a
// missing or empty folder has no rows.
func readFinished[T any](t *testing.T, dir string) []T {
	t.Helper()
	var rows []T
	for _, p := range finishedParts(t, dir) {
		r, err := parquet.ReadFile[T](p)
		if err != nil {
			t.Fatalf("finished part %s does not read back: %v", p, err)
		}
		rows = append(rows, r...)
	}
	return rows
}

// checkKilled checks a killed run folder: every finished part reads back;
// the finished metrics rows are exactly steps 1…N, the finished probe and
// layer rows every probe step from 0 to at least the last probe step ≤ N
// (Flush finishes the metrics log last); and the newest finished metrics part
// was written at most log.flush_seconds (plus killSlack) before the kill, so
// that is all the log a kill can lose. It returns N.
func checkKilled(t *testing.T, r *killedRun) int64 {
	t.Helper()
	ms := readFinished[probes.MetricsRow](t, filepath.Join(r.dir, probes.MetricsDir))
	hs := probes.HeadRowsOf(readFinished[probes.HeadRow](t, filepath.Join(r.dir, probes.ProbesDir)), probes.GroupAll)
	ls := readFinished[probes.LayerRow](t, filepath.Join(r.dir, probes.LayersDir))
	stepsOf := func(k int, get func(i int) int64) []int64 {
		out := make([]int64, k)
		for i := range out {
			out[i] = get(i)
		}
		slices.Sort(out)
		return out
	}
	n := prefixOfSteps(t, r.dir, "metrics", stepsOf(len(ms), func(i int) int64 { return ms[i].Step }), 1, 1, 1)
	// Probes run at step 0 and every 2 steps: 2 heads (group all) and 2 layer
	// rows each (the one block's input and the final residual stream).
	ph := prefixOfSteps(t, r.dir, "probes", stepsOf(len(hs), func(i int) int64 { return hs[i].Step }), 0, 2, 2)
	pl := prefixOfSteps(t, r.dir, "layers", stepsOf(len(ls), func(i int) int64 { return ls[i].Step }), 0, 2, 2)
	if n > 0 && (ph < n-n%2 || pl < n-n%2) {
		t.Fatalf("%s: metrics rows reach step %d but probe rows only step %d and layer rows step %d", r.dir, n, ph, pl)
	}
	durable := r.started // no part finished: all rows since the start are lost
	for _, p := range finishedParts(t, filepath.Join(r.dir, probes.MetricsDir)) {
		if st, err := os.Stat(p); err == nil && st.ModTime().After(durable) {
			durable = st.ModTime()
		}
	}
	if lost := r.killed.Sub(durable); lost > killFlush*time.Second+killSlack {
		t.Fatalf("%s: the newest finished part was written %v before the kill; want at most log.flush_seconds=%ds (+%v slack)",
			r.dir, lost.Round(time.Millisecond), killFlush, killSlack)
	}
	t.Logf("%s: killed %v after start; finished parts hold metrics of steps 1–%d, probes of 0–%d; newest written %v before the kill",
		filepath.Base(r.dir), r.killed.Sub(r.started).Round(time.Millisecond), n, ph, r.killed.Sub(durable).Round(time.Millisecond))
	return n
}

// prefixOfSteps checks that sorted steps are first, first+every, … up to
// some last step, each present exactly per times, and returns that last step
// (first−every when there are none).
func prefixOfSteps(t *testing.T, dir, log string, steps []int64, first, every int64, per int) int64 {
	t.Helper()
	for i, s := range steps {
		if want := first + every*int64(i/per); s != want {
			t.Fatalf("%s: %s row %d of %d has step %d, want %d: the finished rows are not a prefix of the run",
				dir, log, i, len(steps), s, want)
		}
	}
	if len(steps)%per != 0 {
		t.Fatalf("%s: %s: %d rows, not a whole number of steps of %d rows", dir, log, len(steps), per)
	}
	return first + every*int64(len(steps)/per-1)
}

// TestKillSafety kills (SIGKILL) real `sinklab train` processes early, in
// the middle (finished parts, no checkpoint yet) and after a time-based
// checkpoint, and checks that the finished parts read back with at most
// log.flush_seconds of rows missing, and that --resume after the last kill
// writes the same rows, bit for bit, as a run that was never killed.
func TestKillSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills training runs; skipped with -short")
	}
	bin := sinklabBinary(t)
	out := t.TempDir()
	metricsDir := func(run string) string { return filepath.Join(out, run, probes.MetricsDir) }

	t.Run("early", func(t *testing.T) {
		// Killed as soon as the first metrics row is being written: before
		// any part is finished and before any checkpoint.
		r := startRun(t, bin, out, "early")
		r.killWhen(t, "the first metrics row", func() bool {
			m, _ := filepath.Glob(filepath.Join(metricsDir("early"), ".*.tmp"))
			return len(m) > 0 || len(finishedParts(t, metricsDir("early"))) > 0
		})
		checkKilled(t, r)
		_, stderr, code := runCLI(t, "train", "--resume", r.dir, "-q")
		if code != 1 || !strings.Contains(stderr, "no valid checkpoint") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Fatalf("resume without a checkpoint: exit %d, stderr %q; want 1 and one line naming the missing checkpoint", code, stderr)
		}
	})

	t.Run("mid", func(t *testing.T) {
		// Killed once two parts were finished by the time-based flush alone
		// (checkpoint.every_seconds is the default 300: no checkpoint yet).
		r := startRun(t, bin, out, "mid")
		r.killWhen(t, "two finished parts", func() bool { return len(finishedParts(t, metricsDir("mid"))) >= 2 })
		if n := checkKilled(t, r); n == 0 {
			t.Fatal("no rows in the finished parts")
		}
		if steps, err := checkpoints.List(r.dir); err != nil || len(steps) != 0 {
			t.Fatalf("checkpoints %v (%v): want none before checkpoint.every_seconds", steps, err)
		}
	})

	t.Run("after checkpoint", func(t *testing.T) {
		// checkpoint.every_seconds=2: killed once a part was finished after
		// the first checkpoint, so finished parts hold rows the checkpoint
		// does not cover; --resume must drop them and write them again.
		r := startRun(t, bin, out, "ck", "--set", "checkpoint.every_seconds=2")
		parts := -1
		r.killWhen(t, "a finished part after a checkpoint", func() bool {
			if parts < 0 {
				if s, _ := checkpoints.List(r.dir); len(s) > 0 {
					parts = len(finishedParts(t, metricsDir("ck")))
				}
				return false
			}
			return len(finishedParts(t, metricsDir("ck"))) > parts
		})
		n := checkKilled(t, r)
		ck, skipped, err := checkpoints.Latest(r.dir)
		if err != nil {
			t.Fatalf("no checkpoint after the kill: %v (skipped %v)", err, skipped)
		}
		c := ck.State.Step
		t.Logf("newest checkpoint at step %d; finished parts reach step %d", c, n)
		if n < c {
			t.Fatalf("finished parts end at step %d before the checkpoint at step %d", n, c)
		}
		// Resume to a little past the checkpoint, and train the same steps in
		// one uninterrupted run.
		total := strconv.FormatInt(c+41, 10)
		if _, e, code := runCLI(t, "train", "--resume", r.dir, "--steps", total, "-q"); code != 0 {
			t.Fatalf("resume: %s", e)
		}
		ref := exec.Command(bin, append([]string{"train", "--out", out, "--run-id", "ref", "--steps", total,
			"--set", "checkpoint.every_seconds=2"}, killArgs...)...)
		if b, err := ref.CombinedOutput(); err != nil {
			t.Fatalf("uninterrupted run: %v\n%s", err, b)
		}
		for _, log := range []string{probes.MetricsDir, probes.ProbesDir, probes.LayersDir} {
			if m, _ := filepath.Glob(filepath.Join(r.dir, log, ".*")); len(m) != 0 {
				t.Errorf("%s: temporary files left after resume: %v", log, m)
			}
		}
		sameRows(t, out, "ck", "ref")
	})
}

// sameRows compares the metrics (without wall times), probes and layers rows
// of two runs, in step order, bit for bit.
func sameRows(t *testing.T, out, a, b string) {
	t.Helper()
	strip := func(rows []probes.MetricsRow) []probes.MetricsRow {
		rows = metricsNoTiming(rows)
		for i := range rows {
			rows[i].RunID = ""
		}
		slices.SortStableFunc(rows, func(x, y probes.MetricsRow) int { return int(x.Step - y.Step) })
		return rows
	}
	ma := strip(readParts[probes.MetricsRow](t, filepath.Join(out, a, probes.MetricsDir)))
	mb := strip(readParts[probes.MetricsRow](t, filepath.Join(out, b, probes.MetricsDir)))
	if len(ma) != len(mb) {
		t.Fatalf("metrics rows: %s has %d, %s has %d", a, len(ma), b, len(mb))
	}
	for i := range ma {
		x, y := ma[i], mb[i]
		if x.Step != y.Step || x.Tokens != y.Tokens || x.Loss != y.Loss || x.LR != y.LR || x.GradNorm != y.GradNorm ||
			!samePtr(x.ValLoss, y.ValLoss) || !samePtr(x.ValAccuracy, y.ValAccuracy) || !samePtr(x.SinkRate, y.SinkRate) ||
			!maps.Equal(x.GroupLoss, y.GroupLoss) {
			t.Fatalf("metrics row %d differs:\n%s %+v\n%s %+v", i, a, x, b, y)
		}
	}
	ha := readParts[probes.HeadRow](t, filepath.Join(out, a, probes.ProbesDir))
	hb := readParts[probes.HeadRow](t, filepath.Join(out, b, probes.ProbesDir))
	la := readParts[probes.LayerRow](t, filepath.Join(out, a, probes.LayersDir))
	lb := readParts[probes.LayerRow](t, filepath.Join(out, b, probes.LayersDir))
	if len(ha) != len(hb) || len(la) != len(lb) {
		t.Fatalf("probe/layer rows: %s %d/%d, %s %d/%d", a, len(ha), len(la), b, len(hb), len(lb))
	}
	for i := range ha {
		ha[i].RunID = hb[i].RunID
		if !reflect.DeepEqual(ha[i], hb[i]) { // the replicator columns are pointers
			t.Fatalf("probe row %d differs:\n%s %s\n%s %s", i, a, rowString(ha[i]), b, rowString(hb[i]))
		}
	}
	for i := range la {
		la[i].RunID = lb[i].RunID
		if la[i] != lb[i] {
			t.Fatalf("layer row %d differs:\n%s %+v\n%s %+v", i, a, la[i], b, lb[i])
		}
	}
	t.Logf("%d metrics, %d probe and %d layer rows identical", len(ma), len(ha), len(la))
}

// samePtr compares two optional values.
func samePtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
