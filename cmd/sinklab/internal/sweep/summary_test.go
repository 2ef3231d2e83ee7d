package sweep

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sinklab/sinklab/probes"
)

// writeRows writes rows as one Parquet part file.
func writeRows[T any](t *testing.T, path string, rows []T) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(path, rows, parquet.Compression(&parquet.Zstd)); err != nil {
		t.Fatal(err)
	}
}

// sweepRow is the part of a sweep.parquet row these tests read back.
type sweepRow struct {
	CellID      string   `parquet:"cell_id"`
	CellIndex   int32    `parquet:"cell_index"`
	Task        string   `parquet:"task"`
	Heads       string   `parquet:"model.n_heads"`
	Seed        int64    `parquet:"seed"`
	Status      string   `parquet:"status"`
	Error       *string  `parquet:"error,optional"`
	Step        *int64   `parquet:"step,optional"`
	FinalLoss   *float64 `parquet:"final_loss,optional"`
	ValLoss     *float64 `parquet:"val_loss,optional"`
	ValAccuracy *float64 `parquet:"val_accuracy,optional"`
	SinkRate    *float64 `parquet:"sink_rate,optional"`
	ProbeStep   *int64   `parquet:"probe_step,optional"`
	Probed      *int32   `parquet:"n_heads_probed,optional"`
	SinkHeads   *int32   `parquet:"n_sink_heads,optional"`
	Share       *float64 `parquet:"sink_head_share,optional"`
	Entropy     *float64 `parquet:"mean_entropy,optional"`
	FirstMass   *float64 `parquet:"mean_first_token_mass,optional"`
	BOSScore    *float64 `parquet:"mean_bos_sink_score,optional"`
}

