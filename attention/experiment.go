package attention

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// ExperimentConfig is the resolved configuration of a theory run: an
// experiment's defaults (DefaultExperimentConfig) changed key by key with Set.
// Lists expand into variants: every loss × normalizer, times κ for regression
// and D for tied.
type ExperimentConfig struct {
	Experiment string   `json:"experiment"` // the experiment the defaults came from
	Loss       []string `json:"loss"`       // losses (LossNames)
	Normalizer []string `json:"normalizer"` // normalizers (NormalizerNames)
	N          int      `json:"n"`          // tokens: the length of a
	D          int      `json:"d"`          // value dimension d (logistic, square, regression)
	M          int      `json:"m"`          // regression: rows of X
	K          int      `json:"k"`          // cross-entropy: classes k (V is (k, n))
	// TiedDims are the widths D of the tied model, one variant each.
	TiedDims []int `json:"D"`
	// Kappa are the condition numbers of X (regression), one variant each.
	Kappa []float64 `json:"kappa"`
	// LR and Steps hold one value for every loss, or one per loss in the
	// order of Loss.
	LR    []float64 `json:"lr"`
	Steps []int64   `json:"steps"`
	Seed  uint64    `json:"seed"` // drives V₀, a₀, β, X and p*
	// VScale: V₀ = VScale·N(0,1); tied: U₀ = I + VScale·N(0,1).
	VScale float64 `json:"v_scale"`
	// AMean, AScale: a₀ = AMean + AScale·N(0,1).
	AMean  float64 `json:"a_mean"`
	AScale float64 `json:"a_scale"`
	// PerDecade is the number of recorded steps per decade of steps (plus the
	// first and the last step).
	PerDecade int `json:"per_decade"`
	// Flow integrates the exact gradient flow beside gradient descent and
	// records it at the same times t = step × lr.
	Flow     bool    `json:"flow"`
	FlowRTol float64 `json:"flow_rtol"` // DOPRI54 relative tolerance
	FlowATol float64 `json:"flow_atol"` // DOPRI54 absolute tolerance
	// FlowMaxSteps bounds the integrator's steps per variant; a flow that
	// needs more (it reached a point where its field is not smooth, such as
	// aᵢ = 0 for l1) stops there and the run goes on without it.
	FlowMaxSteps int64 `json:"flow_max_steps"`
	// Engine computes the gradients: "closed" (closed form, Toy.Step) or
	// "gorgonia" (autodiff through ToyGraph; slow).
	Engine string `json:"engine"`
}

// Experiment is one of the paper's toy experiments (SCIENCE.md §1).
type Experiment struct {
	Name    string // as DefaultExperimentConfig takes it
	Label   string // the label in SCIENCE.md: E1 … E5
	Summary string // one line
	config  func() ExperimentConfig
}

// base holds the settings every experiment shares.
func base(name string) ExperimentConfig {
	return ExperimentConfig{
		Experiment: name, Loss: []string{"logistic"}, Normalizer: []string{"softmax"},
		N: 8, D: 8, M: 8, K: 8, TiedDims: []int{8}, Kappa: []float64{1},
		LR: []float64{0.1}, Steps: []int64{1000}, Seed: 0, VScale: 0.1,
		PerDecade: 20, FlowRTol: 1e-10, FlowATol: 1e-12, FlowMaxSteps: 500_000, Engine: "closed",
	}
}

