package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sinklab/sinklab/probes"
)

// The "theory vs probes" section: how well the replicator probes of a
// training run (bos_drift, SCIENCE.md §3b) predicted what the run then did.

// DriftPair is one head at two consecutive probe steps of a training run's
// "all" rows with replicator columns: the predicted drift of the first-token
// mass α₁ at the first step and the change of α₁ measured until the second.
type DriftPair struct {
	Layer, Head int32
	Step, Next  int64   // the probe step and the head's next probe step
	Drift       float64 // bos_drift at Step
	Change      float64 // first_token_mass at Next − first_token_mass at Step
}

// Agrees reports whether the drift predicted the sign of the change (0 counts
// as its own sign, as in probes.TheoryCheck).
func (p DriftPair) Agrees() bool { return signOf(p.Drift) == signOf(p.Change) }

func signOf(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// DriftPairs returns the (head, consecutive probe steps) pairs of the run's
// "all" rows that carry replicator columns (rows with a null bos_drift are
// skipped, as probes.TheoryCheck does), by step, then layer and head. Pairs
// with an undefined drift or change (NaN, ±Inf) are left out. It returns nil
// for runs without replicator columns.
func DriftPairs(r *Run) []DriftPair {
	last := map[headKey]int{} // a head's last row with a bos_drift
	var out []DriftPair
	for i := range r.Heads { // sorted by step, layer, head
		h := &r.Heads[i]
		if h.BOSDrift == nil {
			continue
		}
		k := headKey{h.Layer, h.Head}
		if j, ok := last[k]; ok {
			a := &r.Heads[j]
			p := DriftPair{Layer: a.Layer, Head: a.Head, Step: a.Step, Next: h.Step, Drift: *a.BOSDrift,
				Change: h.FirstTokenMass - a.FirstTokenMass}
			if finite(p.Drift) && finite(p.Change) {
				out = append(out, p)
			}
		}
		last[k] = i
	}
	// pairs were found in the order of their second row: put them in the
	// order of their first
	sortPairs(out)
	return out
}

type headKey struct{ l, h int32 }

func sortPairs(ps []DriftPair) {
	slices.SortStableFunc(ps, func(a, b DriftPair) int {
		if c := cmpInt(a.Step, b.Step); c != 0 {
			return c
		}
		if c := cmpInt(a.Layer, b.Layer); c != 0 {
			return c
		}
		return cmpInt(a.Head, b.Head)
	})
}

// DriftAgreement returns the share of pairs whose drift predicted the sign of
// the change (NaN for no pairs).
func DriftAgreement(ps []DriftPair) float64 {
	if len(ps) == 0 {
		return math.NaN()
	}
	n := 0
	for _, p := range ps {
		if p.Agrees() {
			n++
		}
	}
	return float64(n) / float64(len(ps))
}

// fmtShare formats a share as a percentage with one decimal ("—" for NaN).
func fmtShare(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
}

// DriftCaption is the caption of a run's bos_drift scatter: the sign
// agreement of its pairs.
func DriftCaption(ps []DriftPair) string {
	return fmt.Sprintf("sign(bos_drift) = sign(Δα₁) for %s of %d (head, step) pairs", fmtShare(DriftAgreement(ps)), len(ps))
}

// replicatorSection builds the "theory vs probes" section, or returns nil
// when no run among idx has replicator columns.
func (b *builder) replicatorSection(idx []int) *Section {
	sec := &Section{ID: "theory-vs-probes", Title: "Theory vs probes: replicator predictions"}
	many := multi(idx)
	agree := &Chart{ID: "bos-drift-agreement", Title: "Sign agreement of bos_drift and the next Δα₁",
		XLabel: "probe step", YLabel: "share of heads", YRange: &[2]float64{0, 1}}
	var without []string
	found := false
	for _, i := range idx {
		r := b.runs[i]
		ps := DriftPairs(r)
		if len(ps) == 0 {
			without = append(without, b.ids[i])
			continue
		}
		found = true
		sc := &Chart{ID: "bos-drift-scatter-" + strconv.Itoa(i), Title: "Predicted bos_drift vs measured Δα₁",
			XLabel: "bos_drift at a probe step", YLabel: "Δα₁ until the next probe step", Scatter: true,
			Caption: DriftCaption(ps)}
		if many {
			sc.Title = b.ids[i] + ": " + sc.Title
		}
		var layers []int32
		byLayer := map[int32][2][]float64{}
		for _, p := range ps {
			xy, ok := byLayer[p.Layer]
			if !ok {
				layers = append(layers, p.Layer)
			}
			byLayer[p.Layer] = [2][]float64{append(xy[0], p.Drift), append(xy[1], p.Change)}
		}
		slices.Sort(layers)
		for _, l := range layers {
			xy := byLayer[l]
			sc.addSeries(fmt.Sprintf("layer %d", l), i, int(l), 0, xy[0], xy[1])
		}
		sec.Charts = append(sec.Charts, sc)
		// agreement per probe step
		var xs, ys []float64
		for j := 0; j < len(ps); {
			k, ok := j, 0
			for k < len(ps) && ps[k].Step == ps[j].Step {
				if ps[k].Agrees() {
					ok++
				}
				k++
			}
			xs, ys = append(xs, float64(ps[j].Step)), append(ys, float64(ok)/float64(k-j))
			j = k
		}
		c, _ := style(i, 0, many)
		agree.addSeries(b.seriesName(i, "", many), i, c, 0, xs, ys)
	}
	if !found {
		return nil
	}
	sec.Notes = append(sec.Notes, "Each dot is one head (the \"all\" row group) at one probe step: x is its bos_drift, "+
		"the replicator prediction of dα₁/dt under gradient flow on the scores, and y the change of its first-token "+
		"mass α₁ until the next probe step. Dots in the upper-right and lower-left quadrants agree in sign. The line "+
		"chart gives, at each probe step, the share of heads whose sign agreed.")
	if len(without) > 0 {
		sec.Notes = append(sec.Notes, fmt.Sprintf("No replicator columns (probe.skip_replicator, or a run from before they existed): %s.",
			strings.Join(without, ", ")))
	}
	sec.Charts = append(sec.Charts, agree)
	if t := b.theoryCheckTable(idx); t != nil {
		sec.Tables = append(sec.Tables, t)
	}
	return sec
}

// theoryCheckTable shows the runs' theory_check.parquet, or returns nil when
// none has one.
func (b *builder) theoryCheckTable(idx []int) *Table {
	many := multi(idx)
	t := &Table{ID: "theory-check", Title: "Theory check (theory_check.parquet)"}
	if many {
		t.Columns = append(t.Columns, "run")
	}
	t.Columns = append(t.Columns, "scope", "heads", "bos_drift pairs", "bos_drift agreement",
		"entropy_drift agreement", "Spearman(early drift, final α₁)", "winner agreement")
	for _, i := range idx {
		for _, tc := range b.runs[i].TheoryCheck {
			var row []string
			if many {
				row = append(row, b.ids[i])
			}
			scope := "run"
			if tc.Scope == probes.ScopeLayer {
				scope = fmt.Sprintf("layer %d", tc.Layer)
			}
			row = append(row, scope, strconv.Itoa(int(tc.Heads)), strconv.FormatInt(tc.BOSDriftPairs, 10),
				fmtShare(tc.BOSDriftAgreement), fmtShare(tc.EntropyDriftAgreement),
				fmtNum(tc.SpearmanEarlyDriftFinalMass), fmtShare(tc.WinnerAgreement))
			t.Rows = append(t.Rows, row)
		}
	}
	if len(t.Rows) == 0 {
		return nil
	}
	return t
}

// ---- the toy model's reference (theory runs) ----

// ToyWeightDrift returns the replicator prediction σ̇ⱼ = σⱼ(ȧⱼ − Σₖ σₖ ȧₖ) of
// token j's weight in the toy model with the logistic loss and the softmax
// normalizer, under gradient flow at the recorded state: σ = weights and
// u = Vᵀβ. There ℓ(y) = softplus(−βᵀy), y = Vσ, so ∂ℓ/∂σ = −s u with
// s = sigmoid(−uᵀσ), and the flow of the scores is
// ȧᵢ = −∂L/∂aᵢ = s σᵢ(uᵢ − Σₖ σₖ uₖ): weights and u are all it needs.
func ToyWeightDrift(weights, u []float64, j int) float64 {
	su := 0.0
	for k, s := range weights {
		su += s * u[k]
	}
	s := 1 / (1 + math.Exp(su)) // sigmoid(−uᵀσ)
	adot := make([]float64, len(weights))
	sa := 0.0
	for i, w := range weights {
		adot[i] = s * w * (u[i] - su)
		sa += w * adot[i]
	}
	return weights[j] * (adot[j] - sa)
}

// ToyDriftPair is one pair of consecutive recorded steps of a theory run's
// variant: the predicted drift of the winning token's weight at the first
// step (ToyWeightDrift) and its measured change until the second.
type ToyDriftPair struct {
	Step, Next int64
	Drift      float64
	Change     float64
}

// toyReferenceVariant reports whether a theory variant's rows allow the
// replicator reference: the logistic loss with the softmax normalizer (whose
// rows record u).
func toyReferenceVariant(variant string) bool { return variant == "logistic/softmax" }

// ToyDriftPairs returns the pairs of consecutive recorded steps of one
// variant's rows (sorted by step) for the token j with the largest weight at
// the last row, and j; nil when the variant has no reference (not
// logistic/softmax, or u not recorded). Pairs with an undefined drift or
// change are left out.
func ToyDriftPairs(variant string, rows []probes.TheoryRow) ([]ToyDriftPair, int) {
	if !toyReferenceVariant(variant) || len(rows) < 2 {
		return nil, -1
	}
	last := rows[len(rows)-1].Weights
	j := -1
	for k, w := range last {
		if j < 0 || w > last[j] {
			j = k
		}
	}
	if j < 0 {
		return nil, -1
	}
	var out []ToyDriftPair
	for k := 0; k+1 < len(rows); k++ {
		a, b := &rows[k], &rows[k+1]
		if len(a.Weights) != len(last) || len(a.U) != len(a.Weights) || len(b.Weights) != len(last) {
			continue
		}
		p := ToyDriftPair{Step: a.Step, Next: b.Step, Drift: ToyWeightDrift(a.Weights, a.U, j),
			Change: b.Weights[j] - a.Weights[j]}
		if finite(p.Drift) && finite(p.Change) {
			out = append(out, p)
		}
	}
	return out, j
}

// toyAgreement returns the share of pairs whose drift has the change's sign.
func toyAgreement(ps []ToyDriftPair) float64 {
	if len(ps) == 0 {
		return math.NaN()
	}
	n := 0
	for _, p := range ps {
		if signOf(p.Drift) == signOf(p.Change) {
			n++
		}
	}
	return float64(n) / float64(len(ps))
}

// toyReferenceChart is the theory section's reference scatter for one
// variant, or nil when no run has the reference.
func (b *builder) toyReferenceChart(vid, variant string, idx []int, perRun []map[string][]probes.TheoryRow) *Chart {
	if !toyReferenceVariant(variant) {
		return nil
	}
	many := multi(idx)
	c := &Chart{ID: vid + "-replicator", Title: "Replicator reference: σ̇ⱼ vs Δσⱼ",
		XLabel: "predicted σ̇ⱼ (flow, per unit time)", YLabel: "Δσⱼ until the next record", Scatter: true}
	var captions []string
	for _, i := range idx {
		ps, j := ToyDriftPairs(variant, perRun[i][variant])
		if len(ps) == 0 {
			continue
		}
		x, y := make([]float64, len(ps)), make([]float64, len(ps))
		for k, p := range ps {
			x[k], y[k] = p.Drift, p.Change
		}
		col, _ := style(i, 0, many)
		c.addSeries(b.seriesName(i, "σ"+subscript(j+1)+" (final winner)", many), i, col, 0, x, y)
		line := fmt.Sprintf("sign agreement %s of %d step pairs", fmtShare(toyAgreement(ps)), len(ps))
		if many {
			line = b.ids[i] + ": " + line
		}
		captions = append(captions, line)
	}
	if len(c.Series) == 0 {
		return nil
	}
	c.Caption = strings.Join(captions, "; ")
	return c
}
