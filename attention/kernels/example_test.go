package kernels_test

import (
	"fmt"

	"github.com/sinklab/sinklab/attention/kernels"
)

func ExampleSgemm() {
	// C = A·Bᵀ with A 2×3 and B 2×3 (so op(B) = Bᵀ is 3×2), all row-major.
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	b := []float32{
		1, 0, 1,
		0, 1, 0,
	}
	c := make([]float32, 2*2)
	kernels.Sgemm(false, true, 2, 2, 3, 1, a, 3, b, 3, 0, c, 2)
	fmt.Println(c)
	// Output: [4 2 10 5]
}

func ExampleGemm() {
	// dW += Xᵀ·dY for X 3×2 and dY 3×1, in float64; dW starts at 1.
	x := []float64{1, 2, 3, 4, 5, 6}
	dy := []float64{1, 1, 1}
	dw := []float64{1, 1}
	kernels.Gemm(true, false, 2, 1, 3, 1, x, 2, dy, 1, 1, dw, 1)
	fmt.Println(dw)
	// Output: [10 13]
}

func ExampleDot() {
	x := []float32{1, 2, 3}
	kernels.Axpy(2, []float32{1, 1, 1}, x) // x = [3 4 5]
	kernels.Scale(0.5, x)                  // x = [1.5 2 2.5]
	fmt.Println(kernels.Dot(x, []float32{2, 2, 2}))
	// Output: 12
}
