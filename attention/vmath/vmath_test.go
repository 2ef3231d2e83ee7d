package vmath

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	c "github.com/sinklab/sinklab/attention/vmath/internal/coef"
)

// ulp32 is the unit roundoff of float32 (half the spacing at 1).
const ulp32 = 0x1p-24

var testLengths = []int{0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 1000}

// forEachImpl runs f as a subtest under every implementation this build and
// CPU support, restoring the start-up choice afterwards.
func forEachImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer SetImpl("auto")
	for _, k := range supportedImpls() {
		t.Run(k.String(), func(t *testing.T) {
			if err := SetImpl(k.String()); err != nil {
				t.Fatalf("SetImpl(%q): %v", k, err)
			}
			f(t)
		})
	}
}

func newRNG(a uint64) *rand.Rand { return rand.New(rand.NewPCG(a, a^0x9e3779b97f4a7c15)) }

// randSlice is n float32 values drawn from scale·N(0, 1) + offset.
func randSlice(rng *rand.Rand, n int, scale, offset float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(offset + scale*rng.NormFloat64())
	}
	return s
}

// extremes are inputs every elementwise kernel must survive.
var extremes = []float32{0, float32(math.Copysign(0, -1)), 1e3, -1e3, 88, -88, 100, -100, 1e-30, -1e-30, 1e-40, -1e-40,
	5.5, -5.5, 9.9, -9.9, 1e-4, -1e-4, 3e4, -3e4, 1e19, -1e19, math.MaxFloat32, -math.MaxFloat32}

func geluRef(x float64) (y, t float64) {
	t = math.Tanh(math.Sqrt(2/math.Pi) * (x + 0.044715*x*x*x))
	return 0.5 * x * (1 + t), t
}

func TestGeluTanh(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := newRNG(1)
		inputs := map[string][]float32{"extremes": extremes}
		for _, n := range testLengths {
			inputs["random_"+itoa(n)] = randSlice(rng, n, 3, 0)
		}
		for name, x := range inputs {
			t.Run(name, func(t *testing.T) {
				y, th := make([]float32, len(x)), make([]float32, len(x))
				GeluTanh(x, y, th)
				for i, v := range x {
					yr, tr := geluRef(float64(v))
					if d := math.Abs(float64(th[i]) - tr); !(d <= 1e-6) {
						t.Errorf("x=%g: t=%g want %g (|err| %.3g > 1e-6)", v, th[i], tr, d)
					}
					// t's error scaled by ½|x|, plus the roundings of y itself.
					tol := 1e-6*0.5*math.Abs(float64(v)) + 4*ulp32*math.Abs(yr) + 1e-40
					if d := math.Abs(float64(y[i]) - yr); !(d <= tol) {
						t.Errorf("x=%g: y=%g want %g (|err| %.3g > %.3g)", v, y[i], yr, d, tol)
					}
				}
			})
		}
		x := []float32{float32(math.NaN()), 1}
		y, th := make([]float32, 2), make([]float32, 2)
		GeluTanh(x, y, th)
		if !isNaN32(y[0]) || !isNaN32(th[0]) {
			t.Errorf("GeluTanh(NaN): y=%g t=%g, want NaN", y[0], th[0])
		}
	})
}

// TestGeluTanhLimits checks that the clamped approximation reaches exactly ±1,
// so that the backward's 1 − t² is exactly 0 for large |x|.
func TestGeluTanhLimits(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		x := []float32{6, -6, 10, -10, 1e3, -1e3, math.MaxFloat32, -math.MaxFloat32}
		y, th := make([]float32, len(x)), make([]float32, len(x))
		GeluTanh(x, y, th)
		for i, v := range x {
			want := float32(math.Copysign(1, float64(v)))
			if th[i] != want {
				t.Errorf("x=%g: t=%g, want exactly %g", v, th[i], want)
			}
			if wantY := max(v, 0); y[i] != wantY {
				t.Errorf("x=%g: y=%g, want exactly %g", v, y[i], wantY)
			}
		}
	})
}

