package probes

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/sinklab/sinklab/probes/internal/parquetio"
	"github.com/sinklab/sinklab/transformer/capture"
)

// Label mixing (Varre et al. §4.2, SCIENCE.md §2; the paper's
// run_label_mixing_experiment in exp_classification.py). After training a
// classifier, for each (layer, head): draw pairs of evaluation samples A, B
// with different labels; rank each sample's content tokens by that head's
// CLS-row attention; mixed_A is A's top-1 token plus every content token of B
// except B's top-1, shuffled, then CLS; mixed_B likewise with the roles
// swapped. rate_A is the share of pairs whose prediction on mixed_A is A's
// label, rate_B the same for B, and top1_dominance = (rate_A + rate_B)/2: 1
// when the head's favourite token alone decides the label, about 0 when the
// other tokens do.
//
// Choices where the paper's code leaves room:
//   - The same pairs are used for every head (one seeded draw), so heads are
//     compared on identical samples; each head's shuffles have their own
//     seeded stream.
//   - Tokens are ranked by the raw CLS-row weight, as the paper does, also for
//     signed variants; ties go to the earlier position.
//   - abs_attn_max, abs_attn_sum and rel_attn_max are over the whole CLS row
//     (every key, CLS itself and a sink token included, as the paper's
//     attn[:, h, -1, :]), per sample, averaged over every evaluation sample;
//     rel_attn_max is of |A| for signed variants, and samples whose row sum is
//     0 are left out of it.

// MixingFile is the name of the label-mixing result in a run folder.
const MixingFile = "mixing.parquet"

// DefaultMixingPairs is the number of sample pairs of the label-mixing
// experiment (the paper's num_pairs = 500).
const DefaultMixingPairs = 500

// Key-value metadata of mixing.parquet besides run_id, config,
// sinklab_version, metrics_version and kind = "mixing".
const (
	MetaMixingPairs = "mixing_pairs" // pairs drawn
	MetaMixingSeed  = "mixing_seed"  // seed of the pair draw and the shuffles
	MetaEvalSamples = "eval_samples" // evaluation samples the pairs were drawn from
)

// Random streams of the experiment, under the run's seed.
const (
	streamMixPairs   = 0x6d697850 // "mixP"
	streamMixShuffle = 0x6d697853 // "mixS", + the head's index l·H+h
)

// mixingSources maps the columns of mixing.parquet to what they are computed
// from (the metadata's source.<column>).
var mixingSources = [][2]string{
	{"rate_a", "predictions at CLS on the mixed samples"},
	{"rate_b", "predictions at CLS on the mixed samples"},
	{"top1_dominance", "predictions at CLS on the mixed samples"},
	{"abs_attn_max", HookPattern},
	{"abs_attn_sum", HookPattern},
	{"rel_attn_max", HookPattern},
}

// MixingRow is one row of mixing.parquet: the label-mixing result and the
// CLS-row attention statistics of one head.
type MixingRow struct {
	RunID string `parquet:"run_id,dict"`
	Step  int64  `parquet:"step"` // training step of the model measured
	Layer int32  `parquet:"layer"`
	Head  int32  `parquet:"head"`

	RateA         float64 `parquet:"rate_a"`         // P(prediction on mixed_A = label of A)
	RateB         float64 `parquet:"rate_b"`         // P(prediction on mixed_B = label of B)
	Top1Dominance float64 `parquet:"top1_dominance"` // (rate_a + rate_b) / 2
	Pairs         int32   `parquet:"pairs"`          // pairs (A, B) the rates are over

	AbsAttnMax float64 `parquet:"abs_attn_max"` // mean over samples of maxⱼ A[cls, j]
	AbsAttnSum float64 `parquet:"abs_attn_sum"` // mean over samples of Σⱼ A[cls, j]
	RelAttnMax float64 `parquet:"rel_attn_max"` // mean over samples of maxⱼ A[cls, j] / Σⱼ A[cls, j]
}

