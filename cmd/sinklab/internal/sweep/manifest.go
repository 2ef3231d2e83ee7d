package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sinklab/sinklab/checkpoints/atomicfile"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Names of the files a sweep keeps in its folder and in every cell folder.
const (
	ManifestFile = "sweep.json"    // DIR/sweep.json
	ParquetFile  = "sweep.parquet" // DIR/sweep.parquet
	ScriptFile   = "sweep.sbatch"  // DIR/sweep.sbatch
	JobsFile     = "slurm.json"    // DIR/slurm.json
	LogsDir      = "logs"          // DIR/logs/
	DoneFile     = "done.json"     // DIR/<cell>/done.json, written last by a finished cell
	FailedFile   = "failed.json"   // DIR/<cell>/failed.json, written by a failed cell
)

const (
	manifestFormat  = "sinklab-sweep"
	manifestVersion = 1
)

// ErrConflict is returned (wrapped) when a sweep would reuse a cell id of its
// folder for another configuration.
var ErrConflict = errors.New("sweep: a cell id of this folder would get another config")

// Manifest is the content of DIR/sweep.json: what every cell of the sweep
// runs. `sinklab sweep run-cell DIR --index i` reads cell i from it.
type Manifest struct {
	Format    string   `json:"format"`  // "sinklab-sweep"
	Version   int      `json:"version"` // 1
	Name      string   `json:"name"`
	SweepFile string   `json:"sweep_file"` // absolute path of the sweep file
	Keys      []string `json:"keys"`       // grid keys, in order
	Updated   string   `json:"updated"`    // RFC 3339, UTC
	Cells     []Cell   `json:"cells"`
}

// Cell returns the cell with the given index.
func (m *Manifest) Cell(index int) (Cell, error) {
	if index < 0 || index >= len(m.Cells) {
		return Cell{}, fmt.Errorf("sweep: no cell %d (the sweep has cells 0 to %d)", index, len(m.Cells)-1)
	}
	c := m.Cells[index]
	if c.Index != index {
		return Cell{}, fmt.Errorf("sweep: %s: cell at position %d has index %d", ManifestFile, index, c.Index)
	}
	return c, nil
}

// ReadManifest reads DIR/sweep.json. A missing file is an error that
// errors.Is(err, fs.ErrNotExist) recognises.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("sweep: %s: %w", filepath.Join(dir, ManifestFile), err)
	}
	if m.Format != manifestFormat || m.Version != manifestVersion {
		return nil, fmt.Errorf("sweep: %s: format %q version %d, want %q version %d",
			filepath.Join(dir, ManifestFile), m.Format, m.Version, manifestFormat, manifestVersion)
	}
	for _, c := range m.Cells {
		if err := checkID(c.ID); err != nil {
			return nil, fmt.Errorf("sweep: %s: %w", filepath.Join(dir, ManifestFile), err)
		}
	}
	return &m, nil
}

// checkID refuses ids that are not a plain folder name.
func checkID(id string) error {
	if !namePattern.MatchString(id) || id == LogsDir {
		return fmt.Errorf("cell id %q is not a plain folder name", id)
	}
	return nil
}

// Prepared is the result of Prepare.
type Prepared struct {
	Manifest *Manifest
	// Dropped lists the cells of the folder's previous manifest that the new
	// plan no longer has; their run folders are left alone.
	Dropped []string
}

// Prepare creates the sweep folder (and its logs folder), checks the plan
// against what the folder already holds and writes DIR/sweep.json. A cell id
// that the previous manifest, or a finished cell's done.json, records with
// another task or --set list is an ErrConflict; cells that match, and cells
// the plan adds, are fine.
func Prepare(dir string, p *Plan, sweepFile string) (*Prepared, error) {
	if err := os.MkdirAll(filepath.Join(dir, LogsDir), 0o755); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	old, err := ReadManifest(dir)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		old = &Manifest{}
	default:
		return nil, err
	}
	oldByID := map[string]Cell{}
	for _, c := range old.Cells {
		oldByID[c.ID] = c
	}
	res := &Prepared{}
	newIDs := map[string]bool{}
	for _, c := range p.Cells {
		newIDs[c.ID] = true
		if prev, ok := oldByID[c.ID]; ok {
			if d := diffRuns(prev.Task, prev.Sets, c); d != "" {
				return nil, conflict(dir, c.ID, ManifestFile, d)
			}
		}
		if mk, err := readMarker(filepath.Join(dir, c.ID, DoneFile)); err == nil {
			if d := diffRuns(mk.Task, mk.Sets, c); d != "" {
				return nil, conflict(dir, c.ID, filepath.Join(c.ID, DoneFile), d)
			}
		}
	}
	for _, c := range old.Cells {
		if !newIDs[c.ID] {
			res.Dropped = append(res.Dropped, c.ID)
		}
	}
	abs, err := filepath.Abs(sweepFile)
	if err != nil {
		abs = sweepFile
	}
	m := &Manifest{Format: manifestFormat, Version: manifestVersion, Name: p.Name, SweepFile: abs,
		Keys: p.Keys, Updated: time.Now().UTC().Format(time.RFC3339), Cells: p.Cells}
	if m.Keys == nil {
		m.Keys = []string{}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ManifestFile), append(b, '\n')); err != nil {
		return nil, fmt.Errorf("sweep: write %s: %w", ManifestFile, err)
	}
	res.Manifest = m
	return res, nil
}

