package gop

import (
	"math"
	"testing"
)

func TestExp32(t *testing.T) {
	worst := 0.0
	for x := float32(-87); x < 88; x += 0.0137 {
		got := float64(Exp(x))
		want := math.Exp(float64(x))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	if worst > 3e-7 {
		t.Fatalf("exp32 worst relative error %g > 3e-7", worst)
	}
	if Exp(float32(-100)) != 0 || !math.IsInf(float64(Exp(float32(100))), 1) {
		t.Fatalf("exp32 out of range: got %v %v", Exp(float32(-100)), Exp(float32(100)))
	}
	if Exp(1.5) != math.Exp(1.5) {
		t.Fatalf("float64 Exp must be math.Exp")
	}
}

func TestTanh32(t *testing.T) {
	worst := 0.0
	for x := float32(-12); x < 12; x += 0.00731 {
		got := float64(Tanh(x))
		if d := math.Abs(got - math.Tanh(float64(x))); d > worst {
			worst = d
		}
	}
	if worst > 1e-6 {
		t.Fatalf("tanh32 worst absolute error %g > 1e-6", worst)
	}
}

func BenchmarkExp32(b *testing.B) {
	s := float32(0)
	for i := 0; i < b.N; i++ {
		s += Exp(float32(i&63) * -0.1)
	}
	_ = s
}

func TestGeluTanh32(t *testing.T) {
	var x, y, th []float32
	for v := float32(-10); v < 10; v += 0.01 {
		x = append(x, v)
	}
	y, th = make([]float32, len(x)), make([]float32, len(x))
	GeluTanh32(x, y, th)
	for i, v := range x {
		u := 0.7978845608028654 * (float64(v) + 0.044715*float64(v)*float64(v)*float64(v))
		want := 0.5 * float64(v) * (1 + math.Tanh(u))
		if d := math.Abs(float64(y[i]) - want); d > 2e-6*math.Max(1, math.Abs(want)) {
			t.Fatalf("gelu(%v) = %v, want %v", v, y[i], want)
		}
		if d := math.Abs(float64(th[i]) - math.Tanh(u)); d > 1e-6 {
			t.Fatalf("tanh part at %v = %v, want %v", v, th[i], math.Tanh(u))
		}
	}
}
