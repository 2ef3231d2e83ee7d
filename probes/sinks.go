package probes

import "math"

// SinkSummary sums up the attention sinks of one probe step: Sink₁^ε and the
// sink heads, with the mean head metrics beside them. It is computed once, by
// SummarizeSinks, for every reader: the end-of-run summary of `sinklab train`,
// the report and sweep.parquet.
//
// The NaN rule: every head of the step counts in Heads. A head whose
// first_token_mass is NaN (undefined, e.g. T = 1) is never above ε, and one
// whose bos_sink_score is NaN is never a sink head (is_sink_head is false),
// so Sink₁^ε and the sink heads are shares of all heads. The means skip
// non-finite values (NaN and ±Inf) and are NaN when no head has a finite one.
// A step without heads has NaN for every share and mean.
type SinkSummary struct {
	Step int64 // the probe step
	// Heads is the number of heads probed (rows of the "all" group).
	Heads int
	// SinkRate is Sink₁^ε in percent: 100 × the share of heads whose
	// first_token_mass α₁ exceeds ε (Gu et al.; see SinkRate).
	SinkRate float64
	// SinkHeads is the number of heads with is_sink_head (bos_sink_score >
	// SinkHeadThreshold).
	SinkHeads int
	// MeanEntropy, MeanFirstTokenMass and MeanBOSSinkScore are the means over
	// heads of entropy, first_token_mass and bos_sink_score.
	MeanEntropy        float64
	MeanFirstTokenMass float64
	MeanBOSSinkScore   float64
}

// SinkHeadShare returns SinkHeads / Heads (NaN without heads).
func (s SinkSummary) SinkHeadShare() float64 { return mean(float64(s.SinkHeads), s.Heads) }

// SummarizeSinks summarizes the head rows of one probe step with the sink
// epsilon eps. Only rows of the "all" group count (rows without a group, from
// files written before row groups, count as "all"); Step is that of the first
// such row.
func SummarizeSinks(heads []HeadRow, eps float64) SinkSummary {
	s := SinkSummary{}
	var alphas []float64
	var ent, ftm, bos finiteMean
	for i := range heads {
		h := &heads[i]
		if h.Group != GroupAll && h.Group != "" {
			continue
		}
		if s.Heads == 0 {
			s.Step = h.Step
		}
		s.Heads++
		alphas = append(alphas, h.FirstTokenMass)
		if h.IsSinkHead {
			s.SinkHeads++
		}
		ent.add(h.Entropy)
		ftm.add(h.FirstTokenMass)
		bos.add(h.BOSSinkScore)
	}
	s.SinkRate = SinkRate(alphas, eps)
	s.MeanEntropy, s.MeanFirstTokenMass, s.MeanBOSSinkScore = ent.value(), ftm.value(), bos.value()
	return s
}

// SummarizeSinkSteps summarizes every probe step of a log's head rows, which
// must be ordered by step (as a run writes them): one SinkSummary per step
// that has "all" rows, in order.
func SummarizeSinkSteps(heads []HeadRow, eps float64) []SinkSummary {
	var out []SinkSummary
	for k := 0; k < len(heads); {
		j := k
		for j < len(heads) && heads[j].Step == heads[k].Step {
			j++
		}
		if s := SummarizeSinks(heads[k:j], eps); s.Heads > 0 {
			out = append(out, s)
		}
		k = j
	}
	return out
}

// finiteMean averages the finite values it is given; NaN when there are none.
type finiteMean struct {
	sum float64
	n   int
}

func (m *finiteMean) add(v float64) {
	if !math.IsNaN(v) && !math.IsInf(v, 0) {
		m.sum += v
		m.n++
	}
}

func (m *finiteMean) value() float64 { return mean(m.sum, m.n) }
