package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sinklab/sinklab/cmd/sinklab/internal/sweep"
	"github.com/sinklab/sinklab/probes"
)

// The sweep tests run cells as child processes of a real sinklab binary,
// built once per test process (on first use) into binDir.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// sinklabBinary builds github.com/sinklab/sinklab/cmd/sinklab (go build) and
// returns its path.
func sinklabBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sinklab-bin-")
		if err != nil {
			binError = err
			return
		}
		binDir = dir
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		start := time.Now()
		out, err := exec.Command(goTool, "build", "-o", filepath.Join(dir, "sinklab"), "github.com/sinklab/sinklab/cmd/sinklab").CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		binPath = filepath.Join(dir, "sinklab")
		fmt.Fprintf(os.Stderr, "built %s in %s\n", binPath, time.Since(start).Round(time.Millisecond))
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// tinySweep is a 2 × 2 sweep of runs that take a fraction of a second.
const tinySweep = `name: tiny
task: induction
base:
  model.d_model: 16
  model.n_heads: 2
  model.n_layers: 1
  train:
    batch: 8
    eval_batch: 8
    steps: %d
    log_every: 1
  data.eval_size: 16
  probe.every: 2
grid:
  model.attention: [softmax, sigmoid]
seeds: [1, 2]
`

func writeSweepFile(t *testing.T, dir string, steps int) string {
	t.Helper()
	path := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(tinySweep, steps)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// countingExe writes a wrapper around the real binary that appends each
// cell index it is asked to run to $SWEEP_TEST_COUNTER and fails, without
// running anything, for index $SWEEP_TEST_FAIL_INDEX.
func countingExe(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "sinklab-wrapper")
	script := `#!/bin/sh
# args: sweep run-cell DIR --index I ...
echo "$5" >> "$SWEEP_TEST_COUNTER"
if [ "$5" = "$SWEEP_TEST_FAIL_INDEX" ]; then
	echo "injected failure for cell $5" >&2
	exit 3
fi
exec "$SWEEP_TEST_REAL" "$@"
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// takeRuns returns the cell indices the wrapper ran since the last call.
func takeRuns(t *testing.T, counter string) []string {
	t.Helper()
	b, _ := os.ReadFile(counter)
	os.Remove(counter)
	runs := strings.Fields(string(b))
	slices.Sort(runs)
	return runs
}

// sweepRow is the part of a sweep.parquet row the tests read.
type sweepRow struct {
	CellID    string   `parquet:"cell_id"`
	Attention string   `parquet:"model.attention"`
	Seed      int64    `parquet:"seed"`
	Status    string   `parquet:"status"`
	FinalLoss *float64 `parquet:"final_loss,optional"`
	ValLoss   *float64 `parquet:"val_loss,optional"`
	SinkRate  *float64 `parquet:"sink_rate,optional"`
	Probed    *int32   `parquet:"n_heads_probed,optional"`
	SinkHeads *int32   `parquet:"n_sink_heads,optional"`
	Entropy   *float64 `parquet:"mean_entropy,optional"`
	ProbeStep *int64   `parquet:"probe_step,optional"`
}

func readSweepParquet(t *testing.T, dir string) []sweepRow {
	t.Helper()
	rows, err := parquet.ReadFile[sweepRow](filepath.Join(dir, sweep.ParquetFile))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func fileStamp(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	return st.ModTime().String() + string(b)
}

// TestSweepLocalAndResume runs a 2 × 2 sweep on the local backend: a cell
// that fails does not stop the others and makes the exit status 1; running
// again reruns only the cells that are not done (a failed one, a deleted
// one, a partial one), leaves finished cells untouched, and refuses a sweep
// file that changes existing cells.
func TestSweepLocalAndResume(t *testing.T) {
	real := sinklabBinary(t)
	work := t.TempDir()
	file := writeSweepFile(t, work, 4)
	out := filepath.Join(work, "sweep")
	counter := filepath.Join(work, "runs.txt")
	t.Setenv(exeEnv, countingExe(t, work))
	t.Setenv("SWEEP_TEST_REAL", real)
	t.Setenv("SWEEP_TEST_COUNTER", counter)

	// Run 1: cell 2 fails.
	t.Setenv("SWEEP_TEST_FAIL_INDEX", "2")
	start := time.Now()
	stdout, stderr, code := runCLI(t, "sweep", file, "--out", out, "--jobs", "2", "-q")
	t.Logf("first run (4 cells, one failing): %s", time.Since(start).Round(time.Millisecond))
	if code != 1 {
		t.Fatalf("exit status %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if runs := takeRuns(t, counter); !slices.Equal(runs, []string{"0", "1", "2", "3"}) {
		t.Fatalf("first run ran cells %v", runs)
	}
	m, err := sweep.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	failedID := m.Cells[2].ID
	for _, want := range []string{"1 cells failed", failedID, "injected failure for cell 2", "1 of 4 cells are not done"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	rows := readSweepParquet(t, out)
	if len(rows) != 4 || rows[2].Status != "missing" || rows[0].Status != "done" || rows[3].Status != "done" {
		t.Fatalf("sweep.parquet after run 1: %+v", rows)
	}

	// Run 2: only the failed cell runs.
	t.Setenv("SWEEP_TEST_FAIL_INDEX", "")
	stamps := map[int]string{}
	for _, i := range []int{0, 1, 3} {
		stamps[i] = fileStamp(t, filepath.Join(out, m.Cells[i].ID, sweep.DoneFile))
	}
	stdout, stderr, code = runCLI(t, "sweep", file, "--out", out, "--jobs", "2", "-q")
	if code != 0 {
		t.Fatalf("run 2: exit status %d\n%s\n%s", code, stdout, stderr)
	}
	if runs := takeRuns(t, counter); !slices.Equal(runs, []string{"2"}) {
		t.Fatalf("run 2 ran cells %v, want only 2", runs)
	}
	if !strings.Contains(stdout, "4 cells, 4 done (3 finished before)") {
		t.Errorf("run 2 stdout:\n%s", stdout)
	}
	for i, s := range stamps {
		if fileStamp(t, filepath.Join(out, m.Cells[i].ID, sweep.DoneFile)) != s {
			t.Errorf("cell %d's done.json changed although it was finished", i)
		}
	}

	// The cell folders are normal run folders, their run id the cell id.
	for _, c := range m.Cells {
		cd := filepath.Join(out, c.ID)
		var rc trainRunConfig
		b, err := os.ReadFile(filepath.Join(cd, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rc); err != nil {
			t.Fatal(err)
		}
		if rc.RunID != c.ID || rc.Config.Model.Attention != c.Params[0].Value || rc.Config.Seed != c.Seed ||
			rc.Config.Model.DModel != 16 || rc.Config.Train.Steps != 4 {
			t.Errorf("cell %s: config.json run_id %q attention %q seed %d d_model %d steps %d", c.ID, rc.RunID,
				rc.Config.Model.Attention, rc.Config.Seed, rc.Config.Model.DModel, rc.Config.Train.Steps)
		}
		for _, h := range readParts[probes.HeadRow](t, filepath.Join(cd, "probes")) {
			if h.RunID != c.ID {
				t.Fatalf("cell %s: probe row with run_id %q", c.ID, h.RunID)
			}
		}
		if _, err := os.Stat(filepath.Join(out, sweep.LogsDir, c.ID+".log")); err != nil {
			t.Errorf("cell %s: no log: %v", c.ID, err)
		}
	}
	// Every cell's probes read together from one glob.
	all, _ := filepath.Glob(filepath.Join(out, "*", "probes", "*.parquet"))
	ids := map[string]bool{}
	for _, f := range all {
		r, err := parquet.ReadFile[probes.HeadRow](f)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range r {
			ids[h.RunID] = true
		}
	}
	if len(ids) != 4 {
		t.Errorf("the probes glob holds %d run ids, want 4", len(ids))
	}
	rows = readSweepParquet(t, out)
	for i, r := range rows {
		c := m.Cells[i]
		if r.CellID != c.ID || r.Attention != c.Params[0].Value || uint64(r.Seed) != c.Seed || r.Status != "done" {
			t.Errorf("row %d: %+v, want cell %+v", i, r, c)
		}
		if r.FinalLoss == nil || r.ValLoss == nil || r.SinkRate == nil || r.Entropy == nil || r.ProbeStep == nil ||
			*r.ProbeStep != 4 || r.Probed == nil || *r.Probed != 2 || r.SinkHeads == nil || *r.SinkHeads < 0 || *r.SinkHeads > 2 {
			t.Errorf("row %d: metrics missing or wrong: %+v", i, r)
		}
	}

	// Run 3: a deleted cell and a partial one (no done.json, a stale file) rerun; the others do not.
	if err := os.RemoveAll(filepath.Join(out, m.Cells[0].ID)); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(out, m.Cells[1].ID)
	if err := os.Remove(filepath.Join(partial, sweep.DoneFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(partial, "stale"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stamps = map[int]string{}
	for _, i := range []int{2, 3} {
		stamps[i] = fileStamp(t, filepath.Join(out, m.Cells[i].ID, sweep.DoneFile))
	}
	if stdout, stderr, code = runCLI(t, "sweep", file, "--out", out, "--jobs", "2", "-q"); code != 0 {
		t.Fatalf("run 3: exit status %d\n%s\n%s", code, stdout, stderr)
	}
	if runs := takeRuns(t, counter); !slices.Equal(runs, []string{"0", "1"}) {
		t.Fatalf("run 3 ran cells %v, want 0 and 1", runs)
	}
	for i, s := range stamps {
		if fileStamp(t, filepath.Join(out, m.Cells[i].ID, sweep.DoneFile)) != s {
			t.Errorf("cell %d's done.json changed although it was finished", i)
		}
	}
	if _, err := os.Stat(filepath.Join(partial, "stale")); err == nil {
		t.Error("the partial cell folder was not cleared before the rerun")
	}
	for _, c := range m.Cells[:2] {
		if st, _ := sweep.StateOf(out, c); st != sweep.StateDone {
			t.Errorf("cell %s is %s after the rerun", c.ID, st)
		}
	}

	// status reports every cell from its folder.
	stdout, _, code = runCLI(t, "sweep", "status", out)
	if code != 0 || !strings.Contains(stdout, "4 cells: 4 done, 0 failed, 0 incomplete, 0 missing") ||
		strings.Count(stdout, " done ") != 4 {
		t.Errorf("status (exit %d):\n%s", code, stdout)
	}

	// A sweep file that gives existing cells another config is refused, and nothing runs.
	changed := writeSweepFile(t, work, 5)
	_, stderr, code = runCLI(t, "sweep", changed, "--out", out, "-q")
	if code != 2 || !strings.Contains(stderr, "train.steps=4 → 5") || !strings.Contains(stderr, "another --out") {
		t.Errorf("changed sweep: exit %d, stderr %s", code, stderr)
	}
	if runs := takeRuns(t, counter); len(runs) != 0 {
		t.Errorf("the refused sweep ran cells %v", runs)
	}
}

func TestSweepDryRun(t *testing.T) {
	work := t.TempDir()
	file := writeSweepFile(t, work, 4)
	out := filepath.Join(work, "never")
	stdout, stderr, code := runCLI(t, "sweep", file, "--out", out, "--dry-run", "--backend", "slurm", "--jobs", "3",
		"--partition", "debug", "--time", "00:05:00")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"4 cells", "attention-sigmoid__seed-2", "missing", "model.attention=sigmoid",
		"#SBATCH --array=0-3%3", "#SBATCH --partition=debug", "#SBATCH --time=00:05:00", "sweep run-cell " + out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("--dry-run created the sweep folder")
	}
}

func TestSweepBadInput(t *testing.T) {
	work := t.TempDir()
	file := writeSweepFile(t, work, 4)
	badKey := filepath.Join(work, "bad.yaml")
	if err := os.WriteFile(badKey, []byte("base:\n  model.n_head: 2\ngrid:\n  model.attention: [softmax]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badVariant := filepath.Join(work, "variant.yaml")
	if err := os.WriteFile(badVariant, []byte("grid:\n  model.attention: [softmax, softermax]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noSbatch := t.TempDir() // an empty PATH
	tests := []struct {
		name   string
		args   []string
		path   string
		wantIn string
	}{
		{"missing file", []string{"sweep", filepath.Join(work, "nope.yaml")}, "", "no such file"},
		{"no file", []string{"sweep"}, "", "one sweep file"},
		{"bad backend", []string{"sweep", file, "--backend", "k8s"}, "", `--backend "k8s"`},
		{"slurm flag with local", []string{"sweep", file, "--wait"}, "", "need --backend slurm"},
		{"negative jobs", []string{"sweep", file, "--jobs", "-1"}, "", "--jobs"},
		{"zero jobs is not unset", []string{"sweep", file, "--jobs", "0"}, "", "--jobs must be ≥ 1, got 0"},
		{"zero cpus per task", []string{"sweep", file, "--backend", "slurm", "--cpus-per-task", "0"}, "", "--cpus-per-task must be ≥ 1, got 0"},
		{"run-cell negative index", []string{"sweep", "run-cell", work, "--index", "-1"}, "", "--index must be ≥ 0, got -1"},
		{"unknown config key", []string{"sweep", badKey}, "", `unknown config key "model.n_head"`},
		{"unknown variant names the cell", []string{"sweep", badVariant}, "", "cell attention-softermax__seed-1"},
		{"no sbatch", []string{"sweep", file, "--backend", "slurm"}, noSbatch, "sbatch is not on PATH"},
		{"run-cell without index", []string{"sweep", "run-cell", work}, "", "needs --index"},
		{"run-cell not a sweep", []string{"sweep", "run-cell", work, "--index", "0"}, "", "not a sweep folder"},
		{"status not a sweep", []string{"sweep", "status", work}, "", "not a sweep folder"},
		{"collect not a sweep", []string{"sweep", "collect", work}, "", "not a sweep folder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.path != "" {
				t.Setenv("PATH", tc.path)
			}
			args := tc.args
			if len(args) > 1 && !slices.Contains([]string{"run-cell", "status", "collect"}, args[1]) {
				args = append(slices.Clone(args), "--out", filepath.Join(t.TempDir(), "out"))
			}
			stdout, stderr, code := runCLI(t, args...)
			if code != 2 {
				t.Fatalf("exit status %d, want 2; stderr: %s", code, stderr)
			}
			if !strings.Contains(stderr, tc.wantIn) {
				t.Fatalf("stderr %q does not contain %q", stderr, tc.wantIn)
			}
			if stdout != "" {
				t.Fatalf("stdout not empty: %q", stdout)
			}
		})
	}
	// run-cell with an index out of range.
	out := filepath.Join(work, "sw")
	p, err := sweep.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sweep.Prepare(out, p, file); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runCLI(t, "sweep", "run-cell", out, "--index", "4"); code != 2 || !strings.Contains(stderr, "no cell 4") {
		t.Fatalf("index 4: exit %d, %s", code, stderr)
	}
}

// TestSweepRunCellInProcess runs one cell through run-cell directly: it
// trains into DIR/<id>, marks it done, and a second call skips it.
func TestSweepRunCellInProcess(t *testing.T) {
	work := t.TempDir()
	file := writeSweepFile(t, work, 2)
	out := filepath.Join(work, "sw")
	p, err := sweep.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sweep.Prepare(out, p, file); err != nil {
		t.Fatal(err)
	}
	c := p.Cells[3]
	if _, stderr, code := runCLI(t, "sweep", "run-cell", out, "--index", "3", "-q"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	st, mk := sweep.StateOf(out, c)
	if st != sweep.StateDone || mk.ID != c.ID || !slices.Equal(mk.Sets, c.Sets) {
		t.Fatalf("state %s, marker %+v", st, mk)
	}
	if _, err := os.Stat(filepath.Join(out, c.ID, "metrics")); err != nil {
		t.Fatal(err)
	}
	stdout, _, code := runCLI(t, "sweep", "run-cell", out, "--index", "3", "-q")
	if code != 0 || !strings.Contains(stdout, "already done") {
		t.Fatalf("second run-cell: exit %d, %q", code, stdout)
	}
}

// TestSweepSlurm runs a 4-cell sweep through a real Slurm (see
// .ci/slurm-up.sh): the job array, its logs, the cells and sweep.parquet,
// status, and a second run that submits nothing. Without sbatch it is
// skipped, unless SINKLAB_REQUIRE_SLURM is set (.ci/run sets it), where it
// fails instead.
func TestSweepSlurm(t *testing.T) {
	if _, err := exec.LookPath("sbatch"); err != nil {
		if os.Getenv("SINKLAB_REQUIRE_SLURM") != "" {
			t.Fatal("SINKLAB_REQUIRE_SLURM is set but sbatch is not on PATH (.ci/slurm-up.sh starts a one-node cluster)")
		}
		t.Skip("sbatch is not on PATH: no Slurm here (.ci/slurm-up.sh starts a one-node cluster)")
	}
	exe := sinklabBinary(t)
	t.Setenv(exeEnv, exe)
	// Slurm runs the tasks in folders slurmd can see; keep everything under the temp dir.
	work := t.TempDir()
	file := writeSweepFile(t, work, 4)
	out := filepath.Join(work, "slurm-sweep")
	start := time.Now()
	stdout, stderr, code := runCLI(t, "sweep", file, "--out", out, "--backend", "slurm", "--wait", "--jobs", "2",
		"--time", "00:05:00", "--cpus-per-task", "1", "-q")
	t.Logf("slurm sweep of 4 cells: %s", time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nlogs:\n%s", code, stdout, stderr, slurmLogs(out))
	}
	script, err := os.ReadFile(filepath.Join(out, sweep.ScriptFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#SBATCH --array=0-3%2", "#SBATCH --time=00:05:00", "#SBATCH --cpus-per-task=1",
		exe + " sweep run-cell " + out + ` --index "$SLURM_ARRAY_TASK_ID"`} {
		if !strings.Contains(string(script), want) {
			t.Errorf("sweep.sbatch lacks %q:\n%s", want, script)
		}
	}
	jobs, err := sweep.Jobs(out)
	if err != nil || len(jobs) != 1 || jobs[0].Array != "0-3%2" {
		t.Fatalf("slurm.json: %+v %v", jobs, err)
	}
	m, err := sweep.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Cells {
		if st, _ := sweep.StateOf(out, c); st != sweep.StateDone {
			t.Errorf("cell %s is %s", c.ID, st)
		}
		if _, err := os.Stat(sweep.SlurmLog(out, jobs[0].JobID, c.Index)); err != nil {
			t.Errorf("no Slurm log for cell %d: %v", c.Index, err)
		}
	}
	rows := readSweepParquet(t, out)
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		if r.Status != "done" || r.FinalLoss == nil || r.Probed == nil || *r.Probed != 2 {
			t.Errorf("row %+v", r)
		}
	}
	stdout, _, code = runCLI(t, "sweep", "status", out)
	if code != 0 || !strings.Contains(stdout, "4 done") || !strings.Contains(stdout, "slurm job "+jobs[0].JobID) {
		t.Errorf("status (exit %d):\n%s", code, stdout)
	}
	// Again: every cell is done, nothing is submitted.
	stdout, stderr, code = runCLI(t, "sweep", file, "--out", out, "--backend", "slurm", "--wait", "-q")
	if code != 0 || !strings.Contains(stdout, "4 done (4 finished before)") {
		t.Fatalf("second run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if jobs, _ := sweep.Jobs(out); len(jobs) != 1 {
		t.Errorf("second run submitted again: %+v", jobs)
	}

	// Without --wait: submit, refuse a second sweep while the array runs,
	// follow it with status, then collect.
	out2 := filepath.Join(work, "no-wait")
	stdout, stderr, code = runCLI(t, "sweep", file, "--out", out2, "--backend", "slurm", "--jobs", "1", "-q")
	if code != 0 || !strings.Contains(stdout, "submitted job array") || !strings.Contains(stdout, "sinklab sweep collect "+out2) {
		t.Fatalf("no-wait submit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	_, stderr, code = runCLI(t, "sweep", file, "--out", out2, "--backend", "slurm", "-q")
	if code != 1 || !strings.Contains(stderr, "tasks queued or running") {
		t.Errorf("second submit while the array runs: exit %d, %s", code, stderr)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		stdout, _, code = runCLI(t, "sweep", "status", out2)
		if code != 0 {
			t.Fatalf("status: exit %d", code)
		}
		if strings.Contains(stdout, "4 done") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the array did not finish in 2 minutes:\n%s\n%s", stdout, slurmLogs(out2))
		}
		time.Sleep(500 * time.Millisecond)
	}
	stdout, stderr, code = runCLI(t, "sweep", "collect", out2)
	if code != 0 || strings.Count(stdout, " done ") != 4 {
		t.Fatalf("collect: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if rows := readSweepParquet(t, out2); len(rows) != 4 || rows[3].Status != "done" {
		t.Fatalf("collected rows %+v", rows)
	}
}

func slurmLogs(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, sweep.LogsDir, "*"))
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "== %s\n%s\n", f, sweep.Tail(f, 20))
	}
	return b.String()
}
