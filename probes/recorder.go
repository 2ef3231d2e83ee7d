package probes

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/sinklab/sinklab/probes/internal/parquetio"
	"github.com/sinklab/sinklab/transformer/capture"
)

// Sub-folders of a run folder holding the part files of each log.
const (
	MetricsDir = "metrics" // MetricsRow parts
	ProbesDir  = "probes"  // HeadRow parts
	LayersDir  = "layers"  // LayerRow parts
)

// Key-value metadata keys written into every log file.
const (
	MetaRunID          = "run_id"
	MetaConfig         = "config"          // the resolved run config, JSON
	MetaVersion        = "sinklab_version" // version of the program that wrote the file
	MetaMetricsVersion = "metrics_version" // MetricsVersion
	MetaKind           = "kind"            // "metrics", "probes", "layers", "theory" or "mixing"
	// MetaFirstPosition (probes and layers) is "bos" or "sink_token": what
	// position 1 of the captured sequences is, so first-token metrics read right.
	MetaFirstPosition = "first_position"
	// MetaSinkEpsilon (metrics, probes) is the ε of sink_rate.
	MetaSinkEpsilon = "sink_epsilon"
	// MetaSinkHeadThreshold (probes) is the bos_sink_score above which
	// is_sink_head is true.
	MetaSinkHeadThreshold = "sink_head_threshold"
	// MetaCausal, MetaNormalized and MetaSigned (probes) record the
	// capture's flags; with signed = true the ratio columns are of |A|.
	MetaCausal     = "causal"
	MetaNormalized = "normalized"
	MetaSigned     = "signed"
	// MetaSourcePrefix + column names the TransformerLens hook a metric column
	// was computed from, e.g. "source.entropy" = "blocks.{l}.attn.hook_pattern".
	MetaSourcePrefix = "source."
)

// Hook names (TransformerLens) the metrics are computed from.
const (
	HookPattern  = "blocks.{l}.attn.hook_pattern"
	HookV        = "blocks.{l}.attn.hook_v"
	HookResidPre = "blocks.{l}.hook_resid_pre"
	// HookGradPattern and HookGradScores are the gradients of the probe
	// batch's loss at hook_pattern and hook_attn_scores (replicator probes).
	HookGradPattern = "grad(blocks.{l}.attn.hook_pattern)"
	HookGradScores  = "grad(blocks.{l}.attn.hook_attn_scores)"
	firstPosBOS     = "bos"
	firstPosToken   = "sink_token"
)

// probeSources maps every metric column of probes.parquet to its hook.
var probeSources = [][2]string{
	{"entropy", HookPattern},
	{"entropy_norm", HookPattern},
	{"first_token_mass", HookPattern},
	{"bos_sink_score", HookPattern},
	{"is_sink_head", HookPattern},
	{"sparsity", HookPattern},
	{"row_mass", HookPattern},
	{"bos_value_norm_ratio", HookV},
	{"abs_attn_bos", HookPattern},
	{"abs_attn_all", HookPattern},
	{"rel_attn_bos", HookPattern},
	{"rel_attn_bos_global", HookPattern},
	{"sink_logit_mass", HookPattern},
	{"bos_advantage", HookGradPattern},
	{"bos_drift", HookGradPattern},
	{"entropy_drift", HookGradPattern},
	{"predicted_winner", HookGradPattern},
	{"max_mass_key", HookPattern},
	{"grad_norm_scores", HookGradScores},
}

// layerSources maps every metric column of layers.parquet to its hook.
var layerSources = [][2]string{
	{"resid_peak_ratio", HookResidPre},
	{"massive_activation_ratio", HookResidPre},
}

// RecorderOptions configures a Recorder. A nil *RecorderOptions or zero fields
// mean the defaults.
type RecorderOptions struct {
	// SinkEpsilon is ε of Sink₁^ε; 0 means DefaultSinkEpsilon (to count every
	// head with any first-token mass use a tiny positive ε).
	SinkEpsilon float64
	// RowsPerPart bounds the rows of one part file of each log; 0 means
	// parquetio.DefaultRowsPerPart. Parts also end at every Flush.
	RowsPerPart int64
	// RowGroupBytes is the buffered size at which a row group is flushed; 0
	// means parquetio.DefaultRowGroupBytes.
	RowGroupBytes int64
	// SinkK are the key positions k of Gu et al.'s Sink_k^ε (sink_gu in
	// metrics.parquet); nil means k = 1.
	SinkK []int
}

