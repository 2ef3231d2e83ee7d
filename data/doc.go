// Package data provides the training tasks behind one Task interface: seeded
// batch generators for the synthetic tasks (induction, classification,
// bigram-backcopy, copy, zipf) and text corpora with their tokenizers.
package data
