package attention

import (
	"errors"
	"fmt"
	"math"
)

// ODEFunc is the right-hand side of y' = f(t, y): it writes f(t, y) into dy.
// It must not keep y or dy.
type ODEFunc func(t float64, y, dy []float64)

// Dormand–Prince 5(4) tableau (Dormand & Prince 1980; Hairer, Nørsett & Wanner,
// Solving ODEs I, table 5.2).
const (
	dpC2, dpC3, dpC4, dpC5 = 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9

	dpA21 = 1.0 / 5

	dpA31, dpA32 = 3.0 / 40, 9.0 / 40

	dpA41, dpA42, dpA43 = 44.0 / 45, -56.0 / 15, 32.0 / 9

	dpA51, dpA52, dpA53, dpA54 = 19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729

	dpA61, dpA62, dpA63, dpA64, dpA65 = 9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656

	// fifth-order weights (also the seventh stage, FSAL)
	dpB1, dpB3, dpB4, dpB5, dpB6 = 35.0 / 384, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84

	// error weights: fifth- minus fourth-order solution
	dpE1, dpE3, dpE4, dpE5, dpE6, dpE7 = 71.0 / 57600, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40
)

// DOPRI54 integrates y' = f(t, y) with the adaptive Dormand–Prince 5(4) pair:
// fifth-order steps, the embedded fourth-order solution as error estimate,
// error norm sqrt(mean((errᵢ / (ATol + RTol·max(|yᵢ|, |y⁺ᵢ|)))²)) ≤ 1 to accept,
// and step-size control h ← h·clamp(0.9·err^(−1/5), 0.2, 10) (no growth right
// after a rejection). The last stage of a step is the first of the next.
type DOPRI54 struct {
	// RTol and ATol are the relative and absolute tolerances.
	RTol, ATol float64
	// HMax bounds the step size (0: unbounded).
	HMax float64
	// MaxSteps bounds the steps (accepted and rejected) of one Advance call.
	MaxSteps int

	// Accepted, Rejected and Evals count steps and evaluations of f.
	Accepted, Rejected, Evals int

	f      ODEFunc
	t, h   float64
	y      []float64
	k      [7][]float64
	ytmp   []float64
	ynew   []float64
	fsalOK bool
}

// NewDOPRI54 starts an integrator at (t0, y0) (y0 is copied) with relative and
// absolute tolerances rtol and atol and MaxSteps 10⁷.
func NewDOPRI54(f ODEFunc, t0 float64, y0 []float64, rtol, atol float64) *DOPRI54 {
	n := len(y0)
	s := &DOPRI54{RTol: rtol, ATol: atol, MaxSteps: 10_000_000, f: f, t: t0}
	s.y = append([]float64(nil), y0...)
	for i := range s.k {
		s.k[i] = make([]float64, n)
	}
	s.ytmp = make([]float64, n)
	s.ynew = make([]float64, n)
	return s
}

// T returns the current time.
func (s *DOPRI54) T() float64 { return s.t }

// Y returns the current state. It is the integrator's own buffer: read it,
// do not keep or change it.
func (s *DOPRI54) Y() []float64 { return s.y }

// errNorm returns the scaled RMS norm of v against the tolerance scale of y.
func (s *DOPRI54) errNorm(v, y []float64) float64 {
	sum := 0.0
	for i, x := range v {
		e := x / (s.ATol + s.RTol*math.Abs(y[i]))
		sum += e * e
	}
	return math.Sqrt(sum / float64(len(v)))
}

// initialStep is the starting-step heuristic of Hairer, Nørsett & Wanner
// (II.4): a step on which an Euler step's error would be about the tolerance.
func (s *DOPRI54) initialStep(span float64) float64 {
	f0 := s.k[0]
	d0, d1 := s.errNorm(s.y, s.y), s.errNorm(f0, s.y)
	h0 := 1e-6
	if d0 >= 1e-5 && d1 >= 1e-5 {
		h0 = 0.01 * d0 / d1
	}
	h0 = min(h0, span)
	for i := range s.ytmp {
		s.ytmp[i] = s.y[i] + h0*f0[i]
	}
	s.f(s.t+h0, s.ytmp, s.k[1])
	s.Evals++
	for i := range s.ynew {
		s.ynew[i] = (s.k[1][i] - f0[i]) / h0
	}
	d2 := s.errNorm(s.ynew, s.y)
	var h1 float64
	if m := max(d1, d2); m <= 1e-15 {
		h1 = max(1e-6, h0*1e-3)
	} else {
		h1 = math.Pow(0.01/m, 1.0/5)
	}
	h := min(100*h0, h1, span)
	if !(h > 0) { // non-finite derivatives: start small, let error control decide
		h = 1e-6 * span
	}
	return h
}