// Recorder writes the three logs of a training run as part files under the
// run folder: metrics/, probes/ and layers/ (see docs/logs.md). Opening a run
// folder that already has parts appends after them. It is not safe for
// concurrent use.
type Recorder struct {
	runID   string
	eps     float64
	metrics *parquetio.PartWriter[MetricsRow]
	probes  *parquetio.PartWriter[HeadRow]
	layers  *parquetio.PartWriter[LayerRow]
	m       measurer
	// guStep and gu are the step and Sink_k^ε of the last WriteProbes, for
	// that step's metrics row.
	guStep int64
	gu     map[string]float64
}

// NewRecorder opens the logs of run runID in runDir. configJSON (the resolved
// config) and version (sinklab's) go into every file's metadata.
func NewRecorder(runDir, runID, configJSON, version string, opts *RecorderOptions) (*Recorder, error) {
	if opts == nil {
		opts = &RecorderOptions{}
	}
	eps := opts.SinkEpsilon
	if eps == 0 {
		eps = DefaultSinkEpsilon
	}
	if !(eps > 0 && eps < 1) {
		return nil, fmt.Errorf("probes: sink epsilon %v: want 0 < ε < 1", eps)
	}
	epsText := strconv.FormatFloat(eps, 'g', -1, 64)
	base := func(kind string, extra ...[2]string) parquetio.Options {
		meta := map[string]string{
			MetaRunID:          runID,
			MetaConfig:         configJSON,
			MetaVersion:        version,
			MetaMetricsVersion: MetricsVersion,
			MetaKind:           kind,
		}
		for _, kv := range extra {
			meta[kv[0]] = kv[1]
		}
		return parquetio.Options{RowsPerPart: opts.RowsPerPart, RowGroupBytes: opts.RowGroupBytes, Metadata: meta}
	}
	var probeMeta [][2]string
	for _, s := range probeSources {
		probeMeta = append(probeMeta, [2]string{MetaSourcePrefix + s[0], s[1]})
	}
	probeMeta = append(probeMeta,
		[2]string{MetaSinkEpsilon, epsText},
		[2]string{MetaSinkHeadThreshold, strconv.FormatFloat(SinkHeadThreshold, 'g', -1, 64)})
	var layerMeta [][2]string
	for _, s := range layerSources {
		layerMeta = append(layerMeta, [2]string{MetaSourcePrefix + s[0], s[1]})
	}
	r := &Recorder{runID: runID, eps: eps, guStep: -1}
	r.m.sinkK = append([]int(nil), opts.SinkK...)
	var err error
	if r.metrics, err = parquetio.NewPartWriter[MetricsRow](filepath.Join(runDir, MetricsDir),
		base(MetricsDir, [2]string{MetaSinkEpsilon, epsText}, [2]string{MetaSourcePrefix + "sink_rate", HookPattern},
			[2]string{MetaSourcePrefix + "sink_gu", HookPattern})); err != nil {
		return nil, fmt.Errorf("probes: open recorder: %w", err)
	}
	if r.probes, err = parquetio.NewPartWriter[HeadRow](filepath.Join(runDir, ProbesDir), base(ProbesDir, probeMeta...)); err != nil {
		return nil, fmt.Errorf("probes: open recorder: %w", err)
	}
	if r.layers, err = parquetio.NewPartWriter[LayerRow](filepath.Join(runDir, LayersDir), base(LayersDir, layerMeta...)); err != nil {
		return nil, fmt.Errorf("probes: open recorder: %w", err)
	}
	return r, nil
}

// SinkEpsilon returns the ε the recorder uses for sink_rate.
func (r *Recorder) SinkEpsilon() float64 { return r.eps }

// WriteMetrics appends one training-step row; an empty RunID is filled in,
// and so is an empty SinkGu of the step of the last WriteProbes.
func (r *Recorder) WriteMetrics(row MetricsRow) error {
	if row.RunID == "" {
		row.RunID = r.runID
	}
	if row.SinkGu == nil && row.Step == r.guStep {
		row.SinkGu = r.gu
	}
	if err := r.metrics.Write([]MetricsRow{row}); err != nil {
		return fmt.Errorf("probes: write metrics at step %d: %w", row.Step, err)
	}
	return nil
}

// ProbeStep is what Recorder.WriteProbeStep wrote for one probe step: the
// head and layer rows (RunID, Step and Tokens filled in) and the step's sink
// summary, so that callers reuse the measurement instead of repeating it.
type ProbeStep struct {
	Heads  []HeadRow
	Layers []LayerRow
	Sinks  SinkSummary // SummarizeSinks of Heads with the recorder's ε
}

