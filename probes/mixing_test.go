package probes

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sinklab/sinklab/transformer/capture"
)

// Classification layout of these tests (the task's defaults): 4 labels,
// label g owns tokens 1+10g … 10+10g, a sample is its label's 10 tokens in
// random order, then CLS = 0.
const (
	mixLabels = 4
	mixG      = 10
	mixT      = mixG + 1
)

func labelOf(tok int32) int32 { return (tok - 1) / mixG }

// mixingCapture builds a non-causal classification capture of B samples and
// 1 layer with 2 heads. Head 0's CLS row puts its largest weight on the
// label's first token (offset 0, token 1+10g), head 1's on its last (offset
// 9); the other weights are random and smaller. With a sink token, key 0 is
// the sink token and gets the largest weight of all (it is not a content
// token, so it must not be ranked).
func mixingCapture(rng *rand.Rand, B int, sink bool) (*capture.Capture, []int32) {
	const H = 2
	off := 0
	if sink {
		off = 1
	}
	tp := mixT + off
	c := &capture.Capture{B: B, T: tp, L: 1, H: H, Normalized: true, SinkToken: sink, Task: TaskClassification,
		Tokens: make([]int32, B*mixT), Score: make([]bool, B*mixT)}
	a := make([]float32, B*H*tp*tp) // (B, H, T', T')
	labels := make([]int32, B)
	for b := 0; b < B; b++ {
		g := int32(rng.IntN(mixLabels))
		labels[b] = g
		toks := c.Tokens[b*mixT : (b+1)*mixT]
		for k, p := range rng.Perm(mixG) {
			toks[k] = 1 + g*mixG + int32(p)
		}
		toks[mixT-1] = 0
		c.Score[b*mixT+mixT-1] = true
		for h := 0; h < H; h++ {
			for i := 0; i < tp; i++ {
				row := a[((b*H+h)*tp+i)*tp:][:tp]
				for j := range row {
					row[j] = float32(0.01 + 0.04*rng.Float64())
				}
				if i != tp-1 {
					continue
				}
				want := 1 + g*mixG // head 0: offset 0
				if h == 1 {
					want += mixG - 1 // head 1: offset 9
				}
				for p := 0; p < mixT-1; p++ {
					if toks[p] == want {
						row[off+p] = 0.5
					}
				}
				row[off+mixT-1] = 0.3 // CLS itself: not a content token
				if sink {
					row[0] = 0.9
				}
			}
		}
	}
	c.Attn = [][]float32{a}
	return c, labels
}

// topPredictor predicts the label of the offset-0 token of the sequence (the
// token head 0 attends to most), −1 if there is none.
func topPredictor(tokens []int32, n int) ([]int32, error) {
	out := make([]int32, n)
	for s := range out {
		out[s] = -1
		for _, tok := range tokens[s*mixT : s*mixT+mixT-1] {
			if tok != 0 && (tok-1)%mixG == 0 {
				out[s] = labelOf(tok)
			}
		}
	}
	return out, nil
}

// majorityPredictor predicts the most frequent label among the content
// tokens: it ignores which token was on top.
func majorityPredictor(tokens []int32, n int) ([]int32, error) {
	out := make([]int32, n)
	for s := range out {
		var count [mixLabels]int
		for _, tok := range tokens[s*mixT : s*mixT+mixT-1] {
			count[labelOf(tok)]++
		}
		best := 0
		for g := range count {
			if count[g] > count[best] {
				best = g
			}
		}
		out[s] = int32(best)
	}
	return out, nil
}

