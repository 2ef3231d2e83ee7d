// Command asmgen writes the amd64 assembly of package kernels: the GEMM
// micro-kernels (AVX-512 and AVX2+FMA, float32 and float64) and the AVX2
// vector helpers. Run it through `go generate` in attention/kernels; the output
// is committed, so building the package needs no generator.
//
// Every kernel computes, for one column panel of at most NR = two vectors of
// columns of C and all m rows, C = alpha·op(A)·op(B) + beta·C with k
// multiply-adds per element. A is read through general strides (row stride
// rsa, column stride csa, in elements), so plain and transposed A work
// unchanged; B is read as k rows of NR contiguous elements, row stride rsb (B
// itself, or a packed copy of Bᵀ made by packT32AVX2 or in Go). Rows are done
// MR at a time in a register tile of MR×NR accumulators (MR1 rows when the
// panel is one vector wide); the last rows use an unrolled variant of their
// own, and columns past nr are masked off (AVX-512 opmask, AVX2 VMASKMOV), so
// no element of A, B or C outside the view is read or written. Every routine
// ends with VZEROUPPER.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
)

// elemType describes float32 or float64 code.
type elemType struct {
	name  string // "s" or "d"
	size  int    // bytes
	shift int    // log2(size)
	sfx   string // "PS" or "PD"
	bcast string // broadcast instruction
	goTyp string
}

var (
	f32 = elemType{name: "s", size: 4, shift: 2, sfx: "PS", bcast: "VBROADCASTSS", goTyp: "float32"}
	f64 = elemType{name: "d", size: 8, shift: 3, sfx: "PD", bcast: "VBROADCASTSD", goTyp: "float64"}
)

// kernel is one generated GEMM micro-kernel.
type kernel struct {
	isa  string // "AVX512" or "AVX2"
	e    elemType
	mr   int // rows per register tile with two vectors of columns
	mr1  int // rows per register tile with one vector (more rows keep more FMA chains busy)
	vecB int // vector width in bytes
}

func (k kernel) vl() int      { return k.vecB / k.e.size } // lanes per vector
func (k kernel) z() bool      { return k.isa == "AVX512" }
func (k kernel) name() string { return k.e.name + "gemmKern" + k.isa }

// Registers. AVX-512: accumulators Z0..Z23, B Z24..Z25, broadcasts Z26..Z29,
// alpha Z30, beta Z31, column mask K1. AVX2: accumulators Y0..Y11, B Y12..Y13,
// broadcast Y14, column mask Y15; alpha/beta/temp reuse Y12..Y14 after the loop.
func (k kernel) acc(i, v, nv int) string {
	if k.z() {
		return fmt.Sprintf("Z%d", i*nv+v)
	}
	return fmt.Sprintf("Y%d", i*nv+v)
}
func (k kernel) breg(v int) string {
	if k.z() {
		return fmt.Sprintf("Z%d", 24+v)
	}
	return fmt.Sprintf("Y%d", 12+v)
}
func (k kernel) bc(i int) string {
	if k.z() {
		return fmt.Sprintf("Z%d", 26+i%4)
	}
	return "Y14"
}
func (k kernel) alphaReg() string {
	if k.z() {
		return "Z30"
	}
	return "Y12"
}
func (k kernel) betaReg() string {
	if k.z() {
		return "Z31"
	}
	return "Y13"
}

const maskRegAVX2 = "Y15"

// Argument frame (ABI0): m, nr, k, a, rsa, csa, b, rsb, c, ldc, alpha, beta.
func (k kernel) argSize() int { return 80 + 2*k.e.size }

type gen struct {
	buf bytes.Buffer
}

func (g *gen) p(format string, args ...any) {
	fmt.Fprintf(&g.buf, format, args...)
	g.buf.WriteByte('\n')
}
func (g *gen) i(format string, args ...any) { g.p("\t"+format, args...) }

// aAddr is the address of A's row i (of the tile) at the current k step: rows
// are grouped by four behind pointers SI, DX, BX, using R9 = rsa, R10 = 3·rsa.
func aAddr(i int) string {
	base := []string{"SI", "DX", "BX"}[i/4]
	switch i % 4 {
	case 0:
		return "(" + base + ")"
	case 1:
		return "(" + base + ")(R9*1)"
	case 2:
		return "(" + base + ")(R9*2)"
	default:
		return "(" + base + ")(R10*1)"
	}
}

