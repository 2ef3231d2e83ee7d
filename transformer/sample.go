package transformer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/sinklab/sinklab/data"
)

// SampleOptions controls generation.
type SampleOptions struct {
	MaxNew      int     // tokens to generate
	Temperature float64 // 0 = greedy (argmax)
	TopK        int     // keep the k most likely tokens; 0 = all
	KeepFirst   bool    // keep the first prompt token (BOS) when the window slides
}

// Sample continues prompt autoregressively with a causal model. The model sees
// at most T tokens (the task's sequence length): longer contexts keep the last
// T−1 tokens, plus the first when KeepFirst. It returns the new tokens only.
func Sample(r Runner, prompt []int32, o SampleOptions, rng *rand.Rand) ([]int32, error) {
	cfg := r.Config()
	if !cfg.Model.Causal {
		return nil, errors.New("sampling needs a causal model; this run attends both ways")
	}
	if len(prompt) == 0 {
		return nil, errors.New("sampling needs a prompt of at least one token")
	}
	if o.MaxNew < 0 || o.Temperature < 0 || o.TopK < 0 {
		return nil, fmt.Errorf("max-new, temperature and top-k must be ≥ 0")
	}
	V := cfg.Model.Vocab
	for _, t := range prompt {
		if t < 0 || int(t) >= V {
			return nil, fmt.Errorf("prompt token %d outside the vocabulary [0, %d)", t, V)
		}
	}
	T := r.SeqLen()
	b := data.NewBatch(1, T)
	ctx := append([]int32(nil), prompt...)
	var out []int32
	probs := make([]float64, V)
	idx := make([]int, V)
	sink := 0
	if cfg.Model.SinkToken {
		sink = 1
	}
	for len(out) < o.MaxNew {
		win := ctx
		if len(win) > T {
			if o.KeepFirst {
				win = append([]int32{ctx[0]}, ctx[len(ctx)-(T-1):]...)
			} else {
				win = ctx[len(ctx)-T:]
			}
		}
		clear(b.Inputs)
		copy(b.Inputs, win)
		logits, err := r.Logits(b)
		if err != nil {
			return nil, err
		}
		row := logits[(len(win)-1+sink)*V : (len(win)+sink)*V]
		next := pick(row, probs, idx, o, rng)
		out = append(out, next)
		ctx = append(ctx, next)
	}
	return out, nil
}

// pick draws one token from a row of logits.
func pick(row []float32, probs []float64, idx []int, o SampleOptions, rng *rand.Rand) int32 {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	if o.Temperature == 0 {
		return int32(best)
	}
	for j := range idx {
		idx[j] = j
	}
	k := len(row)
	if o.TopK > 0 && o.TopK < k {
		sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
		k = o.TopK
	}
	mx := float64(row[best])
	var z float64
	for _, j := range idx[:k] {
		probs[j] = math.Exp((float64(row[j]) - mx) / o.Temperature)
		z += probs[j]
	}
	u := rng.Float64() * z
	for _, j := range idx[:k] {
		u -= probs[j]
		if u <= 0 {
			return int32(j)
		}
	}
	return int32(idx[k-1])
}
