package probes_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sinklab/sinklab/probes"
	"github.com/sinklab/sinklab/transformer/capture"
)

// A trainer opens a Recorder on the run folder, writes a metrics row every
// step and probes on probe steps, flushes at checkpoints and closes at the end.
func ExampleRecorder() {
	runDir, _ := os.MkdirTemp("", "run")
	defer os.RemoveAll(runDir)
	rec, err := probes.NewRecorder(runDir, "demo", `{"seed":1}`, "dev", nil)
	if err != nil {
		panic(err)
	}
	// A one-layer, one-head capture whose rows put all weight on the first token.
	T := 4
	attn := make([]float32, T*T) // (B=1, H=1, T, T)
	for i := 0; i < T; i++ {
		attn[i*T] = 1
	}
	c := &capture.Capture{B: 1, T: T, L: 1, H: 1, Attn: [][]float32{attn}, Causal: true, Normalized: true, Variant: "softmax"}
	for step := int64(0); step < 3; step++ {
		row := probes.MetricsRow{Step: step, Tokens: 4 * (step + 1), Loss: 1}
		if step == 2 {
			rate, err := rec.WriteProbes(step, row.Tokens, c)
			if err != nil {
				panic(err)
			}
			row.SinkRate = probes.Float(rate)
		}
		if err := rec.WriteMetrics(row); err != nil {
			panic(err)
		}
	}
	if err := rec.Close(); err != nil {
		panic(err)
	}
	parts, _ := filepath.Glob(filepath.Join(runDir, "*", "*.parquet"))
	for _, p := range parts {
		rel, _ := filepath.Rel(runDir, p)
		fmt.Println(rel)
	}
	heads, _, rate := probes.MeasureCapture(c, probes.DefaultSinkEpsilon)
	fmt.Printf("sink rate %.0f%%, sink score %.1f, entropy %.1f\n", rate, heads[0].BOSSinkScore, heads[0].Entropy)
	// Output:
	// metrics/part-00000.parquet
	// probes/part-00000.parquet
	// sink rate 100%, sink score 1.0, entropy 0.0
}
