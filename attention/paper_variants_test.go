package attention

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
)

// The paper's twelve attention types (SCIENCE.md §2; tml-epfl/softmax,
// src/attention.py), checked against formulas written here from the paper's
// definitions, independently of the op's code.

// TestPaperNamesResolve: every paper name resolves to the variant the paper
// means, canonical names resolve to themselves, and every paper name is
// accepted by the op.
func TestPaperNamesResolve(t *testing.T) {
	want := []struct{ paper, canonical string }{
		{"softmax", VariantSoftmax},
		{"uniform", VariantUniform},
		{"sigmoid_norm", VariantSigmoidNorm},
		{"sigmoid_unnorm", VariantSigmoid},
		{"linear", VariantKernelNorm}, // the kernel attention, not the raw dot product
		{"linear_unnorm", VariantKernel},
		{"coupled_linear_norm", VariantEluNorm},
		{"coupled_linear_unnorm", VariantElu},
		{"raw_dotproduct_norm", VariantDotNorm},
		{"raw_dotproduct_unnorm", VariantDot},
		{"mlp_norm", VariantMLPNorm},
		{"mlp_unnorm", VariantMLP},
	}
	var papers []string
	for _, w := range want {
		papers = append(papers, w.paper)
		got, err := CanonicalVariant(w.paper)
		if err != nil || got != w.canonical {
			t.Errorf("CanonicalVariant(%q) = %q, %v; want %q", w.paper, got, err, w.canonical)
		}
		if PaperName(w.canonical) != w.paper || PaperName(w.paper) != w.paper {
			t.Errorf("PaperName(%q) = %q, want %q", w.canonical, PaperName(w.canonical), w.paper)
		}
		if _, err := parseVariant(w.paper); err != nil {
			t.Errorf("the op refuses the paper name %q: %v", w.paper, err)
		}
	}
	if got := PaperVariants(); !slices.Equal(got, papers) {
		t.Errorf("PaperVariants() = %v, want %v", got, papers)
	}
	for _, v := range Variants() {
		if got, err := CanonicalVariant(v); err != nil || got != v {
			t.Errorf("CanonicalVariant(%q) = %q, %v", v, got, err)
		}
	}
	for _, v := range []string{VariantSoftmax1, VariantReluNorm} {
		if PaperName(v) != "" {
			t.Errorf("PaperName(%q) = %q: the paper has no such type", v, PaperName(v))
		}
	}
	all := VariantNames()
	for _, n := range append(Variants(), papers...) {
		if !slices.Contains(all, n) {
			t.Errorf("VariantNames() lacks %q", n)
		}
	}
	if len(all) != len(Variants())+10 { // softmax and uniform are spelled alike
		t.Errorf("VariantNames() has %d names, want %d: %v", len(all), len(Variants())+10, all)
	}
}

// TestUnknownVariantError: a misspelled name gets one line listing every
// valid name; sinklab's old name linear-norm is refused with its new name.
func TestUnknownVariantError(t *testing.T) {
	for _, name := range []string{"softmaxx", "linear-norm", "Linear", ""} {
		_, err := CanonicalVariant(name)
		if err == nil {
			t.Fatalf("%q accepted", name)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("%q: error spans lines: %q", name, msg)
		}
		for _, n := range VariantNames() {
			if !strings.Contains(msg, n) {
				t.Errorf("%q: error does not list %q: %s", name, n, msg)
			}
		}
	}
	if _, err := CanonicalVariant("linear-norm"); !strings.Contains(err.Error(), `renamed "dot-norm"`) {
		t.Errorf("linear-norm: %v, want a hint that it is dot-norm now", err)
	}
}

