package vmath_test

import (
	"fmt"

	"github.com/sinklab/sinklab/attention/vmath"
)

// A softmax row: exponentials shifted by the maximum, then normalized.
func ExampleExpShift() {
	x := []float32{1, 2, 3, 0.5}
	y := make([]float32, len(x))
	sum := vmath.ExpShift(x, y, 3) // shift by max(x)
	for i := range y {
		y[i] /= sum
	}
	fmt.Printf("%.4f\n", y)
	// Output: [0.0854 0.2321 0.6308 0.0518]
}

// GELU forward keeps t for the backward.
func ExampleGeluTanh() {
	x := []float32{-2, -0.5, 0, 0.5, 2, 8}
	y, t := make([]float32, len(x)), make([]float32, len(x))
	vmath.GeluTanh(x, y, t)
	dy, dx := []float32{1, 1, 1, 1, 1, 1}, make([]float32, len(x))
	vmath.GeluTanhBackward(x, t, dy, dx)
	fmt.Printf("y  %.4f\ndx %.4f\n", y, dx)
	// Output:
	// y  [-0.0454 -0.1543 0.0000 0.3457 1.9546 8.0000]
	// dx [-0.0861 0.1326 0.5000 0.8674 1.0861 1.0000]
}
