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
	"strings"

	"github.com/sinklab/sinklab/checkpoints/atomicfile"
	"github.com/sinklab/sinklab/transformer/capture"
)

// Attention snapshots: the attention maps of one fixed evaluation sequence at
// a probe step, kept beside the Parquet logs so that the report can draw them.
//
// Layout: RUN_DIR/attn/step-NNNNNNN.json (the step with seven digits, like the
// checkpoint folders), one JSON object per file (AttnSnapshot). Files are
// written atomically (hidden temporary file, then rename), so a reader never
// sees a half-written one.

// AttnDir is the sub-folder of a run folder that holds attention snapshots.
const AttnDir = "attn"

// AttnFormat and AttnVersion identify the snapshot format in every file.
const (
	AttnFormat  = "sinklab.attn"
	AttnVersion = 1
)

// DefaultAttnMaxT is the number of leading positions NewAttnSnapshot keeps
// when maxT ≤ 0. For a causal map the kept block is exactly the attention of
// that prefix; a 64×64 map is about as much as a heatmap shows legibly.
const DefaultAttnMaxT = 64

// DefaultAttnSnapshots is the number of evenly spaced probe steps
// AttnSnapshotDue selects per run (plus the first and the last).
const DefaultAttnSnapshots = 32

// AttnSnapshot is the content of one attention snapshot file.
type AttnSnapshot struct {
	Format  string `json:"format"`  // AttnFormat
	Version int    `json:"version"` // AttnVersion
	Step    int64  `json:"step"`    // training step of the probe
	// Sample is the index of the sequence in the probe batch (0: the first).
	Sample int `json:"sample"`
	// T is the number of positions stored (rows and keys); FullT the
	// capture's sequence length (T < FullT when the map was cut to a prefix).
	T     int `json:"t"`
	FullT int `json:"full_t"`
	// Causal, Normalized and SinkToken are the capture's flags: position 0 is
	// a learned sink token (token id -1) when SinkToken is set.
	Causal     bool   `json:"causal"`
	Normalized bool   `json:"normalized"`
	SinkToken  bool   `json:"sink_token"`
	Variant    string `json:"variant"` // attention variant (model.attention)
	// Tokens are the token ids of the T positions (-1 for the sink token);
	// empty when the writer did not know them.
	Tokens []int32 `json:"tokens"`
	// Labels are optional display strings of the positions (decoded text,
	// "BOS"); when empty the report labels positions with their token ids.
	Labels []string `json:"labels,omitempty"`
	// Attn holds the raw attention weights (blocks.{l}.attn.hook_pattern) of
	// the sequence, rounded to 4 significant digits: Attn[l][h][i][j] is
	// query i's weight on key j. (L, H, T, T)
	Attn [][][][]float32 `json:"attn"`
	// NonFinite counts the NaN or ±Inf weights, stored as 0.
	NonFinite int `json:"non_finite,omitempty"`
}

// Layers returns the number of layers of the snapshot.
func (s *AttnSnapshot) Layers() int { return len(s.Attn) }

// Heads returns the number of heads per layer (0 without layers).
func (s *AttnSnapshot) Heads() int {
	if len(s.Attn) == 0 {
		return 0
	}
	return len(s.Attn[0])
}

// round4 rounds v to 4 significant digits; non-finite values become 0 and
// are reported.
func round4(v float32) (float32, bool) {
	x := float64(v)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false
	}
	if x == 0 {
		return 0, true
	}
	e := math.Floor(math.Log10(math.Abs(x)))
	scale := math.Pow(10, 3-e)
	r := math.Round(x*scale) / scale
	if math.IsInf(r, 0) || math.IsNaN(r) { // subnormal corner cases
		return v, true
	}
	return float32(r), true
}

// NewAttnSnapshot takes the attention maps of sequence sample of a probe
// capture. tokens are that sequence's input ids as fed to the model (without
// the sink token, which the snapshot adds as -1 when c.SinkToken is set); nil
// means unknown. Only the first maxT positions are kept (maxT ≤ 0 means
// DefaultAttnMaxT). Labels can be set on the result before writing.
func NewAttnSnapshot(c *capture.Capture, sample int, step int64, tokens []int32, maxT int) (*AttnSnapshot, error) {
	if c == nil {
		return nil, errors.New("report: attention snapshot of a nil capture")
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("report: attention snapshot: %w", err)
	}
	if sample < 0 || sample >= c.B {
		return nil, fmt.Errorf("report: attention snapshot: sample %d out of range [0, %d)", sample, c.B)
	}
	if maxT <= 0 {
		maxT = DefaultAttnMaxT
	}
	T := min(c.T, maxT)
	s := &AttnSnapshot{Format: AttnFormat, Version: AttnVersion, Step: step, Sample: sample, T: T, FullT: c.T,
		Causal: c.Causal, Normalized: c.Normalized, SinkToken: c.SinkToken, Variant: c.Variant, Tokens: []int32{}}
	if tokens != nil {
		ids := tokens
		if c.SinkToken {
			ids = append([]int32{-1}, tokens...)
		}
		if len(ids) < T {
			return nil, fmt.Errorf("report: attention snapshot: %d token ids for %d positions", len(ids), T)
		}
		s.Tokens = slices.Clone(ids[:T])
	}
	s.Attn = make([][][][]float32, c.L)
	for l := 0; l < c.L; l++ {
		a := c.Attn[l] // (B, H, T, T)
		s.Attn[l] = make([][][]float32, c.H)
		for h := 0; h < c.H; h++ {
			rows := make([][]float32, T)
			for i := 0; i < T; i++ {
				src := a[((sample*c.H+h)*c.T+i)*c.T:]
				row := make([]float32, T)
				for j := 0; j < T; j++ {
					v, ok := round4(src[j])
					if !ok {
						s.NonFinite++
					}
					row[j] = v
				}
				rows[i] = row
			}
			s.Attn[l][h] = rows
		}
	}
	return s, nil
}

