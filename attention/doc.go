// Package attention holds the value-softmax block y = V σ(a) that both the toy
// model of Varre, Rofin and Flammarion (2026) and the transformer's attention
// heads compute: the normalizers σ with their vector-Jacobian products, the toy
// model with its losses and closed-form gradients, the exact gradient-flow vector
// field with an adaptive ODE integrator, and the gorgonia op for multi-head
// causal attention that keeps its attention map for probes.
//
// Shape letters: B batch, T sequence length, H heads, HD head dimension,
// D model width, n tokens of the toy model, d value dimension.
package attention
