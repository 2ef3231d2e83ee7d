// Command asmgen writes the amd64 assembly of package vmath: every kernel in
// an AVX-512F variant (16 lanes, Z registers, opmask tails) and an AVX2+FMA
// variant (8 lanes, Y registers, VMASKMOVPS tails). Run it through
// `go generate` in attention/vmath; the output is committed, so building the
// package needs no generator.
//
// Each kernel body is written once as lines of Plan 9 assembly with
// placeholders: {name} is a per-lane temporary or accumulator (one register
// for each of the u vectors done per iteration) or a kernel-wide register (a
// broadcast scalar, a clamp bound, the AVX2 tail mask). "LOAD p {r}" and
// "STORE {r} p" move one vector of pointer argument p at the loop's byte
// offset AX, masked in the tail.
// Constants live in 64-byte read-only tables (16 copies), read as memory
// operands. The body's operations, constants and order match the plain-Go
// kernels of generic.go, except that the assembly fuses multiply-adds.
//
// Every function ends with VZEROUPPER before RET.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	c "github.com/sinklab/sinklab/attention/vmath/internal/coef"
)

// isa is one instruction-set variant.
type isa struct {
	name  string // function name suffix
	z     bool   // AVX-512 (Z registers, opmasks)
	lanes int    // float32 lanes per vector
	bytes int    // bytes per vector
}

var isas = []isa{
	{name: "AVX512", z: true, lanes: 16, bytes: 64},
	{name: "AVX2", z: false, lanes: 8, bytes: 32},
}

// v names vector register i.
func (a isa) v(i int) string {
	if a.z {
		return fmt.Sprintf("Z%d", i)
	}
	return fmt.Sprintf("Y%d", i)
}

// consts collects the read-only constant tables.
type consts struct {
	order []string
	bits  map[string]uint32
}

// ref registers a table of 16 copies of bits and returns its memory operand.
func (t *consts) ref(name string, bits uint32) string {
	if old, ok := t.bits[name]; ok {
		if old != bits {
			log.Fatalf("asmgen: constant %s defined twice with different values", name)
		}
	} else {
		t.bits[name] = bits
		t.order = append(t.order, name)
	}
	return name + "<>(SB)"
}

func (t *consts) emit(w *bytes.Buffer) {
	// maskTab: 8 lanes of all ones then 8 of zeros; the 8 words from
	// maskTab+4·(8−r) select the first r lanes (the AVX2 tail mask).
	for i := range 16 {
		v := "$0xffffffff"
		if i >= 8 {
			v = "$0"
		}
		fmt.Fprintf(w, "DATA maskTab<>+%d(SB)/4, %s\n", 4*i, v)
	}
	fmt.Fprintf(w, "GLOBL maskTab<>(SB), RODATA|NOPTR, $64\n\n")
	names := append([]string(nil), t.order...)
	sort.Strings(names)
	for _, n := range names {
		for i := range 16 {
			fmt.Fprintf(w, "DATA %s<>+%d(SB)/4, $0x%08x\n", n, 4*i, t.bits[n])
		}
		fmt.Fprintf(w, "GLOBL %s<>(SB), RODATA|NOPTR, $64\n\n", n)
	}
}

// gen emits one function.
type gen struct {
	w  *bytes.Buffer
	a  isa
	kt *consts

	u      int               // vectors per unrolled iteration
	base   int               // first register of the per-lane temporaries
	temps  []string          // per-lane temporaries: slot s, lane j is register base+s·u+j
	accs   map[string]int    // per-lane accumulators: lane j is register first+j
	named  map[string]string // kernel-wide registers
	ptr    map[string]string // pointer argument → base register
	masked bool              // emitting the masked tail
}

func newGen(w *bytes.Buffer, a isa, kt *consts) *gen {
	return &gen{w: w, a: a, kt: kt, u: 1, accs: map[string]int{}, named: map[string]string{}, ptr: map[string]string{}}
}

// f is the memory operand of a table of the float32 constant v.
func (g *gen) f(name string, v float32) string { return g.kt.ref(name, math.Float32bits(v)) }

func (g *gen) op(format string, args ...any) { fmt.Fprintf(g.w, "\t"+format+"\n", args...) }