func geluBackwardRef(x, t, dy float64) (dx, scale float64) {
	a := 0.5 * (1 + t)
	b := 0.5 * x * (1 - t*t) * math.Sqrt(2/math.Pi) * (1 + 3*0.044715*x*x)
	// The float32 1 − t² carries an absolute error of up to ~2 ulp of 1.
	bErr := 0.5 * math.Abs(x) * 2 * ulp32 * math.Sqrt(2/math.Pi) * (1 + 3*0.044715*x*x)
	return dy * (a + b), math.Abs(dy) * (8*ulp32*(math.Abs(a)+math.Abs(b)) + bErr)
}

func TestGeluTanhBackward(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := newRNG(2)
		for _, n := range append(testLengths, len(extremes)) {
			t.Run(itoa(n), func(t *testing.T) {
				x := randSlice(rng, n, 3, 0)
				if n == len(extremes) {
					copy(x, extremes)
				}
				th := make([]float32, n)
				for i := range th { // any t in [−1, 1]: the formula is checked as stated
					th[i] = float32(2*rng.Float64() - 1)
				}
				dy := randSlice(rng, n, 1, 0)
				dx := make([]float32, n)
				GeluTanhBackward(x, th, dy, dx)
				for i := range x {
					want, tol := geluBackwardRef(float64(x[i]), float64(th[i]), float64(dy[i]))
					if math.Abs(float64(x[i])) > 1e15 { // x² capped: only the sign and overflow are checked
						if want > 0 && !math.IsInf(float64(dx[i]), 1) || want < 0 && !math.IsInf(float64(dx[i]), -1) {
							t.Errorf("x=%g t=%g dy=%g: dx=%g, want %s", x[i], th[i], dy[i], dx[i], "an infinity of the sign of "+ftoa(want))
						}
						continue
					}
					if math.Abs(want) > math.MaxFloat32 {
						if !math.IsInf(float64(dx[i]), int(math.Copysign(1, want))) {
							t.Errorf("x=%g t=%g dy=%g: dx=%g, want overflow to %g", x[i], th[i], dy[i], dx[i], want)
						}
						continue
					}
					if d := math.Abs(float64(dx[i]) - want); !(d <= tol+1e-38) {
						t.Errorf("x=%g t=%g dy=%g: dx=%g want %g (|err| %.3g > %.3g)", x[i], th[i], dy[i], dx[i], want, d, tol)
					}
				}
			})
		}
	})
}

// TestGeluTanhBackwardSaturated checks the backward with t from GeluTanh
// where tanh saturates: dx = dy for x ≥ 6 and 0 for x ≤ −6, exactly, up to
// the largest float32 (no 0·Inf).
func TestGeluTanhBackwardSaturated(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		x := []float32{6, -6, 1e3, -1e3, 1e19, -1e19, 1e30, -1e30, math.MaxFloat32, -math.MaxFloat32, 7, -7, 100, -100, 1e10, -1e10, 42}
		n := len(x)
		y, th, dx := make([]float32, n), make([]float32, n), make([]float32, n)
		dy := randSlice(newRNG(9), n, 1, 0)
		GeluTanh(x, y, th)
		GeluTanhBackward(x, th, dy, dx)
		for i, v := range x {
			want := dy[i]
			if v < 0 {
				want = 0
			}
			if dx[i] != want {
				t.Errorf("x=%g dy=%g: dx=%g, want exactly %g", v, dy[i], dx[i], want)
			}
		}
	})
}

// TestGeluTanhGradient checks GeluTanhBackward (with t from GeluTanh) against
// a central finite difference of the float64 GELU.
func TestGeluTanhGradient(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		var x []float32
		for v := -8.0; v <= 8; v += 0.0625 {
			x = append(x, float32(v)+0.01)
		}
		n := len(x)
		y, th, dy, dx := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range dy {
			dy[i] = 1
		}
		GeluTanh(x, y, th)
		GeluTanhBackward(x, th, dy, dx)
		const h = 1e-5
		for i, v := range x {
			yp, _ := geluRef(float64(v) + h)
			ym, _ := geluRef(float64(v) - h)
			fd := (yp - ym) / (2 * h)
			if d := math.Abs(float64(dx[i]) - fd); d > 2e-5 {
				t.Errorf("x=%g: dx=%g, finite difference %g (|err| %.3g)", v, dx[i], fd, d)
			}
		}
	})
}