// TestVariantPredicates: the documented table of VariantRowsSumToOne and
// VariantSigned for every variant, and that the op's weights obey it on random
// inputs (signed variants do produce negative weights; the others never do;
// rows of the sum-to-one variants sum to 1 up to the paper's 1e-9).
func TestVariantPredicates(t *testing.T) {
	sumsToOne := []string{VariantSoftmax, VariantUniform, VariantSigmoidNorm, VariantEluNorm, VariantKernelNorm}
	signed := []string{VariantDot, VariantDotNorm, VariantMLP, VariantMLPNorm}
	for _, v := range Variants() {
		if got := VariantRowsSumToOne(v); got != slices.Contains(sumsToOne, v) {
			t.Errorf("VariantRowsSumToOne(%q) = %v", v, got)
		}
		if got := VariantSigned(v); got != slices.Contains(signed, v) {
			t.Errorf("VariantSigned(%q) = %v", v, got)
		}
		if p := PaperName(v); p != "" && (VariantSigned(p) != VariantSigned(v) || VariantRowsSumToOne(p) != VariantRowsSumToOne(v)) {
			t.Errorf("%q and its paper name %q disagree", v, p)
		}
		cfg := MultiHeadConfig{B: 3, T: 6, H: 2, HD: 4, Causal: true, Variant: v, MLPHidden: 16}
		w, _ := runForward(t, cfg, 1, 11)
		neg := false
		tk := cfg.T
		for r := 0; r < len(w)/tk; r++ {
			var sum float64
			for _, x := range w[r*tk : (r+1)*tk] {
				sum += x
				neg = neg || x < 0
			}
			if VariantRowsSumToOne(v) && math.Abs(sum-1) > 1e-8 {
				t.Errorf("%s: row %d sums to %v", v, r, sum)
			}
		}
		if neg != VariantSigned(v) {
			t.Errorf("%s: negative weights %v, VariantSigned %v", v, neg, VariantSigned(v))
		}
	}
	if VariantSigned("nonsense") || VariantRowsSumToOne("nonsense") {
		t.Error("an unknown name is signed or normalized")
	}
}

// mlpParams are φ's parameters as plain slices: W1 (HD, F), b1 (F), W2 (F, HD), b2 (HD).
type mlpParams struct{ w1, b1, w2, b2 []float64 }

func randMLP(rng *rand.Rand, hd, f int, scale float64) mlpParams {
	return mlpParams{randn(rng, hd*f, scale), randn(rng, f, scale), randn(rng, f*hd, scale), randn(rng, hd, scale)}
}

