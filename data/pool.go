package data

import "math/rand/v2"

// Seed streams derived from the task seed. Training batches use the rng the
// trainer passes to Fill; the pool and the held-out set each get their own
// stream, so the held-out set is disjoint in generation from the pool.
const (
	streamPool uint64 = 0x706f6f6c_7374726d // "poolstrm"
	streamEval uint64 = 0x6576616c_7374726d // "evalstrm"
	streamEpoc uint64 = 0x65706f63_68737472 // "epochstr"
)

// Pooled is a task with a fixed training pool that a trainer consumes in
// shuffled epochs (every task of this package is one when data.pool > 0).
type Pooled interface {
	// PoolSize is the number of pool sequences (0 without a pool).
	PoolSize() int
	// FillPool copies the pool sequences idx into the rows of b, in order.
	FillPool(idx []int32, b *Batch)
}

// Outputs returns the number of outputs a model needs for t: t.Outputs() when
// t has that method (the number of labels for classification), else
// t.Vocab().
func Outputs(t Task) int {
	if o, ok := t.(interface{ Outputs() int }); ok {
		return o.Outputs()
	}
	return t.Vocab()
}

// EpochOrder writes into perm (of length n, the pool size) the order in which
// epoch e (0-based) visits the pool: a uniform random permutation of 0…n−1
// drawn from its own stream of seed and e, so every epoch of a run has a
// fresh order and any epoch can be regenerated from the seed alone (resume).
func EpochOrder(seed uint64, epoch int, perm []int32) {
	rng := streamRNG(seed^splitmix64(uint64(epoch)), streamEpoc)
	for i := range perm {
		perm[i] = int32(i)
	}
	for i := len(perm) - 1; i > 0; i-- {
		j := rng.IntN(i + 1)
		perm[i], perm[j] = perm[j], perm[i]
	}
}

// streamRNG returns a generator for one seed stream: the seed and the stream
// tag are mixed with SplitMix64 into the two PCG seed words.
func streamRNG(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix64(seed^stream), splitmix64(seed+splitmix64(stream))))
}

// splitmix64 is the SplitMix64 finalizer (Steele et al. 2014).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rowStore holds n generated sequences of length t, row-major like Batch:
// the training pool or the held-out set.
type rowStore struct {
	n, t    int
	in, tgt []int32   // (n, t)
	mask    []float32 // (n, t)
	score   []bool    // (n, t)
	group   []uint8   // (n, t)
}

// generateRows draws n sequences with gen, in order, from rng.
func generateRows(gen rowGen, rng *rand.Rand, n, t int) *rowStore {
	s := &rowStore{n: n, t: t,
		in: make([]int32, n*t), tgt: make([]int32, n*t), mask: make([]float32, n*t),
		score: make([]bool, n*t), group: make([]uint8, n*t)}
	for i := 0; i < n; i++ {
		gen.row(rng, s.row(i))
	}
	return s
}

// row returns sequence i of the store (views, not copies).
func (s *rowStore) row(i int) rowRef {
	lo, hi := i*s.t, (i+1)*s.t
	return rowRef{s.in[lo:hi], s.tgt[lo:hi], s.mask[lo:hi], s.score[lo:hi], s.group[lo:hi]}
}

// batches copies the store into fresh batches of at most size sequences.
func (s *rowStore) batches(size int) []*Batch {
	var out []*Batch
	for lo := 0; lo < s.n; lo += size {
		nb := min(size, s.n-lo)
		b := NewBatch(nb, s.t)
		for i := 0; i < nb; i++ {
			batchRow(b, i).copyFrom(s.row(lo + i))
		}
		out = append(out, b)
	}
	return out
}
