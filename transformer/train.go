package transformer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/sinklab/sinklab/attention/gop"
	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/transformer/capture"
)

// StepStats describes one optimizer step.
type StepStats struct {
	Step     int     // 1-based index of the step just taken
	Tokens   int64   // tokens seen so far (B·T per step)
	Loss     float64 // training loss of the batch (before the update)
	LR       float64 // learning rate used
	GradNorm float64 // global L2 norm of the gradient, before clipping
	Seconds  float64 // wall time of the step
}

// EvalStats is the result of a pass over the held-out set.
type EvalStats struct {
	Loss     float64            // mean over sequences of Σ mask·CE, like the training loss
	Accuracy float64            // share of scored positions predicted right (NaN without any)
	Groups   map[string]float64 // mean CE over weighted positions per metric group
}

// ErrNonFinite is returned when the loss or gradient is NaN or ±Inf; the
// parameters are left as they were before that step.
var ErrNonFinite = errors.New("loss is not finite")

// Trainer owns a model, its compiled graphs, the optimizer and the data
// stream of one run. It computes; it writes no files.
type Trainer[T gop.Float] struct {
	Cfg   Config
	Task  data.Task
	Model *Model[T]

	full   stepSet[T] // graphs and batch of a full batch (train.batch sequences)
	tail   stepSet[T] // of an epoch's last, shorter batch (built when first needed)
	cur    *stepSet[T]
	evals  map[int][]*graph[T] // forward graphs by batch size, one per evaluation goroutine
	probe  *graph[T]           // forward and backward graph of the replicator probes (replicator.go)
	flow   *capture.Flow       // its capture's tensors, reused between probe steps
	pdot   []T                 // scratch of the flow rates
	opt    *optimizer[T]
	grads  [][]T     // summed gradient per parameter
	pcg    *rand.PCG // the data stream's state (checkpointed)
	rng    *rand.Rand
	step   int
	tokens int64
	evalB  []*data.Batch

	// Epochs over a fixed pool: the order of the current epoch, regenerated
	// from the seed (so a resumed run needs only the step counter).
	pool      data.Pooled
	order     []int32 // (pool) the visiting order of epoch orderOf
	orderOf   int     // the epoch order holds; −1 = none yet
	perEpoch  int     // batches per epoch: ⌈pool / batch⌉
	poolTotal int

	work []chan struct{} // one per shard ≥ 1: start signal
	done chan error
}

// stepSet is one batch shape of the training step: the batch and the graphs
// of its shards, which split it in equal parts.
type stepSet[T gop.Float] struct {
	batch  *data.Batch
	shards []*graph[T]
}

// NewTrainer builds the model and its graphs. cfg must be resolved and valid.
func NewTrainer[T gop.Float](cfg Config, task data.Task) (*Trainer[T], error) {
	mc := cfg.Model
	if mc.Vocab == 0 {
		mc.Vocab = task.Vocab()
	}
	if mc.Vocab < task.Vocab() {
		return nil, fmt.Errorf("model.d_vocab = %d is smaller than the task's vocabulary %d", mc.Vocab, task.Vocab())
	}
	if mc.NCtx == 0 {
		mc.NCtx = task.SeqLen()
	}
	if mc.DOut == 0 {
		mc.DOut = data.Outputs(task)
	}
	if mc.Positions != PosNone && task.SeqLen() > mc.NCtx {
		return nil, fmt.Errorf("sequence length %d is longer than model.n_ctx = %d positions", task.SeqLen(), mc.NCtx)
	}
	cfg.Model = mc
	m, err := NewModel[T](mc, task.SeqLen(), cfg.Seed)
	if err != nil {
		return nil, err
	}
	tr := &Trainer[T]{Cfg: cfg, Task: task, Model: m, evals: map[int][]*graph[T]{}, orderOf: -1}
	if p, ok := task.(data.Pooled); ok && p.PoolSize() > 0 {
		tr.pool, tr.poolTotal = p, p.PoolSize()
		tr.order = make([]int32, tr.poolTotal)
		tr.perEpoch = (tr.poolTotal + cfg.Train.Batch - 1) / cfg.Train.Batch
	} else if cfg.Train.Epochs > 0 {
		return nil, fmt.Errorf("train.epochs needs a task with a fixed pool (data.pool ≥ 1)")
	}
	if tr.full, err = tr.newStepSet(cfg.Train.Batch); err != nil {
		tr.Close()
		return nil, err
	}
	tr.cur = &tr.full
	tr.opt = newOptimizer(cfg.Optim, m.Params)
	for _, p := range m.Params {
		tr.grads = append(tr.grads, make([]T, len(p.Data)))
	}
	tr.pcg = rand.NewPCG(cfg.Seed, 0xda7a)
	tr.rng = rand.New(tr.pcg)
	tr.done = make(chan error, len(tr.full.shards))
	for s := 1; s < len(tr.full.shards); s++ {
		c := make(chan struct{})
		tr.work = append(tr.work, c)
		go tr.worker(s, c)
	}
	return tr, nil
}

