package probes

import (
	"strings"

	"github.com/sinklab/sinklab/transformer/capture"
)

// Row group names (the `group` column of probes.parquet). Groups named by a
// task (data.Task.Groups) appear with "-" replaced by "_", so bigram-backcopy's
// "non-trigger" is the group "non_trigger".
const (
	// GroupAll is every query row: the metrics as SCIENCE.md §3 defines them.
	GroupAll = "all"
	// GroupPaperRows (induction) is query rows 1 … T−3, 0-based (the paper's
	// A[:, 1:-2, :]): every row but BOS and the last two.
	GroupPaperRows = "paper_rows"
	// GroupCLS (classification) is the CLS query row: the position the task
	// scores (data.Batch.Score).
	GroupCLS = "cls"
)

// Task names (data.TaskInduction, data.TaskClassification) whose row groups
// probes defines itself; probes does not import data.
const (
	TaskInduction      = "induction"
	TaskClassification = "classification"
)

// RowGroup is one set of query rows of a capture that the per-head metrics are
// computed on.
type RowGroup struct {
	Name string
	// Rows marks the query rows in the group, (B, T') over the capture's
	// positions (the sink token's row included when there is one); nil means
	// every row.
	Rows []bool
}

// RowGroups returns the row groups of a capture, "all" first:
//
//   - all: every query row;
//   - paper_rows (Capture.Task = induction): data positions 1 … T−3;
//   - cls (classification): the positions the task scores (Capture.Score);
//   - one group per task group (Capture.GroupNames, when there are at least
//     two) with the positions whose Capture.PosGroup is that group, e.g.
//     trigger / non_trigger for bigram-backcopy.
//
// Positions are those of the task's sequences; with a sink token they move
// one row down and the sink token's row belongs to "all" only. Task-defined
// groups are skipped when the capture lacks PosGroup or Score. A group may be
// empty for a capture (e.g. no trigger in the batch); its metrics are NaN.
func RowGroups(c *capture.Capture) []RowGroup {
	groups := []RowGroup{{Name: GroupAll}}
	off := 0
	if c.SinkToken {
		off = 1
	}
	t := c.T - off // the task's sequence length
	mask := func(in func(b, p int) bool) []bool {
		rows := make([]bool, c.B*c.T) // (B, T')
		for b := 0; b < c.B; b++ {
			for p := 0; p < t; p++ {
				rows[b*c.T+off+p] = in(b, p)
			}
		}
		return rows
	}
	switch c.Task {
	case TaskInduction:
		groups = append(groups, RowGroup{Name: GroupPaperRows, Rows: mask(func(_, p int) bool { return p >= 1 && p <= t-3 })})
	case TaskClassification:
		if len(c.Score) == c.B*t {
			groups = append(groups, RowGroup{Name: GroupCLS, Rows: mask(func(b, p int) bool { return c.Score[b*t+p] })})
		}
	}
	if len(c.GroupNames) >= 2 && len(c.PosGroup) == c.B*t {
		for k, name := range c.GroupNames {
			groups = append(groups, RowGroup{Name: groupName(name),
				Rows: mask(func(b, p int) bool { return int(c.PosGroup[b*t+p]) == k })})
		}
	}
	return groups
}

// groupName turns a task's group name into a column-friendly group name.
func groupName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// HeadRowsOf returns the rows of one group, in order. Rows without a group
// (files written before row groups existed) count as "all".
func HeadRowsOf(rows []HeadRow, group string) []HeadRow {
	var out []HeadRow
	for _, r := range rows {
		if r.Group == group || (r.Group == "" && group == GroupAll) {
			out = append(out, r)
		}
	}
	return out
}