// MixingSet holds the evaluation samples of a classification task and every
// head's CLS-row attention on them: what the label-mixing experiment reads.
// Samples have the task's layout: content tokens at positions 0 … T−2 and CLS
// at T−1. Fill it with Add, one capture at a time.
type MixingSet struct {
	L, H, T   int  // layers, heads, sequence length (content + CLS)
	SinkToken bool // a CLS row has T+1 keys, the sink token's first
	Signed    bool // the variant's weights can be negative

	Tokens []int32 // (N, T) token ids
	Labels []int32 // (N) the samples' labels
	// CLS[l·H+h] is head (l, h)'s CLS-row attention on every sample over
	// every key. (N, K) with K = T, or T+1 with a sink token.
	CLS [][]float32
}

// N returns the number of samples.
func (s *MixingSet) N() int { return len(s.Labels) }

// keys returns K, the number of keys of a CLS row.
func (s *MixingSet) keys() int {
	if s.SinkToken {
		return s.T + 1
	}
	return s.T
}

// Add appends the samples of one capture (a forward pass over them) and their
// labels (B). The first capture fixes the sizes and flags; later ones must
// agree. The capture must carry its Tokens; when it carries Score, the scored
// position must be the last one (CLS).
func (s *MixingSet) Add(c *capture.Capture, labels []int32) error {
	if err := validate(c); err != nil {
		return err
	}
	t := c.T
	if c.SinkToken {
		t--
	}
	switch {
	case len(labels) != c.B:
		return fmt.Errorf("probes: mixing: %d labels for %d samples", len(labels), c.B)
	case len(c.Tokens) != c.B*t:
		return fmt.Errorf("probes: mixing: capture has %d tokens, want B·T = %d", len(c.Tokens), c.B*t)
	case t < 3:
		return fmt.Errorf("probes: mixing: sequence length %d: need CLS and at least two content tokens", t)
	}
	if c.Score != nil {
		for b := 0; b < c.B; b++ {
			if !c.Score[b*t+t-1] {
				return fmt.Errorf("probes: mixing: sample %d is not scored at its last position: CLS must come last", b)
			}
		}
	}
	if s.CLS == nil {
		s.L, s.H, s.T, s.SinkToken, s.Signed = c.L, c.H, t, c.SinkToken, c.Signed
		s.CLS = make([][]float32, c.L*c.H)
	} else if s.L != c.L || s.H != c.H || s.T != t || s.SinkToken != c.SinkToken || s.Signed != c.Signed {
		return fmt.Errorf("probes: mixing: capture L=%d H=%d T=%d does not match the set's L=%d H=%d T=%d", c.L, c.H, t, s.L, s.H, s.T)
	}
	s.Tokens = append(s.Tokens, c.Tokens...)
	s.Labels = append(s.Labels, labels...)
	tp := c.T
	for l := 0; l < c.L; l++ {
		for h := 0; h < c.H; h++ {
			k := l*c.H + h
			for b := 0; b < c.B; b++ {
				row := ((b*c.H+h)*tp + tp - 1) * tp // the CLS row, the capture's last
				s.CLS[k] = append(s.CLS[k], c.Attn[l][row:row+tp]...)
			}
		}
	}
	return nil
}

// Top1 returns the content position (0 … T−2) of sample n that head k = l·H+h
// attends to most from CLS: the largest raw weight, the earlier position on
// ties.
func (s *MixingSet) Top1(k, n int) int {
	K := s.keys()
	row := s.CLS[k][n*K : (n+1)*K]
	if s.SinkToken {
		row = row[1:] // data positions
	}
	best := 0
	for p := 1; p < s.T-1; p++ {
		if row[p] > row[best] {
			best = p
		}
	}
	return best
}

// MixPair is one pair of sample indices (A, B) whose labels differ.
type MixPair struct{ A, B int }

// DrawMixPairs draws n pairs as the paper does: two different labels
// uniformly among those present (the first is A's), then one sample of each
// label uniformly. It fails when fewer than two labels are present.
func DrawMixPairs(rng *rand.Rand, labels []int32, n int) ([]MixPair, error) {
	byLabel := map[int32][]int{}
	for i, y := range labels {
		byLabel[y] = append(byLabel[y], i)
	}
	present := make([]int32, 0, len(byLabel))
	for y := range byLabel {
		present = append(present, y)
	}
	slices.Sort(present)
	if len(present) < 2 {
		return nil, fmt.Errorf("probes: mixing: the samples have %d distinct labels, need 2", len(present))
	}
	pairs := make([]MixPair, n)
	for i := range pairs {
		ia := rng.IntN(len(present))
		ib := rng.IntN(len(present) - 1)
		if ib >= ia {
			ib++
		}
		sa, sb := byLabel[present[ia]], byLabel[present[ib]]
		pairs[i] = MixPair{A: sa[rng.IntN(len(sa))], B: sb[rng.IntN(len(sb))]}
	}
	return pairs, nil
}

