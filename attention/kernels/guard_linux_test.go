package kernels

import (
	"math/rand/v2"
	"runtime/debug"
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns a slice of n elements that ends exactly where an
// inaccessible page begins, so that any read or write past its end faults.
func guarded[T float](t *testing.T, n int) []T {
	t.Helper()
	var zero T
	size := int(unsafe.Sizeof(zero))
	page := syscall.Getpagesize()
	dataPages := (n*size + page - 1) / page
	mem, err := syscall.Mmap(-1, 0, (dataPages+1)*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[dataPages*page:], syscall.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	end := dataPages * page
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[end-n*size])), n)
}

// TestGemmGuardPage runs every implementation on matrices that end at an
// inaccessible page: a kernel that reads or writes one element past a view
// (an unmasked edge vector, say) faults.
func TestGemmGuardPage(t *testing.T) { testGuardPage[float32](t) }

func TestDgemmGuardPage(t *testing.T) { testGuardPage[float64](t) }

func testGuardPage[T float](t *testing.T) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	rng := rand.New(rand.NewPCG(11, 12))
	for _, impl := range supportedImpls() {
		for _, tr := range transCombos {
			// Every row remainder of the 8- and 6-row tiles, and every kind of
			// column panel edge (one or two vectors, masked or not).
			var shapes [][3]int
			for m := 1; m <= 13; m++ {
				for _, n := range []int{3, 4, 6, 8, 12, 16, 20, 47} {
					shapes = append(shapes, [3]int{m, n, 3})
				}
			}
			shapes = append(shapes, [3]int{7, 47, 300}, [3]int{12, 12, 32}, [3]int{9, 33, 257})
			for _, s := range shapes {
				m, n, k := s[0], s[1], s[2]
				ar, ac := m, k
				if tr[0] {
					ar, ac = k, m
				}
				br, bc := k, n
				if tr[1] {
					br, bc = n, k
				}
				a, b := guarded[T](t, ar*ac), guarded[T](t, br*bc)
				for i := range a {
					a[i] = T(rng.Float64())
				}
				for i := range b {
					b[i] = T(rng.Float64())
				}
				for _, beta := range []T{0, 1} {
					c, want := guarded[T](t, m*n), make([]T, m*n)
					func() {
						defer func() {
							if r := recover(); r != nil {
								t.Fatalf("%s %v m%d n%d k%d beta %v: fault: %v", impl, tr, m, n, k, beta, r)
							}
						}()
						gemm(impl, "test", tr[0], tr[1], m, n, k, 1, a, ac, b, bc, beta, c, n)
					}()
					gemmGeneric(tr[0], tr[1], m, n, k, 1, a, ac, b, bc, beta, want, n)
					for i := range want {
						if d := float64(c[i] - want[i]); d > 1e-4 || d < -1e-4 {
							t.Fatalf("%s %v m%d n%d k%d: C[%d] = %v want %v", impl, tr, m, n, k, i, c[i], want[i])
						}
					}
				}
			}
		}
	}
}
