package report

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/attention"
	"github.com/sinklab/sinklab/probes"
	"github.com/sinklab/sinklab/transformer"
)

// independentPairs reads a run's probes log straight from Parquet and pairs
// each head's consecutive "all" rows with a bos_drift: the (drift, Δα₁) pairs
// and the agreeing count per first step.
func independentPairs(t *testing.T, runDir string) (n, agree int, perStep map[int64][2]int) {
	t.Helper()
	rows, err := probes.ReadHeadRows(runDir)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ l, h int32 }
	by := map[key][]probes.HeadRow{}
	for _, r := range rows {
		if r.Group == probes.GroupAll && r.BOSDrift != nil {
			by[key{r.Layer, r.Head}] = append(by[key{r.Layer, r.Head}], r)
		}
	}
	perStep = map[int64][2]int{}
	for _, hs := range by {
		slices.SortFunc(hs, func(a, b probes.HeadRow) int { return int(a.Step - b.Step) })
		for i := 0; i+1 < len(hs); i++ {
			d, m := *hs[i].BOSDrift, hs[i+1].FirstTokenMass-hs[i].FirstTokenMass
			if math.IsNaN(d) || math.IsNaN(m) {
				continue
			}
			ok := (d > 0 && m > 0) || (d < 0 && m < 0) || (d == 0 && m == 0)
			c := perStep[hs[i].Step]
			c[1]++
			n++
			if ok {
				agree++
				c[0]++
			}
			perStep[hs[i].Step] = c
		}
	}
	return n, agree, perStep
}