// lnRef is LayerNorm of one row in float64.
func lnRef(x []float32, eps float32) (mean, rstd float64) {
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, 1 / math.Sqrt(ss/float64(len(x))+float64(eps))
}

var lnShapes = [][2]int{{1, 1}, {3, 1}, {2, 7}, {3, 15}, {4, 16}, {2, 17}, {3, 31}, {2, 32}, {3, 33}, {7, 64}, {3, 100}, {2, 1000}}

func TestLayerNormRows(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := newRNG(3)
		for _, s := range lnShapes {
			n, d := s[0], s[1]
			for _, offset := range []float64{0, 30} {
				t.Run(itoa(n)+"x"+itoa(d)+"_offset"+itoa(int(offset)), func(t *testing.T) {
					const eps = 1e-5
					x := randSlice(rng, n*d, 2, offset)
					g, b := randSlice(rng, d, 1, 1), randSlice(rng, d, 1, 0)
					y, mean, rstd := make([]float32, n*d), make([]float32, n), make([]float32, n)
					LayerNormRows(x, g, b, y, mean, rstd, n, d, eps)
					// Float32 sums of d terms: error below (d+4)·u relative to Σ|x|.
					gam := float64(d+4) * ulp32
					for i := range n {
						xr := x[i*d : i*d+d]
						mr, rr := lnRef(xr, eps)
						var absMean float64
						for _, v := range xr {
							absMean += math.Abs(float64(v)) / float64(d)
						}
						if e := math.Abs(float64(mean[i]) - mr); e > gam*absMean {
							t.Errorf("row %d: mean %g want %g (|err| %.3g)", i, mean[i], mr, e)
						}
						// rstd: the variance is a sum of squares of centered values
						// whose centering error is the mean's.
						relR := 2*gam + 2*gam*absMean*rr
						if e := math.Abs(float64(rstd[i])-rr) / rr; e > relR {
							t.Errorf("row %d: rstd %g want %g (rel err %.3g > %.3g)", i, rstd[i], rr, e, relR)
						}
						for j, v := range xr {
							xh := (float64(v) - mr) * rr
							want := xh*float64(g[j]) + float64(b[j])
							tol := (math.Abs(xh)*(relR+4*ulp32)+gam*absMean*rr)*math.Abs(float64(g[j])) + 2*ulp32*math.Abs(want) + 1e-30
							if e := math.Abs(float64(y[i*d+j]) - want); e > tol {
								t.Errorf("y[%d,%d] = %g want %g (|err| %.3g > %.3g)", i, j, y[i*d+j], want, e, tol)
							}
						}
					}
				})
			}
		}
	})
}

// lnBackwardRef is LayerNormRowsBackward in float64 from float32 mean and
// rstd; it accumulates into dg and db. scale[i] bounds the size of the terms
// of dx[i] and dgScale/dbScale those of the sums.
func lnBackwardRef(x, g, dy, mean, rstd []float32, n, d int, dg, db []float64) (dx, scale, dgScale, dbScale []float64) {
	dx, scale = make([]float64, n*d), make([]float64, n*d)
	dgScale, dbScale = make([]float64, d), make([]float64, d)
	for j := range d {
		dgScale[j], dbScale[j] = math.Abs(dg[j]), math.Abs(db[j])
	}
	for i := range n {
		mu, r := float64(mean[i]), float64(rstd[i])
		var s1, s2, a1, a2 float64
		for j := range d {
			xh := (float64(x[i*d+j]) - mu) * r
			dxh := float64(dy[i*d+j]) * float64(g[j])
			s1 += dxh
			s2 += dxh * xh
			a1 += math.Abs(dxh)
			a2 += math.Abs(dxh * xh)
			dg[j] += float64(dy[i*d+j]) * xh
			db[j] += float64(dy[i*d+j])
			dgScale[j] += math.Abs(float64(dy[i*d+j]) * xh)
			dbScale[j] += math.Abs(float64(dy[i*d+j]))
		}
		s1 /= float64(d)
		s2 /= float64(d)
		for j := range d {
			xh := (float64(x[i*d+j]) - mu) * r
			dxh := float64(dy[i*d+j]) * float64(g[j])
			dx[i*d+j] = r * (dxh - s1 - xh*s2)
			scale[i*d+j] = r * (math.Abs(dxh) + a1/float64(d) + math.Abs(xh)*a2/float64(d)*float64(d+4))
		}
	}
	return dx, scale, dgScale, dbScale
}

