package transformer

import (
	"bufio"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/probes"
)

// benchEnv reads a positive integer from the environment, or def.
func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// peakRSSMB returns the process's peak resident set (VmHWM) in MB, or the
// Go runtime's Sys where /proc is not there.
func peakRSSMB() float64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
				kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.Sys) / (1 << 20)
}

// BenchmarkProbeGPT2Small probes a random model of GPT-2 small's shape (12
// layers, d_model 768, 12 heads, vocab 50257, n_ctx 1024; 124M parameters,
// float32) the way `sinklab probe --model` does: ProbeModel in chunks of 4
// sequences, then the probe rows (probes.MeasureCapture). It reports the
// time per probe (ns/op, and s/probe), tokens/s and the process's peak
// resident memory (peak-MB, which includes the model).
//
// The default size is 4 sequences of 256 tokens, to run in seconds; the
// command's default probe (64 × 256) is
//
//	SINKLAB_BENCH_SAMPLES=64 go test ./transformer -run '^$' -bench ProbeGPT2Small -benchtime 1x
//
// SINKLAB_BENCH_SEQ sets the sequence length.
func BenchmarkProbeGPT2Small(b *testing.B) {
	samples, seq := benchEnv("SINKLAB_BENCH_SAMPLES", 4), benchEnv("SINKLAB_BENCH_SEQ", 256)
	hc := &HFGPT2Config{ModelType: "gpt2", VocabSize: 50257, NPositions: 1024, NEmbd: 768, NLayer: 12, NHead: 12,
		ActivationFunction: "gelu_new", LayerNormEpsilon: 1e-5}
	start := time.Now()
	m, err := NewHFGPT2Model[float32](hc, seq, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("random GPT-2 small (%d parameters) built in %.1fs", m.NumParams(), time.Since(start).Seconds())
	rng := rand.New(rand.NewPCG(2, 2))
	ids := make([]int32, samples*seq)
	for i := range ids {
		ids[i] = int32(rng.IntN(hc.VocabSize))
	}
	bt := batchOf(ids, samples, seq)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := ProbeModel(m, bt, data.TaskText, 4, nil)
		if err != nil {
			b.Fatal(err)
		}
		heads, _, _ := probes.MeasureCapture(res.Capture, probes.DefaultSinkEpsilon)
		if len(heads) != 144 {
			b.Fatalf("%d head rows", len(heads))
		}
	}
	b.StopTimer()
	per := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(per, "s/probe")
	b.ReportMetric(float64(samples*seq)/per, "tokens/s")
	b.ReportMetric(peakRSSMB(), "peak-MB")
}
