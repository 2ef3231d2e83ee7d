package transformer

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sinklab/sinklab/attention"
	"github.com/sinklab/sinklab/data"
)

// ModelConfig describes the transformer. Field names follow TransformerLens
// (d_model, n_layers, n_heads, d_vocab, n_ctx).
type ModelConfig struct {
	// Vocab is d_vocab, the embedding and output size. 0 = the task's vocabulary.
	Vocab int `json:"d_vocab"`
	// DModel is the residual width D. Default 128 (the paper's induction model).
	DModel int `json:"d_model"`
	// Layers is the number of blocks. Default 2 (the paper's induction model).
	Layers int `json:"n_layers"`
	// Heads is the number of attention heads; it must divide d_model. Default 4.
	Heads int `json:"n_heads"`
	// MLPRatio is F/D, the MLP's hidden width over d_model. Default 4 (GPT-2).
	MLPRatio int `json:"mlp_ratio"`
	// NCtx is the number of learned positions. 0 = the task's sequence length.
	NCtx int `json:"n_ctx"`
	// Positions is learned-add, concat (token and position embeddings each D/2,
	// the paper's default) or none.
	Positions string `json:"positions"`
	// PreLN puts a LayerNorm before attention, before the MLP and before the
	// unembedding (GPT-2's pre-LN). Default true; false removes all three.
	PreLN bool `json:"pre_ln"`
	// MLP adds the GELU MLP to every block. Default true.
	MLP bool `json:"mlp"`
	// Causal masks attention to earlier positions. Default: the task's
	// (true for next-token tasks, false for classification).
	Causal bool `json:"causal"`
	// Attention is the attention variant: one of attention.Variants(), or the
	// paper's name for it (attention.PaperVariants(), e.g. raw_dotproduct_norm);
	// Validate stores the canonical name. MLP attention's φ has hidden width
	// AttnMLPRatio·d_head. Default softmax.
	Attention string `json:"attention"`
	// AttnMLPRatio is MLP attention's φ width over d_head (d_head →
	// AttnMLPRatio·d_head → d_head). 0 (default) follows MLPRatio, as the
	// paper's code does; setting it with a type that has no φ is an error.
	AttnMLPRatio int `json:"attn_mlp_ratio"`
	// SinkToken prepends a learned vector to every sequence (StreamingLLM's
	// sink token). Default false.
	SinkToken bool `json:"sink_token"`
	// KVBias gives every head a learned extra key and value that every query
	// sees (Gu et al.'s key/value biases). Default false.
	KVBias bool `json:"kv_bias"`
	// Gate multiplies every head's attention output, before W_O, by a sigmoid
	// gate computed from the block's attention input (the LayerNorm output
	// that feeds q, k and v; Qiu et al. 2025, "gated attention"): none
	// (default), head (g = sigmoid(x·W_g + b_g), one scalar per head and
	// position, W_g (D, H)) or elementwise (one per channel, W_g (D, D)).
	Gate string `json:"gate"`
	// SinkLogit gives every head one learned logit (blocks.{l}.attn.sink_logit,
	// (H), initialised to 0) in every row's softmax denominator, a key with no
	// value: p_j = e^{s_j} / (e^{b_h} + Σ e^{s_k}). softmax only. Default false.
	SinkLogit bool `json:"sink_logit"`
	// Precision is float32 (default, for training) or float64 (for checks).
	Precision string `json:"precision"`
	// Init is the parameter initialisation: torch (default, the paper's:
	// PyTorch's defaults, embeddings N(0, 1), every Linear weight and bias
	// U(±1/√fan_in), LayerNorm 1 and 0) or gpt2 (weights N(0, init_std²),
	// residual output projections N(0, init_std²/(2·n_layers)), biases 0).
	Init string `json:"init"`
	// InitStd is the standard deviation of the gpt2 initialisation (the torch
	// initialisation ignores it). Default 0.02.
	InitStd float64 `json:"init_std"`
	// GELU is the MLP's activation: erf (default, exact GELU as PyTorch's
	// nn.GELU) or tanh (GPT-2's approximation).
	GELU string `json:"gelu"`
	// UnembedBias gives the output projection a bias (unembed.b_U), as the
	// paper's nn.Linear output layer has. Default true; the gpt2 preset turns
	// it off (GPT-2's tied unembedding has none).
	UnembedBias bool `json:"unembed_bias"`
	// DOut is the number of outputs of the unembedding. 0 = the task's:
	// its vocabulary for next-token tasks, the number of labels for
	// classification (the paper's 4-way output read at CLS).
	DOut int `json:"d_out"`
}

