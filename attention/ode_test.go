package attention

import (
	"math"
	"testing"
)

func TestDOPRI54KnownSolutions(t *testing.T) {
	const y0logistic = 0.01
	tests := []struct {
		name  string
		f     ODEFunc
		y0    []float64
		exact func(t float64) []float64
		t1    float64
	}{
		{"exponential decay y'=-2y", func(_ float64, y, dy []float64) { dy[0] = -2 * y[0] },
			[]float64{3}, func(t float64) []float64 { return []float64{3 * math.Exp(-2*t)} }, 5},
		{"harmonic oscillator x''=-4x", func(_ float64, y, dy []float64) { dy[0], dy[1] = y[1], -4*y[0] },
			[]float64{1, 0}, func(t float64) []float64 { return []float64{math.Cos(2 * t), -2 * math.Sin(2*t)} }, 20},
		{"logistic y'=y(1-y)", func(_ float64, y, dy []float64) { dy[0] = y[0] * (1 - y[0]) },
			[]float64{y0logistic}, func(t float64) []float64 {
				return []float64{1 / (1 + (1/y0logistic-1)*math.Exp(-t))}
			}, 15},
		{"time-dependent y'=cos(t)", func(t float64, _, dy []float64) { dy[0] = math.Cos(t) },
			[]float64{0}, func(t float64) []float64 { return []float64{math.Sin(t)} }, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prevErr := math.Inf(1)
			for _, tol := range []float64{1e-6, 1e-9, 1e-12} {
				s := NewDOPRI54(tc.f, 0, tc.y0, tol, tol)
				// stop at several times, then at t1: landing on each exactly
				worst := 0.0
				for _, frac := range []float64{0.1, 0.37, 0.5, 1} {
					tt := frac * tc.t1
					if err := s.Advance(tt); err != nil {
						t.Fatal(err)
					}
					if s.T() != tt {
						t.Fatalf("T() = %v after Advance(%v)", s.T(), tt)
					}
					want := tc.exact(tt)
					for i, v := range s.Y() {
						worst = max(worst, math.Abs(v-want[i]))
					}
				}
				// global error stays within a small multiple of the tolerance
				if worst > 200*tol {
					t.Errorf("tol %g: max error %.3g", tol, worst)
				}
				if tol <= 1e-9 && worst >= prevErr {
					t.Errorf("tol %g: error %.3g did not shrink from %.3g", tol, worst, prevErr)
				}
				prevErr = worst
				t.Logf("tol %g: error %.3g, %d accepted, %d rejected, %d evals", tol, worst, s.Accepted, s.Rejected, s.Evals)
			}
		})
	}
}

// The step size adapts: a slowly varying solution is integrated with few steps.
func TestDOPRI54AdaptsStepSize(t *testing.T) {
	// y' = −y³, y(0) = 1: y(t) = 1/√(1+2t), ever slower
	s := NewDOPRI54(func(_ float64, y, dy []float64) { dy[0] = -y[0] * y[0] * y[0] }, 0, []float64{1}, 1e-9, 1e-12)
	if err := s.Advance(1e6); err != nil {
		t.Fatal(err)
	}
	if s.Accepted > 1000 {
		t.Errorf("%d steps to integrate a slowly decaying solution to t=1e6", s.Accepted)
	}
	if want := 1 / math.Sqrt(1+2e6); math.Abs(s.Y()[0]-want) > 1e-8*want {
		t.Errorf("y(1e6) = %v, want %v", s.Y()[0], want)
	}
	t.Logf("%d accepted, %d rejected", s.Accepted, s.Rejected)
}

// Fifth order: halving a fixed step (HMax with loose tolerances forces it)
// divides the error by about 2⁵.
func TestDOPRI54FifthOrder(t *testing.T) {
	errAt := func(h float64) float64 {
		s := NewDOPRI54(func(_ float64, y, dy []float64) { dy[0] = -y[0] }, 0, []float64{1}, 1, 1)
		s.HMax = h
		if err := s.Advance(2); err != nil {
			t.Fatal(err)
		}
		return math.Abs(s.Y()[0] - math.Exp(-2))
	}
	e1, e2 := errAt(0.2), errAt(0.1)
	if r := e1 / e2; r < 25 || r > 40 {
		t.Errorf("error ratio for halved step %.3g, want ≈ 32", r)
	}
}

func TestDOPRI54Failures(t *testing.T) {
	// y' = y² from y(0)=1 blows up at t=1
	s := NewDOPRI54(func(_ float64, y, dy []float64) { dy[0] = y[0] * y[0] }, 0, []float64{1}, 1e-8, 1e-8)
	if err := s.Advance(2); err == nil {
		t.Errorf("integrating through a blow-up succeeded: y(%v) = %v", s.T(), s.Y())
	}
	nan := NewDOPRI54(func(_ float64, y, dy []float64) { dy[0] = math.NaN() }, 0, []float64{1}, 1e-8, 1e-8)
	if err := nan.Advance(1); err == nil {
		t.Error("NaN field: want an error")
	}
	// finite at the start, NaN beyond y = 2
	late := NewDOPRI54(func(_ float64, y, dy []float64) {
		dy[0] = 1
		if y[0] > 2 {
			dy[0] = math.NaN()
		}
	}, 0, []float64{1}, 1e-8, 1e-8)
	if err := late.Advance(5); err == nil {
		t.Errorf("field NaN beyond y=2: want an error, got y(%v) = %v", late.T(), late.Y())
	}
	back := NewDOPRI54(func(_ float64, y, dy []float64) { dy[0] = 1 }, 1, []float64{1}, 1e-8, 1e-8)
	if err := back.Advance(0); err == nil {
		t.Error("backwards: want an error")
	}
}
