package vmath

// GeluTanh computes, for every i, t[i] = tanh(√(2/π)(x + 0.044715x³)) and
// y[i] = ½x(1 + t[i]) with x = x[i]; t is what GeluTanhBackward needs. tanh is
// Eigen's 13/6 rational approximation with its argument clamped to ±10 and
// its result to [−1, 1] (absolute error below 3.5e-7, exactly ±1 for
// |x| ≥ 6, so y is then exactly x or 0). A NaN x gives NaN in y and t. It
// panics unless x, y and t have the same length. x may be y or t; y and t
// must not overlap.
func GeluTanh(x, y, t []float32) { // (N)
	if len(y) != len(x) || len(t) != len(x) {
		panic("vmath: GeluTanh: slices of different lengths")
	}
	if len(x) == 0 {
		return
	}
	switch current() {
	case implAVX512:
		geluTanhAVX512(&x[0], &y[0], &t[0], len(x))
	case implAVX2:
		geluTanhAVX2(&x[0], &y[0], &t[0], len(x))
	default:
		geluTanhGeneric(x, y, t)
	}
}

// GeluTanhBackward computes, for every i,
// dx[i] = dy[i]·(½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)) with x = x[i]
// and t = t[i] from GeluTanh (x² is capped at 1e30, so that |x| > 1e15, where
// GeluTanh's t is ±1, gives no 0·Inf). It panics unless the four slices have
// the same length. dx may be any of the inputs.
func GeluTanhBackward(x, t, dy, dx []float32) { // (N)
	if len(t) != len(x) || len(dy) != len(x) || len(dx) != len(x) {
		panic("vmath: GeluTanhBackward: slices of different lengths")
	}
	if len(x) == 0 {
		return
	}
	switch current() {
	case implAVX512:
		geluTanhBackwardAVX512(&x[0], &t[0], &dy[0], &dx[0], len(x))
	case implAVX2:
		geluTanhBackwardAVX2(&x[0], &t[0], &dy[0], &dx[0], len(x))
	default:
		geluTanhBackwardGeneric(x, t, dy, dx)
	}
}

// checkRows panics unless n, d ≥ 0 and the LayerNorm slices have the lengths
// n rows of width d need.
func checkRows(name string, n, d int, rowsN, vecD, vecN []int) {
	if n < 0 || d < 0 || (n > 0 && d == 0) {
		panic("vmath: " + name + ": need n ≥ 0 and d ≥ 1")
	}
	if d > 0 && n > int(^uint(0)>>1)/d {
		panic("vmath: " + name + ": n·d overflows int")
	}
	for _, l := range rowsN {
		if l != n*d {
			panic("vmath: " + name + ": a row-major slice is not n·d long")
		}
	}
	for _, l := range vecD {
		if l != d {
			panic("vmath: " + name + ": a per-column slice is not d long")
		}
	}
	for _, l := range vecN {
		if l != n {
			panic("vmath: " + name + ": a per-row slice is not n long")
		}
	}
}

// LayerNormRows normalizes each of the n rows of width d of x:
// mean[i] = Σ_j x/d, rstd[i] = 1/√(var + eps) with the biased variance
// Σ_j (x − mean)²/d (computed in a second pass over the row), and
// y = (x − mean)·rstd·g + b. It panics unless len(x) = len(y) = n·d,
// len(g) = len(b) = d and len(mean) = len(rstd) = n (d ≥ 1). y may be x.
func LayerNormRows(x, g, b, y, mean, rstd []float32, n, d int, eps float32) { // x, y (N, D); g, b (D); mean, rstd (N)
	checkRows("LayerNormRows", n, d, []int{len(x), len(y)}, []int{len(g), len(b)}, []int{len(mean), len(rstd)})
	if n == 0 {
		return
	}
	invD := 1 / float32(d)
	switch current() {
	case implAVX512:
		layerNormRowsAVX512(&x[0], &g[0], &b[0], &y[0], &mean[0], &rstd[0], n, d, eps, invD)
	case implAVX2:
		layerNormRowsAVX2(&x[0], &g[0], &b[0], &y[0], &mean[0], &rstd[0], n, d, eps, invD)
	default:
		layerNormRowsGeneric(x, g, b, y, mean, rstd, n, d, eps)
	}
}

