package sweep

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"

	"github.com/parquet-go/parquet-go"

	"github.com/sinklab/sinklab/probes"
)

// Summary is one cell's row of sweep.parquet: its state and, for a done cell,
// its final metrics read from its Parquet logs. Pointer fields are NULL when
// the cell has no such value (not done, no evaluation, no probes).
type Summary struct {
	Cell  Cell
	State State
	Error string // failed cells: the run's error

	Seconds *float64 // wall time of the run (done.json / failed.json)
	Step    *int64   // last logged training step
	Tokens  *int64   // training tokens at that step

	FinalLoss   *float64 // training loss at the last logged step
	ValLoss     *float64 // last val_loss
	ValAccuracy *float64 // last val_accuracy
	SinkRate    *float64 // last sink_rate: Sink₁^ε in percent

	ProbeStep          *int64   // last probe step
	ProbeHeads         *int32   // heads (all layers) probed at that step
	SinkHeads          *int32   // of them, heads with bos_sink_score > 0.9 (is_sink_head)
	SinkHeadShare      *float64 // SinkHeads / ProbeHeads
	MeanEntropy        *float64 // mean entropy over heads at that step (non-finite heads skipped, probes.SinkSummary; NaN if all are)
	MeanFirstTokenMass *float64 // mean first_token_mass over heads at that step
	MeanBOSSinkScore   *float64 // mean bos_sink_score over heads at that step (non-finite heads skipped)
}