// oracleWeights is the paper's definition of each type, written from
// SCIENCE.md §2 with plain loops: the weights (B, H, T, Tk) and the output
// (B·T, D) of multi-head attention on qkv (B·T, 3D), with the key/value bias
// kvb (2, D) in key slot 0 when not nil.
func oracleWeights(paper string, cfg MultiHeadConfig, qkv, kvb []float64, mlp mlpParams) (w, out []float64) {
	d, hd, nb := cfg.H*cfg.HD, cfg.HD, 0
	if kvb != nil {
		nb = 1
	}
	tk := cfg.T + nb
	elu1 := func(x float64) float64 { // elu(x) + 1, which is eˣ for x ≤ 0 (expm1(x) + 1 would cancel)
		if x > 0 {
			return x + 1
		}
		return math.Exp(x)
	}
	gelu := func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
	phi := func(x []float64) []float64 { // the paper's attn_mlp: Linear, GELU, Linear
		f := len(mlp.b1)
		hidden := make([]float64, f)
		for j := 0; j < f; j++ {
			acc := mlp.b1[j]
			for i := 0; i < hd; i++ {
				acc += x[i] * mlp.w1[i*f+j]
			}
			hidden[j] = gelu(acc)
		}
		y := make([]float64, hd)
		for j := 0; j < hd; j++ {
			acc := mlp.b2[j]
			for i := 0; i < f; i++ {
				acc += hidden[i] * mlp.w2[i*hd+j]
			}
			y[j] = acc
		}
		return y
	}
	dotp := func(a, b []float64) float64 {
		var s float64
		for i := range a {
			s += a[i] * b[i]
		}
		return s
	}
	w = make([]float64, cfg.B*cfg.H*cfg.T*tk)
	out = make([]float64, cfg.B*cfg.T*d)
	for b := 0; b < cfg.B; b++ {
		for h := 0; h < cfg.H; h++ {
			key := func(j int) []float64 { // key slot j
				if nb == 1 && j == 0 {
					return kvb[h*hd : (h+1)*hd]
				}
				r := (b*cfg.T + j - nb) * 3 * d
				return qkv[r+d+h*hd : r+d+(h+1)*hd]
			}
			val := func(j int) []float64 {
				if nb == 1 && j == 0 {
					return kvb[d+h*hd : d+(h+1)*hd]
				}
				r := (b*cfg.T + j - nb) * 3 * d
				return qkv[r+2*d+h*hd : r+2*d+(h+1)*hd]
			}
			for i := 0; i < cfg.T; i++ {
				q := qkv[(b*cfg.T+i)*3*d+h*hd : (b*cfg.T+i)*3*d+(h+1)*hd]
				n := tk
				if cfg.Causal {
					n = nb + i + 1
				}
				row := make([]float64, n)
				for j := range row {
					k := key(j)
					s := dotp(q, k) / math.Sqrt(float64(hd))
					switch paper {
					case "softmax":
						row[j] = math.Exp(s)
					case "uniform":
						row[j] = 1
					case "sigmoid_norm", "sigmoid_unnorm":
						row[j] = 1 / (1 + math.Exp(-s))
					case "linear", "linear_unnorm":
						fq, fk := make([]float64, hd), make([]float64, hd)
						for c := range fq {
							fq[c], fk[c] = elu1(q[c]), elu1(k[c])
						}
						row[j] = dotp(fq, fk) // no 1/√d
					case "coupled_linear_norm", "coupled_linear_unnorm":
						row[j] = elu1(s)
					case "raw_dotproduct_norm", "raw_dotproduct_unnorm":
						row[j] = s
					case "mlp_norm", "mlp_unnorm":
						row[j] = dotp(phi(q), phi(k)) / math.Sqrt(float64(hd))
					default:
						panic(paper)
					}
				}
				var sum float64
				for _, x := range row {
					sum += x
				}
				div := 1.0
				switch paper {
				case "softmax":
					div = sum
				case "uniform", "sigmoid_norm", "linear", "coupled_linear_norm":
					div = sum + 1e-9
				case "raw_dotproduct_norm", "mlp_norm":
					div = math.Max(math.Abs(sum), 1)
				}
				wr := w[((b*cfg.H+h)*cfg.T+i)*tk:]
				o := out[(b*cfg.T+i)*d+h*hd:]
				for j, x := range row {
					wr[j] = x / div
					for c, v := range val(j) {
						o[c] += wr[j] * v
					}
				}
			}
		}
	}
	return w, out
}

// runForward runs the op (float64) on random inputs of the given scale and
// returns its weights and output; seed fixes the inputs.
func runForward(t *testing.T, cfg MultiHeadConfig, scale float64, seed uint64) (w, out []float64) {
	t.Helper()
	w, out, _, _, _ = runForwardWith(t, cfg, scale, seed)
	return w, out
}

