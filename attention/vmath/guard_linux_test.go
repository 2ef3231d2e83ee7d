package vmath

import (
	"runtime/debug"
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns n float32 values, filled with fill, that end exactly where
// an inaccessible page begins, so that any read or write past the end faults.
func guarded(t *testing.T, n int, fill float32) []float32 {
	t.Helper()
	page := syscall.Getpagesize()
	dataPages := (4*n + page - 1) / page
	mem, err := syscall.Mmap(-1, 0, (dataPages+1)*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[dataPages*page:], syscall.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	s := unsafe.Slice((*float32)(unsafe.Pointer(&mem[dataPages*page-4*n])), n)
	for i := range s {
		s[i] = fill
	}
	return s
}

// TestGuardPage runs every kernel under every implementation on slices that
// end at an inaccessible page, for every tail length of both vector widths:
// an unmasked tail vector faults (and the test panics with a fault).
func TestGuardPage(t *testing.T) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	forEachImpl(t, func(t *testing.T) {
		for n := 1; n <= 40; n++ {
			x, y, z, w := guarded(t, n, 0.5), guarded(t, n, 0.25), guarded(t, n, 0.75), guarded(t, n, 1)
			GeluTanh(x, y, z)
			GeluTanhBackward(x, y, z, w)
			AdamW(x, y, z, w, 0.9, 0.99, 1, 1e-3, 1, 1e-8)
			if s := ExpShift(x, y, 1); !(s > 0) {
				t.Errorf("n=%d: ExpShift sum %g", n, s)
			}
			for _, rows := range []int{1, 3} {
				xs, ys := guarded(t, rows*n, 0.5), guarded(t, rows*n, 0)
				g, b, dg, db := guarded(t, n, 1), guarded(t, n, 0), guarded(t, n, 0), guarded(t, n, 0)
				mean, rstd := guarded(t, rows, 0), guarded(t, rows, 0)
				LayerNormRows(xs, g, b, ys, mean, rstd, rows, n, 1e-5)
				LayerNormRowsBackward(xs, g, ys, mean, rstd, guarded(t, rows*n, 0), dg, db, rows, n)
			}
		}
	})
}

// TestTailsUntouched checks that the kernels write nothing past the slices
// they are given (views into longer buffers whose rest holds a sentinel).
func TestTailsUntouched(t *testing.T) {
	const sentinel = -7777.25
	forEachImpl(t, func(t *testing.T) {
		buf := func(n int) []float32 {
			s := make([]float32, n+40)
			for i := range s {
				s[i] = sentinel
			}
			for i := range n {
				s[i] = 0.5
			}
			return s
		}
		check := func(name string, n int, bufs ...[]float32) {
			for k, s := range bufs {
				for i, v := range s[n:] {
					if v != sentinel {
						t.Fatalf("%s n=%d: buffer %d element %d past the end = %g", name, n, k, n+i, v)
					}
				}
			}
		}
		for n := 1; n <= 40; n++ {
			x, y, z, w := buf(n), buf(n), buf(n), buf(n)
			GeluTanh(x[:n], y[:n], z[:n])
			GeluTanhBackward(x[:n], y[:n], z[:n], w[:n])
			AdamW(x[:n], y[:n], z[:n], w[:n], 0.9, 0.99, 1, 1e-3, 1, 1e-8)
			ExpShift(x[:n], y[:n], 1)
			check("elementwise", n, x, y, z, w)
			xs, ys, dxs := buf(3*n), buf(3*n), buf(3*n)
			g, b, mean, rstd := buf(n), buf(n), buf(3), buf(3)
			LayerNormRows(xs[:3*n], g[:n], b[:n], ys[:3*n], mean[:3], rstd[:3], 3, n, 1e-5)
			LayerNormRowsBackward(xs[:3*n], g[:n], ys[:3*n], mean[:3], rstd[:3], dxs[:3*n], g[:n], b[:n], 3, n)
			check("LayerNorm", 3*n, xs, ys, dxs)
			check("LayerNorm", n, g, b)
			check("LayerNorm", 3, mean, rstd)
		}
	})
}
