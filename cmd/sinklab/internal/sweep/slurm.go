package sweep

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sinklab/sinklab/checkpoints/atomicfile"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ScriptOptions describe a sweep's Slurm job array.
type ScriptOptions struct {
	Exe     string   // absolute path of the sinklab binary the tasks run
	Dir     string   // absolute path of the sweep folder
	Name    string   // the job is named sinklab-<Name>
	Indices []int    // the cells to run (array task ids)
	Jobs    int      // most tasks running at once (the array's % throttle); 0 = no limit
	Args    []string // appended to every task's run-cell command line (e.g. -q)
	Slurm   SlurmOptions
}

// Script returns the sbatch script of a sweep: a job array with one task per
// cell index, each running `Exe sweep run-cell Dir --index $SLURM_ARRAY_TASK_ID`.
func Script(o ScriptOptions) (string, error) {
	if len(o.Indices) == 0 {
		return "", errors.New("sweep: no cells to submit")
	}
	if !filepath.IsAbs(o.Exe) || !filepath.IsAbs(o.Dir) {
		return "", fmt.Errorf("sweep: the Slurm script needs absolute paths, got %q and %q", o.Exe, o.Dir)
	}
	if strings.ContainsAny(o.Dir, " \t\n\r\"'\\$`%") {
		return "", fmt.Errorf("sweep: the sweep folder %q holds spaces, quotes or %% signs, which #SBATCH lines cannot carry; use another --out", o.Dir)
	}
	if strings.ContainsAny(o.Exe, "\n\r") {
		return "", fmt.Errorf("sweep: executable path %q holds a line break", o.Exe)
	}
	if err := o.Slurm.validate(); err != nil {
		return "", fmt.Errorf("sweep: slurm: %w", err)
	}
	name := "sinklab"
	if o.Name != "" {
		name += "-" + sanitize(o.Name)
	}
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	fmt.Fprintf(&b, "# Written by sinklab sweep: one array task per cell of %s.\n", filepath.Join(o.Dir, ManifestFile))
	fmt.Fprintf(&b, "#SBATCH --job-name=%s\n", name)
	fmt.Fprintf(&b, "#SBATCH --array=%s\n", ArraySpec(o.Indices, o.Jobs))
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(o.Dir, LogsDir, "slurm-%A_%a.out"))
	if o.Slurm.Partition != "" {
		fmt.Fprintf(&b, "#SBATCH --partition=%s\n", o.Slurm.Partition)
	}
	if o.Slurm.Time != "" {
		fmt.Fprintf(&b, "#SBATCH --time=%s\n", o.Slurm.Time)
	}
	if o.Slurm.CPUsPerTask > 0 {
		fmt.Fprintf(&b, "#SBATCH --cpus-per-task=%d\n", o.Slurm.CPUsPerTask)
	}
	if o.Slurm.Mem != "" {
		fmt.Fprintf(&b, "#SBATCH --mem=%s\n", o.Slurm.Mem)
	}
	for _, e := range o.Slurm.Extra {
		fmt.Fprintf(&b, "#SBATCH %s\n", e)
	}
	b.WriteString("\n# Training uses as many cores as the task was given.\n")
	b.WriteString("export GOMAXPROCS=\"${SLURM_CPUS_PER_TASK:-1}\"\n")
	fmt.Fprintf(&b, "exec %s sweep run-cell %s --index \"$SLURM_ARRAY_TASK_ID\"", shellQuote(o.Exe), shellQuote(o.Dir))
	for _, a := range o.Args {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString("\n")
	return b.String(), nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=+:,@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ArraySpec writes indices as an sbatch --array value: sorted, runs of
// consecutive indices as ranges, and "%jobs" when jobs > 0
// ([0 1 2 5 7 8], 2 → "0-2,5,7-8%2").
func ArraySpec(indices []int, jobs int) string {
	s := slices.Clone(indices)
	slices.Sort(s)
	s = slices.Compact(s)
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(s[i]))
		} else {
			parts = append(parts, strconv.Itoa(s[i])+"-"+strconv.Itoa(s[j]))
		}
		i = j + 1
	}
	spec := strings.Join(parts, ",")
	if jobs > 0 {
		spec += "%" + strconv.Itoa(jobs)
	}
	return spec
}

// Submission is the outcome of Submit.
type Submission struct {
	JobID string
	// ExitCode is sbatch's exit status; with wait it is the highest exit
	// status of the array's tasks (non-zero when a cell failed).
	ExitCode int
	Stderr   string
}