// WriteProbeStep measures a capture (see MeasureCapture) and appends its head
// and layer rows at the given step and token count. It returns the rows it
// wrote (the caller owns them) and their sink summary; Sinks.SinkRate is the
// step's MetricsRow.SinkRate. An invalid capture is an error and writes
// nothing.
func (r *Recorder) WriteProbeStep(step, tokens int64, c *capture.Capture) (ProbeStep, error) {
	if err := validate(c); err != nil {
		return ProbeStep{}, fmt.Errorf("probes: step %d: %w", step, err)
	}
	r.m.measure(c, r.eps)
	r.guStep, r.gu = step, r.m.gu
	for i := range r.m.heads {
		h := &r.m.heads[i]
		h.RunID, h.Step, h.Tokens = r.runID, step, tokens
	}
	for i := range r.m.layers {
		l := &r.m.layers[i]
		l.RunID, l.Step, l.Tokens = r.runID, step, tokens
	}
	first := firstPosBOS
	if c.SinkToken {
		first = firstPosToken
	}
	for _, w := range []interface{ SetMetadata(string, string) }{r.probes, r.layers} {
		w.SetMetadata(MetaFirstPosition, first)
	}
	r.probes.SetMetadata(MetaCausal, strconv.FormatBool(c.Causal))
	r.probes.SetMetadata(MetaNormalized, strconv.FormatBool(c.Normalized))
	r.probes.SetMetadata(MetaSigned, strconv.FormatBool(c.Signed))
	if err := r.probes.Write(r.m.heads); err != nil {
		return ProbeStep{}, fmt.Errorf("probes: write probes at step %d: %w", step, err)
	}
	if err := r.layers.Write(r.m.layers); err != nil {
		return ProbeStep{}, fmt.Errorf("probes: write layers at step %d: %w", step, err)
	}
	ps := ProbeStep{Heads: slices.Clone(r.m.heads), Layers: slices.Clone(r.m.layers)}
	ps.Sinks = SummarizeSinks(ps.Heads, r.eps)
	return ps, nil
}

// WriteProbes is WriteProbeStep for callers that need only the sink rate.
func (r *Recorder) WriteProbes(step, tokens int64, c *capture.Capture) (sinkRate float64, err error) {
	ps, err := r.WriteProbeStep(step, tokens, c)
	if err != nil {
		return 0, err
	}
	return ps.Sinks.SinkRate, nil
}

// Flush finishes the current part of every log, so everything written so far
// is readable even if the process is killed. Call it at checkpoints and every
// so often (log.flush_seconds). The metrics log is finished last, so a process
// killed during a Flush never leaves a finished metrics row of a probe step
// whose probe and layer rows are not finished too.
func (r *Recorder) Flush() error {
	return errors.Join(r.probes.Flush(), r.layers.Flush(), r.metrics.Flush()) // calls run left to right
}

// Close flushes and closes every log.
func (r *Recorder) Close() error {
	return errors.Join(r.probes.Close(), r.layers.Close(), r.metrics.Close())
}

// TruncateAfter drops every row with step > step from the metrics, probes and
// layers logs of runDir, for resuming from a checkpoint taken at that step.
// Each affected part is rewritten atomically (or removed when no row stays),
// so a crash part-way leaves each file either old or new and a second call
// finishes the job. Stale temporary files are removed. Call it before
// NewRecorder opens the run folder.
func TruncateAfter(runDir string, step int64) error {
	if err := truncateLog(filepath.Join(runDir, MetricsDir), func(r *MetricsRow) bool { return r.Step <= step }); err != nil {
		return err
	}
	if err := truncateLog(filepath.Join(runDir, ProbesDir), func(r *HeadRow) bool { return r.Step <= step }); err != nil {
		return err
	}
	return truncateLog(filepath.Join(runDir, LayersDir), func(r *LayerRow) bool { return r.Step <= step })
}

// truncateLog filters every part of one log folder.
func truncateLog[T any](dir string, keep func(*T) bool) error {
	if err := parquetio.RemoveTemps(dir); err != nil {
		return fmt.Errorf("probes: truncate: %w", err)
	}
	parts, err := parquetio.ListParts(dir)
	if err != nil {
		return fmt.Errorf("probes: truncate: %w", err)
	}
	for _, p := range parts {
		if _, _, err := parquetio.Filter(p, keep); err != nil {
			return fmt.Errorf("probes: truncate: %w", err)
		}
	}
	return nil
}