// newStepSet builds the training graphs for batches of b sequences: the
// configured number of shards when they divide b, else one. Gradients are
// means over the b sequences.
func (tr *Trainer[T]) newStepSet(b int) (stepSet[T], error) {
	n := tr.Cfg.Train.Shards
	if b%n != 0 {
		n = 1
	}
	set := stepSet[T]{batch: data.NewBatch(b, tr.Task.SeqLen())}
	for s := 0; s < n; s++ {
		g, err := buildGraph(tr.Model, b/n, true, T(1/float64(b)))
		if err != nil {
			return set, err
		}
		set.shards = append(set.shards, g)
	}
	return set, nil
}

// fill draws the batch of the next step into the step set it needs: fresh
// sequences from the data stream, or the next slice of the current epoch's
// order over the pool (the last batch of an epoch holds the remainder).
func (tr *Trainer[T]) fill() error {
	if tr.pool == nil {
		tr.cur = &tr.full
		tr.Task.Fill(tr.rng, tr.full.batch)
		return nil
	}
	e, j := tr.step/tr.perEpoch, tr.step%tr.perEpoch
	if e != tr.orderOf {
		data.EpochOrder(tr.Cfg.Seed, e, tr.order)
		tr.orderOf = e
	}
	b := tr.Cfg.Train.Batch
	idx := tr.order[j*b : min((j+1)*b, tr.poolTotal)]
	tr.cur = &tr.full
	if len(idx) < b {
		if tr.tail.batch == nil || tr.tail.batch.B != len(idx) {
			set, err := tr.newStepSet(len(idx))
			if err != nil {
				return fmt.Errorf("transformer: graphs for an epoch's last batch of %d: %w", len(idx), err)
			}
			tr.tail = set
		}
		tr.cur = &tr.tail
	}
	tr.pool.FillPool(idx, tr.cur.batch)
	return nil
}

// worker runs shard s each time it is signalled.
func (tr *Trainer[T]) worker(s int, start chan struct{}) {
	for range start {
		tr.done <- tr.runShard(s)
	}
}

func (tr *Trainer[T]) runShard(s int) error {
	b := tr.cur.batch
	n := len(tr.cur.shards)
	per := b.B / n * b.T
	lo, hi := s*per, (s+1)*per
	return tr.cur.shards[s].run(b.Inputs[lo:hi], b.Targets[lo:hi], b.Mask[lo:hi])
}

// Close stops the shard workers and releases the graphs.
func (tr *Trainer[T]) Close() {
	for _, c := range tr.work {
		close(c)
	}
	tr.work = nil

}

// StepCount returns the number of optimizer steps taken.
func (tr *Trainer[T]) StepCount() int { return tr.step }

// Tokens returns the number of training tokens seen.
func (tr *Trainer[T]) Tokens() int64 { return tr.tokens }

// Step draws a batch and takes one optimizer step.
func (tr *Trainer[T]) Step() (StepStats, error) {
	start := time.Now()
	err := tr.fill()
	if err != nil {
		return StepStats{}, err
	}
	work := tr.work[:len(tr.cur.shards)-1]
	for _, c := range work {
		c <- struct{}{}
	}
	err = tr.runShard(0)
	for range work {
		if e := <-tr.done; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		return StepStats{}, fmt.Errorf("transformer: step %d: %w", tr.step+1, err)
	}
	var loss float64
	for _, g := range tr.cur.shards {
		loss += g.lossValue()
	}
	// Sum shard gradients in shard order (deterministic).
	var sq float64
	for i := range tr.grads {
		dst := tr.grads[i]
		for s, g := range tr.cur.shards {
			src, err := g.grad(i)
			if err != nil {
				return StepStats{}, fmt.Errorf("transformer: gradient of %s: %w", tr.Model.Params[i].Name, err)
			}
			if s == 0 {
				copy(dst, src)
			} else {
				for j, v := range src {
					dst[j] += v
				}
			}
		}
		for _, v := range dst {
			sq += float64(v) * float64(v)
		}
	}
	norm := math.Sqrt(sq)
	st := StepStats{Step: tr.step + 1, Loss: loss, GradNorm: norm}
	if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return st, fmt.Errorf("transformer: step %d: %w (loss %v, gradient norm %v)", tr.step+1, ErrNonFinite, loss, norm)
	}
	if c := tr.Cfg.Optim.ClipNorm; c > 0 && norm > c {
		k := T(c / (norm + 1e-6))
		for _, g := range tr.grads {
			for j := range g {
				g[j] *= k
			}
		}
	}
	st.LR = lrAt(tr.Cfg.Optim, tr.step, tr.Cfg.TotalSteps())
	tr.opt.step(tr.Model.Params, tr.grads, st.LR)
	tr.step++
	tr.tokens += int64(tr.cur.batch.B * tr.cur.batch.T)
	st.Tokens = tr.tokens
	st.Seconds = time.Since(start).Seconds()
	return st, nil
}

