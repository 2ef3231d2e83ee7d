package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
)

// TestTrainClassificationWritesMixing: a classification run ends with the
// label-mixing table and mixing.parquet (one row per head), and `sinklab
// probe` recomputes the same rows from the final checkpoint.
func TestTrainClassificationWritesMixing(t *testing.T) {
	out := t.TempDir()
	args := append([]string{"train", "--task", "classification", "--out", out, "--run-id", "c", "--steps", "4",
		"--set", "probe.mixing_pairs=40"}, tinyTrain...)
	stdout, stderr, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "label mixing at step 4 (40 pairs") || !strings.Contains(stdout, "top-1 dominance") {
		t.Fatalf("no label-mixing table in stdout:\n%s", stdout)
	}
	dir := filepath.Join(out, "c")
	rows, meta, err := probes.ReadMixing(filepath.Join(dir, probes.MixingFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || meta[probes.MetaRunID] != "c" || meta[probes.MetaKind] != "mixing" || meta[probes.MetaEvalSamples] != "16" {
		t.Fatalf("mixing.parquet: %+v %v", rows, meta)
	}
	for _, r := range rows {
		if r.RunID != "c" || r.Step != 4 || r.Pairs != 40 || r.Top1Dominance != (r.RateA+r.RateB)/2 ||
			r.RateA < 0 || r.RateA > 1 || !(r.AbsAttnSum > 0.99 && r.AbsAttnSum < 1.01) || !(r.RelAttnMax >= r.AbsAttnMax*0.99) {
			t.Errorf("mixing row: %+v", r)
		}
	}
	// The probe rows carry the cls group.
	heads := readParts[probes.HeadRow](t, filepath.Join(dir, "probes"))
	if n := len(probes.HeadRowsOf(heads, probes.GroupCLS)); n == 0 || n != len(probes.HeadRowsOf(heads, probes.GroupAll)) {
		t.Errorf("%d cls rows among %d probe rows", n, len(heads))
	}

	if _, e, c := runCLI(t, "probe", dir, "-q", "--mixing-pairs", "40"); c != 0 {
		t.Fatalf("probe: %s", e)
	}
	again, _, err := probes.ReadMixing(filepath.Join(dir, "reprobe", probes.MixingFile))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again, rows) {
		t.Errorf("sinklab probe's mixing rows differ from the live run's:\n%+v\n%+v", again, rows)
	}
}

// TestProbeTaskNames: probes names the tasks whose row groups it defines
// without importing data; the names must agree.
func TestProbeTaskNames(t *testing.T) {
	if probes.TaskInduction != data.TaskInduction || probes.TaskClassification != data.TaskClassification {
		t.Errorf("probes task names %q, %q; data %q, %q", probes.TaskInduction, probes.TaskClassification,
			data.TaskInduction, data.TaskClassification)
	}
}
