package probes

import (
	"math"
	"slices"
	"testing"

	"github.com/sinklab/sinklab/transformer/capture"
)

// bosRowMap builds a causal (B, H=1, T, T) map whose row i (0-based) puts w[b][i]
// on key 0 and spreads 1 − w[b][i] evenly over keys 1 … i (row 0 is [1]).
func bosRowMap(w [][]float64) []float32 {
	B, T := len(w), len(w[0])
	a := make([]float32, B*T*T)
	for b := range B {
		for i := range T {
			row := a[(b*T+i)*T:][:i+1]
			if i == 0 {
				row[0] = 1
				continue
			}
			row[0] = float32(w[b][i])
			for j := 1; j <= i; j++ {
				row[j] = float32((1 - w[b][i]) / float64(i))
			}
		}
	}
	return a
}

// rowEntropy is the entropy of row i of bosRowMap: w on key 0 and (1−w)/i on
// each of i other keys.
func rowEntropy(w float64, i int) float64 {
	q := (1 - w) / float64(i)
	return -w*math.Log(w) - float64(i)*q*math.Log(q)
}

// groupRow returns the row of (layer, head, group) or fails.
func groupRow(t *testing.T, heads []HeadRow, layer, head int, group string) HeadRow {
	t.Helper()
	for _, h := range heads {
		if int(h.Layer) == layer && int(h.Head) == head && h.Group == group {
			return h
		}
	}
	t.Fatalf("no row for layer %d head %d group %q", layer, head, group)
	return HeadRow{}
}

// TestRowGroupsKnownValues checks every per-group metric on a hand-built map
// whose values are known row by row: the induction task's paper_rows and two
// task groups (trigger / non-trigger) that differ between samples.
func TestRowGroupsKnownValues(t *testing.T) {
	const T = 7
	w := [][]float64{ // w[b][i]: weight of row i on the first token (row 0 is 1)
		{1, 0.9, 0.2, 0.8, 0.4, 0.6, 0.3},
		{1, 0.5, 0.7, 0.1, 0.3, 0.2, 0.95},
	}
	// Trigger rows: sample 0 rows 2 and 5, sample 1 row 6 only.
	pos := []uint8{
		0, 0, 1, 0, 0, 1, 0,
		0, 0, 0, 0, 0, 0, 1,
	}
	c := &capture.Capture{B: 2, T: T, L: 1, H: 1, Attn: [][]float32{bosRowMap(w)}, Causal: true, Normalized: true,
		Variant: "softmax", Task: TaskInduction, GroupNames: []string{"non-trigger", "trigger"}, PosGroup: pos}
	heads, _, rate := MeasureCapture(c, 0.3)
	names := make([]string, len(heads))
	for i, h := range heads {
		names[i] = h.Group
	}
	if want := []string{"all", "paper_rows", "non_trigger", "trigger"}; !slices.Equal(names, want) {
		t.Fatalf("groups: got: %v want: %v", names, want)
	}

	// paper_rows: rows 1 … T−3 = 1…4 of each sample.
	p := groupRow(t, heads, 0, 0, GroupPaperRows)
	s0 := 0.9 + 0.2 + 0.8 + 0.4
	s1 := 0.5 + 0.7 + 0.1 + 0.3
	wantBOS := (s0 + s1) / 8
	var ent float64
	for b := range w {
		for i := 1; i <= 4; i++ {
			ent += rowEntropy(w[b][i], i) / 8
		}
	}
	check := func(name string, got, want float64) {
		t.Helper()
		if !(math.Abs(got-want) <= 1e-6) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("%s: got: %v want: %v", name, got, want)
		}
	}
	check("paper_rows abs_attn_bos", p.AbsAttnBOS, wantBOS)
	check("paper_rows first_token_mass", p.FirstTokenMass, wantBOS)
	check("paper_rows abs_attn_all", p.AbsAttnAll, 1)
	check("paper_rows row_mass", p.RowMass, 1)
	check("paper_rows rel_attn_bos", p.RelAttnBOS, wantBOS)
	check("paper_rows rel_attn_bos_global", p.RelAttnBOSGlobal, (s0/4+s1/4)/2)
	check("paper_rows bos_sink_score", p.BOSSinkScore, (s0/4+s1/4)/2)
	check("paper_rows entropy", p.Entropy, ent)
	check("paper_rows sparsity", p.Sparsity, (0.9+0.4+0.8+0.4+0.5+0.7+0.3+0.3)/8) // max(w, (1−w)/i)

	// all: every row; the sink score keeps its rows 2 … T−2 (0-based 1 … 4).
	a := groupRow(t, heads, 0, 0, GroupAll)
	var all float64
	for b := range w {
		for i := range T {
			all += w[b][i] / (2 * T)
		}
	}
	check("all first_token_mass", a.FirstTokenMass, all)
	check("all abs_attn_bos", a.AbsAttnBOS, all)
	check("all bos_sink_score", a.BOSSinkScore, (s0/4+s1/4)/2)
	check("all rel_attn_bos_global", a.RelAttnBOSGlobal, ((s0+1+0.6+0.3)/7+(s1+1+0.2+0.95)/7)/2)
	check("sink rate from the all rows", rate, 100) // α₁ of the one head > 0.3

	// trigger: pooled rows (0,2), (0,5), (1,6); per-sample global ratio over
	// the sample's rows; the sink score only from rows 1 … 4, so sample 0's
	// row 2 alone (sample 1 has no trigger row there and is left out).
	tr := groupRow(t, heads, 0, 0, "trigger")
	check("trigger first_token_mass", tr.FirstTokenMass, (0.2+0.6+0.95)/3)
	check("trigger rel_attn_bos", tr.RelAttnBOS, (0.2+0.6+0.95)/3)
	check("trigger rel_attn_bos_global", tr.RelAttnBOSGlobal, ((0.2+0.6)/2+0.95)/2)
	check("trigger bos_sink_score", tr.BOSSinkScore, 0.2)
	check("trigger entropy", tr.Entropy, (rowEntropy(0.2, 2)+rowEntropy(0.6, 5)+rowEntropy(0.95, 6))/3)
	if tr.IsSinkHead {
		t.Errorf("trigger: is_sink_head with a sink score of 0.2")
	}
	// non_trigger holds BOS (row 0, one key: no entropy) and the rest.
	nt := groupRow(t, heads, 0, 0, "non_trigger")
	var ntSum float64
	for b := range w {
		for i := range T {
			if pos[b*T+i] == 0 {
				ntSum += w[b][i]
			}
		}
	}
	check("non_trigger first_token_mass", nt.FirstTokenMass, ntSum/11)
	check("non_trigger bos_sink_score", nt.BOSSinkScore, ((0.9+0.8+0.4)/3+s1/4)/2)
}

