package probes

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/sinklab/sinklab/transformer/capture"
)

// guReference is Gu et al.'s compute_attention_sink transcribed loop by loop
// from their PyTorch: attention_scores (S, L, H, T, T), ratios = T, T−1, …, 1
// along the key axis, importance = (A / ratios).sum over the query axis,
// metric = 100 × mean over (S, L, H) of importance > ε, for key k (1-based).
// The capture's (B, H, T, T) layers are read as their (S, L, H, T, T).
func guReference(c *capture.Capture, k int, eps float64) float64 {
	T := c.T
	var above, cells float64
	for s := 0; s < c.B; s++ {
		for l := 0; l < c.L; l++ {
			for h := 0; h < c.H; h++ {
				var imp float64
				for i := 0; i < T; i++ {
					ratio := float64(T - (k - 1)) // arange(T, 0, -1)[k−1]
					imp += float64(c.Attn[l][((s*c.H+h)*T+i)*T+k-1]) / ratio
				}
				if imp > eps {
					above++
				}
				cells++
			}
		}
	}
	return above / cells * 100
}

// TestSinkGuMatchesTheirCode: the recorder's sink_gu (metrics.parquet, per k
// of probe.sink_k) equals the transcription of Gu et al.'s code on causal and
// non-causal maps, for k = 1, 2, 3 and an ε that splits the cells; and k
// beyond T counts no cell.
func TestSinkGuMatchesTheirCode(t *testing.T) {
	for _, causal := range []bool{true, false} {
		c := syntheticCapture(6, 5, 3, 4, 2, 3, 7)
		c.Causal = causal
		if !causal { // fill the upper triangles too, rows still summing to 1
			for _, a := range c.Attn {
				for r := 0; r < len(a)/c.T; r++ {
					row := a[r*c.T : (r+1)*c.T]
					var z float32
					for j := range row {
						row[j] += 0.1 * float32(j+1)
						z += row[j]
					}
					for j := range row {
						row[j] /= z
					}
				}
			}
		}
		dir := t.TempDir()
		rec, err := NewRecorder(dir, "r", "{}", "test", &RecorderOptions{SinkEpsilon: 0.3, SinkK: []int{1, 2, 3, 9}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rec.WriteProbes(4, 40, c); err != nil {
			t.Fatal(err)
		}
		if err := rec.WriteMetrics(MetricsRow{Step: 4}); err != nil {
			t.Fatal(err)
		}
		if err := rec.WriteMetrics(MetricsRow{Step: 5}); err != nil {
			t.Fatal(err)
		}
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
		rows, _ := readLog[MetricsRow](t, filepath.Join(dir, MetricsDir))
		if len(rows) != 2 || len(rows[1].SinkGu) != 0 {
			t.Fatalf("causal=%v: want sink_gu on the probe step's row only, got %+v", causal, rows)
		}
		split := false
		for _, k := range []int{1, 2, 3, 9} {
			want := 0.0
			if k <= c.T {
				want = guReference(c, k, 0.3)
			}
			got, ok := rows[0].SinkGu[guKey(k)]
			if !ok || math.Abs(got-want) > 1e-9 {
				t.Errorf("causal=%v k=%d: sink_gu %v (present %v), their code %v", causal, k, got, ok, want)
			}
			split = split || (want > 0 && want < 100)
		}
		if !split {
			t.Errorf("causal=%v: no k splits the cells: the test does not discriminate", causal)
		}
	}
}

// TestSinkLogitMassColumn: a capture with NullMass gives sink_logit_mass =
// the mean of the head's null mass over the group's rows; without, null.
func TestSinkLogitMassColumn(t *testing.T) {
	c := syntheticCapture(2, 4, 2, 2, 2, 3, 3)
	heads, _, _ := MeasureCapture(c, 0.3)
	for _, r := range heads {
		if r.SinkLogitMass != nil {
			t.Fatalf("sink_logit_mass %v without a null mass", *r.SinkLogitMass)
		}
	}
	for l := 0; l < c.L; l++ {
		nm := make([]float32, c.B*c.H*c.T)
		for i := range nm {
			nm[i] = float32(i%7) / 10
		}
		c.NullMass = append(c.NullMass, nm)
	}
	heads, _, _ = MeasureCapture(c, 0.3)
	for _, r := range heads {
		if r.Group != GroupAll {
			continue
		}
		var sum float64
		for b := 0; b < c.B; b++ {
			for i := 0; i < c.T; i++ {
				sum += float64(c.NullMass[r.Layer][(b*c.H+int(r.Head))*c.T+i])
			}
		}
		want := sum / float64(c.B*c.T)
		if r.SinkLogitMass == nil || math.Abs(*r.SinkLogitMass-want) > 1e-12 {
			t.Fatalf("layer %d head %d: sink_logit_mass %v, want %v", r.Layer, r.Head, r.SinkLogitMass, want)
		}
	}
	c.NullMass = c.NullMass[:1]
	if err := c.Validate(); err == nil {
		t.Fatal("a null mass for 1 of 2 layers validated")
	}
}
