package sweep

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"
)

// Failure is a cell that did not finish, for the report at the end of a
// sweep.
type Failure struct {
	ID   string // the cell's id
	Err  string // why: the run's error, or the cell's state
	Tail string // the last lines of its output
	Log  string // the file holding its output; "" when none
}

// Status is what `sinklab sweep status` reports: every cell's state and, when
// the sweep was submitted to Slurm, its last job's tasks that are still
// queued or running.
type Status struct {
	Cells []CellStatus
	// Job is the last Slurm job submitted for the folder; "" when none.
	Job string
	// Queued holds squeue's state (PENDING, RUNNING, …) of Job's tasks
	// that are still queued or running, by cell index; nil without squeue.
	Queued map[int]string
	// JobsErr is why DIR/slurm.json could not be read, SqueueErr why squeue
	// failed: the status is complete but for the Slurm column.
	JobsErr, SqueueErr error
}

// CellStatus is one cell's state, with the marker of a done or failed cell.
type CellStatus struct {
	Cell   Cell
	State  State
	Marker *Marker
}

// ReadStatus reads the state of the manifest's cells from the sweep folder
// dir and, when squeue is on PATH, the states of the last Slurm job's tasks.
func ReadStatus(ctx context.Context, dir string, m *Manifest) *Status {
	s := &Status{}
	jobs, err := Jobs(dir)
	s.JobsErr = err
	if len(jobs) > 0 {
		s.Job = jobs[len(jobs)-1].JobID
		if _, lerr := exec.LookPath("squeue"); lerr == nil {
			s.Queued, s.SqueueErr = Squeue(ctx, s.Job)
		}
	}
	for _, c := range m.Cells {
		st, mk := StateOf(dir, c)
		s.Cells = append(s.Cells, CellStatus{Cell: c, State: st, Marker: mk})
	}
	return s
}

// Write prints one line per cell (index, id, state, the Slurm state when the
// sweep was submitted to Slurm, run time, first line of the error) and a line
// of counts.
func (s *Status) Write(w io.Writer) {
	count := map[State]int{}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "index\tcell\tstate\ttime\tdetail"
	if s.Job != "" {
		header = "index\tcell\tstate\tslurm\ttime\tdetail"
	}
	fmt.Fprintln(tw, header)
	for _, cs := range s.Cells {
		c, st, mk := cs.Cell, cs.State, cs.Marker
		count[st]++
		sec, detail := "-", ""
		if mk != nil {
			sec = time.Duration(mk.Seconds * float64(time.Second)).Round(100 * time.Millisecond).String()
			detail, _, _ = strings.Cut(mk.Error, "\n")
		}
		if s.Job != "" {
			q := s.Queued[c.Index]
			if q == "" {
				q = "-"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.Index, c.ID, st, q, sec, detail)
		} else {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", c.Index, c.ID, st, sec, detail)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d cells: %d done, %d failed, %d incomplete, %d missing", len(s.Cells), count[StateDone],
		count[StateFailed], count[StateIncomplete], count[StateMissing])
	if s.Job != "" {
		fmt.Fprintf(w, "; slurm job %s: %d tasks queued or running", s.Job, len(s.Queued))
	}
	fmt.Fprintln(w)
}
