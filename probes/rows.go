package probes

// Row types of the three Parquet logs a training run writes. Column names,
// types and meanings are documented in docs/logs.md; the metric formulas are
// those of SCIENCE.md §3 as implemented in metrics.go.
//
// Encodings: run_id and variant repeat on every row, so they are
// dictionary-encoded; step and tokens grow monotonically, so they are
// delta-encoded. Every file is zstd-compressed. Nullable columns are pointers
// (Parquet OPTIONAL), which DuckDB reads as NULL and pandas as NaN/None.

// HeadRow is one row of probes.parquet: the attention metrics of one head at
// one probe step, on one row group of query rows. Metric values that are
// undefined for the capture (see metrics.go, e.g. entropy of a T = 1 map) are
// NaN.
type HeadRow struct {
	RunID   string `parquet:"run_id,dict"`
	Step    int64  `parquet:"step,delta"`
	Tokens  int64  `parquet:"tokens,delta"`
	Layer   int32  `parquet:"layer"`
	Head    int32  `parquet:"head"`
	Variant string `parquet:"variant,dict"`
	// Group is the row group the metrics were measured on: "all", or a
	// task's group of query rows (see RowGroups).
	Group string `parquet:"group,dict"`

	Entropy           float64 `parquet:"entropy"`
	EntropyNorm       float64 `parquet:"entropy_norm"`
	FirstTokenMass    float64 `parquet:"first_token_mass"`
	BOSSinkScore      float64 `parquet:"bos_sink_score"`
	IsSinkHead        bool    `parquet:"is_sink_head"`
	Sparsity          float64 `parquet:"sparsity"`
	RowMass           float64 `parquet:"row_mass"`
	BOSValueNormRatio float64 `parquet:"bos_value_norm_ratio"`

	// The four BOS metrics of Varre et al.'s code (see HeadStats).
	AbsAttnBOS       float64 `parquet:"abs_attn_bos"`
	AbsAttnAll       float64 `parquet:"abs_attn_all"`
	RelAttnBOS       float64 `parquet:"rel_attn_bos"`
	RelAttnBOSGlobal float64 `parquet:"rel_attn_bos_global"`
	// SinkLogitMass is the mean over the group's rows of the mass on no key,
	// 1 − Σ_j A_ij (Capture.NullMass): the sink logit's share, or softmax1's;
	// null for every other variant.
	SinkLogitMass *float64 `parquet:"sink_logit_mass,optional"`

	// Replicator probes (SCIENCE.md §3b, see FlowStats), null when the probe
	// step ran without the backward pass (probe.replicator = false).
	BOSAdvantage    *float64 `parquet:"bos_advantage,optional"`
	BOSDrift        *float64 `parquet:"bos_drift,optional"`
	EntropyDrift    *float64 `parquet:"entropy_drift,optional"`
	PredictedWinner *int32   `parquet:"predicted_winner,optional"`
	MaxMassKey      *int32   `parquet:"max_mass_key,optional"`
	GradNormScores  *float64 `parquet:"grad_norm_scores,optional"`
}

// LayerRow is one row of layers.parquet: the residual-stream metrics of one
// layer at one probe step.
type LayerRow struct {
	RunID  string `parquet:"run_id,dict"`
	Step   int64  `parquet:"step,delta"`
	Tokens int64  `parquet:"tokens,delta"`
	Layer  int32  `parquet:"layer"`

	ResidPeakRatio         float64 `parquet:"resid_peak_ratio"`
	MassiveActivationRatio float64 `parquet:"massive_activation_ratio"`
}

// MetricsRow is one row of metrics.parquet: one logged training step.
//
// GroupLoss holds the training loss per metric group of the task (for
// bigram-backcopy "trigger" and "non_trigger"); it is written as a Parquet
// MAP<string, double>, so any number of named groups fit one schema, DuckDB
// reads a group as group_loss['trigger'] and pandas gets a list of (key, value)
// pairs per row (dict(x) turns it into a dict). A nil or empty map is an empty
// MAP, not NULL.
type MetricsRow struct {
	RunID  string `parquet:"run_id,dict"`
	Step   int64  `parquet:"step,delta"`
	Tokens int64  `parquet:"tokens,delta"`

	Loss        float64  `parquet:"loss"`
	ValLoss     *float64 `parquet:"val_loss,optional"`     // set on evaluation steps
	ValAccuracy *float64 `parquet:"val_accuracy,optional"` // set on evaluation steps of tasks with an accuracy
	LR          float64  `parquet:"lr"`
	GradNorm    float64  `parquet:"grad_norm"`
	StepSeconds float64  `parquet:"step_seconds"`
	SinkRate    *float64 `parquet:"sink_rate,optional"` // set on probe steps: Sink₁^ε in percent
	// SinkGu is set on probe steps by the Recorder: Gu et al.'s Sink_k^ε in
	// percent over every (sample, layer, head) cell of the probe batch, keyed
	// by k ("1", "2", …: probe.sink_k); see GuAlphas. Empty on other steps.
	SinkGu map[string]float64 `parquet:"sink_gu" parquet-key:",dict"`

	GroupLoss map[string]float64 `parquet:"group_loss" parquet-key:",dict"`
}

// Float returns a pointer to v, for the nullable columns of MetricsRow.
func Float(v float64) *float64 { return &v }