func TestLayerNormRowsBackward(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := newRNG(4)
		for _, s := range lnShapes {
			n, d := s[0], s[1]
			t.Run(itoa(n)+"x"+itoa(d), func(t *testing.T) {
				x := randSlice(rng, n*d, 2, 5)
				g, dy := randSlice(rng, d, 1, 1), randSlice(rng, n*d, 1, 0)
				mean, rstd := make([]float32, n), make([]float32, n)
				for i := range n {
					m, r := lnRef(x[i*d:i*d+d], 1e-5)
					mean[i], rstd[i] = float32(m), float32(r)
				}
				dg, db := randSlice(rng, d, 1, 0), randSlice(rng, d, 1, 0)
				dg64, db64 := make([]float64, d), make([]float64, d)
				for j := range d {
					dg64[j], db64[j] = float64(dg[j]), float64(db[j])
				}
				dx := make([]float32, n*d)
				LayerNormRowsBackward(x, g, dy, mean, rstd, dx, dg, db, n, d)
				want, scale, dgScale, dbScale := lnBackwardRef(x, g, dy, mean, rstd, n, d, dg64, db64)
				gam := float64(d+8) * ulp32
				for i := range dx {
					if e := math.Abs(float64(dx[i]) - want[i]); e > gam*scale[i]+1e-30 {
						t.Errorf("dx[%d] = %g want %g (|err| %.3g > %.3g)", i, dx[i], want[i], e, gam*scale[i])
					}
				}
				gamN := float64(n+8) * ulp32
				for j := range d {
					if e := math.Abs(float64(dg[j]) - dg64[j]); e > gamN*dgScale[j] {
						t.Errorf("dg[%d] = %g want %g (|err| %.3g)", j, dg[j], dg64[j], e)
					}
					if e := math.Abs(float64(db[j]) - db64[j]); e > gamN*dbScale[j] {
						t.Errorf("db[%d] = %g want %g (|err| %.3g)", j, db[j], db64[j], e)
					}
				}
			})
		}
	})
}

// lnLoss is Σ w·LayerNorm(x)·g + b over all rows, in float64.
func lnLoss(x, g, b, w []float64, n, d int, eps float64) float64 {
	var loss float64
	for i := range n {
		xr := x[i*d : i*d+d]
		var mean, ss float64
		for _, v := range xr {
			mean += v
		}
		mean /= float64(d)
		for _, v := range xr {
			ss += (v - mean) * (v - mean)
		}
		r := 1 / math.Sqrt(ss/float64(d)+eps)
		for j, v := range xr {
			loss += w[i*d+j] * ((v-mean)*r*g[j] + b[j])
		}
	}
	return loss
}

