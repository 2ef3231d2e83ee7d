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