// evalGraph returns the forward graph for batches of b sequences.
func (tr *Trainer[T]) evalGraph(b int) (*graph[T], error) { return tr.evalGraphN(b, 0) }

// evalGraphN returns forward graph w (0-based) for batches of b sequences,
// building graphs 0 … w as needed. Evaluate runs graphs 0 … n−1 at once.
func (tr *Trainer[T]) evalGraphN(b, w int) (*graph[T], error) {
	for len(tr.evals[b]) <= w {
		g, err := buildGraph(tr.Model, b, false, T(1/float64(b)))
		if err != nil {
			return nil, err
		}
		tr.evals[b] = append(tr.evals[b], g)
	}
	return tr.evals[b][w], nil
}

func (tr *Trainer[T]) evalBatches() []*data.Batch {
	if tr.evalB == nil {
		tr.evalB = tr.Task.Eval(tr.Cfg.Train.EvalBatch)
	}
	return tr.evalB
}

// evalOut is what Evaluate keeps of one held-out batch.
type evalOut struct {
	loss float64   // the batch's loss
	ce   []float64 // (B, T) per-position cross-entropy
	pred []int32   // (B, T) argmax
}

// Evaluate runs the model over the task's held-out set. The batches are
// spread over as many goroutines as the training step has shards, each with
// its own forward graph, and reduced afterwards in batch order: the result is
// the same as one pass over the batches in order.
func (tr *Trainer[T]) Evaluate() (EvalStats, error) {
	bs := tr.evalBatches()
	n := min(len(tr.full.shards), len(bs))
	for _, b := range bs { // build every graph before the goroutines share the map
		if _, err := tr.evalGraphN(b.B, n-1); err != nil {
			return EvalStats{}, err
		}
	}
	outs := make([]evalOut, len(bs))
	errs := make([]error, n)
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(bs); i += n {
				b, g := bs[i], tr.evals[bs[i].B][w]
				if err := g.run(b.Inputs, b.Targets, b.Mask); err != nil {
					errs[w] = fmt.Errorf("transformer: evaluation: %w", err)
					return
				}
				outs[i] = evalOut{loss: g.lossValue(), ce: slices.Clone(g.ce.ce), pred: slices.Clone(g.ce.pred)}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return EvalStats{}, err
	}
	groups := tr.Task.Groups()
	gsum := make([]float64, len(groups))
	gcnt := make([]float64, len(groups))
	var loss float64
	var seqs, right, scored int
	for bi, b := range bs {
		o := &outs[bi]
		loss += o.loss * float64(b.B)
		seqs += b.B
		for i, ce := range o.ce {
			if b.Score[i] {
				scored++
				if o.pred[i] == b.Targets[i] {
					right++
				}
			}
			if b.Mask[i] > 0 {
				k := int(b.Group[i])
				gsum[k] += ce
				gcnt[k]++
			}
		}
	}
	st := EvalStats{Loss: math.NaN(), Accuracy: math.NaN(), Groups: map[string]float64{}}
	if seqs > 0 {
		st.Loss = loss / float64(seqs)
	}
	if scored > 0 {
		st.Accuracy = float64(right) / float64(scored)
	}
	for k, name := range groups {
		if gcnt[k] > 0 {
			st.Groups[name] = gsum[k] / gcnt[k]
		}
	}
	return st, nil
}

// HasEval reports whether the task has a held-out set.
func (tr *Trainer[T]) HasEval() bool { return len(tr.evalBatches()) > 0 }

