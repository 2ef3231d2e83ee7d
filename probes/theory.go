package probes

import (
	"errors"
	"fmt"
	"github.com/sinklab/sinklab/probes/internal/parquetio"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/parquet-go/parquet-go"
)

// TheoryFile is the name of a theory run's log in its run folder.
const TheoryFile = "theory.parquet"

// TheoryRow is one row of theory.parquet: one recorded gradient-descent step
// of one variant of a value-softmax experiment (SCIENCE.md §1). Where α is not
// a probability vector, entropy, max_weight and argmax are those of |α|/Σ|α|.
type TheoryRow struct {
	RunID      string  `parquet:"run_id,dict"`
	Experiment string  `parquet:"experiment,dict"` // logistic, normalizers, regression, cross-entropy, tied
	Variant    string  `parquet:"variant,dict"`    // loss/normalizer[/kappa=κ|/D=D]
	Step       int64   `parquet:"step,delta"`      // gradient-descent steps taken
	Time       float64 `parquet:"time"`            // step × lr: the gradient-flow time
	Loss       float64 `parquet:"loss"`
	Entropy    float64 `parquet:"entropy"`    // −Σ σᵢ log σᵢ
	MaxWeight  float64 `parquet:"max_weight"` // maxᵢ σᵢ
	Argmax     int32   `parquet:"argmax"`     // the token with the largest weight (−1 if all are 0)
	SumA       float64 `parquet:"sum_a"`      // Σᵢ aᵢ
	// ConservedDrift is ‖(I−ββᵀ)(V−V₀)‖_F for the logistic loss and
	// |Σa − Σa₀| otherwise (conserved for softmax except the tied model).
	ConservedDrift float64   `parquet:"conserved_drift"`
	SumAlpha       float64   `parquet:"sum_alpha"`    // raw Σᵢ αᵢ (1 for probability normalizers)
	Weights        []float64 `parquet:"weights,list"` // σ(a); tied: σ(U a)
	U              []float64 `parquet:"u,list"`       // Vᵀβ (logistic); empty otherwise
	// FlowEntropy and FlowMaxWeight are the exact gradient flow's at t = time
	// (null without --flow).
	FlowEntropy   *float64 `parquet:"flow_entropy,optional"`
	FlowMaxWeight *float64 `parquet:"flow_max_weight,optional"`
	// SelColNorm and OtherColNorm (tied only, else null) are the norm of U's
	// column at argmax and the mean norm of the other columns.
	SelColNorm   *float64 `parquet:"sel_col_norm,optional"`
	OtherColNorm *float64 `parquet:"other_col_norm,optional"`
}

// DefaultTheoryRowGroupBytes is the buffered size at which TheoryWriter ends a
// row group.
const DefaultTheoryRowGroupBytes = 8 << 20

// TheoryWriter writes theory.parquet (zstd) under a hidden temporary name in
// the destination folder and renames it into place on Close, so the file
// either is complete or absent. Row groups end whenever RowGroupBytes are
// buffered. It is not safe for concurrent use.
type TheoryWriter struct {
	f             *os.File
	w             *parquet.GenericWriter[TheoryRow]
	tmp, path     string
	rowGroupBytes int64
	flushedAt     int64
	rows          int64
	err           error // sticky
}

// NewTheoryWriter starts the file path. meta goes into the file's key-value
// metadata; by convention run_id, config (the resolved config, JSON),
// sinklab_version and kind = "theory". rowGroupBytes ≤ 0 means
// DefaultTheoryRowGroupBytes.
func NewTheoryWriter(path string, meta map[string]string, rowGroupBytes int64) (*TheoryWriter, error) {
	if rowGroupBytes <= 0 {
		rowGroupBytes = DefaultTheoryRowGroupBytes
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("probes: create %s: %w", path, err)
	}
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Zstd)}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		opts = append(opts, parquet.KeyValueMetadata(k, meta[k]))
	}
	return &TheoryWriter{f: f, w: parquet.NewGenericWriter[TheoryRow](f, opts...), tmp: f.Name(), path: path,
		rowGroupBytes: rowGroupBytes}, nil
}

// Write appends rows.
func (t *TheoryWriter) Write(rows ...TheoryRow) error {
	if t.err != nil {
		return t.err
	}
	if _, err := t.w.Write(rows); err != nil {
		t.err = fmt.Errorf("probes: write %s: %w", t.path, err)
		return t.err
	}
	t.rows += int64(len(rows))
	if size := t.w.Size(); size-t.flushedAt >= t.rowGroupBytes {
		if err := t.w.Flush(); err != nil {
			t.err = fmt.Errorf("probes: flush row group of %s: %w", t.path, err)
			return t.err
		}
		t.flushedAt = t.w.Size()
	}
	return nil
}

// Rows returns the number of rows written.
func (t *TheoryWriter) Rows() int64 { return t.rows }

// Close writes the footer, syncs the file and renames it to its path. After
// a failed Write it removes the temporary file and returns the write's error.
func (t *TheoryWriter) Close() error {
	if t.f == nil {
		return errors.New("probes: theory writer already closed")
	}
	f := t.f
	t.f = nil
	if t.err != nil {
		f.Close()
		os.Remove(t.tmp)
		return t.err
	}
	err := t.w.Close()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(t.tmp, 0o644) // CreateTemp makes it 0600
	}
	if err == nil {
		err = os.Rename(t.tmp, t.path)
	}
	if err != nil {
		os.Remove(t.tmp)
		return fmt.Errorf("probes: finish %s: %w", t.path, err)
	}
	return nil
}

// Abort discards the file being written.
func (t *TheoryWriter) Abort() {
	if t.f == nil {
		return
	}
	t.f.Close()
	os.Remove(t.tmp)
	t.f = nil
}

// ReadTheory reads every row and the key-value metadata of a theory.parquet.
func ReadTheory(path string) ([]TheoryRow, map[string]string, error) {
	rows, meta, err := parquetio.ReadFile[TheoryRow](path)
	if err != nil {
		return nil, nil, fmt.Errorf("probes: %w", err)
	}
	return rows, meta, nil
}
