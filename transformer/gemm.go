package transformer

import (
	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/attention/kernels"
)

// gemm computes C = alpha·op(A)·op(B) + beta·C (row-major) with the SIMD kernels.
func gemm[T gop.Float](ta, tb bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	kernels.Gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