// TestReplicatorSection: a run with replicator columns gets the "theory vs
// probes" section, with one scatter point per (head, consecutive probe steps)
// pair, the sign agreement in the caption and per step in the line chart, and
// the theory check table; runs without the columns get no section.
func TestReplicatorSection(t *testing.T) {
	fixedRuns(t)
	dir := filepath.Join(t.TempDir(), "rep")
	cfg := trainTiny(t, dir, "rep", 30, nil)
	tc := probes.TheoryCheck(mustHeads(t, dir), "rep", int64(cfg.Train.Steps))
	if err := probes.WriteTheoryCheck(filepath.Join(dir, probes.TheoryCheckFile), tc, nil); err != nil {
		t.Fatal(err)
	}
	rep := mustGenerate(t, dir)
	sec := rep.Section("theory-vs-probes")
	if sec == nil {
		t.Fatal("no theory-vs-probes section for a run with replicator columns")
	}
	n, agree, perStep := independentPairs(t, dir)
	layers, heads := cfg.Model.Layers, cfg.Model.Heads
	probeSteps := cfg.Train.Steps/cfg.Probe.Every + 1 // steps 0, 10, 20, 30
	if want := layers * heads * (probeSteps - 1); n != want {
		t.Fatalf("independent count: %d pairs, want %d heads × %d step pairs", n, layers*heads, probeSteps-1)
	}
	sc := rep.Chart("bos-drift-scatter-0")
	if sc == nil || !sc.Scatter {
		t.Fatal("no bos_drift scatter")
	}
	if sc.Points() != n || sc.Dropped != 0 {
		t.Errorf("scatter has %d points (%d dropped), want one per (head, step pair): %d", sc.Points(), sc.Dropped, n)
	}
	if len(sc.Series) != layers {
		t.Errorf("%d series, want one per layer (%d)", len(sc.Series), layers)
	}
	for l, s := range sc.Series {
		if s.Name != fmt.Sprintf("layer %d", l) || s.Color != l {
			t.Errorf("series %d: %q colour %d", l, s.Name, s.Color)
		}
	}
	share := strconv.FormatFloat(100*float64(agree)/float64(n), 'f', 1, 64) + "%"
	if want := fmt.Sprintf("%s of %d (head, step) pairs", share, n); !strings.Contains(sc.Caption, want) {
		t.Errorf("caption %q, want it to contain %q", sc.Caption, want)
	}
	ag := rep.Chart("bos-drift-agreement")
	if ag == nil || len(ag.Series) != 1 {
		t.Fatal("no agreement chart")
	}
	if s := ag.Series[0]; len(s.X) != len(perStep) {
		t.Errorf("agreement over %d steps, want %d", len(s.X), len(perStep))
	} else {
		for k := range s.X {
			c := perStep[int64(s.X[k])]
			if want := float64(c[0]) / float64(c[1]); math.Abs(s.Y[k]-want) > 1e-12 {
				t.Errorf("step %g: agreement %g, want %g", s.X[k], s.Y[k], want)
			}
		}
	}
	if len(sec.Tables) != 1 || sec.Tables[0].ID != "theory-check" || len(sec.Tables[0].Rows) != 1+layers {
		t.Fatalf("theory check table: %+v", sec.Tables)
	}
	row := sec.Tables[0].Rows[0]
	if row[0] != "run" || row[2] != strconv.Itoa(n) || row[3] != share {
		t.Errorf("theory check row %v, want run, %d pairs, %s", row, n, share)
	}
	var html bytes.Buffer
	if err := rep.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	svg := chartSVG(sc)
	wellFormed(t, svg)
	if got := strings.Count(svg, "<circle"); got != n+layers { // the dots and one legend dot per layer
		t.Errorf("%d circles drawn, want %d dots + %d legend dots", got, n, layers)
	}
	if !strings.Contains(html.String(), esc(sc.Caption)) {
		t.Error("the caption is not in the HTML")
	}
	pngs, err := rep.WritePNGs(filepath.Join(t.TempDir(), "png"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pngs, func(p string) bool { return filepath.Base(p) == "bos-drift-scatter-0.png" }) {
		t.Errorf("no scatter PNG among %v", pngs)
	}

	// older runs (the fixed runs predate the columns) and runs with the
	// replicator probes switched off: no section, no error
	if rep := mustGenerate(t, softmaxRun, sigmoidRun); rep.Section("theory-vs-probes") != nil {
		t.Error("a section for runs without replicator columns")
	}
	off := filepath.Join(t.TempDir(), "off")
	trainTiny(t, off, "off", 10, func(c *transformer.Config) { c.Probe.SkipReplicator = true })
	if rep := mustGenerate(t, off); rep.Section("theory-vs-probes") != nil {
		t.Error("a section for a run with probe.skip_replicator")
	}
	// overlaid with a run without the columns: a note names it
	mixed := mustGenerate(t, dir, softmaxRun)
	ms := mixed.Section("theory-vs-probes")
	if ms == nil || mixed.Chart("bos-drift-scatter-0") == nil || mixed.Chart("bos-drift-scatter-1") != nil {
		t.Fatal("mixed report: want the section with the first run's scatter only")
	}
	if !strings.Contains(strings.Join(ms.Notes, " "), "softmax") {
		t.Errorf("notes %q do not name the run without replicator columns", ms.Notes)
	}
}

func mustHeads(t *testing.T, dir string) []probes.HeadRow {
	t.Helper()
	rows, err := probes.ReadHeadRows(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || !slices.ContainsFunc(rows, func(r probes.HeadRow) bool { return r.BOSDrift != nil }) {
		t.Fatal("the tiny run has no replicator columns")
	}
	return rows
}

// TestToyWeightDrift: the replicator reference computed from σ and u alone
// equals the toy's own score gradient pushed through the softmax, and the
// change of σ over one tiny gradient step.
func TestToyWeightDrift(t *testing.T) {
	cfg, err := attention.DefaultExperimentConfig("logistic")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range [][2]string{{"n", "5"}, {"d", "3"}} {
		if err := cfg.Set(k[0], k[1]); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := cfg.ToyVariants()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(vs, func(v attention.ToyVariant) bool { return v.Name == "logistic/softmax" })
	if i < 0 {
		t.Fatalf("no logistic/softmax variant among %v", vs)
	}
	m, err := attention.NewToy(vs[i].Spec, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	n := m.N
	sigma, u := make([]float64, n), make([]float64, n)
	m.LossAndWeights(sigma)
	m.BetaProjection(u)
	dV, dA := make([]float64, m.D*n), make([]float64, n)
	m.Gradient(dV, dA)
	const h = 1e-6
	next := m.Clone()
	next.Step(h)
	sigma2 := make([]float64, n)
	next.LossAndWeights(sigma2)
	for j := range n {
		sa := 0.0
		for k := range n {
			sa += sigma[k] * -dA[k]
		}
		want := sigma[j] * (-dA[j] - sa)
		got := ToyWeightDrift(sigma, u, j)
		if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
			t.Errorf("σ̇%d = %g, from the toy's gradient %g", j, got, want)
		}
		if fd := (sigma2[j] - sigma[j]) / h; math.Abs(fd-got) > 1e-4*math.Max(math.Abs(got), 1e-6) {
			t.Errorf("σ̇%d = %g, one step of %g changes σ by %g per unit time", j, got, h, fd)
		}
	}
}

// TestToyReference: the logistic/softmax theory run's section has the
// replicator reference scatter, one point per pair of consecutive records,
// with the agreement (≈ 100%: the flow is exact) in its caption.
func TestToyReference(t *testing.T) {
	fixedRuns(t)
	r, err := Load(theoryRun)
	if err != nil {
		t.Fatal(err)
	}
	rep := Build([]*Run{r}, nil)
	c := rep.Chart("theory-logistic-softmax-replicator")
	if c == nil || !c.Scatter {
		t.Fatal("no replicator reference chart")
	}
	_, by := variantRows(r.Theory)
	rows := by["logistic/softmax"]
	last := rows[len(rows)-1].Weights
	j := 0
	for k := range last {
		if last[k] > last[j] {
			j = k
		}
	}
	n, ok := 0, 0
	for k := 0; k+1 < len(rows); k++ {
		d := ToyWeightDrift(rows[k].Weights, rows[k].U, j)
		m := rows[k+1].Weights[j] - rows[k].Weights[j]
		n++
		if (d > 0) == (m > 0) && (d < 0) == (m < 0) {
			ok++
		}
	}
	if c.Points() != n || n != len(rows)-1 {
		t.Errorf("%d points, want one per pair of records (%d)", c.Points(), len(rows)-1)
	}
	share := strconv.FormatFloat(100*float64(ok)/float64(n), 'f', 1, 64) + "%"
	if want := fmt.Sprintf("sign agreement %s of %d step pairs", share, n); c.Caption != want {
		t.Errorf("caption %q, want %q", c.Caption, want)
	}
	if float64(ok) < 0.95*float64(n) {
		t.Errorf("the exact flow agrees on %d of %d pairs only", ok, n)
	}
	t.Logf("%s", c.Caption)
}
