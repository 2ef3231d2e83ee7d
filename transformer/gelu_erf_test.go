package transformer

import (
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// geluDo runs the real gelu op (and its backward with dy = 1) on x.
func geluDo[T float32 | float64](t *testing.T, x []T, exact bool) (y, dx []T) {
	t.Helper()
	g := G.NewGraph()
	xv := tensor.New(tensor.WithShape(1, len(x)), tensor.WithBacking(append([]T(nil), x...)))
	n := G.NewTensor(g, xv.Dtype(), 2, G.WithShape(1, len(x)), G.WithName("x"), G.WithValue(xv))
	out, err := gelu[T](n, exact)
	if err != nil {
		t.Fatal(err)
	}
	op := out.Op().(*geluOp[T])
	yv, err := op.Do(xv)
	if err != nil {
		t.Fatal(err)
	}
	y = append(y, yv.Data().([]T)...)
	ones := make([]T, len(x))
	for i := range ones {
		ones[i] = 1
	}
	bw := &geluBackOp[T]{f: op}
	bw.dx = tensor.New(tensor.WithShape(1, len(x)), tensor.WithBacking(make([]T, len(x))))
	bw.buf = bw.dx.Data().([]T)
	dv, err := bw.Do(xv, tensor.New(tensor.WithShape(1, len(x)), tensor.WithBacking(ones)))
	if err != nil {
		t.Fatal(err)
	}
	return y, append(dx, dv.Data().([]T)...)
}

// TestGeluErfExact checks the exact GELU (float64 path) against x·Φ(x) with Φ
// from math.Erf, and its derivative Φ(x) + x·φ(x) at a few points by hand.
func TestGeluErfExact(t *testing.T) {
	xs := []float64{-8, -3, -1, -0.25, 0, 0.5, 1, 2, 5}
	y, dx := geluDo(t, xs, true)
	for i, x := range xs {
		phi := 0.5 * (1 + math.Erf(x/math.Sqrt2))
		if d := math.Abs(y[i] - x*phi); d > 1e-15 {
			t.Errorf("gelu(%v) = %v, want %v", x, y[i], x*phi)
		}
		want := phi + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
		if d := math.Abs(dx[i] - want); d > 1e-15 {
			t.Errorf("gelu'(%v) = %v, want %v", x, dx[i], want)
		}
	}
	// The exact and tanh forms differ by up to ~2e-4 near |x| ≈ 2: the switch matters.
	yt, _ := geluDo(t, []float64{-2}, false)
	if math.Abs(yt[0]-y[1+0]) == 0 {
		t.Fatal("tanh and erf GELU agree exactly: the switch is not wired")
	}
}

// TestGeluErf32 checks the float32 exact GELU (SIMD exp kernel and the
// erfc approximation) and its backward against float64 on a dense grid.
func TestGeluErf32(t *testing.T) {
	var xs32 []float32
	var xs []float64
	for x := -12.0; x <= 12; x += 0.01 {
		xs32 = append(xs32, float32(x))
		xs = append(xs, float64(float32(x)))
	}
	y32, d32 := geluDo(t, xs32, true)
	y64, d64 := geluDo(t, xs, true)
	var worstY, worstD float64
	for i := range xs {
		worstY = math.Max(worstY, math.Abs(float64(y32[i])-y64[i])/math.Max(1, math.Abs(y64[i])))
		worstD = math.Max(worstD, math.Abs(float64(d32[i])-d64[i]))
	}
	t.Logf("float32 exact GELU: worst error %.2e (value, relative or absolute below 1), %.2e (derivative)", worstY, worstD)
	if worstY > 1e-6 || worstD > 1e-6 {
		t.Fatalf("float32 exact GELU off: value %.2e, derivative %.2e (want ≤ 1e-6)", worstY, worstD)
	}
}