func conflict(dir, id, where, diff string) error {
	return fmt.Errorf("%w: cell %s in %s (from %s) differs: %s; use another --out folder, or delete %s to run it again",
		ErrConflict, id, dir, where, diff, filepath.Join(dir, id))
}

// diffRuns describes how a recorded run (task and --set list) differs from a
// cell, or returns "" when they are the same run. The order of the --set
// list does not matter.
func diffRuns(task string, sets []string, c Cell) string {
	var d []string
	if task != c.Task {
		d = append(d, fmt.Sprintf("task %s → %s", task, c.Task))
	}
	was := map[string]string{}
	for _, s := range sets {
		k, v, _ := strings.Cut(s, "=")
		was[k] = v
	}
	now := map[string]string{}
	for _, s := range c.Sets {
		k, v, _ := strings.Cut(s, "=")
		now[k] = v
	}
	keys := map[string]bool{}
	for k := range was {
		keys[k] = true
	}
	for k := range now {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	for _, k := range sorted {
		a, aok := was[k]
		b, bok := now[k]
		switch {
		case aok && bok && a != b:
			d = append(d, fmt.Sprintf("%s=%s → %s", k, a, b))
		case aok && !bok:
			d = append(d, fmt.Sprintf("%s=%s → (unset)", k, a))
		case !aok && bok:
			d = append(d, fmt.Sprintf("(unset) → %s=%s", k, b))
		}
	}
	return strings.Join(d, ", ")
}

// State is what a cell's run folder says about it.
type State string

// States of a cell.
const (
	StateMissing    State = "missing"    // no run folder
	StateIncomplete State = "incomplete" // a run folder without a marker: running, or interrupted
	StateDone       State = "done"       // done.json: the run finished
	StateFailed     State = "failed"     // failed.json: the run ended with an error
)

// Marker is the content of done.json and failed.json.
type Marker struct {
	ID       string   `json:"id"`
	Index    int      `json:"index"`
	Task     string   `json:"task"`
	Sets     []string `json:"sets"`
	Started  string   `json:"started"`  // RFC 3339, UTC
	Finished string   `json:"finished"` // RFC 3339, UTC
	Seconds  float64  `json:"seconds"`
	Host     string   `json:"host,omitempty"`
	Error    string   `json:"error,omitempty"` // failed.json only
}

// CellDir returns the run folder of a cell.
func CellDir(dir string, c Cell) string { return filepath.Join(dir, c.ID) }

// StateOf reads a cell's state from its run folder, with the marker of a done
// or failed cell.
func StateOf(dir string, c Cell) (State, *Marker) {
	cd := CellDir(dir, c)
	if mk, err := readMarker(filepath.Join(cd, DoneFile)); err == nil {
		return StateDone, mk
	}
	if mk, err := readMarker(filepath.Join(cd, FailedFile)); err == nil {
		return StateFailed, mk
	}
	if _, err := os.Stat(cd); err == nil {
		return StateIncomplete, nil
	}
	return StateMissing, nil
}

func readMarker(path string) (*Marker, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var mk Marker
	if err := json.Unmarshal(b, &mk); err != nil {
		return nil, fmt.Errorf("sweep: %s: %w", path, err)
	}
	return &mk, nil
}

// ResetCell removes whatever a previous attempt left of a cell's run folder,
// so the cell can run from scratch.
func ResetCell(dir string, c Cell) error {
	if err := checkID(c.ID); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if err := os.RemoveAll(CellDir(dir, c)); err != nil {
		return fmt.Errorf("sweep: remove partial cell %s: %w", c.ID, err)
	}
	return nil
}

// MarkDone writes the cell's done.json (the last file a finished cell gets).
func MarkDone(dir string, c Cell, started time.Time) error {
	return writeMarker(filepath.Join(CellDir(dir, c), DoneFile), c, started, nil)
}

// MarkFailed writes the cell's failed.json with the run's error, creating
// the run folder if the run failed before making it.
func MarkFailed(dir string, c Cell, started time.Time, runErr error) error {
	if err := os.MkdirAll(CellDir(dir, c), 0o755); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return writeMarker(filepath.Join(CellDir(dir, c), FailedFile), c, started, runErr)
}

func writeMarker(path string, c Cell, started time.Time, runErr error) error {
	now := time.Now()
	host, _ := os.Hostname()
	mk := Marker{ID: c.ID, Index: c.Index, Task: c.Task, Sets: c.Sets, Started: started.UTC().Format(time.RFC3339Nano),
		Finished: now.UTC().Format(time.RFC3339Nano), Seconds: now.Sub(started).Seconds(), Host: host}
	if runErr != nil {
		mk.Error = runErr.Error()
	}
	b, err := json.MarshalIndent(mk, "", "  ")
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("sweep: write %s: %w", path, err)
	}
	return nil
}