// Submit runs `sbatch --parsable [--wait] script`. onSubmitted, when set, is
// called with the job id as soon as sbatch prints it (with wait, before the
// array ends). The error is non-nil only when the job was not submitted (or
// sbatch could not be run); the cells' outcome is read from their folders.
func Submit(ctx context.Context, script string, wait bool, onSubmitted func(jobID string)) (Submission, error) {
	args := []string{"--parsable"}
	if wait {
		args = append(args, "--wait")
	}
	args = append(args, script)
	cmd := exec.CommandContext(ctx, "sbatch", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Submission{}, fmt.Errorf("sweep: sbatch: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return Submission{}, fmt.Errorf("sweep: sbatch: %w", err)
	}
	var s Submission
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if s.JobID == "" && line != "" {
			id, _, _ := strings.Cut(line, ";") // --parsable prints "jobid[;cluster]"
			if _, err := strconv.ParseUint(id, 10, 64); err == nil {
				s.JobID = id
				if onSubmitted != nil {
					onSubmitted(id)
				}
			}
		}
	}
	err = cmd.Wait()
	s.Stderr = strings.TrimSpace(stderr.String())
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		s.ExitCode = ee.ExitCode()
	default:
		return s, fmt.Errorf("sweep: sbatch: %w", err)
	}
	if s.JobID == "" {
		msg := s.Stderr
		if msg == "" {
			msg = fmt.Sprintf("exit status %d and no job id", s.ExitCode)
		}
		return s, fmt.Errorf("sweep: sbatch did not submit the job: %s", msg)
	}
	return s, nil
}

// Job records one submission of a sweep in DIR/slurm.json.
type Job struct {
	JobID     string `json:"job_id"`
	Array     string `json:"array"`     // the --array value
	Submitted string `json:"submitted"` // RFC 3339, UTC
}

// RecordJob appends a submission to DIR/slurm.json.
func RecordJob(dir string, j Job) error {
	jobs, err := Jobs(dir)
	if err != nil {
		return err
	}
	if j.Submitted == "" {
		j.Submitted = time.Now().UTC().Format(time.RFC3339)
	}
	jobs = append(jobs, j)
	b, err := json.MarshalIndent(struct {
		Jobs []Job `json:"jobs"`
	}{jobs}, "", "  ")
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, JobsFile), append(b, '\n')); err != nil {
		return fmt.Errorf("sweep: write %s: %w", JobsFile, err)
	}
	return nil
}