// runForwardWith is runForward that also returns the inputs it drew.
func runForwardWith(t *testing.T, cfg MultiHeadConfig, scale float64, seed uint64) (w, out, qkv, kvb []float64, mlp mlpParams) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	d := cfg.H * cfg.HD
	qkv = randn(rng, cfg.B*cfg.T*3*d, scale)
	if cfg.KVBias {
		kvb = randn(rng, 2*d, scale)
	}
	av, err := parseVariant(cfg.Variant)
	if err != nil {
		t.Fatal(err)
	}
	if av.feature() == featMLP {
		mlp = randMLP(rng, cfg.HD, cfg.MLPHidden, 0.7)
	}
	g := G.NewGraph()
	mk := func(name string, x []float64, shape ...int) *G.Node {
		return G.NodeFromAny(g, tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), x...))), G.WithName(name))
	}
	x := mk("qkv", qkv, cfg.B*cfg.T, 3*d)
	var kb *G.Node
	if kvb != nil {
		kb = mk("kvb", kvb, 2, d)
	}
	var mn *MLPNodes
	if mlp.w1 != nil {
		f := cfg.MLPHidden
		mn = &MLPNodes{mk("W1", mlp.w1, cfg.HD, f), mk("b1", mlp.b1, f), mk("W2", mlp.w2, f, cfg.HD), mk("b2", mlp.b2, cfg.HD)}
	}
	o, op, err := NewMultiHeadMLP[float64](x, kb, mn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	return append([]float64(nil), op.Weights()...), append([]float64(nil), gop.Data[float64](o.Value())...), qkv, kvb, mlp
}

// TestPaperVariantsForward: the op, configured with each paper name, gives
// the weights and outputs of the paper's formula, causal and full, with and
// without the key/value bias, at ordinary and large scores.
func TestPaperVariantsForward(t *testing.T) {
	type tc struct {
		T      int
		causal bool
		kvb    bool
		scale  float64
	}
	cases := []tc{{5, true, false, 1}, {5, false, false, 1}, {4, true, true, 1}, {1, true, false, 1}, {3, true, false, 6}}
	for _, paper := range PaperVariants() {
		for ci, c := range cases {
			t.Run(fmt.Sprintf("%s/T%d/causal=%v/kvb=%v/scale=%g", paper, c.T, c.causal, c.kvb, c.scale), func(t *testing.T) {
				cfg := MultiHeadConfig{B: 2, T: c.T, H: 2, HD: 3, Causal: c.causal, Variant: paper, KVBias: c.kvb, MLPHidden: 12}
				w, out, qkv, kvb, mlp := runForwardWith(t, cfg, c.scale, uint64(ci+1))
				ww, wo := oracleWeights(paper, cfg, qkv, kvb, mlp)
				if len(w) != len(ww) || len(out) != len(wo) {
					t.Fatalf("sizes %d, %d; want %d, %d", len(w), len(out), len(ww), len(wo))
				}
				check := func(what string, got, want []float64) {
					var mx float64
					for _, v := range want {
						mx = math.Max(mx, math.Abs(v))
					}
					for i := range got {
						if math.Abs(got[i]-want[i]) > 1e-12*math.Max(mx, 1) || math.IsNaN(got[i]) {
							t.Fatalf("%s[%d] = %.17g, want %.17g", what, i, got[i], want[i])
						}
					}
				}
				check("weights", w, ww)
				check("output", out, wo)
			})
		}
	}
}

