package transformer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/attention/vmath"
)

func randn(rng *rand.Rand, n int, scale float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = scale * rng.NormFloat64()
	}
	return x
}

func checkErrs(t *testing.T, errs []float64, err error, tol float64) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if !(e <= tol) {
			t.Errorf("input %d: relative error %g > %g", i, e, tol)
		}
	}
}

// Every op's gradient against central finite differences in float64, with
// N = 1 (one position) among the shapes and inputs of size ~1e3 where the op
// allows them.
func TestLinearGrad(t *testing.T) {
	for _, c := range []struct {
		n           int
		bias, resid bool
	}{{4, false, false}, {4, true, false}, {3, true, true}, {1, false, true}, {1, true, true}} {
		t.Run(fmt.Sprintf("n%d/bias=%v/resid=%v", c.n, c.bias, c.resid), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(c.n)))
			in, out := 5, 3
			inputs := [][]float64{randn(rng, c.n*in, 1), randn(rng, in*out, 1)}
			shapes := [][]int{{c.n, in}, {in, out}}
			if c.bias {
				inputs, shapes = append(inputs, randn(rng, out, 1)), append(shapes, []int{out})
			}
			if c.resid {
				inputs, shapes = append(inputs, randn(rng, c.n*out, 1)), append(shapes, []int{c.n, out})
			}
			errs, err := gop.GradCheck(inputs, shapes, func(g *G.ExprGraph, nodes G.Nodes) (*G.Node, error) {
				var b, r *G.Node
				k := 2
				if c.bias {
					b = nodes[k]
					k++
				}
				if c.resid {
					r = nodes[k]
				}
				return linear[float64](nodes[0], nodes[1], b, r)
			}, 1e-6, 1)
			checkErrs(t, errs, err, 1e-7)
		})
	}
}

func TestLayerNormGrad(t *testing.T) {
	for _, c := range []struct {
		n     int
		scale float64
	}{{4, 1}, {1, 1}, {3, 1e3}} {
		t.Run(fmt.Sprintf("n%d/scale%g", c.n, c.scale), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, uint64(c.n)))
			d := 6
			inputs := [][]float64{randn(rng, c.n*d, c.scale), randn(rng, d, 1), randn(rng, d, 1)}
			h := 1e-6 * c.scale
			errs, err := gop.GradCheck(inputs, [][]int{{c.n, d}, {d}, {d}}, func(g *G.ExprGraph, nodes G.Nodes) (*G.Node, error) {
				return layerNorm[float64](nodes[0], nodes[1], nodes[2])
			}, h, 2)
			checkErrs(t, errs, err, 1e-6)
		})
	}
}

func TestLayerNormForward(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, G.Float64, G.WithName("x"), G.WithShape(2, 4), G.WithValue(denseOf([]float64{1, 2, 3, 4, -5, 5, -5, 5}, 2, 4)))
	ga := G.NewVector(g, G.Float64, G.WithName("gamma"), G.WithShape(4), G.WithValue(denseOf([]float64{1, 1, 1, 1}, 4)))
	be := G.NewVector(g, G.Float64, G.WithName("beta"), G.WithShape(4), G.WithValue(denseOf([]float64{0, 0, 0, 0}, 4)))
	y, err := layerNorm[float64](x, ga, be)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	got := gop.Data[float64](y.Value())
	// Row 2: mean 0, var 25 → ±5/√(25+1e-5).
	want := 5 / math.Sqrt(25+1e-5)
	if math.Abs(got[5]-want) > 1e-12 || math.Abs(got[4]+want) > 1e-12 {
		t.Fatalf("layernorm row 2 = %v, want ±%v", got[4:], want)
	}
	var mean float64
	for _, v := range got[:4] {
		mean += v / 4
	}
	if math.Abs(mean) > 1e-12 {
		t.Fatalf("row 1 mean %v", mean)
	}
}

func TestGeluGrad(t *testing.T) {
	for _, exact := range []bool{true, false} {
		for _, n := range []int{1, 5} {
			rng := rand.New(rand.NewPCG(3, uint64(n)))
			x := randn(rng, n*4, 2)
			if n == 5 {
				x[0], x[1] = 1e3, -1e3 // saturated tails
			}
			errs, err := gop.GradCheck([][]float64{x}, [][]int{{n, 4}}, func(g *G.ExprGraph, nodes G.Nodes) (*G.Node, error) {
				return gelu[float64](nodes[0], exact)
			}, 1e-6, 3)
			checkErrs(t, errs, err, 1e-7)
		}
	}
}