// TestRowGroupsSinkTokenAndCLS checks that with a sink token the task's
// positions move one row down, and the cls group of a classification capture
// is its scored row.
func TestRowGroupsSinkTokenAndCLS(t *testing.T) {
	c := &capture.Capture{B: 1, T: 6, L: 0, H: 1, Task: TaskInduction, SinkToken: true}
	g := RowGroups(c)
	if len(g) != 2 || g[1].Name != GroupPaperRows {
		t.Fatalf("groups: %+v", g)
	}
	// Task positions 0…4 are rows 1…5; paper_rows = positions 1 … 5−3 = rows 2, 3.
	if want := []bool{false, false, true, true, false, false}; !slices.Equal(g[1].Rows, want) {
		t.Errorf("paper_rows with a sink token: got: %v want: %v", g[1].Rows, want)
	}

	// Classification: non-causal, CLS last; the CLS row puts 0.7 on the first
	// token, the other rows 0.1.
	const T = 4
	a := mapOf(2, T, func(b, i, j int) float64 {
		switch {
		case i == T && j == 1:
			return 0.7
		case i == T:
			return 0.1
		case j == 1:
			return 0.1
		}
		return 0.3
	})
	score := []bool{false, false, false, true, false, false, false, true}
	cc := &capture.Capture{B: 2, T: T, L: 1, H: 1, Attn: [][]float32{a}, Normalized: true, Task: TaskClassification,
		GroupNames: []string{"all"}, PosGroup: make([]uint8, 2*T), Score: score}
	heads, _, _ := MeasureCapture(cc, 0.3)
	if len(heads) != 2 {
		t.Fatalf("%d rows, want all and cls: %+v", len(heads), heads)
	}
	cls := groupRow(t, heads, 0, 0, GroupCLS)
	if math.Abs(cls.AbsAttnBOS-0.7) > 1e-6 || math.Abs(cls.RelAttnBOSGlobal-0.7) > 1e-6 || math.Abs(cls.AbsAttnAll-1) > 1e-6 {
		t.Errorf("cls row: %+v", cls)
	}
	// The sink score's rows 2 … T−2 do not include the CLS row.
	if !math.IsNaN(cls.BOSSinkScore) || cls.IsSinkHead {
		t.Errorf("cls bos_sink_score: got: %v want: NaN", cls.BOSSinkScore)
	}
	if all := groupRow(t, heads, 0, 0, GroupAll); math.Abs(all.AbsAttnBOS-(0.1*3+0.7)/4) > 1e-6 {
		t.Errorf("all abs_attn_bos: got: %v want: %v", all.AbsAttnBOS, (0.1*3+0.7)/4)
	}

	// Bad task fields are invalid captures.
	cc.PosGroup = []uint8{0, 0, 0, 0, 0, 0, 0, 2}
	if err := cc.Validate(); err == nil {
		t.Error("a position group past the group names: no error")
	}
	cc.PosGroup, cc.Score = nil, score[:3]
	if err := cc.Validate(); err == nil {
		t.Error("short Score: no error")
	}
}

