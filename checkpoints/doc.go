// Package checkpoints saves and restores everything a run needs to continue
// bit-for-bit: weights and optimizer moments as safetensors, and the training
// state (step, RNG state, data cursor, config) as JSON, written atomically.
package checkpoints
