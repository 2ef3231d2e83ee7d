package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// sentinel marks elements outside the matrix views; the kernels must leave it
// bit-for-bit unchanged.
const sentinel = -7777.25

// gemmCase is one GEMM call to check.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	pad            int // extra elements per row of A, B and C beyond the row length
	alpha, beta    float64
	nanC           bool // fill C's view with NaN (only with beta == 0)
	nanAB          bool // fill A and B with NaN (only with alpha == 0)
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s/m%d_n%d_k%d/pad%d/alpha%g_beta%g", t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.pad, tc.alpha, tc.beta)
}

// matrix is a rows×cols view with stride ld inside a slice that is exactly as
// long as the view needs, filled with random values in the view and the
// sentinel elsewhere.
func newMatrix[T float](rng *rand.Rand, rows, cols, ld int, fill float64) []T {
	if rows == 0 || cols == 0 {
		return nil
	}
	s := make([]T, (rows-1)*ld+cols)
	for i := range s {
		s[i] = sentinel
	}
	for i := range rows {
		for j := range cols {
			v := fill
			if math.IsInf(fill, 0) { // random
				v = 2*rng.Float64() - 1
			}
			s[i*ld+j] = T(v)
		}
	}
	return s
}

var random = math.Inf(1)

// refGemm is the naive triple loop in float64. It returns the expected C and,
// per element, the scale |alpha|·Σ|a·b| + |beta·c| that bounds rounding errors.
func refGemm[T float](tc gemmCase, a []T, lda int, b []T, ldb int, c []T, ldc int) (want, scale []float64) {
	want = make([]float64, len(c))
	scale = make([]float64, len(c))
	for i := range c {
		want[i] = float64(c[i])
	}
	opA := make([]float64, tc.m*tc.k) // op(A), m×k, dense
	opB := make([]float64, tc.k*tc.n) // op(B), k×n, dense
	for i := range tc.m {
		for p := range tc.k {
			if tc.transA {
				opA[i*tc.k+p] = float64(a[p*lda+i])
			} else {
				opA[i*tc.k+p] = float64(a[i*lda+p])
			}
		}
	}
	for p := range tc.k {
		for j := range tc.n {
			if tc.transB {
				opB[p*tc.n+j] = float64(b[j*ldb+p])
			} else {
				opB[p*tc.n+j] = float64(b[p*ldb+j])
			}
		}
	}
	for i := range tc.m {
		for j := range tc.n {
			var sum, abs float64
			if tc.alpha != 0 {
				for p := range tc.k {
					x := opA[i*tc.k+p] * opB[p*tc.n+j]
					sum += x
					abs += math.Abs(x)
				}
			}
			cv := float64(c[i*ldc+j])
			w := tc.alpha * sum
			s := math.Abs(tc.alpha) * abs
			if tc.beta != 0 {
				w += tc.beta * cv
				s += math.Abs(tc.beta * cv)
			}
			want[i*ldc+j] = w
			scale[i*ldc+j] = s
		}
	}
	return want, scale
}

// checkGemmCase runs tc on impl and compares with the naive reference: inside
// the view within a rounding-error bound, outside it bit for bit.
func checkGemmCase[T float](t *testing.T, impl implKind, rng *rand.Rand, tc gemmCase) {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := ac+tc.pad, bc+tc.pad, tc.n+tc.pad
	fillAB := random
	if tc.nanAB {
		fillAB = math.NaN()
	}
	a := newMatrix[T](rng, ar, ac, max(1, lda), fillAB)
	b := newMatrix[T](rng, br, bc, max(1, ldb), fillAB)
	c := newMatrix[T](rng, tc.m, tc.n, max(1, ldc), random)
	c = append(c, sentinel, sentinel, sentinel) // past the view's end
	if tc.nanC {
		for i := range tc.m {
			for j := range tc.n {
				c[i*ldc+j] = T(math.NaN())
			}
		}
	}
	a0, b0 := append([]T(nil), a...), append([]T(nil), b...)
	want, scale := refGemm(tc, a, lda, b, ldb, c, ldc)

	gemm(impl, "test", tc.transA, tc.transB, tc.m, tc.n, tc.k, T(tc.alpha), a, max(1, lda), b, max(1, ldb), T(tc.beta), c, max(1, ldc))

	var zero T
	u := 0x1p-24
	if unsafe.Sizeof(zero) == 8 {
		u = 0x1p-53
	}
	inView := func(idx int) bool {
		i, j := idx/max(1, ldc), idx%max(1, ldc)
		return i < tc.m && j < tc.n
	}
	bad := 0
	for idx, got := range c {
		g := float64(got)
		if !inView(idx) {
			if g != sentinel {
				t.Errorf("%s %v: c[%d] outside the view changed: got %v want %v", impl, tc, idx, g, float64(sentinel))
				bad++
			}
		} else {
			tol := 2 * float64(2*tc.k+4) * u * scale[idx]
			if math.IsNaN(g) || math.Abs(g-want[idx]) > tol {
				t.Errorf("%s %v: C(%d, %d): got %v want %v (tolerance %.3g)", impl, tc, idx/ldc, idx%ldc, g, want[idx], tol)
				bad++
			}
		}
		if bad > 5 {
			t.Fatalf("%s: too many errors", impl)
		}
	}
	for i := range a {
		if math.Float64bits(float64(a[i])) != math.Float64bits(float64(a0[i])) {
			t.Fatalf("%s: a[%d] changed", impl, i)
		}
	}
	for i := range b {
		if math.Float64bits(float64(b[i])) != math.Float64bits(float64(b0[i])) {
			t.Fatalf("%s: b[%d] changed", impl, i)
		}
	}
}

