// Package coef holds the constants of vmath's approximations, shared by the
// plain-Go kernels and the assembly generator so that both use the same
// float32 values.
package coef

// GELU, tanh form: y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
const (
	GeluC   float32 = 0.7978845608028654                // √(2/π)
	GeluCA  float32 = 0.7978845608028654 * 0.044715     // √(2/π)·0.044715
	GeluC3A float32 = 3 * 0.7978845608028654 * 0.044715 // 3·√(2/π)·0.044715, for the derivative
)

// Eigen's float tanh: tanh(u) ≈ u·P(u²)/Q(u²) with the highest-degree
// coefficients first (Horner order), then clamped to [−1, 1].
// Eigen clamps u at 7.90531110763549805, where its evaluation order gives
// exactly 1, but with fused multiply-adds the value there is 1 − 2.4e-7; the
// rational function exceeds 1 by at least 2 ulp for u in [9.8, 10.9] in both
// evaluation orders, so clamping u at TanhClamp = 10 and the result at ±1
// gives exactly ±1 for |u| ≥ 10 (and 1 − t² = 0 in the backward) whatever
// the rounding. The error stays below 3.5e-7 everywhere.
const TanhClamp float32 = 10

// GeluX2Max bounds x² in GELU's derivative so that it stays finite for huge
// |x| (where t = ±1 and the term it multiplies is 0).
const GeluX2Max float32 = 1e30

// ExpErrMax bounds the TwoSum error of x − shift added to the reduced
// argument: it exceeds ulp(104)/2 only when x − shift is far outside the
// range of exp (or infinite, when the error is NaN), and is then irrelevant.
const ExpErrMax float32 = 0x1p-17

// TanhP are the coefficients of P, highest degree first.
var TanhP = [7]float32{
	-2.76076847742355e-16,
	2.00018790482477e-13,
	-8.60467152213735e-11,
	5.12229709037114e-08,
	1.48572235717979e-05,
	6.37261928875436e-04,
	4.89352455891786e-03,
}

// TanhQ are the coefficients of Q, highest degree first.
var TanhQ = [4]float32{
	1.19825839466702e-06,
	1.18534705686654e-04,
	2.26843463243900e-03,
	4.89352518554385e-03,
}

// Cephes expf: x = n·ln2 + r with n = round(x·log2e), r computed as
// x − n·ExpC1 − n·ExpC2 (ln2 = ExpC1 + ExpC2, ExpC1 exact in 9 bits so that
// n·ExpC1 is exact), e^r ≈ 1 + r + r²·P(r), then scaled by 2^n.
const (
	ExpLog2e float32 = 1.44269504088896341
	ExpC1    float32 = 0.693359375
	ExpC2    float32 = -2.12194440e-4
	// Inputs are clamped to [ExpLo, ExpHi]: e^ExpLo rounds to 0 and e^ExpHi
	// overflows to +Inf, and 2^n stays within two float32 scale factors.
	ExpLo float32 = -104
	ExpHi float32 = 88.8
	// ExpRound is 1.5·2²³: adding and subtracting it rounds a float32 of
	// magnitude below 2²² to the nearest integer (ties to even).
	ExpRound float32 = 12582912
)

// ExpP are the coefficients of P, highest degree first.
var ExpP = [6]float32{
	1.9875691500e-4,
	1.3981999507e-3,
	8.3334519073e-3,
	4.1665795894e-2,
	1.6666665459e-1,
	5.0000001201e-1,
}