func (g *gen) label(l string) { fmt.Fprintf(g.w, "%s:\n", l) }

func (g *gen) comment(s string) { fmt.Fprintf(g.w, "\t// %s\n", s) }

// text opens function name+ISA; sig is its Go signature with %s for the ISA.
func (g *gen) text(name, sig string, argSize int) {
	fmt.Fprintf(g.w, "\n// "+sig+"\n", g.a.name)
	fmt.Fprintf(g.w, "TEXT ·%s%s(SB), NOSPLIT, $0-%d\n", name, g.a.name, argSize)
}

func (g *gen) ret() {
	g.op("VZEROUPPER")
	g.op("RET")
}

// reg is the register of per-lane temporary name in lane j.
func (g *gen) reg(name string, j int) string {
	for s, t := range g.temps {
		if t == name {
			return g.a.v(g.base + s*g.u + j)
		}
	}
	if first, ok := g.accs[name]; ok {
		return g.a.v(first + j)
	}
	if r, ok := g.named[name]; ok {
		return r
	}
	log.Fatalf("asmgen: unknown register {%s}", name)
	return ""
}

// expand replaces the placeholders of line for lane j.
func (g *gen) expand(line string, j int) string {
	var out strings.Builder
	for {
		i := strings.IndexByte(line, '{')
		if i < 0 {
			out.WriteString(line)
			return out.String()
		}
		k := strings.IndexByte(line[i:], '}')
		if k < 0 {
			log.Fatalf("asmgen: unclosed placeholder in %q", line)
		}
		out.WriteString(line[:i])
		out.WriteString(g.reg(line[i+1:i+k], j))
		line = line[i+k+1:]
	}
}

// L emits each line once per lane j < u (all lanes of a line before the next
// line, so the lanes' dependency chains interleave).
func (g *gen) L(u int, lines ...string) {
	for _, line := range lines {
		for j := range u {
			s := g.expand(line, j)
			f := strings.Fields(s)
			switch {
			case f[0] == "LOAD":
				g.load(f[2], f[1], j)
			case f[0] == "STORE":
				g.store(f[1], f[2], j)
			default:
				g.op("%s", s)
			}
		}
	}
}

func (g *gen) mem(p string, j int) string {
	r, ok := g.ptr[p]
	if !ok {
		log.Fatalf("asmgen: unknown pointer %s", p)
	}
	if j == 0 {
		return fmt.Sprintf("(%s)(AX*1)", r)
	}
	return fmt.Sprintf("%d(%s)(AX*1)", j*g.a.bytes, r)
}

// load reads one vector of p (lane j); masked-off lanes read as zero.
func (g *gen) load(dst, p string, j int) {
	m := g.mem(p, j)
	switch {
	case !g.masked:
		g.op("VMOVUPS %s, %s", m, dst)
	case g.a.z:
		g.op("VMOVUPS.Z %s, K1, %s", m, dst)
	default:
		g.op("VMASKMOVPS %s, %s, %s", m, g.named["mask"], dst)
	}
}

// store writes one vector to p (lane j), only the selected lanes in the tail.
func (g *gen) store(src, p string, j int) {
	m := g.mem(p, j)
	switch {
	case !g.masked:
		g.op("VMOVUPS %s, %s", src, m)
	case g.a.z:
		g.op("VMOVUPS %s, K1, %s", src, m)
	default:
		g.op("VMASKMOVPS %s, %s, %s", src, g.named["mask"], m)
	}
}

// subMean emits {dst} = {src} − {mean}, with the lanes outside the tail mask
// zeroed (so that they add nothing to sums of products).
func (g *gen) subMeanZ(u int, dst string) {
	switch {
	case !g.masked:
		g.L(u, "VSUBPS {mean}, {"+dst+"}, {"+dst+"}")
	case g.a.z:
		g.L(u, "VSUBPS.Z {mean}, {"+dst+"}, K1, {"+dst+"}")
	default:
		g.L(u, "VSUBPS {mean}, {"+dst+"}, {"+dst+"}", "VANDPS {mask}, {"+dst+"}, {"+dst+"}")
	}
}