// forwardBackward runs the op in precision T on the given inputs (qkv, kvb,
// then φ's W1, b1, W2, b2 for MLP attention) and returns the output and the
// gradients of Σ out·(1, 2, 3, 1, 2, 3, …) with respect to every input, in
// float64.
func forwardBackward[T gop.Float](t *testing.T, cfg MultiHeadConfig, inputs [][]float64) (out []float64, grads [][]float64) {
	t.Helper()
	d, f := cfg.H*cfg.HD, cfg.MLPHidden
	shapes := [][]int{{cfg.B * cfg.T, 3 * d}, {2, d}, {cfg.HD, f}, {f}, {f, cfg.HD}, {cfg.HD}}
	if !cfg.KVBias {
		shapes = slices.Delete(shapes, 1, 2)
	}
	g := G.NewGraph()
	var nodes G.Nodes
	for i, x := range inputs {
		xt := make([]T, len(x))
		for j, v := range x {
			xt[j] = T(v)
		}
		nodes = append(nodes, G.NodeFromAny(g, tensor.New(tensor.WithShape(shapes[i]...), tensor.WithBacking(xt)), G.WithName(fmt.Sprint("in", i))))
	}
	var kvb *G.Node
	w := nodes[1:]
	if cfg.KVBias {
		kvb, w = nodes[1], nodes[2:]
	}
	var mn *MLPNodes
	if len(w) == 4 {
		mn = &MLPNodes{w[0], w[1], w[2], w[3]}
	}
	o, _, err := NewMultiHeadMLP[T](nodes[0], kvb, mn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rw := make([]T, cfg.B*cfg.T*d)
	for i := range rw {
		rw[i] = T(1 + i%3)
	}
	r := G.NodeFromAny(g, tensor.New(tensor.WithShape(cfg.B*cfg.T, d), tensor.WithBacking(rw)), G.WithName("r"))
	cost := G.Must(G.Sum(G.Must(G.HadamardProd(o, r))))
	if _, err := G.Grad(cost, nodes...); err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g, G.BindDualValues(nodes...))
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	f64 := func(x []T) []float64 {
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = float64(v)
		}
		return y
	}
	out = f64(gop.Data[T](o.Value()))
	for _, n := range nodes {
		gv, err := n.Grad()
		if err != nil {
			t.Fatal(err)
		}
		grads = append(grads, f64(gop.Data[T](gv)))
	}
	return out, grads
}

// TestFeatureVariantsFloat32: kernel, MLP and uniform attention in float32
// (the training precision, with its SIMD exp and fast erf) agree with float64,
// forward and backward.
func TestFeatureVariantsFloat32(t *testing.T) {
	for _, v := range []string{VariantKernel, VariantKernelNorm, VariantMLP, VariantMLPNorm, VariantUniform} {
		t.Run(v, func(t *testing.T) {
			cfg := MultiHeadConfig{B: 2, T: 5, H: 2, HD: 4, Causal: true, Variant: v, KVBias: true, MLPHidden: 16}
			rng := rand.New(rand.NewPCG(5, 5))
			d := cfg.H * cfg.HD
			inputs := [][]float64{randn(rng, cfg.B*cfg.T*3*d, 1.5), randn(rng, 2*d, 1.5)}
			if av, _ := parseVariant(v); av.feature() == featMLP {
				p := randMLP(rng, cfg.HD, cfg.MLPHidden, 1)
				inputs = append(inputs, p.w1, p.b1, p.w2, p.b2)
			}
			out64, g64 := forwardBackward[float64](t, cfg, inputs)
			out32, g32 := forwardBackward[float32](t, cfg, inputs)
			close := func(what string, got, want []float64) {
				var mx float64
				for _, x := range want {
					mx = math.Max(mx, math.Abs(x))
				}
				for i := range want {
					if math.Abs(got[i]-want[i]) > 1e-4*math.Max(mx, 1) || math.IsNaN(got[i]) { // float32 rounding, amplified where a row sum cancels
						t.Fatalf("%s[%d] = %v in float32, %v in float64", what, i, got[i], want[i])
					}
				}
			}
			close("out", out32, out64)
			for i := range g64 {
				close(fmt.Sprint("grad of input ", i), g32[i], g64[i])
			}
		})
	}
}

