package checkpoints

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Names of the format and the files in a checkpoint folder.
const (
	FormatName    = "sinklab-checkpoint" // State.Format of every checkpoint this package writes
	FormatVersion = 1                    // State.Version this package writes and reads

	DirName       = "checkpoints"           // the folder inside a run folder holding step folders
	ModelFile     = "model.safetensors"     // weights
	OptimizerFile = "optimizer.safetensors" // optimizer moments
	StateFile     = "state.json"            // State as indented JSON
)

// tempPrefix starts the name of every folder Save works in; such folders are
// never listed as checkpoints and are removed by the next Save.
const tempPrefix = ".tmp-"

// State is everything besides the tensors that a run needs to resume, stored
// as state.json. Save fills Format, Version and the two checksums itself; the
// caller fills the rest. Empty RNG, DataCursor and Config are omitted and load
// back as nil. DataCursor and Config are stored as JSON values, so their
// whitespace may change.
type State struct {
	Format          string            `json:"format"`                // FormatName
	Version         int               `json:"version"`               // FormatVersion
	Step            int64             `json:"step"`                  // optimizer steps taken; also the folder name
	Tokens          int64             `json:"tokens"`                // training tokens seen
	RNG             []byte            `json:"rng,omitempty"`         // opaque RNG state (base64 in JSON)
	DataCursor      json.RawMessage   `json:"data_cursor,omitempty"` // opaque position of the data loader
	Config          json.RawMessage   `json:"config,omitempty"`      // the resolved run config
	ModelSHA256     string            `json:"model_sha256"`          // hex SHA-256 of model.safetensors
	OptimizerSHA256 string            `json:"optimizer_sha256"`      // hex SHA-256 of optimizer.safetensors
	Extra           map[string]string `json:"extra,omitempty"`       // free-form notes
}

// Checkpoint is a loaded, validated checkpoint. Model and Optimizer are in
// name order.
type Checkpoint struct {
	Dir       string // the step folder it was loaded from
	State     State
	Model     []Tensor
	Optimizer []Tensor
}

// StepDir returns the folder of the checkpoint for step in runDir:
// <runDir>/checkpoints/step-NNNNNNN, the step zero-padded to 7 digits.
func StepDir(runDir string, step int64) string {
	return filepath.Join(runDir, DirName, stepName(step))
}

func stepName(step int64) string { return fmt.Sprintf("step-%07d", step) }

// parseStepName returns the step of a canonical step folder name.
func parseStepName(name string) (int64, bool) {
	digits, ok := strings.CutPrefix(name, "step-")
	if !ok || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	step, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || stepName(step) != name {
		return 0, false
	}
	return step, true
}

// List returns the steps of the checkpoint folders in runDir, ascending,
// without validating them. Temporary folders and other names are ignored. A
// run without a checkpoints folder has no steps and no error.
func List(runDir string) ([]int64, error) {
	des, err := os.ReadDir(filepath.Join(runDir, DirName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoints: list: %w", err)
	}
	var steps []int64
	for _, de := range des {
		if step, ok := parseStepName(de.Name()); ok && de.IsDir() {
			steps = append(steps, step)
		}
	}
	slices.Sort(steps)
	return steps, nil
}

// Save writes a checkpoint for st.Step into runDir and returns its folder.
//
// Everything is written into a fresh temporary folder beside the target
// (same parent, name starting with ".tmp-"), every file is fsynced, then the
// folder is renamed into place and the parent fsynced, so a crash leaves
// either the complete checkpoint or none. A checkpoint already at that step is
// replaced. Leftover temporary folders from earlier crashes are removed first;
// this assumes one writer per run.
//
// With keepLast > 0, after a successful save only keepLast checkpoints with
// steps up to st.Step are kept (this one and the keepLast-1 before it); older
// folders are deleted. Folders with a higher step than st.Step (left by a run
// that was resumed from an earlier step) are never touched. keepLast 0 keeps
// everything. If pruning fails the checkpoint is still saved: Save returns its
// folder together with the error.
//
// Save sets st.Format, st.Version, st.ModelSHA256 and st.OptimizerSHA256.
// The model and optimizer files carry the metadata {"format": "pt"} that the
// Hugging Face tools expect.
func Save(runDir string, st State, model, optimizer []Tensor, keepLast int) (dir string, err error) {
	if st.Step < 0 {
		return "", fmt.Errorf("checkpoints: save: negative step %d", st.Step)
	}
	if keepLast < 0 {
		return "", fmt.Errorf("checkpoints: save: negative keepLast %d", keepLast)
	}
	parent := filepath.Join(runDir, DirName)
	target := filepath.Join(parent, stepName(st.Step))
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("checkpoints: save %s: %w", target, err)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fail(err)
	}
	if err := removeTemp(parent); err != nil {
		return fail(err)
	}
	tmp, err := os.MkdirTemp(parent, tempPrefix+stepName(st.Step)+"-")
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return fail(err)
	}

	meta := map[string]string{"format": "pt"}
	if st.ModelSHA256, err = writeTensorFile(filepath.Join(tmp, ModelFile), model, meta); err != nil {
		return fail(fmt.Errorf("model: %w", err))
	}
	if st.OptimizerSHA256, err = writeTensorFile(filepath.Join(tmp, OptimizerFile), optimizer, meta); err != nil {
		return fail(fmt.Errorf("optimizer: %w", err))
	}
	st.Format, st.Version = FormatName, FormatVersion
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fail(fmt.Errorf("encode %s: %w", StateFile, err))
	}
	if err := writeFileSync(filepath.Join(tmp, StateFile), append(js, '\n')); err != nil {
		return fail(err)
	}
	if err := syncDir(tmp); err != nil {
		return fail(err)
	}

	// Replace an existing folder at this step: move it aside under a temp
	// name (removed later, or by the next Save after a crash), then rename.
	old := ""
	if _, err := os.Lstat(target); err == nil {
		old = tmp + ".old"
		if err := os.Rename(target, old); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return fail(err)
	}
	if err := syncDir(parent); err != nil {
		return fail(err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return target, fmt.Errorf("checkpoints: saved %s but could not remove the replaced folder: %w", target, err)
		}
	}
	if err := prune(runDir, st.Step, keepLast); err != nil {
		return target, fmt.Errorf("checkpoints: saved %s but pruning failed: %w", target, err)
	}
	return target, nil
}

