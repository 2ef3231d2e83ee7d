package probes

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/sinklab/sinklab/probes/internal/parquetio"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// readLog reads every finished part of one log folder.
func readLog[T any](t *testing.T, dir string) ([]T, []map[string]string) {
	t.Helper()
	parts, err := parquetio.ListParts(dir)
	if err != nil {
		t.Fatal(err)
	}
	var rows []T
	var metas []map[string]string
	for _, p := range parts {
		r, m, err := parquetio.ReadFile[T](p)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r...)
		metas = append(metas, m)
	}
	return rows, metas
}

// sameFloat treats NaN as equal to NaN.
func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func sameHead(a, b HeadRow) bool {
	return a.RunID == b.RunID && a.Step == b.Step && a.Tokens == b.Tokens && a.Layer == b.Layer &&
		a.Head == b.Head && a.Variant == b.Variant && a.IsSinkHead == b.IsSinkHead &&
		sameFloat(a.Entropy, b.Entropy) && sameFloat(a.EntropyNorm, b.EntropyNorm) &&
		sameFloat(a.FirstTokenMass, b.FirstTokenMass) && sameFloat(a.BOSSinkScore, b.BOSSinkScore) &&
		sameFloat(a.Sparsity, b.Sparsity) && sameFloat(a.RowMass, b.RowMass) &&
		sameFloat(a.BOSValueNormRatio, b.BOSValueNormRatio)
}

func sameMetrics(a, b MetricsRow) bool {
	opt := func(x, y *float64) bool { return (x == nil && y == nil) || (x != nil && y != nil && sameFloat(*x, *y)) }
	if len(a.GroupLoss) != len(b.GroupLoss) {
		return false
	}
	for k, v := range a.GroupLoss {
		if w, ok := b.GroupLoss[k]; !ok || !sameFloat(v, w) {
			return false
		}
	}
	return a.RunID == b.RunID && a.Step == b.Step && a.Tokens == b.Tokens && sameFloat(a.Loss, b.Loss) &&
		opt(a.ValLoss, b.ValLoss) && opt(a.ValAccuracy, b.ValAccuracy) && sameFloat(a.LR, b.LR) &&
		sameFloat(a.GradNorm, b.GradNorm) && sameFloat(a.StepSeconds, b.StepSeconds) && opt(a.SinkRate, b.SinkRate)
}

