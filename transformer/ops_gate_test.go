package transformer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
)

// TestGateGrad checks the output gate's da, dx, dW and db against central
// differences in float64, per head (G = H) and elementwise (G = D), with
// N = 1 among the shapes and pre-activations large enough to saturate some
// gates.
func TestGateGrad(t *testing.T) {
	for _, c := range []struct {
		n, d, gw int
		scale    float64
	}{{4, 6, 2, 1}, {4, 6, 6, 1}, {1, 6, 3, 1}, {3, 4, 4, 4}} {
		t.Run(fmt.Sprintf("n%d/d%d/g%d/scale%g", c.n, c.d, c.gw, c.scale), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(c.n), uint64(c.gw)))
			inputs := [][]float64{randn(rng, c.n*c.d, 1), randn(rng, c.n*c.d, c.scale), randn(rng, c.d*c.gw, 1), randn(rng, c.gw, 1)}
			shapes := [][]int{{c.n, c.d}, {c.n, c.d}, {c.d, c.gw}, {c.gw}}
			errs, err := gop.GradCheck(inputs, shapes, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) {
				return gate[float64](in[0], in[1], in[2], in[3])
			}, 1e-6, 1)
			checkErrs(t, errs, err, 1e-7)
		})
	}
}

// TestGateForward compares the gate with y[n, c] = a[n, c]·σ(Σ_i x[n, i] W[i, k] + b[k]),
// k = c/(D/G), written out per element, in float64 and float32.
func TestGateForward(t *testing.T) {
	const n, d = 3, 6
	for _, gw := range []int{2, d} {
		rng := rand.New(rand.NewPCG(4, uint64(gw)))
		a, x, w, b := randn(rng, n*d, 1), randn(rng, n*d, 1), randn(rng, d*gw, 1), randn(rng, gw, 1)
		want := make([]float64, n*d)
		for i := 0; i < n; i++ {
			for c := 0; c < d; c++ {
				k := c / (d / gw)
				u := b[k]
				for j := 0; j < d; j++ {
					u += x[i*d+j] * w[j*gw+k]
				}
				want[i*d+c] = a[i*d+c] / (1 + math.Exp(-u))
			}
		}
		check := func(got []float64, tol float64) {
			for i := range want {
				if math.Abs(got[i]-want[i]) > tol {
					t.Fatalf("G = %d: y[%d] = %v, want %v", gw, i, got[i], want[i])
				}
			}
		}
		check(runGate[float64](t, a, x, w, b, n, d, gw), 1e-14)
		check(runGate[float32](t, a, x, w, b, n, d, gw), 1e-5)
	}
}

func runGate[T gop.Float](t *testing.T, a, x, w, b []float64, n, d, gw int) []float64 {
	t.Helper()
	g := G.NewGraph()
	mk := func(v []float64, name string, shape ...int) *G.Node {
		y := make([]T, len(v))
		for i := range v {
			y[i] = T(v[i])
		}
		return G.NodeFromAny(g, tensor.New(tensor.WithShape(shape...), tensor.WithBacking(y)), G.WithName(name))
	}
	out, err := gate[T](mk(a, "a", n, d), mk(x, "x", n, d), mk(w, "w", d, gw), mk(b, "b", gw))
	if err != nil {
		t.Fatal(err)
	}
	var v G.Value
	G.Read(out, &v)
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	var res []float64
	for _, y := range gop.Data[T](v) {
		res = append(res, float64(y))
	}
	return res
}