// Advance integrates from the current time to t1 ≥ T(), landing on t1
// exactly. It fails when the step size underflows (the solution blows up or
// f returns non-finite values) or MaxSteps is reached; the state is then the
// last accepted one.
func (s *DOPRI54) Advance(t1 float64) error {
	if t1 < s.t {
		return fmt.Errorf("attention: ode: cannot integrate backwards from t=%v to %v", s.t, t1)
	}
	if !(s.RTol > 0) || !(s.ATol >= 0) {
		return errors.New("attention: ode: tolerances must be positive")
	}
	if t1 == s.t {
		return nil
	}
	n := len(s.y)
	k := &s.k
	if !s.fsalOK {
		s.f(s.t, s.y, k[0])
		s.Evals++
		for _, v := range k[0] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("attention: ode: non-finite derivative at t=%v", s.t)
			}
		}
		s.fsalOK = true
	}
	if s.h == 0 {
		s.h = s.initialStep(t1 - s.t)
	}
	rejectedLast := false
	for steps := 0; s.t < t1; steps++ {
		if steps >= s.MaxSteps {
			return fmt.Errorf("attention: ode: %d steps without reaching t=%v (at t=%v)", steps, t1, s.t)
		}
		h := s.h
		if s.HMax > 0 {
			h = min(h, s.HMax)
		}
		last := false
		if s.t+1.01*h >= t1 { // land on t1, avoiding a sliver of a last step
			h, last = t1-s.t, true
		}
		if !last && !(h > 1e-14*math.Max(1, math.Abs(s.t))) { // also NaN
			return fmt.Errorf("attention: ode: step size underflow (h=%.3g) at t=%v", h, s.t)
		}
		t, y, yt := s.t, s.y, s.ytmp
		for i := 0; i < n; i++ {
			yt[i] = y[i] + h*dpA21*k[0][i]
		}
		s.f(t+dpC2*h, yt, k[1])
		for i := 0; i < n; i++ {
			yt[i] = y[i] + h*(dpA31*k[0][i]+dpA32*k[1][i])
		}
		s.f(t+dpC3*h, yt, k[2])
		for i := 0; i < n; i++ {
			yt[i] = y[i] + h*(dpA41*k[0][i]+dpA42*k[1][i]+dpA43*k[2][i])
		}
		s.f(t+dpC4*h, yt, k[3])
		for i := 0; i < n; i++ {
			yt[i] = y[i] + h*(dpA51*k[0][i]+dpA52*k[1][i]+dpA53*k[2][i]+dpA54*k[3][i])
		}
		s.f(t+dpC5*h, yt, k[4])
		for i := 0; i < n; i++ {
			yt[i] = y[i] + h*(dpA61*k[0][i]+dpA62*k[1][i]+dpA63*k[2][i]+dpA64*k[3][i]+dpA65*k[4][i])
		}
		s.f(t+h, yt, k[5])
		yn := s.ynew
		for i := 0; i < n; i++ {
			yn[i] = y[i] + h*(dpB1*k[0][i]+dpB3*k[2][i]+dpB4*k[3][i]+dpB5*k[4][i]+dpB6*k[5][i])
		}
		s.f(t+h, yn, k[6])
		s.Evals += 6
		// error estimate, scaled by max(|y|, |y⁺|)
		sum := 0.0
		for i := 0; i < n; i++ {
			e := h * (dpE1*k[0][i] + dpE3*k[2][i] + dpE4*k[3][i] + dpE5*k[4][i] + dpE6*k[5][i] + dpE7*k[6][i])
			sc := s.ATol + s.RTol*math.Max(math.Abs(y[i]), math.Abs(yn[i]))
			sum += (e / sc) * (e / sc)
		}
		err := math.Sqrt(sum / float64(n))
		if !(err <= 1) { // also NaN
			s.Rejected++
			fac := 0.2
			if !math.IsNaN(err) && !math.IsInf(err, 0) {
				fac = max(0.2, 0.9*math.Pow(err, -1.0/5))
			}
			s.h = h * fac
			rejectedLast = true
			continue
		}
		s.Accepted++
		fac := 10.0
		if err > 0 {
			fac = min(10, max(0.2, 0.9*math.Pow(err, -1.0/5)))
		}
		if rejectedLast {
			fac = min(fac, 1)
		}
		rejectedLast = false
		if last {
			s.t = t1
		} else {
			s.t = t + h
		}
		copy(s.y, yn)
		k[0], k[6] = k[6], k[0] // FSAL
		// a last step clipped to land on t1 does not shrink the next step
		if !last || h*fac > s.h {
			s.h = h * fac
		}
	}
	return nil
}