func TestCollectAndWriteParquet(t *testing.T) {
	dir := t.TempDir()
	p := mustParse(t, smallGrid) // n_heads [1, 2] × seeds [1, 2]
	done, failed := p.Cells[0], p.Cells[1]
	cd := CellDir(dir, done)
	// Two metrics parts, out of order; evaluation and sink rate on some steps only.
	writeRows(t, filepath.Join(cd, "metrics", "part-00001.parquet"), []probes.MetricsRow{
		{RunID: done.ID, Step: 3, Tokens: 30, Loss: 1.5},
		{RunID: done.ID, Step: 4, Tokens: 40, Loss: 1.25, GroupLoss: map[string]float64{}},
	})
	writeRows(t, filepath.Join(cd, "metrics", "part-00000.parquet"), []probes.MetricsRow{
		{RunID: done.ID, Step: 0, Loss: 3, ValLoss: probes.Float(3.5), ValAccuracy: probes.Float(0.1), SinkRate: probes.Float(0)},
		{RunID: done.ID, Step: 2, Tokens: 20, Loss: 2, ValLoss: probes.Float(2.5), ValAccuracy: probes.Float(0.4), SinkRate: probes.Float(50)},
	})
	// A hidden temporary part must be ignored.
	writeRows(t, filepath.Join(cd, "metrics", ".part-00002.parquet.tmp"), []probes.MetricsRow{{RunID: done.ID, Step: 9, Loss: 99}})
	writeRows(t, filepath.Join(cd, "probes", "part-00000.parquet"), []probes.HeadRow{
		{RunID: done.ID, Step: 0, Layer: 0, Head: 0, Entropy: 9, FirstTokenMass: 0.9, BOSSinkScore: 0.95, IsSinkHead: true},
		{RunID: done.ID, Step: 4, Layer: 0, Head: 0, Entropy: 1, FirstTokenMass: 0.8, BOSSinkScore: 0.95, IsSinkHead: true},
		{RunID: done.ID, Step: 4, Layer: 0, Head: 1, Entropy: 2, FirstTokenMass: 0.2, BOSSinkScore: 0.3},
		{RunID: done.ID, Step: 4, Layer: 1, Head: 0, Entropy: math.NaN(), FirstTokenMass: 0.5, BOSSinkScore: math.NaN()},
	})
	start := time.Now().Add(-3 * time.Second)
	if err := MarkDone(dir, done, start); err != nil {
		t.Fatal(err)
	}
	if err := MarkFailed(dir, failed, start, errors.New("training diverged")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(CellDir(dir, p.Cells[2]), 0o755); err != nil { // incomplete; cell 3 missing
		t.Fatal(err)
	}

	rows, err := Collect(dir, p.Cells)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ParquetFile)
	if err := WriteParquet(path, p.Keys, rows, map[string]string{"sweep": "demo"}); err != nil {
		t.Fatal(err)
	}
	got, err := parquet.ReadFile[sweepRow](path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d rows, want 4", len(got))
	}
	wantStatus := []string{"done", "failed", "incomplete", "missing"}
	for i, r := range got {
		if r.Status != wantStatus[i] || r.CellID != p.Cells[i].ID || int(r.CellIndex) != i || r.Task != "induction" ||
			r.Heads != p.Cells[i].Params[0].Value || uint64(r.Seed) != p.Cells[i].Seed {
			t.Errorf("row %d: %+v", i, r)
		}
		if i > 0 && (r.FinalLoss != nil || r.SinkHeads != nil || r.ValLoss != nil) {
			t.Errorf("row %d (%s) has metrics", i, r.Status)
		}
	}
	d := got[0]
	eq := func(name string, p *float64, want float64) {
		t.Helper()
		if p == nil || math.Abs(*p-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", name, p, want)
		}
	}
	if d.Step == nil || *d.Step != 4 || d.ProbeStep == nil || *d.ProbeStep != 4 {
		t.Errorf("step %v probe step %v, want 4 and 4", d.Step, d.ProbeStep)
	}
	eq("final_loss", d.FinalLoss, 1.25) // last step, not the hidden part's 99
	eq("val_loss", d.ValLoss, 2.5)      // last non-null
	eq("val_accuracy", d.ValAccuracy, 0.4)
	eq("sink_rate", d.SinkRate, 50)
	if d.Probed == nil || *d.Probed != 3 || d.SinkHeads == nil || *d.SinkHeads != 1 {
		t.Errorf("heads probed %v sink heads %v, want 3 and 1", d.Probed, d.SinkHeads)
	}
	eq("sink_head_share", d.Share, 1.0/3)
	eq("mean_entropy", d.Entropy, 1.5) // NaN head skipped
	eq("mean_first_token_mass", d.FirstMass, 0.5)
	eq("mean_bos_sink_score", d.BOSScore, 0.625)
	if got[1].Error == nil || *got[1].Error != "training diverged" {
		t.Errorf("failed row error %v", got[1].Error)
	}

	// The file's metadata and compression.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := pf.Lookup("sweep"); !ok || v != "demo" {
		t.Errorf("metadata sweep = %q, %v", v, ok)
	}
	for _, col := range pf.Metadata().RowGroups[0].Columns {
		if c := col.MetaData.Codec.String(); c != "ZSTD" {
			t.Errorf("column %v: codec %s, want ZSTD", col.MetaData.PathInSchema, c)
		}
	}
	names := []string{}
	for _, c := range pf.Schema().Fields() {
		names = append(names, c.Name())
	}
	wantNames := []string{"cell_id", "cell_index", "task", "model.n_heads", "seed", "status"}
	for i, n := range wantNames {
		if names[i] != n {
			t.Fatalf("columns %v, want them to start with %v", names, wantNames)
		}
	}
	// No temporary file is left beside it.
	if left, _ := filepath.Glob(filepath.Join(dir, ".sweep.parquet*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestWriteParquetTaskGridKey(t *testing.T) {
	dir := t.TempDir()
	p := mustParse(t, "grid:\n  task: [copy, zipf]\n")
	rows, err := Collect(dir, p.Cells)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ParquetFile)
	if err := WriteParquet(path, p.Keys, rows, nil); err != nil {
		t.Fatal(err)
	}
	type taskRow struct {
		Task   string `parquet:"task"`
		Status string `parquet:"status"`
	}
	got, err := parquet.ReadFile[taskRow](path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Task != "zipf" || got[1].Status != "missing" {
		t.Fatalf("rows %+v", got)
	}
}
