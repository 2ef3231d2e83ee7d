package attention

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/attention/vmath"
)

// Attention variants (config key model.attention): how a row of scores s
// becomes a row of attention weights p over the visible keys.
const (
	VariantSoftmax     = "softmax"      // p = e^s / Σe^s
	VariantSoftmax1    = "softmax1"     // p = e^s / (1 + Σe^s): a head may attend to nothing
	VariantSigmoid     = "sigmoid"      // p = sigmoid(s), unnormalized
	VariantSigmoidNorm = "sigmoid-norm" // p = sigmoid(s) / Σ sigmoid(s)
	VariantElu         = "elu"          // p = elu(s) + 1, unnormalized
	VariantEluNorm     = "elu-norm"     // p = (elu(s)+1) / Σ(elu(s)+1)
	VariantLinear      = "linear"       // p = s, unnormalized
	VariantLinearNorm  = "linear-norm"  // p = s / max(|Σs|, 1)
	VariantReluNorm    = "relu-norm"    // p = relu(s) / Σ relu(s) (0 when all s ≤ 0)
)

// attnVariant is a variant as an integer for the row loops.
type attnVariant uint8

const (
	avSoftmax attnVariant = iota
	avSoftmax1
	avSigmoid
	avSigmoidNorm
	avElu
	avEluNorm
	avLinear
	avLinearNorm
	avReluNorm
)

var variantNames = []string{VariantSoftmax, VariantSoftmax1, VariantSigmoid, VariantSigmoidNorm,
	VariantElu, VariantEluNorm, VariantLinear, VariantLinearNorm, VariantReluNorm}

// Variants lists the attention variant names.
func Variants() []string { return slices.Clone(variantNames) }

func parseVariant(name string) (attnVariant, error) {
	i := slices.Index(variantNames, name)
	if i < 0 {
		return 0, fmt.Errorf("attention: unknown variant %q (want one of %s)", name, strings.Join(variantNames, ", "))
	}
	return attnVariant(i), nil
}

// VariantRowsSumToOne reports whether a variant's rows always sum to 1 over the
// visible keys (softmax and the *-norm variants except linear-norm and
// relu-norm, which can give rows summing to other values).
func VariantRowsSumToOne(name string) bool {
	switch name {
	case VariantSoftmax, VariantSigmoidNorm, VariantEluNorm:
		return true
	}
	return false
}

func sigm[T gop.Float](x T) T {
	if x >= 0 {
		return 1 / (1 + gop.Exp(-x))
	}
	e := gop.Exp(x)
	return e / (1 + e)
}

// rowForward turns the n visible scores s[:n] into weights p[:n] (p[n:] = 0)
// and returns the row's normalizer z (1 for unnormalized variants).
func rowForward[T gop.Float](v attnVariant, s, p []T, n int) T {
	clear(p[n:])
	s, p = s[:n], p[:n]
	z := T(1)
	switch v {
	case avSoftmax, avSoftmax1:
		m := s[0]
		for _, x := range s[1:] {
			m = max(m, x)
		}
		var sum T
		if v == avSoftmax1 {
			m = max(m, 0)
			sum = gop.Exp(-m)
		}
		if s32, ok := any(s).([]float32); ok {
			sum += T(vmath.ExpShift(s32, any(p).([]float32), float32(m)))
		} else {
			for j, x := range s {
				e := gop.Exp(x - m)
				p[j] = e
				sum += e
			}
		}
		z = sum
		inv := 1 / sum
		for j := range p {
			p[j] *= inv
		}
	case avSigmoid:
		for j, x := range s {
			p[j] = sigm(x)
		}
	case avSigmoidNorm:
		var sum T
		for j, x := range s {
			p[j] = sigm(x)
			sum += p[j]
		}
		z = sum
		if !(sum >= 0x1p-126) { // every s ≲ −87: σ(s) = e^s to 1e-38, and σ underflows
			expNormalize(s, p)
			break
		}
		for j := range p {
			p[j] /= sum
		}
	case avElu, avEluNorm:
		var sum T
		for j, x := range s {
			if x > 0 {
				p[j] = x + 1
			} else {
				p[j] = gop.Exp(x)
			}
			sum += p[j]
		}
		if v == avEluNorm {
			z = sum
			if !(sum >= 0x1p-126) { // every s ≲ −87: elu(s)+1 = e^s underflows
				expNormalize(s, p)
				break
			}
			for j := range p {
				p[j] /= sum
			}
		}
	case avLinear:
		copy(p, s)
	case avLinearNorm:
		var sum T
		for _, x := range s {
			sum += x
		}
		z = max(T(math.Abs(float64(sum))), 1)
		for j, x := range s {
			p[j] = x / z
		}
	case avReluNorm:
		var sum T
		for j, x := range s {
			p[j] = max(x, 0)
			sum += p[j]
		}
		z = sum
		if sum > 0 {
			for j := range p {
				p[j] /= sum
			}
		}
	}
	return z
}

// expNormalize writes p = e^s / Σe^s with the exponent shifted by max s: the
// weights of sigmoid-norm and elu-norm when every e^s underflows.
func expNormalize[T gop.Float](s, p []T) {
	m := slices.Max(s)
	var sum T
	for j, x := range s {
		p[j] = gop.Exp(x - m)
		sum += p[j]
	}
	for j := range p {
		p[j] /= sum
	}
}

// rowBackward writes ds[:n] = (∂p/∂s)ᵀ dp for one row (ds[n:] = 0), given the
// scores s, the weights p and the normalizer z from rowForward.
func rowBackward[T gop.Float](v attnVariant, s, p, dp, ds []T, n int, z T) {
	clear(ds[n:])
	s, p, dp, ds = s[:n], p[:n], dp[:n], ds[:n]
	var pdp T
	for j := range p {
		pdp += p[j] * dp[j]
	}
	switch v {
	case avSoftmax, avSoftmax1:
		for j := range ds {
			ds[j] = p[j] * (dp[j] - pdp)
		}
	case avSigmoid:
		for j := range ds {
			ds[j] = dp[j] * p[j] * (1 - p[j])
		}
	case avSigmoidNorm:
		for j := range ds {
			q := p[j] * z // σ(s_j)
			ds[j] = p[j] * (1 - q) * (dp[j] - pdp)
		}
	case avElu:
		for j, x := range s {
			if x > 0 {
				ds[j] = dp[j]
			} else {
				ds[j] = dp[j] * p[j]
			}
		}
	case avEluNorm:
		for j, x := range s {
			if x > 0 {
				ds[j] = (dp[j] - pdp) / z
			} else {
				ds[j] = p[j] * (dp[j] - pdp) // e^x / z = p
			}
		}
	case avLinear:
		copy(ds, dp)
	case avLinearNorm:
		var sum T
		for _, x := range s {
			sum += x
		}
		if math.Abs(float64(sum)) <= 1 {
			copy(ds, dp)
			return
		}
		sg := T(1)
		if sum < 0 {
			sg = -1
		}
		for j := range ds {
			ds[j] = (dp[j] - sg*pdp) / z
		}
	case avReluNorm:
		if z <= 0 {
			clear(ds)
			return
		}
		for j, x := range s {
			if x > 0 {
				ds[j] = (dp[j] - pdp) / z
			} else {
				ds[j] = 0
			}
		}
	}
}