// setMask sets the tail mask to the first CX lanes (0 < CX < lanes). It
// overwrites BX (and CX for AVX2).
func (g *gen) setMask() {
	if g.a.z {
		g.op("MOVL $1, BX")
		g.op("SHLL CX, BX")
		g.op("DECL BX")
		g.op("KMOVW BX, K1")
		return
	}
	g.op("SHLQ $2, CX")
	g.op("LEAQ maskTab<>+32(SB), BX")
	g.op("SUBQ CX, BX")
	g.op("VMOVDQU (BX), %s", g.named["mask"])
}

// vecLoop emits a loop over the CX elements from byte offset AX: g.u vectors
// per iteration, then single vectors, then the masked tail of the last
// CX mod lanes elements. body(u) does u vectors at offset AX; maskFromCX sets
// the tail mask from the remaining count (else it was set before).
func (g *gen) vecLoop(pfx string, maskFromCX bool, body func(u int)) {
	lanes, nb := g.a.lanes, g.a.bytes
	if g.u > 1 {
		g.label(pfx + "U")
		g.op("CMPQ CX, $%d", g.u*lanes)
		g.op("JLT %s1", pfx)
		body(g.u)
		g.op("ADDQ $%d, AX", g.u*nb)
		g.op("SUBQ $%d, CX", g.u*lanes)
		g.op("JMP %sU", pfx)
	}
	g.label(pfx + "1")
	g.op("CMPQ CX, $%d", lanes)
	g.op("JLT %sT", pfx)
	body(1)
	g.op("ADDQ $%d, AX", nb)
	g.op("SUBQ $%d, CX", lanes)
	g.op("JMP %s1", pfx)
	g.label(pfx + "T")
	g.op("TESTQ CX, CX")
	g.op("JZ %sD", pfx)
	if maskFromCX {
		g.setMask()
	}
	g.masked = true
	body(1)
	g.masked = false
	g.label(pfx + "D")
}

// zero clears vector registers first..first+n−1 (all below 16, so the VEX
// form also clears the upper half of a Z register).
func (g *gen) zero(first, n int) {
	for i := first; i < first+n; i++ {
		g.op("VXORPS Y%d, Y%d, Y%d", i, i, i)
	}
}

// reduce adds accumulators first..first+n−1 (below 16) into a scalar in
// X<first>, using register tmp (below 16) as scratch.
func (g *gen) reduce(first, n, tmp int) {
	for step := 1; step < n; step *= 2 {
		for i := 0; i+step < n; i += 2 * step {
			g.op("VADDPS %s, %s, %s", g.a.v(first+i+step), g.a.v(first+i), g.a.v(first+i))
		}
	}
	a, t := first, tmp
	if g.a.z {
		g.op("VEXTRACTF64X4 $1, Z%d, Y%d", a, t)
		g.op("VADDPS Y%d, Y%d, Y%d", t, a, a)
	}
	g.op("VEXTRACTF128 $1, Y%d, X%d", a, t)
	g.op("VADDPS X%d, X%d, X%d", t, a, a)
	g.op("VMOVHLPS X%d, X%d, X%d", a, a, t)
	g.op("VADDPS X%d, X%d, X%d", t, a, a)
	g.op("VMOVSHDUP X%d, X%d", a, t)
	g.op("VADDSS X%d, X%d, X%d", t, a, a)
}

// elementwise emits the frame of an elementwise kernel whose pointer
// arguments ptrs come first (8 bytes each) followed by n int: setup, the
// vector loop (body), then finish.
func (g *gen) elementwise(ptrs []string, setup func(), body func(u int), finish func()) {
	regs := []string{"SI", "DI", "DX", "R8", "R9"}
	for i, p := range ptrs {
		g.ptr[p] = regs[i]
		g.op("MOVQ %s+%d(FP), %s", p, 8*i, regs[i])
	}
	g.op("MOVQ n+%d(FP), CX", 8*len(ptrs))
	g.op("XORQ AX, AX")
	if setup != nil {
		setup()
	}
	g.vecLoop("loop", true, body)
	if finish != nil {
		finish()
	}
	g.ret()
}

// pick returns z for AVX-512 and y for AVX2.
func (g *gen) pick(z, y int) int {
	if g.a.z {
		return z
	}
	return y
}