// TestLayerNormRowsGradient checks LayerNormRowsBackward (with mean and rstd
// from LayerNormRows) against central finite differences of the float64
// LayerNorm with the loss Σ dy·y.
func TestLayerNormRowsGradient(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := newRNG(5)
		for _, s := range [][2]int{{2, 5}, {3, 16}, {2, 21}} {
			n, d := s[0], s[1]
			t.Run(itoa(n)+"x"+itoa(d), func(t *testing.T) {
				const eps = 1e-5
				x, g, b := randSlice(rng, n*d, 1, 0.5), randSlice(rng, d, 0.5, 1), randSlice(rng, d, 1, 0)
				dy := randSlice(rng, n*d, 1, 0)
				y, mean, rstd := make([]float32, n*d), make([]float32, n), make([]float32, n)
				LayerNormRows(x, g, b, y, mean, rstd, n, d, eps)
				dx, dg, db := make([]float32, n*d), make([]float32, d), make([]float32, d)
				LayerNormRowsBackward(x, g, dy, mean, rstd, dx, dg, db, n, d)
				x64, g64, b64, w := to64(x), to64(g), to64(b), to64(dy)
				const h = 1e-6
				fd := func(p []float64, k int) float64 {
					v := p[k]
					p[k] = v + h
					lp := lnLoss(x64, g64, b64, w, n, d, eps)
					p[k] = v - h
					lm := lnLoss(x64, g64, b64, w, n, d, eps)
					p[k] = v
					return (lp - lm) / (2 * h)
				}
				check := func(name string, got []float32, p []float64) {
					for k := range got {
						want := fd(p, k)
						if e := math.Abs(float64(got[k]) - want); e > 1e-4*(1+math.Abs(want)) {
							t.Errorf("%s[%d] = %g, finite difference %g (|err| %.3g)", name, k, got[k], want, e)
						}
					}
				}
				check("dx", dx, x64)
				check("dg", dg, g64)
				check("db", db, b64)
			})
		}
	})
}

func to64(s []float32) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

func TestAdamW(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := newRNG(6)
		const lr, wd, b1, b2, eps, step = 1e-3, 0.1, 0.9, 0.999, 1e-8, 3
		decay := float32(1 - lr*wd)
		stepSize := float32(lr / (1 - math.Pow(b1, step)))
		rbc2 := float32(1 / math.Sqrt(1-math.Pow(b2, step)))
		for _, n := range append(testLengths, 4099) {
			t.Run(itoa(n), func(t *testing.T) {
				w, g, m := randSlice(rng, n, 1, 0), randSlice(rng, n, 0.1, 0), randSlice(rng, n, 0.01, 0)
				v := make([]float32, n)
				for i := range v {
					v[i] = float32(1e-4 * rng.ExpFloat64())
				}
				if n > 3 { // a zero gradient with zero second moment: the update is m/eps
					g[0], v[0], m[0] = 0, 0, 1e-9
					g[1] = 1e3
				}
				w0, m0, v0 := to64(w), to64(m), to64(v)
				AdamW(w, g, m, v, b1, b2, decay, stepSize, rbc2, eps)
				b1f, b2f := float64(float32(b1)), float64(float32(b2))
				for j := range w {
					gj := float64(g[j])
					mw := b1f*m0[j] + (1-b1f)*gj
					vw := b2f*v0[j] + (1-b2f)*gj*gj
					upd := float64(stepSize) * mw / (math.Sqrt(vw)*float64(rbc2) + eps)
					ww := w0[j]*float64(decay) - upd
					if e := math.Abs(float64(m[j]) - mw); e > 4*ulp32*(b1f*math.Abs(m0[j])+(1-b1f)*math.Abs(gj))+1e-45 {
						t.Errorf("m[%d] = %g want %g (|err| %.3g)", j, m[j], mw, e)
					}
					if e := math.Abs(float64(v[j]) - vw); e > 6*ulp32*vw+1e-45 {
						t.Errorf("v[%d] = %g want %g (|err| %.3g)", j, v[j], vw, e)
					}
					// m and v carry their own errors into the update.
					tol := 2*ulp32*math.Abs(w0[j]*float64(decay)) + 16*ulp32*math.Abs(upd) + 1e-45
					if e := math.Abs(float64(w[j]) - ww); e > tol {
						t.Errorf("w[%d] = %g want %g (|err| %.3g > %.3g)", j, w[j], ww, e, tol)
					}
				}
			})
		}
	})
}

