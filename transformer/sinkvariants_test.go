package transformer

import (
	"testing"

	"github.com/sinklab/sinklab/attention"
	"github.com/sinklab/sinklab/data"
)

// TestSinkVariantStepsAllocateNothing: the gate, the sink logit and softpick
// keep the training step free of heap allocations, like softmax
// (TestStepAllocatesNothing).
func TestSinkVariantStepsAllocateNothing(t *testing.T) {
	for name, mod := range map[string]func(c *Config){
		"gate-elementwise": func(c *Config) { c.Model.Gate = GateElementwise },
		"sink-logit":       func(c *Config) { c.Model.SinkLogit = true },
		"softpick":         func(c *Config) { c.Model.Attention = attention.VariantSoftpick },
	} {
		t.Run(name, func(t *testing.T) {
			tr := newTestTrainer(t, data.TaskInduction, func(c *Config) { smallInduction(c); mod(c) })
			for i := 0; i < 3; i++ {
				if _, err := tr.Step(); err != nil {
					t.Fatal(err)
				}
			}
			allocs := testing.AllocsPerRun(10, func() {
				if _, err := tr.Step(); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Fatalf("%.1f allocations per step, want 0", allocs)
			}
		})
	}
}
