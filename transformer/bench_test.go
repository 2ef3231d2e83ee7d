package transformer

import (
	"testing"
	"time"

	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
)

// The peer's two configs (../shared/bench/peer_torch.py): AdamW, softmax
// attention, pre-LN, GELU MLP ×4, learned positions, float32.
func benchTrain(b *testing.B, task string, mod func(c *Config)) {
	tr := newTestTrainer(b, task, func(c *Config) {
		c.Model.Positions = PosLearnedAdd
		c.Optim.LR, c.Optim.WeightDecay = 3e-4, 0.01
		c.Data.EvalSize = 0
		mod(c)
	})
	for i := 0; i < 3; i++ { // warm up: gorgonia allocates its registers on the first runs
		if _, err := tr.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/sec, "steps/s")
	b.ReportMetric(float64(b.N*tr.Cfg.Train.Batch*tr.Task.SeqLen())/sec, "tokens/s")
}

// BenchmarkTrainTiny: vocab 64, d 64, 2 layers, 4 heads, seq 32, batch 16.
func BenchmarkTrainTiny(b *testing.B) {
	benchTrain(b, data.TaskZipf, func(c *Config) {
		c.Model.DModel, c.Model.Layers, c.Model.Heads = 64, 2, 4
		c.Data.SeqLen, c.Data.Vocab = 32, 64
		c.Train.Batch = 16
	})
}

// BenchmarkTrainInduction: vocab 100, d 128, 2 layers, 4 heads, seq 12, batch 256.
func BenchmarkTrainInduction(b *testing.B) {
	benchTrain(b, data.TaskInduction, func(c *Config) {
		c.Model.DModel, c.Model.Layers, c.Model.Heads = 128, 2, 4
		c.Train.Batch = 256
	})
}

// BenchmarkTrainTinyProbes is BenchmarkTrainTiny with a probe pass every 50
// steps (capture on a 16-sequence evaluation batch, with the replicator
// probes' backward pass as in training runs, and every metric of
// probes.MeasureCapture). It times steps and probes separately in the same
// loop and reports probe-overhead-% = (mean probe time / 50) / mean step time
// × 100, the cost of probing every 50 steps, which a varying machine load
// does not skew as comparing two benchmarks would. It probes at iterations
// 0, 50, 100, …, so every b.N (1 included) measures at least one probe;
// steps/s counts step time only and ms/probe is the mean probe time.
func BenchmarkTrainTinyProbes(b *testing.B) {
	const every = 50
	tr := newTestTrainer(b, data.TaskZipf, func(c *Config) {
		c.Model.Positions = PosLearnedAdd
		c.Optim.LR = 3e-4
		c.Model.DModel, c.Model.Layers, c.Model.Heads = 64, 2, 4
		c.Data.SeqLen, c.Data.Vocab = 32, 64
		c.Train.Batch = 16
		c.Data.EvalSize, c.Train.EvalBatch = 16, 16
	})
	probe := func() {
		c, err := tr.Capture()
		if err != nil {
			b.Fatal(err)
		}
		probes.MeasureCapture(c, 0.3)
	}
	for i := 0; i < 3; i++ {
		if _, err := tr.Step(); err != nil {
			b.Fatal(err)
		}
	}
	probe()
	var stepT, probeT time.Duration
	var nProbes int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := tr.Step(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		stepT += t1.Sub(t0)
		if i%every == 0 {
			probe()
			probeT += time.Since(t1)
			nProbes++
		}
	}
	b.StopTimer()
	meanStep := stepT.Seconds() / float64(b.N)
	meanProbe := probeT.Seconds() / float64(nProbes)
	b.ReportMetric(1/meanStep, "steps/s")
	b.ReportMetric(1e3*meanProbe, "ms/probe")
	b.ReportMetric(100*meanProbe/every/meanStep, "probe-overhead-%")
}