// checkExp checks y = exp(x − shift) against float64: relative error ≤ 2e-7
// for results in the normal range, +Inf above it, [0, 1.2e-38] below it.
func checkExp(t *testing.T, x, y []float32, shift float32) {
	t.Helper()
	bad := 0
	for i, v := range x {
		want := math.Exp(float64(v) - float64(shift))
		got := float64(y[i])
		ok := true
		switch {
		case math.IsNaN(want):
			ok = math.IsNaN(got)
		case want > math.MaxFloat32*(1+1e-7):
			ok = math.IsInf(got, 1)
		case want < 0x1p-126:
			ok = got >= 0 && got <= 1.2e-38
		default:
			ok = math.Abs(got-want) <= 2e-7*want
		}
		if !ok {
			if bad++; bad <= 10 {
				t.Errorf("exp(%g − %g) = %g, want %g (rel err %.3g)", v, shift, got, want, math.Abs(got-want)/want)
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d bad values in all", bad)
	}
}

func TestExpShift(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := newRNG(7)
		for _, n := range testLengths {
			for _, shiftKind := range []string{"max", "zero", "offset"} {
				t.Run(itoa(n)+"_"+shiftKind, func(t *testing.T) {
					x := randSlice(rng, n, 6, 0)
					var shift float32
					switch shiftKind {
					case "max":
						shift = float32(math.Inf(-1))
						for _, v := range x {
							shift = max(shift, v)
						}
						if n == 0 {
							shift = 0
						}
					case "offset": // x − shift is rarely exact in float32
						shift = float32(5.3 + rng.Float64())
					}
					y := make([]float32, n)
					sum := ExpShift(x, y, shift)
					checkExp(t, x, y, shift)
					var want, abs float64
					for _, v := range x {
						want += math.Exp(float64(v) - float64(shift))
					}
					abs = want
					if e := math.Abs(float64(sum) - want); e > (float64(n+2)*ulp32+2e-7)*abs {
						t.Errorf("sum = %g want %g (|err| %.3g)", sum, want, e)
					}
				})
			}
		}
	})
}

// TestExpShiftRange sweeps x − shift over the whole float32 range of exp, and
// the extremes, with several shifts.
func TestExpShiftRange(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		var x []float32
		for z := -90.0; z <= 90; z += 0.0007 {
			x = append(x, float32(z))
		}
		for _, sh := range []float32{0, 1.5, -20.25, 0.1} {
			xs := make([]float32, len(x))
			for i, v := range x {
				xs[i] = v + sh
			}
			y := make([]float32, len(xs))
			ExpShift(xs, y, sh)
			checkExp(t, xs, y, sh)
		}
		ext := append(append([]float32(nil), extremes...), float32(math.Inf(1)), float32(math.Inf(-1)), 88.72, 88.73, -87.33, -87.34, -103.9, -110)
		for _, sh := range []float32{0, 1e3, -1e3, 88, float32(math.Inf(1)), 12345.678} {
			y := make([]float32, len(ext))
			sum := ExpShift(ext, y, sh)
			checkExp(t, ext, y, sh)
			if isNaN32(sum) && !math.IsInf(float64(sh), 0) {
				t.Errorf("shift %g: sum is NaN", sh)
			}
		}
		// Large inputs whose difference needs their low bits.
		for _, p := range [][2]float32{{1000.0001, 999.9}, {12345.678, 12340}, {-3.1, 5.3}, {1e-3, 7.77}} {
			y := make([]float32, 1)
			ExpShift(p[:1], y, p[1])
			checkExp(t, p[:1], y, p[1])
		}
		y := make([]float32, 2)
		if sum := ExpShift([]float32{float32(math.NaN()), 0}, y, 0); !isNaN32(y[0]) || y[1] != 1 || !isNaN32(sum) {
			t.Errorf("ExpShift(NaN, 0) = %v, sum %g; want [NaN 1], NaN", y, sum)
		}
	})
}

