package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/sinklab/sinklab/probes"
	"github.com/sinklab/sinklab/probes/internal/parquetio"
)

// Kinds of run folders.
const (
	KindTrain  = "train"  // sinklab train: metrics/, probes/, layers/ part files
	KindTheory = "theory" // sinklab theory: theory.parquet
)

// RunError is the error Load returns when a folder cannot be reported on: it
// is not a run folder, or its logs are missing, unreadable or inconsistent.
// Errors of any other type come from the file system (permissions, I/O).
type RunError struct {
	Dir string // the folder given to Load
	Err error
}

func (e *RunError) Error() string { return "report: " + e.Dir + ": " + e.Err.Error() }
func (e *RunError) Unwrap() error { return e.Err }

// runErr returns a *RunError for dir with a formatted message.
func runErr(dir, format string, args ...any) error {
	return &RunError{Dir: dir, Err: fmt.Errorf(format, args...)}
}

// Run is everything the report reads from one run folder.
type Run struct {
	Dir     string // the folder as given
	ID      string // run id (config.json, else the logs' metadata, else the folder name)
	Kind    string // KindTrain or KindTheory
	Version string // sinklab version that wrote the run ("" if unknown)
	Created string // creation time from config.json ("" if unknown)
	// Config is the resolved run config (the "config" object of config.json,
	// or of the logs' "config" metadata when config.json is missing); nil when
	// neither exists.
	Config map[string]any

	// Training runs: the rows of every part file, sorted by step (and layer,
	// head); Heads holds the "all" row group only. Heads and Layers are empty
	// when the run had probes switched off.
	Metrics []probes.MetricsRow
	Heads   []probes.HeadRow
	Layers  []probes.LayerRow
	// SinkEpsilon is the ε of sink_rate and SinkHeadThreshold the sink-head
	// threshold, from the logs' metadata (defaults 0.3 and 0.9).
	SinkEpsilon       float64
	SinkHeadThreshold float64

	// TheoryCheck holds the rows of RUN_DIR/theory_check.parquet (the
	// replicator probes' theory check, probes.TheoryCheck); nil when the file
	// does not exist.
	TheoryCheck []probes.TheoryCheckRow

	// AttnSteps are the steps of the attention snapshots in RUN_DIR/attn/;
	// Snapshots holds those of the first, a middle and the last of them.
	AttnSteps []int64
	Snapshots []*AttnSnapshot

	// Theory runs: the rows of theory.parquet in file order (by variant,
	// then step).
	Theory []probes.TheoryRow
}

// runConfig is the top level of config.json.
type runConfig struct {
	Command string         `json:"command"`
	RunID   string         `json:"run_id"`
	Version string         `json:"sinklab_version"`
	Created string         `json:"created"`
	Config  map[string]any `json:"config"`
}

// parseConfig reads config.json's content, or a log's "config" metadata,
// which is either the same document (train) or the bare config (theory).
func parseConfig(b []byte) (runConfig, error) {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return runConfig{}, err
	}
	if _, ok := raw["command"]; !ok {
		return runConfig{Config: raw}, nil
	}
	var rc runConfig
	err := json.Unmarshal(b, &rc)
	return rc, err
}

// readParts reads the rows and the first part's metadata of a log folder,
// checking that each part is the kind of log expected.
func readParts[T any](runDir, sub, kind string) ([]T, map[string]string, error) {
	dir := filepath.Join(runDir, sub)
	paths, err := parquetio.ListParts(dir)
	if err != nil {
		return nil, nil, runErr(runDir, "%w", err)
	}
	var rows []T
	var meta map[string]string
	for _, p := range paths {
		r, m, err := parquetio.ReadFile[T](p)
		if err != nil {
			return nil, nil, runErr(runDir, "%s is not a readable Parquet log: %w", filepath.Join(sub, filepath.Base(p)), err)
		}
		if k, ok := m[probes.MetaKind]; ok && k != kind {
			return nil, nil, runErr(runDir, "%s holds a %q log, not %q", filepath.Join(sub, filepath.Base(p)), k, kind)
		}
		if meta == nil {
			meta = m
		}
		rows = append(rows, r...)
	}
	return rows, meta, nil
}