// TestGelu32MatchesFloat64 runs the float32 GELU op the model uses (gelu[float32]
// in a gorgonia graph, forward and backward, so vmath.GeluTanh and
// vmath.GeluTanhBackward), with every vmath kernel the CPU supports, and
// compares it with GELU's tanh form and its derivative in float64 (math.Tanh).
// 203 inputs = 12·16 + 8 + 3 cover the kernels' unrolled loop, their
// one-vector loop and the scalar tail.
func TestGelu32MatchesFloat64(t *testing.T) {
	const n = 203
	x := make([]float32, n)
	for i := range x {
		// −8 … 8 in golden-ratio order, so that every part of the kernels
		// (unrolled loop, one-vector loop, tail) sees small and large |x|.
		_, f := math.Modf(float64(i) * 0.6180339887498949)
		x[i] = float32(16*f - 8)
	}
	x[7], x[100], x[150], x[170] = 1e-4, -3e-4, 40, -50
	c := 0.7978845608028654 // √(2/π), written out again here
	for _, impl := range []string{"generic", "avx2", "avx512"} {
		t.Run(impl, func(t *testing.T) {
			defer vmath.SetImpl("auto")
			if err := vmath.SetImpl(impl); err != nil {
				t.Skipf("vmath kernel %s: %v", impl, err)
			}
			g := G.NewGraph()
			xn := G.NewMatrix(g, G.Float32, G.WithShape(1, n), G.WithValue(tensor.New(tensor.WithShape(1, n), tensor.WithBacking(append([]float32(nil), x...)))))
			y, err := gelu[float32](xn, false) // the tanh form (TestGeluErf32 covers the exact one)
			if err != nil {
				t.Fatal(err)
			}
			var yv G.Value
			G.Read(y, &yv)
			if _, err := G.Grad(G.Must(G.Sum(y)), xn); err != nil {
				t.Fatal(err)
			}
			m := G.NewTapeMachine(g, G.BindDualValues(xn))
			defer m.Close()
			if err := m.RunAll(); err != nil {
				t.Fatal(err)
			}
			gr, err := xn.Grad()
			if err != nil {
				t.Fatal(err)
			}
			got, dgot := gop.Data[float32](yv), gop.Data[float32](gr)
			var worst, dworst float64
			for i, v32 := range x {
				v := float64(v32)
				th := math.Tanh(c * (v + 0.044715*v*v*v))
				want := 0.5 * v * (1 + th)
				dwant := 0.5*(1+th) + 0.5*v*(1-th*th)*c*(1+3*0.044715*v*v)
				e := math.Abs(float64(got[i])-want) / math.Max(1, math.Abs(want))
				de := math.Abs(float64(dgot[i])-dwant) / math.Max(1, math.Abs(dwant))
				worst, dworst = math.Max(worst, e), math.Max(dworst, de)
				// Measured here (generic and avx2): largest error 3.7e-7
				// forward (the tanh approximation's 3.5e-7 absolute error,
				// plus rounding), 3.2e-6 backward (near |x| ≈ 5, where float32
				// tanh is already ±1 and the true derivative's tail is lost).
				// Tolerances are about 2.5× those.
				if !(e <= 1e-6) {
					t.Errorf("gelu32(%v) = %v, want %v (error %.2g)", v32, got[i], want, e)
				}
				if !(de <= 8e-6) {
					t.Errorf("gelu32'(%v) = %v, want %v (error %.2g)", v32, dgot[i], dwant, de)
				}
			}
			t.Logf("%s: largest error forward %.2g, backward %.2g", vmath.Impl(), worst, dworst)
		})
	}
}

func TestEmbedGrad(t *testing.T) {
	for _, c := range []struct {
		mode string
		sink bool
		t    int
	}{{PosLearnedAdd, false, 3}, {PosConcat, false, 3}, {PosNone, false, 3}, {PosConcat, true, 3}, {PosLearnedAdd, true, 1}} {
		t.Run(fmt.Sprintf("%s/sink=%v/T%d", c.mode, c.sink, c.t), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(4, 0))
			v, d, b, p := 5, 4, 2, 4
			de, dp := d, d
			if c.mode == PosConcat {
				de, dp = d/2, d/2
			}
			inputs := [][]float64{randn(rng, v*de, 1)}
			shapes := [][]int{{v, de}}
			if c.mode != PosNone {
				inputs, shapes = append(inputs, randn(rng, p*dp, 1)), append(shapes, []int{p, dp})
			}
			if c.sink {
				inputs, shapes = append(inputs, randn(rng, d, 1)), append(shapes, []int{d})
			}
			tok := make([]int32, b*c.t)
			for i := range tok {
				tok[i] = int32(i % v)
			}
			tok[0] = tok[len(tok)-1] // a repeated id accumulates
			errs, err := gop.GradCheck(inputs, shapes, func(g *G.ExprGraph, nodes G.Nodes) (*G.Node, error) {
				var pos, sink *G.Node
				k := 1
				if c.mode != PosNone {
					pos = nodes[k]
					k++
				}
				if c.sink {
					sink = nodes[k]
				}
				out, op, err := embed[float64](nodes[0], pos, sink, b, c.t, c.mode)
				if err == nil {
					op.setTokens(tok)
				}
				return out, err
			}, 1e-6, 4)
			checkErrs(t, errs, err, 1e-8)
		})
	}
}

func TestCrossEntropyGrad(t *testing.T) {
	for _, c := range []struct {
		t     int
		sink  bool
		scale float64
	}{{3, false, 1}, {1, false, 1}, {3, true, 1}, {2, false, 1e3}} {
		t.Run(fmt.Sprintf("T%d/sink=%v/scale%g", c.t, c.sink, c.scale), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, uint64(c.t)))
			b, v := 2, 5
			tp := c.t
			if c.sink {
				tp++
			}
			logits := randn(rng, b*tp*v, c.scale)
			targets := make([]int32, b*c.t)
			mask := make([]float32, b*c.t)
			for i := range targets {
				targets[i] = int32(rng.IntN(v))
				mask[i] = float32(rng.IntN(3)) * 0.5
			}
			mask[0] = 1
			var op *crossEntropyOp[float64]
			errs, err := gop.GradCheck([][]float64{logits}, [][]int{{b * tp, v}}, func(g *G.ExprGraph, nodes G.Nodes) (*G.Node, error) {
				out, o, err := crossEntropy[float64](nodes[0], b, c.t, c.sink, 1.0/float64(b))
				if err == nil {
					o.setTargets(targets, mask)
					op = o
				}
				return out, err
			}, 1e-6*math.Max(1, c.scale/100), 5)
			checkErrs(t, errs, err, 1e-6)
			for _, ce := range op.ce {
				if math.IsNaN(ce) || math.IsInf(ce, 0) {
					t.Fatalf("per-position loss %v", op.ce)
				}
			}
		})
	}
}
