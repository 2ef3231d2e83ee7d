package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sinklab/sinklab/probes"
	"github.com/sinklab/sinklab/transformer"
)

var (
	update    = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")
	regenRuns = flag.Bool("regen-runs", false, "retrain the fixed runs in testdata/runs first (then also pass -update)")
)

// The fixed runs: real runs made by trainTiny and theoryTiny, committed so
// that the golden files do not depend on the machine's floating point.
const (
	softmaxRun = "testdata/runs/softmax"
	sigmoidRun = "testdata/runs/sigmoid"
	theoryRun  = "testdata/runs/theory"
)

func fixedRuns(t *testing.T) {
	t.Helper()
	if !*regenRuns {
		return
	}
	if err := os.RemoveAll("testdata/runs"); err != nil {
		t.Fatal(err)
	}
	trainTiny(t, softmaxRun, "softmax", 40, nil)
	trainTiny(t, sigmoidRun, "sigmoid", 40, func(c *transformer.Config) { c.Model.Attention = "sigmoid" })
	theoryTiny(t, theoryRun, "theory", "logistic", map[string]string{"n": "4", "d": "4", "steps": "2000", "flow": "true"})
}

func mustGenerate(t *testing.T, dirs ...string) *Report {
	t.Helper()
	rep, err := Generate(dirs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func checkGolden(t *testing.T, name string, rep *Report) {
	t.Helper()
	got, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		t.Fatalf("encode chart data: %v", err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("%s: chart data differ at line %d:\n got: %s\nwant: %s\n(go test -update rewrites it)", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s: chart data differ in length: %d lines, want %d", path, len(gl), len(wl))
	}
}

// TestGoldenChartData pins the chart data (every series, table and heatmap,
// before drawing) of the fixed runs.
func TestGoldenChartData(t *testing.T) {
	fixedRuns(t)
	for _, tc := range []struct {
		name string
		dirs []string
	}{
		{"softmax", []string{softmaxRun}},
		{"theory", []string{theoryRun}},
		{"multi", []string{softmaxRun, sigmoidRun, theoryRun}},
	} {
		t.Run(tc.name, func(t *testing.T) { checkGolden(t, tc.name, mustGenerate(t, tc.dirs...)) })
	}
}

// readAll reads every part of a log with parquet-go directly.
func readAll[T any](t *testing.T, glob string) []T {
	t.Helper()
	paths, err := filepath.Glob(glob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no files for %s (%v)", glob, err)
	}
	slices.Sort(paths)
	var out []T
	for _, p := range paths {
		rows, err := parquet.ReadFile[T](p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
	}
	return out
}

func seriesByName(t *testing.T, c *Chart, name string) *Series {
	t.Helper()
	if c == nil {
		t.Fatalf("chart missing")
	}
	for _, s := range c.Series {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("chart %s has no series %q", c.ID, name)
	return nil
}

func checkXY(t *testing.T, what string, s *Series, x, y []float64) {
	t.Helper()
	if !slices.Equal(s.X, x) || !slices.Equal(s.Y, y) {
		t.Errorf("%s: drawn\n x=%v\n y=%v\nParquet\n x=%v\n y=%v", what, s.X, s.Y, x, y)
	}
}

func gridCell(t *testing.T, rep *Report, grid string, l, h int) *Chart {
	t.Helper()
	for _, s := range rep.Sections {
		for _, g := range s.Grids {
			if g.ID == grid {
				return g.Cells[l][h]
			}
		}
	}
	t.Fatalf("no grid %s", grid)
	return nil
}

// TestChartsMatchParquet checks what is drawn against the rows read straight
// from the Parquet files and the snapshot JSON.
func TestChartsMatchParquet(t *testing.T) {
	fixedRuns(t)
	rep := mustGenerate(t, softmaxRun)
	metrics := readAll[probes.MetricsRow](t, filepath.Join(softmaxRun, "metrics", "*.parquet"))
	heads := readAll[probes.HeadRow](t, filepath.Join(softmaxRun, "probes", "*.parquet"))
	layers := readAll[probes.LayerRow](t, filepath.Join(softmaxRun, "layers", "*.parquet"))

	var sx, ly, vx, vy []float64
	rates := map[int64]float64{}
	for _, m := range metrics {
		sx, ly = append(sx, float64(m.Step)), append(ly, m.Loss)
		if m.ValLoss != nil {
			vx, vy = append(vx, float64(m.Step)), append(vy, *m.ValLoss)
		}
		if m.SinkRate != nil {
			rates[m.Step] = *m.SinkRate
		}
	}
	loss := rep.Chart("loss")
	checkXY(t, "loss", seriesByName(t, loss, "train"), sx, ly)
	checkXY(t, "val loss", seriesByName(t, loss, "validation"), vx, vy)

	// Sink₁^ε is recomputed from the head rows: equal to the logged sink_rate
	sink := rep.Chart("sink-rate").Series[0]
	if len(rates) == 0 || sink.X[0] != 0 {
		t.Fatalf("sink rate: %d logged values, drawn from step %v", len(rates), sink.X)
	}
	for i, x := range sink.X {
		if r, ok := rates[int64(x)]; ok && r != sink.Y[i] {
			t.Errorf("Sink₁^ε at step %v: drawn %v, logged %v", x, sink.Y[i], r)
		}
	}
	for step := range rates {
		if !slices.Contains(sink.X, float64(step)) {
			t.Errorf("Sink₁^ε of step %d not drawn", step)
		}
	}

	var ex, ey, fy, sy []float64
	for _, h := range heads {
		if h.Layer == 1 && h.Head == 0 {
			ex, ey = append(ex, float64(h.Step)), append(ey, h.Entropy)
			fy, sy = append(fy, h.FirstTokenMass), append(sy, h.BOSSinkScore)
		}
	}
	checkXY(t, "entropy L1 H0", gridCell(t, rep, "grid-entropy", 1, 0).Series[0], ex, ey)
	checkXY(t, "α₁ L1 H0", gridCell(t, rep, "grid-first-token-mass", 1, 0).Series[0], ex, fy)
	checkXY(t, "sink score L1 H0", gridCell(t, rep, "grid-sink-score", 1, 0).Series[0], ex, sy)

	var rx, ry, mx []float64
	for _, l := range layers {
		if l.Layer == 1 {
			rx, ry, mx = append(rx, float64(l.Step)), append(ry, l.ResidPeakRatio), append(mx, l.MassiveActivationRatio)
		}
	}
	checkXY(t, "resid peak layer 1", seriesByName(t, rep.Chart("resid-peak"), "layer 1"), rx, ry)
	checkXY(t, "massive activation layer 1", seriesByName(t, rep.Chart("massive-activation"), "layer 1"), rx, mx)
	// value norm: mean over the heads of layer 0 at each step
	var nx, ny []float64
	for k := 0; k < len(heads); k++ {
		h := heads[k]
		if h.Layer != 0 || h.Head != 0 {
			continue
		}
		sum, n := 0.0, 0
		for _, o := range heads {
			if o.Step == h.Step && o.Layer == 0 {
				sum += o.BOSValueNormRatio
				n++
			}
		}
		nx, ny = append(nx, float64(h.Step)), append(ny, sum/float64(n))
	}
	vn := seriesByName(t, rep.Chart("value-norm"), "layer 0")
	if !slices.Equal(vn.X, nx) {
		t.Errorf("value norm steps %v, want %v", vn.X, nx)
	}
	for i := range ny {
		if math.Abs(vn.Y[i]-ny[i]) > 1e-12*math.Abs(ny[i]) {
			t.Errorf("value norm at step %v: drawn %v, mean of rows %v", nx[i], vn.Y[i], ny[i])
		}
	}

	// summary numbers from every row
	last := metrics[len(metrics)-1]
	tab := rep.Section("summary").Tables[0]
	cell := func(metric string) string {
		for _, r := range tab.Rows {
			if r[0] == metric {
				return r[1]
			}
		}
		t.Fatalf("summary has no %q", metric)
		return ""
	}
	if got, want := cell("final loss"), fmtNum(last.Loss); got != want {
		t.Errorf("final loss %s, want %s", got, want)
	}
	lastStep := heads[len(heads)-1].Step
	sinkHeads, nHeads := 0, 0
	for _, h := range heads {
		if h.Step == lastStep {
			nHeads++
			if h.IsSinkHead {
				sinkHeads++
			}
		}
	}
	if got, want := cell("sink heads"), fmt.Sprintf("%d / %d", sinkHeads, nHeads); got != want {
		t.Errorf("sink heads %s, want %s", got, want)
	}

	// heatmaps: the first, a middle and the last snapshot, values as stored
	steps, err := ListAttnSnapshots(softmaxRun)
	if err != nil || len(steps) < 3 {
		t.Fatalf("snapshots %v (%v)", steps, err)
	}
	att := rep.Section("attention")
	if len(att.Heatmaps) != 3 || att.Heatmaps[0].Step != steps[0] || att.Heatmaps[2].Step != steps[len(steps)-1] {
		t.Fatalf("heatmap groups at the wrong steps (snapshots %v)", steps)
	}
	raw, err := os.ReadFile(AttnSnapshotPath(softmaxRun, steps[len(steps)-1]))
	if err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Tokens []int32         `json:"tokens"`
		Attn   [][][][]float32 `json:"attn"`
	}
	if err := json.Unmarshal(raw, &snap); err != nil {
		t.Fatal(err)
	}
	hm := att.Heatmaps[2].Maps[1][1]
	for i := range snap.Attn[1][1] {
		if !slices.Equal(hm.Values[i], snap.Attn[1][1][i]) {
			t.Fatalf("heatmap row %d: %v, file %v", i, hm.Values[i], snap.Attn[1][1][i])
		}
		if hm.Labels[i] != fmt.Sprint(snap.Tokens[i]) {
			t.Errorf("label %d = %q, token %d", i, hm.Labels[i], snap.Tokens[i])
		}
		// softmax, causal: a row is a distribution over keys ≤ i (4 digits each)
		sum := 0.0
		for j, v := range hm.Values[i] {
			if j > i && v != 0 {
				t.Errorf("row %d puts %v on future key %d", i, v, j)
			}
			sum += float64(v)
		}
		if math.Abs(sum-1) > 1e-3 {
			t.Errorf("row %d sums to %v", i, sum)
		}
	}
}

func TestTheoryChartsMatchParquet(t *testing.T) {
	fixedRuns(t)
	rep := mustGenerate(t, theoryRun)
	rows, err := parquet.ReadFile[probes.TheoryRow](filepath.Join(theoryRun, probes.TheoryFile))
	if err != nil {
		t.Fatal(err)
	}
	v := rows[0].Variant
	vid := "theory-" + sanitizeID(v)
	var x, w2, u3, ent, flow []float64
	for _, r := range rows {
		if r.Step == 0 { // not on a log step axis
			continue
		}
		x = append(x, float64(r.Step))
		w2, u3, ent = append(w2, r.Weights[1]), append(u3, r.U[2]), append(ent, r.Entropy)
		flow = append(flow, *r.FlowEntropy)
	}
	checkXY(t, "σ₂", seriesByName(t, rep.Chart(vid+"-weights"), "σ₂"), x, w2)
	checkXY(t, "u₃", seriesByName(t, rep.Chart(vid+"-u"), "u₃"), x, u3)
	checkXY(t, "entropy", seriesByName(t, rep.Chart(vid+"-entropy"), "gradient descent"), x, ent)
	checkXY(t, "flow entropy", seriesByName(t, rep.Chart(vid+"-entropy"), "gradient flow"), x, flow)
	if d := rep.Chart(vid + "-weights").Dropped; d != 4 { // step 0 of each of the 4 components
		t.Errorf("weights chart dropped %d points, want 4", d)
	}
	tab := rep.Section("summary").Tables[0]
	last := rows[len(rows)-1]
	if got, want := tab.Rows[0][6], fmt.Sprintf("%.2e", last.ConservedDrift); got != want {
		t.Errorf("drift %s, want %s", got, want)
	}
	if tab.Rows[0][0] != v || tab.Rows[0][1] != fmt.Sprint(last.Step) {
		t.Errorf("drift table row %v", tab.Rows[0])
	}
}

// TestMultiRunOverlay: several runs share each chart, one colour per run,
// and the summary puts them side by side.
func TestMultiRunOverlay(t *testing.T) {
	fixedRuns(t)
	rep := mustGenerate(t, softmaxRun, sigmoidRun, theoryRun)
	loss := rep.Chart("loss")
	if len(loss.Series) != 4 {
		t.Fatalf("loss chart has %d series, want train and validation of 2 runs", len(loss.Series))
	}
	for _, s := range loss.Series {
		if s.Color != s.Run {
			t.Errorf("series %q of run %d has colour %d", s.Name, s.Run, s.Color)
		}
	}
	if s := seriesByName(t, loss, "sigmoid validation"); s.Dash == 0 || s.Run != 1 {
		t.Errorf("sigmoid validation: run %d dash %d", s.Run, s.Dash)
	}
	c := gridCell(t, rep, "grid-sink-score", 0, 1)
	if len(c.Series) != 2 || c.Series[0].Name != "softmax" || c.Series[1].Name != "sigmoid" {
		t.Errorf("grid cell series %v", c.Series)
	}
	tab := rep.Section("summary").Tables[0]
	if !slices.Equal(tab.Columns, []string{"metric", "softmax", "sigmoid"}) {
		t.Errorf("summary columns %v", tab.Columns)
	}
	if tab.Rows[1][1] != "softmax" || tab.Rows[1][2] != "sigmoid" {
		t.Errorf("attention row %v", tab.Rows[1])
	}
	if len(rep.Section("summary").Tables) != 2 {
		t.Errorf("want a training and a theory table")
	}
	if len(rep.Section("attention").Heatmaps) != 6 {
		t.Errorf("%d heatmap groups, want 3 per training run", len(rep.Section("attention").Heatmaps))
	}
}

// writeLog writes rows as one part file of a log.
func writeLog[T any](t testing.TB, dir, kind string, rows []T) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	err := parquet.WriteFile(filepath.Join(dir, "part-00000.parquet"), rows, parquet.KeyValueMetadata(probes.MetaKind, kind))
	if err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrors(t *testing.T) {
	fixedRuns(t)
	write := func(t *testing.T, path, content string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string) string // returns the folder to load
		wantIn string
	}{
		{"missing folder", func(t *testing.T, dir string) string { return filepath.Join(dir, "nope") }, "no such folder"},
		{"a file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "f.txt")
			write(t, p, "x")
			return p
		}, "not a folder"},
		{"empty folder", func(t *testing.T, dir string) string { return dir }, "not a sinklab run folder"},
		{"bad config.json", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "config.json"), "{")
			return dir
		}, "config.json is not valid JSON"},
		{"other command", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "config.json"), `{"command":"sweep"}`)
			return dir
		}, `from "sweep"`},
		{"train without logs", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "config.json"), `{"command":"train","run_id":"x"}`)
			return dir
		}, "metrics/ has no part files"},
		{"theory without theory.parquet", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "config.json"), `{"command":"theory","run_id":"x"}`)
			return dir
		}, "without theory.parquet"},
		{"garbage part", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "config.json"), `{"command":"train","run_id":"x"}`)
			write(t, filepath.Join(dir, "metrics", "part-00000.parquet"), "not parquet at all")
			return dir
		}, "metrics/part-00000.parquet is not a readable Parquet log"},
		{"wrong log kind", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "config.json"), `{"command":"train","run_id":"x"}`)
			writeLog(t, filepath.Join(dir, "metrics"), "probes", []probes.HeadRow{{Step: 1}})
			return dir
		}, `holds a "probes" log`},
		{"empty metrics", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "config.json"), `{"command":"train","run_id":"x"}`)
			writeLog(t, filepath.Join(dir, "metrics"), "metrics", []probes.MetricsRow{})
			return dir
		}, "metrics/ has no rows"},
		{"corrupt theory.parquet", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, probes.TheoryFile), "PAR1 nonsense")
			return dir
		}, "theory.parquet is not readable"},
		{"corrupt snapshot", func(t *testing.T, dir string) string {
			copyDir(t, softmaxRun, dir)
			write(t, AttnSnapshotPath(dir, 0), `{"format":"sinklab.attn","version":1,"t":2,"attn":[[[[1]]]]}`)
			return dir
		}, "layer 0 head 0: 1 rows, want 2"},
		{"snapshot of a newer format", func(t *testing.T, dir string) string {
			copyDir(t, softmaxRun, dir)
			write(t, AttnSnapshotPath(dir, 0), `{"format":"sinklab.attn","version":2}`)
			return dir
		}, "this sinklab reads version 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.setup(t, t.TempDir())
			_, err := Load(dir)
			var re *RunError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T), want a *RunError", err, err)
			}
			if !strings.Contains(err.Error(), tc.wantIn) || !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q: want it to name %s and say %q", err, dir, tc.wantIn)
			}
		})
	}
}

// TestLoadWithoutConfig: logs alone are enough; the config comes from their
// metadata, as sinklab train writes it there too.
func TestLoadWithoutConfig(t *testing.T) {
	fixedRuns(t)
	dir := t.TempDir()
	copyDir(t, softmaxRun, dir)
	if err := os.Remove(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "softmax" || r.Kind != KindTrain || cfgValue(r.Config, "model.attention") != "softmax" {
		t.Errorf("run %q kind %q attention %q", r.ID, r.Kind, cfgValue(r.Config, "model.attention"))
	}
	if err := os.RemoveAll(filepath.Join(dir, AttnDir)); err != nil {
		t.Fatal(err)
	}
	rep := mustGenerate(t, dir)
	att := rep.Section("attention")
	if len(att.Heatmaps) != 0 || len(att.Notes) != 1 || !strings.Contains(att.Notes[0], "no attention snapshots") {
		t.Errorf("without snapshots the section should say so: %+v", att)
	}
}
