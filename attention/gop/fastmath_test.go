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

func TestErf32(t *testing.T) {
	var worst float64
	for x := -8.0; x <= 8; x += 1e-3 {
		worst = math.Max(worst, math.Abs(float64(Erf(float32(x)))-math.Erf(x)))
	}
	if worst > 5e-7 {
		t.Fatalf("float32 erf: largest absolute error %g > 5e-7", worst)
	}
	if Erf(2.5) != math.Erf(2.5) {
		t.Fatal("float64 Erf is not math.Erf")
	}
	if v := Erf(float32(math.NaN())); v == v {
		t.Fatalf("Erf(NaN) = %v", v)
	}
}

func BenchmarkExp32(b *testing.B) {
	s := float32(0)
	for i := 0; i < b.N; i++ {
		s += Exp(float32(i&63) * -0.1)
	}
	_ = s
}
