package kernels

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// vecLengths cover empty, shorter than a vector, every tail length of the
// 8- and 4-lane loops and of the 4-vector unrolled loop, and long.
var vecLengths = func() []int {
	var n []int
	for i := 0; i <= 70; i++ {
		n = append(n, i)
	}
	return append(n, 1000, 4099)
}()

func randVec[T float](rng *rand.Rand, n int) []T {
	// One element of padding in front, so that x[1:] starts unaligned.
	x := make([]T, n+1)
	for i := range x {
		x[i] = T(2*rng.Float64() - 1)
	}
	return x[1:]
}

func unitRoundoff[T float]() float64 {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		return 0x1p-24
	}
	return 0x1p-53
}

func TestVecHelpers(t *testing.T) { testVec[float32](t); testVec[float64](t) }

func testVec[T float](t *testing.T) {
	u := unitRoundoff[T]()
	for _, impl := range supportedImpls() {
		rng := rand.New(rand.NewPCG(21, uint64(impl)))
		for _, n := range vecLengths {
			x, y := randVec[T](rng, n), randVec[T](rng, n)
			alpha := T(rng.Float64()*4 - 2)

			// Axpy: one rounding (FMA) or two, against float64.
			got := append([]T(nil), y...)
			axpy(impl, alpha, x, got)
			for i := range got {
				want := float64(y[i]) + float64(alpha)*float64(x[i])
				tol := 2 * u * (math.Abs(float64(y[i])) + math.Abs(float64(alpha)*float64(x[i])))
				if math.Abs(float64(got[i])-want) > tol {
					t.Fatalf("%s Axpy n=%d: y[%d] = %v want %v", impl, n, i, got[i], want)
				}
			}

			// Scale: a single correctly rounded product.
			got = append([]T(nil), x...)
			scale(impl, alpha, got)
			for i := range got {
				if want := alpha * x[i]; got[i] != want {
					t.Fatalf("%s Scale n=%d: x[%d] = %v want %v", impl, n, i, got[i], want)
				}
			}

			// Dot: any summation order, within the error bound.
			var want, abs float64
			for i := range x {
				want += float64(x[i]) * float64(y[i])
				abs += math.Abs(float64(x[i]) * float64(y[i]))
			}
			if d := dot(impl, x, y); math.Abs(float64(d)-want) > 2*float64(n+1)*u*abs {
				t.Fatalf("%s Dot n=%d: got %v want %v", impl, n, d, want)
			}
		}
	}
}

func TestVecSpecialValues(t *testing.T) {
	for _, impl := range supportedImpls() {
		x := []float32{1, 2, float32(math.NaN()), 4, 5, 6, 7, 8, float32(math.Inf(1))}
		scale(impl, 0, x)
		if !math.IsNaN(float64(x[2])) || !math.IsNaN(float64(x[8])) || x[0] != 0 {
			t.Fatalf("%s: Scale(0) gave %v, want NaN kept and 0·Inf = NaN", impl, x)
		}
		if d := dot(impl, []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}, x); !math.IsNaN(float64(d)) {
			t.Fatalf("%s: Dot with NaN = %v", impl, d)
		}
	}
}

func TestVecPanics(t *testing.T) {
	for name, call := range map[string]func(){
		"Axpy": func() { Axpy(1, make([]float32, 3), make([]float32, 4)) },
		"Dot":  func() { Dot(make([]float64, 3), make([]float64, 2)) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if msg, _ := recover().(string); !strings.HasPrefix(msg, "kernels: "+name) {
					t.Fatalf("panic %q, want kernels: %s: ...", msg, name)
				}
			}()
			call()
		})
	}
}

func TestVecNoAllocs(t *testing.T) {
	x, y := make([]float32, 100), make([]float32, 100)
	var sink float32
	if n := testing.AllocsPerRun(20, func() {
		Axpy(2, x, y)
		Scale(0.5, y)
		sink += Dot(x, y)
	}); n != 0 {
		t.Fatalf("%v allocations per call", n)
	}
	_ = sink
}

func TestPackBT(t *testing.T) {
	// The AVX transposer against the Go loop, with a sentinel after the
	// extent it may write (roundUp(kc, 8) rows of w).
	rng := rand.New(rand.NewPCG(31, 32))
	const ldb = 300
	b := randVec[float32](rng, 40*ldb)
	for _, impl := range supportedImpls() {
		if impl == implGeneric {
			continue
		}
		for nr := 1; nr <= 32; nr++ {
			for _, kc := range []int{1, 2, 7, 8, 9, 16, 23, 63, 256} {
				w := (nr + 7) &^ 7
				extent := ((kc + 7) &^ 7) * w
				got := make([]float32, extent+8)
				want := make([]float32, extent)
				for i := range got {
					got[i] = sentinel
				}
				packBT(impl, got[:extent], b, ldb, 5, kc, 3, nr, w)
				packBTGo(want, b, ldb, 5, kc, 3, nr, w)
				for p := range kc {
					for j := range nr {
						if got[p*w+j] != want[p*w+j] {
							t.Fatalf("%s nr=%d kc=%d: (%d, %d) = %v want %v", impl, nr, kc, p, j, got[p*w+j], want[p*w+j])
						}
					}
				}
				for i := extent; i < len(got); i++ {
					if got[i] != sentinel {
						t.Fatalf("%s nr=%d kc=%d: wrote past the extent at %d", impl, nr, kc, i)
					}
				}
			}
		}
	}
}
