package kernels

// gemmGeneric is the plain-Go GEMM: the fallback on CPUs without AVX2 and the
// reference the assembly is tested against. alpha ≠ 0 and m, n, k ≥ 1.
//
// With B not transposed it adds alpha·A(i, p)·B(p, :) to C's rows, four rows
// of C at a time sharing each row of B; with B transposed each C(i, j) is a
// dot product of op(A)'s row i with B's row j, four columns at a time sharing
// each element of A. A is read through strides, so A and Aᵀ take the same
// path.
func gemmGeneric[T float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	scaleMatrix(m, n, beta, c, ldc)
	rsa, csa := lda, 1 // op(A)(i, p) = a[i*rsa+p*csa]
	if transA {
		rsa, csa = 1, lda
	}
	if !transB {
		i := 0
		for ; i+4 <= m; i += 4 {
			c0 := c[i*ldc : i*ldc+n]
			c1 := c[(i+1)*ldc : (i+1)*ldc+n]
			c2 := c[(i+2)*ldc : (i+2)*ldc+n]
			c3 := c[(i+3)*ldc : (i+3)*ldc+n]
			for p := range k {
				ap := i*rsa + p*csa
				s0, s1, s2, s3 := alpha*a[ap], alpha*a[ap+rsa], alpha*a[ap+2*rsa], alpha*a[ap+3*rsa]
				brow := b[p*ldb : p*ldb+n]
				c0, c1, c2, c3 := c0[:len(brow)], c1[:len(brow)], c2[:len(brow)], c3[:len(brow)]
				for j, bv := range brow {
					c0[j] += s0 * bv
					c1[j] += s1 * bv
					c2[j] += s2 * bv
					c3[j] += s3 * bv
				}
			}
		}
		for ; i < m; i++ {
			crow := c[i*ldc : i*ldc+n]
			for p := range k {
				s := alpha * a[i*rsa+p*csa]
				brow := b[p*ldb : p*ldb+n]
				crow := crow[:len(brow)]
				for j, bv := range brow {
					crow[j] += s * bv
				}
			}
		}
		return
	}
	for i := range m {
		crow := c[i*ldc : i*ldc+n]
		j := 0
		for ; j+4 <= n; j += 4 {
			b0 := b[j*ldb : j*ldb+k]
			b1 := b[(j+1)*ldb : (j+1)*ldb+k]
			b2 := b[(j+2)*ldb : (j+2)*ldb+k]
			b3 := b[(j+3)*ldb : (j+3)*ldb+k]
			var s0, s1, s2, s3 T
			for p, bv := range b0 {
				av := a[i*rsa+p*csa]
				s0 += av * bv
				s1 += av * b1[p]
				s2 += av * b2[p]
				s3 += av * b3[p]
			}
			crow[j] += alpha * s0
			crow[j+1] += alpha * s1
			crow[j+2] += alpha * s2
			crow[j+3] += alpha * s3
		}
		for ; j < n; j++ {
			var s T
			for p, bv := range b[j*ldb : j*ldb+k] {
				s += a[i*rsa+p*csa] * bv
			}
			crow[j] += alpha * s
		}
	}
}