// TestSignedRatiosOnAbs: on a signed (dot) map, every ratio is of |A|, so a
// head whose signed sums would give a BOS ratio of 1 is not a sink head; the
// raw signed sums stay in abs_attn_bos / abs_attn_all / row_mass.
func TestSignedRatiosOnAbs(t *testing.T) {
	const T = 6
	// Row 1 (1-based) is [0.5], row 2 [0.5, 0], every row i ≥ 3 puts 0.5 on
	// the first key, then +1 and −1: every row's signed sum is 0.5, so every
	// signed BOS ratio is 1, while Σ|A| of rows ≥ 3 is 2.5 (|A| ratio 0.2).
	a := mapOf(1, T, causal(func(_, i, j int) float64 {
		switch {
		case j == 1:
			return 0.5
		case j == 2 && i >= 3:
			return 1
		case j == 3:
			return -1
		}
		return 0
	}))
	m := HeadMap{A: a, B: 1, H: 1, T: T, Causal: true}
	raw := MeasureHead(m) // not flagged signed: the ratios of raw sums, as §3 writes them
	if math.Abs(raw.BOSSinkScore-1) > 1e-6 || !raw.IsSinkHead() {
		t.Fatalf("unsigned reading: sink score %v, want 1 (this map is built to fool signed sums)", raw.BOSSinkScore)
	}
	m.Signed = true
	s := MeasureHead(m)
	// Rows 2 … T−2 = 2, 3, 4 (1-based): Σ|A₁| = 1.5, Σ|A| = 0.5 + 2.5 + 2.5.
	if want := 1.5 / 5.5; math.Abs(s.BOSSinkScore-want) > 1e-6 || s.IsSinkHead() {
		t.Errorf("signed bos_sink_score: got: %v want: %v and not a sink head", s.BOSSinkScore, want)
	}
	if want := (1 + 1 + 0.2*4) / 6; math.Abs(s.RelAttnBOS-want) > 1e-6 {
		t.Errorf("signed rel_attn_bos: got: %v want: %v", s.RelAttnBOS, want)
	}
	if want := 3 / (0.5 + 0.5 + 2.5*4); math.Abs(s.RelAttnBOSGlobal-want) > 1e-6 {
		t.Errorf("signed rel_attn_bos_global: got: %v want: %v", s.RelAttnBOSGlobal, want)
	}
	// Raw signed sums beside the ratios.
	if math.Abs(s.AbsAttnBOS-0.5) > 1e-6 || math.Abs(s.FirstTokenMass-0.5) > 1e-6 ||
		math.Abs(s.AbsAttnAll-0.5) > 1e-6 || math.Abs(s.RowMass-0.5) > 1e-6 {
		t.Errorf("signed raw sums: %+v", s)
	}

	// Through a capture: Capture.Signed reaches the rows.
	c := &capture.Capture{B: 1, T: T, L: 1, H: 1, Attn: [][]float32{a}, Causal: true, Signed: true, Variant: "dot"}
	heads, _, _ := MeasureCapture(c, 0.3)
	if heads[0].IsSinkHead || math.Abs(heads[0].BOSSinkScore-s.BOSSinkScore) > 1e-12 {
		t.Errorf("signed capture row: %+v", heads[0])
	}
}

// TestHeadRowsOf keeps one group, counting rows without a group as "all".
func TestHeadRowsOf(t *testing.T) {
	rows := []HeadRow{{Head: 0, Group: "all"}, {Head: 0, Group: "cls"}, {Head: 1}, {Head: 1, Group: "cls"}}
	if got := HeadRowsOf(rows, GroupAll); len(got) != 2 || got[0].Head != 0 || got[1].Head != 1 {
		t.Errorf("all: %+v", got)
	}
	if got := HeadRowsOf(rows, GroupCLS); len(got) != 2 {
		t.Errorf("cls: %+v", got)
	}
}