// geluTanh: t = tanh(u), u = x·(√(2/π) + √(2/π)·0.044715·x²) clamped to
// ±TanhClamp (NaN kept: the clamp bound is Intel's first source, so a NaN u
// is returned), tanh(u) = u·P(u²)/Q(u²) clamped to [−1, 1]; y = ½x·t + ½x.
func geluTanh(g *gen) {
	g.text("geluTanh", "func geluTanh%s(x, y, t *float32, n int)", 32)
	g.u = g.pick(4, 2)
	g.temps = []string{"v", "u", "p", "q", "s"}
	g.named["hi"], g.named["lo"] = g.a.v(g.pick(30, 13)), g.a.v(g.pick(31, 14))
	g.named["one"], g.named["mone"] = g.a.v(g.pick(28, 11)), g.a.v(g.pick(29, 12))
	if !g.a.z {
		g.named["mask"] = "Y15"
	}
	half := g.f("half", 0.5)
	body := func(u int) {
		g.L(u,
			"LOAD x {v}",
			"VMULPS {v}, {v}, {s}",
			"VMOVUPS "+g.f("geluC", c.GeluC)+", {u}",
			"VFMADD231PS "+g.f("geluCA", c.GeluCA)+", {s}, {u}",
			"VMULPS {v}, {u}, {u}",
			"VMINPS {u}, {hi}, {u}",
			"VMAXPS {u}, {lo}, {u}",
			"VMULPS {u}, {u}, {s}",
			"VMOVUPS "+g.f("tanhP1", c.TanhP[1])+", {p}",
			"VFMADD231PS "+g.f("tanhP0", c.TanhP[0])+", {s}, {p}",
		)
		for k := 2; k < len(c.TanhP); k++ {
			g.L(u, "VFMADD213PS "+g.f(fmt.Sprintf("tanhP%d", k), c.TanhP[k])+", {s}, {p}")
		}
		g.L(u,
			"VMOVUPS "+g.f("tanhQ1", c.TanhQ[1])+", {q}",
			"VFMADD231PS "+g.f("tanhQ0", c.TanhQ[0])+", {s}, {q}",
		)
		for k := 2; k < len(c.TanhQ); k++ {
			g.L(u, "VFMADD213PS "+g.f(fmt.Sprintf("tanhQ%d", k), c.TanhQ[k])+", {s}, {q}")
		}
		g.L(u,
			"VMULPS {u}, {p}, {p}",
			"VDIVPS {q}, {p}, {p}",
			"VMINPS {p}, {one}, {p}",
			"VMAXPS {p}, {mone}, {p}",
			"STORE {p} t",
			"VMULPS "+half+", {v}, {v}",
			"VFMADD231PS {p}, {v}, {v}",
			"STORE {v} y",
		)
	}
	setup := func() {
		g.op("VMOVUPS %s, %s", g.f("tanhHi", c.TanhClamp), g.named["hi"])
		g.op("VMOVUPS %s, %s", g.f("tanhLo", -c.TanhClamp), g.named["lo"])
		g.op("VMOVUPS %s, %s", g.f("one", 1), g.named["one"])
		g.op("VMOVUPS %s, %s", g.f("mone", -1), g.named["mone"])
	}
	g.elementwise([]string{"x", "y", "t"}, setup, body, nil)
}

// geluTanhBackward: dx = dy·((½ + ½t) + ½x·(1 − t²)·(√(2/π) + 3·√(2/π)·0.044715·x²)),
// x² capped at GeluX2Max.
func geluTanhBackward(g *gen) {
	g.text("geluTanhBackward", "func geluTanhBackward%s(x, t, dy, dx *float32, n int)", 40)
	g.u = g.pick(4, 2)
	g.temps = []string{"v", "t", "a", "b", "d"}
	if !g.a.z {
		g.named["mask"] = "Y15"
	}
	half := g.f("half", 0.5)
	body := func(u int) {
		g.L(u,
			"LOAD x {v}",
			"LOAD t {t}",
			"LOAD dy {d}",
			"VMULPS {v}, {v}, {a}",
			"VMINPS "+g.f("geluX2Max", c.GeluX2Max)+", {a}, {a}",
			"VMOVUPS "+g.f("geluC", c.GeluC)+", {b}",
			"VFMADD231PS "+g.f("geluC3A", c.GeluC3A)+", {a}, {b}",
			"VMOVUPS "+g.f("one", 1)+", {a}",
			"VFNMADD231PS {t}, {t}, {a}",
			"VMULPS "+half+", {v}, {v}",
			"VMULPS {v}, {a}, {a}",
			"VMULPS {b}, {a}, {a}",
			"VMOVUPS "+half+", {b}",
			"VFMADD231PS "+half+", {t}, {b}",
			"VADDPS {a}, {b}, {b}",
			"VMULPS {d}, {b}, {b}",
			"STORE {b} dx",
		)
	}
	g.elementwise([]string{"x", "t", "dy", "dx"}, nil, body, nil)
}