var transCombos = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

// gemmCases is the grid every implementation is checked on: small and odd
// sizes, sizes around the register tiles (8×32, 6×16) and the k block (256),
// and the model's shapes, each with tight and padded strides.
func gemmCases() []gemmCase {
	var cases []gemmCase
	mn := []int{1, 2, 3, 5, 6, 7, 8, 9, 10, 12, 13, 14, 16, 17, 31, 32, 33, 47, 65}
	ks := []int{1, 2, 5, 16, 33}
	for _, tr := range transCombos {
		for _, m := range mn {
			for _, n := range mn {
				for _, k := range ks {
					pad := (m + n + k) % 4 // tight and padded strides, deterministically mixed
					cases = append(cases, gemmCase{transA: tr[0], transB: tr[1], m: m, n: n, k: k, pad: pad, alpha: 0.75, beta: -1.5})
				}
			}
		}
		for _, s := range [][3]int{
			{32, 32, 16}, {12, 12, 32}, {32, 16, 32}, {12, 32, 12}, // attention
			{64, 192, 64}, {48, 256, 64}, {40, 64, 256}, {64, 64, 192}, // model, fewer rows
			{13, 45, 300}, {9, 33, 513}, {70, 40, 257}, {3, 100, 1000}, // across k blocks
		} {
			for _, pad := range []int{0, 3} {
				cases = append(cases, gemmCase{transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2], pad: pad, alpha: 1, beta: 0})
			}
		}
	}
	return cases
}

// specialCases cover alpha and beta special values: beta = 0 with NaN in C,
// alpha = 0 with NaN in A and B, k = 0, and empty outputs.
func specialCases() []gemmCase {
	var cases []gemmCase
	for _, tr := range transCombos {
		for _, s := range [][3]int{{1, 1, 1}, {9, 35, 7}, {17, 20, 300}} {
			for _, alpha := range []float64{1, -1, 0.5, 0} {
				for _, beta := range []float64{0, 1, -1, 0.25} {
					tc := gemmCase{transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2], pad: 2, alpha: alpha, beta: beta}
					tc.nanC = beta == 0
					tc.nanAB = alpha == 0
					cases = append(cases, tc)
				}
			}
		}
		for _, s := range [][3]int{{5, 7, 0}, {0, 7, 5}, {5, 0, 5}, {0, 0, 0}} {
			cases = append(cases, gemmCase{transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2], pad: 1, alpha: 2, beta: 0.5})
		}
	}
	return cases
}

func TestSgemm(t *testing.T) { testGemm[float32](t) }
func TestDgemm(t *testing.T) { testGemm[float64](t) }

func testGemm[T float](t *testing.T) {
	for _, impl := range supportedImpls() {
		t.Run(impl.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(impl)))
			for _, tc := range append(gemmCases(), specialCases()...) {
				checkGemmCase[T](t, impl, rng, tc)
				if t.Failed() {
					t.Fatalf("failed on %v", tc)
				}
			}
		})
	}
}

// TestImplsAgree checks every implementation against the generic one on the
// model's full-size shapes: same result within rounding.
func TestImplsAgree(t *testing.T) {
	shapes := [][3]int{{512, 192, 64}, {512, 64, 256}, {384, 128, 512}}
	for _, impl := range supportedImpls() {
		for _, tr := range transCombos {
			for _, s := range shapes {
				tc := gemmCase{transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2], pad: 1, alpha: 1, beta: 1}
				t.Run(impl.String()+"/"+tc.String(), func(t *testing.T) {
					checkGemmCase[float32](t, impl, rand.New(rand.NewPCG(7, 8)), tc)
				})
			}
		}
	}
}

type myFloat float32

