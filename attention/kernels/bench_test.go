package kernels

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// benchShape is one GEMM of the model: op(A) m×k times op(B) k×n.
type benchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// benchShapes are the training step's matrix products: for each linear layer
// Y = X·W (X: rows×in, W: in×out) the forward Y = X·W, dX = dY·Wᵀ and
// dW = Xᵀ·dY, for the tiny and induction configs; then the per-(batch, head)
// attention products with every transpose combination.
func benchShapes() []benchShape {
	var s []benchShape
	for _, l := range [][3]int{ // rows, in, out
		{512, 64, 192}, {512, 64, 256}, {512, 256, 64},
		{3072, 128, 384}, {3072, 128, 512}, {3072, 512, 128},
	} {
		r, in, out := l[0], l[1], l[2]
		s = append(s,
			benchShape{fmt.Sprintf("fwd_%dx%dx%d", r, in, out), false, false, r, out, in},
			benchShape{fmt.Sprintf("dX_%dx%dx%d", r, in, out), false, true, r, in, out},
			benchShape{fmt.Sprintf("dW_%dx%dx%d", r, in, out), true, false, in, out, r},
		)
	}
	for _, a := range [][3]int{{32, 16, 32}, {12, 32, 12}} { // (m×k)·(k×n)
		for _, tr := range transCombos {
			name := fmt.Sprintf("attn_%s%s_%dx%dx%d", tn(tr[0]), tn(tr[1]), a[0], a[1], a[2])
			s = append(s, benchShape{name, tr[0], tr[1], a[0], a[2], a[1]})
		}
	}
	return s
}

func tn(t bool) string {
	if t {
		return "T"
	}
	return "N"
}

// benchImpls are "gonum" (the baseline) and every implementation this CPU runs.
func benchImpls() []string {
	impls := []string{"gonum"}
	for _, k := range supportedImpls() {
		impls = append(impls, k.String())
	}
	return impls
}

// BenchmarkSgemm runs every shape on every implementation and on gonum's
// blas32. Run with -cpu 1: gonum splits large products over GOMAXPROCS
// goroutines, our kernels never do. Besides GFLOP/s (wall time) it reports
// cpu-GFLOP/s, per second of CPU time, the better number on a shared machine.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes() {
		for _, impl := range benchImpls() {
			b.Run(s.name+"/"+impl, func(b *testing.B) { benchGemm[float32](b, impl, s) })
		}
	}
}

// BenchmarkDgemm runs the forward shapes in float64 (used by gradient checks).
func BenchmarkDgemm(b *testing.B) {
	for _, s := range benchShapes() {
		if s.name[:3] != "fwd" && s.name[:4] != "attn" {
			continue
		}
		for _, impl := range benchImpls() {
			b.Run(s.name+"/"+impl, func(b *testing.B) { benchGemm[float64](b, impl, s) })
		}
	}
}

func benchGemm[T float](b *testing.B, impl string, s benchShape) {
	defer SetImpl("auto")
	rng := rand.New(rand.NewPCG(1, 2))
	lda, ldb := s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	a, bm, c := randVec[T](rng, s.m*s.k), randVec[T](rng, s.k*s.n), randVec[T](rng, s.m*s.n)
	call := func() { Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n) }
	if impl == "gonum" {
		call = gonumGemm(s, a, lda, bm, ldb, c)
	} else if err := SetImpl(impl); err != nil {
		b.Fatal(err)
	}
	call()
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
	// gonum's workers run on other threads: count the process's CPU time.
	benchLoop(b, flops, impl == "gonum", call)
}

// gonumGemm is the same product through gonum's blas32 or blas64.
func gonumGemm[T float](s benchShape, a []T, lda int, bm []T, ldb int, c []T) func() {
	ta, tb := blas.NoTrans, blas.NoTrans
	if s.transA {
		ta = blas.Trans
	}
	if s.transB {
		tb = blas.Trans
	}
	if a32, ok := any(a).([]float32); ok {
		b32, c32 := any(bm).([]float32), any(c).([]float32)
		g := blas32.Implementation()
		return func() { g.Sgemm(ta, tb, s.m, s.n, s.k, 1, a32, lda, b32, ldb, 0, c32, s.n) }
	}
	a64, b64, c64 := any(a).([]float64), any(bm).([]float64), any(c).([]float64)
	g := blas64.Implementation()
	return func() { g.Dgemm(ta, tb, s.m, s.n, s.k, 1, a64, lda, b64, ldb, 0, c64, s.n) }
}

// benchLoop times call, reporting allocations, GFLOP/s per wall second and,
// where the OS tells CPU time, cpu-GFLOP/s per second of the calling thread's
// CPU time (of the whole process if process, for calls that run goroutines).
func benchLoop(b *testing.B, flops float64, process bool, call func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, ok := cpuTime(process)
	for b.Loop() {
		call()
	}
	cpu1, _ := cpuTime(process)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if ok && cpu1 > cpu0 {
		b.ReportMetric(flops*float64(b.N)/(cpu1-cpu0).Seconds()/1e9, "cpu-GFLOP/s")
	}
}

// BenchmarkVec times Axpy and Dot on float32 vectors of a head (64) and of a
// layer's activations (32768).
func BenchmarkVec(b *testing.B) {
	for _, n := range []int{64, 32768} {
		for _, k := range supportedImpls() {
			rng := rand.New(rand.NewPCG(3, 4))
			x, y := randVec[float32](rng, n), randVec[float32](rng, n)
			var sink float32
			b.Run(fmt.Sprintf("Axpy_%d/%s", n, k), func(b *testing.B) {
				benchLoop(b, 2*float64(n), false, func() { axpy(k, 1e-3, x, y) })
			})
			b.Run(fmt.Sprintf("Dot_%d/%s", n, k), func(b *testing.B) {
				benchLoop(b, 2*float64(n), false, func() { sink += dot(k, x, y) })
			})
			_ = sink
		}
	}
}
