package attention

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// The run loop of a theory run: gradient descent on every variant of an
// ExperimentConfig, beside the exact flow, recorded at RecordSteps and
// reported through ExperimentHooks.

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
