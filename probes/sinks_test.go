package probes

import (
	"math"
	"testing"

	"github.com/sinklab/sinklab/transformer/capture"
)

func TestSummarizeSinks(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	head := func(step int64, group string, ftm, bos, ent float64) HeadRow {
		return HeadRow{Step: step, Group: group, FirstTokenMass: ftm, BOSSinkScore: bos, Entropy: ent,
			IsSinkHead: bos > SinkHeadThreshold}
	}
	same := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
	tests := []struct {
		name  string
		heads []HeadRow
		want  SinkSummary
		share float64
	}{
		{"none", nil, SinkSummary{SinkRate: nan, MeanEntropy: nan, MeanFirstTokenMass: nan, MeanBOSSinkScore: nan}, nan},
		{"plain", []HeadRow{head(5, GroupAll, 0.5, 0.95, 1), head(5, GroupAll, 0.1, 0.2, 3)},
			SinkSummary{Step: 5, Heads: 2, SinkRate: 50, SinkHeads: 1, MeanEntropy: 2, MeanFirstTokenMass: 0.3, MeanBOSSinkScore: 0.575}, 0.5},
		{"other groups ignored, no group is all", []HeadRow{head(7, "", 0.5, 0.95, 1), head(7, "trigger", 0.9, 0.99, 0)},
			SinkSummary{Step: 7, Heads: 1, SinkRate: 100, SinkHeads: 1, MeanEntropy: 1, MeanFirstTokenMass: 0.5, MeanBOSSinkScore: 0.95}, 1},
		{"NaN heads count, never as sinks; means skip non-finite", []HeadRow{head(1, GroupAll, nan, nan, nan), head(1, GroupAll, 0.4, 0.5, inf)},
			SinkSummary{Step: 1, Heads: 2, SinkRate: 50, SinkHeads: 0, MeanEntropy: nan, MeanFirstTokenMass: 0.4, MeanBOSSinkScore: 0.5}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := SummarizeSinks(tc.heads, 0.3)
			w := tc.want
			if got.Step != w.Step || got.Heads != w.Heads || got.SinkHeads != w.SinkHeads || !same(got.SinkRate, w.SinkRate) ||
				!same(got.MeanEntropy, w.MeanEntropy) || math.Abs(got.MeanFirstTokenMass-w.MeanFirstTokenMass) > 1e-12 && !same(got.MeanFirstTokenMass, w.MeanFirstTokenMass) ||
				math.Abs(got.MeanBOSSinkScore-w.MeanBOSSinkScore) > 1e-12 && !same(got.MeanBOSSinkScore, w.MeanBOSSinkScore) {
				t.Fatalf("got: %+v want: %+v", got, w)
			}
			if s := got.SinkHeadShare(); !same(s, tc.share) {
				t.Fatalf("share got: %v want: %v", s, tc.share)
			}
		})
	}
}

// SummarizeSinkSteps splits the rows by step and agrees with the sink rate
// that measuring the capture returns.
func TestSummarizeSinkStepsMatchesMeasure(t *testing.T) {
	var all []HeadRow
	var rates []float64
	for step := int64(0); step < 3; step++ {
		c := sinkCapture(int(step))
		heads, _, rate := MeasureCapture(c, 0.3)
		for i := range heads {
			heads[i].Step = step
		}
		all = append(all, heads...)
		rates = append(rates, rate)
	}
	sums := SummarizeSinkSteps(all, 0.3)
	if len(sums) != 3 {
		t.Fatalf("got %d steps, want 3", len(sums))
	}
	for i, s := range sums {
		if s.Step != int64(i) || s.SinkRate != rates[i] {
			t.Fatalf("step %d: got step %d rate %v, want rate %v", i, s.Step, s.SinkRate, rates[i])
		}
	}
}

// The final residual stream is measured as layer L.
func TestMeasureFinalResidual(t *testing.T) {
	c := sinkCapture(0)
	_, before, _ := MeasureCapture(c, 0.3)
	c.ResidFinal = append([]float32(nil), c.Resid[c.L-1]...)
	c.ResidFinal[0] = 50 // a massive activation on the first token
	_, layers, _ := MeasureCapture(c, 0.3)
	if len(layers) != len(before)+1 {
		t.Fatalf("got %d layer rows, want %d", len(layers), len(before)+1)
	}
	last := layers[len(layers)-1]
	if last.Layer != int32(c.L) || !(last.ResidPeakRatio > 1) || !(last.MassiveActivationRatio > 10) {
		t.Fatalf("final residual row %+v", last)
	}
	c.ResidFinal = c.ResidFinal[1:]
	if err := validate(c); err == nil {
		t.Fatal("a final residual stream of the wrong size: no error")
	}
}

// sinkCapture is a small valid capture whose maps depend on seed.
func sinkCapture(seed int) *capture.Capture {
	B, T, L, H, HD, D := 2, 6, 2, 3, 2, 4
	c := &capture.Capture{B: B, T: T, L: L, H: H, HD: HD, D: D, Causal: true, Normalized: true, Variant: "softmax"}
	for l := 0; l < L; l++ {
		a := make([]float32, B*H*T*T)
		for b := 0; b < B; b++ {
			for h := 0; h < H; h++ {
				for i := 0; i < T; i++ {
					row := a[((b*H+h)*T+i)*T:]
					first := float32((l+h+seed)%4) / 4 // 0, 0.25, 0.5 or 0.75 on the first key
					if i == 0 {
						first = 1
					}
					row[0] = first
					for j := 1; j <= i; j++ {
						row[j] = (1 - first) / float32(i)
					}
				}
			}
		}
		c.Attn = append(c.Attn, a)
		r := make([]float32, B*T*D)
		for i := range r {
			r[i] = float32(i%7) - 3
		}
		c.Resid = append(c.Resid, r)
	}
	return c
}