// metaFloat parses a numeric metadata value, with a default.
func metaFloat(meta map[string]string, key string, def float64) float64 {
	if v, err := strconv.ParseFloat(meta[key], 64); err == nil && !math.IsNaN(v) {
		return v
	}
	return def
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Load reads the run folder dir: config.json, the Parquet logs and the
// attention snapshots of a training run, or theory.parquet of a theory run.
// Errors about the folder's content are *RunError.
func Load(dir string) (*Run, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, runErr(dir, "no such folder")
	case err != nil:
		return nil, fmt.Errorf("report: %w", err)
	case !st.IsDir():
		return nil, runErr(dir, "not a folder (give a run folder such as runs/<run-id>)")
	}
	r := &Run{Dir: dir, SinkEpsilon: 0.3, SinkHeadThreshold: probes.SinkHeadThreshold}
	var rc runConfig
	cfgPath := filepath.Join(dir, "config.json")
	hasConfig := false
	if b, err := os.ReadFile(cfgPath); err == nil {
		if rc, err = parseConfig(b); err != nil {
			return nil, runErr(dir, "config.json is not valid JSON: %v", err)
		}
		hasConfig = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("report: %w", err)
	}
	theoryPath := filepath.Join(dir, probes.TheoryFile)
	metricsParts, err := parquetio.ListParts(filepath.Join(dir, probes.MetricsDir))
	if err != nil {
		return nil, runErr(dir, "%w", err)
	}
	switch {
	case rc.Command == KindTrain || rc.Command == KindTheory:
		r.Kind = rc.Command
	case rc.Command != "":
		return nil, runErr(dir, "config.json is from %q, not a train or theory run", rc.Command)
	case exists(theoryPath):
		r.Kind = KindTheory
	case len(metricsParts) > 0:
		r.Kind = KindTrain
	case hasConfig:
		return nil, runErr(dir, "config.json names no command and there are no logs (metrics/*.parquet or theory.parquet)")
	default:
		return nil, runErr(dir, "not a sinklab run folder: no config.json, metrics/*.parquet or theory.parquet")
	}
	var meta map[string]string
	if r.Kind == KindTheory {
		if !exists(theoryPath) {
			return nil, runErr(dir, "theory run without %s (was it stopped before the first record?)", probes.TheoryFile)
		}
		rows, m, err := probes.ReadTheory(theoryPath)
		if err != nil {
			return nil, runErr(dir, "%s is not readable: %w", probes.TheoryFile, err)
		}
		if len(rows) == 0 {
			return nil, runErr(dir, "%s has no rows", probes.TheoryFile)
		}
		r.Theory, meta = rows, m
	} else {
		if len(metricsParts) == 0 {
			return nil, runErr(dir, "training run without logs: %s/ has no part files (was it stopped before the first step?)", probes.MetricsDir)
		}
		if r.Metrics, meta, err = readParts[probes.MetricsRow](dir, probes.MetricsDir, "metrics"); err != nil {
			return nil, err
		}
		if len(r.Metrics) == 0 {
			return nil, runErr(dir, "%s/ has no rows", probes.MetricsDir)
		}
		var pmeta map[string]string
		if r.Heads, pmeta, err = readParts[probes.HeadRow](dir, probes.ProbesDir, "probes"); err != nil {
			return nil, err
		}
		r.Heads = probes.HeadRowsOf(r.Heads, probes.GroupAll) // the report shows every head on all its rows
		if r.Layers, _, err = readParts[probes.LayerRow](dir, probes.LayersDir, "layers"); err != nil {
			return nil, err
		}
		r.SinkEpsilon = metaFloat(meta, probes.MetaSinkEpsilon, r.SinkEpsilon)
		r.SinkEpsilon = metaFloat(pmeta, probes.MetaSinkEpsilon, r.SinkEpsilon)
		r.SinkHeadThreshold = metaFloat(pmeta, probes.MetaSinkHeadThreshold, r.SinkHeadThreshold)
		sortRows(r)
		if tc := filepath.Join(dir, probes.TheoryCheckFile); exists(tc) {
			if r.TheoryCheck, _, err = probes.ReadTheoryCheck(tc); err != nil {
				return nil, runErr(dir, "%s is not readable: %w", probes.TheoryCheckFile, err)
			}
		}
		if err := loadSnapshots(r); err != nil {
			return nil, err
		}
	}
	if !hasConfig && meta[probes.MetaConfig] != "" {
		if mrc, err := parseConfig([]byte(meta[probes.MetaConfig])); err == nil {
			rc = mrc
		}
	}
	r.Config, r.Version, r.Created = rc.Config, rc.Version, rc.Created
	if r.Version == "" {
		r.Version = meta[probes.MetaVersion]
	}
	switch {
	case rc.RunID != "":
		r.ID = rc.RunID
	case meta[probes.MetaRunID] != "":
		r.ID = meta[probes.MetaRunID]
	default:
		abs, _ := filepath.Abs(dir)
		r.ID = filepath.Base(abs)
	}
	return r, nil
}