// Capture runs the model on the fixed probe batch (the first held-out batch)
// and returns copies of its attention maps, values and residual streams
// (blocks.{l}.hook_resid_pre, and the final one after the last block); with
// the replicator probes on (probe.skip_replicator false) it runs the backward
// pass too and fills Capture.Flow, whose tensors are reused by the next
// Capture (see captureFlow).
func (tr *Trainer[T]) Capture() (*capture.Capture, error) {
	bs := tr.evalBatches()
	if len(bs) == 0 {
		return nil, errors.New("transformer: the task has no held-out set to probe on")
	}
	if !tr.Cfg.Probe.SkipReplicator {
		return tr.captureFlow(bs[0])
	}
	return tr.CaptureBatch(bs[0])
}

// CaptureBatch runs the model on batch b and returns copies of its attention
// maps, values and residual streams, with the batch's tokens, position groups
// and scored positions for the probes' row groups.
func (tr *Trainer[T]) CaptureBatch(b *data.Batch) (*capture.Capture, error) {
	g, err := tr.evalGraph(b.B)
	if err != nil {
		return nil, err
	}
	if err := g.run(b.Inputs, b.Targets, b.Mask); err != nil {
		return nil, fmt.Errorf("transformer: probe pass: %w", err)
	}
	return tr.captureOf(g, b), nil
}

// captureOf copies the probes' tensors of graph g's last run on batch b.
func (tr *Trainer[T]) captureOf(g *graph[T], b *data.Batch) *capture.Capture {
	mc := tr.Model.Cfg
	tp := tr.Model.T + btoi(mc.SinkToken)
	H, HD, D := mc.Heads, tr.Model.HD(), mc.DModel
	c := &capture.Capture{B: b.B, T: tp, L: mc.Layers, H: H, HD: HD, D: D, Causal: mc.Causal,
		Normalized: attentionRowsSumToOne(mc), Signed: variantSigned(mc.Attention), SinkToken: mc.SinkToken,
		Variant: mc.Attention, Tokens: append([]int32(nil), b.Inputs...),
		Task: tr.Task.Name(), GroupNames: tr.Task.Groups(), PosGroup: append([]uint8(nil), b.Group...),
		Score: append([]bool(nil), b.Score...)}
	for l := 0; l < mc.Layers; l++ {
		op := g.attn[l]
		w, tk := op.Weights(), op.KeySlots()
		off := tk - tp // 1 when the key/value bias is slot 0
		attn := make([]float32, b.B*H*tp*tp)
		for r := 0; r < b.B*H*tp; r++ {
			for j := 0; j < tp; j++ {
				attn[r*tp+j] = float32(w[r*tk+off+j])
			}
		}
		qkv := g.qkv[l].ybuf // (B·T', 3D)
		vals := make([]float32, b.B*H*tp*HD)
		for bb := 0; bb < b.B; bb++ {
			for h := 0; h < H; h++ {
				for t := 0; t < tp; t++ {
					src := qkv[(bb*tp+t)*3*D+2*D+h*HD:]
					dst := vals[((bb*H+h)*tp+t)*HD:]
					for k := 0; k < HD; k++ {
						dst[k] = float32(src[k])
					}
				}
			}
		}
		res := toF32(g.resid[l])
		if nm := nullMass(mc, op, tk); nm != nil {
			c.NullMass = append(c.NullMass, nm)
		}
		c.Attn = append(c.Attn, attn)
		c.Values = append(c.Values, vals)
		c.Resid = append(c.Resid, res)
	}
	c.ResidFinal = toF32(g.resid[mc.Layers])
	return c
}

// toF32 returns a float32 copy of x.
func toF32[F gop.Float](x []F) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// attentionRowsSumToOne: rows sum to 1 over real tokens only for normalized
// variants without the key/value bias slot.
func attentionRowsSumToOne(mc ModelConfig) bool {
	return !mc.KVBias && !mc.SinkLogit && variantNormalized(mc.Attention)
}

// Logits runs the model forward on a batch and returns a copy of its logits,
// (B, T', V) with T' = T (+1 for the sink token's position, first).
func (tr *Trainer[T]) Logits(b *data.Batch) ([]float32, error) {
	g, err := tr.evalGraph(b.B)
	if err != nil {
		return nil, err
	}
	if err := g.run(b.Inputs, b.Targets, b.Mask); err != nil {
		return nil, fmt.Errorf("transformer: forward pass: %w", err)
	}
	out := make([]float32, len(g.logits.ybuf))
	for i, v := range g.logits.ybuf {
		out[i] = float32(v)
	}
	return out, nil
}

// SeqLen is T, the number of tokens the model reads (without the sink token).
func (tr *Trainer[T]) SeqLen() int { return tr.Model.T }
