package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"

	"github.com/sinklab/sinklab/probes"
)

// theoryCheck computes the run's theory check (probes.TheoryCheck) from the
// probes log in logDir, writes it as logDir/theory_check.parquet and prints
// it. A run without replicator columns writes and prints nothing.
func theoryCheck(w io.Writer, logDir, runID, configJSON string, totalSteps int64) error {
	rows, err := probes.ReadHeadRows(logDir)
	if err != nil {
		return fmt.Errorf("theory check: %w", err)
	}
	tc := probes.TheoryCheck(rows, runID, totalSteps)
	if tc == nil {
		return nil
	}
	meta := map[string]string{probes.MetaRunID: runID, probes.MetaConfig: configJSON, probes.MetaVersion: Version()}
	if err := probes.WriteTheoryCheck(filepath.Join(logDir, probes.TheoryCheckFile), tc, meta); err != nil {
		return fmt.Errorf("theory check: %w", err)
	}
	printTheoryCheck(w, tc)
	return nil
}

// printTheoryCheck prints the theory check, the run first, then each layer.
func printTheoryCheck(w io.Writer, tc []probes.TheoryCheckRow) {
	pct := func(x float64) string {
		if math.IsNaN(x) {
			return "  n/a"
		}
		return fmt.Sprintf("%4.0f%%", 100*x)
	}
	num := func(x float64) string {
		if math.IsNaN(x) {
			return "  n/a"
		}
		return fmt.Sprintf("%+.2f", x)
	}
	fmt.Fprintln(w, "theory check (replicator probes, all rows): sign(bos_drift) = sign(Δ first-token mass),")
	fmt.Fprintln(w, "  sign(entropy_drift) = sign(Δ entropy), Spearman(early bos_drift, final first-token mass), predicted winner = final top key")
	for _, r := range tc {
		name := "  run    "
		if r.Scope == probes.ScopeLayer {
			name = fmt.Sprintf("  layer %d", r.Layer)
		}
		fmt.Fprintf(w, "%s: bos %s of %d, entropy %s of %d, spearman %s, winner %s of %d heads\n", name,
			pct(r.BOSDriftAgreement), r.BOSDriftPairs, pct(r.EntropyDriftAgreement), r.EntropyDriftPairs,
			num(r.SpearmanEarlyDriftFinalMass), pct(r.WinnerAgreement), r.Heads)
	}
}
