// Package transformer builds and trains small causal transformers on gorgonia:
// config, parameter initialisation, the model graph (embeddings, pre-LayerNorm
// blocks, MLP, unembedding), hand-written ops with finite-difference-checked
// backward passes, optimizers and schedules, the training loop and sampling.
//
// Shape letters: B batch, T sequence length, D model width, H heads, HD head
// dimension (D/H), F MLP width, V vocabulary, L layers.
package transformer