// Initialisations (model.init).
const (
	InitTorch = "torch"
	InitGPT2  = "gpt2"
)

// Attention output gates (model.gate).
const (
	GateNone        = "none"
	GateHead        = "head"
	GateElementwise = "elementwise"
)

// GELU forms (model.gelu).
const (
	GeluErf  = "erf"
	GeluTanh = "tanh"
)

// Weight-decay scopes (optim.decay).
const (
	DecayAll      = "all"
	DecayMatrices = "matrices"
)

// OptimConfig describes the optimizer and learning-rate schedule.
type OptimConfig struct {
	// Name is adamw (default; decoupled weight decay, bias correction) or sgd.
	Name string `json:"name"`
	// LR is the (peak) learning rate. Default 1e-3, constant: the paper's
	// (its sweep also uses 1e-2 and 1e-4).
	LR float64 `json:"lr"`
	// Beta1, Beta2, Eps are Adam's constants. Defaults 0.9, 0.999, 1e-8 (PyTorch's).
	Beta1 float64 `json:"beta1"`
	Beta2 float64 `json:"beta2"`
	Eps   float64 `json:"eps"`
	// WeightDecay is AdamW's decoupled decay (and SGD's L2). Default 0.01
	// (PyTorch's AdamW).
	WeightDecay float64 `json:"weight_decay"`
	// Decay says which tensors weight decay applies to: all (default, as
	// torch.optim.AdamW(model.parameters()) in the paper: biases, LayerNorm
	// and embeddings too) or matrices (weight matrices and embeddings only,
	// not biases or LayerNorm gains: the GPT-2 recipe).
	Decay string `json:"decay"`
	// Momentum is SGD's momentum. Default 0 (plain SGD).
	Momentum float64 `json:"momentum"`
	// Schedule is constant (default, the paper's) or warmup-cosine.
	Schedule string `json:"schedule"`
	// Warmup is the number of linear warm-up steps of warmup-cosine. Default 0.
	Warmup int `json:"warmup"`
	// MinLRRatio is the final learning rate of warmup-cosine over LR. Default 0.1.
	MinLRRatio float64 `json:"min_lr_ratio"`
	// ClipNorm clips the gradient to this global L2 norm; 0 (default, the
	// paper's) turns clipping off.
	ClipNorm float64 `json:"clip_norm"`
}

// TrainConfig describes the training loop.
type TrainConfig struct {
	// Steps is the number of optimizer steps. Exactly one of Steps and Epochs
	// is set (> 0). Default 400 for induction (the default run), see
	// DefaultConfig for the other tasks.
	Steps int `json:"steps"`
	// Epochs trains for this many passes over the task's fixed pool
	// (data.pool), each in a fresh order drawn from the seed; the last batch
	// of an epoch holds the remainder (pool mod batch), as PyTorch's
	// DataLoader(shuffle=True) gives. An alternative to Steps: 10 epochs over
	// the paper's pool of 10⁵ sequences at batch 256 are 3910 steps.
	Epochs int `json:"epochs"`
	// Batch is the number of sequences per step. Default 256 for induction
	// and classification (the paper's), 64 for the other tasks.
	Batch int `json:"batch"`
	// Shards splits every batch into this many equal parts computed in
	// parallel, one per core, with gradients summed in a fixed order; results
	// do not depend on how many cores there are. Default 2.
	Shards int `json:"shards"`
	// EvalEvery evaluates on the held-out set every this many steps (and at the
	// last step); 0 = only at the end. Default 100.
	EvalEvery int `json:"eval_every"`
	// EvalBatch is the batch size of evaluation and probe passes. Default 64.
	EvalBatch int `json:"eval_batch"`
	// LogEvery writes a metrics row every this many steps. Default 10.
	LogEvery int `json:"log_every"`
}