// MixedSamples builds the mixed sequences of head k = l·H+h for the given
// pairs: (2P, T) token ids, row 2p mixed_A of pair p (A's top-1 token and B's
// other content tokens, shuffled with rng, then A's CLS token) and row 2p+1
// mixed_B (the roles swapped).
func (s *MixingSet) MixedSamples(rng *rand.Rand, k int, pairs []MixPair) []int32 {
	T := s.T
	out := make([]int32, 2*len(pairs)*T) // (2P, T)
	mix := func(dst []int32, top, rest int) {
		src, other := s.Tokens[top*T:(top+1)*T], s.Tokens[rest*T:(rest+1)*T]
		dst[0] = src[s.Top1(k, top)]
		skip := s.Top1(k, rest)
		i := 1
		for p := 0; p < T-1; p++ {
			if p != skip {
				dst[i] = other[p]
				i++
			}
		}
		content := dst[:T-1]
		rng.Shuffle(len(content), func(i, j int) { content[i], content[j] = content[j], content[i] })
		dst[T-1] = src[T-1] // CLS
	}
	for p, pr := range pairs {
		mix(out[(2*p)*T:(2*p+1)*T], pr.A, pr.B)
		mix(out[(2*p+1)*T:(2*p+2)*T], pr.B, pr.A)
	}
	return out
}

// MixingRates returns rate_A and rate_B from the predicted labels (2P) of the
// mixed samples of MixedSamples: the share of pairs whose mixed_A is predicted
// as A's label, and whose mixed_B as B's. No pairs gives NaN.
func MixingRates(pred, labels []int32, pairs []MixPair) (rateA, rateB float64) {
	var a, b int
	for p, pr := range pairs {
		if pred[2*p] == labels[pr.A] {
			a++
		}
		if pred[2*p+1] == labels[pr.B] {
			b++
		}
	}
	return mean(float64(a), len(pairs)), mean(float64(b), len(pairs))
}

// CLSStats returns head k's abs_attn_max, abs_attn_sum and rel_attn_max: the
// mean over samples of the CLS row's largest weight, of its sum (raw A), and
// of their ratio (of |A| for signed variants; samples whose row sum is 0 are
// left out). No samples gives NaN.
func (s *MixingSet) CLSStats(k int) (absMax, absSum, relMax float64) {
	K := s.keys()
	var maxSum, sumSum, relSum float64
	relN := 0
	for n := 0; n < s.N(); n++ {
		row := s.CLS[k][n*K : (n+1)*K]
		mx, sum := math.Inf(-1), 0.0
		amx, asum := 0.0, 0.0
		for _, x := range row {
			v := float64(x)
			mx = math.Max(mx, v)
			sum += v
			amx = math.Max(amx, math.Abs(v))
			asum += math.Abs(v)
		}
		maxSum += mx
		sumSum += sum
		num, den := mx, sum
		if s.Signed {
			num, den = amx, asum
		}
		if den != 0 {
			relSum += num / den
			relN++
		}
	}
	return mean(maxSum, s.N()), mean(sumSum, s.N()), mean(relSum, relN)
}

// Predictor returns the predicted label of each of n token sequences, given
// as (n, T) ids.
type Predictor func(tokens []int32, n int) ([]int32, error)