// adamW: m = m·b1 + g·(1−b1); v = v·b2 + g²·(1−b2);
// w = w·decay − (m·step)/(√v·rbc2 + eps).
func adamW(g *gen) {
	g.text("adamW", "func adamW%s(w, grad, m, v *float32, n int, b1, omb1, b2, omb2, decay, step, rbc2, eps float32)", 72)
	g.u = g.pick(2, 1)
	g.temps = []string{"G", "M", "V", "W", "T"}
	scal := []string{"b1", "omb1", "b2", "omb2", "decay", "step", "rbc2", "eps"}
	first := g.pick(20, 7)
	for i, s := range scal {
		g.named[s] = g.a.v(first + i)
	}
	if !g.a.z {
		g.named["mask"] = "Y15"
	}
	setup := func() {
		for i, s := range scal {
			g.op("VBROADCASTSS %s+%d(FP), %s", s, 40+4*i, g.named[s])
		}
	}
	body := func(u int) {
		g.L(u,
			"LOAD grad {G}",
			"LOAD m {M}",
			"LOAD v {V}",
			"LOAD w {W}",
			"VMULPS {omb1}, {G}, {T}",
			"VFMADD231PS {b1}, {M}, {T}",
			"STORE {T} m",
			"VMULPS {G}, {G}, {M}",
			"VMULPS {omb2}, {M}, {M}",
			"VFMADD231PS {b2}, {V}, {M}",
			"STORE {M} v",
			"VSQRTPS {M}, {V}",
			"VFMADD213PS {eps}, {rbc2}, {V}",
			"VMULPS {step}, {T}, {T}",
			"VDIVPS {V}, {T}, {T}",
			"VFMSUB213PS {T}, {decay}, {W}",
			"STORE {W} w",
		)
	}
	g.elementwise([]string{"w", "grad", "m", "v"}, setup, body, nil)
}

