package data

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestZipfFrequencies: BOS first, targets the inputs shifted by one, and the
// empirical token frequencies within 5 standard errors of k^−s / Σ j^−s.
func TestZipfFrequencies(t *testing.T) {
	for _, s := range []float64{0, 1, 1.5} {
		t.Run("", func(t *testing.T) {
			const vocab, T = 20, 50
			task := mustNew(t, TaskZipf, func(c *Config) { c.Vocab, c.SeqLen, c.ZipfS = vocab, T, s }, 4)
			b := fill(task, newRNG(6), 4000)
			checkCommon(t, task, b, 1)
			count := make([]float64, vocab)
			for i := 0; i < b.B; i++ {
				r := batchRow(b, i)
				if r.in[0] != 0 {
					t.Fatalf("seq %d: first input %d, want BOS", i, r.in[0])
				}
				for p := 0; p < T; p++ {
					if p+1 < T && r.tgt[p] != r.in[p+1] {
						t.Fatalf("seq %d: targets are not inputs shifted by one", i)
					}
					if r.tgt[p] == 0 || !r.score[p] || r.mask[p] != 1/float32(T) {
						t.Fatalf("seq %d pos %d: target %d mask %v score %v", i, p, r.tgt[p], r.mask[p], r.score[p])
					}
					count[r.tgt[p]]++
				}
			}
			n := float64(b.B * T)
			var z float64
			for k := 1; k < vocab; k++ {
				z += math.Pow(float64(k), -s)
			}
			for k := 1; k < vocab; k++ {
				p := math.Pow(float64(k), -s) / z
				if f := count[k] / n; math.Abs(f-p) > 5*math.Sqrt(p*(1-p)/n) {
					t.Errorf("token %d: frequency %.5f, want %.5f", k, f, p)
				}
			}
		})
	}
}

// TestAliasTable: sampled frequencies match the weights; zero weights are
// never drawn.
func TestAliasTable(t *testing.T) {
	src := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20; trial++ {
		n := 1 + src.IntN(40)
		w := make([]float64, n)
		var sum float64
		for i := range w {
			if src.IntN(3) > 0 {
				w[i] = src.ExpFloat64() * math.Pow(10, float64(src.IntN(5)-2))
			}
			sum += w[i]
		}
		if sum == 0 {
			w[0], sum = 1, 1
		}
		a := newAliasTable(w)
		rng := newRNG(uint64(trial))
		const draws = 100000
		count := make([]float64, n)
		for d := 0; d < draws; d++ {
			count[a.sample(rng)]++
		}
		for i := range w {
			p := w[i] / sum
			if w[i] == 0 && count[i] > 0 {
				t.Fatalf("trial %d: index %d has weight 0 but was drawn %v times", trial, i, count[i])
			}
			if f := count[i] / draws; math.Abs(f-p) > 5*math.Sqrt(p*(1-p)/draws)+1e-9 {
				t.Errorf("trial %d: index %d frequency %.5f, want %.5f", trial, i, f, p)
			}
		}
	}
}
