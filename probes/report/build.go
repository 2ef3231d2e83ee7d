package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sinklab/sinklab/probes"
)

// Options configures Build. A nil *Options means the defaults.
type Options struct {
	// Title of the report; default "sinklab report: <run ids>".
	Title string
	// Version is the sinklab version shown in the footer.
	Version string
}

// Build turns loaded runs into the report's charts and tables. Summary
// numbers are computed from every row; only drawing downsamples.
func Build(runs []*Run, opts *Options) *Report {
	if opts == nil {
		opts = &Options{}
	}
	rep := &Report{Title: opts.Title, Version: opts.Version}
	ids := make([]string, len(runs))
	seen := map[string]int{}
	for i, r := range runs {
		id := r.ID
		if n := seen[r.ID]; n > 0 { // the same id twice: tell them apart
			id = fmt.Sprintf("%s (%d)", r.ID, n+1)
		}
		seen[r.ID]++
		ids[i] = id
		rep.Runs = append(rep.Runs, RunInfo{Index: i, ID: id, Dir: r.Dir, Kind: r.Kind, Version: r.Version,
			Created: r.Created, Config: keyConfig(r)})
	}
	if rep.Title == "" {
		rep.Title = "sinklab report: " + strings.Join(ids, ", ")
	}
	var train, theory []int
	for i, r := range runs {
		if r.Kind == KindTheory {
			theory = append(theory, i)
		} else {
			train = append(train, i)
		}
	}
	b := &builder{runs: runs, ids: ids}
	summary := &Section{ID: "summary", Title: "Summary"}
	rep.Sections = append(rep.Sections, summary)
	if len(train) > 0 {
		summary.Tables = append(summary.Tables, b.trainSummary(train))
		rep.Sections = append(rep.Sections, b.trainingSection(train), b.headsSection(train),
			b.layersSection(train))
		if sec := b.replicatorSection(train); sec != nil {
			rep.Sections = append(rep.Sections, sec)
		}
		rep.Sections = append(rep.Sections, b.attentionSection(train))
	}
	if len(theory) > 0 {
		summary.Tables = append(summary.Tables, b.driftTable(theory))
		rep.Sections = append(rep.Sections, b.theorySections(theory)...)
	}
	return rep
}

// builder holds what every section builder needs.
type builder struct {
	runs []*Run
	ids  []string // display ids, unique
}

// multi reports whether several runs are overlaid among idx.
func multi(idx []int) bool { return len(idx) > 1 }

// style gives a series' colour and dash: one run colours its series by sub
// (metric, layer, component); several runs colour by run and dash by sub.
func style(run, sub int, many bool) (color, dash int) {
	if many {
		return run, sub
	}
	return sub, 0
}

// seriesName prefixes name with the run id when several runs are overlaid.
func (b *builder) seriesName(run int, name string, many bool) string {
	switch {
	case !many:
		return name
	case name == "":
		return b.ids[run]
	}
	return b.ids[run] + " " + name
}

// finite reports whether v can be drawn on an axis (log: also v > 0).
func drawable(v float64, log bool) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && (!log || v > 0)
}

// addSeries appends a series of the drawable points (x, y) to c and returns
// it (nil when no point is drawable); the undrawable points are counted in
// the chart's Dropped.
func (c *Chart) addSeries(name string, run, color, dash int, x, y []float64) *Series {
	s := &Series{Name: name, Run: run, Color: color, Dash: dash, X: make([]float64, 0, len(x)), Y: make([]float64, 0, len(y))}
	for i := range x {
		if drawable(x[i], c.XLog) && drawable(y[i], c.YLog) {
			s.X = append(s.X, x[i])
			s.Y = append(s.Y, y[i])
		} else {
			c.Dropped++
		}
	}
	if len(s.X) == 0 {
		return nil
	}
	c.Series = append(c.Series, s)
	return s
}

