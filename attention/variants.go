package attention

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sinklab/sinklab/attention/gop"
)

// Attention variants (config key model.attention): how the query and key rows
// of a head become a row of attention weights p over the visible keys. s is
// the score q·k/√HD of the query row against each visible key; M keeps the
// visible keys (the causal mask, or all keys). The paper's twelve types
// (Varre, Rofin, Flammarion 2026, SCIENCE.md §2) are accepted under the
// paper's names too (PaperVariants, CanonicalVariant); ε = 1e-9 is the paper's
// guard in a row-sum denominator.
const (
	VariantSoftmax     = "softmax"      // p = e^s / Σe^s (paper: softmax)
	VariantSoftmax1    = "softmax1"     // p = e^s / (1 + Σe^s): a head may attend to nothing
	VariantSigmoid     = "sigmoid"      // p = sigmoid(s), unnormalized (paper: sigmoid_unnorm)
	VariantSigmoidNorm = "sigmoid-norm" // p = sigmoid(s) / (Σ sigmoid(s) + ε) (paper: sigmoid_norm)
	VariantElu         = "elu"          // p = elu(s) + 1, unnormalized (paper: coupled_linear_unnorm)
	VariantEluNorm     = "elu-norm"     // p = (elu(s)+1) / (Σ(elu(s)+1) + ε) (paper: coupled_linear_norm)
	VariantDot         = "dot"          // p = s, unnormalized, signed (paper: raw_dotproduct_unnorm)
	VariantDotNorm     = "dot-norm"     // p = s / max(|Σs|, 1), signed (paper: raw_dotproduct_norm)
	VariantReluNorm    = "relu-norm"    // p = relu(s) / Σ relu(s) (0 when all s ≤ 0)
	VariantUniform     = "uniform"      // p = 1 / (n + ε) on the n visible keys (paper: uniform)
	// VariantKernel is kernel linear attention: p_j = φ(q)·φ(k_j) with
	// φ(x) = elu(x) + 1 elementwise and no 1/√HD, unnormalized (paper:
	// linear_unnorm). The weights are positive.
	VariantKernel = "kernel"
	// VariantKernelNorm is VariantKernel divided by its row sum + ε (paper: linear).
	VariantKernelNorm = "kernel-norm"
	// VariantMLP is MLP attention: p_j = φ(q)·φ(k_j)/√HD with φ a learned MLP
	// HD → F → HD with an exact (erf) GELU, one per layer shared by the heads,
	// unnormalized and signed (paper: mlp_unnorm). See MLPNodes.
	VariantMLP = "mlp"
	// VariantMLPNorm is VariantMLP divided by max(|Σs|, 1) (paper: mlp_norm).
	VariantMLPNorm = "mlp-norm"
	// VariantSoftpick is the rectified softmax of Zuhri et al. 2025:
	// p = relu(e^s − 1) / (Σ|e^s − 1| + ε), computed as its authors' code
	// does (softpick.go).
	VariantSoftpick = "softpick"
)

// attnVariant is a variant as an integer for the row loops; its value is the
// variant's index in variantNames.
type attnVariant uint8

const (
	avSoftmax attnVariant = iota
	avSoftmax1
	avSigmoid
	avSigmoidNorm
	avElu
	avEluNorm
	avDot
	avDotNorm
	avReluNorm
	avUniform
	avKernel
	avKernelNorm
	avMLP
	avMLPNorm
	avSoftpick
)

var variantNames = []string{VariantSoftmax, VariantSoftmax1, VariantSigmoid, VariantSigmoidNorm,
	VariantElu, VariantEluNorm, VariantDot, VariantDotNorm, VariantReluNorm, VariantUniform,
	VariantKernel, VariantKernelNorm, VariantMLP, VariantMLPNorm, VariantSoftpick}

// paperVariants maps the paper's twelve attention types, in the order of its
// code (tml-epfl/softmax, src/attention.py), to the variants they mean.
var paperVariants = []struct{ paper, name string }{
	{"softmax", VariantSoftmax},
	{"uniform", VariantUniform},
	{"sigmoid_norm", VariantSigmoidNorm},
	{"sigmoid_unnorm", VariantSigmoid},
	{"linear", VariantKernelNorm},
	{"linear_unnorm", VariantKernel},
	{"coupled_linear_norm", VariantEluNorm},
	{"coupled_linear_unnorm", VariantElu},
	{"raw_dotproduct_norm", VariantDotNorm},
	{"raw_dotproduct_unnorm", VariantDot},
	{"mlp_norm", VariantMLPNorm},
	{"mlp_unnorm", VariantMLP},
}