// LabelMixing runs the label-mixing experiment on every head of the set with
// nPairs pairs drawn with the given seed, asking predict for the labels of
// all mixed samples in one call. It returns one row per (layer, head) in
// layer-major order; RunID and Step are left zero for the caller.
func LabelMixing(s *MixingSet, nPairs int, seed uint64, predict Predictor) ([]MixingRow, error) {
	if s.N() == 0 {
		return nil, errors.New("probes: mixing: no samples")
	}
	if nPairs < 1 {
		return nil, fmt.Errorf("probes: mixing: %d pairs: want ≥ 1", nPairs)
	}
	pairs, err := DrawMixPairs(rand.New(rand.NewPCG(seed, streamMixPairs)), s.Labels, nPairs)
	if err != nil {
		return nil, err
	}
	heads := s.L * s.H
	per := 2 * nPairs * s.T
	tokens := make([]int32, 0, heads*per) // (L·H·2P, T)
	for k := 0; k < heads; k++ {
		rng := rand.New(rand.NewPCG(seed, streamMixShuffle+uint64(k)))
		tokens = append(tokens, s.MixedSamples(rng, k, pairs)...)
	}
	pred, err := predict(tokens, heads*2*nPairs)
	if err != nil {
		return nil, fmt.Errorf("probes: mixing: predict: %w", err)
	}
	if len(pred) != heads*2*nPairs {
		return nil, fmt.Errorf("probes: mixing: predictor returned %d labels for %d samples", len(pred), heads*2*nPairs)
	}
	rows := make([]MixingRow, 0, heads)
	for k := 0; k < heads; k++ {
		ra, rb := MixingRates(pred[k*2*nPairs:(k+1)*2*nPairs], s.Labels, pairs)
		mx, sum, rel := s.CLSStats(k)
		rows = append(rows, MixingRow{Layer: int32(k / s.H), Head: int32(k % s.H), RateA: ra, RateB: rb,
			Top1Dominance: (ra + rb) / 2, Pairs: int32(nPairs), AbsAttnMax: mx, AbsAttnSum: sum, RelAttnMax: rel})
	}
	return rows, nil
}

// CLSPredictions returns the predicted label of each sequence from a forward
// pass's logits (B, T, V): the argmax over the first `labels` outputs at the
// last position (CLS), so it works whether the output layer has `labels`
// outputs or one per token id (the label ids are the first ones). Ties go to
// the smaller label.
func CLSPredictions(logits []float32, B, T, labels int) ([]int32, error) {
	if B < 1 || T < 1 || len(logits)%(B*T) != 0 {
		return nil, fmt.Errorf("probes: %d logits do not split into B·T = %d·%d positions", len(logits), B, T)
	}
	V := len(logits) / (B * T)
	if labels < 1 || V < labels {
		return nil, fmt.Errorf("probes: %d outputs per position, fewer than %d labels", V, labels)
	}
	out := make([]int32, B)
	for b := range out {
		z := logits[((b*T)+T-1)*V:][:labels]
		best := 0
		for y := 1; y < labels; y++ {
			if z[y] > z[best] {
				best = y
			}
		}
		out[b] = int32(best)
	}
	return out, nil
}

// WriteMixing writes rows as mixing.parquet at path, atomically (a hidden
// temporary file renamed into place). meta goes into the key-value metadata;
// by convention run_id, config and sinklab_version, plus MetaMixingPairs,
// MetaMixingSeed and MetaEvalSamples; kind = "mixing", metrics_version and the
// source.<column> keys are added here.
func WriteMixing(path string, rows []MixingRow, meta map[string]string) error {
	m := map[string]string{MetaKind: "mixing", MetaMetricsVersion: MetricsVersion}
	for _, s := range mixingSources {
		m[MetaSourcePrefix+s[0]] = s[1]
	}
	for k, v := range meta {
		m[k] = v
	}
	if err := parquetio.WriteFile(path, rows, m); err != nil {
		return fmt.Errorf("probes: %w", err)
	}
	return nil
}

// ReadMixing reads every row and the key-value metadata of a mixing.parquet.
func ReadMixing(path string) ([]MixingRow, map[string]string, error) {
	rows, meta, err := parquetio.ReadFile[MixingRow](path)
	if err != nil {
		return nil, nil, fmt.Errorf("probes: %w", err)
	}
	return rows, meta, nil
}

// MixingMeta returns the experiment's metadata entries for WriteMixing.
func MixingMeta(pairs int, seed uint64, samples int) map[string]string {
	return map[string]string{
		MetaMixingPairs: strconv.Itoa(pairs),
		MetaMixingSeed:  strconv.FormatUint(seed, 10),
		MetaEvalSamples: strconv.Itoa(samples),
	}
}