// Collect reads the state of every cell and the final metrics of the done
// ones from DIR/<id>/metrics and DIR/<id>/probes.
func Collect(dir string, cells []Cell) ([]Summary, error) {
	out := make([]Summary, 0, len(cells))
	for _, c := range cells {
		st, mk := StateOf(dir, c)
		s := Summary{Cell: c, State: st}
		if mk != nil {
			sec := mk.Seconds
			s.Seconds = &sec
			s.Error = mk.Error
		}
		if st == StateDone {
			if err := s.readLogs(CellDir(dir, c)); err != nil {
				return nil, fmt.Errorf("sweep: cell %s: %w", c.ID, err)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func (s *Summary) readLogs(cellDir string) error {
	metrics, err := readParts[probes.MetricsRow](filepath.Join(cellDir, probes.MetricsDir))
	if err != nil {
		return err
	}
	sort.SliceStable(metrics, func(i, j int) bool { return metrics[i].Step < metrics[j].Step })
	if n := len(metrics); n > 0 {
		last := metrics[n-1]
		step, tokens, loss := last.Step, last.Tokens, last.Loss
		s.Step, s.Tokens, s.FinalLoss = &step, &tokens, &loss
	}
	for i := len(metrics) - 1; i >= 0; i-- {
		m := metrics[i]
		if s.ValLoss == nil && m.ValLoss != nil {
			s.ValLoss = probes.Float(*m.ValLoss)
		}
		if s.ValAccuracy == nil && m.ValAccuracy != nil {
			s.ValAccuracy = probes.Float(*m.ValAccuracy)
		}
		if s.SinkRate == nil && m.SinkRate != nil {
			s.SinkRate = probes.Float(*m.SinkRate)
		}
	}
	heads, err := readParts[probes.HeadRow](filepath.Join(cellDir, probes.ProbesDir))
	if err != nil {
		return err
	}
	if len(heads) == 0 {
		return nil
	}
	last := heads[0].Step
	for _, h := range heads {
		last = max(last, h.Step)
	}
	var fin []probes.HeadRow
	for _, h := range heads {
		if h.Step == last {
			fin = append(fin, h)
		}
	}
	// The sink summary of the last probe step; ε only enters its SinkRate,
	// which sweep.parquet takes from the metrics log.
	sum := probes.SummarizeSinks(fin, probes.DefaultSinkEpsilon)
	if sum.Heads == 0 {
		return nil
	}
	n, sinks, share := int32(sum.Heads), int32(sum.SinkHeads), sum.SinkHeadShare()
	s.ProbeStep, s.ProbeHeads, s.SinkHeads, s.SinkHeadShare = &last, &n, &sinks, &share
	s.MeanEntropy = probes.Float(sum.MeanEntropy)
	s.MeanFirstTokenMass = probes.Float(sum.MeanFirstTokenMass)
	s.MeanBOSSinkScore = probes.Float(sum.MeanBOSSinkScore)
	return nil
}

// readParts reads every part file of one log folder (hidden temporary parts
// are not matched by *.parquet).
func readParts[T any](dir string) ([]T, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var rows []T
	for _, f := range files {
		if filepath.Base(f)[0] == '.' {
			continue
		}
		r, err := parquet.ReadFile[T](f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// Fixed columns of sweep.parquet, before and after the grid keys.
var (
	headColumns = []reflect.StructField{
		{Name: "CellID", Type: reflect.TypeFor[string](), Tag: `parquet:"cell_id,dict"`},
		{Name: "CellIndex", Type: reflect.TypeFor[int32](), Tag: `parquet:"cell_index"`},
		{Name: "Task", Type: reflect.TypeFor[string](), Tag: `parquet:"task,dict"`},
	}
	tailColumns = []reflect.StructField{
		{Name: "Seed", Type: reflect.TypeFor[int64](), Tag: `parquet:"seed"`},
		{Name: "Status", Type: reflect.TypeFor[string](), Tag: `parquet:"status,dict"`},
		{Name: "Error", Type: reflect.TypeFor[*string](), Tag: `parquet:"error,optional"`},
		{Name: "Seconds", Type: reflect.TypeFor[*float64](), Tag: `parquet:"seconds,optional"`},
		{Name: "Step", Type: reflect.TypeFor[*int64](), Tag: `parquet:"step,optional"`},
		{Name: "Tokens", Type: reflect.TypeFor[*int64](), Tag: `parquet:"tokens,optional"`},
		{Name: "FinalLoss", Type: reflect.TypeFor[*float64](), Tag: `parquet:"final_loss,optional"`},
		{Name: "ValLoss", Type: reflect.TypeFor[*float64](), Tag: `parquet:"val_loss,optional"`},
		{Name: "ValAccuracy", Type: reflect.TypeFor[*float64](), Tag: `parquet:"val_accuracy,optional"`},
		{Name: "SinkRate", Type: reflect.TypeFor[*float64](), Tag: `parquet:"sink_rate,optional"`},
		{Name: "ProbeStep", Type: reflect.TypeFor[*int64](), Tag: `parquet:"probe_step,optional"`},
		{Name: "ProbeHeads", Type: reflect.TypeFor[*int32](), Tag: `parquet:"n_heads_probed,optional"`},
		{Name: "SinkHeads", Type: reflect.TypeFor[*int32](), Tag: `parquet:"n_sink_heads,optional"`},
		{Name: "SinkHeadShare", Type: reflect.TypeFor[*float64](), Tag: `parquet:"sink_head_share,optional"`},
		{Name: "MeanEntropy", Type: reflect.TypeFor[*float64](), Tag: `parquet:"mean_entropy,optional"`},
		{Name: "MeanFirstTokenMass", Type: reflect.TypeFor[*float64](), Tag: `parquet:"mean_first_token_mass,optional"`},
		{Name: "MeanBOSSinkScore", Type: reflect.TypeFor[*float64](), Tag: `parquet:"mean_bos_sink_score,optional"`},
	}
)

// rowType builds the Go struct type of one sweep.parquet row: cell_id,
// cell_index, task (unless task is a grid key), one string column per grid
// key named by the key (e.g. "model.attention"), then the fixed columns.
func rowType(keys []string) (t reflect.Type, gridField []int) {
	var fields []reflect.StructField
	for _, f := range headColumns {
		if f.Name == "Task" && slices.Contains(keys, "task") {
			continue
		}
		fields = append(fields, f)
	}
	for i, k := range keys {
		gridField = append(gridField, len(fields))
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("Grid%d", i), Type: reflect.TypeFor[string](),
			Tag: reflect.StructTag(fmt.Sprintf(`parquet:%q`, k+",dict"))})
	}
	fields = append(fields, tailColumns...)
	return reflect.StructOf(fields), gridField
}

// WriteParquet writes the summaries as a Parquet file (zstd, one row per
// cell) through a temporary file and a rename. keys are the grid keys; meta
// goes into the file's key-value metadata.
func WriteParquet(path string, keys []string, rows []Summary, meta map[string]string) error {
	t, gridField := rowType(keys)
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Zstd), parquet.SchemaOf(reflect.New(t).Interface())}
	mk := make([]string, 0, len(meta))
	for k := range meta {
		mk = append(mk, k)
	}
	slices.Sort(mk)
	for _, k := range mk {
		opts = append(opts, parquet.KeyValueMetadata(k, meta[k]))
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	w := parquet.NewWriter(f, opts...)
	for _, s := range rows {
		v := reflect.New(t).Elem()
		v.FieldByName("CellID").SetString(s.Cell.ID)
		v.FieldByName("CellIndex").SetInt(int64(s.Cell.Index))
		if fv := v.FieldByName("Task"); fv.IsValid() {
			fv.SetString(s.Cell.Task)
		}
		for i, k := range keys {
			for _, p := range s.Cell.Params {
				if p.Key == k {
					v.Field(gridField[i]).SetString(p.Value)
				}
			}
		}
		v.FieldByName("Seed").SetInt(int64(s.Cell.Seed))
		v.FieldByName("Status").SetString(string(s.State))
		if s.Error != "" {
			e := s.Error
			v.FieldByName("Error").Set(reflect.ValueOf(&e))
		}
		for name, p := range map[string]any{"Seconds": s.Seconds, "Step": s.Step, "Tokens": s.Tokens,
			"FinalLoss": s.FinalLoss, "ValLoss": s.ValLoss, "ValAccuracy": s.ValAccuracy, "SinkRate": s.SinkRate,
			"ProbeStep": s.ProbeStep, "ProbeHeads": s.ProbeHeads, "SinkHeads": s.SinkHeads,
			"SinkHeadShare": s.SinkHeadShare, "MeanEntropy": s.MeanEntropy,
			"MeanFirstTokenMass": s.MeanFirstTokenMass, "MeanBOSSinkScore": s.MeanBOSSinkScore} {
			if pv := reflect.ValueOf(p); !pv.IsNil() {
				v.FieldByName(name).Set(pv)
			}
		}
		if err := w.Write(v.Addr().Interface()); err != nil {
			f.Close()
			return fmt.Errorf("sweep: write %s: %w", path, err)
		}
	}
	err = w.Close()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644) // CreateTemp makes it 0600
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("sweep: write %s: %w", path, err)
	}
	return nil
}
