package vmath

import (
	"fmt"
	"testing"
)

// The benchmarks use the training step's shapes (tiny config: B·T = 512 rows,
// D = 64, MLP width 256) under every implementation the CPU supports, and
// report ns/elem besides MB/s of memory traffic. Compare implementations
// with benchstat or the best of -count 5.

func benchImpls(b *testing.B, f func(b *testing.B)) {
	defer SetImpl("auto")
	for _, k := range supportedImpls() {
		b.Run(k.String(), func(b *testing.B) {
			if err := SetImpl(k.String()); err != nil {
				b.Fatal(err)
			}
			f(b)
		})
	}
}

// report sets the bytes moved per op and reports ns per element.
func report(b *testing.B, elems, bytes int) {
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(elems), "ns/elem")
}

func BenchmarkGeluTanh(b *testing.B) {
	const n = 512 * 256
	x := randSlice(newRNG(1), n, 2, 0)
	y, t := make([]float32, n), make([]float32, n)
	benchImpls(b, func(b *testing.B) {
		for b.Loop() {
			GeluTanh(x, y, t)
		}
		report(b, n, 3*4*n)
	})
}

func BenchmarkGeluTanhBackward(b *testing.B) {
	const n = 512 * 256
	rng := newRNG(2)
	x, dy := randSlice(rng, n, 2, 0), randSlice(rng, n, 1, 0)
	y, t, dx := make([]float32, n), make([]float32, n), make([]float32, n)
	GeluTanh(x, y, t)
	benchImpls(b, func(b *testing.B) {
		for b.Loop() {
			GeluTanhBackward(x, t, dy, dx)
		}
		report(b, n, 4*4*n)
	})
}

func BenchmarkLayerNormRows(b *testing.B) {
	const n, d = 512, 64
	rng := newRNG(3)
	x, g, bb := randSlice(rng, n*d, 1, 0.5), randSlice(rng, d, 0.2, 1), randSlice(rng, d, 0.2, 0)
	y, mean, rstd := make([]float32, n*d), make([]float32, n), make([]float32, n)
	benchImpls(b, func(b *testing.B) {
		for b.Loop() {
			LayerNormRows(x, g, bb, y, mean, rstd, n, d, 1e-5)
		}
		report(b, n*d, 2*4*n*d)
	})
}

func BenchmarkLayerNormRowsBackward(b *testing.B) {
	const n, d = 512, 64
	rng := newRNG(4)
	x, g, bb := randSlice(rng, n*d, 1, 0.5), randSlice(rng, d, 0.2, 1), randSlice(rng, d, 0.2, 0)
	dy := randSlice(rng, n*d, 1, 0)
	y, mean, rstd := make([]float32, n*d), make([]float32, n), make([]float32, n)
	LayerNormRows(x, g, bb, y, mean, rstd, n, d, 1e-5)
	dx, dg, db := make([]float32, n*d), make([]float32, d), make([]float32, d)
	benchImpls(b, func(b *testing.B) {
		for b.Loop() {
			LayerNormRowsBackward(x, g, dy, mean, rstd, dx, dg, db, n, d)
		}
		report(b, n*d, 3*4*n*d)
	})
}

func BenchmarkAdamW(b *testing.B) {
	const n = 400_000
	rng := newRNG(5)
	w, g, m := randSlice(rng, n, 1, 0), randSlice(rng, n, 0.01, 0), randSlice(rng, n, 0.001, 0)
	v := make([]float32, n)
	benchImpls(b, func(b *testing.B) {
		for b.Loop() {
			AdamW(w, g, m, v, 0.9, 0.999, 0.9999, 1e-3, 1.5, 1e-8)
		}
		report(b, n, 7*4*n) // reads w, g, m, v; writes w, m, v
	})
}

// BenchmarkExpShift is the softmax of 512 rows of width T (one call per row).
func BenchmarkExpShift(b *testing.B) {
	for _, t := range []int{32, 12, 128} {
		b.Run(fmt.Sprintf("T%d", t), func(b *testing.B) {
			const rows = 512
			x := randSlice(newRNG(6), rows*t, 3, 0)
			y := make([]float32, rows*t)
			benchImpls(b, func(b *testing.B) {
				var sink float32
				for b.Loop() {
					for r := range rows {
						sink += ExpShift(x[r*t:r*t+t], y[r*t:r*t+t], 3)
					}
				}
				if sink == 0 {
					b.Fatal("zero sum")
				}
				report(b, rows*t, 2*4*rows*t)
			})
		})
	}
}