// Validate checks the snapshot's format, version and shapes.
func (s *AttnSnapshot) Validate() error {
	switch {
	case s.Format != AttnFormat:
		return fmt.Errorf("format %q, want %q", s.Format, AttnFormat)
	case s.Version != AttnVersion:
		return fmt.Errorf("version %d, this sinklab reads version %d", s.Version, AttnVersion)
	case s.T < 1:
		return fmt.Errorf("t = %d, want ≥ 1", s.T)
	case len(s.Tokens) != 0 && len(s.Tokens) != s.T:
		return fmt.Errorf("%d tokens for t = %d", len(s.Tokens), s.T)
	case len(s.Labels) != 0 && len(s.Labels) != s.T:
		return fmt.Errorf("%d labels for t = %d", len(s.Labels), s.T)
	case len(s.Attn) == 0:
		return errors.New("no layers")
	}
	H := len(s.Attn[0])
	for l, layer := range s.Attn {
		if len(layer) != H || H == 0 {
			return fmt.Errorf("layer %d has %d heads, want %d (> 0)", l, len(layer), H)
		}
		for h, m := range layer {
			if len(m) != s.T {
				return fmt.Errorf("layer %d head %d: %d rows, want %d", l, h, len(m), s.T)
			}
			for i, row := range m {
				if len(row) != s.T {
					return fmt.Errorf("layer %d head %d row %d: %d keys, want %d", l, h, i, len(row), s.T)
				}
			}
		}
	}
	return nil
}

// AttnSnapshotPath returns the file of the snapshot at step in runDir.
func AttnSnapshotPath(runDir string, step int64) string {
	return filepath.Join(runDir, AttnDir, fmt.Sprintf("step-%07d.json", step))
}

// WriteAttnSnapshot writes s to RUN_DIR/attn/step-NNNNNNN.json, creating the
// folder if needed. The file is written under a hidden temporary name and
// renamed into place, replacing an older snapshot of the same step.
func WriteAttnSnapshot(runDir string, s *AttnSnapshot) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("report: attention snapshot of step %d: %w", s.Step, err)
	}
	if s.Step < 0 {
		return fmt.Errorf("report: attention snapshot: negative step %d", s.Step)
	}
	path := AttnSnapshotPath(runDir, s.Step)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("report: encode attention snapshot of step %d: %w", s.Step, err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}

// ReadAttnSnapshot reads and validates one snapshot file.
func ReadAttnSnapshot(path string) (*AttnSnapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var s AttnSnapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("report: read %s: %w", path, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("report: read %s: %w", path, err)
	}
	return &s, nil
}

// attnStep parses a snapshot file name.
func attnStep(name string) (int64, bool) {
	s, ok := strings.CutPrefix(name, "step-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".json")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// ListAttnSnapshots returns the steps of the snapshot files in runDir, in
// increasing order. A run without an attn folder has none.
func ListAttnSnapshots(runDir string) ([]int64, error) {
	entries, err := os.ReadDir(filepath.Join(runDir, AttnDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var steps []int64
	for _, e := range entries {
		if n, ok := attnStep(e.Name()); ok && e.Type().IsRegular() {
			steps = append(steps, n)
		}
	}
	slices.Sort(steps)
	return steps, nil
}

// TruncateAttnSnapshots removes the snapshots of steps after step and any
// temporary file a killed writer left, as probes.TruncateAfter does for the
// Parquet logs when a run resumes from the checkpoint at step.
func TruncateAttnSnapshots(runDir string, step int64) error {
	dir := filepath.Join(runDir, AttnDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		n, ok := attnStep(name)
		stale := strings.HasPrefix(name, ".step-") && strings.HasSuffix(name, ".tmp")
		if (ok && n > step) || stale {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("report: %w", err)
			}
		}
	}
	return nil
}

// AttnSnapshotDue reports whether a run of steps training steps probed every
// probeEvery steps should write an attention snapshot at step: the first
// probe (step 0), the last step, and about DefaultAttnSnapshots probe steps
// evenly spaced between, so a long run keeps a bounded number of files. It
// depends on its arguments only, so a resumed run picks the same steps.
func AttnSnapshotDue(step, probeEvery, steps int) bool {
	if probeEvery <= 0 || step < 0 || step > steps {
		return false
	}
	if step == steps {
		return true
	}
	if step%probeEvery != 0 {
		return false
	}
	probesN := steps/probeEvery + 1
	k := (probesN + DefaultAttnSnapshots - 1) / DefaultAttnSnapshots // every k-th probe
	return (step/probeEvery)%k == 0
}
