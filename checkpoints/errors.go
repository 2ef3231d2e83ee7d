package checkpoints

import "errors"

// Sentinel errors. Every error returned by this package wraps at most one of
// them (plus, for missing files, fs.ErrNotExist from the os package), so
// callers can branch with errors.Is while the message names the file and the
// problem.
var (
	// ErrTruncated means a file ends before the bytes its header promises:
	// a file shorter than 8 bytes, a header length past the end of the file,
	// or tensor data_offsets that reach past the end of the data area (which
	// is what a file cut off mid-write looks like).
	ErrTruncated = errors.New("file truncated")

	// ErrHeader means a safetensors header is malformed: not a JSON object,
	// duplicate or unknown keys, a missing field, an unknown or unsupported
	// dtype, data_offsets that overlap, leave gaps, or disagree with the
	// shape, or bytes after the last tensor.
	ErrHeader = errors.New("malformed safetensors header")

	// ErrChecksum means a tensor file's SHA-256 differs from the one recorded
	// in state.json.
	ErrChecksum = errors.New("checksum mismatch")

	// ErrFormat means state.json is not a checkpoint this package can read:
	// invalid JSON, an unknown format name or version, a missing checksum, or
	// a step that disagrees with the folder name.
	ErrFormat = errors.New("unsupported checkpoint format")

	// ErrMismatch means checkpoint tensors do not match the tensors the
	// caller expects (see CopyInto): a missing or extra name, or a different
	// dtype or shape.
	ErrMismatch = errors.New("tensor mismatch")

	// ErrInvalidTensor means a Tensor given to this package is inconsistent:
	// no or several data slices set, a data length that disagrees with the
	// shape, a negative dimension, a duplicate or reserved name.
	ErrInvalidTensor = errors.New("invalid tensor")

	// ErrNoCheckpoint means a run folder holds no valid checkpoint.
	ErrNoCheckpoint = errors.New("no valid checkpoint")
)
