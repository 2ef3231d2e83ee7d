//go:build !amd64 || purego

package vmath

// Without the amd64 assembly only the generic implementation exists; the
// stubs below keep the dispatch code compiling and are never called.
const (
	haveAVX2   = false
	haveAVX512 = false
)

func noAsm() { panic("vmath: assembly kernel called in a build without assembly") }

func geluTanhAVX512(x, y, t *float32, n int)                      { noAsm() }
func geluTanhAVX2(x, y, t *float32, n int)                        { noAsm() }
func geluTanhBackwardAVX512(x, t, dy, dx *float32, n int)         { noAsm() }
func geluTanhBackwardAVX2(x, t, dy, dx *float32, n int)           { noAsm() }
func expShiftAVX512(x, y *float32, n int, nshift float32) float32 { noAsm(); return 0 }
func expShiftAVX2(x, y *float32, n int, nshift float32) float32   { noAsm(); return 0 }

func layerNormRowsAVX512(x, gain, b, y, mean, rstd *float32, n, d int, eps, invD float32) { noAsm() }
func layerNormRowsAVX2(x, gain, b, y, mean, rstd *float32, n, d int, eps, invD float32)   { noAsm() }

func layerNormRowsBackwardAVX512(x, gain, dy, mean, rstd, dx, dg, db *float32, n, d int, invD float32) {
	noAsm()
}

func layerNormRowsBackwardAVX2(x, gain, dy, mean, rstd, dx, dg, db *float32, n, d int, invD float32) {
	noAsm()
}

func adamWAVX512(w, grad, m, v *float32, n int, b1, omb1, b2, omb2, decay, step, rbc2, eps float32) {
	noAsm()
}

func adamWAVX2(w, grad, m, v *float32, n int, b1, omb1, b2, omb2, decay, step, rbc2, eps float32) {
	noAsm()
}
