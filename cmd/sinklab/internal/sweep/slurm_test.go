package sweep

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestArraySpec(t *testing.T) {
	tests := []struct {
		idx  []int
		jobs int
		want string
	}{
		{[]int{0, 1, 2, 3}, 0, "0-3"},
		{[]int{0, 1, 2, 3}, 2, "0-3%2"},
		{[]int{5}, 0, "5"},
		{[]int{8, 7, 0, 1, 2, 5}, 2, "0-2,5,7-8%2"},
		{[]int{1, 3, 5}, 1, "1,3,5%1"},
		{[]int{2, 2, 3}, 0, "2-3"},
	}
	for _, tc := range tests {
		if got := ArraySpec(tc.idx, tc.jobs); got != tc.want {
			t.Errorf("ArraySpec(%v, %d) = %q, want %q", tc.idx, tc.jobs, got, tc.want)
		}
	}
}

func TestScript(t *testing.T) {
	o := ScriptOptions{Exe: "/opt/sink lab/sinklab", Dir: "/data/sweeps/iv", Name: "iv", Indices: []int{0, 1, 3}, Jobs: 2,
		Args: []string{"-q"}, Slurm: SlurmOptions{Partition: "debug", Time: "00:10:00", CPUsPerTask: 2, Mem: "1G",
			Extra: []string{"--qos=low"}}}
	s, err := Script(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"#!/bin/bash\n",
		"#SBATCH --job-name=sinklab-iv\n",
		"#SBATCH --array=0-1,3%2\n",
		"#SBATCH --output=/data/sweeps/iv/logs/slurm-%A_%a.out\n",
		"#SBATCH --partition=debug\n",
		"#SBATCH --time=00:10:00\n",
		"#SBATCH --cpus-per-task=2\n",
		"#SBATCH --mem=1G\n",
		"#SBATCH --qos=low\n",
		`export GOMAXPROCS="${SLURM_CPUS_PER_TASK:-1}"`,
		`exec '/opt/sink lab/sinklab' sweep run-cell /data/sweeps/iv --index "$SLURM_ARRAY_TASK_ID" -q` + "\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	// Every #SBATCH line comes before the first command (sbatch stops reading them there).
	lastSbatch, firstCmd := -1, -1
	for i, line := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(line, "#SBATCH"):
			lastSbatch = i
		case firstCmd < 0 && line != "" && !strings.HasPrefix(line, "#"):
			firstCmd = i
		}
	}
	if lastSbatch > firstCmd {
		t.Errorf("an #SBATCH line follows a command:\n%s", s)
	}
	// Options left empty are not written.
	bare, err := Script(ScriptOptions{Exe: "/bin/sinklab", Dir: "/d", Indices: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	for _, no := range []string{"--partition", "--time", "--mem", "--cpus-per-task", "%"} {
		if strings.Contains(bare, "#SBATCH "+no) || strings.Contains(bare, "--array=0"+no) {
			t.Errorf("bare script has %q:\n%s", no, bare)
		}
	}
	// The script is valid shell.
	if sh, err := exec.LookPath("bash"); err == nil {
		path := filepath.Join(t.TempDir(), "s.sbatch")
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(sh, "-n", path).CombinedOutput(); err != nil {
			t.Fatalf("bash -n: %v: %s", err, out)
		}
	}
}

func TestScriptRejects(t *testing.T) {
	tests := []struct {
		name   string
		o      ScriptOptions
		wantIn string
	}{
		{"no cells", ScriptOptions{Exe: "/x", Dir: "/d"}, "no cells"},
		{"relative dir", ScriptOptions{Exe: "/x", Dir: "d", Indices: []int{0}}, "absolute"},
		{"space in dir", ScriptOptions{Exe: "/x", Dir: "/my sweeps", Indices: []int{0}}, "spaces"},
		{"percent in dir", ScriptOptions{Exe: "/x", Dir: "/a%b", Indices: []int{0}}, "% signs"},
		{"bad option", ScriptOptions{Exe: "/x", Dir: "/d", Indices: []int{0}, Slurm: SlurmOptions{Mem: "1G\n#SBATCH --x"}}, "mem"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Script(tc.o); err == nil || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantIn)
			}
		})
	}
}

func TestRecordJobs(t *testing.T) {
	dir := t.TempDir()
	if jobs, err := Jobs(dir); err != nil || len(jobs) != 0 {
		t.Fatalf("no file: %v %v", jobs, err)
	}
	for _, id := range []string{"11", "12"} {
		if err := RecordJob(dir, Job{JobID: id, Array: "0-3"}); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := Jobs(dir)
	if err != nil || len(jobs) != 2 || jobs[1].JobID != "12" || jobs[0].Submitted == "" {
		t.Fatalf("jobs %+v, err %v", jobs, err)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/sinklab": "/usr/bin/sinklab",
		"a b":              "'a b'",
		"it's":             `'it'\''s'`,
		"":                 "''",
		"$HOME":            "'$HOME'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