// expShift: y = exp(x + nsh) with nsh = −shift, Σ y returned. s = x + nsh and
// its rounding error e (TwoSum, clamped to ±ExpErrMax: a NaN e, from an
// infinite s, becomes the bound and an infinite s decides alone); s clamped to [ExpLo, ExpHi] (NaN kept); n = round(s·log2e);
// r = s − n·C1 − n·C2 + e; y = (r²·P(r) + r + 1)·2^n.
func expShift(g *gen) {
	g.text("expShift", "func expShift%s(x, y *float32, n int, nshift float32) float32", 36)
	g.u = g.pick(2, 1)
	g.accs["acc"] = 0
	g.base = g.u
	g.temps = []string{"X", "S", "A", "B", "N", "P"}
	g.named["nsh"] = g.a.v(g.pick(28, 13))
	g.named["lo"] = g.a.v(g.pick(29, 14))
	g.named["hi"] = g.a.v(g.pick(30, 12))
	if !g.a.z {
		g.named["mask"] = "Y15"
	}
	setup := func() {
		g.op("VBROADCASTSS nshift+24(FP), %s", g.named["nsh"])
		g.op("VMOVUPS %s, %s", g.f("expLo", c.ExpLo), g.named["lo"])
		g.op("VMOVUPS %s, %s", g.f("expHi", c.ExpHi), g.named["hi"])
		g.zero(0, g.u)
	}
	body := func(u int) {
		g.L(u,
			"LOAD x {X}",
			"VADDPS {nsh}, {X}, {S}",
			"VSUBPS {nsh}, {S}, {A}",
			"VSUBPS {A}, {S}, {B}",
			"VSUBPS {A}, {X}, {A}",
			"VSUBPS {B}, {nsh}, {B}",
			"VADDPS {B}, {A}, {A}",
		)
		// e to [−ExpErrMax, ExpErrMax]: the bound is Intel's second source,
		// so a NaN e becomes the bound.
		g.L(u,
			"VMINPS "+g.f("expErrHi", c.ExpErrMax)+", {A}, {A}",
			"VMAXPS "+g.f("expErrLo", -c.ExpErrMax)+", {A}, {A}",
			"VMINPS {S}, {hi}, {S}",
			"VMAXPS {S}, {lo}, {S}",
			"VMULPS "+g.f("log2e", c.ExpLog2e)+", {S}, {N}",
		)
		if g.a.z {
			g.L(u, "VRNDSCALEPS $0, {N}, {N}")
		} else {
			g.L(u, "VROUNDPS $0, {N}, {N}")
		}
		g.L(u,
			"VFNMADD231PS "+g.f("expC1", c.ExpC1)+", {N}, {S}",
			"VFNMADD231PS "+g.f("expC2", c.ExpC2)+", {N}, {S}",
		)
		g.L(u,
			"VADDPS {A}, {S}, {S}",
			"VMOVUPS "+g.f("expP1", c.ExpP[1])+", {P}",
			"VFMADD231PS "+g.f("expP0", c.ExpP[0])+", {S}, {P}",
		)
		for k := 2; k < len(c.ExpP); k++ {
			g.L(u, "VFMADD213PS "+g.f(fmt.Sprintf("expP%d", k), c.ExpP[k])+", {S}, {P}")
		}
		g.L(u,
			"VMULPS {S}, {S}, {X}",
			"VFMADD213PS {S}, {X}, {P}",
			"VADDPS "+g.f("one", 1)+", {P}, {P}",
		)
		if g.a.z {
			g.L(u, "VSCALEFPS {N}, {P}, {P}")
		} else {
			// 2^n as 2^(n>>1)·2^(n−n>>1), each a normal float32.
			bias := g.kt.ref("bias127", 127)
			g.L(u,
				"VCVTPS2DQ {N}, {N}",
				"VPSRAD $1, {N}, {B}",
				"VPSUBD {B}, {N}, {N}",
				"VPADDD "+bias+", {B}, {B}",
				"VPSLLD $23, {B}, {B}",
				"VPADDD "+bias+", {N}, {N}",
				"VPSLLD $23, {N}, {N}",
				"VMULPS {B}, {P}, {P}",
				"VMULPS {N}, {P}, {P}",
			)
		}
		g.L(u, "STORE {P} y")
		switch {
		case !g.masked:
			g.L(u, "VADDPS {P}, {acc}, {acc}")
		case g.a.z:
			g.L(u, "VADDPS {P}, {acc}, K1, {acc}")
		default:
			g.L(u, "VANDPS {mask}, {P}, {P}", "VADDPS {P}, {acc}, {acc}")
		}
	}
	finish := func() {
		g.reduce(0, g.u, g.base)
		g.op("VMOVSS X0, ret+32(FP)")
	}
	g.elementwise([]string{"x", "y"}, setup, body, finish)
}

