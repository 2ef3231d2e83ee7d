package data

import "fmt"

// TextWindows reads a corpus, encodes each file with tok and returns n
// windows of it as one batch of next-token sequences of length seqLen, for
// evaluating or probing a model on fixed text (sinklab probe --model).
//
// path is one file or a glob (matches sorted), "" Newton's Opticks from
// GOROOT, as the text task's data.path. Windows are non-overlapping runs of
// consecutive tokens inside one file; of all such windows of all files
// (file by file, from each file's start) the n evenly spaced ones
// (window ⌊i·N/n⌋ of the N, i = 0 … n−1) are taken, so the batch covers the
// whole text without randomness. With bos the inputs are tok.BOS(),
// x₁…x_{T−1} and the targets x₁…x_T (T tokens per window); without, inputs
// x₀…x_{T−1} and targets x₁…x_T (T+1 tokens per window). Mask is 1/T and
// Score true at every position; one group, "all".
//
// Errors: those of the text task's corpus (missing file, empty file, not
// UTF-8 text), and a corpus with fewer than n windows.
func TextWindows(path string, tok Tokenizer, seqLen, n int, bos bool) (*Batch, error) {
	if seqLen < 1 || n < 1 {
		return nil, fmt.Errorf("data: text windows: sequence length %d and count %d must be ≥ 1", seqLen, n)
	}
	paths, err := textPaths(path)
	if err != nil {
		return nil, err
	}
	need := seqLen + 1
	if bos {
		need = seqLen
	}
	type window struct{ file, start int }
	var files [][]int32
	var all []window
	tokens := 0
	for f, p := range paths {
		text, err := readText(p)
		if err != nil {
			return nil, err
		}
		ids := tok.Encode(text)
		files = append(files, ids)
		tokens += len(ids)
		for s := 0; s+need <= len(ids); s += need {
			all = append(all, window{f, s})
		}
	}
	if len(all) < n {
		return nil, fmt.Errorf("data: the text has %d tokens in %d file(s): %d windows of %d tokens, fewer than the %d samples asked for (lower the samples or the sequence length)",
			tokens, len(paths), len(all), need, n)
	}
	b := NewBatch(n, seqLen)
	w := 1 / float32(seqLen)
	for i := 0; i < n; i++ {
		win := all[i*len(all)/n]
		ids := files[win.file][win.start : win.start+need]
		in, tg := b.Inputs[i*seqLen:(i+1)*seqLen], b.Targets[i*seqLen:(i+1)*seqLen]
		if bos {
			in[0] = tok.BOS()
			copy(in[1:], ids[:seqLen-1])
			copy(tg, ids)
		} else {
			copy(in, ids[:seqLen])
			copy(tg, ids[1:])
		}
		for t := i * seqLen; t < (i+1)*seqLen; t++ {
			b.Mask[t], b.Score[t] = w, true
		}
	}
	return b, nil
}