func TestGemmGenericDispatch(t *testing.T) {
	// Gemm on float32, a named float32 type and float64 must match Sgemm/Dgemm.
	rng := rand.New(rand.NewPCG(3, 4))
	m, n, k := 7, 19, 11
	a32 := newMatrix[float32](rng, m, k, k, random)
	b32 := newMatrix[float32](rng, k, n, n, random)
	want := make([]float32, m*n)
	Sgemm(false, false, m, n, k, 1.5, a32, k, b32, n, 0, want, n)

	got := make([]float32, m*n)
	Gemm(false, false, m, n, k, 1.5, a32, k, b32, n, 0, got, n)
	aNamed := unsafe.Slice((*myFloat)(unsafe.Pointer(&a32[0])), len(a32))
	bNamed := unsafe.Slice((*myFloat)(unsafe.Pointer(&b32[0])), len(b32))
	gotNamed := make([]myFloat, m*n)
	Gemm(false, false, m, n, k, 1.5, aNamed, k, bNamed, n, 0, gotNamed, n)
	for i := range want {
		if got[i] != want[i] || float32(gotNamed[i]) != want[i] {
			t.Fatalf("C[%d]: Gemm got %v, named %v, want %v", i, got[i], gotNamed[i], want[i])
		}
	}

	a64, b64 := make([]float64, len(a32)), make([]float64, len(b32))
	for i := range a32 {
		a64[i] = float64(a32[i])
	}
	for i := range b32 {
		b64[i] = float64(b32[i])
	}
	want64, got64 := make([]float64, k*n), make([]float64, k*n)
	// op(A) = Aᵀ is k×m with A stored m×k; B is m×n.
	Dgemm(true, false, k, n, m, 1.5, a64, k, b64[:m*n], n, 0, want64, n)
	Gemm(true, false, k, n, m, 1.5, a64, k, b64[:m*n], n, 0, got64, n)
	for i := range got64 {
		if got64[i] != want64[i] {
			t.Fatalf("C[%d]: Gemm got %v, want Dgemm's %v", i, got64[i], want64[i])
		}
	}
}

func TestGemmPanics(t *testing.T) {
	s := make([]float32, 100)
	tests := []struct {
		name string
		call func()
		want string
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, s, 2, s, 2, 0, s, 2) }, "negative dimension"},
		{"lda too small", func() { Sgemm(false, false, 3, 2, 4, 1, s, 3, s, 2, 0, s, 2) }, "lda = 3"},
		{"ldb too small transposed", func() { Sgemm(false, true, 3, 2, 4, 1, s, 4, s, 3, 0, s, 2) }, "ldb = 3"},
		{"ldc too small", func() { Sgemm(false, false, 3, 5, 4, 1, s, 4, s, 5, 0, s, 4) }, "ldc = 4"},
		{"a too short", func() { Sgemm(false, false, 30, 2, 4, 1, s, 4, s, 2, 0, s, 2) }, "len(a) = 100"},
		{"c too short", func() { Sgemm(false, false, 2, 2, 2, 1, s, 2, s, 2, 0, s[:3], 2) }, "len(c) = 3"},
		{"b too short transposed", func() {
			Dgemm(false, true, 2, 60, 2, 1, make([]float64, 4), 2, make([]float64, 100), 2, 0, make([]float64, 120), 60)
		}, "len(b) = 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.HasPrefix(msg, "kernels: ") || !strings.Contains(msg, tt.want) {
					t.Fatalf("panic %q, want a kernels: panic containing %q", r, tt.want)
				}
			}()
			tt.call()
		})
	}
}

func TestSetImpl(t *testing.T) {
	defer SetImpl("auto")
	if err := SetImpl("generic"); err != nil {
		t.Fatal(err)
	}
	if got := Impl(); got != "generic" {
		t.Fatalf("Impl() = %q after SetImpl(generic)", got)
	}
	if err := SetImpl("sse9"); err == nil {
		t.Fatal("SetImpl(sse9): no error")
	}
	for k := range implNames {
		err := SetImpl(implKind(k).String())
		if (err == nil) != impls.Supports(implKind(k)) {
			t.Fatalf("SetImpl(%s): error %v, supported %v", implKind(k), err, impls.Supports(implKind(k)))
		}
	}
	if err := SetImpl("auto"); err != nil || Impl() != bestImpl().String() {
		t.Fatalf("SetImpl(auto): %v, Impl() = %q want %q", err, Impl(), bestImpl())
	}
}

// TestGemmNoAllocs checks that no call allocates in steady state, on tiny and
// large shapes, all transposes, every implementation.
func TestGemmNoAllocs(t *testing.T) {
	defer SetImpl("auto")
	rng := rand.New(rand.NewPCG(5, 6))
	for _, impl := range supportedImpls() {
		if err := SetImpl(impl.String()); err != nil {
			t.Fatal(err)
		}
		for _, s := range [][3]int{{12, 12, 32}, {32, 32, 16}, {64, 192, 300}} {
			m, n, k := s[0], s[1], s[2]
			a := newMatrix[float32](rng, max(m, k), max(m, k), max(m, k), random)
			b := newMatrix[float32](rng, max(n, k), max(n, k), max(n, k), random)
			c := make([]float32, m*n)
			for _, tr := range transCombos {
				allocs := testing.AllocsPerRun(20, func() {
					Sgemm(tr[0], tr[1], m, n, k, 1, a, max(m, k), b, max(n, k), 0.5, c, n)
					Gemm(tr[0], tr[1], m, n, k, 1, a, max(m, k), b, max(n, k), 0.5, c, n)
				})
				if allocs != 0 {
					t.Errorf("%s %v %v: %v allocations per call", impl, s, tr, allocs)
				}
			}
		}
	}
}
