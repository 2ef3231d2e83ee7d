package attention

import (
	"fmt"
	"slices"
	"strings"
)

// The catalogue of the paper's toy experiments E1–E5 (SCIENCE.md §1) and
// their default settings.

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
