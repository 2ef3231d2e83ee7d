package attention

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestRecordSteps(t *testing.T) {
	for _, tc := range []struct {
		total     int64
		perDecade int
		wantLen   int
	}{
		{1, 20, 2}, {10, 20, 11}, {1_000_000, 20, 0}, {3_000_000, 20, 0}, {5000, 5, 0},
	} {
		s := RecordSteps(tc.total, tc.perDecade)
		if s[0] != 0 || s[len(s)-1] != tc.total {
			t.Errorf("RecordSteps(%d): first %d last %d", tc.total, s[0], s[len(s)-1])
		}
		for i := 1; i < len(s); i++ {
			if s[i] <= s[i-1] {
				t.Fatalf("RecordSteps(%d) not increasing at %d: %v", tc.total, i, s)
			}
		}
		if tc.wantLen > 0 && len(s) != tc.wantLen {
			t.Errorf("RecordSteps(%d) = %v, want %d steps", tc.total, s, tc.wantLen)
		}
		// about perDecade points in the last full decade
		if tc.total >= 1000 {
			n := 0
			top := tc.total
			for top%10 == 0 && top > 1 {
				top /= 10
			}
			hi := int64(math.Pow(10, math.Floor(math.Log10(float64(tc.total)))))
			for _, x := range s {
				if x >= hi/10 && x < hi {
					n++
				}
			}
			if n != tc.perDecade {
				t.Errorf("RecordSteps(%d, %d): %d points in [%d, %d)", tc.total, tc.perDecade, n, hi/10, hi)
			}
		}
	}
}

