package vmath

import (
	"math"

	c "github.com/sinklab/sinklab/attention/vmath/internal/coef"
)

// The plain-Go kernels: the implementation on every platform without the
// assembly, and the reference the assembly is tested against. They evaluate
// the same formulas, constants and operation order as the assembly, without
// fused multiply-adds (on amd64; the arm64 compiler may fuse) and with
// left-to-right sums.

// tanh32 is the tanh of the GELU kernels: Eigen's rational approximation
// u·P(u²)/Q(u²) on u clamped to ±TanhClamp, clamped to [−1, 1]. A NaN u gives
// NaN.
func tanh32(u float32) float32 {
	u = min(max(u, -c.TanhClamp), c.TanhClamp)
	return min(max(tanhRational(u), -1), 1)
}

// tanhRational is u·P(u²)/Q(u²).
func tanhRational(u float32) float32 {
	u2 := u * u
	p := c.TanhP[1]
	p += u2 * c.TanhP[0]
	p = p*u2 + c.TanhP[2]
	p = p*u2 + c.TanhP[3]
	p = p*u2 + c.TanhP[4]
	p = p*u2 + c.TanhP[5]
	p = p*u2 + c.TanhP[6]
	q := c.TanhQ[1]
	q += u2 * c.TanhQ[0]
	q = q*u2 + c.TanhQ[2]
	q = q*u2 + c.TanhQ[3]
	return p * u / q
}

func geluTanhGeneric(x, y, t []float32) {
	y, t = y[:len(x)], t[:len(x)]
	for i, v := range x {
		u := c.GeluC
		u += (v * v) * c.GeluCA
		th := tanh32(v * u)
		hv := 0.5 * v
		t[i] = th
		y[i] = hv*th + hv
	}
}

func geluTanhBackwardGeneric(x, t, dy, dx []float32) {
	t, dy, dx = t[:len(x)], dy[:len(x)], dx[:len(x)]
	for i, v := range x {
		th := t[i]
		w := c.GeluC
		w += min(v*v, c.GeluX2Max) * c.GeluC3A // √(2/π)(1 + 3·0.044715x²)
		s := 1 - th*th
		hx := 0.5 * v
		dx[i] = dy[i] * ((0.5 + th*0.5) + hx*s*w)
	}
}

func layerNormRowsGeneric(x, g, b, y, mean, rstd []float32, n, d int, eps float32) {
	invD := 1 / float32(d)
	g, b = g[:d], b[:d]
	for i := range n {
		xr, yr := x[i*d:i*d+d], y[i*d:i*d+d]
		var s float32
		for _, v := range xr {
			s += v
		}
		mu := s * invD
		var ss float32
		for _, v := range xr {
			dv := v - mu
			ss += dv * dv
		}
		r := 1 / float32(math.Sqrt(float64(ss*invD+eps)))
		mean[i], rstd[i] = mu, r
		for j, v := range xr {
			yr[j] = ((v-mu)*r)*g[j] + b[j]
		}
	}
}

func layerNormRowsBackwardGeneric(x, g, dy, mean, rstd, dx, dg, db []float32, n, d int) {
	invD := 1 / float32(d)
	g, dg, db = g[:d], dg[:d], db[:d]
	for i := range n {
		xr, dyr, dxr := x[i*d:i*d+d], dy[i*d:i*d+d], dx[i*d:i*d+d]
		mu, r := mean[i], rstd[i]
		var s1, s2 float32
		for j, v := range xr {
			xh := (v - mu) * r
			dxh := g[j] * dyr[j]
			s1 += dxh
			s2 += dxh * xh
			dg[j] += dyr[j] * xh
			db[j] += dyr[j]
		}
		c1 := r * (s1 * invD)
		c2 := r * (s2 * invD)
		for j, v := range xr {
			xh := (v - mu) * r
			dxh := g[j] * dyr[j]
			dxr[j] = (r*dxh - c1) - xh*c2
		}
	}
}

func adamWGeneric(w, g, m, v []float32, b1, b2, decay, step, rbc2, eps float32) {
	omb1, omb2 := 1-b1, 1-b2
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for j, gj := range g {
		mj := m[j]*b1 + gj*omb1
		vj := v[j]*b2 + (gj*gj)*omb2
		m[j], v[j] = mj, vj
		den := float32(math.Sqrt(float64(vj)))*rbc2 + eps
		w[j] = w[j]*decay - (mj*step)/den
	}
}

// expShiftGeneric computes y = exp(x − shift) from the exact difference: the
// rounding error of x − shift (TwoSum) is added to the reduced argument.
func expShiftGeneric(x, y []float32, shift float32) float32 {
	nsh := -shift
	y = y[:len(x)]
	var sum float32
	for i, v := range x {
		s := v + nsh
		a := s - nsh
		e := (v - a) + (nsh - (s - a))
		if e != e { // x or shift infinite: s is ±Inf or NaN and decides alone
			e = 0
		}
		e = min(max(e, -c.ExpErrMax), c.ExpErrMax)
		s = min(max(s, c.ExpLo), c.ExpHi)
		k := s*c.ExpLog2e + c.ExpRound
		nf := k - c.ExpRound
		r := s - nf*c.ExpC1
		r -= nf * c.ExpC2
		r += e
		p := c.ExpP[1]
		p += r * c.ExpP[0]
		p = p*r + c.ExpP[2]
		p = p*r + c.ExpP[3]
		p = p*r + c.ExpP[4]
		p = p*r + c.ExpP[5]
		ev := (p*(r*r) + r) + 1
		// 2^n in two factors, each a normal float32 for n in [-151, 129].
		n := int32(nf)
		n1 := n >> 1
		ev = ev * math.Float32frombits(uint32(n1+127)<<23) * math.Float32frombits(uint32(n-n1+127)<<23)
		y[i] = ev
		sum += ev
	}
	return sum
}
