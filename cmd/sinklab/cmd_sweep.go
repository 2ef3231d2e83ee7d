package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/sinklab/sinklab/cmd/sinklab/internal/sweep"
)

func init() { subcommands = append(subcommands, newSweepCmd) }

// exeEnv names the environment variable that overrides the sinklab binary a
// sweep runs its cells with (tests point it at a freshly built binary).
const exeEnv = "SINKLAB_SWEEP_EXE"

// sweepOptions are the flags of `sinklab sweep FILE`.
type sweepOptions struct {
	Out         string
	Backend     string
	Jobs        int
	Wait        bool
	DryRun      bool
	Exe         string
	Partition   string
	Time        string
	CPUsPerTask int
	Mem         string

	jobsSet, cpusSet bool // whether --jobs and --cpus-per-task were given
}

// AddFlags registers the flags.
func (o *sweepOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Out, "out", "", "sweep folder: one run folder per cell, sweep.json, sweep.parquet (default sweeps/<sweep name>)")
	f.StringVar(&o.Backend, "backend", "local", "where cells run: local (a pool of child processes) or slurm (a job array)")
	f.IntVar(&o.Jobs, "jobs", 0, "cells run at once (local: default the number of cores; slurm: the array's % throttle, default none)")
	f.BoolVar(&o.Wait, "wait", false, "slurm: block until the job array ends (sbatch --wait), then write sweep.parquet")
	f.BoolVar(&o.DryRun, "dry-run", false, "print the cells and their state (and the sbatch script) without running anything")
	f.StringVar(&o.Partition, "partition", "", "slurm: #SBATCH --partition (overrides the sweep file's slurm.partition)")
	f.StringVar(&o.Time, "time", "", "slurm: #SBATCH --time per cell, e.g. 00:30:00 (overrides slurm.time)")
	f.IntVar(&o.CPUsPerTask, "cpus-per-task", 0, "slurm: #SBATCH --cpus-per-task (overrides slurm.cpus_per_task)")
	f.StringVar(&o.Mem, "mem", "", "slurm: #SBATCH --mem per cell, e.g. 2G (overrides slurm.mem)")
	f.StringVar(&o.Exe, "exe", "", "sinklab binary the cells run (default this one, or $"+exeEnv+")")
	_ = f.MarkHidden("exe")
}

