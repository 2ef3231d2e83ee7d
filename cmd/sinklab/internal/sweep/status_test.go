package sweep

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeSlurm puts an sbatch on PATH that prints job id 77 and runs nothing,
// and an squeue that lists task 1 as PENDING, and hides any real ones.
func fakeSlurm(t *testing.T) {
	t.Helper()
	bin := t.TempDir()
	for name, script := range map[string]string{
		"sbatch": "#!/bin/sh\necho 77\n",
		"squeue": "#!/bin/sh\necho '1|PENDING'\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
}

func TestSubmitArrayAndStatus(t *testing.T) {
	fakeSlurm(t)
	dir := t.TempDir()
	p := mustParse(t, smallGrid)
	if _, err := Prepare(dir, p, "grid.yaml"); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Second)
	if err := os.MkdirAll(CellDir(dir, p.Cells[0]), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := MarkDone(dir, p.Cells[0], start); err != nil {
		t.Fatal(err)
	}
	if err := MarkFailed(dir, p.Cells[2], start, errors.New("boom\nmore")); err != nil {
		t.Fatal(err)
	}
	if job, n, err := ActiveJob(context.Background(), dir); job != "" || n != 0 || err != nil {
		t.Fatalf("ActiveJob before any submission: %q %d %v", job, n, err)
	}

	var submitted []string
	o := ArrayOptions{Exe: "/bin/sinklab", Name: "g", Jobs: 2, Args: []string{"-q"}, Wait: true,
		OnSubmitted: func(id, array string) { submitted = append(submitted, id, array) }}
	arr, err := SubmitArray(context.Background(), dir, p.Cells[1:], o)
	if err != nil {
		t.Fatal(err)
	}
	if arr.JobID != "77" || arr.Spec != "1-3%2" || arr.RecordErr != nil || strings.Join(submitted, " ") != "77 1-3%2" {
		t.Errorf("array %+v, OnSubmitted %v", arr, submitted)
	}
	script, err := os.ReadFile(arr.Script)
	if err != nil || !strings.Contains(string(script), "#SBATCH --array=1-3%2") {
		t.Errorf("script %s: %v\n%s", arr.Script, err, script)
	}
	if jobs, err := Jobs(dir); err != nil || len(jobs) != 1 || jobs[0].JobID != "77" || jobs[0].Array != "1-3%2" {
		t.Errorf("recorded jobs %+v, %v", jobs, err)
	}
	// The fake ran nothing: the three submitted cells are not done.
	if len(arr.Failures) != 3 || arr.Failures[0].Err != string(StateMissing) || arr.Failures[1].Err != "boom\nmore" ||
		arr.Failures[1].Log != SlurmLog(dir, "77", 2) {
		t.Errorf("failures %+v", arr.Failures)
	}
	if job, n, err := ActiveJob(context.Background(), dir); job != "77" || n != 1 || err != nil {
		t.Errorf("ActiveJob: %q %d %v", job, n, err)
	}

	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := ReadStatus(context.Background(), dir, m)
	if st.Job != "77" || st.Queued[1] != "PENDING" || st.JobsErr != nil || st.SqueueErr != nil || len(st.Cells) != 4 {
		t.Fatalf("status %+v", st)
	}
	var b strings.Builder
	st.Write(&b)
	out := b.String()
	for _, want := range []string{"index  cell", "slurm", "PENDING", "boom", "4 cells: 1 done, 1 failed, 0 incomplete, 2 missing; slurm job 77: 1 tasks queued or running"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "more") {
		t.Errorf("status shows more than the error's first line:\n%s", out)
	}
}

func TestSubmitArrayRefusesBadScript(t *testing.T) {
	fakeSlurm(t)
	p := mustParse(t, smallGrid)
	_, err := SubmitArray(context.Background(), "relative/dir", p.Cells, ArrayOptions{Exe: "/bin/sinklab"})
	var se *ScriptError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "absolute paths") {
		t.Fatalf("err %v, want a ScriptError about absolute paths", err)
	}
}