// cAddr is the address of C's row i, vector v, with CX = ldc and SI = 3·ldc in
// bytes and row groups behind DI, DX, BX.
func cAddr(i, off int) string {
	base := []string{"DI", "DX", "BX"}[i/4]
	o := ""
	if off != 0 {
		o = fmt.Sprint(off)
	}
	switch i % 4 {
	case 0:
		return o + "(" + base + ")"
	case 1:
		return o + "(" + base + ")(CX*1)"
	case 2:
		return o + "(" + base + ")(CX*2)"
	default:
		return o + "(" + base + ")(SI*1)"
	}
}

func (g *gen) kernel(k kernel) {
	e := k.e
	vl := k.vl()
	betaOff := 80 + e.size
	g.p("// func %s(m, nr, k int, a *%s, rsa, csa int, b *%s, rsb int, c *%s, ldc int, alpha, beta %s)",
		k.name(), e.goTyp, e.goTyp, e.goTyp, e.goTyp)
	g.p("// Register tiles %d×%d and %d×%d, %d lanes per vector.", k.mr, 2*vl, k.mr1, vl, vl)
	g.p("TEXT ·%s(SB), NOSPLIT, $0-%d", k.name(), k.argSize())
	g.i("MOVQ rsa+32(FP), R9")
	g.i("SHLQ $%d, R9", e.shift)
	g.i("LEAQ (R9)(R9*2), R10")
	g.i("MOVQ csa+40(FP), R11")
	g.i("SHLQ $%d, R11", e.shift)
	g.i("MOVQ rsb+56(FP), R12")
	g.i("SHLQ $%d, R12", e.shift)
	g.i("MOVQ a+24(FP), R13")
	g.i("MOVQ c+64(FP), DI")
	g.i("MOVQ m+0(FP), R8")
	g.i("MOVQ nr+8(FP), CX")
	g.i("CMPQ CX, $%d", vl)
	g.i("JGT nv2")
	// One vector of columns.
	if k.z() {
		g.i("MOVQ $1, AX")
		g.i("SHLQ CX, AX")
		g.i("DECQ AX")
		g.i("KMOVW AX, K1")
		g.i("JMP g1m_rows")
	} else {
		g.i("CMPQ CX, $%d", vl)
		g.i("JEQ g1f_rows")
		g.loadMaskAVX2(e)
		g.i("JMP g1m_rows")
	}
	g.p("nv2:")
	g.i("SUBQ $%d, CX", vl)
	if k.z() {
		g.i("MOVQ $1, AX")
		g.i("SHLQ CX, AX")
		g.i("DECQ AX")
		g.i("KMOVW AX, K1")
		g.i("JMP g2m_rows")
	} else {
		g.i("CMPQ CX, $%d", vl)
		g.i("JEQ g2f_rows")
		g.loadMaskAVX2(e)
		g.i("JMP g2m_rows")
	}
	type group struct {
		nv     int
		masked bool
		label  string
	}
	groups := []group{{1, true, "g1m"}, {2, true, "g2m"}}
	if !k.z() {
		groups = append(groups, group{1, false, "g1f"}, group{2, false, "g2f"})
	}
	for _, gr := range groups {
		mrMax := k.mr
		if gr.nv == 1 {
			mrMax = k.mr1
		}
		g.p("%s_rows:", gr.label)
		g.i("CMPQ R8, $%d", mrMax)
		g.i("JLT %s_tail", gr.label)
		g.body(k, mrMax, gr.nv, gr.masked, fmt.Sprintf("%s_r%d", gr.label, mrMax), betaOff)
		// Advance A and C by mrMax rows (CX holds ldc in bytes after the store).
		g.i("IMUL3Q $%d, R9, AX", mrMax)
		g.i("ADDQ AX, R13")
		g.i("IMUL3Q $%d, CX, AX", mrMax)
		g.i("ADDQ AX, DI")
		g.i("SUBQ $%d, R8", mrMax)
		g.i("JNZ %s_rows", gr.label)
		g.i("JMP done")
		g.p("%s_tail:", gr.label)
		for mr := 1; mr < mrMax; mr++ {
			g.i("CMPQ R8, $%d", mr)
			g.i("JEQ %s_r%d", gr.label, mr)
		}
		g.i("JMP done")
		for mr := 1; mr < mrMax; mr++ {
			g.p("%s_r%d:", gr.label, mr)
			g.body(k, mr, gr.nv, gr.masked, fmt.Sprintf("%s_r%d", gr.label, mr), betaOff)
			g.i("JMP done")
		}
	}
	g.p("done:")
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

// loadMaskAVX2 loads into Y15 a lane mask with the first CX lanes set.
func (g *gen) loadMaskAVX2(e elemType) {
	g.i("MOVQ $%d, AX", 32/e.size)
	g.i("SUBQ CX, AX")
	g.i("LEAQ maskTab<>(SB), BX")
	g.i("VMOVUPS (BX)(AX*%d), %s", e.size, maskRegAVX2)
}

// body emits one register tile of mr rows and nv vectors: zero the
// accumulators, run the k loop, scale by alpha, add beta·C, store.
func (g *gen) body(k kernel, mr, nv int, masked bool, lbl string, betaOff int) {
	e := k.e
	last := func(v int) bool { return masked && v == nv-1 }
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			r := k.acc(i, v, nv)
			if k.z() {
				g.i("VPXORD %s, %s, %s", r, r, r)
			} else {
				g.i("VXORPS %s, %s, %s", r, r, r)
			}
		}
	}
	g.i("MOVQ R13, SI")
	if mr > 4 {
		g.i("LEAQ (SI)(R9*4), DX")
	}
	if mr > 8 {
		g.i("LEAQ (DX)(R9*4), BX")
	}
	g.i("MOVQ b+48(FP), AX")
	g.i("MOVQ k+16(FP), CX")
	g.i("PCALIGN $16")
	g.p("%s_k:", lbl)
	for v := 0; v < nv; v++ {
		off := ""
		if v > 0 {
			off = fmt.Sprint(v * k.vecB)
		}
		switch {
		case last(v) && k.z():
			g.i("VMOVU%s.Z %s(AX), K1, %s", e.sfx, off, k.breg(v))
		case last(v):
			g.i("VMASKMOV%s %s(AX), %s, %s", e.sfx, off, maskRegAVX2, k.breg(v))
		default:
			g.i("VMOVU%s %s(AX), %s", e.sfx, off, k.breg(v))
		}
	}
	for i := 0; i < mr; i++ {
		g.i("%s %s, %s", e.bcast, aAddr(i), k.bc(i))
		for v := 0; v < nv; v++ {
			g.i("VFMADD231%s %s, %s, %s", e.sfx, k.breg(v), k.bc(i), k.acc(i, v, nv))
		}
	}
	g.i("ADDQ R11, SI")
	if mr > 4 {
		g.i("ADDQ R11, DX")
	}
	if mr > 8 {
		g.i("ADDQ R11, BX")
	}
	g.i("ADDQ R12, AX")
	g.i("DECQ CX")
	g.i("JNZ %s_k", lbl)

	// Store: C = alpha·acc + beta·C, where beta == 0 never reads C.
	g.i("MOVQ ldc+72(FP), CX")
	g.i("SHLQ $%d, CX", e.shift)
	g.i("LEAQ (CX)(CX*2), SI")
	if mr > 4 {
		g.i("LEAQ (DI)(CX*4), DX")
	}
	if mr > 8 {
		g.i("LEAQ (DX)(CX*4), BX")
	}
	g.i("%s alpha+80(FP), %s", e.bcast, k.alphaReg())
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			r := k.acc(i, v, nv)
			g.i("VMUL%s %s, %s, %s", e.sfx, k.alphaReg(), r, r)
		}
	}
	if e.size == 4 {
		g.i("MOVL beta+%d(FP), AX", betaOff)
		g.i("SHLL $1, AX")
	} else {
		g.i("MOVQ beta+%d(FP), AX", betaOff)
		g.i("SHLQ $1, AX")
	}
	g.i("JZ %s_st", lbl)
	g.i("%s beta+%d(FP), %s", e.bcast, betaOff, k.betaReg())
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			r := k.acc(i, v, nv)
			addr := cAddr(i, v*k.vecB)
			switch {
			case last(v) && k.z():
				g.i("VFMADD231%s %s, %s, K1, %s", e.sfx, addr, k.betaReg(), r)
			case last(v):
				g.i("VMASKMOV%s %s, %s, Y14", e.sfx, addr, maskRegAVX2)
				g.i("VFMADD231%s Y14, %s, %s", e.sfx, k.betaReg(), r)
			default:
				g.i("VFMADD231%s %s, %s, %s", e.sfx, addr, k.betaReg(), r)
			}
		}
	}
	g.p("%s_st:", lbl)
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			r := k.acc(i, v, nv)
			addr := cAddr(i, v*k.vecB)
			switch {
			case last(v) && k.z():
				g.i("VMOVU%s %s, K1, %s", e.sfx, r, addr)
			case last(v):
				g.i("VMASKMOV%s %s, %s, %s", e.sfx, r, maskRegAVX2, addr)
			default:
				g.i("VMOVU%s %s, %s", e.sfx, r, addr)
			}
		}
	}
}

