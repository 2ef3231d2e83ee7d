package kernels

import "unsafe"

// The vector helpers use AVX2+FMA on the "avx2" and "avx512" implementations
// (they are memory-bound, so wider vectors would not pay) for the largest
// multiple of the lane count, and plain Go for the rest.

// Axpy computes y += alpha·x. It panics if len(x) != len(y).
func Axpy[T ~float32 | ~float64](alpha T, x, y []T) {
	if len(x) != len(y) {
		panic("kernels: Axpy: len(x) != len(y)")
	}
	axpy(current(), alpha, x, y)
}

func axpy[T ~float32 | ~float64](impl implKind, alpha T, x, y []T) {
	done := 0
	if impl != implGeneric {
		if unsafe.Sizeof(alpha) == 4 {
			if done = len(x) &^ 7; done > 0 {
				axpysAVX2(float32(alpha), (*float32)(unsafe.Pointer(&x[0])), (*float32)(unsafe.Pointer(&y[0])), done)
			}
		} else if done = len(x) &^ 3; done > 0 {
			axpydAVX2(float64(alpha), (*float64)(unsafe.Pointer(&x[0])), (*float64)(unsafe.Pointer(&y[0])), done)
		}
	}
	y = y[done:len(x)]
	for i, v := range x[done:] {
		y[i] += alpha * v
	}
}

// Dot returns the sum of x[i]·y[i]. It panics if len(x) != len(y). The SIMD
// implementations keep several partial sums, so the result may differ from a
// left-to-right sum in the last bits (it is usually more accurate).
func Dot[T ~float32 | ~float64](x, y []T) T {
	if len(x) != len(y) {
		panic("kernels: Dot: len(x) != len(y)")
	}
	return dot(current(), x, y)
}

func dot[T ~float32 | ~float64](impl implKind, x, y []T) T {
	var sum T
	done := 0
	if impl != implGeneric {
		if unsafe.Sizeof(sum) == 4 {
			if done = len(x) &^ 7; done > 0 {
				sum = T(dotsAVX2((*float32)(unsafe.Pointer(&x[0])), (*float32)(unsafe.Pointer(&y[0])), done))
			}
		} else if done = len(x) &^ 3; done > 0 {
			sum = T(dotdAVX2((*float64)(unsafe.Pointer(&x[0])), (*float64)(unsafe.Pointer(&y[0])), done))
		}
	}
	y = y[done:len(x)]
	for i, v := range x[done:] {
		sum += v * y[i]
	}
	return sum
}

// Scale computes x *= alpha (IEEE arithmetic: 0·NaN stays NaN).
func Scale[T ~float32 | ~float64](alpha T, x []T) {
	scale(current(), alpha, x)
}

func scale[T ~float32 | ~float64](impl implKind, alpha T, x []T) {
	done := 0
	if impl != implGeneric {
		if unsafe.Sizeof(alpha) == 4 {
			if done = len(x) &^ 7; done > 0 {
				scalsAVX2(float32(alpha), (*float32)(unsafe.Pointer(&x[0])), done)
			}
		} else if done = len(x) &^ 3; done > 0 {
			scaldAVX2(float64(alpha), (*float64)(unsafe.Pointer(&x[0])), done)
		}
	}
	for i := range x[done:] {
		x[done+i] *= alpha
	}
}