// removeTemp deletes leftover temporary folders in parent.
func removeTemp(parent string) error {
	des, err := os.ReadDir(parent)
	if err != nil {
		return err
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), tempPrefix) {
			if err := os.RemoveAll(filepath.Join(parent, de.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// prune keeps the keepLast newest checkpoints with step <= saved.
func prune(runDir string, saved int64, keepLast int) error {
	if keepLast == 0 {
		return nil
	}
	steps, err := List(runDir)
	if err != nil {
		return err
	}
	var older []int64 // steps below saved, newest first
	for _, s := range slices.Backward(steps) {
		if s < saved {
			older = append(older, s)
		}
	}
	for _, s := range older[min(keepLast-1, len(older)):] {
		if err := os.RemoveAll(StepDir(runDir, s)); err != nil {
			return err
		}
	}
	return nil
}

// writeTensorFile writes a fsynced safetensors file and returns its hex SHA-256.
func writeTensorFile(path string, tensors []Tensor, meta map[string]string) (sum string, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	h := sha256.New()
	if err := WriteSafetensors(io.MultiWriter(f, h), tensors, meta); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeFileSync writes data to a new file and fsyncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir fsyncs a folder so renames and new entries in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Load reads and validates the checkpoint in dir (a step folder). It checks
// the format name and version in state.json, that the step matches the folder
// name (for a step-NNNNNNN folder), that both tensor files are well-formed
// safetensors and that their SHA-256 sums match state.json. Errors name the
// file and wrap fs.ErrNotExist, ErrFormat, ErrTruncated, ErrHeader or
// ErrChecksum.
func Load(dir string) (*Checkpoint, error) {
	statePath := filepath.Join(dir, StateFile)
	js, err := os.ReadFile(statePath)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: load: %w", err)
	}
	st, err := decodeState(js)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: load %s: %w", statePath, err)
	}
	if step, ok := parseStepName(filepath.Base(dir)); ok && step != st.Step {
		return nil, fmt.Errorf("checkpoints: load %s: step %d does not match the folder name (step %d): %w",
			statePath, st.Step, step, ErrFormat)
	}
	ck := &Checkpoint{Dir: dir, State: *st}
	if ck.Model, err = readVerified(filepath.Join(dir, ModelFile), st.ModelSHA256); err != nil {
		return nil, err
	}
	if ck.Optimizer, err = readVerified(filepath.Join(dir, OptimizerFile), st.OptimizerSHA256); err != nil {
		return nil, err
	}
	return ck, nil
}

// decodeState parses state.json, checking format and version before the
// other fields so that a newer format is reported as such.
func decodeState(js []byte) (*State, error) {
	var head struct {
		Format  *string `json:"format"`
		Version *int    `json:"version"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v: %w", err, ErrFormat)
	}
	switch {
	case head.Format == nil:
		return nil, fmt.Errorf("missing field format: %w", ErrFormat)
	case *head.Format != FormatName:
		return nil, fmt.Errorf("format %q, want %q: %w", *head.Format, FormatName, ErrFormat)
	case head.Version == nil:
		return nil, fmt.Errorf("missing field version: %w", ErrFormat)
	case *head.Version != FormatVersion:
		return nil, fmt.Errorf("format %s version %d, want version %d: %w", FormatName, *head.Version, FormatVersion, ErrFormat)
	}
	var st State
	if err := json.Unmarshal(js, &st); err != nil {
		return nil, fmt.Errorf("invalid state: %v: %w", err, ErrFormat)
	}
	for _, f := range []struct{ name, sum string }{{"model_sha256", st.ModelSHA256}, {"optimizer_sha256", st.OptimizerSHA256}} {
		if b, err := hex.DecodeString(f.sum); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("field %s is %q, want 64 hex digits: %w", f.name, f.sum, ErrFormat)
		}
	}
	if st.Step < 0 {
		return nil, fmt.Errorf("negative step %d: %w", st.Step, ErrFormat)
	}
	return &st, nil
}

// readVerified reads a safetensors file while hashing it, and checks the hash.
func readVerified(path, wantSum string) ([]Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: load: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("checkpoints: load: %w", err)
	}
	h := sha256.New()
	ts, _, err := decode(io.TeeReader(f, h), fi.Size())
	if err != nil {
		return nil, fmt.Errorf("checkpoints: load %s: %w", path, err)
	}
	// decode consumed exactly fi.Size() bytes: the layout check demands it.
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, wantSum) {
		return nil, fmt.Errorf("checkpoints: load %s: sha256 %s, state.json says %s: %w", path, got, wantSum, ErrChecksum)
	}
	return ts, nil
}

// LoadStep loads the checkpoint for step in runDir (see Load).
func LoadStep(runDir string, step int64) (*Checkpoint, error) {
	return Load(StepDir(runDir, step))
}

// Latest loads the newest valid checkpoint in runDir, the one to resume from.
//
// It tries the step folders from the highest step down and returns the first
// that Load accepts. Each checkpoint it skipped on the way (truncated,
// checksum mismatch, wrong format, ...) is reported in skipped, one error per
// folder naming it and the reason, newest first: the caller decides whether
// to log them. Temporary folders of an interrupted Save are never considered.
// When no checkpoint is valid (or there are none), err wraps ErrNoCheckpoint
// and skipped still lists the reasons.
func Latest(runDir string) (ck *Checkpoint, skipped []error, err error) {
	steps, err := List(runDir)
	if err != nil {
		return nil, nil, err
	}
	for _, step := range slices.Backward(steps) {
		ck, err := LoadStep(runDir, step)
		if err == nil {
			return ck, skipped, nil
		}
		skipped = append(skipped, err)
	}
	return nil, skipped, fmt.Errorf("checkpoints: %s (%d invalid skipped): %w",
		filepath.Join(runDir, DirName), len(skipped), ErrNoCheckpoint)
}

// CopyInto copies the data of src (typically Checkpoint.Model) into the
// tensors of dst, matched by name, which must have the same dtype and shape.
// Every dst tensor must appear in src and every src tensor in dst. Nothing is
// copied unless all match; a mismatch gives an error wrapping ErrMismatch that
// names the tensor (and both shapes or dtypes). An inconsistent tensor gives
// ErrInvalidTensor.
func CopyInto(dst, src []Tensor) error {
	bySrc := make(map[string]*Tensor, len(src))
	for i := range src {
		if err := src[i].validate(); err != nil {
			return fmt.Errorf("checkpoints: copy: source: %w", err)
		}
		if _, dup := bySrc[src[i].Name]; dup {
			return fmt.Errorf("checkpoints: copy: duplicate source tensor %q: %w", src[i].Name, ErrInvalidTensor)
		}
		bySrc[src[i].Name] = &src[i]
	}
	seen := make(map[string]bool, len(dst))
	for i := range dst {
		d := &dst[i]
		if err := d.validate(); err != nil {
			return fmt.Errorf("checkpoints: copy: destination: %w", err)
		}
		if seen[d.Name] {
			return fmt.Errorf("checkpoints: copy: duplicate destination tensor %q: %w", d.Name, ErrInvalidTensor)
		}
		seen[d.Name] = true
		s, ok := bySrc[d.Name]
		switch {
		case !ok:
			return fmt.Errorf("checkpoints: copy: tensor %q missing from the checkpoint: %w", d.Name, ErrMismatch)
		case s.DType() != d.DType():
			return fmt.Errorf("checkpoints: copy: tensor %q: dtype %s in the checkpoint, want %s: %w",
				d.Name, s.DType(), d.DType(), ErrMismatch)
		case !slices.Equal(s.Shape, d.Shape):
			return fmt.Errorf("checkpoints: copy: tensor %q: shape %v in the checkpoint, want %v: %w",
				d.Name, s.Shape, d.Shape, ErrMismatch)
		}
	}
	if len(seen) != len(bySrc) {
		var extra []string
		for name := range bySrc {
			if !seen[name] {
				extra = append(extra, name)
			}
		}
		slices.Sort(extra)
		return fmt.Errorf("checkpoints: copy: checkpoint has unexpected tensors %q: %w", extra, ErrMismatch)
	}
	for i := range dst {
		d, s := &dst[i], bySrc[dst[i].Name]
		copy(d.F32, s.F32)
		copy(d.F64, s.F64)
		copy(d.I64, s.I64)
	}
	return nil
}
