//go:build !amd64 || purego

package kernels

// Without the amd64 assembly only the generic implementation exists; the
// stubs below keep the dispatch code compiling and are never called.
const (
	haveAVX2   = false
	haveAVX512 = false
)

func noAsm() { panic("kernels: assembly kernel called in a build without assembly") }

func sgemmKernAVX512(m, nr, k int, a *float32, rsa, csa int, b *float32, rsb int, c *float32, ldc int, alpha, beta float32) {
	noAsm()
}

func dgemmKernAVX512(m, nr, k int, a *float64, rsa, csa int, b *float64, rsb int, c *float64, ldc int, alpha, beta float64) {
	noAsm()
}

func sgemmKernAVX2(m, nr, k int, a *float32, rsa, csa int, b *float32, rsb int, c *float32, ldc int, alpha, beta float32) {
	noAsm()
}

func dgemmKernAVX2(m, nr, k int, a *float64, rsa, csa int, b *float64, rsb int, c *float64, ldc int, alpha, beta float64) {
	noAsm()
}

func axpysAVX2(alpha float32, x, y *float32, n int) { noAsm() }
func axpydAVX2(alpha float64, x, y *float64, n int) { noAsm() }
func scalsAVX2(alpha float32, x *float32, n int)    { noAsm() }
func scaldAVX2(alpha float64, x *float64, n int)    { noAsm() }
func dotsAVX2(x, y *float32, n int) float32         { noAsm(); return 0 }
func dotdAVX2(x, y *float64, n int) float64         { noAsm(); return 0 }

func packT32AVX2(dst *float32, w int, rows *[8]*float32, kc int) { noAsm() }
