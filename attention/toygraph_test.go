package attention

import (
	"math"
	"testing"
)

// gorgonia's autodiff gradient equals the closed form for every loss and
// normalizer (float64, relative error ≤ 1e-9).
func TestToyGraphGradientMatchesClosedForm(t *testing.T) {
	for _, loss := range allLosses {
		for _, name := range NormalizerNames() {
			nz, _ := NormalizerByName(name)
			t.Run(loss.String()+"/"+name, func(t *testing.T) {
				m := testToy(t, loss, nz, 13)
				wantV := make([]float64, len(m.V))
				wantA := make([]float64, len(m.A))
				wantL := m.Gradient(wantV, wantA)
				tg, err := NewToyGraph(m)
				if err != nil {
					t.Fatal(err)
				}
				defer tg.Close()
				for run := range 2 { // twice: gradients must not accumulate
					gotV := make([]float64, len(m.V))
					gotA := make([]float64, len(m.A))
					gotL, err := tg.Gradient(gotV, gotA)
					if err != nil {
						t.Fatal(err)
					}
					if math.Abs(gotL-wantL) > 1e-12*math.Max(1, math.Abs(wantL)) {
						t.Errorf("run %d: loss %v, closed form %v", run, gotL, wantL)
					}
					if e := relErr(gotV, wantV, 0); e > 1e-9 {
						t.Errorf("run %d: ∂L/∂V rel err %.3g\ngorgonia: %v\nclosed:   %v", run, e, gotV, wantV)
					}
					if e := relErr(gotA, wantA, 0); e > 1e-9 {
						t.Errorf("run %d: ∂L/∂a rel err %.3g\ngorgonia: %v\nclosed:   %v", run, e, gotA, wantA)
					}
				}
			})
		}
	}
}

// Steps through gorgonia's solver follow the closed-form steps and update the
// Toy's own parameters.
func TestToyGraphStepMatchesClosedForm(t *testing.T) {
	for _, loss := range allLosses {
		t.Run(loss.String(), func(t *testing.T) {
			closed := testToy(t, loss, Softmax{}, 4)
			m := closed.Clone()
			tg, err := NewToyGraph(m)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			for k := range 50 {
				want := closed.Step(0.2)
				got, err := tg.Step(0.2)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(got-want) > 1e-10*math.Max(1, math.Abs(want)) {
					t.Fatalf("step %d: loss %v, closed form %v", k, got, want)
				}
			}
			if e := relErr(m.V, closed.V, 1e-3); e > 1e-10 {
				t.Errorf("V after 50 steps: rel err %.3g", e)
			}
			if e := relErr(m.A, closed.A, 1e-3); e > 1e-10 {
				t.Errorf("a after 50 steps: rel err %.3g", e)
			}
		})
	}
}

// The composed softmax stays finite where G.SoftMax returns NaN: a large
// logit that is not the first.
func TestToyGraphLargeLogits(t *testing.T) {
	for _, name := range []string{"softmax", "softmax1"} {
		nz, _ := NormalizerByName(name)
		m := testToy(t, Logistic, nz, 1)
		copy(m.A, []float64{0, 1000, -1000, 3, 2})
		tg, err := NewToyGraph(m)
		if err != nil {
			t.Fatal(err)
		}
		dV, dA := make([]float64, len(m.V)), make([]float64, len(m.A))
		l, err := tg.Gradient(dV, dA)
		tg.Close()
		if err != nil {
			t.Fatal(err)
		}
		wantV, wantA := make([]float64, len(m.V)), make([]float64, len(m.A))
		want := m.Gradient(wantV, wantA)
		if math.IsNaN(l) || math.Abs(l-want) > 1e-12 || relErr(dV, wantV, 1e-12) > 1e-9 || relErr(dA, wantA, 1e-12) > 1e-9 {
			t.Errorf("%s: loss %v (want %v), dV %v (want %v), da %v (want %v)", name, l, want, dV, wantV, dA, wantA)
		}
	}
}