// TestImplsAgree runs every kernel on the same inputs under every
// implementation and compares with the generic one (the oracle).
func TestImplsAgree(t *testing.T) {
	defer SetImpl("auto")
	rng := newRNG(8)
	const n, rows, d = 1003, 9, 70
	x, dy, t0 := randSlice(rng, n, 3, 0), randSlice(rng, n, 1, 0), randSlice(rng, n, 0.5, 0)
	xl, dyl := randSlice(rng, rows*d, 2, 1), randSlice(rng, rows*d, 1, 0)
	g, b := randSlice(rng, d, 1, 1), randSlice(rng, d, 1, 0)
	w0, m0 := randSlice(rng, n, 1, 0), randSlice(rng, n, 0.01, 0)
	v0 := make([]float32, n)
	for i := range v0 {
		v0[i] = float32(1e-4 * rng.ExpFloat64())
	}
	run := func() [][]float32 {
		y, th, dx := make([]float32, n), make([]float32, n), make([]float32, n)
		GeluTanh(x, y, th)
		GeluTanhBackward(x, t0, dy, dx)
		yl, mean, rstd := make([]float32, rows*d), make([]float32, rows), make([]float32, rows)
		LayerNormRows(xl, g, b, yl, mean, rstd, rows, d, 1e-5)
		dxl, dg, db := make([]float32, rows*d), make([]float32, d), make([]float32, d)
		LayerNormRowsBackward(xl, g, dyl, mean, rstd, dxl, dg, db, rows, d)
		w, m, v := append([]float32(nil), w0...), append([]float32(nil), m0...), append([]float32(nil), v0...)
		AdamW(w, dy, m, v, 0.9, 0.999, 0.9999, 1e-3, 1.2, 1e-8)
		e := make([]float32, n)
		s := ExpShift(x, e, 2)
		return [][]float32{y, th, dx, yl, mean, rstd, dxl, dg, db, w, m, v, e, {s}}
	}
	names := []string{"gelu y", "gelu t", "gelu dx", "ln y", "ln mean", "ln rstd", "ln dx", "ln dg", "ln db", "adam w", "adam m", "adam v", "exp y", "exp sum"}
	if err := SetImpl("generic"); err != nil {
		t.Fatal(err)
	}
	want := run()
	for _, k := range supportedImpls() {
		if k == implGeneric {
			continue
		}
		t.Run(k.String(), func(t *testing.T) {
			if err := SetImpl(k.String()); err != nil {
				t.Fatal(err)
			}
			got := run()
			differ := false
			for o := range want {
				for i := range want[o] {
					a, b := float64(got[o][i]), float64(want[o][i])
					if a != b {
						differ = true
					}
					// Sums of up to 70 terms and cancellations in the backward.
					if math.Abs(a-b) > 2e-5*max(1, math.Abs(b)) {
						t.Errorf("%s[%d]: %s %g, generic %g", names[o], i, k, a, b)
					}
				}
			}
			if !differ { // fused multiply-adds change some last bits
				t.Errorf("%s gave bit-identical results to generic: is the dispatch working?", k)
			}
		})
	}
}

func TestSetImpl(t *testing.T) {
	defer SetImpl("auto")
	for _, k := range []implKind{implGeneric, implAVX2, implAVX512} {
		err := SetImpl(k.String())
		if impls.Supports(k) {
			if err != nil {
				t.Errorf("SetImpl(%q): %v", k, err)
			} else if got := Impl(); got != k.String() {
				t.Errorf("Impl() = %q after SetImpl(%q)", got, k)
			}
		} else if err == nil {
			t.Errorf("SetImpl(%q) succeeded on a build or CPU without it", k)
		}
	}
	if err := SetImpl("sse9"); err == nil {
		t.Error("SetImpl(sse9) succeeded")
	}
	if err := SetImpl("auto"); err != nil || Impl() != bestImpl().String() {
		t.Errorf("SetImpl(auto): err %v, Impl() = %q, want %q", err, Impl(), bestImpl())
	}
}

