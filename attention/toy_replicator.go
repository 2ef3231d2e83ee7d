package attention

// WeightGrad writes G = ∂ℓ/∂σ = Vᵀ∇ℓ(Vσ) (N) at the current parameters into
// dst and returns the loss: the upstream gradient at the weights that the
// replicator probes read from a transformer head (SCIENCE.md §3b), for the
// toy's one head with one query. For tied models σ is σ(U a).
func (t *Toy) WeightGrad(dst []float64) float64 {
	checkLen("toy weight gradient", t.N, dst)
	loss := t.lossAt(t.V, t.A, t.alpha)
	matTVec(dst, t.V, t.g, t.D, t.N)
	return loss
}