func mixingSet(t *testing.T, sink bool) *MixingSet {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	s := &MixingSet{}
	for range 3 { // three evaluation batches
		c, labels := mixingCapture(rng, 40, sink)
		if err := s.Add(c, labels); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestLabelMixingKnownAnswers: a predictor that reads the label of head 0's
// favourite token gives top-1 dominance 1 on head 0 and 0 on head 1 (whose
// favourite is another token, so mixed_A keeps B's favourite of head 0); a
// predictor that ignores the top token (majority label) gives 0 everywhere.
func TestLabelMixingKnownAnswers(t *testing.T) {
	for _, sink := range []bool{false, true} {
		s := mixingSet(t, sink)
		if s.N() != 120 || s.L != 1 || s.H != 2 || s.T != mixT {
			t.Fatalf("set: N=%d L=%d H=%d T=%d", s.N(), s.L, s.H, s.T)
		}
		rows, err := LabelMixing(s, DefaultMixingPairs, 7, topPredictor)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[0].Head != 0 || rows[1].Head != 1 || rows[0].Pairs != 500 {
			t.Fatalf("rows: %+v", rows)
		}
		if r := rows[0]; r.RateA != 1 || r.RateB != 1 || r.Top1Dominance != 1 {
			t.Errorf("sink=%v head 0 with the top-token predictor: %+v, want rates 1", sink, r)
		}
		if r := rows[1]; r.RateA != 0 || r.RateB != 0 || r.Top1Dominance != 0 {
			t.Errorf("sink=%v head 1 with the top-token predictor: %+v, want rates 0", sink, r)
		}
		rows, err = LabelMixing(s, DefaultMixingPairs, 7, majorityPredictor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Top1Dominance != 0 {
				t.Errorf("sink=%v majority predictor, head %d: dominance %v want 0", sink, r.Head, r.Top1Dominance)
			}
		}
	}
}

// TestMixedSamples checks the composition of mixed_A and mixed_B: A's top-1
// token, B's content tokens but B's top-1, shuffled, then CLS.
func TestMixedSamples(t *testing.T) {
	s := mixingSet(t, false)
	pairs, err := DrawMixPairs(rand.New(rand.NewPCG(1, 2)), s.Labels, 200)
	if err != nil {
		t.Fatal(err)
	}
	mixed := s.MixedSamples(rand.New(rand.NewPCG(5, 6)), 0, pairs)
	if len(mixed) != 2*len(pairs)*mixT {
		t.Fatalf("%d tokens, want %d", len(mixed), 2*len(pairs)*mixT)
	}
	firstAt := map[int]int{} // where A's top token landed
	for p, pr := range pairs {
		if s.Labels[pr.A] == s.Labels[pr.B] {
			t.Fatalf("pair %d: same label %d", p, s.Labels[pr.A])
		}
		for k, roles := range [][2]int{{pr.A, pr.B}, {pr.B, pr.A}} {
			top, rest := roles[0], roles[1]
			got := mixed[(2*p+k)*mixT : (2*p+k+1)*mixT]
			if got[mixT-1] != 0 {
				t.Fatalf("pair %d/%d: last token %d, want CLS", p, k, got[mixT-1])
			}
			topTok := s.Tokens[top*mixT+s.Top1(0, top)]
			if (topTok-1)%mixG != 0 || labelOf(topTok) != s.Labels[top] {
				t.Fatalf("pair %d: top-1 token %d is not the label's first token", p, topTok)
			}
			want := []int32{topTok}
			for _, tok := range s.Tokens[rest*mixT : rest*mixT+mixT-1] {
				if (tok-1)%mixG != 0 { // all of B's but B's top-1
					want = append(want, tok)
				}
			}
			content := slices.Clone(got[:mixT-1])
			if k == 0 {
				firstAt[slices.Index(content, topTok)]++
			}
			slices.Sort(content)
			slices.Sort(want)
			if !slices.Equal(content, want) {
				t.Fatalf("pair %d/%d: content %v want %v", p, k, content, want)
			}
		}
	}
	if len(firstAt) < 5 {
		t.Errorf("the top token landed at only %d distinct positions in 200 pairs: not shuffled", len(firstAt))
	}
}

func TestDrawMixPairs(t *testing.T) {
	labels := []int32{0, 0, 1, 2, 2, 2, 3}
	a := must(DrawMixPairs(rand.New(rand.NewPCG(9, 9)), labels, 400))
	b := must(DrawMixPairs(rand.New(rand.NewPCG(9, 9)), labels, 400))
	if !slices.Equal(a, b) {
		t.Error("same seed, different pairs")
	}
	seenA := map[int32]int{}
	for _, p := range a {
		if labels[p.A] == labels[p.B] {
			t.Fatalf("pair %+v has one label", p)
		}
		seenA[labels[p.A]]++
	}
	for g := int32(0); g < 4; g++ { // labels are drawn uniformly: ~100 each
		if seenA[g] < 60 || seenA[g] > 140 {
			t.Errorf("label %d is A's label in %d of 400 pairs, want about 100", g, seenA[g])
		}
	}
	if _, err := DrawMixPairs(rand.New(rand.NewPCG(1, 1)), []int32{2, 2, 2}, 5); err == nil {
		t.Error("one label: no error")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCLSStats checks abs_attn_max, abs_attn_sum and rel_attn_max on known
// CLS rows, signed and not.
func TestCLSStats(t *testing.T) {
	s := &MixingSet{L: 1, H: 1, T: 3, Labels: []int32{0, 1},
		CLS: [][]float32{{0.5, 0.25, 0.25 /**/, 0.2, 0.4, 0.4}}}
	mx, sum, rel := s.CLSStats(0)
	if math.Abs(mx-0.45) > 1e-7 || math.Abs(sum-1) > 1e-7 || math.Abs(rel-0.45) > 1e-7 {
		t.Errorf("normalized rows: got: %v %v %v want: 0.45 1 0.45", mx, sum, rel)
	}
	// Sample 0 of a signed map: [0.6, −0.4, 0.3]; sample 1: [0.1, 0.1, −0.2]
	// (sum 0: still a sample of abs_attn_*, and of rel_attn_max through |A|).
	s.Signed = true
	s.CLS = [][]float32{{0.6, -0.4, 0.3, 0.1, 0.1, -0.2}}
	mx, sum, rel = s.CLSStats(0)
	if want := (0.6/1.3 + 0.2/0.4) / 2; math.Abs(mx-0.35) > 1e-7 || math.Abs(sum-0.25) > 1e-7 || math.Abs(rel-want) > 1e-7 {
		t.Errorf("signed rows: got: %v %v %v want: 0.35 0.25 %v", mx, sum, rel, want)
	}
}

// TestCLSPredictions reads the argmax over the first `labels` outputs at the
// last position only.
func TestCLSPredictions(t *testing.T) {
	const B, T, V = 2, 3, 6
	logits := make([]float32, B*T*V) // (B, T, V)
	logits[(0*T+2)*V+2] = 5          // sample 0, CLS: label 2
	logits[(0*T+2)*V+5] = 9          // an output past the labels: ignored
	logits[(1*T+0)*V+3] = 9          // sample 1, not CLS: ignored
	logits[(1*T+2)*V+1] = 1          // sample 1, CLS: label 1
	got, err := CLSPredictions(logits, B, T, 4)
	if err != nil || !slices.Equal(got, []int32{2, 1}) {
		t.Errorf("got: %v, %v want: [2 1]", got, err)
	}
	if _, err := CLSPredictions(logits, B, T, 7); err == nil {
		t.Error("more labels than outputs: no error")
	}
}

// TestMixingFileRoundTrip writes mixing.parquet atomically and reads it back.
func TestMixingFileRoundTrip(t *testing.T) {
	s := mixingSet(t, false)
	rows, err := LabelMixing(s, 50, 1, topPredictor)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		rows[i].RunID, rows[i].Step = "cls-1", 300
	}
	dir := t.TempDir()
	path := filepath.Join(dir, MixingFile)
	meta := MixingMeta(50, 1, s.N())
	meta[MetaRunID], meta[MetaConfig] = "cls-1", "{}"
	if err := WriteMixing(path, rows, meta); err != nil {
		t.Fatal(err)
	}
	got, m, err := ReadMixing(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, rows) {
		t.Errorf("rows: got: %+v want: %+v", got, rows)
	}
	if m[MetaKind] != "mixing" || m[MetaRunID] != "cls-1" || m[MetaMixingPairs] != "50" || m[MetaEvalSamples] != "120" ||
		m[MetaMetricsVersion] != MetricsVersion || m["source.abs_attn_max"] != HookPattern {
		t.Errorf("metadata: %v", m)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left in the run folder: %v", entries)
	}
}

// TestMixingSetAddErrors: a capture without tokens, with the wrong number of
// labels or with CLS not last is refused.
func TestMixingSetAddErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	c, labels := mixingCapture(rng, 4, false)
	if err := (&MixingSet{}).Add(c, labels[:3]); err == nil {
		t.Error("3 labels for 4 samples: no error")
	}
	c.Score[mixT-1], c.Score[0] = false, true
	if err := (&MixingSet{}).Add(c, labels); err == nil {
		t.Error("scored position not last: no error")
	}
	c.Tokens = nil
	if err := (&MixingSet{}).Add(c, labels); err == nil {
		t.Error("no tokens: no error")
	}
}
