package kernels

import "github.com/sinklab/sinklab/attention/internal/simd"

// implKind names one implementation of the package's kernels.
type implKind = simd.Kind

const (
	implGeneric = simd.Generic // plain Go, every platform
	implAVX2    = simd.AVX2    // AVX2 + FMA assembly
	implAVX512  = simd.AVX512  // AVX-512F assembly
)

// implNames lists the implementation names, indexed by implKind.
var implNames = simd.Names

// impls is the package's choice of implementation, made at start-up.
var impls = simd.NewSelector("kernels", haveAVX2, haveAVX512)

func current() implKind          { return impls.Current() }
func bestImpl() implKind         { return impls.Best() }
func supportedImpls() []implKind { return impls.Supported() }

// Impl names the implementation in use: "avx512", "avx2" or "generic". It is
// the fastest one the CPU supports unless SetImpl chose another.
func Impl() string { return current().String() }

// SetImpl switches every kernel of the package to the named implementation
// ("avx512", "avx2" or "generic"; "auto" restores the start-up choice). It is
// meant for tests and benchmarks; it is safe to call concurrently with the
// kernels, which read the choice once per call. It fails if the name is
// unknown or the CPU or build cannot run that implementation.
func SetImpl(name string) error { return impls.Set(name) }
