// Package checkpoints saves and restores everything a run needs to continue
// bit-for-bit: weights and optimizer moments as safetensors, and the training
// state (step, RNG state, data cursor, config) as JSON, written atomically.
//
// It knows nothing about models: tensors are named flat slices (Tensor), and
// the trainer decides when to save.
//
// # Layout
//
// A checkpoint is a folder in the run folder:
//
//	<run>/checkpoints/step-0001200/
//	    model.safetensors      weights
//	    optimizer.safetensors  optimizer moments
//	    state.json             State: format "sinklab-checkpoint" version 1, step,
//	                           tokens, RNG, data cursor, config, SHA-256 of both files
//
// The .safetensors files follow the Hugging Face specification (8-byte
// little-endian header length, JSON header, raw little-endian data), so
// PyTorch's safetensors.torch.load_file and testdata/load_safetensors.py read
// them. This package reads and writes the dtypes F32, F64 and I64.
//
// # Atomicity and resume
//
// Save writes into a temporary ".tmp-*" folder beside the target, fsyncs,
// and renames it into place; the next Save removes temporary folders left by
// a crash, and List, Load and Latest never consider them. Latest returns the
// newest checkpoint that passes every check of Load and returns the ones it
// skipped (with their reasons) as a list of errors for the caller to log, so
// a checkpoint damaged after the fact is never resumed from. One process
// writes to a run at a time.
//
// # Errors
//
// File and data errors are returned, wrapped with the path, and match one of
// ErrTruncated, ErrHeader, ErrChecksum, ErrFormat, ErrMismatch,
// ErrInvalidTensor, ErrNoCheckpoint or fs.ErrNotExist under errors.Is.
package checkpoints
