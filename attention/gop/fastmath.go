package gop

import (
	"math"

	"github.com/sinklab/sinklab/attention/vmath"
)

// Exp returns e^x. float32 uses a fast polynomial (relative error < 2e-7 on
// [−87, 88], 0 below, +Inf above); float64 uses math.Exp, so gradient checks in
// float64 see the exact function.
func Exp[T Float](x T) T {
	if _, ok := any(x).(float32); ok {
		return T(exp32(float32(x)))
	}
	return T(math.Exp(float64(x)))
}

// Tanh returns tanh(x). float32 uses a clamped rational approximation (absolute
// error < 1e-6); float64 uses math.Tanh.
func Tanh[T Float](x T) T {
	if _, ok := any(x).(float32); ok {
		return T(tanh32(float32(x)))
	}
	return T(math.Tanh(float64(x)))
}

// Erf returns the error function erf(x). float32 uses Abramowitz and Stegun's
// 7.1.26 (absolute error < 5e-7 with exp32); float64 uses math.Erf.
func Erf[T Float](x T) T {
	if _, ok := any(x).(float32); ok {
		return T(erf32(float32(x)))
	}
	return T(math.Erf(float64(x)))
}

// erf32 is Abramowitz and Stegun 7.1.26 (see Erf32Exp); erf is odd.
func erf32(x float32) float32 {
	if x != x {
		return x
	}
	ax := min(max(x, -x), 6) // erf(6) = 1 in float32; keeps t and e^{−x²} finite
	r := Erf32Exp(ax, exp32(-ax*ax))
	if x < 0 {
		return -r
	}
	return r
}

// Erf32Exp is erf(x) for 0 ≤ x ≤ 6 given e = e^{−x²} (for callers that have
// it already), by Abramowitz and Stegun 7.1.26:
// erf(x) = 1 − t(a₁ + t(a₂ + t(a₃ + t(a₄ + t a₅)))) e^{−x²} with t = 1/(1 + p x).
// Absolute error < 5e-7 in float32.
func Erf32Exp(x, e float32) float32 {
	return 1 - ErfcPoly32(x)*e
}

// ErfcPoly32 is Abramowitz and Stegun 7.1.26's factor of erfc for x ≥ 0:
// erfc(x) ≈ ErfcPoly32(x)·e^{−x²}, t(a₁ + t(a₂ + t(a₃ + t(a₄ + t a₅)))) with
// t = 1/(1 + p x) (absolute error of erfc < 1.5e-7). Callers that need erfc
// itself (small tails, as GELU's Φ(−|x|)) use it without the cancellation of
// 1 − erf.
func ErfcPoly32(x float32) float32 {
	t := 1 / (1 + 0.3275911*x)
	return t * (0.254829592 + t*(-0.284496736+t*(1.421413741+t*(-1.453152027+t*1.061405429))))
}

// exp32 is the Cephes expf scheme: x = n·ln2 + r, |r| ≤ ln2/2, e^r by a degree-6
// polynomial, scaled by 2^n through the exponent bits.
func exp32(x float32) float32 {
	if x > 88.72283 {
		return float32(math.Inf(1))
	}
	if x < -87.33654 {
		return 0
	}
	if x != x {
		return x
	}
	const log2e = 1.44269504088896341
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	// Cody–Waite reduction with ln2 split in two.
	r := x - n*0.693359375
	r -= n * -2.12194440e-4
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// tanh32 is Eigen's fast float tanh: a 13/6 rational approximation, clamped
// where tanh is ±1 in float32.
func tanh32(x float32) float32 {
	const clamp = 7.90531110763549805
	if x > clamp {
		x = clamp
	} else if x < -clamp {
		x = -clamp
	}
	if x > -0.0004 && x < 0.0004 {
		return x
	}
	x2 := x * x
	p := float32(-2.76076847742355e-16)
	p = p*x2 + 2.00018790482477e-13
	p = p*x2 + -8.60467152213735e-11
	p = p*x2 + 5.12229709037114e-08
	p = p*x2 + 1.48572235717979e-05
	p = p*x2 + 6.37261928875436e-04
	p = p*x2 + 4.89352455891786e-03
	p *= x
	q := float32(1.19825839466702e-06)
	q = q*x2 + 1.18534705686654e-04
	q = q*x2 + 2.26843463243900e-03
	q = q*x2 + 4.89352518554385e-03
	return p / q
}

// ExpShift writes p[j] = e^{s[j]−m} and returns Σⱼ p[j]: the exponentials of a
// softmax row shifted by its max m. float32 runs vmath's SIMD kernel; float64
// uses math.Exp term by term. p may be s.
func ExpShift[T Float](s, p []T, m T) T {
	if s32, ok := any(s).([]float32); ok {
		return T(vmath.ExpShift(s32, any(p).([]float32), float32(m)))
	}
	var sum T
	for j, x := range s {
		e := Exp(x - m)
		p[j] = e
		sum += e
	}
	return sum
}