// renamedVariants are names sinklab once used for other variants: refused with
// a hint rather than silently given a new meaning. ("linear", sinklab's old
// name for dot, is the paper's name for kernel-norm and means that now.)
var renamedVariants = map[string]string{"linear-norm": VariantDotNorm}

// feature is the map applied to the query and key rows before their dot
// product.
type feature uint8

const (
	featNone feature = iota // scores from q and k themselves
	featElu1                // elu(x) + 1 elementwise
	featMLP                 // the learned MLP φ of MLPNodes
)

// feature returns the variant's feature map.
func (v attnVariant) feature() feature {
	switch v {
	case avKernel, avKernelNorm:
		return featElu1
	case avMLP, avMLPNorm:
		return featMLP
	}
	return featNone
}

// scaled reports whether the scores are divided by √HD (every variant but the
// kernel linear attention).
func (v attnVariant) scaled() bool { return v.feature() != featElu1 }

// Variants lists the canonical attention variant names (the names a resolved
// config stores).
func Variants() []string { return slices.Clone(variantNames) }

// PaperVariants lists the paper's twelve attention type names in the paper's
// order. Each is accepted wherever a variant name is; CanonicalVariant maps it
// to the variant it means.
func PaperVariants() []string {
	names := make([]string, len(paperVariants))
	for i, p := range paperVariants {
		names[i] = p.paper
	}
	return names
}

// VariantNames lists every accepted name: the canonical names, then the
// paper's names that differ from them.
func VariantNames() []string {
	names := Variants()
	for _, p := range paperVariants {
		if !slices.Contains(names, p.paper) {
			names = append(names, p.paper)
		}
	}
	return names
}

// PaperName returns the paper's name for a variant (canonical or paper name),
// or "" when the paper has no such type (softmax1, relu-norm).
func PaperName(name string) string {
	c, err := CanonicalVariant(name)
	if err != nil {
		return ""
	}
	for _, p := range paperVariants {
		if p.name == c {
			return p.paper
		}
	}
	return ""
}

// CanonicalVariant resolves a variant name, canonical or the paper's, to the
// canonical name. A paper name means what the paper means: "linear" is the
// paper's kernel attention, kernel-norm (sinklab's raw dot product, once named
// linear, is dot). The error for an unknown name lists every valid name on one
// line.
func CanonicalVariant(name string) (string, error) {
	if slices.Contains(variantNames, name) {
		return name, nil
	}
	for _, p := range paperVariants {
		if p.paper == name {
			return p.name, nil
		}
	}
	if to, ok := renamedVariants[name]; ok {
		return "", fmt.Errorf("attention %q was renamed %q (want one of %s)", name, to, strings.Join(VariantNames(), ", "))
	}
	return "", fmt.Errorf("unknown attention %q (want one of %s)", name, strings.Join(VariantNames(), ", "))
}

func parseVariant(name string) (attnVariant, error) {
	c, err := CanonicalVariant(name)
	if err != nil {
		return 0, fmt.Errorf("attention: %w", err)
	}
	return attnVariant(slices.Index(variantNames, c)), nil
}

// VariantRowsSumToOne reports whether a variant's rows sum to 1 over the
// visible keys: softmax, uniform and the row-sum normalized variants
// (sigmoid-norm, elu-norm, kernel-norm), up to the paper's ε in the
// denominator (a row sums to Σ/(Σ + 1e-9)). False for softmax1 (rows sum to
// less), relu-norm (a row can be all zero) and the variants divided by
// max(|Σ|, 1) or not normalized. Unknown names give false.
func VariantRowsSumToOne(name string) bool {
	c, _ := CanonicalVariant(name)
	switch c {
	case VariantSoftmax, VariantUniform, VariantSigmoidNorm, VariantEluNorm, VariantKernelNorm:
		return true
	}
	return false
}

// VariantSigned reports whether a variant's weights can be negative: the raw
// dot product and MLP attention (dot, dot-norm, mlp, mlp-norm). Every other
// variant's weights are ≥ 0 (kernel attention's φ(q)·φ(k) is a dot product of
// positive vectors). Probes take ratios and entropy of signed maps on |A|.
// Unknown names give false.
func VariantSigned(name string) bool {
	c, _ := CanonicalVariant(name)
	switch c {
	case VariantDot, VariantDotNorm, VariantMLP, VariantMLPNorm:
		return true
	}
	return false
}