// layerNormRows, per row: mean = Σx·invD; rstd = 1/√(Σ(x − mean)²·invD + eps);
// y = ((x − mean)·rstd)·g + b.
func layerNormRows(g *gen) {
	g.text("layerNormRows", "func layerNormRows%s(x, gain, b, y, mean, rstd *float32, n, d int, eps, invD float32)", 72)
	g.u = g.pick(4, 2)
	g.accs["acc"] = 0
	g.base = g.u
	g.temps = []string{"t", "gg", "bb"}
	g.named["mean"] = g.a.v(g.pick(16, 12))
	g.named["r"] = g.a.v(g.pick(17, 13))
	if !g.a.z {
		g.named["mask"] = "Y15"
	}
	g.ptr = map[string]string{"x": "SI", "g": "R12", "b": "R13", "y": "DI"}
	g.op("MOVQ x+0(FP), SI")
	g.op("MOVQ gain+8(FP), R12")
	g.op("MOVQ b+16(FP), R13")
	g.op("MOVQ y+24(FP), DI")
	g.op("MOVQ mean+32(FP), R8")
	g.op("MOVQ rstd+40(FP), R9")
	g.op("MOVQ n+48(FP), R10")
	g.op("MOVQ d+56(FP), R11")
	g.comment("tail mask for the last d mod lanes columns")
	g.op("MOVQ R11, CX")
	g.op("ANDQ $%d, CX", g.a.lanes-1)
	g.op("JZ nomask")
	g.setMask()
	g.label("nomask")
	g.op("MOVQ R11, DX")
	g.op("SHLQ $2, DX") // bytes per row
	g.label("row")
	g.comment("mean")
	g.zero(0, g.u)
	g.op("XORQ AX, AX")
	g.op("MOVQ R11, CX")
	g.vecLoop("sum", false, func(u int) {
		g.L(u, "LOAD x {t}", "VADDPS {t}, {acc}, {acc}")
	})
	g.reduce(0, g.u, g.base)
	g.op("VMULSS invD+68(FP), X0, X0")
	g.op("VMOVSS X0, (R8)")
	g.op("VBROADCASTSS X0, %s", g.named["mean"])
	g.comment("rstd from the centered second pass")
	g.zero(0, g.u)
	g.op("XORQ AX, AX")
	g.op("MOVQ R11, CX")
	g.vecLoop("var", false, func(u int) {
		g.L(u, "LOAD x {t}")
		g.subMeanZ(u, "t")
		g.L(u, "VFMADD231PS {t}, {t}, {acc}")
	})
	g.reduce(0, g.u, g.base)
	g.op("VMULSS invD+68(FP), X0, X0")
	g.op("VADDSS eps+64(FP), X0, X0")
	g.op("VSQRTSS X0, X0, X0")
	g.op("VMOVSS %s, X1", g.f("one", 1))
	g.op("VDIVSS X0, X1, X1")
	g.op("VMOVSS X1, (R9)")
	g.op("VBROADCASTSS X1, %s", g.named["r"])
	g.comment("y = (x − mean)·rstd·g + b")
	g.op("XORQ AX, AX")
	g.op("MOVQ R11, CX")
	g.vecLoop("out", false, func(u int) {
		g.L(u,
			"LOAD x {t}",
			"VSUBPS {mean}, {t}, {t}",
			"VMULPS {r}, {t}, {t}",
			"LOAD g {gg}",
			"LOAD b {bb}",
			"VFMADD213PS {bb}, {gg}, {t}",
			"STORE {t} y",
		)
	})
	g.op("ADDQ DX, SI")
	g.op("ADDQ DX, DI")
	g.op("ADDQ $4, R8")
	g.op("ADDQ $4, R9")
	g.op("DECQ R10")
	g.op("JNZ row")
	g.ret()
}