func TestPanics(t *testing.T) {
	a, b := make([]float32, 4), make([]float32, 5)
	for name, f := range map[string]func(){
		"GeluTanh":         func() { GeluTanh(a, a, b) },
		"GeluTanhBackward": func() { GeluTanhBackward(a, a, b, a) },
		"AdamW":            func() { AdamW(a, a, a, b, 0.9, 0.99, 1, 1, 1, 1e-8) },
		"ExpShift":         func() { ExpShift(a, b, 0) },
		"LayerNormRows":    func() { LayerNormRows(a, a[:2], a[:2], b, a[:2], a[:2], 2, 2, 1e-5) },
		"LayerNormRows d0": func() { LayerNormRows(nil, nil, nil, nil, a[:2], a[:2], 2, 0, 1e-5) },
		"LayerNormRowsBackward": func() {
			LayerNormRowsBackward(a, a[:2], a, a[:2], a[:3], a, a[:2], a[:2], 2, 2)
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with mismatched lengths did not panic", name)
				}
			}()
			f()
		})
	}
}

func TestNoAllocs(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		const n, rows, d = 100, 4, 25
		x, y, z, u := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		g, b, mean, rstd := make([]float32, d), make([]float32, d), make([]float32, rows), make([]float32, rows)
		for i := range x {
			x[i] = float32(i) / n
		}
		for name, f := range map[string]func(){
			"GeluTanh":              func() { GeluTanh(x, y, z) },
			"GeluTanhBackward":      func() { GeluTanhBackward(x, y, z, u) },
			"LayerNormRows":         func() { LayerNormRows(x, g, b, y, mean, rstd, rows, d, 1e-5) },
			"LayerNormRowsBackward": func() { LayerNormRowsBackward(x, g, z, mean, rstd, u, g, b, rows, d) },
			"AdamW":                 func() { AdamW(x, y, z, u, 0.9, 0.99, 1, 1e-3, 1, 1e-8) },
			"ExpShift":              func() { ExpShift(x, y, 1) },
		} {
			if a := testing.AllocsPerRun(20, f); a != 0 {
				t.Errorf("%s: %v allocations per call", name, a)
			}
		}
	})
}

// TestCoefficients checks the rational tanh and the exp polynomial on their
// own against float64, over their whole reduced ranges.
func TestCoefficients(t *testing.T) {
	worstT := 0.0
	for u := -12.0; u <= 12; u += 1e-4 {
		th := tanh32(float32(u))
		worstT = max(worstT, math.Abs(float64(th)-math.Tanh(float64(float32(u)))))
	}
	if worstT > 3.5e-7 {
		t.Errorf("tanh approximation: max |err| %.3g > 3.5e-7", worstT)
	}
	// Beyond the clamp the result is exactly ±1, with margin: the rational
	// function is at least 2 ulp above 1 around the clamp.
	for _, u := range []float32{c.TanhClamp, 9.8, 10.5} {
		if r := tanhRational(u); r < 1+0x1p-22 {
			t.Errorf("u·P(u²)/Q(u²) at %g = %.9g, want ≥ 1 + 2 ulp", u, r)
		}
	}
	for _, u := range []float32{c.TanhClamp, 20, float32(math.Inf(1))} {
		if th := tanh32(u); th != 1 || tanh32(-u) != -1 {
			t.Errorf("tanh32(±%g) = %g, %g; want exactly ±1", u, th, tanh32(-u))
		}
	}
	if !isNaN32(tanh32(float32(math.NaN()))) {
		t.Error("tanh32(NaN) is not NaN")
	}
	// exp polynomial: 1 + r + r²·P(r) against e^r on |r| ≤ ln2/2.
	worstE := 0.0
	for r := -0.3466; r <= 0.3466; r += 1e-5 {
		r32 := float32(r)
		p := c.ExpP[1] + r32*c.ExpP[0]
		for _, k := range c.ExpP[2:] {
			p = p*r32 + k
		}
		got := float64((p*(r32*r32) + r32) + 1)
		want := math.Exp(float64(r32))
		worstE = max(worstE, math.Abs(got-want)/want)
	}
	if worstE > 1.5e-7 {
		t.Errorf("exp polynomial: max rel err %.3g > 1.5e-7", worstE)
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func isNaN32(v float32) bool { return v != v }

func itoa(n int) string { return strconv.Itoa(n) }