// TestMLPAttentionGradCheck checks dqkv, dkvb and the gradients of φ's W1, b1,
// W2, b2 against central differences in float64, for both MLP types, causal
// and full, with and without the key/value bias, on T = 1 and T = 5, and at
// large scores (where mlp_norm's max(|Σ|, 1) divides).
func TestMLPAttentionGradCheck(t *testing.T) {
	type tc struct {
		T      int
		causal bool
		kvb    bool
		scale  float64
	}
	cases := []tc{{5, true, false, 1}, {5, false, false, 1}, {4, true, true, 1}, {1, true, true, 1}, {4, true, false, 4}}
	for _, v := range []string{VariantMLP, VariantMLPNorm} {
		for ci, c := range cases {
			t.Run(fmt.Sprintf("%s/T%d/causal=%v/kvb=%v/scale=%g", v, c.T, c.causal, c.kvb, c.scale), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(ci), 17))
				cfg := MultiHeadConfig{B: 2, T: c.T, H: 2, HD: 3, Causal: c.causal, Variant: v, KVBias: c.kvb, MLPHidden: 12}
				d, f := cfg.H*cfg.HD, cfg.MLPHidden
				inputs := [][]float64{randn(rng, cfg.B*cfg.T*3*d, c.scale)}
				shapes := [][]int{{cfg.B * cfg.T, 3 * d}}
				if c.kvb {
					inputs = append(inputs, randn(rng, 2*d, c.scale))
					shapes = append(shapes, []int{2, d})
				}
				p := randMLP(rng, cfg.HD, f, 0.7)
				inputs = append(inputs, p.w1, p.b1, p.w2, p.b2)
				shapes = append(shapes, []int{cfg.HD, f}, []int{f}, []int{f, cfg.HD}, []int{cfg.HD})
				var op *MultiHeadOp[float64]
				errs, err := gop.GradCheck(inputs, shapes, func(g *G.ExprGraph, in G.Nodes) (*G.Node, error) {
					var kvb *G.Node
					w := in[1:]
					if c.kvb {
						kvb, w = in[1], in[2:]
					}
					out, o, err := NewMultiHeadMLP[float64](in[0], kvb, &MLPNodes{w[0], w[1], w[2], w[3]}, cfg)
					op = o
					return out, err
				}, 1e-6, 3)
				if err != nil {
					t.Fatal(err)
				}
				if c.scale > 1 && v == VariantMLPNorm && !slices.ContainsFunc(op.z, func(z float64) bool { return z > 1 }) {
					t.Fatal("no row had |Σ| > 1: the division by max(|Σ|, 1) is not exercised")
				}
				names := []string{"qkv", "kv_bias", "W1", "b1", "W2", "b2"}
				if !c.kvb {
					names = slices.Delete(names, 1, 2)
				}
				for i, e := range errs {
					if e > 1e-6 || math.IsNaN(e) {
						t.Errorf("%s: relative error %g > 1e-6", names[i], e)
					}
				}
			})
		}
	}
}

// TestMultiHeadMLPArguments: MLP attention needs φ's parameters in the right
// shapes, and no other variant takes them.
func TestMultiHeadMLPArguments(t *testing.T) {
	g := G.NewGraph()
	cfg := MultiHeadConfig{B: 1, T: 2, H: 1, HD: 2, Causal: true, Variant: "mlp_norm", MLPHidden: 8}
	mk := func(name string, shape ...int) *G.Node {
		return G.NewTensor(g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName(name))
	}
	x := mk("qkv", 2, 6)
	good := &MLPNodes{mk("W1", 2, 8), G.NewVector(g, tensor.Float64, G.WithShape(8), G.WithName("b1")), mk("W2", 8, 2),
		G.NewVector(g, tensor.Float64, G.WithShape(2), G.WithName("b2"))}
	if _, _, err := NewMultiHead[float64](x, nil, cfg); err == nil {
		t.Error("mlp_norm without φ's parameters accepted")
	}
	if _, _, err := NewMultiHeadMLP[float64](x, nil, &MLPNodes{good.W2, good.B1, good.W1, good.B2}, cfg); err == nil {
		t.Error("swapped W1 and W2 accepted")
	}
	cfg.Variant = VariantSoftmax
	if _, _, err := NewMultiHeadMLP[float64](x, nil, good, cfg); err == nil {
		t.Error("softmax with φ's parameters accepted")
	}
	cfg.Variant = VariantMLP
	if _, _, err := NewMultiHeadMLP[float64](x, nil, good, cfg); err != nil {
		t.Error(err)
	}
}