// layerNormRowsBackward, per row: x̂ = (x − mean)·rstd, dx̂ = g·dy;
// s1 = Σdx̂, s2 = Σdx̂·x̂, dg += dy·x̂, db += dy; c1 = rstd·(s1·invD),
// c2 = rstd·(s2·invD); dx = (rstd·dx̂ − c1) − x̂·c2.
func layerNormRowsBackward(g *gen) {
	g.text("layerNormRowsBackward", "func layerNormRowsBackward%s(x, gain, dy, mean, rstd, dx, dg, db *float32, n, d int, invD float32)", 84)
	g.u = g.pick(4, 2)
	g.accs["s1"], g.accs["s2"] = 0, g.u
	g.base = 2 * g.u
	g.temps = []string{"A", "B", "C", "D"}
	g.named["mean"] = g.a.v(g.pick(24, 12))
	g.named["r"] = g.a.v(g.pick(25, 13))
	// c1 and c2 live in the first registers of the reduced accumulators.
	g.named["c1"], g.named["c2"] = g.a.v(0), g.a.v(g.u)
	if !g.a.z {
		g.named["mask"] = "Y15"
	}
	g.ptr = map[string]string{"x": "SI", "g": "R12", "dy": "R8", "dx": "DI", "dg": "R13", "db": "R14"}
	g.op("MOVQ x+0(FP), SI")
	g.op("MOVQ gain+8(FP), R12")
	g.op("MOVQ dy+16(FP), R8")
	g.op("MOVQ mean+24(FP), R9")
	g.op("MOVQ rstd+32(FP), R10")
	g.op("MOVQ dx+40(FP), DI")
	g.op("MOVQ dg+48(FP), R13")
	g.op("MOVQ db+56(FP), R14")
	g.op("MOVQ n+64(FP), R11")
	g.op("MOVQ d+72(FP), DX")
	g.comment("tail mask for the last d mod lanes columns")
	g.op("MOVQ DX, CX")
	g.op("ANDQ $%d, CX", g.a.lanes-1)
	g.op("JZ nomask")
	g.setMask()
	g.label("nomask")
	g.op("MOVQ DX, BX")
	g.op("SHLQ $2, BX") // bytes per row
	g.label("row")
	g.op("VBROADCASTSS (R9), %s", g.named["mean"])
	g.op("VBROADCASTSS (R10), %s", g.named["r"])
	g.zero(0, 2*g.u)
	g.op("XORQ AX, AX")
	g.op("MOVQ DX, CX")
	g.vecLoop("sums", false, func(u int) {
		g.L(u, "LOAD x {A}")
		g.subMeanZ(u, "A")
		g.L(u,
			"VMULPS {r}, {A}, {A}",
			"LOAD dy {B}",
			"LOAD g {C}",
			"VMULPS {B}, {C}, {C}",
			"VADDPS {C}, {s1}, {s1}",
			"VFMADD231PS {A}, {C}, {s2}",
			"LOAD dg {D}",
			"VFMADD231PS {A}, {B}, {D}",
			"STORE {D} dg",
			"LOAD db {D}",
			"VADDPS {B}, {D}, {D}",
			"STORE {D} db",
		)
	})
	g.reduce(0, g.u, g.base)
	g.reduce(g.u, g.u, g.base)
	g.op("VMULSS invD+80(FP), X0, X0")
	g.op("VMULSS (R10), X0, X0")
	g.op("VMULSS invD+80(FP), X%d, X%d", g.u, g.u)
	g.op("VMULSS (R10), X%d, X%d", g.u, g.u)
	g.op("VBROADCASTSS X0, %s", g.named["c1"])
	g.op("VBROADCASTSS X%d, %s", g.u, g.named["c2"])
	g.op("XORQ AX, AX")
	g.op("MOVQ DX, CX")
	g.vecLoop("dx", false, func(u int) {
		g.L(u,
			"LOAD x {A}",
			"VSUBPS {mean}, {A}, {A}",
			"VMULPS {r}, {A}, {A}",
			"LOAD dy {B}",
			"LOAD g {C}",
			"VMULPS {B}, {C}, {C}",
			"VFMSUB213PS {c1}, {r}, {C}",
			"VFNMADD231PS {c2}, {A}, {C}",
			"STORE {C} dx",
		)
	})
	g.op("ADDQ BX, SI")
	g.op("ADDQ BX, R8")
	g.op("ADDQ BX, DI")
	g.op("ADDQ $4, R9")
	g.op("ADDQ $4, R10")
	g.op("DECQ R11")
	g.op("JNZ row")
	g.ret()
}

var kernels = []func(*gen){geluTanh, geluTanhBackward, layerNormRows, layerNormRowsBackward, adamW, expShift}

func main() {
	out := flag.String("out", ".", "directory to write vmath_amd64.s into")
	flag.Parse()
	kt := &consts{bits: map[string]uint32{}}
	var body bytes.Buffer
	for _, k := range kernels {
		for _, a := range isas {
			k(newGen(&body, a, kt))
		}
	}
	var file bytes.Buffer
	file.WriteString("// Code generated by go run ./internal/asmgen; DO NOT EDIT.\n\n//go:build amd64 && !purego\n\n#include \"textflag.h\"\n\n")
	kt.emit(&file)
	file.Write(body.Bytes())
	if err := os.WriteFile(filepath.Join(*out, "vmath_amd64.s"), file.Bytes(), 0o644); err != nil {
		log.Fatalf("asmgen: %v", err)
	}
}
