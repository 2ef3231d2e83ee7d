package transformer

import (
	"fmt"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/checkpoints"
)

// Snapshot is everything a Trainer needs to continue bit-for-bit: weights,
// optimizer state, the data stream's RNG, the step and token counters.
type Snapshot struct {
	Model     []checkpoints.Tensor // parameters by name (blocks.0.attn.W_QKV, …)
	Optimizer []checkpoints.Tensor // exp_avg.<name>, exp_avg_sq.<name> (AdamW) or momentum.<name> (SGD)
	RNG       []byte               // the PCG state of the data stream
	Step      int64
	Tokens    int64
	OptSteps  int64 // updates the optimizer has applied (for bias correction)
}

func tensorOf[T gop.Float](name string, shape []int, data []T) checkpoints.Tensor {
	t := checkpoints.Tensor{Name: name, Shape: append([]int(nil), shape...)}
	switch d := any(data).(type) {
	case []float32:
		t.F32 = append([]float32{}, d...)
	case []float64:
		t.F64 = append([]float64{}, d...)
	}
	return t
}

// Snapshot copies the trainer's state.
func (tr *Trainer[T]) Snapshot() (*Snapshot, error) {
	s := &Snapshot{Step: int64(tr.step), Tokens: tr.tokens, OptSteps: int64(tr.opt.t)}
	for i, p := range tr.Model.Params {
		s.Model = append(s.Model, tensorOf(p.Name, p.Shape, p.Data))
		if tr.opt.cfg.Name == "adamw" {
			s.Optimizer = append(s.Optimizer, tensorOf("exp_avg."+p.Name, p.Shape, tr.opt.m[i]),
				tensorOf("exp_avg_sq."+p.Name, p.Shape, tr.opt.v[i]))
		} else {
			s.Optimizer = append(s.Optimizer, tensorOf("momentum."+p.Name, p.Shape, tr.opt.m[i]))
		}
	}
	rng, err := tr.pcg.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("transformer: save the data stream: %w", err)
	}
	s.RNG = rng
	return s, nil
}

// Restore loads a snapshot into the trainer. Every tensor must match a
// parameter by name, dtype and shape; nothing is changed unless all match.
func (tr *Trainer[T]) Restore(s *Snapshot) error {
	want, err := tr.Snapshot()
	if err != nil {
		return err
	}
	if err := checkpoints.CopyInto(want.Model, s.Model); err != nil {
		return fmt.Errorf("transformer: restore model: %w", err)
	}
	if err := checkpoints.CopyInto(want.Optimizer, s.Optimizer); err != nil {
		return fmt.Errorf("transformer: restore optimizer: %w", err)
	}
	pcg := *tr.pcg
	if err := pcg.UnmarshalBinary(s.RNG); err != nil {
		return fmt.Errorf("transformer: restore the data stream: %w", err)
	}
	if s.Step < 0 || s.OptSteps < 0 || s.Tokens < 0 {
		return fmt.Errorf("transformer: restore: negative step counters (%d, %d, %d)", s.Step, s.OptSteps, s.Tokens)
	}
	for i, p := range tr.Model.Params {
		copyTensor(p.Data, want.Model[i])
		if tr.opt.cfg.Name == "adamw" {
			copyTensor(tr.opt.m[i], want.Optimizer[2*i])
			copyTensor(tr.opt.v[i], want.Optimizer[2*i+1])
		} else {
			copyTensor(tr.opt.m[i], want.Optimizer[i])
		}
	}
	*tr.pcg = pcg
	tr.step, tr.tokens, tr.opt.t = int(s.Step), s.Tokens, int(s.OptSteps)
	return nil
}

func copyTensor[T gop.Float](dst []T, t checkpoints.Tensor) {
	switch d := any(dst).(type) {
	case []float32:
		copy(d, t.F32)
	case []float64:
		copy(d, t.F64)
	}
}