var experiments = []Experiment{
	{"logistic", "E1", "logistic loss on y = V softmax(a): n = d = 8, V₀ = 0.1·N, a₀ = 0, lr 0.1, 10⁶ steps", func() ExperimentConfig {
		c := base("logistic")
		c.Steps = []int64{1_000_000}
		return c
	}},
	{"normalizers", "E2", "every normalizer, square loss (5000 steps, lr 0.1) and logistic loss (10⁵ steps, lr 0.5): n = d = 10, a₀ = 1 + 0.1·N", func() ExperimentConfig {
		c := base("normalizers")
		c.Loss = []string{"square", "logistic"}
		c.Normalizer = NormalizerNames()
		c.N, c.D = 10, 10
		c.LR = []float64{0.1, 0.5}
		c.Steps = []int64{5000, 100_000}
		c.AMean, c.AScale = 1, 0.1
		return c
	}},
	{"regression", "E3", "ill-conditioned regression, κ ∈ {1,…,5}: n = d = m = 20, V₀ = 1e-5·N, a₀ = 1e-3·N, lr 1e-3, 3·10⁵ steps", func() ExperimentConfig {
		c := base("regression")
		c.Loss = []string{"regression"}
		c.N, c.D, c.M = 20, 20, 20
		c.Kappa = []float64{1, 2, 3, 4, 5}
		c.LR = []float64{1e-3}
		c.Steps = []int64{300_000}
		c.VScale, c.AScale = 1e-5, 1e-3
		return c
	}},
	{"cross-entropy", "E4", "cross-entropy to p* = softmax(10·U[0,1]^k): n = k = 10, V₀ = 0.1·N, a₀ = 0, lr 0.1, 3·10⁶ steps", func() ExperimentConfig {
		c := base("cross-entropy")
		c.Loss = []string{"cross-entropy"}
		c.N, c.K = 10, 10
		c.Steps = []int64{3_000_000}
		return c
	}},
	{"tied", "E5", "tied model U softmax(U a), D ∈ {10, 20, 50, 100}: U₀ = I, a₀ = 1 + 0.1·N, lr 0.05, 10⁴ steps", func() ExperimentConfig {
		c := base("tied")
		c.Loss = []string{"tied"}
		c.TiedDims = []int{10, 20, 50, 100}
		c.LR = []float64{0.05}
		c.Steps = []int64{10_000}
		c.VScale, c.AMean, c.AScale = 0, 1, 0.1
		return c
	}},
}

// Experiments returns the toy experiments in the order E1 … E5.
func Experiments() []Experiment { return slices.Clone(experiments) }

// ExperimentNames returns the experiments' names.
func ExperimentNames() []string {
	names := make([]string, len(experiments))
	for i, e := range experiments {
		names[i] = e.Name
	}
	return names
}

// DefaultExperimentConfig returns the paper's settings for the named experiment.
func DefaultExperimentConfig(name string) (ExperimentConfig, error) {
	for _, e := range experiments {
		if e.Name == name {
			return e.config(), nil
		}
	}
	return ExperimentConfig{}, fmt.Errorf("attention: unknown experiment %q (valid: %s)", name, strings.Join(ExperimentNames(), ", "))
}

// configKeys are the keys Set accepts, with what they set.
var configKeys = []struct{ key, help string }{
	{"loss", "losses, comma-separated (" + strings.Join(lossNames[:], ", ") + ")"},
	{"normalizer", "normalizers, comma-separated (" + strings.Join(NormalizerNames(), ", ") + ")"},
	{"n", "tokens: the length of a"},
	{"d", "value dimension (logistic, square, regression)"},
	{"m", "regression: rows of X"},
	{"k", "cross-entropy: classes"},
	{"D", "tied: widths, comma-separated, one variant each"},
	{"kappa", "regression: condition numbers, comma-separated, one variant each"},
	{"lr", "learning rate: one, or one per loss"},
	{"steps", "gradient-descent steps (1e6 allowed): one, or one per loss"},
	{"seed", "random seed"},
	{"v_scale", "V₀ = v_scale·N(0,1) (tied: U₀ = I + v_scale·N(0,1))"},
	{"a_mean", "a₀ = a_mean + a_scale·N(0,1)"},
	{"a_scale", "a₀ = a_mean + a_scale·N(0,1)"},
	{"per_decade", "recorded steps per decade"},
	{"flow", "integrate the exact gradient flow beside gradient descent (true/false)"},
	{"flow_rtol", "flow integrator relative tolerance"},
	{"flow_atol", "flow integrator absolute tolerance"},
	{"flow_max_steps", "flow integrator steps per variant before the flow is given up"},
	{"engine", "closed or gorgonia"},
}

