package transformer

import (
	"fmt"
	"slices"

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
	// mlp_ratio·d_head, as in the paper. Default softmax.
	Attention string `json:"attention"`
	// SinkToken prepends a learned vector to every sequence (StreamingLLM's
	// sink token). Default false.
	SinkToken bool `json:"sink_token"`
	// KVBias gives every head a learned extra key and value that every query
	// sees (Gu et al.'s key/value biases). Default false.
	KVBias bool `json:"kv_bias"`
	// Precision is float32 (default, for training) or float64 (for checks).
	Precision string `json:"precision"`
	// InitStd is the standard deviation of GPT-2's normal initialisation; the
	// residual output projections use InitStd/√(2·n_layers). Default 0.02.
	InitStd float64 `json:"init_std"`
}

// OptimConfig describes the optimizer and learning-rate schedule.
type OptimConfig struct {
	// Name is adamw (default; decoupled weight decay, bias correction) or sgd.
	Name string `json:"name"`
	// LR is the peak learning rate. Default 3e-3: with the warm-up and cosine
	// decay below, the default 1000-step run forms BOS sink heads in under a
	// minute. The paper's runs use a constant 1e-3 (or 1e-2, 1e-4).
	LR float64 `json:"lr"`
	// Beta1, Beta2, Eps are Adam's constants. Defaults 0.9, 0.999, 1e-8 (PyTorch's).
	Beta1 float64 `json:"beta1"`
	Beta2 float64 `json:"beta2"`
	Eps   float64 `json:"eps"`
	// WeightDecay is AdamW's decoupled decay (and SGD's L2), applied to matrices
	// only (not to biases or LayerNorm gains). Default 0.01 (PyTorch's AdamW).
	WeightDecay float64 `json:"weight_decay"`
	// Momentum is SGD's momentum. Default 0 (plain SGD).
	Momentum float64 `json:"momentum"`
	// Schedule is constant or warmup-cosine (default).
	Schedule string `json:"schedule"`
	// Warmup is the number of linear warm-up steps of warmup-cosine. Default 100.
	Warmup int `json:"warmup"`
	// MinLRRatio is the final learning rate of warmup-cosine over LR. Default 0.1.
	MinLRRatio float64 `json:"min_lr_ratio"`
	// ClipNorm clips the gradient to this global L2 norm; 0 turns clipping off.
	// Default 1.0.
	ClipNorm float64 `json:"clip_norm"`
}

// TrainConfig describes the training loop.
type TrainConfig struct {
	// Steps is the number of optimizer steps. Default 1000 (the default run).
	Steps int `json:"steps"`
	// Batch is the number of sequences per step. Default 64.
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
	// 0 turns probes off. Default 50.
	Every int `json:"every"`
	// Eps is ε of Sink₁^ε (Gu et al.): a head is counted when its first-token
	// mass exceeds it. Default 0.3.
	Eps float64 `json:"eps"`
}

// CheckpointConfig describes when checkpoints are written.
type CheckpointConfig struct {
	// Every writes a checkpoint every this many steps; 0 = only at the end.
	Every int `json:"every"`
	// KeepLast keeps this many newest checkpoints (0 = all). Default 3.
	KeepLast int `json:"keep_last"`
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
}

// DefaultConfig returns the defaults for a task: the default run is the
// induction task with the paper's model (2 layers, d 128, 4 heads).
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
			Precision: "float32", InitStd: 0.02},
		Optim: OptimConfig{Name: "adamw", LR: 3e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01,
			Schedule: "warmup-cosine", Warmup: 100, MinLRRatio: 0.1, ClipNorm: 1},
		Train:      TrainConfig{Steps: 1000, Batch: 64, Shards: 2, EvalEvery: 100, EvalBatch: 64, LogEvery: 10},
		Data:       dc,
		Probe:      ProbeConfig{Every: 50, Eps: 0.3},
		Checkpoint: CheckpointConfig{Every: 0, KeepLast: 3},
	}
	if task == data.TaskClassification {
		c.Model.Positions = PosNone
	}
	return c, nil
}

// Validate checks the configuration and names the first bad key. It resolves
// model.attention to its canonical name (attention.CanonicalVariant).
func (c *Config) Validate() error {
	att, err := attention.CanonicalVariant(c.Model.Attention)
	if err != nil {
		return fmt.Errorf("model.attention = %q: %v", c.Model.Attention, err)
	}
	c.Model.Attention = att
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
	case !slices.Contains([]string{PosLearnedAdd, PosConcat, PosNone}, m.Positions):
		return fmt.Errorf("model.positions = %q: want learned-add, concat or none", m.Positions)
	case m.Positions == PosConcat && m.DModel%2 != 0:
		return fmt.Errorf("model.positions = concat needs an even model.d_model, got %d", m.DModel)
	case m.Precision != "float32" && m.Precision != "float64":
		return fmt.Errorf("model.precision = %q: want float32 or float64", m.Precision)
	case !(m.InitStd > 0):
		return fmt.Errorf("model.init_std must be > 0, got %v", m.InitStd)
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
	case t.Steps < 1:
		return fmt.Errorf("train.steps must be ≥ 1, got %d", t.Steps)
	case t.Batch < 1:
		return fmt.Errorf("train.batch must be ≥ 1, got %d", t.Batch)
	case t.Shards < 1 || t.Batch%t.Shards != 0:
		return fmt.Errorf("train.shards = %d must divide train.batch = %d", t.Shards, t.Batch)
	case t.EvalEvery < 0 || t.LogEvery < 1 || t.EvalBatch < 1:
		return fmt.Errorf("train.eval_every ≥ 0, train.log_every ≥ 1 and train.eval_batch ≥ 1 are required")
	case c.Probe.Every < 0:
		return fmt.Errorf("probe.every must be ≥ 0, got %d", c.Probe.Every)
	case c.Checkpoint.Every < 0 || c.Checkpoint.KeepLast < 0:
		return fmt.Errorf("checkpoint.every and checkpoint.keep_last must be ≥ 0")
	}
	if err := c.Data.Validate(c.Task); err != nil {
		return err
	}
	return nil
}

func variantNormalized(v string) bool { return attention.VariantRowsSumToOne(v) }