// sortRows puts the training logs in step order (they are already, unless a
// folder was assembled by hand).
func sortRows(r *Run) {
	if !slices.IsSortedFunc(r.Metrics, func(a, b probes.MetricsRow) int { return cmpInt(a.Step, b.Step) }) {
		slices.SortStableFunc(r.Metrics, func(a, b probes.MetricsRow) int { return cmpInt(a.Step, b.Step) })
	}
	headCmp := func(a, b probes.HeadRow) int {
		if c := cmpInt(a.Step, b.Step); c != 0 {
			return c
		}
		if c := cmpInt(a.Layer, b.Layer); c != 0 {
			return c
		}
		return cmpInt(a.Head, b.Head)
	}
	if !slices.IsSortedFunc(r.Heads, headCmp) {
		slices.SortStableFunc(r.Heads, headCmp)
	}
	layerCmp := func(a, b probes.LayerRow) int {
		if c := cmpInt(a.Step, b.Step); c != 0 {
			return c
		}
		return cmpInt(a.Layer, b.Layer)
	}
	if !slices.IsSortedFunc(r.Layers, layerCmp) {
		slices.SortStableFunc(r.Layers, layerCmp)
	}
}

func cmpInt[T int32 | int64 | int](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pickSteps returns the first, the middle (closest to the midpoint of the
// first and last) and the last of steps, without repeats.
func pickSteps(steps []int64) []int64 {
	if len(steps) == 0 {
		return nil
	}
	first, last := steps[0], steps[len(steps)-1]
	mid := steps[0]
	target := float64(first) + float64(last-first)/2
	for _, s := range steps {
		if math.Abs(float64(s)-target) < math.Abs(float64(mid)-target) {
			mid = s
		}
	}
	out := []int64{first}
	for _, s := range []int64{mid, last} {
		if s != out[len(out)-1] {
			out = append(out, s)
		}
	}
	return out
}

// loadSnapshots lists the attention snapshots and reads the three shown.
func loadSnapshots(r *Run) error {
	steps, err := ListAttnSnapshots(r.Dir)
	if err != nil {
		return err
	}
	r.AttnSteps = steps
	for _, s := range pickSteps(steps) {
		snap, err := ReadAttnSnapshot(AttnSnapshotPath(r.Dir, s))
		if err != nil {
			return runErr(r.Dir, "attention snapshot: %w", err)
		}
		if snap.Step != s {
			return runErr(r.Dir, "%s holds step %d", AttnSnapshotPath(r.Dir, s), snap.Step)
		}
		r.Snapshots = append(r.Snapshots, snap)
	}
	return nil
}