func newSweepCmd(a *app) *cobra.Command {
	o := &sweepOptions{}
	cmd := &cobra.Command{
		Use:   "sweep FILE",
		Short: "Run a grid of training runs, locally or as a Slurm job array",
		Long: `sweep runs every cell of a sweep file, the cross product of its grid and seeds, as a
normal training run in DIR/<cell-id>/ (the files sinklab train writes, run_id = cell id),
then writes DIR/sweep.parquet: one row per cell with its parameters, status and final
metrics. All cells' logs read together, e.g. read_parquet('DIR/*/probes/*.parquet').

A sweep file (YAML):

  name: induction-variants       # optional: default --out is sweeps/<name>
  task: induction                # optional (default induction)
  base:                          # --set values of every cell
    model.d_model: 32
    train.steps: 300
  grid:                          # one list per key; cells are the cross product
    model.attention: [softmax, sigmoid]
    model.n_heads: [1, 4]
  seeds: [1, 2]                  # optional (default [1])
  slurm: {partition: debug, time: "00:30:00", cpus_per_task: 1, mem: 2G}

Running the same sweep again skips finished cells (those with DIR/<cell>/done.json) and
reruns failed or missing ones; a changed file that would give an existing cell another
config is refused. A failing cell does not stop the others; the exit status is 1 if any
cell failed.

The local backend runs --jobs child processes of this binary at once (sinklab sweep
run-cell DIR --index i), each with GOMAXPROCS = cores / jobs. The slurm backend writes
DIR/sweep.sbatch, a job array with one task per unfinished cell, and submits it with
sbatch; with --wait it blocks until the array ends and writes sweep.parquet (otherwise
run sinklab sweep collect DIR afterwards).`,
		Example: `  sinklab sweep docs/sweeps/induction-variants.yaml --out sweeps/iv --jobs 2
  sinklab sweep grid.yaml --out sweeps/g --backend slurm --jobs 8 --time 00:20:00 --wait
  sinklab sweep grid.yaml --out sweeps/g --dry-run
  sinklab sweep status sweeps/g
  sinklab sweep collect sweeps/g`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("sweep takes one sweep file, got %d arguments (subcommands: run-cell, status, collect)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.jobsSet = cmd.Flags().Changed("jobs")
			o.cpusSet = cmd.Flags().Changed("cpus-per-task")
			return runSweep(cmd.Context(), a, o, args[0])
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.AddCommand(newSweepRunCellCmd(a), newSweepStatusCmd(a), newSweepCollectCmd(a))
	return cmd
}

// sweepExe returns the absolute path of the binary cells run with.
func sweepExe(o *sweepOptions) (string, error) {
	exe := o.Exe
	if exe == "" {
		exe = os.Getenv(exeEnv)
	}
	if exe == "" {
		e, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("sweep: cannot find this program's path: %w", err)
		}
		exe = e
	}
	abs, err := filepath.Abs(exe)
	if err != nil {
		return "", fmt.Errorf("sweep: %w", err)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	st, err := os.Stat(abs)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", usagef("sweep: %s is not an executable file", abs)
	}
	return abs, nil
}

func runSweep(ctx context.Context, a *app, o *sweepOptions, file string) error {
	slurmFlags := o.Wait || o.Partition != "" || o.Time != "" || o.cpusSet || o.Mem != ""
	switch {
	case o.Backend != "local" && o.Backend != "slurm":
		return usagef("--backend %q: want local or slurm", o.Backend)
	case o.Backend == "local" && slurmFlags:
		return usagef("--wait, --partition, --time, --cpus-per-task and --mem need --backend slurm")
	case o.jobsSet && o.Jobs < 1:
		return usagef("--jobs must be ≥ 1, got %d", o.Jobs)
	case o.cpusSet && o.CPUsPerTask < 1:
		return usagef("--cpus-per-task must be ≥ 1, got %d", o.CPUsPerTask)
	}
	plan, err := sweep.Load(file)
	if err != nil {
		return usagef("%v", err)
	}
	for _, c := range plan.Cells {
		if _, err := resolveTrainConfig(&trainOptions{Task: c.Task, Sets: c.Sets}); err != nil {
			return usagef("%s: cell %s: %v", file, c.ID, err)
		}
	}
	if o.Out == "" {
		o.Out = filepath.Join("sweeps", plan.Name)
	}
	dir, err := filepath.Abs(o.Out)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	so := plan.Slurm
	if o.Partition != "" {
		so.Partition = o.Partition
	}
	if o.Time != "" {
		so.Time = o.Time
	}
	if o.cpusSet {
		so.CPUsPerTask = o.CPUsPerTask
	}
	if o.Mem != "" {
		so.Mem = o.Mem
	}
	exe, err := sweepExe(o)
	if err != nil {
		return err
	}
	if o.DryRun {
		return sweepDryRun(a, o, plan, dir, exe, so)
	}
	if o.Backend == "slurm" {
		if _, err := exec.LookPath("sbatch"); err != nil {
			return usagef("--backend slurm: sbatch is not on PATH (run this on a Slurm login node; .ci/slurm-up.sh starts a one-node test cluster)")
		}
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	release, err := sweep.Lock(dir)
	if err != nil {
		return err
	}
	defer release()
	job, n, err := sweep.ActiveJob(ctx, dir)
	if err != nil {
		a.log.Warn("cannot tell whether the last Slurm job of this sweep still runs", zap.String("job", job), zap.Error(err))
	}
	if n > 0 {
		return fmt.Errorf("sweep: Slurm job %s still has %d tasks queued or running in %s; let it end (sinklab sweep status %s) or cancel it (scancel %s) first",
			job, n, dir, dir, job)
	}
	prep, err := sweep.Prepare(dir, plan, file)
	if err != nil {
		if errors.Is(err, sweep.ErrConflict) {
			return usagef("%v", err)
		}
		return err
	}
	if len(prep.Dropped) > 0 {
		a.log.Warn("cells of an earlier version of this sweep are no longer in it; their folders stay (and match DIR/*/ globs) until you delete them",
			zap.Strings("cells", prep.Dropped))
	}
	var todo []sweep.Cell
	for _, c := range plan.Cells {
		if st, _ := sweep.StateOf(dir, c); st != sweep.StateDone {
			todo = append(todo, c)
		}
	}
	a.log.Info("sweep", zap.String("dir", dir), zap.Int("cells", len(plan.Cells)),
		zap.Int("finished_before", len(plan.Cells)-len(todo)), zap.Int("to_run", len(todo)), zap.String("backend", o.Backend))

	start := time.Now()
	var failures []sweep.Failure
	var runErr error
	if len(todo) > 0 {
		if o.Backend == "local" {
			failures, runErr = runSweepLocal(ctx, a, o, dir, exe, todo)
		} else {
			var waited bool
			failures, waited, runErr = runSweepSlurm(ctx, a, o, dir, exe, plan.Name, so, todo)
			if runErr == nil && !waited {
				return nil // submitted without --wait: nothing to collect yet
			}
		}
	}
	rows, err := writeSweepParquet(dir, prep.Manifest)
	if err != nil {
		return err
	}
	done := 0
	for _, r := range rows {
		if r.State == sweep.StateDone {
			done++
		}
	}
	fmt.Fprintf(a.stdout, "sweep %s: %d cells, %d done (%d finished before), %d not done, %s\n", dir, len(rows), done,
		len(plan.Cells)-len(todo), len(rows)-done, time.Since(start).Round(time.Millisecond))
	printSweepTable(a.stdout, rows)
	fmt.Fprintf(a.stdout, "summary: %s\n", filepath.Join(dir, sweep.ParquetFile))
	if len(failures) > 0 {
		fmt.Fprintf(a.stderr, "%d cells failed:\n", len(failures))
		for _, f := range failures {
			fmt.Fprintf(a.stderr, "  %s: %s\n", f.ID, f.Err)
			for _, line := range strings.Split(f.Tail, "\n") {
				if line != "" {
					fmt.Fprintf(a.stderr, "      %s\n", line)
				}
			}
			if f.Log != "" {
				fmt.Fprintf(a.stderr, "    log: %s\n", f.Log)
			}
		}
	}
	if runErr != nil {
		return runErr
	}
	if done < len(rows) {
		return fmt.Errorf("sweep: %d of %d cells are not done; run the same command again to rerun them", len(rows)-done, len(rows))
	}
	return nil
}

// runSweepLocal runs the cells on a pool of child processes.
func runSweepLocal(ctx context.Context, a *app, o *sweepOptions, dir, exe string, todo []sweep.Cell) ([]sweep.Failure, error) {
	jobs := o.Jobs
	if jobs == 0 {
		jobs = runtime.NumCPU()
	}
	a.log.Info("running cells locally", zap.Int("jobs", jobs), zap.Int("gomaxprocs_per_cell", sweep.GOMAXPROCS(jobs)))
	bar := a.newProgress("sweep", int64(len(todo)))
	results := sweep.RunLocal(ctx, dir, todo, sweep.LocalOptions{
		Exe: exe, Args: []string{"-q"}, Jobs: jobs,
		OnEvent: func(e sweep.Event) {
			switch {
			case e.Result == nil:
				a.log.Debug("cell started", zap.String("cell", e.Cell.ID))
			case e.Result.Err == nil:
				a.log.Info("cell done", zap.String("cell", e.Cell.ID), zap.Duration("time", e.Result.Duration.Round(time.Millisecond)))
			default:
				a.log.Warn("cell failed", zap.String("cell", e.Cell.ID), zap.Error(e.Result.Err))
			}
			bar.Set(int64(e.Done+e.Failed), fmt.Sprintf("running %d, done %d, failed %d", e.Running, e.Done, e.Failed))
		},
	})
	bar.Finish()
	var failures []sweep.Failure
	for _, r := range results {
		if r.Err != nil && ctx.Err() == nil {
			failures = append(failures, sweep.Failure{ID: r.Cell.ID, Err: r.Err.Error(), Tail: r.Stderr, Log: r.Log})
		}
	}
	if err := ctx.Err(); err != nil {
		return failures, fmt.Errorf("sweep interrupted (run the same command again to continue): %w", err)
	}
	return failures, nil
}

// runSweepSlurm submits the job array. waited is false when the array was
// submitted without --wait (its cells are still to run).
func runSweepSlurm(ctx context.Context, a *app, o *sweepOptions, dir, exe, name string, so sweep.SlurmOptions,
	todo []sweep.Cell) (failures []sweep.Failure, waited bool, err error) {
	arr, err := sweep.SubmitArray(ctx, dir, todo, sweepArray(o, exe, name, so, func(id, array string) {
		a.log.Info("submitted", zap.String("job", id), zap.String("array", array), zap.Bool("wait", o.Wait))
	}))
	var se *sweep.ScriptError
	switch {
	case errors.As(err, &se):
		return nil, false, usagef("%v", err)
	case arr != nil && arr.RecordErr != nil:
		a.log.Warn("could not record the job", zap.Error(arr.RecordErr))
	}
	if err != nil {
		return nil, false, err
	}
	if !o.Wait {
		fmt.Fprintf(a.stdout, "submitted job array %s: %d cells (--array=%s), script %s\n", arr.JobID, len(todo), arr.Spec, arr.Script)
		fmt.Fprintf(a.stdout, "follow it with: sinklab sweep status %s\nwhen it ends:   sinklab sweep collect %s\n", dir, dir)
		return nil, false, nil
	}
	return arr.Failures, true, nil
}

// sweepArray maps the flags onto the job array's options.
func sweepArray(o *sweepOptions, exe, name string, so sweep.SlurmOptions, onSubmitted func(id, array string)) sweep.ArrayOptions {
	return sweep.ArrayOptions{Exe: exe, Name: name, Jobs: o.Jobs, Args: []string{"-q"}, Slurm: so, Wait: o.Wait,
		OnSubmitted: onSubmitted}
}

// sweepDryRun prints the cells with their state, and the sbatch script.
func sweepDryRun(a *app, o *sweepOptions, plan *sweep.Plan, dir, exe string, so sweep.SlurmOptions) error {
	fmt.Fprintf(a.stdout, "sweep %s → %s: %d cells\n", plan.Name, dir, len(plan.Cells))
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "index\tcell\tstate\t--set")
	var todo []sweep.Cell
	for _, c := range plan.Cells {
		st, _ := sweep.StateOf(dir, c)
		if st != sweep.StateDone {
			todo = append(todo, c)
		}
		sets := strings.Join(c.Sets, " ")
		if c.Task != "" {
			sets = "task=" + c.Task + " " + sets
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", c.Index, c.ID, st, sets)
	}
	tw.Flush()
	if o.Backend == "slurm" && len(todo) > 0 {
		script, err := sweep.ArrayScript(dir, todo, sweepArray(o, exe, plan.Name, so, nil))
		if err != nil {
			return usagef("%v", err)
		}
		fmt.Fprintf(a.stdout, "\n%s would be:\n%s", filepath.Join(dir, sweep.ScriptFile), script)
	}
	return nil
}

// writeSweepParquet collects every cell's state and final metrics and writes
// DIR/sweep.parquet.
func writeSweepParquet(dir string, m *sweep.Manifest) ([]sweep.Summary, error) {
	rows, err := sweep.Collect(dir, m.Cells)
	if err != nil {
		return nil, err
	}
	meta := map[string]string{"sweep": m.Name, "sweep_file": m.SweepFile, "sinklab_version": Version(),
		"written": time.Now().UTC().Format(time.RFC3339), "sink_head_threshold": "0.9"}
	if err := sweep.WriteParquet(filepath.Join(dir, sweep.ParquetFile), m.Keys, rows, meta); err != nil {
		return nil, err
	}
	return rows, nil
}

// printSweepTable prints one line per cell with its final metrics.
func printSweepTable(w io.Writer, rows []sweep.Summary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "cell\tstatus\ttime\tloss\tval_loss\tval_acc\tSink₁^ε\tsink heads\tentropy\tα₁")
	f := func(p *float64, format string) string {
		if p == nil || math.IsNaN(*p) {
			return "-"
		}
		return fmt.Sprintf(format, *p)
	}
	for _, r := range rows {
		heads := "-"
		if r.SinkHeads != nil && r.ProbeHeads != nil {
			heads = fmt.Sprintf("%d/%d", *r.SinkHeads, *r.ProbeHeads)
		}
		sec := "-"
		if r.Seconds != nil {
			sec = (time.Duration(*r.Seconds * float64(time.Second))).Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Cell.ID, r.State, sec, f(r.FinalLoss, "%.4f"),
			f(r.ValLoss, "%.4f"), f(r.ValAccuracy, "%.3f"), f(r.SinkRate, "%.0f%%"), heads, f(r.MeanEntropy, "%.3f"),
			f(r.MeanFirstTokenMass, "%.3f"))
	}
	tw.Flush()
}

// readSweepManifest reads DIR/sweep.json, with a usage error when DIR is not a
// sweep folder.
func readSweepManifest(dir string) (*sweep.Manifest, error) {
	m, err := sweep.ReadManifest(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usagef("%s is not a sweep folder (no %s)", dir, sweep.ManifestFile)
	}
	return m, err
}

// sweepRunCellOptions are the flags of `sinklab sweep run-cell DIR`.
type sweepRunCellOptions struct {
	Index    int
	indexSet bool // whether --index was given
}

// AddFlags registers the flags.
func (o *sweepRunCellOptions) AddFlags(f *pflag.FlagSet) {
	f.IntVar(&o.Index, "index", -1, "index of the cell in DIR/sweep.json (a Slurm array task id)")
}

func newSweepRunCellCmd(a *app) *cobra.Command {
	o := &sweepRunCellOptions{}
	cmd := &cobra.Command{
		Use:   "run-cell DIR --index I",
		Short: "Run one cell of a prepared sweep folder (what local workers and Slurm array tasks run)",
		Long: `run-cell trains cell I of DIR/sweep.json into DIR/<cell-id>/ and marks it done
(DIR/<cell-id>/done.json) or failed (failed.json). A cell that is already done is
skipped; a partial run folder left by an earlier attempt is removed first.`,
		Example: `  sinklab sweep run-cell sweeps/iv --index 3`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("run-cell takes the sweep folder, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.indexSet = cmd.Flags().Changed("index")
			return runSweepCell(cmd.Context(), a, o, args[0])
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSweepCell(ctx context.Context, a *app, o *sweepRunCellOptions, dir string) error {
	if !o.indexSet {
		return usagef("run-cell needs --index (0 to the number of cells - 1)")
	}
	if o.Index < 0 {
		return usagef("--index must be ≥ 0, got %d", o.Index)
	}
	m, err := readSweepManifest(dir)
	if err != nil {
		return err
	}
	c, err := m.Cell(o.Index)
	if err != nil {
		return usagef("%v", err)
	}
	if st, _ := sweep.StateOf(dir, c); st == sweep.StateDone {
		fmt.Fprintf(a.stdout, "cell %s is already done\n", c.ID)
		return nil
	}
	if err := sweep.ResetCell(dir, c); err != nil {
		return err
	}
	start := time.Now()
	a.log.Info("cell", zap.String("id", c.ID), zap.Int("index", c.Index), zap.Strings("sets", c.Sets))
	err = runTrain(ctx, a, &trainOptions{Task: c.Task, Sets: c.Sets, Out: dir, RunID: c.ID})
	if err != nil {
		if merr := sweep.MarkFailed(dir, c, start, err); merr != nil {
			a.log.Warn("could not mark the cell failed", zap.Error(merr))
		}
		return fmt.Errorf("cell %s: %w", c.ID, err)
	}
	return sweep.MarkDone(dir, c, start)
}

func newSweepStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status DIR",
		Short: "Show the state of every cell of a sweep folder (and of its Slurm job array)",
		Long: `status reads every cell's run folder (done, failed, incomplete = running or interrupted,
missing) and, when the sweep was submitted to Slurm and squeue is on PATH, the states
squeue reports for the array's tasks that are still queued or running.`,
		Example: `  sinklab sweep status sweeps/iv`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("status takes the sweep folder, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSweepStatus(cmd.Context(), a, args[0])
		},
	}
}

func runSweepStatus(ctx context.Context, a *app, dir string) error {
	m, err := readSweepManifest(dir)
	if err != nil {
		return err
	}
	st := sweep.ReadStatus(ctx, dir, m)
	if st.JobsErr != nil {
		a.log.Warn("slurm jobs", zap.Error(st.JobsErr))
	}
	if st.SqueueErr != nil {
		a.log.Warn("squeue", zap.Error(st.SqueueErr))
	}
	st.Write(a.stdout)
	return nil
}

func newSweepCollectCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "collect DIR",
		Short: "Write DIR/sweep.parquet from the cells' run folders and print the table",
		Example: `  sinklab sweep collect sweeps/iv
  duckdb -c "SELECT * FROM 'sweeps/iv/sweep.parquet'"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("collect takes the sweep folder, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := readSweepManifest(args[0])
			if err != nil {
				return err
			}
			rows, err := writeSweepParquet(args[0], m)
			if err != nil {
				return err
			}
			printSweepTable(a.stdout, rows)
			fmt.Fprintf(a.stdout, "summary: %s\n", filepath.Join(args[0], sweep.ParquetFile))
			return nil
		},
	}
}