// ProbeConfig describes when probes run.
type ProbeConfig struct {
	// Every runs probes every this many steps (plus step 0 and the last step);
	// 0 turns probes off. Default 50; 100 for text, whose probe step (a
	// forward and backward pass over 64 sequences of 128 tokens on one core,
	// and every metric over them) costs about two training steps: with
	// train.eval_every 100 and data.eval_size 512, evaluation and probes
	// then take under 10% of a default text run's wall time
	// (BenchmarkTrainText in cmd/sinklab).
	Every int `json:"every"`
	// Eps is ε of Sink₁^ε (Gu et al.): a head is counted when its first-token
	// mass exceeds it. Default 0.3.
	Eps float64 `json:"eps"`
	// MixingPairs is the number of sample pairs of the label-mixing
	// experiment (Varre et al. §4.2) run at the end of a classification run;
	// 0 turns it off. Default 500.
	MixingPairs int `json:"mixing_pairs"`
	// SkipReplicator turns off the replicator probes (SCIENCE.md §3b): the
	// probe step then runs the forward pass only and the replicator columns
	// of probes.parquet are null. Default false (replicator probes on).
	SkipReplicator bool `json:"skip_replicator"`
	// SinkK lists the key positions k (1-based, comma-separated, e.g. "1,2")
	// of Gu et al.'s Sink_k^ε (layers.parquet and metrics.parquet column
	// sink_gu). Default "1".
	SinkK string `json:"sink_k"`
}

// CheckpointConfig describes when checkpoints are written.
type CheckpointConfig struct {
	// Every writes a checkpoint every this many steps; 0 = only at the end.
	Every int `json:"every"`
	// EverySeconds also writes a checkpoint at the first step boundary after
	// this many seconds of wall time since the run (or resume) started or the
	// last checkpoint, so a killed run can resume; 0 = off. Default 300.
	EverySeconds float64 `json:"every_seconds"`
	// KeepLast keeps this many newest checkpoints (0 = all). Default 3.
	KeepLast int `json:"keep_last"`
}

// LogConfig describes how often the Parquet logs are made durable.
type LogConfig struct {
	// FlushSeconds finishes the open part of every log (footer written, file
	// renamed into place) at the first step boundary after this many seconds
	// of wall time since the last flush, besides at checkpoints and at the
	// end, so a killed run loses at most about this much of its logs.
	// Default 60; must be > 0.
	FlushSeconds float64 `json:"flush_seconds"`
}

// Config is the whole resolved configuration of a training run.
type Config struct {
	Task       string           `json:"task"`
	Seed       uint64           `json:"seed"`
	Model      ModelConfig      `json:"model"`
	Optim      OptimConfig      `json:"optim"`
	Train      TrainConfig      `json:"train"`
	Data       data.Config      `json:"data"`
	Probe      ProbeConfig      `json:"probe"`
	Checkpoint CheckpointConfig `json:"checkpoint"`
	Log        LogConfig        `json:"log"`

	stepsSet, epochsSet bool // Set has assigned train.steps / train.epochs
}

// DefaultConfig returns the defaults for a task: the paper's recipe
// (SCIENCE.md §2: PyTorch's default initialisation, exact GELU, AdamW 1e-3
// constant with weight decay 0.01 on every tensor, no clipping, no warm-up)
// and the paper's model (2 layers, d 128, 4 heads, pre-LayerNorm). Induction
// and classification also take the paper's data (a fixed pool consumed in
// shuffled epochs, batch 256, 1000 held-out sequences): classification trains
// the paper's 10 epochs, induction 400 steps (about one epoch, the default
// run; docs/configs/paper/induction.yaml has the paper's 10).
func DefaultConfig(task string) (Config, error) {
	dc, err := data.DefaultConfig(task)
	if err != nil {
		return Config{}, err
	}
	c := Config{
		Task: task,
		Seed: 1,
		Model: ModelConfig{DModel: 128, Layers: 2, Heads: 4, MLPRatio: 4, Positions: PosConcat, PreLN: true,
			MLP: true, Causal: task != data.TaskClassification, Attention: attention.VariantSoftmax,
			Precision: "float32", Init: InitTorch, InitStd: 0.02, GELU: GeluErf, UnembedBias: true, Gate: GateNone},
		Optim: OptimConfig{Name: "adamw", LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01,
			Decay: DecayAll, Schedule: "constant", Warmup: 0, MinLRRatio: 0.1, ClipNorm: 0},
		Train:      TrainConfig{Steps: 1000, Batch: 64, Shards: 2, EvalEvery: 100, EvalBatch: 64, LogEvery: 10},
		Data:       dc,
		Probe:      ProbeConfig{Every: 50, Eps: 0.3, MixingPairs: 500, SinkK: "1"},
		Checkpoint: CheckpointConfig{Every: 0, EverySeconds: 300, KeepLast: 3},
		Log:        LogConfig{FlushSeconds: 60},
	}
	switch task {
	case data.TaskInduction:
		c.Train.Steps, c.Train.Batch = 400, 256
	case data.TaskClassification:
		c.Model.Positions = PosNone
		c.Train.Steps, c.Train.Epochs, c.Train.Batch, c.Train.EvalEvery, c.Probe.Every = 0, 10, 256, 40, 40
	case data.TaskText:
		c.Probe.Every = 100 // see ProbeConfig.Every
	}
	return c, nil
}

