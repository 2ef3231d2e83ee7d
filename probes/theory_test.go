package probes

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

func theoryRows(n int) []TheoryRow {
	f := func(v float64) *float64 { return &v }
	rows := make([]TheoryRow, n)
	for i := range rows {
		r := TheoryRow{RunID: "r1", Experiment: "logistic", Variant: "logistic/softmax", Step: int64(i * i),
			Time: 0.1 * float64(i*i), Loss: 1 / float64(i+1), Entropy: math.Log(8) - 0.01*float64(i), MaxWeight: 0.125,
			Argmax: int32(i % 8), SumA: 1e-17 * float64(i), ConservedDrift: 1e-16, SumAlpha: 1,
			Weights: []float64{0.5, 0.25, 0.25}}
		switch i % 3 {
		case 0:
			r.U = []float64{1, 2, 3}
			r.FlowEntropy, r.FlowMaxWeight = f(0.7), f(0.6)
		case 1:
			r.SelColNorm, r.OtherColNorm = f(3), f(1)
			r.Weights = []float64{math.NaN(), 1}
		}
		rows[i] = r
	}
	return rows
}

func TestTheoryWriterRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, TheoryFile)
	meta := map[string]string{"run_id": "r1", "config": `{"n":8}`, "kind": "theory"}
	w, err := NewTheoryWriter(path, meta, 2048) // small row groups
	if err != nil {
		t.Fatal(err)
	}
	rows := theoryRows(300)
	for i := 0; i < len(rows); i += 7 {
		if err := w.Write(rows[i:min(i+7, len(rows))]...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("%s exists before Close (err %v)", path, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Rows() != 300 {
		t.Errorf("Rows() = %d", w.Rows())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != TheoryFile {
		t.Errorf("folder holds %v, want only %s", entries, TheoryFile)
	}
	got, gotMeta, err := ReadTheory(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rows) {
		t.Fatalf("%d rows, want %d", len(got), len(rows))
	}
	for i := range rows {
		a, b := got[i], rows[i]
		// NaN ≠ NaN: compare weights bitwise
		if !slices.EqualFunc(a.Weights, b.Weights, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }) {
			t.Fatalf("row %d weights: got %v want %v", i, a.Weights, b.Weights)
		}
		a.Weights, b.Weights = nil, nil
		if len(b.U) == 0 {
			b.U = nil
		}
		if len(a.U) == 0 {
			a.U = nil
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("row %d:\ngot:  %+v\nwant: %+v", i, a, b)
		}
	}
	for k, v := range meta {
		if gotMeta[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, gotMeta[k], v)
		}
	}
	// several zstd row groups, and the documented columns
	f, _ := os.Open(path)
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pf.RowGroups()); n < 2 {
		t.Errorf("%d row groups: flushing by size did not happen", n)
	}
	for _, rg := range pf.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Zstd {
				t.Fatalf("column %v: codec %v, want zstd", c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
	var cols []string
	for _, c := range pf.Schema().Fields() {
		cols = append(cols, c.Name())
	}
	want := []string{"run_id", "experiment", "variant", "step", "time", "loss", "entropy", "max_weight", "argmax",
		"sum_a", "conserved_drift", "sum_alpha", "weights", "u", "flow_entropy", "flow_max_weight", "sel_col_norm", "other_col_norm"}
	if !slices.Equal(cols, want) {
		t.Errorf("columns\ngot:  %v\nwant: %v", cols, want)
	}
	for _, name := range []string{"flow_entropy", "flow_max_weight", "sel_col_norm", "other_col_norm"} {
		if leaf, ok := pf.Schema().Lookup(name); !ok || !leaf.Node.Optional() {
			t.Errorf("%s is not optional", name)
		}
	}
}

func TestTheoryWriterAbort(t *testing.T) {
	dir := t.TempDir()
	w, err := NewTheoryWriter(filepath.Join(dir, TheoryFile), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(theoryRows(3)...); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("folder holds %v after Abort", entries)
	}
	if err := w.Close(); err == nil {
		t.Error("Close after Abort: want an error")
	}
}

func TestTheoryWriterMissingFolder(t *testing.T) {
	if _, err := NewTheoryWriter(filepath.Join(t.TempDir(), "nope", TheoryFile), nil, 0); err == nil {
		t.Error("want an error for a missing folder")
	}
	if _, _, err := ReadTheory(filepath.Join(t.TempDir(), TheoryFile)); err == nil {
		t.Error("ReadTheory of a missing file: want an error")
	}
}
