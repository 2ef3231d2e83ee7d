package kernels

import (
	"fmt"
	"sync"
	"unsafe"
)

// float is the element type of the internal, type-parameterized code.
type float interface{ float32 | float64 }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or Xᵀ. op(A) is m×k, op(B) is k×n, C is m×n; lda, ldb, ldc are
// row strides (so A is stored m×k, or k×m when transA, with lda ≥ its column
// count). As in BLAS, beta == 0 overwrites C without reading it (NaN in C is
// ignored), and alpha == 0 or k == 0 leaves A and B unread. Only the m×n view
// of C is written. It panics with a "kernels:" message on negative sizes, a
// stride below the row length, or a slice too short for its view.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm(current(), "Sgemm", transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is Sgemm for float64.
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemm(current(), "Dgemm", transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Gemm dispatches on the element type: float32 (or a type based on it) to
// Sgemm, float64 to Dgemm.
func Gemm[T ~float32 | ~float64](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if unsafe.Sizeof(alpha) == 4 {
		Sgemm(transA, transB, m, n, k, float32(alpha), as32(a), lda, as32(b), ldb, float32(beta), as32(c), ldc)
		return
	}
	Dgemm(transA, transB, m, n, k, float64(alpha), as64(a), lda, as64(b), ldb, float64(beta), as64(c), ldc)
}

// as32 and as64 view a slice of a 4- or 8-byte float type as its base type.
func as32[T ~float32 | ~float64](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func as64[T ~float32 | ~float64](s []T) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// gemm checks the arguments, handles the cases that need no product, and runs
// impl.
func gemm[T float](impl implKind, name string, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkGemm(name, transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleMatrix(m, n, beta, c, ldc)
		return
	}
	if impl == implGeneric {
		gemmGeneric(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmTiled(impl, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkGemm panics unless the sizes are non-negative and each slice holds its
// matrix view. It only compares; the message is built on failure.
func checkGemm(name string, transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	ar, ac := m, k // A as stored
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n // B as stored
	if transB {
		br, bc = n, k
	}
	if m < 0 || n < 0 || k < 0 || !holds(ar, ac, la, lda) || !holds(br, bc, lb, ldb) || !holds(m, n, lc, ldc) {
		badGemm(name, m, n, k, [3][4]int{{ar, ac, la, lda}, {br, bc, lb, ldb}, {m, n, lc, ldc}})
	}
}

// holds reports whether a slice of length length holds a rows×cols matrix
// with row stride ld.
func holds(rows, cols, length, ld int) bool {
	return ld >= cols && ld >= 1 && (rows == 0 || cols == 0 || length >= (rows-1)*ld+cols)
}

// badGemm panics with a message naming the first bad argument; mats holds
// rows, cols, length and stride of a, b and c as stored.
func badGemm(name string, m, n, k int, mats [3][4]int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: %s: negative dimension (m=%d n=%d k=%d)", name, m, n, k))
	}
	for i, x := range []string{"a", "b", "c"} {
		rows, cols, length, ld := mats[i][0], mats[i][1], mats[i][2], mats[i][3]
		if ld < max(1, cols) {
			panic(fmt.Sprintf("kernels: %s: ld%s = %d, want ≥ max(1, %d)", name, x, ld, cols))
		}
		if !holds(rows, cols, length, ld) {
			panic(fmt.Sprintf("kernels: %s: len(%s) = %d, want ≥ %d for a %d×%d matrix with stride %d",
				name, x, length, (rows-1)*ld+cols, rows, cols, ld))
		}
	}
}

// scaleMatrix sets C = beta·C on the m×n view, with beta == 0 writing zeros.
func scaleMatrix[T float](m, n int, beta T, c []T, ldc int) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// Blocking of the tiled GEMM. The assembly kernel runs one column panel of
// panelWidth columns over all m rows, with k in blocks of kcBlock. A and B are
// read in place through their strides (measured on Zen 5: packing A or B on
// the model's shapes was slower than not), except transposed B, whose panel
// is first copied into kc rows of contiguous columns (at most kcBlock×32
// float32 = 32 KiB, which stays in L1).
const (
	kcBlock = 256
	// smallPack is the largest packed B panel kept in a stack array; larger
	// ones come from a sync.Pool.
	smallPack = 512
)

// panelWidth is the number of columns of C one kernel call covers: two
// vectors.
func panelWidth[T float](impl implKind) int {
	var zero T
	if impl == implAVX512 {
		return 2 * 64 / int(unsafe.Sizeof(zero))
	}
	return 2 * 32 / int(unsafe.Sizeof(zero))
}

var (
	packPool32 = sync.Pool{New: func() any { s := make([]float32, (kcBlock+8)*32); return &s }}
	packPool64 = sync.Pool{New: func() any { s := make([]float64, (kcBlock+8)*16); return &s }}
)

func packPool[T float]() *sync.Pool {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		return &packPool32
	}
	return &packPool64
}

// gemmTiled is the assembly-backed GEMM; alpha ≠ 0 and m, n, k ≥ 1.
func gemmTiled[T float](impl implKind, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	w := panelWidth[T](impl)
	rsa, csa := lda, 1 // op(A)(i, p) = a[i*rsa+p*csa]
	if transA {
		rsa, csa = 1, lda
	}
	var buf []T // packed panel of op(B): roundUp(kc, 8) rows of stride ≤ w
	if transB {
		need := ((min(k, kcBlock) + 7) &^ 7) * min(w, (n+7)&^7)
		if need <= smallPack {
			var s [smallPack]T
			buf = s[:need]
		} else {
			pool := packPool[T]()
			p := pool.Get().(*[]T)
			defer pool.Put(p)
			buf = (*p)[:need]
		}
	}
	for pc := 0; pc < k; pc += kcBlock {
		kc := min(kcBlock, k-pc)
		bet := beta
		if pc > 0 {
			bet = 1
		}
		ap := &a[pc*csa]
		for j0 := 0; j0 < n; j0 += w {
			nr := min(w, n-j0)
			var bp *T
			rsb := ldb
			if transB {
				rsb = (nr + 7) &^ 7
				packBT(impl, buf, b, ldb, pc, kc, j0, nr, rsb)
				bp = &buf[0]
			} else {
				bp = &b[pc*ldb+j0]
			}
			kernel(impl, m, nr, kc, ap, rsa, csa, bp, rsb, &c[j0], ldc, alpha, bet)
		}
	}
}

// packBT writes op(B)(pc+p, j0+j) = b[(j0+j)*ldb+pc+p] for p < kc, j < nr into
// dst[p*w+j]: the transposed B panel laid out as the kernel reads it. w is a
// multiple of 8 and dst holds roundUp(kc, 8) rows (the float32 transposer
// writes whole 8×8 blocks; what lies past kc rows or nr columns is never read).
func packBT[T float](impl implKind, dst, b []T, ldb, pc, kc, j0, nr, w int) {
	var zero T
	if impl != implGeneric && unsafe.Sizeof(zero) == 4 {
		d, s := as32(dst), as32(b)
		_ = d[((kc+7)&^7)*w-1] // the transposer's extent
		var rows [8]*float32
		for jb := 0; jb < nr; jb += 8 {
			for i := range rows {
				rows[i] = &s[(j0+min(jb+i, nr-1))*ldb+pc]
			}
			packT32AVX2(&d[jb], w, &rows, kc)
		}
		return
	}
	packBTGo(dst, b, ldb, pc, kc, j0, nr, w)
}

// packBTGo is packBT in plain Go.
func packBTGo[T float](dst, b []T, ldb, pc, kc, j0, nr, w int) {
	j := 0
	for ; j+4 <= nr; j += 4 {
		r := (j0+j)*ldb + pc
		s0 := b[r : r+kc]
		s1 := b[r+ldb : r+ldb+kc]
		s2 := b[r+2*ldb : r+2*ldb+kc]
		s3 := b[r+3*ldb : r+3*ldb+kc]
		for p := range s0 {
			d := dst[p*w+j : p*w+j+4]
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		}
	}
	for ; j < nr; j++ {
		r := (j0+j)*ldb + pc
		for p, v := range b[r : r+kc] {
			dst[p*w+j] = v
		}
	}
}

// kernel calls the assembly kernel of impl for T.
func kernel[T float](impl implKind, m, nr, k int, a *T, rsa, csa int, b *T, rsb int, c *T, ldc int, alpha, beta T) {
	if unsafe.Sizeof(alpha) == 4 {
		a, b, c := (*float32)(unsafe.Pointer(a)), (*float32)(unsafe.Pointer(b)), (*float32)(unsafe.Pointer(c))
		if impl == implAVX512 {
			sgemmKernAVX512(m, nr, k, a, rsa, csa, b, rsb, c, ldc, float32(alpha), float32(beta))
		} else {
			sgemmKernAVX2(m, nr, k, a, rsa, csa, b, rsb, c, ldc, float32(alpha), float32(beta))
		}
		return
	}
	a64, b64, c64 := (*float64)(unsafe.Pointer(a)), (*float64)(unsafe.Pointer(b)), (*float64)(unsafe.Pointer(c))
	if impl == implAVX512 {
		dgemmKernAVX512(m, nr, k, a64, rsa, csa, b64, rsb, c64, ldc, float64(alpha), float64(beta))
	} else {
		dgemmKernAVX2(m, nr, k, a64, rsa, csa, b64, rsb, c64, ldc, float64(alpha), float64(beta))
	}
}