// fakeRun writes steps [from, to) to rec the way a trainer would: a metrics
// row every step, probes every probeEvery steps, a flush every flushEvery.
// It returns what it wrote.
func fakeRun(t *testing.T, rec *Recorder, from, to, probeEvery, flushEvery int) ([]MetricsRow, []HeadRow, []LayerRow) {
	t.Helper()
	var ms []MetricsRow
	var hs []HeadRow
	var ls []LayerRow
	for s := from; s < to; s++ {
		step, tokens := int64(s), int64(s)*512
		row := MetricsRow{
			RunID: "run-a", Step: step, Tokens: tokens, Loss: 4 - 0.01*float64(s), LR: 1e-3, GradNorm: 0.5,
			StepSeconds: 0.005, GroupLoss: map[string]float64{"trigger": 1 + float64(s), "non_trigger": 2 + float64(s)},
		}
		if s%probeEvery == 0 {
			c := syntheticCapture(2, 5, 2, 2, 3, 4, uint64(s))
			ps, err := rec.WriteProbeStep(step, tokens, c)
			if err != nil {
				t.Fatal(err)
			}
			rate := ps.Sinks.SinkRate
			row.SinkRate = Float(rate)
			row.ValLoss, row.ValAccuracy = Float(3.5), Float(0.25)
			h, l, r := MeasureCapture(c, rec.SinkEpsilon())
			if r != rate {
				t.Fatalf("step %d: WriteProbes rate %v, MeasureCapture %v", s, rate, r)
			}
			for i := range h {
				h[i].RunID, h[i].Step, h[i].Tokens = "run-a", step, tokens
			}
			for i := range l {
				l[i].RunID, l[i].Step, l[i].Tokens = "run-a", step, tokens
			}
			if len(ps.Heads) != len(h) || len(ps.Layers) != len(l) {
				t.Fatalf("step %d: WriteProbeStep returned %d heads, %d layers; MeasureCapture %d, %d", s, len(ps.Heads), len(ps.Layers), len(h), len(l))
			}
			for i := range h {
				if !sameHead(ps.Heads[i], h[i]) {
					t.Fatalf("step %d: WriteProbeStep row %+v, MeasureCapture %+v", s, ps.Heads[i], h[i])
				}
			}
			hs, ls = append(hs, h...), append(ls, l...)
		}
		if err := rec.WriteMetrics(row); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, row)
		if flushEvery > 0 && (s+1)%flushEvery == 0 {
			if err := rec.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ms, hs, ls
}

func checkLogs(t *testing.T, runDir string, ms []MetricsRow, hs []HeadRow, ls []LayerRow) {
	t.Helper()
	gm, _ := readLog[MetricsRow](t, filepath.Join(runDir, MetricsDir))
	if !slices.EqualFunc(gm, ms, sameMetrics) {
		t.Errorf("metrics: got %d rows want %d, or values differ", len(gm), len(ms))
	}
	gh, _ := readLog[HeadRow](t, filepath.Join(runDir, ProbesDir))
	if !slices.EqualFunc(gh, hs, sameHead) {
		t.Errorf("probes: got %d rows want %d, or values differ", len(gh), len(hs))
	}
	gl, _ := readLog[LayerRow](t, filepath.Join(runDir, LayersDir))
	if !slices.Equal(gl, ls) {
		t.Errorf("layers: got %d rows want %d, or values differ", len(gl), len(ls))
	}
}

func TestRecorderRoundTrip(t *testing.T) {
	runDir := t.TempDir()
	rec, err := NewRecorder(runDir, "run-a", `{"model":{"d_model":64}}`, "0.1.0", &RecorderOptions{RowsPerPart: 7})
	if err != nil {
		t.Fatal(err)
	}
	ms, hs, ls := fakeRun(t, rec, 0, 25, 5, 10)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	checkLogs(t, runDir, ms, hs, ls)
	if n := len(hs); n != 5*2*2 {
		t.Errorf("probe rows: got %d want 20", n)
	}

	// Metadata of every part of every log.
	common := map[string]string{
		MetaRunID: "run-a", MetaConfig: `{"model":{"d_model":64}}`, MetaVersion: "0.1.0", MetaMetricsVersion: MetricsVersion,
	}
	for _, kind := range []struct {
		dir   string
		extra map[string]string
	}{
		{MetricsDir, map[string]string{MetaKind: "metrics", MetaSinkEpsilon: "0.3", "source.sink_rate": HookPattern}},
		{ProbesDir, map[string]string{MetaKind: "probes", MetaFirstPosition: "bos", MetaCausal: "true", MetaNormalized: "true",
			MetaSinkHeadThreshold: "0.9", "source.entropy": HookPattern, "source.bos_value_norm_ratio": HookV}},
		{LayersDir, map[string]string{MetaKind: "layers", MetaFirstPosition: "bos", "source.resid_peak_ratio": HookResidPre,
			"source.massive_activation_ratio": HookResidPre}},
	} {
		parts, _ := parquetio.ListParts(filepath.Join(runDir, kind.dir))
		if len(parts) < 2 {
			t.Errorf("%s: got %d parts, want several (RowsPerPart 7, flush every 10 steps)", kind.dir, len(parts))
		}
		for _, p := range parts {
			_, meta, err := parquetio.ReadFile[struct{}](p)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range common {
				if meta[k] != v {
					t.Errorf("%s: %s = %q want %q", p, k, meta[k], v)
				}
			}
			for k, v := range kind.extra {
				if meta[k] != v {
					t.Errorf("%s: %s = %q want %q", p, k, meta[k], v)
				}
			}
		}
	}
}

func TestRecorderSinkTokenMetadata(t *testing.T) {
	runDir := t.TempDir()
	rec, err := NewRecorder(runDir, "r", "{}", "dev", &RecorderOptions{SinkEpsilon: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	c := syntheticCapture(2, 4, 1, 2, 2, 2, 3)
	c.SinkToken, c.Causal, c.Normalized = true, true, false
	if _, err := rec.WriteProbes(0, 0, c); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	_, metas := readLog[HeadRow](t, filepath.Join(runDir, ProbesDir))
	if len(metas) != 1 || metas[0][MetaFirstPosition] != "sink_token" || metas[0][MetaNormalized] != "false" || metas[0][MetaSinkEpsilon] != "0.5" {
		t.Errorf("metadata: got: %v", metas)
	}
}

func TestRecorderErrors(t *testing.T) {
	if _, err := NewRecorder(t.TempDir(), "r", "{}", "dev", &RecorderOptions{SinkEpsilon: 1.5}); err == nil {
		t.Errorf("epsilon 1.5: got: nil error")
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := NewRecorder(file, "r", "{}", "dev", nil); err == nil {
		t.Errorf("run folder is a file: got: nil error")
	}
	rec, err := NewRecorder(t.TempDir(), "r", "{}", "dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := syntheticCapture(1, 3, 1, 1, 2, 2, 1)
	c.Attn[0] = c.Attn[0][1:]
	if _, err := rec.WriteProbes(1, 1, c); err == nil {
		t.Errorf("invalid capture: got: nil error")
	}
	if _, err := rec.WriteProbes(1, 1, nil); err == nil {
		t.Errorf("nil capture: got: nil error")
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRecorderKilled: a run killed without Close keeps every flushed part, and
// the open parts are hidden from a *.parquet glob.
func TestRecorderKilled(t *testing.T) {
	runDir := t.TempDir()
	rec, err := NewRecorder(runDir, "run-a", "{}", "dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	ms, hs, ls := fakeRun(t, rec, 0, 10, 5, 10) // flushed at step 9
	fakeRun(t, rec, 10, 15, 5, 0)               // never flushed: "SIGKILL"
	for _, dir := range []string{MetricsDir, ProbesDir, LayersDir} {
		matches, _ := filepath.Glob(filepath.Join(runDir, dir, "*.parquet"))
		if len(matches) != 1 || filepath.Base(matches[0]) != parquetio.PartName(0) {
			t.Errorf("%s glob: got: %v want: only part 0", dir, matches)
		}
		hidden, _ := filepath.Glob(filepath.Join(runDir, dir, ".*.tmp"))
		if len(hidden) != 1 {
			t.Errorf("%s: got: %v want: one hidden open part", dir, hidden)
		}
	}
	checkLogs(t, runDir, ms, hs, ls)
}

func TestTruncateAfter(t *testing.T) {
	runDir := t.TempDir()
	rec, err := NewRecorder(runDir, "run-a", "{}", "dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	ms, hs, ls := fakeRun(t, rec, 0, 30, 4, 10) // parts hold steps 0–9, 10–19, 20–29
	fakeRun(t, rec, 30, 33, 4, 0)               // killed: temp files left behind
	const ckpt = 14
	if err := TruncateAfter(runDir, ckpt); err != nil {
		t.Fatal(err)
	}
	if err := TruncateAfter(runDir, ckpt); err != nil { // idempotent
		t.Fatal(err)
	}
	keep := func(s int64) bool { return s <= ckpt }
	ms = slices.DeleteFunc(ms, func(r MetricsRow) bool { return !keep(r.Step) })
	hs = slices.DeleteFunc(hs, func(r HeadRow) bool { return !keep(r.Step) })
	ls = slices.DeleteFunc(ls, func(r LayerRow) bool { return !keep(r.Step) })
	checkLogs(t, runDir, ms, hs, ls)
	for _, dir := range []string{MetricsDir, ProbesDir, LayersDir} {
		parts, _ := parquetio.ListParts(filepath.Join(runDir, dir))
		if len(parts) != 2 {
			t.Errorf("%s: got %d parts want 2 (the part after the checkpoint removed)", dir, len(parts))
		}
		if hidden, _ := filepath.Glob(filepath.Join(runDir, dir, ".*")); len(hidden) != 0 {
			t.Errorf("%s: temp files left: %v", dir, hidden)
		}
		_, metas := readLog[struct{}](t, filepath.Join(runDir, dir))
		for _, m := range metas {
			if m[MetaRunID] != "run-a" {
				t.Errorf("%s: metadata lost in the rewrite: %v", dir, m)
			}
		}
	}

	// Resume: the recorder appends after the kept parts and the logs read as
	// one uninterrupted run.
	rec, err = NewRecorder(runDir, "run-a", "{}", "dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	m2, h2, l2 := fakeRun(t, rec, ckpt+1, 20, 4, 0)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	checkLogs(t, runDir, append(ms, m2...), append(hs, h2...), append(ls, l2...))

	if err := TruncateAfter(filepath.Join(runDir, "missing"), 3); err != nil {
		t.Errorf("missing run folder: got: %v want: nil (nothing to truncate)", err)
	}
}

// TestRecorderDeterministic: the same run gives byte-identical files.
func TestRecorderDeterministic(t *testing.T) {
	var dirs []string
	for range 2 {
		d := t.TempDir()
		rec, err := NewRecorder(d, "run-a", `{"seed":1}`, "dev", nil)
		if err != nil {
			t.Fatal(err)
		}
		fakeRun(t, rec, 0, 12, 3, 5)
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, dir := range []string{MetricsDir, ProbesDir, LayersDir} {
		var names [2][]string
		for k := range dirs {
			parts, err := parquetio.ListParts(filepath.Join(dirs[k], dir))
			if err != nil {
				t.Fatalf("run %d: %s: %v", k, dir, err)
			}
			for _, p := range parts {
				names[k] = append(names[k], filepath.Base(p))
			}
		}
		// Comparing zero parts would prove nothing.
		if len(names[0]) == 0 {
			t.Fatalf("%s: the run wrote no parts", dir)
		}
		if !slices.Equal(names[0], names[1]) {
			t.Fatalf("%s: parts %v in one run, %v in the other", dir, names[0], names[1])
		}
		for _, name := range names[0] {
			a, err := os.ReadFile(filepath.Join(dirs[0], dir, name))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dirs[1], dir, name))
			if err != nil || len(a) == 0 || string(a) != string(b) {
				t.Errorf("%s/%s differs between identical runs or is empty (%d and %d bytes, %v)", dir, name, len(a), len(b), err)
			}
		}
	}
}

// TestSchemaGolden pins the Parquet schema and column encodings of the three
// logs; run with -update after an intended change (and bump MetricsVersion if
// a metric's meaning changed).
func TestSchemaGolden(t *testing.T) {
	var b strings.Builder
	for _, s := range []struct {
		name string
		row  any
	}{{"metrics", MetricsRow{}}, {"probes", HeadRow{}}, {"layers", LayerRow{}}, {"mixing", MixingRow{}}} {
		schema := parquet.SchemaOf(s.row)
		b.WriteString("# " + s.name + "\n" + schema.String() + "\n")
		for _, path := range schema.Columns() {
			leaf, _ := schema.Lookup(path...)
			enc := "PLAIN"
			if e := leaf.Node.Encoding(); e != nil {
				enc = e.String()
			}
			b.WriteString("#   " + strings.Join(path, ".") + ": " + enc + "\n")
		}
		b.WriteString("\n")
	}
	golden := filepath.Join("testdata", "schema.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestSchemaGolden -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("schema changed:\ngot:\n%s\nwant:\n%s", b.String(), want)
	}
}

// BenchmarkRecorderWriteProbesTiny measures a whole probe step of the tiny
// config: every metric plus appending the rows to the open Parquet parts.
func BenchmarkRecorderWriteProbesTiny(b *testing.B) {
	rec, err := NewRecorder(b.TempDir(), "bench", "{}", "dev", nil)
	if err != nil {
		b.Fatal(err)
	}
	c := syntheticCapture(16, 32, 2, 4, 16, 64, 1)
	b.ReportAllocs()
	step := int64(0)
	for b.Loop() {
		if _, err := rec.WriteProbes(step, step*512, c); err != nil {
			b.Fatal(err)
		}
		step += 50
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/probe-step")
	if err := rec.Close(); err != nil {
		b.Fatal(err)
	}
}