// LayerNormRowsBackward is the backward of LayerNormRows given the mean and
// rstd it wrote: with x̂ = (x − mean)·rstd and dx̂ = dy·g, for each row
// dx = rstd·(dx̂ − mean_j(dx̂) − x̂·mean_j(dx̂·x̂)), and it accumulates
// dg += Σ_rows dy·x̂ and db += Σ_rows dy (rows in order). It panics unless
// len(x) = len(dy) = len(dx) = n·d, len(g) = len(dg) = len(db) = d and
// len(mean) = len(rstd) = n (d ≥ 1). dx may be x or dy.
func LayerNormRowsBackward(x, g, dy, mean, rstd, dx, dg, db []float32, n, d int) { // x, dy, dx (N, D); g, dg, db (D); mean, rstd (N)
	checkRows("LayerNormRowsBackward", n, d, []int{len(x), len(dy), len(dx)}, []int{len(g), len(dg), len(db)}, []int{len(mean), len(rstd)})
	if n == 0 {
		return
	}
	invD := 1 / float32(d)
	switch current() {
	case implAVX512:
		layerNormRowsBackwardAVX512(&x[0], &g[0], &dy[0], &mean[0], &rstd[0], &dx[0], &dg[0], &db[0], n, d, invD)
	case implAVX2:
		layerNormRowsBackwardAVX2(&x[0], &g[0], &dy[0], &mean[0], &rstd[0], &dx[0], &dg[0], &db[0], n, d, invD)
	default:
		layerNormRowsBackwardGeneric(x, g, dy, mean, rstd, dx, dg, db, n, d)
	}
}

// AdamW updates the weights w in place from their gradient g and the moment
// estimates m and v: for every j, m = b1·m + (1−b1)·g, v = b2·v + (1−b2)·g²,
// w = w·decay − step·m/(√v·rbc2 + eps). The caller folds the schedule into
// the scalars: decay = 1 − lr·λ, step = lr/(1 − b1^t), rbc2 = 1/√(1 − b2^t).
// It panics unless the four slices have the same length.
func AdamW(w, g, m, v []float32, b1, b2, decay, step, rbc2, eps float32) { // (P)
	if len(g) != len(w) || len(m) != len(w) || len(v) != len(w) {
		panic("vmath: AdamW: slices of different lengths")
	}
	if len(w) == 0 {
		return
	}
	switch current() {
	case implAVX512:
		adamWAVX512(&w[0], &g[0], &m[0], &v[0], len(w), b1, 1-b1, b2, 1-b2, decay, step, rbc2, eps)
	case implAVX2:
		adamWAVX2(&w[0], &g[0], &m[0], &v[0], len(w), b1, 1-b1, b2, 1-b2, decay, step, rbc2, eps)
	default:
		adamWGeneric(w, g, m, v, b1, b2, decay, step, rbc2, eps)
	}
}

// ExpShift computes y[i] = exp(x[i] − shift) and returns Σ y (the
// denominator of a softmax row with shift = max x). The difference
// x[i] − shift is taken exactly (its float32 rounding error is carried into
// the reduced argument), so the relative error is below 2e-7 against
// exp(float64(x[i]) − float64(shift)) wherever the result is at least
// 1.2e-38; smaller results are gradual underflow or 0, larger than
// 3.4e38 give +Inf, and NaN gives NaN. The SIMD implementations sum in
// several partial sums. It panics unless x and y have the same length; y may
// be x.
func ExpShift(x, y []float32, shift float32) float32 { // (T)
	if len(y) != len(x) {
		panic("vmath: ExpShift: slices of different lengths")
	}
	if len(x) == 0 {
		return 0
	}
	switch current() {
	case implAVX512:
		return expShiftAVX512(&x[0], &y[0], len(x), -shift)
	case implAVX2:
		return expShiftAVX2(&x[0], &y[0], len(x), -shift)
	default:
		return expShiftGeneric(x, y, shift)
	}
}