// Jobs reads the submissions recorded in DIR/slurm.json (none if it is absent).
func Jobs(dir string) ([]Job, error) {
	b, err := os.ReadFile(filepath.Join(dir, JobsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var doc struct {
		Jobs []Job `json:"jobs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("sweep: %s: %w", filepath.Join(dir, JobsFile), err)
	}
	return doc.Jobs, nil
}

// Squeue asks squeue for the states of a job array's tasks that are still
// queued or running (PENDING, RUNNING, …), by array index. Tasks that ended
// are not listed.
func Squeue(ctx context.Context, jobID string) (map[int]string, error) {
	out, err := exec.CommandContext(ctx, "squeue", "-h", "-r", "-j", jobID, "-o", "%K|%T").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			// squeue fails for a job it no longer knows: nothing is queued.
			if strings.Contains(string(ee.Stderr), "Invalid job id") {
				return map[int]string{}, nil
			}
			return nil, fmt.Errorf("sweep: squeue: %s", strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("sweep: squeue: %w", err)
	}
	states := map[int]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, st, ok := strings.Cut(strings.TrimSpace(line), "|")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(k); err == nil {
			states[i] = st
		}
	}
	return states, nil
}

// SlurmLog returns the output file of a cell's array task in a job.
func SlurmLog(dir, jobID string, index int) string {
	return filepath.Join(dir, LogsDir, fmt.Sprintf("slurm-%s_%d.out", jobID, index))
}

// ArrayOptions describe the job array of a sweep folder's cells.
type ArrayOptions struct {
	Exe   string   // absolute path of the sinklab binary the tasks run
	Name  string   // the job is named sinklab-<Name>
	Jobs  int      // most tasks running at once (the array's % throttle); 0 = no limit
	Args  []string // appended to every task's run-cell command line (e.g. -q)
	Slurm SlurmOptions
	// Wait makes SubmitArray block until the array ends (sbatch --wait).
	Wait bool
	// OnSubmitted, when set, is called with the job id and the --array value
	// as soon as sbatch prints the id (with Wait, before the array ends).
	OnSubmitted func(jobID, array string)
}

// ArrayScript returns the sbatch script that runs cells of the sweep folder
// dir (an absolute path) as a job array (see Script).
func ArrayScript(dir string, cells []Cell, o ArrayOptions) (string, error) {
	return Script(o.scriptOptions(dir, cells))
}

func (o ArrayOptions) scriptOptions(dir string, cells []Cell) ScriptOptions {
	return ScriptOptions{Exe: o.Exe, Dir: dir, Name: o.Name, Indices: indices(cells), Jobs: o.Jobs, Args: o.Args, Slurm: o.Slurm}
}

// indices returns the cells' indices, the array's task ids.
func indices(cells []Cell) []int {
	idx := make([]int, len(cells))
	for i, c := range cells {
		idx[i] = c.Index
	}
	return idx
}

// A ScriptError is a sweep that cannot be written as a Slurm script (an
// invalid Slurm option or sweep folder): the caller's mistake, not Slurm's.
type ScriptError struct{ Err error }

// Error implements error.
func (e *ScriptError) Error() string { return e.Err.Error() }

// Unwrap returns the reason.
func (e *ScriptError) Unwrap() error { return e.Err }

// Array is a submitted job array (SubmitArray).
type Array struct {
	JobID  string
	Spec   string // the --array value
	Script string // the path of DIR/sweep.sbatch
	// RecordErr is why the job could not be recorded in DIR/slurm.json (the
	// array was submitted all the same); nil when it was.
	RecordErr error
	// Failures are, with Wait, the cells that were not done when the array
	// ended, each with its Slurm log and its last lines.
	Failures []Failure
}

// SubmitArray writes DIR/sweep.sbatch, a job array with one task per cell,
// submits it with sbatch and records the job in DIR/slurm.json. With o.Wait
// it blocks until the array ends and reports the cells that are not done.
// An invalid script is a *ScriptError. When ctx ends while waiting, the
// error says that the array keeps running; the Array comes with it when
// sbatch itself did not fail.
func SubmitArray(ctx context.Context, dir string, cells []Cell, o ArrayOptions) (*Array, error) {
	script, err := ArrayScript(dir, cells, o)
	if err != nil {
		return nil, &ScriptError{err}
	}
	arr := &Array{Spec: ArraySpec(indices(cells), o.Jobs), Script: filepath.Join(dir, ScriptFile)}
	if err := os.WriteFile(arr.Script, []byte(script), 0o755); err != nil {
		return nil, fmt.Errorf("sweep: write %s: %w", arr.Script, err)
	}
	sub, err := Submit(ctx, arr.Script, o.Wait, func(id string) {
		arr.RecordErr = RecordJob(dir, Job{JobID: id, Array: arr.Spec})
		if o.OnSubmitted != nil {
			o.OnSubmitted(id, arr.Spec)
		}
	})
	arr.JobID = sub.JobID
	if err != nil {
		if ctx.Err() != nil && sub.JobID != "" {
			return nil, stoppedWaiting(ctx, sub.JobID)
		}
		return nil, err
	}
	if ctx.Err() != nil {
		return arr, stoppedWaiting(ctx, sub.JobID)
	}
	if !o.Wait {
		return arr, nil
	}
	for _, c := range cells {
		st, mk := StateOf(dir, c)
		if st == StateDone {
			continue
		}
		f := Failure{ID: c.ID, Err: string(st), Log: SlurmLog(dir, sub.JobID, c.Index)}
		if mk != nil && mk.Error != "" {
			f.Err = mk.Error
		}
		f.Tail = Tail(f.Log, 10)
		arr.Failures = append(arr.Failures, f)
	}
	return arr, nil
}

func stoppedWaiting(ctx context.Context, jobID string) error {
	return fmt.Errorf("sweep: stopped waiting; job array %s keeps running (scancel %s to stop it): %w", jobID, jobID, ctx.Err())
}

// ActiveJob returns the last Slurm job submitted for the sweep folder and
// how many of its tasks squeue still lists: running cells again, or
// rewriting sweep.json under them, would mix up the runs. Without a recorded
// job or without squeue on PATH it returns "", 0. err is squeue's failure,
// with the job and n = 0.
func ActiveJob(ctx context.Context, dir string) (job string, n int, err error) {
	jobs, err := Jobs(dir)
	if err != nil || len(jobs) == 0 {
		return "", 0, nil
	}
	if _, err := exec.LookPath("squeue"); err != nil {
		return "", 0, nil
	}
	job = jobs[len(jobs)-1].JobID
	states, err := Squeue(ctx, job)
	if err != nil {
		return job, 0, err
	}
	return job, len(states), nil
}