func shortConfig(t *testing.T, experiment string, sets ...string) ExperimentConfig {
	t.Helper()
	c, err := DefaultExperimentConfig(experiment)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(sets); i += 2 {
		if err := c.Set(sets[i], sets[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func collect(t *testing.T, c ExperimentConfig) ([]TheoryRecord, []VariantSummary, error) {
	t.Helper()
	var recs []TheoryRecord
	sums, err := RunExperiment(context.Background(), c, ExperimentHooks{Record: func(r TheoryRecord) error { recs = append(recs, r); return nil }})
	return recs, sums, err
}

func TestRunRecords(t *testing.T) {
	for _, exp := range ExperimentNames() {
		t.Run(exp, func(t *testing.T) {
			c := shortConfig(t, exp, "steps", "300", "D", "4,6")
			recs, sums, err := collect(t, c)
			if err != nil {
				t.Fatal(err)
			}
			vs, _ := c.ToyVariants()
			steps := RecordSteps(300, c.PerDecade)
			if len(recs) != len(vs)*len(steps) || len(sums) != len(vs) {
				t.Fatalf("%d records, %d summaries for %d variants × %d steps", len(recs), len(sums), len(vs), len(steps))
			}
			for i, r := range recs {
				v := vs[i/len(steps)]
				if r.Variant != v.Name || r.Step != steps[i%len(steps)] || r.Time != float64(r.Step)*v.LR {
					t.Fatalf("record %d: %s step %d time %v", i, r.Variant, r.Step, r.Time)
				}
				if len(r.Weights) != v.Spec.N && !(v.Spec.Loss == Tied && len(r.Weights) == v.Spec.D) {
					t.Fatalf("record %d: %d weights", i, len(r.Weights))
				}
				if (v.Spec.Loss == Logistic) != (r.U != nil) || (v.Spec.Loss == Tied) != r.HasColumns || r.HasFlow {
					t.Fatalf("record %d (%s): U %v, columns %v, flow %v", i, v.Name, r.U, r.HasColumns, r.HasFlow)
				}
				if math.IsNaN(r.Loss) || math.IsNaN(r.Entropy) {
					t.Fatalf("record %d: NaN", i)
				}
				if v.Spec.Norm.Name() == "softmax" && v.Spec.Loss != Tied && v.Spec.Loss != Logistic && r.Drift > 1e-12 {
					t.Errorf("record %d (%s): Σa drift %v", i, v.Name, r.Drift)
				}
				if v.Spec.Loss == Logistic && r.Drift > 1e-12 {
					t.Errorf("record %d (%s): (I−ββᵀ)V drift %v", i, v.Name, r.Drift)
				}
			}
			first, last := recs[0], recs[len(steps)-1]
			if sums[0].InitialEntropy != first.Entropy || sums[0].FinalEntropy != last.Entropy ||
				sums[0].Winner != last.Argmax || !math.IsNaN(sums[0].MaxFlowGap) {
				t.Errorf("summary %+v does not match records %+v … %+v", sums[0], first, last)
			}
			if last.Loss >= first.Loss {
				t.Errorf("%s: loss did not decrease: %v → %v", first.Variant, first.Loss, last.Loss)
			}
		})
	}
}

func TestRunDeterministic(t *testing.T) {
	c := shortConfig(t, "normalizers", "steps", "100", "normalizer", "softmax,l2")
	a, _, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := collect(t, c)
	for i := range a {
		if a[i].Loss != b[i].Loss || !slices.Equal(a[i].Weights, b[i].Weights) {
			t.Fatalf("record %d differs between runs with one seed", i)
		}
	}
	c.Set("seed", "1")
	d, _, _ := collect(t, c)
	if d[0].Loss == a[0].Loss {
		t.Error("another seed gave the same initial loss")
	}
}

// The E1 model with lr 1e-3: gradient descent tracks the exact flow recorded
// beside it, |entropy − flow_entropy| ≤ 1e-3 over t ≤ 100.
func TestRunFlowTracksGradientDescent(t *testing.T) {
	c := shortConfig(t, "logistic", "lr", "1e-3", "steps", "1e5", "v_scale", "1")
	c.Flow = true
	recs, sums, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	gap := 0.0
	for _, r := range recs {
		if !r.HasFlow {
			t.Fatalf("step %d: no flow values", r.Step)
		}
		gap = max(gap, math.Abs(r.Entropy-r.FlowEntropy))
	}
	if gap > 1e-3 || sums[0].MaxFlowGap != gap {
		t.Errorf("max gap %v, summary %v", gap, sums[0].MaxFlowGap)
	}
	if recs[0].Entropy-recs[len(recs)-1].Entropy < 0.5 {
		t.Errorf("entropy barely moved (%v → %v)", recs[0].Entropy, recs[len(recs)-1].Entropy)
	}
	// a coarse step does not track the flow
	c2 := shortConfig(t, "logistic", "lr", "5", "steps", "20", "v_scale", "1")
	c2.Flow = true
	_, sums2, err := collect(t, c2)
	if err != nil {
		t.Fatal(err)
	}
	if !(sums2[0].MaxFlowGap > 1e-2) {
		t.Errorf("lr 5: flow gap %v, expected GD to leave the flow", sums2[0].MaxFlowGap)
	}
}

func TestRunDiverges(t *testing.T) {
	c := shortConfig(t, "normalizers", "loss", "square", "normalizer", "softmax", "lr", "1e3", "steps", "10000")
	recs, _, err := collect(t, c)
	var de *DivergedError
	if !errors.As(err, &de) {
		t.Fatalf("want a DivergedError, got %v", err)
	}
	if de.Step < 1 || de.Step >= 10000 || !strings.Contains(err.Error(), "diverged at step") {
		t.Errorf("error %v", err)
	}
	if len(recs) == 0 || recs[len(recs)-1].Step > de.Step {
		t.Errorf("%d records, last at step %d, diverged at %d", len(recs), recs[len(recs)-1].Step, de.Step)
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := shortConfig(t, "logistic", "steps", "200000")
	n := 0
	_, err := RunExperiment(ctx, c, ExperimentHooks{Record: func(TheoryRecord) error { n++; return nil }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if n > 0 {
		t.Errorf("%d records after cancellation", n)
	}
}

func TestRunGorgoniaEngineMatchesClosed(t *testing.T) {
	for _, exp := range []string{"logistic", "tied"} {
		c := shortConfig(t, exp, "steps", "200", "D", "5")
		closed, _, err := collect(t, c)
		if err != nil {
			t.Fatal(err)
		}
		c.Engine = "gorgonia"
		gg, _, err := collect(t, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(gg) != len(closed) {
			t.Fatalf("%s: %d records vs %d", exp, len(gg), len(closed))
		}
		for i := range gg {
			if math.Abs(gg[i].Loss-closed[i].Loss) > 1e-10 || relErr(gg[i].Weights, closed[i].Weights, 1e-3) > 1e-10 {
				t.Fatalf("%s step %d: gorgonia loss %v weights %v, closed %v %v", exp, gg[i].Step, gg[i].Loss, gg[i].Weights, closed[i].Loss, closed[i].Weights)
			}
		}
	}
}

// E2's logistic/l1 flow reaches aᵢ = 0, where the l1 field is discontinuous,
// and cannot go on; the run keeps going without it.
func TestRunFlowStopsGracefully(t *testing.T) {
	c := shortConfig(t, "normalizers", "loss", "logistic", "normalizer", "l1", "lr", "0.5", "steps", "1e5",
		"flow_max_steps", "20000")
	c.Flow = true
	var stopped []float64
	var recs []TheoryRecord
	sums, err := RunExperiment(context.Background(), c, ExperimentHooks{
		Record:      func(r TheoryRecord) error { recs = append(recs, r); return nil },
		FlowStopped: func(_ string, t float64, _ error) { stopped = append(stopped, t) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(stopped) != 1 || sums[0].FlowStoppedAt != stopped[0] || sums[0].FlowError == "" {
		t.Fatalf("flow stops %v, summary %+v", stopped, sums[0])
	}
	if len(recs) != len(RecordSteps(100000, c.PerDecade)) {
		t.Fatalf("%d records", len(recs))
	}
	if !recs[0].HasFlow || recs[len(recs)-1].HasFlow {
		t.Error("want flow values before the stop and none at the end")
	}
	for _, r := range recs {
		if r.HasFlow && r.Time > stopped[0] {
			t.Errorf("flow value at t=%v after the stop at %v", r.Time, stopped[0])
		}
	}
	// a smooth normalizer integrates to the end under the same budget
	c.Normalizer = []string{"l2"}
	sums, err = RunExperiment(context.Background(), c, ExperimentHooks{})
	if err != nil || !math.IsNaN(sums[0].FlowStoppedAt) || math.IsNaN(sums[0].MaxFlowGap) {
		t.Errorf("l2: err %v, summary %+v", err, sums[0])
	}
}
