package probes

import (
	"math"
	"path/filepath"
	"testing"
)

func f64(x float64) *float64 { return &x }
func i32(x int32) *int32     { return &x }

// TheoryCheck counts sign agreements between drifts and the next probe
// step's measured change, ranks early drift against final mass, and compares
// the first predicted winner with the final top key; it round-trips through
// theory_check.parquet.
func TestTheoryCheck(t *testing.T) {
	var rows []HeadRow
	// Two layers × two heads, probe steps 0, 10, 20, 30, 40 of a 40-step run.
	for l := int32(0); l < 2; l++ {
		for h := int32(0); h < 2; h++ {
			k := float64(1 + 2*l + h) // heads with larger k sink more
			for s := int64(0); s <= 40; s += 10 {
				mass := 0.1 + k*float64(s)/400
				drift := k // predicts a rise: right
				ent := 2 - k*float64(s)/100
				edrift := -1.0 // predicts a fall: right
				if l == 1 {
					edrift = 1 // wrong
				}
				win := int32(0)
				if h == 1 {
					win = 3 // wrong: the final top key is 0
				}
				rows = append(rows, HeadRow{Step: s, Layer: l, Head: h, Group: GroupAll, FirstTokenMass: mass,
					Entropy: ent, BOSDrift: f64(drift), EntropyDrift: f64(edrift), PredictedWinner: i32(win), MaxMassKey: i32(0)},
					HeadRow{Step: s, Layer: l, Head: h, Group: GroupPaperRows, BOSDrift: f64(-1)}) // ignored
			}
		}
	}
	tc := TheoryCheck(rows, "r", 40)
	if len(tc) != 3 || tc[0].Scope != ScopeRun || tc[0].Layer != -1 || tc[1].Layer != 0 || tc[2].Layer != 1 {
		t.Fatalf("rows %+v", tc)
	}
	run := tc[0]
	if run.BOSDriftPairs != 16 || run.BOSDriftAgreement != 1 || run.EntropyDriftPairs != 16 || run.EntropyDriftAgreement != 0.5 ||
		run.WinnerAgreement != 0.5 || run.Heads != 4 || run.EarlyUntil != 10 || run.FinalStep != 40 {
		t.Errorf("run row %+v", run)
	}
	if math.Abs(run.SpearmanEarlyDriftFinalMass-1) > 1e-12 {
		t.Errorf("spearman %v, want 1", run.SpearmanEarlyDriftFinalMass)
	}
	if tc[1].EntropyDriftAgreement != 1 || tc[2].EntropyDriftAgreement != 0 {
		t.Errorf("layer entropy agreements %v, %v", tc[1].EntropyDriftAgreement, tc[2].EntropyDriftAgreement)
	}
	if s := Spearman([]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}); s != -1 {
		t.Errorf("spearman of reversed ranks %v", s)
	}
	path := filepath.Join(t.TempDir(), TheoryCheckFile)
	if err := WriteTheoryCheck(path, tc, map[string]string{MetaRunID: "r"}); err != nil {
		t.Fatal(err)
	}
	back, meta, err := ReadTheoryCheck(path)
	if err != nil || len(back) != 3 || back[0] != tc[0] || meta[MetaKind] != "theory_check" {
		t.Fatalf("round trip: %v %+v %v", err, back, meta)
	}
	if TheoryCheck(rows[:0], "r", 40) != nil {
		t.Error("no rows: want nil")
	}
}
