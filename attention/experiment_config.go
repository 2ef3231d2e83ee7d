package attention

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The configuration of a theory run: its settings (ExperimentConfig), their
// text form (Set, ExperimentConfigKeys), their checks (Validate) and their
// expansion into the toy models a run trains (ToyVariants).

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

// MaxDim bounds every dimension (n, d, m, k, D) of a toy model, so that no
// matrix holds more than 10⁸ values.
const MaxDim = 10_000

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
