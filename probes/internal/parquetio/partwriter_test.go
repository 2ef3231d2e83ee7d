package parquetio

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"
)

type testRow struct {
	Run   string             `parquet:"run,dict"`
	Step  int64              `parquet:"step,delta"`
	Value float64            `parquet:"value"`
	Opt   *float64           `parquet:"opt,optional"`
	Group map[string]float64 `parquet:"group"`
}

func rows(from, n int) []testRow {
	out := make([]testRow, n)
	for i := range out {
		s := from + i
		out[i] = testRow{Run: "r", Step: int64(s), Value: float64(s) / 4}
		if s%2 == 0 {
			v := float64(-s)
			out[i].Opt = &v
			out[i].Group = map[string]float64{"b": float64(s), "a": 1, "c": 0.5}
		}
	}
	return out
}

// readDir reads every finished part of dir in order.
func readDir(t *testing.T, dir string) ([]testRow, []map[string]string) {
	t.Helper()
	parts, err := ListParts(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all []testRow
	var metas []map[string]string
	for _, p := range parts {
		r, m, err := ReadFile[testRow](p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r...)
		metas = append(metas, m)
	}
	return all, metas
}

func equalRows(a, b []testRow) bool {
	return slices.EqualFunc(a, b, func(x, y testRow) bool {
		if x.Run != y.Run || x.Step != y.Step || x.Value != y.Value || (x.Opt == nil) != (y.Opt == nil) {
			return false
		}
		if x.Opt != nil && *x.Opt != *y.Opt {
			return false
		}
		if len(x.Group) != len(y.Group) {
			return false
		}
		for k, v := range x.Group {
			if w, ok := y.Group[k]; !ok || w != v {
				return false
			}
		}
		return true
	})
}

func TestPartWriterRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	w, err := NewPartWriter[testRow](dir, Options{RowsPerPart: 4, Metadata: map[string]string{"run_id": "r", "k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	want := rows(0, 10)
	for i := 0; i < 7; i++ { // one row at a time: parts end after 4 rows
		if err := w.Write(want[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	w.SetMetadata("late", "yes")      // applies to the part in progress and later ones
	if err := w.Flush(); err != nil { // ends the 3-row part early
		t.Fatal(err)
	}
	if err := w.Write(want[7:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(want[:1]); err == nil {
		t.Errorf("write after close: got: nil error")
	}
	parts, _ := ListParts(dir)
	if got := len(parts); got != 3 {
		t.Errorf("parts: got: %d want: 3 (4 rows, 3 rows at Flush, 3 rows at Close)", got)
	}
	got, metas := readDir(t, dir)
	if !equalRows(got, want) {
		t.Errorf("rows: got: %+v want: %+v", got, want)
	}
	for i, m := range metas {
		if m["run_id"] != "r" || m["k"] != "v" {
			t.Errorf("part %d metadata: got: %v", i, m)
		}
		if _, ok := m["late"]; ok != (i >= 1) {
			t.Errorf("part %d: late key present %v want %v", i, ok, i >= 1)
		}
	}
}

func TestPartWriterRowGroupsBySize(t *testing.T) {
	dir := t.TempDir()
	w, err := NewPartWriter[testRow](dir, Options{RowGroupBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i += 20 {
		if err := w.Write(rows(i, 20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, PartName(0)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pf.RowGroups()); n < 2 {
		t.Errorf("row groups: got: %d want: several (flushed by size)", n)
	}
	if pf.NumRows() != 200 {
		t.Errorf("rows: got: %d want: 200", pf.NumRows())
	}
	for _, c := range pf.Metadata().RowGroups[0].Columns {
		if c.MetaData.Codec.String() != "ZSTD" {
			t.Errorf("column %v codec: got: %v want: ZSTD", c.MetaData.PathInSchema, c.MetaData.Codec)
		}
	}
}

// TestPartWriterKilled simulates a process killed while a part is open: the
// finished parts read back, the open part is a hidden temp file that a
// *.parquet glob does not match, and the next writer removes it and appends.
func TestPartWriterKilled(t *testing.T) {
	dir := t.TempDir()
	w, err := NewPartWriter[testRow](dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rows(0, 5)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rows(5, 5)); err != nil { // never flushed nor closed
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if want := []string{filepath.Join(dir, PartName(0))}; !slices.Equal(matches, want) {
		t.Errorf("glob: got: %v want: %v", matches, want)
	}
	tmp := filepath.Join(dir, tempName(PartName(1)))
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("open part should exist as %s: %v", tmp, err)
	}
	if got, _ := readDir(t, dir); !equalRows(got, rows(0, 5)) {
		t.Errorf("finished rows: got: %+v", got)
	}

	// "Restart": a new writer cleans up and continues numbering.
	w2, err := NewPartWriter[testRow](dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("stale temp not removed: %v", err)
	}
	if err := w2.Write(rows(5, 3)); err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	parts, _ := ListParts(dir)
	if want := []string{filepath.Join(dir, PartName(0)), filepath.Join(dir, PartName(1))}; !slices.Equal(parts, want) {
		t.Errorf("parts: got: %v want: %v", parts, want)
	}
	if got, _ := readDir(t, dir); !equalRows(got, rows(0, 8)) {
		t.Errorf("rows after restart: got: %+v", got)
	}
}

func TestPartWriterDeterministic(t *testing.T) {
	var files [][]byte
	for range 3 {
		dir := t.TempDir()
		w, err := NewPartWriter[testRow](dir, Options{Metadata: map[string]string{"b": "2", "a": "1", "c": "3"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(rows(0, 50)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, PartName(0)))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	for i := 1; i < len(files); i++ {
		if !bytes.Equal(files[0], files[i]) {
			t.Errorf("file %d differs from file 0: same rows must give the same bytes", i)
		}
	}
}

func TestListPartsOrder(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"part-00010.parquet", "part-00002.parquet", "part-100000.parquet", "other.parquet", ".part-00003.parquet.tmp", "part-x.parquet"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ListParts(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, filepath.Base(p))
	}
	if want := []string{"part-00002.parquet", "part-00010.parquet", "part-100000.parquet"}; !slices.Equal(names, want) {
		t.Errorf("got: %v want: %v", names, want)
	}
	if err := RemoveTemps(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".part-00003.parquet.tmp")); !os.IsNotExist(err) {
		t.Errorf("temp not removed")
	}
	if parts, err := ListParts(filepath.Join(dir, "missing")); err != nil || parts != nil {
		t.Errorf("missing folder: got: %v, %v want: nil, nil", parts, err)
	}
}

func TestFilter(t *testing.T) {
	dir := t.TempDir()
	w, err := NewPartWriter[testRow](dir, Options{Metadata: map[string]string{"run_id": "r"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rows(0, 10)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, PartName(0))
	before, _ := os.ReadFile(path)

	kept, total, err := Filter(path, func(r *testRow) bool { return true })
	if err != nil || kept != 10 || total != 10 {
		t.Fatalf("keep all: got: %d/%d, %v", kept, total, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("keep all rewrote the file")
	}

	kept, total, err = Filter(path, func(r *testRow) bool { return r.Step <= 3 })
	if err != nil || kept != 4 || total != 10 {
		t.Fatalf("keep 4: got: %d/%d, %v", kept, total, err)
	}
	got, meta, err := ReadFile[testRow](path)
	if err != nil {
		t.Fatal(err)
	}
	if !equalRows(got, rows(0, 4)) || meta["run_id"] != "r" {
		t.Errorf("after filter: got: %+v, %v", got, meta)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*")); len(m) != 0 {
		t.Errorf("temp files left: %v", m)
	}

	if kept, _, err = Filter(path, func(r *testRow) bool { return false }); err != nil || kept != 0 {
		t.Fatalf("keep none: %d, %v", kept, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("empty file not removed")
	}
}

func TestReadFileCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.parquet")
	if err := os.WriteFile(path, []byte("PAR1 not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadFile[testRow](path); err == nil {
		t.Errorf("got: nil error for a corrupt file")
	}
	if _, _, err := Filter(path, func(*testRow) bool { return true }); err == nil {
		t.Errorf("filter: got: nil error for a corrupt file")
	}
}

// TestWriteFile writes a whole file, replaces it, and leaves no temporary
// file behind; a write into a missing folder fails without creating path.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "whole.parquet")
	for _, n := range []int{5, 2} { // the second write replaces the first
		rows := make([]testRow, n)
		for i := range rows {
			rows[i] = testRow{Step: int64(i)}
		}
		if err := WriteFile(path, rows, map[string]string{"kind": "whole", "n": string(rune('0' + n))}); err != nil {
			t.Fatal(err)
		}
		got, meta, err := ReadFile[testRow](path)
		if err != nil {
			t.Fatal(err)
		}
		same := len(got) == len(rows)
		for i := 0; same && i < len(got); i++ {
			same = got[i].Step == rows[i].Step
		}
		if !same || meta["kind"] != "whole" || meta["n"] != string(rune('0'+n)) {
			t.Errorf("n=%d: got %+v %v", n, got, meta)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries, want the file only", len(entries))
	}
	missing := filepath.Join(dir, "nope", "whole.parquet")
	if err := WriteFile(missing, []testRow{{}}, nil); err == nil {
		t.Error("write into a missing folder: no error")
	}
}