// ExperimentConfigKeys returns the keys Set accepts.
func ExperimentConfigKeys() []string {
	keys := make([]string, len(configKeys))
	for i, k := range configKeys {
		keys[i] = k.key
	}
	return keys
}

// ExperimentConfigKeyHelp returns one line per key: the key and what it sets.
func ExperimentConfigKeyHelp() []string {
	out := make([]string, len(configKeys))
	for i, k := range configKeys {
		out[i] = fmt.Sprintf("%-14s %s", k.key, k.help)
	}
	return out
}

// parseInt parses an integer, also written as a float ("1e6").
func parseInt(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return int64(f), nil
}

func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a finite number", s)
	}
	return f, nil
}

// splitList splits a comma-separated list, refusing empty items.
func splitList(s string) ([]string, error) {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
		if parts[i] == "" {
			return nil, fmt.Errorf("empty item in list %q", s)
		}
	}
	return parts, nil
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	parts, err := splitList(s)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(parts))
	for i, p := range parts {
		if out[i], err = parse(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseIntAs[T int | int64](s string) (T, error) {
	v, err := parseInt(s)
	if err != nil {
		return 0, err
	}
	if int64(T(v)) != v {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return T(v), nil
}

// Set changes one setting from its text form (see ExperimentConfigKeys). Lists are
// comma-separated. An unknown key is an error that names it and lists the
// valid keys.
func (c *ExperimentConfig) Set(key, value string) error {
	var err error
	switch key {
	case "loss":
		c.Loss, err = splitList(value)
	case "normalizer":
		c.Normalizer, err = splitList(value)
	case "n":
		c.N, err = parseIntAs[int](value)
	case "d":
		c.D, err = parseIntAs[int](value)
	case "m":
		c.M, err = parseIntAs[int](value)
	case "k":
		c.K, err = parseIntAs[int](value)
	case "D":
		c.TiedDims, err = parseList(value, parseIntAs[int])
	case "kappa":
		c.Kappa, err = parseList(value, parseFloat)
	case "lr":
		c.LR, err = parseList(value, parseFloat)
	case "steps":
		c.Steps, err = parseList(value, parseIntAs[int64])
	case "seed":
		var v int64
		if v, err = parseInt(value); err == nil {
			if v < 0 {
				err = fmt.Errorf("%q is negative", value)
			}
			c.Seed = uint64(v)
		}
	case "v_scale":
		c.VScale, err = parseFloat(value)
	case "a_mean":
		c.AMean, err = parseFloat(value)
	case "a_scale":
		c.AScale, err = parseFloat(value)
	case "per_decade":
		c.PerDecade, err = parseIntAs[int](value)
	case "flow":
		c.Flow, err = strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			err = fmt.Errorf("%q is not true or false", value)
		}
	case "flow_rtol":
		c.FlowRTol, err = parseFloat(value)
	case "flow_atol":
		c.FlowATol, err = parseFloat(value)
	case "flow_max_steps":
		c.FlowMaxSteps, err = parseIntAs[int64](value)
	case "engine":
		c.Engine = strings.TrimSpace(value)
	default:
		return fmt.Errorf("attention: unknown config key %q (valid keys: %s)", key, strings.Join(ExperimentConfigKeys(), ", "))
	}
	if err != nil {
		return fmt.Errorf("attention: config key %s: %w", key, err)
	}
	return nil
}

// Validate checks every setting and returns the first problem found.
func (c *ExperimentConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("attention: config: "+format, args...)
	}
	if len(c.Loss) == 0 {
		return bad("no loss")
	}
	for _, l := range c.Loss {
		if _, err := LossByName(l); err != nil {
			return err
		}
	}
	if len(c.Normalizer) == 0 {
		return bad("no normalizer")
	}
	for _, n := range c.Normalizer {
		if _, err := NormalizerByName(n); err != nil {
			return err
		}
	}
	for what, list := range map[string][]string{"loss": c.Loss, "normalizer": c.Normalizer} {
		seen := map[string]bool{}
		for _, x := range list {
			if seen[x] {
				return bad("%s %q listed twice", what, x)
			}
			seen[x] = true
		}
	}
	uses := func(l string) bool { return slices.Contains(c.Loss, l) }
	for _, dim := range []struct {
		key string
		v   int
	}{{"n", c.N}, {"d", c.D}, {"m", c.M}, {"k", c.K}} {
		if dim.v > MaxDim {
			return bad("%s = %d is larger than %d", dim.key, dim.v, MaxDim)
		}
	}
	switch {
	case c.N < 2:
		return bad("n must be at least 2, got %d", c.N)
	case c.D < 1:
		return bad("d must be at least 1, got %d", c.D)
	case uses("regression") && c.M < 1:
		return bad("m must be at least 1, got %d", c.M)
	case uses("cross-entropy") && c.K < 2:
		return bad("k must be at least 2, got %d", c.K)
	case uses("regression") && len(c.Kappa) == 0:
		return bad("no kappa")
	case uses("tied") && len(c.TiedDims) == 0:
		return bad("no D")
	case !(c.VScale >= 0) || math.IsInf(c.VScale, 0):
		return bad("v_scale must be finite and ≥ 0, got %v", c.VScale)
	case !(c.AScale >= 0) || math.IsInf(c.AScale, 0):
		return bad("a_scale must be finite and ≥ 0, got %v", c.AScale)
	case math.IsNaN(c.AMean) || math.IsInf(c.AMean, 0):
		return bad("a_mean must be finite, got %v", c.AMean)
	case c.PerDecade < 1 || c.PerDecade > 10000:
		return bad("per_decade must be in 1…10000, got %d", c.PerDecade)
	case !(c.FlowRTol > 0) || !(c.FlowATol >= 0) || math.IsInf(c.FlowRTol, 0) || math.IsInf(c.FlowATol, 0):
		return bad("flow tolerances must be finite, flow_rtol > 0 and flow_atol ≥ 0, got %v and %v", c.FlowRTol, c.FlowATol)
	case c.FlowMaxSteps < 1:
		return bad("flow_max_steps must be at least 1, got %d", c.FlowMaxSteps)
	case c.Engine != "closed" && c.Engine != "gorgonia":
		return bad("engine must be closed or gorgonia, got %q", c.Engine)
	}
	if uses("regression") {
		for _, k := range c.Kappa {
			if !(k >= 1) || math.IsInf(k, 0) {
				return bad("kappa must be finite and ≥ 1, got %v", k)
			}
		}
	}
	if uses("tied") {
		for _, d := range c.TiedDims {
			if d < 2 || d > MaxDim {
				return bad("D must be in 2…%d, got %d", MaxDim, d)
			}
		}
	}
	if l := len(c.LR); l != 1 && l != len(c.Loss) {
		return bad("lr has %d values: want 1 or one per loss (%d)", l, len(c.Loss))
	}
	if l := len(c.Steps); l != 1 && l != len(c.Loss) {
		return bad("steps has %d values: want 1 or one per loss (%d)", l, len(c.Loss))
	}
	for _, lr := range c.LR {
		if !(lr > 0) || math.IsInf(lr, 0) {
			return bad("lr must be finite and > 0, got %v", lr)
		}
	}
	for _, s := range c.Steps {
		if s < 1 {
			return bad("steps must be at least 1, got %d", s)
		}
	}
	return nil
}

// ToyVariant is one model of a run: a loss, a normalizer and shapes, with its
// learning rate and step count.
type ToyVariant struct {
	Name  string // loss/normalizer, plus /kappa=κ (regression) or /D=D (tied)
	Spec  ToySpec
	LR    float64
	Steps int64
}

// ToyVariants validates the configuration and expands it into its variants,
// in the order loss, normalizer, κ or D.
func (c *ExperimentConfig) ToyVariants() ([]ToyVariant, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var out []ToyVariant
	for li, ln := range c.Loss {
		loss, _ := LossByName(ln)
		lr, steps := c.LR[0], c.Steps[0]
		if len(c.LR) > 1 {
			lr = c.LR[li]
		}
		if len(c.Steps) > 1 {
			steps = c.Steps[li]
		}
		for _, nn := range c.Normalizer {
			nz, _ := NormalizerByName(nn)
			spec := ToySpec{Loss: loss, Norm: nz, N: c.N, D: c.D, VScale: c.VScale, AMean: c.AMean, AScale: c.AScale}
			name := ln + "/" + nn
			switch loss {
			case Regression:
				for _, k := range c.Kappa {
					s := spec
					s.M, s.Kappa = c.M, k
					out = append(out, ToyVariant{Name: fmt.Sprintf("%s/kappa=%g", name, k), Spec: s, LR: lr, Steps: steps})
				}
			case Tied:
				for _, d := range c.TiedDims {
					s := spec
					s.N, s.D = d, d
					out = append(out, ToyVariant{Name: fmt.Sprintf("%s/D=%d", name, d), Spec: s, LR: lr, Steps: steps})
				}
			case CrossEntropy:
				spec.D = c.K
				out = append(out, ToyVariant{Name: name, Spec: spec, LR: lr, Steps: steps})
			default:
				out = append(out, ToyVariant{Name: name, Spec: spec, LR: lr, Steps: steps})
			}
		}
	}
	return out, nil
}

// RecordSteps returns the steps a run of total steps records: 0, then
// round(10^(j/perDecade)) for j = 0, 1, … (duplicates dropped) below total,
// then total.
func RecordSteps(total int64, perDecade int) []int64 {
	out := []int64{0}
	for j := 0; ; j++ {
		s := int64(math.Round(math.Pow(10, float64(j)/float64(perDecade))))
		if s >= total {
			break
		}
		if s > out[len(out)-1] {
			out = append(out, s)
		}
	}
	if total > 0 {
		out = append(out, total)
	}
	return out
}

// TheoryRecord is one recorded step of one variant: one row of theory.parquet.
type TheoryRecord struct {
	Variant   string
	Step      int64   // gradient-descent steps taken
	Time      float64 // step × lr
	Loss      float64
	Entropy   float64 // of σ (of |α|/Σ|α| when α is not a probability vector)
	MaxWeight float64
	Argmax    int
	SumA      float64 // Σa
	// Drift is the drift of the conserved quantity: ‖(I−ββᵀ)(V−V₀)‖_F for
	// logistic, |Σa − Σa₀| otherwise (conserved for softmax, except tied).
	Drift    float64
	SumAlpha float64   // raw Σα
	Weights  []float64 // σ(a) (N); tied: σ(U a)
	U        []float64 // Vᵀβ (N), logistic only; nil otherwise
	// HasFlow marks FlowEntropy and FlowMaxWeight as set: the exact flow's
	// values at t = Time.
	HasFlow                    bool
	FlowEntropy, FlowMaxWeight float64
	// HasColumns marks SelColNorm and OtherColNorm as set (tied): the norm of
	// U's column at the argmax and the mean norm of the other columns.
	HasColumns               bool
	SelColNorm, OtherColNorm float64
}

// VariantSummary is the outcome of one variant.
type VariantSummary struct {
	Variant        string
	Steps          int64
	InitialEntropy float64
	FinalEntropy   float64
	FinalMaxWeight float64
	FinalLoss      float64
	Winner         int     // argmax of the final weights
	Drift          float64 // final drift of the conserved quantity
	MaxFlowGap     float64 // max |entropy − flow entropy|; NaN without flow
	// FlowStoppedAt is the time at which the flow integration failed (NaN
	// if it did not, or without flow), FlowError why.
	FlowStoppedAt float64
	FlowError     string
}

// DivergedError reports a variant whose loss became NaN or infinite.
type DivergedError struct {
	Variant string
	Step    int64
	Loss    float64
}

// Error implements error.
func (e *DivergedError) Error() string {
	return fmt.Sprintf("attention: %s diverged at step %d (loss %v)", e.Variant, e.Step, e.Loss)
}

// ExperimentHooks receive a run's output. Every field may be nil.
type ExperimentHooks struct {
	// Start is called before a variant's first step.
	Start func(v ToyVariant)
	// Record is called for every recorded step. The slices in the record are
	// fresh and may be kept.
	Record func(r TheoryRecord) error
	// FlowStopped is called when a variant's flow integration fails at time
	// t; the variant goes on without the flow.
	FlowStopped func(variant string, t float64, err error)
	// Done is called after a variant's last step.
	Done func(s VariantSummary)
	// Progress is called every 65,536 steps and at every recorded step with
	// the steps done and the total over all variants.
	Progress func(done, total int64)
}

// stepper takes gradient-descent steps on a Toy's parameters.
type stepper interface {
	Step(lr float64) (float64, error)
	Close() error
}

// MaxDim bounds every dimension (n, d, m, k, D) of a toy model, so that no
// matrix holds more than 10⁸ values.
const MaxDim = 10_000

// progressEvery is the number of steps between context checks and progress
// calls.
const progressEvery = 1 << 16

// RunExperiment runs every variant of the configuration in turn: gradient
// descent from the seeded initial state (every variant draws from a fresh
// generator seeded with cfg.Seed, so variants of equal shapes start alike),
// recording at RecordSteps, beside the exact flow when cfg.Flow. A flow that
// cannot be integrated further stops (hooks.FlowStopped) while gradient
// descent goes on. It returns the summaries of the finished variants and
// stops at the first error: a hook's error, a diverging variant
// (*DivergedError), a gorgonia failure or ctx's cancellation.
func RunExperiment(ctx context.Context, cfg ExperimentConfig, hooks ExperimentHooks) ([]VariantSummary, error) {
	variants, err := cfg.ToyVariants()
	if err != nil {
		return nil, err
	}
	var total, done int64
	for _, v := range variants {
		total += v.Steps
	}
	var sums []VariantSummary
	for _, v := range variants {
		if hooks.Start != nil {
			hooks.Start(v)
		}
		rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
		s, err := runVariant(ctx, &cfg, v, rng, hooks, &done, total)
		if err != nil {
			return sums, err
		}
		sums = append(sums, s)
		if hooks.Done != nil {
			hooks.Done(s)
		}
	}
	return sums, nil
}

func runVariant(ctx context.Context, cfg *ExperimentConfig, v ToyVariant, rng *rand.Rand, hooks ExperimentHooks, done *int64, total int64) (sum VariantSummary, err error) {
	sum = VariantSummary{Variant: v.Name, Steps: v.Steps, MaxFlowGap: math.NaN(), FlowStoppedAt: math.NaN()}
	m, err := NewToy(v.Spec, rng)
	if err != nil {
		return sum, err
	}
	v0 := slices.Clone(m.V)
	sumA0 := 0.0
	for _, a := range m.A {
		sumA0 += a
	}
	var st stepper
	if cfg.Engine == "gorgonia" {
		tg, err := NewToyGraph(m)
		if err != nil {
			return sum, err
		}
		st = tg
		defer func() {
			if cerr := st.Close(); err == nil && cerr != nil {
				err = cerr
			}
		}()
	}
	var flow *Flow
	var ode *DOPRI54
	if cfg.Flow {
		flow = NewFlow(m)
		ode = NewDOPRI54(flow.Field, 0, flow.Pack(make([]float64, flow.Dim()), m), cfg.FlowRTol, cfg.FlowATol)
	}
	flowAlpha := make([]float64, m.N)
	norms := make([]float64, m.N)

	record := func(step int64) error {
		r := TheoryRecord{Variant: v.Name, Step: step, Time: float64(step) * v.LR, Weights: make([]float64, m.N)}
		r.Loss = m.LossAndWeights(r.Weights)
		p := Polarize(r.Weights)
		r.Entropy, r.MaxWeight, r.Argmax, r.SumAlpha = p.Entropy, p.MaxWeight, p.Argmax, p.SumAlpha
		for _, a := range m.A {
			r.SumA += a
		}
		switch m.Loss {
		case Logistic:
			r.Drift = ProjectedDrift(m.V, v0, m.Beta, m.D, m.N)
			r.U = make([]float64, m.N)
			m.BetaProjection(r.U)
		default:
			r.Drift = math.Abs(r.SumA - sumA0)
		}
		if m.Loss == Tied && p.Argmax >= 0 {
			m.ColumnNorms(norms)
			r.HasColumns = true
			r.SelColNorm = norms[p.Argmax]
			for j, x := range norms {
				if j != p.Argmax {
					r.OtherColNorm += x
				}
			}
			r.OtherColNorm /= float64(m.N - 1)
		}
		if flow != nil {
			ode.MaxSteps = int(max(1, cfg.FlowMaxSteps-int64(ode.Accepted+ode.Rejected)))
			if err := ode.Advance(r.Time); err != nil {
				sum.FlowStoppedAt, sum.FlowError = ode.T(), err.Error()
				if hooks.FlowStopped != nil {
					hooks.FlowStopped(v.Name, ode.T(), err)
				}
				flow = nil
			}
		}
		if flow != nil {
			flow.Weights(ode.Y(), flowAlpha)
			fp := Polarize(flowAlpha)
			r.HasFlow, r.FlowEntropy, r.FlowMaxWeight = true, fp.Entropy, fp.MaxWeight
			gap := math.Abs(r.Entropy - r.FlowEntropy)
			if math.IsNaN(sum.MaxFlowGap) || gap > sum.MaxFlowGap {
				sum.MaxFlowGap = gap
			}
		}
		if step == 0 {
			sum.InitialEntropy = r.Entropy
		}
		sum.FinalEntropy, sum.FinalMaxWeight, sum.Winner, sum.Drift, sum.FinalLoss = r.Entropy, r.MaxWeight, r.Argmax, r.Drift, r.Loss
		if hooks.Record != nil {
			return hooks.Record(r)
		}
		return nil
	}

	lr := v.LR
	var step int64
	for _, next := range RecordSteps(v.Steps, cfg.PerDecade) {
		for step < next {
			chunk := min(next-step, progressEvery-step%progressEvery)
			var bad int64 = -1
			var badLoss float64
			if st == nil {
				for i := int64(0); i < chunk; i++ {
					if l := m.Step(lr); math.IsNaN(l) || math.IsInf(l, 0) {
						bad, badLoss = step+i, l
						break
					}
				}
			} else {
				for i := int64(0); i < chunk; i++ {
					l, err := st.Step(lr)
					if err != nil {
						return sum, fmt.Errorf("attention: %s: step %d: %w", v.Name, step+i, err)
					}
					if math.IsNaN(l) || math.IsInf(l, 0) {
						bad, badLoss = step+i, l
						break
					}
				}
			}
			if bad >= 0 {
				*done += bad - step
				return sum, &DivergedError{Variant: v.Name, Step: bad, Loss: badLoss}
			}
			step += chunk
			*done += chunk
			if step%progressEvery == 0 && step < next {
				if err := ctx.Err(); err != nil {
					return sum, fmt.Errorf("attention: %s: stopped at step %d: %w", v.Name, step, err)
				}
				if hooks.Progress != nil {
					hooks.Progress(*done, total)
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("attention: %s: stopped at step %d: %w", v.Name, step, err)
		}
		if err := record(step); err != nil {
			return sum, err
		}
		if hooks.Progress != nil {
			hooks.Progress(*done, total)
		}
	}
	return sum, nil
}
