package probes

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"github.com/sinklab/sinklab/probes/internal/parquetio"
)

// TheoryCheckFile is the name of a training run's theory check in its run
// folder (and in sinklab probe's output folder).
const TheoryCheckFile = "theory_check.parquet"

// Theory check scopes.
const (
	ScopeRun   = "run"   // every layer's heads (layer = −1)
	ScopeLayer = "layer" // one layer's heads
)

// TheoryCheckRow is one row of theory_check.parquet: how well the replicator
// probes (SCIENCE.md §3b) of the "all" row group predicted what the run then
// did, over every head of the run (scope "run", layer −1) or of one layer.
// Shares and correlations with nothing to compare are NaN.
type TheoryCheckRow struct {
	RunID string `parquet:"run_id,dict"`
	Scope string `parquet:"scope,dict"` // "run" or "layer"
	Layer int32  `parquet:"layer"`      // −1 for scope "run"
	Heads int32  `parquet:"heads"`
	// FinalStep is the last probe step; EarlyUntil the last step counted as
	// early (a quarter of the run's steps).
	FinalStep  int64 `parquet:"final_step"`
	EarlyUntil int64 `parquet:"early_until"`
	// BOSDriftPairs (head, consecutive probe steps) were compared;
	// BOSDriftAgreement is the share with sign(bos_drift now) =
	// sign(first_token_mass next − first_token_mass now).
	BOSDriftPairs     int64   `parquet:"bos_drift_pairs"`
	BOSDriftAgreement float64 `parquet:"bos_drift_agreement"`
	// EntropyDriftAgreement is the same for entropy_drift and the entropy column.
	EntropyDriftPairs     int64   `parquet:"entropy_drift_pairs"`
	EntropyDriftAgreement float64 `parquet:"entropy_drift_agreement"`
	// SpearmanEarlyDriftFinalMass is Spearman's rank correlation across heads
	// between the mean bos_drift over the early probe steps and the final
	// first_token_mass.
	SpearmanEarlyDriftFinalMass float64 `parquet:"spearman_early_drift_final_mass"`
	// WinnerAgreement is the share of heads whose predicted_winner at the
	// first probe step with a defined winner names the key with the most mass
	// (max_mass_key) at the final probe step.
	WinnerAgreement float64 `parquet:"winner_agreement"`
}

// headKey identifies a head.
type headKey struct{ l, h int32 }

// TheoryCheck computes the theory check of a run from its probes.parquet rows
// (any order; only the "all" group and rows with the replicator columns are
// used): one row of scope "run" (layer −1) and one per layer, layers
// ascending. totalSteps is the run's length (early = steps ≤ totalSteps/4);
// 0 means the last probe step. It returns nil when no row has replicator
// columns.
func TheoryCheck(rows []HeadRow, runID string, totalSteps int64) []TheoryCheckRow {
	byHead := map[headKey][]HeadRow{}
	var final int64
	for _, r := range rows {
		if (r.Group != GroupAll && r.Group != "") || r.BOSDrift == nil {
			continue
		}
		k := headKey{r.Layer, r.Head}
		byHead[k] = append(byHead[k], r)
		final = max(final, r.Step)
	}
	if len(byHead) == 0 {
		return nil
	}
	if totalSteps <= 0 {
		totalSteps = final
	}
	early := totalSteps / 4
	keys := slices.SortedFunc(func(yield func(headKey) bool) {
		for k := range byHead {
			if !yield(k) {
				return
			}
		}
	}, func(a, b headKey) int { return cmp.Or(cmp.Compare(a.l, b.l), cmp.Compare(a.h, b.h)) })
	for _, k := range keys {
		slices.SortFunc(byHead[k], func(a, b HeadRow) int { return cmp.Compare(a.Step, b.Step) })
	}
	check := func(scope string, layer int32, heads []headKey) TheoryCheckRow {
		out := TheoryCheckRow{RunID: runID, Scope: scope, Layer: layer, Heads: int32(len(heads)),
			FinalStep: final, EarlyUntil: early}
		var bosOK, entOK, winOK, winN int64
		var drift, mass []float64
		for _, k := range heads {
			hs := byHead[k]
			for i := 0; i+1 < len(hs); i++ {
				a, b := hs[i], hs[i+1]
				if d, m := *a.BOSDrift, b.FirstTokenMass-a.FirstTokenMass; !math.IsNaN(d) && !math.IsNaN(m) {
					out.BOSDriftPairs++
					if sign(d) == sign(m) {
						bosOK++
					}
				}
				if a.EntropyDrift != nil {
					if d, m := *a.EntropyDrift, b.Entropy-a.Entropy; !math.IsNaN(d) && !math.IsNaN(m) {
						out.EntropyDriftPairs++
						if sign(d) == sign(m) {
							entOK++
						}
					}
				}
			}
			var sum float64
			var n int
			for _, r := range hs {
				if r.Step <= early && !math.IsNaN(*r.BOSDrift) {
					sum += *r.BOSDrift
					n++
				}
			}
			last := hs[len(hs)-1]
			if n > 0 && last.Step == final && !math.IsNaN(last.FirstTokenMass) {
				drift = append(drift, sum/float64(n))
				mass = append(mass, last.FirstTokenMass)
			}
			if last.Step == final && last.MaxMassKey != nil && *last.MaxMassKey > -2 {
				for _, r := range hs {
					if r.PredictedWinner != nil && *r.PredictedWinner > -2 {
						winN++
						if *r.PredictedWinner == *last.MaxMassKey {
							winOK++
						}
						break
					}
				}
			}
		}
		out.BOSDriftAgreement = ratio(bosOK, out.BOSDriftPairs)
		out.EntropyDriftAgreement = ratio(entOK, out.EntropyDriftPairs)
		out.WinnerAgreement = ratio(winOK, winN)
		out.SpearmanEarlyDriftFinalMass = Spearman(drift, mass)
		return out
	}
	res := []TheoryCheckRow{check(ScopeRun, -1, keys)}
	for i := 0; i < len(keys); {
		j := i
		for j < len(keys) && keys[j].l == keys[i].l {
			j++
		}
		res = append(res, check(ScopeLayer, keys[i].l, keys[i:j]))
		i = j
	}
	return res
}