// PhiRatio is MLP attention's φ width over d_head: AttnMLPRatio, or MLPRatio
// when that is 0.
func (m ModelConfig) PhiRatio() int {
	if m.AttnMLPRatio > 0 {
		return m.AttnMLPRatio
	}
	return m.MLPRatio
}

// TotalSteps is the number of optimizer steps of the run: train.steps, or
// train.epochs passes over data.pool in batches of train.batch (the last batch
// of each epoch holds the remainder).
func (c *Config) TotalSteps() int {
	if c.Train.Epochs > 0 && c.Train.Batch > 0 {
		return c.Train.Epochs * ((c.Data.Pool + c.Train.Batch - 1) / c.Train.Batch)
	}
	return c.Train.Steps
}

// Validate checks the configuration and names the first bad key. It resolves
// model.attention to its canonical name (attention.CanonicalVariant).
func (c *Config) Validate() error {
	att, err := attention.CanonicalVariant(c.Model.Attention)
	if err != nil {
		return fmt.Errorf("model.attention = %q: %v", c.Model.Attention, err)
	}
	c.Model.Attention = att
	if c.Model.Gate == "" { // configs written before model.gate existed
		c.Model.Gate = GateNone
	}
	if c.Probe.SinkK == "" {
		c.Probe.SinkK = "1"
	}
	m := c.Model
	switch {
	case m.DModel < 1:
		return fmt.Errorf("model.d_model must be ≥ 1, got %d", m.DModel)
	case m.Layers < 1:
		return fmt.Errorf("model.n_layers must be ≥ 1, got %d", m.Layers)
	case m.Heads < 1 || m.DModel%m.Heads != 0:
		return fmt.Errorf("model.n_heads = %d does not divide model.d_model = %d", m.Heads, m.DModel)
	case m.MLPRatio < 1:
		return fmt.Errorf("model.mlp_ratio must be ≥ 1, got %d", m.MLPRatio)
	case m.AttnMLPRatio < 0:
		return fmt.Errorf("model.attn_mlp_ratio must be ≥ 1 (or 0: follow model.mlp_ratio), got %d", m.AttnMLPRatio)
	case m.AttnMLPRatio > 0 && !attention.VariantHasMLP(m.Attention):
		return fmt.Errorf("model.attn_mlp_ratio sets MLP attention's φ, but model.attention = %s has none (use mlp or mlp-norm)", m.Attention)
	case !slices.Contains([]string{PosLearnedAdd, PosConcat, PosNone}, m.Positions):
		return fmt.Errorf("model.positions = %q: want learned-add, concat or none", m.Positions)
	case m.Positions == PosConcat && m.DModel%2 != 0:
		return fmt.Errorf("model.positions = concat needs an even model.d_model, got %d", m.DModel)
	case m.Precision != "float32" && m.Precision != "float64":
		return fmt.Errorf("model.precision = %q: want float32 or float64", m.Precision)
	case m.Init != InitTorch && m.Init != InitGPT2:
		return fmt.Errorf("model.init = %q: want torch or gpt2", m.Init)
	case !(m.InitStd > 0):
		return fmt.Errorf("model.init_std must be > 0, got %v", m.InitStd)
	case m.GELU != GeluErf && m.GELU != GeluTanh:
		return fmt.Errorf("model.gelu = %q: want erf or tanh", m.GELU)
	case m.DOut < 0:
		return fmt.Errorf("model.d_out must be ≥ 0 (0 = the task's), got %d", m.DOut)
	case m.Gate != GateNone && m.Gate != GateHead && m.Gate != GateElementwise:
		return fmt.Errorf("model.gate = %q: want none, head or elementwise", m.Gate)
	case m.SinkLogit && m.Attention != attention.VariantSoftmax:
		return fmt.Errorf("model.sink_logit = true needs model.attention = softmax, got %s", m.Attention)
	}
	if _, err := c.Probe.SinkKeys(); err != nil {
		return err
	}
	o := c.Optim
	switch {
	case o.Name != "adamw" && o.Name != "sgd":
		return fmt.Errorf("optim.name = %q: want adamw or sgd", o.Name)
	case !(o.LR > 0):
		return fmt.Errorf("optim.lr must be > 0, got %v", o.LR)
	case o.Beta1 < 0 || o.Beta1 >= 1 || o.Beta2 < 0 || o.Beta2 >= 1:
		return fmt.Errorf("optim.beta1 and optim.beta2 must be in [0, 1), got %v, %v", o.Beta1, o.Beta2)
	case o.WeightDecay < 0:
		return fmt.Errorf("optim.weight_decay must be ≥ 0, got %v", o.WeightDecay)
	case o.Decay != DecayAll && o.Decay != DecayMatrices:
		return fmt.Errorf("optim.decay = %q: want all or matrices", o.Decay)
	case o.Momentum < 0 || o.Momentum >= 1:
		return fmt.Errorf("optim.momentum must be in [0, 1), got %v", o.Momentum)
	case o.Schedule != "constant" && o.Schedule != "warmup-cosine":
		return fmt.Errorf("optim.schedule = %q: want constant or warmup-cosine", o.Schedule)
	case o.Warmup < 0:
		return fmt.Errorf("optim.warmup must be ≥ 0, got %d", o.Warmup)
	case o.ClipNorm < 0:
		return fmt.Errorf("optim.clip_norm must be ≥ 0, got %v", o.ClipNorm)
	}
	t := c.Train
	switch {
	case t.Steps > 0 && t.Epochs > 0:
		return fmt.Errorf("train.steps = %d and train.epochs = %d are both set: set one of them", t.Steps, t.Epochs)
	case t.Steps < 0 || t.Epochs < 0 || t.Steps == 0 && t.Epochs == 0:
		return fmt.Errorf("train.steps must be ≥ 1 (or train.epochs ≥ 1), got steps %d, epochs %d", t.Steps, t.Epochs)
	case t.Epochs > 0 && c.Data.Pool < 1:
		return fmt.Errorf("train.epochs needs a fixed pool of sequences to pass over: set data.pool ≥ 1")
	case t.Batch < 1:
		return fmt.Errorf("train.batch must be ≥ 1, got %d", t.Batch)
	case t.Shards < 1 || t.Batch%t.Shards != 0:
		return fmt.Errorf("train.shards = %d must divide train.batch = %d", t.Shards, t.Batch)
	case t.EvalEvery < 0 || t.LogEvery < 1 || t.EvalBatch < 1:
		return fmt.Errorf("train.eval_every ≥ 0, train.log_every ≥ 1 and train.eval_batch ≥ 1 are required")
	case c.Probe.Every < 0:
		return fmt.Errorf("probe.every must be ≥ 0, got %d", c.Probe.Every)
	case c.Probe.MixingPairs < 0:
		return fmt.Errorf("probe.mixing_pairs must be ≥ 0, got %d", c.Probe.MixingPairs)
	case c.Checkpoint.Every < 0 || c.Checkpoint.KeepLast < 0:
		return fmt.Errorf("checkpoint.every and checkpoint.keep_last must be ≥ 0")
	case !(c.Checkpoint.EverySeconds >= 0):
		return fmt.Errorf("checkpoint.every_seconds must be ≥ 0 (0 = off), got %v", c.Checkpoint.EverySeconds)
	case !(c.Log.FlushSeconds > 0):
		return fmt.Errorf("log.flush_seconds must be > 0, got %v", c.Log.FlushSeconds)
	}
	if err := c.Data.Validate(c.Task); err != nil {
		return err
	}
	return nil
}

// SinkKeys parses probe.sink_k: the 1-based key positions of Gu et al.'s
// Sink_k^ε, each ≥ 1, without repeats.
func (p ProbeConfig) SinkKeys() ([]int, error) {
	var ks []int
	for _, f := range strings.Split(p.SinkK, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 || slices.Contains(ks, k) {
			return nil, fmt.Errorf("probe.sink_k = %q: want distinct key positions ≥ 1, comma-separated (e.g. 1,2)", p.SinkK)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

func variantNormalized(v string) bool { return attention.VariantRowsSumToOne(v) }

// variantSigned reports whether a variant's weights can be negative (the
// probes then take ratios of |A|): the raw dot product and MLP attention
// (attention.VariantSigned).
func variantSigned(v string) bool { return attention.VariantSigned(v) }