// fmtNum formats a summary number with 4 significant digits; NaN and
// missing values show as "—".
func fmtNum(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	if math.IsInf(v, 0) {
		if v > 0 {
			return "+Inf"
		}
		return "−Inf"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// ---- header ----

// cfgValue finds a dotted key in a config and formats it ("" if absent).
func cfgValue(cfg map[string]any, key string) string {
	var v any = cfg
	for _, k := range strings.Split(key, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		if v, ok = m[k]; !ok {
			return ""
		}
	}
	return fmtAny(v)
}

func fmtAny(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 {
			return strconv.FormatFloat(t, 'f', -1, 64)
		}
		return strconv.FormatFloat(t, 'g', -1, 64)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = fmtAny(e)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

// keyConfig picks the settings shown in the header.
func keyConfig(r *Run) []KV {
	if r.Config == nil {
		return nil
	}
	var keys [][2]string // label, dotted key
	if r.Kind == KindTheory {
		keys = [][2]string{{"experiment", "experiment"}, {"loss", "loss"}, {"normalizer", "normalizer"},
			{"n", "n"}, {"d", "d"}, {"lr", "lr"}, {"steps", "steps"}, {"flow", "flow"}, {"seed", "seed"}}
	} else {
		keys = [][2]string{{"task", "task"}, {"attention", "model.attention"}, {"layers", "model.n_layers"},
			{"heads", "model.n_heads"}, {"d_model", "model.d_model"}, {"sink token", "model.sink_token"},
			{"kv bias", "model.kv_bias"}, {"optimizer", "optim.name"}, {"lr", "optim.lr"},
			{"weight decay", "optim.weight_decay"}, {"steps", "train.steps"}, {"batch", "train.batch"},
			{"probe every", "probe.every"}, {"seed", "seed"}}
	}
	var out []KV
	for _, k := range keys {
		v := cfgValue(r.Config, k[1])
		if v == "" || (v == "false" && (k[0] == "sink token" || k[0] == "kv bias")) {
			continue
		}
		out = append(out, KV{Key: k[0], Value: v})
	}
	return out
}

// ---- training runs ----

// finalProbe returns the head rows of the last probe step of a run.
func finalProbe(r *Run) []probes.HeadRow {
	if len(r.Heads) == 0 {
		return nil
	}
	last := r.Heads[len(r.Heads)-1].Step
	i := len(r.Heads)
	for i > 0 && r.Heads[i-1].Step == last {
		i--
	}
	return r.Heads[i:]
}

// meanFinite averages the finite values (NaN if none).
func meanFinite(vs []float64) float64 {
	sum, n := 0.0, 0
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// TrainSummary holds the final numbers of a training run shown in the
// summary table, computed from every logged row.
type TrainSummary struct {
	LastStep       int64
	FinalLoss      float64
	ValLoss        float64 // last evaluation (NaN if none)
	ValAccuracy    float64 // last evaluation with an accuracy (NaN if none)
	SinkRate       float64 // last probe step's Sink₁^ε in percent (NaN if no probe)
	ProbeStep      int64   // step of the last probe (-1 if none)
	MeanEntropy    float64 // mean head entropy at the last probe step (nats)
	MeanFirstMass  float64 // mean first-token mass α₁ at the last probe step
	SinkHeads      int     // heads with is_sink_head at the last probe step
	Heads          int     // heads probed at the last probe step
	HasValAccuracy bool
}

// Summarize computes a training run's final numbers.
func Summarize(r *Run) TrainSummary {
	s := TrainSummary{ValLoss: math.NaN(), ValAccuracy: math.NaN(), SinkRate: math.NaN(), ProbeStep: -1,
		MeanEntropy: math.NaN(), MeanFirstMass: math.NaN(), FinalLoss: math.NaN()}
	if n := len(r.Metrics); n > 0 {
		s.LastStep, s.FinalLoss = r.Metrics[n-1].Step, r.Metrics[n-1].Loss
	}
	for i := len(r.Metrics) - 1; i >= 0; i-- {
		if m := r.Metrics[i]; m.ValLoss != nil {
			s.ValLoss = *m.ValLoss
			break
		}
	}
	for i := len(r.Metrics) - 1; i >= 0; i-- {
		if m := r.Metrics[i]; m.ValAccuracy != nil {
			s.ValAccuracy, s.HasValAccuracy = *m.ValAccuracy, true
			break
		}
	}
	for i := len(r.Metrics) - 1; i >= 0; i-- {
		if m := r.Metrics[i]; m.SinkRate != nil {
			s.SinkRate = *m.SinkRate
			break
		}
	}
	if fin := finalProbe(r); len(fin) > 0 {
		sum := probes.SummarizeSinks(fin, r.SinkEpsilon)
		s.ProbeStep, s.SinkHeads, s.Heads = sum.Step, sum.SinkHeads, sum.Heads
		s.MeanEntropy, s.MeanFirstMass = sum.MeanEntropy, sum.MeanFirstTokenMass
	}
	return s
}

// SinkRates is Sink₁^ε at every probe step, from the head rows
// (probes.SummarizeSinkSteps with the run's ε): equal to the metrics log's
// sink_rate on the steps that have one, and also defined at step 0, which
// has no metrics row.
func SinkRates(r *Run) (steps, rates []float64) {
	for _, s := range probes.SummarizeSinkSteps(r.Heads, r.SinkEpsilon) {
		steps = append(steps, float64(s.Step))
		rates = append(rates, s.SinkRate)
	}
	return steps, rates
}

// niceRange widens [lo, hi] to whole steps of a 1-2-5 tick spacing.
func niceRange(lo, hi float64) [2]float64 {
	step := niceStep(hi-lo, 4)
	return [2]float64{math.Floor(lo/step+1e-9) * step, math.Ceil(hi/step-1e-9) * step}
}

// trainSummary is the table of final metrics, runs side by side.
func (b *builder) trainSummary(idx []int) *Table {
	t := &Table{ID: "summary-train", Title: "Training runs: final metrics", Columns: []string{"metric"}}
	rows := [][]string{{"task"}, {"attention"}, {"steps"}, {"final loss"}, {"val loss"}, {"val accuracy"},
		{"Sink₁^ε (%)"}, {"mean entropy (nats)"}, {"mean α₁"}, {"sink heads"}}
	for _, i := range idx {
		r := b.runs[i]
		t.Columns = append(t.Columns, b.ids[i])
		s := Summarize(r)
		sink := "—"
		if s.Heads > 0 {
			sink = fmt.Sprintf("%d / %d", s.SinkHeads, s.Heads)
		}
		rate := fmtNum(s.SinkRate)
		if !math.IsNaN(s.SinkRate) {
			rate += fmt.Sprintf(" (ε = %g)", r.SinkEpsilon)
		}
		vals := []string{orDash(cfgValue(r.Config, "task")), orDash(cfgValue(r.Config, "model.attention")),
			strconv.FormatInt(s.LastStep, 10), fmtNum(s.FinalLoss), fmtNum(s.ValLoss), fmtNum(s.ValAccuracy),
			rate, fmtNum(s.MeanEntropy), fmtNum(s.MeanFirstMass), sink}
		for k := range rows {
			rows[k] = append(rows[k], vals[k])
		}
	}
	t.Rows = rows
	return t
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (b *builder) trainingSection(idx []int) *Section {
	sec := &Section{ID: "training", Title: "Training"}
	many := multi(idx)
	loss := &Chart{ID: "loss", Title: "Loss", XLabel: "step", YLabel: "loss"}
	acc := &Chart{ID: "val-accuracy", Title: "Validation accuracy", XLabel: "step", YLabel: "accuracy",
		YRange: &[2]float64{0, 1}}
	groups := &Chart{ID: "group-loss", Title: "Loss per metric group", XLabel: "step", YLabel: "loss"}
	sink := &Chart{ID: "sink-rate", Title: "Sink₁^ε: % of heads with first-token mass α₁ > ε", XLabel: "step",
		YLabel: "Sink₁^ε (%)", YRange: &[2]float64{0, 100}}
	for _, i := range idx {
		r := b.runs[i]
		n := len(r.Metrics)
		x, y := make([]float64, n), make([]float64, n)
		var vx, vy, ax, ay, sx, sy []float64
		for k, m := range r.Metrics {
			x[k], y[k] = float64(m.Step), m.Loss
			if m.ValLoss != nil {
				vx, vy = append(vx, float64(m.Step)), append(vy, *m.ValLoss)
			}
			if m.ValAccuracy != nil {
				ax, ay = append(ax, float64(m.Step)), append(ay, *m.ValAccuracy)
			}
			if m.SinkRate != nil && len(r.Heads) == 0 {
				sx, sy = append(sx, float64(m.Step)), append(sy, *m.SinkRate)
			}
		}
		if len(r.Heads) > 0 {
			sx, sy = SinkRates(r)
		}
		c, d := style(i, 0, many)
		loss.addSeries(b.seriesName(i, "train", many), i, c, d, x, y)
		c, d = style(i, 1, many)
		loss.addSeries(b.seriesName(i, "validation", many), i, c, d, vx, vy)
		c, _ = style(i, 0, many)
		acc.addSeries(b.seriesName(i, "", many), i, c, 0, ax, ay)
		sink.addSeries(b.seriesName(i, fmt.Sprintf("ε = %g", r.SinkEpsilon), many), i, c, 0, sx, sy)
		// group losses: one series per group name, in sorted order
		var names []string
		for _, m := range r.Metrics {
			for k := range m.GroupLoss {
				if !slices.Contains(names, k) {
					names = append(names, k)
				}
			}
		}
		slices.Sort(names)
		for g, name := range names {
			var gx, gy []float64
			for _, m := range r.Metrics {
				if v, ok := m.GroupLoss[name]; ok {
					gx, gy = append(gx, float64(m.Step)), append(gy, v)
				}
			}
			c, d := style(i, g, many)
			groups.addSeries(b.seriesName(i, name, many), i, c, d, gx, gy)
		}
	}
	for _, ch := range []*Chart{loss, acc, groups, sink} {
		if len(ch.Series) > 0 {
			sec.Charts = append(sec.Charts, ch)
		}
	}
	if len(sink.Series) == 0 {
		sec.Notes = append(sec.Notes, "No probe steps were logged (probe.every = 0?): no Sink₁^ε, head or layer charts.")
	}
	return sec
}

// headMetric is one per-head metric drawn as a grid.
type headMetric struct {
	id, title, ylabel string
	value             func(h *probes.HeadRow) float64
	atLeastOne        bool // y axis reaches at least 1 (weights, scores)
}

var headMetrics = []headMetric{
	{"entropy", "Attention entropy per head (nats; mean over rows ≥ 2 and samples)", "entropy",
		func(h *probes.HeadRow) float64 { return h.Entropy }, false},
	{"first-token-mass", "First-token mass α₁ per head", "α₁",
		func(h *probes.HeadRow) float64 { return h.FirstTokenMass }, true},
	{"sink-score", "BOS sink score per head (a sink head scores > 0.9)", "sink score",
		func(h *probes.HeadRow) float64 { return h.BOSSinkScore }, true},
}

func (b *builder) headsSection(idx []int) *Section {
	sec := &Section{ID: "heads", Title: "Heads over training"}
	many := multi(idx)
	L, H := 0, 0
	for _, i := range idx {
		for _, h := range b.runs[i].Heads {
			L, H = max(L, int(h.Layer)+1), max(H, int(h.Head)+1)
		}
	}
	if L == 0 {
		sec.Notes = append(sec.Notes, "No per-head probes in these runs.")
		return sec
	}
	for _, hm := range headMetrics {
		g := &Grid{ID: "grid-" + hm.id, Title: hm.title}
		for l := 0; l < L; l++ {
			g.RowLabels = append(g.RowLabels, fmt.Sprintf("layer %d", l))
		}
		for h := 0; h < H; h++ {
			g.ColLabels = append(g.ColLabels, fmt.Sprintf("head %d", h))
		}
		g.Cells = make([][]*Chart, L)
		for l := range g.Cells {
			g.Cells[l] = make([]*Chart, H)
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, i := range idx {
			r := b.runs[i]
			xs := make([][][]float64, L)
			ys := make([][][]float64, L)
			for l := range xs {
				xs[l], ys[l] = make([][]float64, H), make([][]float64, H)
			}
			for k := range r.Heads {
				h := &r.Heads[k]
				l, hd := int(h.Layer), int(h.Head)
				if l < 0 || hd < 0 {
					continue
				}
				v := hm.value(h)
				xs[l][hd], ys[l][hd] = append(xs[l][hd], float64(h.Step)), append(ys[l][hd], v)
				if drawable(v, false) {
					lo, hi = min(lo, v), max(hi, v)
				}
			}
			for l := 0; l < L; l++ {
				for hd := 0; hd < H; hd++ {
					if len(xs[l][hd]) == 0 {
						continue
					}
					c := g.Cells[l][hd]
					if c == nil {
						c = &Chart{ID: fmt.Sprintf("%s-l%d-h%d", hm.id, l, hd), Title: fmt.Sprintf("L%d H%d", l, hd),
							XLabel: "step", YLabel: hm.ylabel, Small: true}
						g.Cells[l][hd] = c
					}
					color, _ := style(i, 0, many)
					c.addSeries(b.ids[i], i, color, 0, xs[l][hd], ys[l][hd])
				}
			}
			if many {
				g.Legend = append(g.Legend, LegendEntry{Name: b.ids[i], Color: i})
			}
		}
		if lo <= hi {
			lo = min(lo, 0)
			if hm.atLeastOne {
				hi = max(hi, 1)
			}
			if hi == lo {
				hi = lo + 1
			}
			rng := niceRange(lo, hi)
			for _, row := range g.Cells {
				for _, c := range row {
					if c != nil {
						c.YRange = &rng
					}
				}
			}
		}
		sec.Grids = append(sec.Grids, g)
	}
	return sec
}

func (b *builder) layersSection(idx []int) *Section {
	sec := &Section{ID: "layers", Title: "Layers over training"}
	many := multi(idx)
	vn := &Chart{ID: "value-norm", Title: "BOS value-norm ratio ‖v₁‖ / mean‖vⱼ‖ (mean over the layer's heads)",
		XLabel: "step", YLabel: "ratio"}
	rp := &Chart{ID: "resid-peak", Title: "Residual peak ratio ‖h₁‖ / mean‖hⱼ‖ (stream entering the block)",
		XLabel: "step", YLabel: "ratio"}
	ma := &Chart{ID: "massive-activation", Title: "Massive activation ratio max|h| / median|h|",
		XLabel: "step", YLabel: "ratio (log)", YLog: true}
	for _, i := range idx {
		r := b.runs[i]
		// value norm: mean over the heads of each (step, layer); rows are
		// sorted by step, layer, head, so each group is a run of rows
		perLayer := map[int32]*[2][]float64{} // layer → steps, means
		var layers []int32
		for k := 0; k < len(r.Heads); {
			step, layer := r.Heads[k].Step, r.Heads[k].Layer
			var vals []float64
			for ; k < len(r.Heads) && r.Heads[k].Step == step && r.Heads[k].Layer == layer; k++ {
				vals = append(vals, r.Heads[k].BOSValueNormRatio)
			}
			p := perLayer[layer]
			if p == nil {
				p = &[2][]float64{}
				perLayer[layer] = p
				layers = append(layers, layer)
			}
			p[0], p[1] = append(p[0], float64(step)), append(p[1], meanFinite(vals))
		}
		slices.Sort(layers)
		for _, l := range layers {
			c, d := style(i, int(l), many)
			vn.addSeries(b.seriesName(i, fmt.Sprintf("layer %d", l), many), i, c, d, perLayer[l][0], perLayer[l][1])
		}
		lx := map[int32][3][]float64{}
		var ll []int32
		for _, row := range r.Layers {
			s, ok := lx[row.Layer]
			if !ok {
				ll = append(ll, row.Layer)
			}
			s[0] = append(s[0], float64(row.Step))
			s[1] = append(s[1], row.ResidPeakRatio)
			s[2] = append(s[2], row.MassiveActivationRatio)
			lx[row.Layer] = s
		}
		slices.Sort(ll)
		for _, l := range ll {
			c, d := style(i, int(l), many)
			name := b.seriesName(i, fmt.Sprintf("layer %d", l), many)
			rp.addSeries(name, i, c, d, lx[l][0], lx[l][1])
			ma.addSeries(name, i, c, d, lx[l][0], lx[l][2])
		}
	}
	for _, ch := range []*Chart{vn, rp, ma} {
		if len(ch.Series) > 0 {
			sec.Charts = append(sec.Charts, ch)
		}
	}
	if len(sec.Charts) == 0 {
		sec.Notes = append(sec.Notes, "No layer probes in these runs.")
	}
	return sec
}

// tokenLabel is how a position is labelled in a heatmap.
func tokenLabel(s *AttnSnapshot, i int) string {
	switch {
	case i < len(s.Labels) && s.Labels[i] != "":
		return s.Labels[i]
	case i < len(s.Tokens) && s.Tokens[i] < 0:
		return "⟨sink⟩"
	case i < len(s.Tokens):
		return strconv.Itoa(int(s.Tokens[i]))
	}
	return "#" + strconv.Itoa(i)
}

func (b *builder) attentionSection(idx []int) *Section {
	sec := &Section{ID: "attention", Title: "Attention maps of the first evaluation sequence"}
	for _, i := range idx {
		r := b.runs[i]
		if len(r.Snapshots) == 0 {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s: no attention snapshots (%s/step-*.json are absent: the run was "+
				"written before training saved them, or without probes).", b.ids[i], AttnDir))
			continue
		}
		// one colour scale per run, shared by its steps and heads
		vmin, vmax := 0.0, 0.0
		for _, s := range r.Snapshots {
			for _, layer := range s.Attn {
				for _, m := range layer {
					for _, row := range m {
						for _, v := range row {
							vmin, vmax = min(vmin, float64(v)), max(vmax, float64(v))
						}
					}
				}
			}
		}
		if vmin < 0 { // signed weights: a scale symmetric about 0
			m := max(-vmin, vmax)
			vmin, vmax = -m, m
		} else {
			vmax = max(vmax, 1)
		}
		for _, s := range r.Snapshots {
			g := &HeatmapGroup{ID: fmt.Sprintf("attn-r%d-s%d", i, s.Step), Run: i, Step: s.Step,
				Title: fmt.Sprintf("%s · step %d", b.ids[i], s.Step)}
			var notes []string
			if s.T < s.FullT {
				notes = append(notes, fmt.Sprintf("first %d of %d positions", s.T, s.FullT))
			}
			if s.NonFinite > 0 {
				notes = append(notes, fmt.Sprintf("%d non-finite weights drawn as 0", s.NonFinite))
			}
			if !s.Normalized {
				notes = append(notes, "raw weights of an unnormalized variant")
			}
			g.Note = strings.Join(notes, "; ")
			labels := make([]string, s.T)
			for p := range labels {
				labels[p] = tokenLabel(s, p)
			}
			for l, layer := range s.Attn {
				g.RowLabels = append(g.RowLabels, fmt.Sprintf("layer %d", l))
				var row []*Heatmap
				for h, m := range layer {
					if l == 0 {
						g.ColLabels = append(g.ColLabels, fmt.Sprintf("head %d", h))
					}
					row = append(row, &Heatmap{ID: fmt.Sprintf("%s-l%d-h%d", g.ID, l, h), Title: fmt.Sprintf("L%d H%d", l, h),
						Labels: labels, Values: m, VMin: vmin, VMax: vmax})
				}
				g.Maps = append(g.Maps, row)
			}
			sec.Heatmaps = append(sec.Heatmaps, g)
		}
	}
	return sec
}

// ---- theory runs ----

// variantRows splits a theory run's rows by variant, in order of appearance.
func variantRows(rows []probes.TheoryRow) (names []string, by map[string][]probes.TheoryRow) {
	by = map[string][]probes.TheoryRow{}
	for _, row := range rows {
		if _, ok := by[row.Variant]; !ok {
			names = append(names, row.Variant)
		}
		by[row.Variant] = append(by[row.Variant], row)
	}
	for _, n := range names {
		rs := by[n]
		if !slices.IsSortedFunc(rs, func(a, b probes.TheoryRow) int { return cmpInt(a.Step, b.Step) }) {
			slices.SortStableFunc(rs, func(a, b probes.TheoryRow) int { return cmpInt(a.Step, b.Step) })
		}
	}
	return names, by
}

func (b *builder) driftTable(idx []int) *Table {
	many := multi(idx)
	t := &Table{ID: "summary-theory", Title: "Theory runs: final values and conservation drift"}
	if many {
		t.Columns = append(t.Columns, "run")
	}
	t.Columns = append(t.Columns, "variant", "steps", "final loss", "final entropy", "max weight", "argmax",
		"conserved drift", "max |H − H_flow|")
	for _, i := range idx {
		names, by := variantRows(b.runs[i].Theory)
		for _, n := range names {
			rs := by[n]
			last := rs[len(rs)-1]
			gap, hasFlow := 0.0, false
			for _, r := range rs {
				if r.FlowEntropy != nil {
					hasFlow = true
					if d := math.Abs(r.Entropy - *r.FlowEntropy); d > gap || math.IsNaN(d) {
						gap = d
					}
				}
			}
			flow := "—"
			if hasFlow {
				flow = strconv.FormatFloat(gap, 'e', 2, 64)
			}
			var row []string
			if many {
				row = append(row, b.ids[i])
			}
			row = append(row, n, strconv.FormatInt(last.Step, 10), fmtNum(last.Loss), fmtNum(last.Entropy),
				fmtNum(last.MaxWeight), strconv.Itoa(int(last.Argmax)), strconv.FormatFloat(last.ConservedDrift, 'e', 2, 64), flow)
			t.Rows = append(t.Rows, row)
		}
	}
	return t
}

// subscript writes n with Unicode subscript digits.
func subscript(n int) string {
	const digits = "₀₁₂₃₄₅₆₇₈₉"
	s := strconv.Itoa(n)
	var sb strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			sb.WriteString(string([]rune(digits)[c-'0']))
		} else {
			sb.WriteRune(c)
		}
	}
	return sb.String()
}

func (b *builder) theorySections(idx []int) []*Section {
	many := multi(idx)
	var order []string
	perRun := make([]map[string][]probes.TheoryRow, len(b.runs))
	for _, i := range idx {
		names, by := variantRows(b.runs[i].Theory)
		perRun[i] = by
		for _, n := range names {
			if !slices.Contains(order, n) {
				order = append(order, n)
			}
		}
	}
	var out []*Section
	for _, v := range order {
		vid := "theory-" + sanitizeID(v)
		sec := &Section{ID: vid, Title: "Theory: " + v}
		w := &Chart{ID: vid + "-weights", Title: "σ(a) components", XLabel: "step (log)", YLabel: "σᵢ (log)", XLog: true, YLog: true}
		u := &Chart{ID: vid + "-u", Title: "u = Vᵀβ", XLabel: "step (log)", YLabel: "uᵢ", XLog: true}
		ent := &Chart{ID: vid + "-entropy", Title: "Entropy H(σ): gradient descent and gradient flow", XLabel: "step (log)",
			YLabel: "entropy (nats)", XLog: true}
		loss := &Chart{ID: vid + "-loss", Title: "Loss", XLabel: "step (log)", YLabel: "loss (log)", XLog: true, YLog: true}
		cols := &Chart{ID: vid + "-columns", Title: "Column norms of U", XLabel: "step (log)", YLabel: "norm", XLog: true}
		for _, i := range idx {
			rs := perRun[i][v]
			if len(rs) == 0 {
				continue
			}
			n := len(rs)
			x := make([]float64, n)
			for k, r := range rs {
				x[k] = float64(r.Step)
			}
			col := func(f func(r *probes.TheoryRow) (float64, bool)) ([]float64, []float64) {
				var xs, ys []float64
				for k := range rs {
					if y, ok := f(&rs[k]); ok {
						xs, ys = append(xs, x[k]), append(ys, y)
					}
				}
				return xs, ys
			}
			comps := 0
			for _, r := range rs {
				comps = max(comps, len(r.Weights))
			}
			for c := 0; c < comps; c++ {
				xs, ys := col(func(r *probes.TheoryRow) (float64, bool) {
					if c < len(r.Weights) {
						return r.Weights[c], true
					}
					return 0, false
				})
				dash := 0
				if many {
					dash = i % 4
				}
				w.addSeries(b.seriesName(i, "σ"+subscript(c+1), many), i, c, dash, xs, ys)
			}
			ucomps := 0
			for _, r := range rs {
				ucomps = max(ucomps, len(r.U))
			}
			for c := 0; c < ucomps; c++ {
				xs, ys := col(func(r *probes.TheoryRow) (float64, bool) {
					if c < len(r.U) {
						return r.U[c], true
					}
					return 0, false
				})
				dash := 0
				if many {
					dash = i % 4
				}
				u.addSeries(b.seriesName(i, "u"+subscript(c+1), many), i, c, dash, xs, ys)
			}
			c, d := style(i, 0, many)
			xs, ys := col(func(r *probes.TheoryRow) (float64, bool) { return r.Entropy, true })
			ent.addSeries(b.seriesName(i, "gradient descent", many), i, c, d, xs, ys)
			xs, ys = col(func(r *probes.TheoryRow) (float64, bool) {
				if r.FlowEntropy == nil {
					return 0, false
				}
				return *r.FlowEntropy, true
			})
			c, d = style(i, 1, many)
			ent.addSeries(b.seriesName(i, "gradient flow", many), i, c, d, xs, ys)
			c, _ = style(i, 0, many)
			xs, ys = col(func(r *probes.TheoryRow) (float64, bool) { return r.Loss, true })
			loss.addSeries(b.seriesName(i, "loss", many), i, c, 0, xs, ys)
			xs, ys = col(func(r *probes.TheoryRow) (float64, bool) {
				if r.SelColNorm == nil {
					return 0, false
				}
				return *r.SelColNorm, true
			})
			c, d = style(i, 0, many)
			cols.addSeries(b.seriesName(i, "selected column", many), i, c, d, xs, ys)
			xs, ys = col(func(r *probes.TheoryRow) (float64, bool) {
				if r.OtherColNorm == nil {
					return 0, false
				}
				return *r.OtherColNorm, true
			})
			c, d = style(i, 1, many)
			cols.addSeries(b.seriesName(i, "other columns (mean)", many), i, c, d, xs, ys)
		}
		for _, ch := range []*Chart{w, u, ent, loss, cols} {
			if len(ch.Series) > 0 {
				sec.Charts = append(sec.Charts, ch)
			}
		}
		if ref := b.toyReferenceChart(vid, v, idx, perRun); ref != nil {
			sec.Charts = append(sec.Charts, ref)
			sec.Notes = append(sec.Notes, "Replicator reference: at each recorded step, the drift σ̇ⱼ = σⱼ(ȧⱼ − Σₖ σₖ ȧₖ) "+
				"of the final winner's weight, with ȧ the exact flow of the scores at the recorded σ and u, against the "+
				"change of σⱼ until the next record: the toy's counterpart of the training runs' bos_drift scatter.")
		}
		out = append(out, sec)
	}
	return out
}
