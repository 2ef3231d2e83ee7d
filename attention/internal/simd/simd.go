// Package simd chooses, at start-up, which implementation of a package's SIMD
// kernels runs (AVX-512, AVX2+FMA or plain Go), and lets tests and benchmarks
// switch it. It is shared by attention/kernels and attention/vmath.
package simd

import (
	"fmt"
	"sync/atomic"
)

// Kind names one implementation of a package's kernels.
type Kind uint32

const (
	Generic Kind = iota // plain Go, every platform
	AVX2                // AVX2 + FMA assembly
	AVX512              // AVX-512F assembly
)

// Names lists the implementation names, indexed by Kind.
var Names = [...]string{Generic: "generic", AVX2: "avx2", AVX512: "avx512"}

func (k Kind) String() string { return Names[k] }

// Selector holds one package's choice. The choice is the package's only
// mutable state: made once at start-up, changed only by Set.
type Selector struct {
	pkg          string
	avx2, avx512 bool
	active       atomic.Uint32
}

// NewSelector starts with the fastest implementation the build and CPU
// support; pkg prefixes error messages.
func NewSelector(pkg string, haveAVX2, haveAVX512 bool) *Selector {
	s := &Selector{pkg: pkg, avx2: haveAVX2, avx512: haveAVX512}
	s.active.Store(uint32(s.Best()))
	return s
}

// Supports reports whether this build and CPU can run k.
func (s *Selector) Supports(k Kind) bool {
	switch k {
	case Generic:
		return true
	case AVX2:
		return s.avx2
	case AVX512:
		return s.avx512
	}
	return false
}

// Best is the fastest implementation this build and CPU support.
func (s *Selector) Best() Kind {
	switch {
	case s.avx512:
		return AVX512
	case s.avx2:
		return AVX2
	}
	return Generic
}

// Supported lists the implementations this build and CPU can run.
func (s *Selector) Supported() []Kind {
	var out []Kind
	for k := range Names {
		if s.Supports(Kind(k)) {
			out = append(out, Kind(k))
		}
	}
	return out
}

// Current is the implementation in use.
func (s *Selector) Current() Kind { return Kind(s.active.Load()) }

// Set switches to the named implementation ("avx512", "avx2" or "generic";
// "auto" restores the start-up choice). It fails if the name is unknown or
// the CPU or build cannot run it. Safe to call concurrently with the kernels,
// which read the choice once per call.
func (s *Selector) Set(name string) error {
	if name == "auto" {
		s.active.Store(uint32(s.Best()))
		return nil
	}
	for k, n := range Names {
		if n != name {
			continue
		}
		if !s.Supports(Kind(k)) {
			return fmt.Errorf("%s: implementation %q is not supported by this CPU or build", s.pkg, name)
		}
		s.active.Store(uint32(k))
		return nil
	}
	return fmt.Errorf("%s: unknown implementation %q (want avx512, avx2, generic or auto)", s.pkg, name)
}
