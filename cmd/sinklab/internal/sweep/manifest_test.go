package sweep

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, file string) *Plan {
	t.Helper()
	p, err := Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const smallGrid = "base:\n  train.steps: 3\ngrid:\n  model.n_heads: [1, 2]\nseeds: [1, 2]\n"

func TestPrepareWritesManifestAndDetectsConflicts(t *testing.T) {
	dir := t.TempDir()
	p := mustParse(t, smallGrid)
	prep, err := Prepare(dir, p, "grid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Cells) != 4 || !slices.Equal(m.Keys, []string{"model.n_heads"}) || !filepath.IsAbs(m.SweepFile) ||
		m.Cells[3].ID != p.Cells[3].ID || !slices.Equal(m.Cells[3].Sets, p.Cells[3].Sets) {
		t.Fatalf("manifest %+v", m)
	}
	if prep.Manifest.Cells[2].ID != m.Cells[2].ID {
		t.Fatal("Prepare's manifest differs from the file")
	}
	if st, err := os.Stat(filepath.Join(dir, LogsDir)); err != nil || !st.IsDir() {
		t.Fatalf("no logs folder: %v", err)
	}
	// The same plan again, and a plan that adds a seed, are fine.
	if _, err := Prepare(dir, p, "grid.yaml"); err != nil {
		t.Fatalf("same plan: %v", err)
	}
	bigger := mustParse(t, "base:\n  train.steps: 3\ngrid:\n  model.n_heads: [1, 2]\nseeds: [1, 2, 3]\n")
	if _, err := Prepare(dir, bigger, "grid.yaml"); err != nil {
		t.Fatalf("added seed: %v", err)
	}
	// Dropping cells is allowed and reported.
	prep, err = Prepare(dir, p, "grid.yaml")
	if err != nil || len(prep.Dropped) != 2 || !strings.HasSuffix(prep.Dropped[0], "seed-3") {
		t.Fatalf("dropped %v, err %v", prep.Dropped, err)
	}
	// A changed base value gives existing ids another config.
	changed := mustParse(t, "base:\n  train.steps: 4\ngrid:\n  model.n_heads: [1, 2]\nseeds: [1, 2]\n")
	_, err = Prepare(dir, changed, "grid.yaml")
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "train.steps=3 → 4") {
		t.Fatalf("changed base: %v", err)
	}
	// Removing a base key is a change too.
	fewer := mustParse(t, "grid:\n  model.n_heads: [1, 2]\nseeds: [1, 2]\n")
	if _, err := Prepare(dir, fewer, "grid.yaml"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "(unset)") {
		t.Fatalf("removed base key: %v", err)
	}
}

func TestPrepareChecksDoneMarkers(t *testing.T) {
	// Without a manifest (deleted), a done cell's marker still guards its id.
	dir := t.TempDir()
	p := mustParse(t, smallGrid)
	if err := os.MkdirAll(CellDir(dir, p.Cells[0]), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := MarkDone(dir, p.Cells[0], time.Now()); err != nil {
		t.Fatal(err)
	}
	changed := mustParse(t, "base:\n  train.steps: 5\ngrid:\n  model.n_heads: [1, 2]\nseeds: [1, 2]\n")
	_, err := Prepare(dir, changed, "g.yaml")
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), DoneFile) {
		t.Fatalf("want a conflict naming done.json, got %v", err)
	}
	if _, err := Prepare(dir, p, "g.yaml"); err != nil {
		t.Fatalf("matching plan: %v", err)
	}
}

func TestCellStates(t *testing.T) {
	dir := t.TempDir()
	p := mustParse(t, smallGrid)
	c := p.Cells[1]
	check := func(want State) *Marker {
		t.Helper()
		st, mk := StateOf(dir, c)
		if st != want {
			t.Fatalf("state %s, want %s", st, want)
		}
		return mk
	}
	check(StateMissing)
	if err := os.MkdirAll(filepath.Join(CellDir(dir, c), "metrics"), 0o755); err != nil {
		t.Fatal(err)
	}
	check(StateIncomplete)
	start := time.Now().Add(-2 * time.Second)
	if err := MarkFailed(dir, c, start, errors.New("boom")); err != nil {
		t.Fatal(err)
	}
	if mk := check(StateFailed); mk.Error != "boom" || mk.Seconds < 1.9 || mk.ID != c.ID || !slices.Equal(mk.Sets, c.Sets) {
		t.Fatalf("failed marker %+v", mk)
	}
	if err := ResetCell(dir, c); err != nil {
		t.Fatal(err)
	}
	check(StateMissing)
	// MarkFailed creates the folder when the run failed before making it.
	if err := MarkFailed(dir, c, start, errors.New("early")); err != nil {
		t.Fatal(err)
	}
	check(StateFailed)
	if err := MarkDone(dir, c, start); err != nil {
		t.Fatal(err)
	}
	check(StateDone) // done.json wins over a stale failed.json
}

func TestManifestCellAndBadManifests(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadManifest(dir); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing manifest: %v", err)
	}
	p := mustParse(t, smallGrid)
	prep, err := Prepare(dir, p, "g.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := prep.Manifest.Cell(3); err != nil || c.ID != p.Cells[3].ID {
		t.Fatalf("Cell(3): %v %v", c, err)
	}
	for _, i := range []int{-1, 4} {
		if _, err := prep.Manifest.Cell(i); err == nil || !strings.Contains(err.Error(), "0 to 3") {
			t.Fatalf("Cell(%d): %v", i, err)
		}
	}
	for name, content := range map[string]string{
		"not json":       "{",
		"other format":   `{"format":"x","version":1}`,
		"escaping id":    `{"format":"sinklab-sweep","version":1,"cells":[{"index":0,"id":"../x"}]}`,
		"logs folder id": `{"format":"sinklab-sweep","version":1,"cells":[{"index":0,"id":"logs"}]}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadManifest(dir); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir); err == nil || !strings.Contains(err.Error(), "another sweep") {
		t.Fatalf("second lock: %v", err)
	}
	release()
	again, err := Lock(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}
