package report

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sinklab/sinklab/probes"
)

// largeRun writes a synthetic training run of steps steps with a metrics row
// at every step, probes every probeEvery steps for L layers × H heads, and
// three attention snapshots, and returns its folder.
func largeRun(tb testing.TB, steps, probeEvery, L, H int) string {
	tb.Helper()
	dir := tb.TempDir()
	rng := rand.New(rand.NewPCG(7, 8))
	cfg := `{"command":"train","run_id":"large","config":{"task":"induction","model":{"attention":"softmax","n_layers":2,"n_heads":4}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	metrics := make([]probes.MetricsRow, 0, steps)
	var heads []probes.HeadRow
	var layers []probes.LayerRow
	for s := 1; s <= steps; s++ {
		m := probes.MetricsRow{RunID: "large", Step: int64(s), Tokens: int64(s) * 1024,
			Loss: 4*math.Exp(-float64(s)/2e4) + 0.1*rng.Float64(), LR: 1e-3, GradNorm: rng.Float64()}
		if s%100 == 0 {
			m.ValLoss = probes.Float(m.Loss + 0.05)
		}
		if s%probeEvery == 0 {
			mass := 1 - math.Exp(-float64(s)/3e4)
			for l := 0; l < L; l++ {
				for h := 0; h < H; h++ {
					heads = append(heads, probes.HeadRow{RunID: "large", Step: int64(s), Layer: int32(l), Head: int32(h),
						Variant: "softmax", Entropy: 2 * (1 - mass) * (1 + 0.05*rng.NormFloat64()), FirstTokenMass: mass,
						BOSSinkScore: mass, IsSinkHead: mass > 0.9, BOSValueNormRatio: 1 - 0.8*mass, RowMass: 1})
				}
				layers = append(layers, probes.LayerRow{RunID: "large", Step: int64(s), Layer: int32(l),
					ResidPeakRatio: 1 + 20*mass, MassiveActivationRatio: 5 + 100*mass})
			}
			m.SinkRate = probes.Float(100 * mass)
		}
		metrics = append(metrics, m)
	}
	writeLog(tb, filepath.Join(dir, probes.MetricsDir), "metrics", metrics)
	writeLog(tb, filepath.Join(dir, probes.ProbesDir), "probes", heads)
	writeLog(tb, filepath.Join(dir, probes.LayersDir), "layers", layers)
	c := attnCapture(1, 12, L, H)
	for _, s := range []int64{0, int64(steps / 2), int64(steps)} {
		snap, err := NewAttnSnapshot(c, 0, s, nil, 0)
		if err != nil {
			tb.Fatal(err)
		}
		if err := WriteAttnSnapshot(dir, snap); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// BenchmarkReportLargeRun reports a 10⁵-step run (a metrics row at every
// step, probes every 10 steps on 2 layers × 4 heads: 10⁵ + 8·10⁴ + 2·10⁴
// rows): load, build and write the HTML.
func BenchmarkReportLargeRun(b *testing.B) {
	dir := largeRun(b, 100_000, 10, 2, 4)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		rep, err := Generate([]string{dir}, nil)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := rep.WriteHTML(&buf); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size)/1024, "KiB-html")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/report")
}

// BenchmarkReportLargeRunPNG writes every chart of the same run as PNG.
func BenchmarkReportLargeRunPNG(b *testing.B) {
	dir := largeRun(b, 100_000, 10, 2, 4)
	rep, err := Generate([]string{dir}, nil)
	if err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		paths, err := rep.WritePNGs(out)
		if err != nil {
			b.Fatal(err)
		}
		n = len(paths)
	}
	b.ReportMetric(float64(n), "files")
}

// TestLargeRunDrawsFewPoints: a long run is drawn with a bounded number of
// points, while the summary uses every row.
func TestLargeRunDrawsFewPoints(t *testing.T) {
	dir := largeRun(t, 20_000, 10, 2, 4)
	rep, err := Generate([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rep.Chart("loss").Series[0].X); n != 20_000 {
		t.Fatalf("chart data has %d loss points, want every row", n)
	}
	var buf bytes.Buffer
	if err := rep.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, m := range pointsRE.FindAllStringSubmatch(page, -1) {
		if n := len(bytes.Fields([]byte(m[1]))); n > 4*int(normalLayout.w) {
			t.Fatalf("a polyline has %d points", n)
		}
	}
	if len(page) > 2<<20 {
		t.Errorf("page is %d bytes", len(page))
	}
	s := Summarize(mustLoad(t, dir))
	if s.LastStep != 20_000 || s.SinkHeads != 0 || s.Heads != 8 { // α₁ = 1 − e^{−2/3} < 0.9
		t.Errorf("summary %+v", s)
	}
	if want := 100 * (1 - math.Exp(-20_000.0/3e4)); s.SinkRate != want {
		t.Errorf("final Sink₁^ε %v, want %v", s.SinkRate, want)
	}
}

func mustLoad(t *testing.T, dir string) *Run {
	t.Helper()
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