// Vector helpers (AVX2 + FMA): they process n elements, n a multiple of the
// lane count; the Go caller does the tail.

func (g *gen) axpy(e elemType) {
	vl := 32 / e.size
	name := "axpy" + e.name + "AVX2"
	g.p("// func %s(alpha %s, x, y *%s, n int)", name, e.goTyp, e.goTyp)
	g.p("TEXT ·%s(SB), NOSPLIT, $0-32", name)
	g.i("%s alpha+0(FP), Y15", e.bcast)
	g.i("MOVQ x+8(FP), SI")
	g.i("MOVQ y+16(FP), DI")
	g.i("MOVQ n+24(FP), CX")
	g.i("CMPQ CX, $%d", 4*vl)
	g.i("JLT one")
	g.p("four:")
	for v := 0; v < 4; v++ {
		g.i("VMOVU%s %d(DI), Y%d", e.sfx, 32*v, v)
	}
	for v := 0; v < 4; v++ {
		g.i("VFMADD231%s %d(SI), Y15, Y%d", e.sfx, 32*v, v)
	}
	for v := 0; v < 4; v++ {
		g.i("VMOVU%s Y%d, %d(DI)", e.sfx, v, 32*v)
	}
	g.i("ADDQ $128, SI")
	g.i("ADDQ $128, DI")
	g.i("SUBQ $%d, CX", 4*vl)
	g.i("CMPQ CX, $%d", 4*vl)
	g.i("JGE four")
	g.p("one:")
	g.i("TESTQ CX, CX")
	g.i("JZ done")
	g.i("VMOVU%s (DI), Y0", e.sfx)
	g.i("VFMADD231%s (SI), Y15, Y0", e.sfx)
	g.i("VMOVU%s Y0, (DI)", e.sfx)
	g.i("ADDQ $32, SI")
	g.i("ADDQ $32, DI")
	g.i("SUBQ $%d, CX", vl)
	g.i("JMP one")
	g.p("done:")
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

func (g *gen) scal(e elemType) {
	vl := 32 / e.size
	name := "scal" + e.name + "AVX2"
	g.p("// func %s(alpha %s, x *%s, n int)", name, e.goTyp, e.goTyp)
	g.p("TEXT ·%s(SB), NOSPLIT, $0-24", name)
	g.i("%s alpha+0(FP), Y15", e.bcast)
	g.i("MOVQ x+8(FP), DI")
	g.i("MOVQ n+16(FP), CX")
	g.i("CMPQ CX, $%d", 4*vl)
	g.i("JLT one")
	g.p("four:")
	for v := 0; v < 4; v++ {
		g.i("VMUL%s %d(DI), Y15, Y%d", e.sfx, 32*v, v)
	}
	for v := 0; v < 4; v++ {
		g.i("VMOVU%s Y%d, %d(DI)", e.sfx, v, 32*v)
	}
	g.i("ADDQ $128, DI")
	g.i("SUBQ $%d, CX", 4*vl)
	g.i("CMPQ CX, $%d", 4*vl)
	g.i("JGE four")
	g.p("one:")
	g.i("TESTQ CX, CX")
	g.i("JZ done")
	g.i("VMUL%s (DI), Y15, Y0", e.sfx)
	g.i("VMOVU%s Y0, (DI)", e.sfx)
	g.i("ADDQ $32, DI")
	g.i("SUBQ $%d, CX", vl)
	g.i("JMP one")
	g.p("done:")
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

func (g *gen) dot(e elemType) {
	vl := 32 / e.size
	name := "dot" + e.name + "AVX2"
	g.p("// func %s(x, y *%s, n int) %s", name, e.goTyp, e.goTyp)
	g.p("TEXT ·%s(SB), NOSPLIT, $0-%d", name, 24+e.size)
	g.i("MOVQ x+0(FP), SI")
	g.i("MOVQ y+8(FP), DI")
	g.i("MOVQ n+16(FP), CX")
	for v := 0; v < 4; v++ {
		g.i("VXORPS Y%d, Y%d, Y%d", v, v, v)
	}
	g.i("CMPQ CX, $%d", 4*vl)
	g.i("JLT one")
	g.p("four:")
	for v := 0; v < 4; v++ {
		g.i("VMOVU%s %d(SI), Y%d", e.sfx, 32*v, 4+v)
	}
	for v := 0; v < 4; v++ {
		g.i("VFMADD231%s %d(DI), Y%d, Y%d", e.sfx, 32*v, 4+v, v)
	}
	g.i("ADDQ $128, SI")
	g.i("ADDQ $128, DI")
	g.i("SUBQ $%d, CX", 4*vl)
	g.i("CMPQ CX, $%d", 4*vl)
	g.i("JGE four")
	g.p("one:")
	g.i("TESTQ CX, CX")
	g.i("JZ sum")
	g.i("VMOVU%s (SI), Y4", e.sfx)
	g.i("VFMADD231%s (DI), Y4, Y0", e.sfx)
	g.i("ADDQ $32, SI")
	g.i("ADDQ $32, DI")
	g.i("SUBQ $%d, CX", vl)
	g.i("JMP one")
	g.p("sum:")
	g.i("VADD%s Y1, Y0, Y0", e.sfx)
	g.i("VADD%s Y3, Y2, Y2", e.sfx)
	g.i("VADD%s Y2, Y0, Y0", e.sfx)
	g.i("VEXTRACTF128 $1, Y0, X1")
	g.i("VADD%s X1, X0, X0", e.sfx)
	if e.size == 4 {
		g.i("VPERMILPS $0x4e, X0, X1")
		g.i("VADDPS X1, X0, X0")
		g.i("VPERMILPS $0xb1, X0, X1")
		g.i("VADDPS X1, X0, X0")
		g.i("VZEROUPPER")
		g.i("MOVSS X0, ret+24(FP)")
	} else {
		g.i("VPERMILPD $1, X0, X1")
		g.i("VADDPD X1, X0, X0")
		g.i("VZEROUPPER")
		g.i("MOVSD X0, ret+24(FP)")
	}
	g.i("RET")
	g.p("")
}

// packT32 transposes float32 for the packed Bᵀ panel: 8 source rows (given as
// 8 pointers, so that the caller can repeat the last row at an edge) times kc
// columns become kc rows of 8 at dst, row stride w (8, 16, 24 or 32
// elements). Whole blocks of 8 columns use the AVX 8×8 transpose; a last
// partial block is read with a mask, and all 8 destination rows are written,
// so dst needs roundUp(kc, 8) rows.
func (g *gen) packT32() {
	g.p("// func packT32AVX2(dst *float32, w int, rows *[8]*float32, kc int)")
	g.p("TEXT ·packT32AVX2(SB), NOSPLIT, $0-32")
	g.i("MOVQ rows+16(FP), AX")
	rowRegs := []string{"R8", "R9", "R10", "R11", "R12", "R13", "BX", "DX"}
	for i, r := range rowRegs {
		g.i("MOVQ %d(AX), %s", 8*i, r)
	}
	g.i("MOVQ dst+0(FP), DI")
	g.i("MOVQ kc+24(FP), CX")
	g.i("XORQ AX, AX")
	g.i("MOVQ w+8(FP), SI")
	for _, w := range []int{8, 16, 24} {
		g.i("CMPQ SI, $%d", w)
		g.i("JEQ w%d", w)
	}
	g.i("JMP w32")
	for _, w := range []int{8, 16, 24, 32} {
		g.p("w%d:", w)
		g.i("CMPQ CX, $8")
		g.i("JLT w%d_tail", w)
		g.p("w%d_loop:", w)
		for i, r := range rowRegs {
			g.i("VMOVUPS (%s)(AX*1), Y%d", r, i)
		}
		g.transpose8x8()
		for t := 0; t < 8; t++ {
			g.i("VMOVUPS Y%d, %d(DI)", 8+t, 4*w*t)
		}
		g.i("ADDQ $32, AX")
		g.i("ADDQ $%d, DI", 4*w*8)
		g.i("SUBQ $8, CX")
		g.i("CMPQ CX, $8")
		g.i("JGE w%d_loop", w)
		g.p("w%d_tail:", w)
		g.i("TESTQ CX, CX")
		g.i("JZ done")
		// Mask with the first CX lanes set, from maskTab (Y15).
		g.i("MOVQ $8, SI")
		g.i("SUBQ CX, SI")
		g.i("LEAQ maskTab<>(SB), CX")
		g.i("VMOVUPS (CX)(SI*4), Y15")
		for i, r := range rowRegs {
			g.i("VMASKMOVPS (%s)(AX*1), Y15, Y%d", r, i)
		}
		g.transpose8x8()
		for t := 0; t < 8; t++ {
			g.i("VMOVUPS Y%d, %d(DI)", 8+t, 4*w*t)
		}
		g.i("JMP done")
	}
	g.p("done:")
	g.i("VZEROUPPER")
	g.i("RET")
	g.p("")
}

// transpose8x8 transposes the 8×8 float32 block in Y0..Y7 (rows) into
// Y8..Y15 (columns); Y0..Y7 are clobbered.
func (g *gen) transpose8x8() {
	// Interleave pairs of rows.
	for i := 0; i < 8; i += 2 {
		g.i("VUNPCKLPS Y%d, Y%d, Y%d", i+1, i, 8+i)   // t[i]   = r0[0] r1[0] r0[1] r1[1] | ...
		g.i("VUNPCKHPS Y%d, Y%d, Y%d", i+1, i, 8+i+1) // t[i+1] = r0[2] r1[2] r0[3] r1[3] | ...
	}
	// Combine 64-bit pairs of t0/t2, t1/t3, t4/t6, t5/t7.
	for _, q := range [][3]int{{8, 10, 0}, {9, 11, 2}, {12, 14, 4}, {13, 15, 6}} {
		g.i("VSHUFPS $0x44, Y%d, Y%d, Y%d", q[1], q[0], q[2])   // s = lo pairs
		g.i("VSHUFPS $0xee, Y%d, Y%d, Y%d", q[1], q[0], q[2]+1) // s+1 = hi pairs
	}
	// Now Y0..Y3 hold rows 0-3's columns 0,1,2,3 (low lane) and 4,5,6,7 (high
	// lane); Y4..Y7 the same for rows 4-7. Swap 128-bit halves.
	for c := 0; c < 4; c++ {
		g.i("VPERM2F128 $0x20, Y%d, Y%d, Y%d", 4+c, c, 8+c)
		g.i("VPERM2F128 $0x31, Y%d, Y%d, Y%d", 4+c, c, 12+c)
	}
}

const header = `// Code generated by go run ./internal/asmgen; DO NOT EDIT.

//go:build amd64 && !purego

#include "textflag.h"

`

func main() {
	out := flag.String("out", ".", "folder to write the .s files into")
	flag.Parse()
	for name, text := range generate() {
		if err := os.WriteFile(filepath.Join(*out, name), text, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// generate returns the contents of the generated files by name.
func generate() map[string][]byte {
	var g gen
	g.buf.WriteString(header)
	g.p("// maskTab: 32 bytes of ones then 32 of zeros; a load at byte offset")
	g.p("// 32 − r·size gives an AVX2 mask whose first r lanes are set.")
	for off := 0; off < 64; off += 8 {
		v := "$0xffffffffffffffff"
		if off >= 32 {
			v = "$0"
		}
		g.p("DATA maskTab<>+%d(SB)/8, %s", off, v)
	}
	g.p("GLOBL maskTab<>(SB), RODATA|NOPTR, $64")
	g.p("")
	for _, k := range kernels {
		g.kernel(k)
	}
	g.packT32()

	var v gen
	v.buf.WriteString(header)
	for _, e := range []elemType{f32, f64} {
		v.axpy(e)
		v.scal(e)
		v.dot(e)
	}
	return map[string][]byte{"gemm_amd64.s": g.buf.Bytes(), "vec_amd64.s": v.buf.Bytes()}
}

// kernels are the generated GEMM kernels. AVX-512 (32 vector registers): 8
// rows × 2 vectors or 12 rows × 1 vector of accumulators; AVX2 (16
// registers): 6 × 2 or 12 × 1. The Go side (gemm.go) needs only the panel
// width, two vectors.
var kernels = []kernel{
	{isa: "AVX512", e: f32, mr: 8, mr1: 12, vecB: 64},
	{isa: "AVX512", e: f64, mr: 8, mr1: 12, vecB: 64},
	{isa: "AVX2", e: f32, mr: 6, mr1: 12, vecB: 32},
	{isa: "AVX2", e: f64, mr: 6, mr1: 12, vecB: 32},
}