// VariantHasMLP reports whether a variant is MLP attention (mlp, mlp-norm,
// or the paper's mlp_norm, mlp_unnorm), whose φ has parameters of its own.
func VariantHasMLP(name string) bool {
	av, err := parseVariant(name)
	return err == nil && av.feature() == featMLP
}

// rowEps is the paper's ε in a row-sum denominator.
const rowEps = 1e-9

// sigmoid is 1/(1+exp(−x)) without overflow for any x.
func sigmoid[T gop.Float](x T) T {
	if x >= 0 {
		return 1 / (1 + gop.Exp(-x))
	}
	e := gop.Exp(x)
	return e / (1 + e)
}

// rowForward turns the n visible scores s[:n] into weights p[:n] (p[n:] = 0)
// and returns the row's normalizer z (1 for unnormalized variants). For kernel
// and MLP attention s holds the feature-map scores φ(q)·φ(k) (/√HD for MLP).
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
		sum += gop.ExpShift(s, p, m)
		z = sum
		inv := 1 / sum
		for j := range p {
			p[j] *= inv
		}
	case avSigmoid:
		for j, x := range s {
			p[j] = sigmoid(x)
		}
	case avSigmoidNorm:
		var sum T
		for j, x := range s {
			p[j] = sigmoid(x)
			sum += p[j]
		}
		z = sum + rowEps
		for j := range p {
			p[j] /= z
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
			z = sum + rowEps
			for j := range p {
				p[j] /= z
			}
		}
	case avDot, avKernel, avMLP:
		copy(p, s)
	case avDotNorm, avMLPNorm:
		z = max(T(math.Abs(float64(sumOf(s)))), 1)
		for j, x := range s {
			p[j] = x / z
		}
	case avKernelNorm:
		z = sumOf(s) + rowEps
		for j, x := range s {
			p[j] = x / z
		}
	case avUniform:
		z = T(n) + rowEps
		for j := range p {
			p[j] = 1 / z
		}
	case avReluNorm:
		z = reluSum(s)
		for j, x := range s {
			p[j] = max(x, 0)
		}
		if z > 0 {
			for j := range p {
				p[j] /= z
			}
		}
	case avSoftpick:
		z = softpickForward(s, p)
	}
	return z
}

// reluSum returns Σⱼ max(sⱼ, 0): relu-norm's row normalizer z.
func reluSum[T gop.Float](s []T) T {
	var sum T
	for _, x := range s {
		sum += max(x, 0)
	}
	return sum
}

// sumOf returns Σⱼ sⱼ, summed left to right.
func sumOf[T gop.Float](s []T) T {
	var sum T
	for _, x := range s {
		sum += x
	}
	return sum
}

// dotProd returns Σᵢ xᵢ yᵢ, summed left to right.
func dotProd[T gop.Float](x, y []T) T {
	var s T
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// rowBackward writes ds[:n] = (∂p/∂s)ᵀ dp for one row (ds[n:] = 0), given the
// scores s, the weights p and the normalizer z from rowForward. For the
// row-sum normalizers z includes ε, so p·z is the unnormalized weight.
func rowBackward[T gop.Float](v attnVariant, s, p, dp, ds []T, n int, z T) {
	clear(ds[n:])
	s, p, dp, ds = s[:n], p[:n], dp[:n], ds[:n]
	pdp := dotProd(p, dp)
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
	case avDot, avKernel, avMLP:
		copy(ds, dp)
	case avKernelNorm:
		for j := range ds {
			ds[j] = (dp[j] - pdp) / z
		}
	case avUniform:
		clear(ds)
	case avDotNorm, avMLPNorm:
		sg := dotNormSign(s)
		if sg == 0 {
			copy(ds, dp)
			return
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
	case avSoftpick:
		softpickBackward(s, dp, ds, z, pdp)
	}
}

// dotNormSign returns the sign of Σs for dot-norm and mlp-norm (p = s / z with
// z = max(|Σs|, 1)), or 0 when |Σs| ≤ 1: there z = 1 and the row's Jacobian
// is the identity.
func dotNormSign[T gop.Float](s []T) T {
	sum := sumOf(s)
	switch {
	case math.Abs(float64(sum)) <= 1:
		return 0
	case sum < 0:
		return -1
	}
	return 1
}
