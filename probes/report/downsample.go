package report

import "math"

// Downsample reduces a line of points with increasing x to at most about
// 4·buckets points for drawing, by the M4 rule (Jugel et al., VLDB 2014): the
// x range is cut into buckets of equal width, and each bucket keeps its
// first, last, lowest and highest point. Drawn at one bucket per pixel column
// the line looks exactly like the full one: every spike and every step
// survives. Series short enough are returned as they are; the summary numbers
// of a report never go through here.
func Downsample(x, y []float64, buckets int) (xs, ys []float64) {
	n := len(x)
	if len(y) != n {
		panic("report: Downsample: len(x) != len(y)")
	}
	if buckets < 1 {
		buckets = 1
	}
	if n <= 4*buckets {
		return x, y
	}
	x0, x1 := x[0], x[n-1]
	span := x1 - x0
	if !(span > 0) || math.IsInf(span, 0) {
		return x, y
	}
	xs = make([]float64, 0, 4*buckets+2)
	ys = make([]float64, 0, 4*buckets+2)
	emit := func(i int) {
		xs = append(xs, x[i])
		ys = append(ys, y[i])
	}
	bucketOf := func(v float64) int {
		b := int((v - x0) / span * float64(buckets))
		return min(max(b, 0), buckets-1)
	}
	start := 0
	for start < n {
		b := bucketOf(x[start])
		end := start + 1
		lo, hi := start, start
		for end < n && bucketOf(x[end]) == b {
			if y[end] < y[lo] {
				lo = end
			}
			if y[end] > y[hi] {
				hi = end
			}
			end++
		}
		last := end - 1
		// first, then min and max in x order, then last; no index twice.
		idx := [4]int{start, min(lo, hi), max(lo, hi), last}
		prev := -1
		for _, i := range idx {
			if i != prev {
				emit(i)
				prev = i
			}
		}
		start = end
	}
	return xs, ys
}
