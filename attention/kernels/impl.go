package kernels

import (
	"fmt"
	"sync/atomic"
)

// implKind names one implementation of the kernels.
type implKind uint32

const (
	implGeneric implKind = iota // plain Go, every platform
	implAVX2                    // AVX2 + FMA assembly
	implAVX512                  // AVX-512F assembly
)

var implNames = [...]string{implGeneric: "generic", implAVX2: "avx2", implAVX512: "avx512"}

func (k implKind) String() string { return implNames[k] }

// supported reports whether this build and CPU can run k.
func (k implKind) supported() bool {
	switch k {
	case implGeneric:
		return true
	case implAVX2:
		return haveAVX2
	case implAVX512:
		return haveAVX512
	}
	return false
}

// bestImpl is the fastest implementation this build and CPU support.
func bestImpl() implKind {
	switch {
	case haveAVX512:
		return implAVX512
	case haveAVX2:
		return implAVX2
	}
	return implGeneric
}

// supportedImpls lists the implementations this build and CPU can run.
func supportedImpls() []implKind {
	var out []implKind
	for k := range implNames {
		if implKind(k).supported() {
			out = append(out, implKind(k))
		}
	}
	return out
}

// active is the implementation in use. It is the package's only mutable
// state: chosen once at start-up, changed only by SetImpl.
var active atomic.Uint32

func init() { active.Store(uint32(bestImpl())) }

func current() implKind { return implKind(active.Load()) }

// Impl names the implementation in use: "avx512", "avx2" or "generic". It is
// the fastest one the CPU supports unless SetImpl chose another.
func Impl() string { return current().String() }

// SetImpl switches every kernel of the package to the named implementation
// ("avx512", "avx2" or "generic"; "auto" restores the start-up choice). It is
// meant for tests and benchmarks; it is safe to call concurrently with the
// kernels, which read the choice once per call. It fails if the name is
// unknown or the CPU or build cannot run that implementation.
func SetImpl(name string) error {
	if name == "auto" {
		active.Store(uint32(bestImpl()))
		return nil
	}
	for k, n := range implNames {
		if n != name {
			continue
		}
		if !implKind(k).supported() {
			return fmt.Errorf("kernels: implementation %q is not supported by this CPU or build", name)
		}
		active.Store(uint32(k))
		return nil
	}
	return fmt.Errorf("kernels: unknown implementation %q (want avx512, avx2, generic or auto)", name)
}