func sign(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

func ratio(k, n int64) float64 {
	if n == 0 {
		return math.NaN()
	}
	return float64(k) / float64(n)
}

// Spearman returns Spearman's rank correlation of x and y (the Pearson
// correlation of their ranks, ties given their mean rank); NaN with fewer
// than two pairs or a constant side.
func Spearman(x, y []float64) float64 {
	if len(x) != len(y) || len(x) < 2 {
		return math.NaN()
	}
	rx, ry := ranks(x), ranks(y)
	var mx, my float64
	for i := range rx {
		mx += rx[i]
		my += ry[i]
	}
	mx /= float64(len(rx))
	my /= float64(len(ry))
	var sxy, sxx, syy float64
	for i := range rx {
		a, b := rx[i]-mx, ry[i]-my
		sxy += a * b
		sxx += a * a
		syy += b * b
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// ranks returns the 1-based ranks of x, ties sharing their mean rank.
func ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(x[a], x[b]) })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && x[idx[j]] == x[idx[i]] {
			j++
		}
		for k := i; k < j; k++ {
			r[idx[k]] = float64(i+j+1) / 2
		}
		i = j
	}
	return r
}

// ReadHeadRows reads every finished part of a run folder's probes log.
func ReadHeadRows(runDir string) ([]HeadRow, error) {
	parts, err := parquetio.ListParts(filepath.Join(runDir, ProbesDir))
	if err != nil {
		return nil, fmt.Errorf("probes: read probes log: %w", err)
	}
	var all []HeadRow
	for _, p := range parts {
		rows, _, err := parquetio.ReadFile[HeadRow](p)
		if err != nil {
			return nil, fmt.Errorf("probes: %w", err)
		}
		all = append(all, rows...)
	}
	return all, nil
}

// WriteTheoryCheck writes rows as theory_check.parquet at path, atomically
// (a hidden temporary file renamed into place). meta goes into the key-value
// metadata (by convention run_id, config and sinklab_version); kind =
// "theory_check" and metrics_version are added here.
func WriteTheoryCheck(path string, rows []TheoryCheckRow, meta map[string]string) error {
	m := map[string]string{MetaKind: "theory_check", MetaMetricsVersion: MetricsVersion}
	for k, v := range meta {
		m[k] = v
	}
	if err := parquetio.WriteFile(path, rows, m); err != nil {
		return fmt.Errorf("probes: write theory check: %w", err)
	}
	return nil
}

// ReadTheoryCheck reads a theory_check.parquet.
func ReadTheoryCheck(path string) ([]TheoryCheckRow, map[string]string, error) {
	rows, meta, err := parquetio.ReadFile[TheoryCheckRow](path)
	if err != nil {
		return nil, nil, fmt.Errorf("probes: %w", err)
	}
	return rows, meta, nil
}
