package transformer

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sinklab/sinklab/attention/gop"
)

// Position modes (config key model.positions).
const (
	PosLearnedAdd = "learned-add" // x = W_E[tok] + W_pos[t]
	PosConcat     = "concat"      // x = [W_E[tok], W_pos[t]], each D/2 wide (the paper's default)
	PosNone       = "none"        // x = W_E[tok]
)

// embedOp looks up token (and position) embeddings for a batch of token ids held
// by the op (set with setTokens before each run), optionally prepending a
// learned sink vector to every sequence.
//
//	W_E (V, De), W_pos (P, Dp), w_sink (D) → X (B·T', D), T' = T (+1 with a sink token)
type embedOp[T gop.Float] struct {
	gop.Base
	b, t, d   int
	mode      string
	sink      bool
	tokens    []int32 // (B, T), not owned
	vocab     int
	x         *tensor.Dense
	xbuf      []T
	nin       int
	de, dp, p int
}

func (op *embedOp[T]) tp() int { return op.t + btoi(op.sink) }

func embed[T gop.Float](we, wpos, wsink *G.Node, b, t int, mode string) (*G.Node, *embedOp[T], error) {
	s := we.Shape()
	op := &embedOp[T]{Base: gop.Base{Name: "embed"}, b: b, t: t, mode: mode, sink: wsink != nil, vocab: s[0], de: s[1]}
	in := G.Nodes{we}
	switch mode {
	case PosLearnedAdd, PosConcat:
		if wpos == nil {
			return nil, nil, fmt.Errorf("transformer: embed: positions %q need a position table", mode)
		}
		ps := wpos.Shape()
		op.p, op.dp = ps[0], ps[1]
		if t > op.p {
			return nil, nil, fmt.Errorf("transformer: sequence length %d is longer than the %d positions", t, op.p)
		}
		in = append(in, wpos)
	case PosNone:
	default:
		return nil, nil, fmt.Errorf("transformer: unknown positions %q", mode)
	}
	switch mode {
	case PosConcat:
		op.d = op.de + op.dp
	default:
		op.d = op.de
	}
	if mode == PosLearnedAdd && op.dp != op.de {
		return nil, nil, fmt.Errorf("transformer: embed: learned-add needs equal widths, got %d and %d", op.de, op.dp)
	}
	if wsink != nil {
		in = append(in, wsink)
	}
	op.nin = len(in)
	op.x, op.xbuf = gop.NewDense[T](b*op.tp(), op.d)
	n, err := G.ApplyOp(op, in...)
	return n, op, err
}

// setTokens points the op at the next batch's token ids, (B, T).
func (op *embedOp[T]) setTokens(tok []int32) { op.tokens = tok }

func (op *embedOp[T]) Arity() int { return op.nin }
func (op *embedOp[T]) Type() hm.Type {
	r := []int{2}
	if op.mode != PosNone {
		r = append(r, 2)
	}
	if op.sink {
		r = append(r, 1)
	}
	return gop.FnType(2, r...)
}
func (op *embedOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.b * op.tp(), op.d}, nil
}

func (op *embedOp[T]) Do(vs ...G.Value) (G.Value, error) {
	if len(op.tokens) != op.b*op.t {
		return nil, fmt.Errorf("transformer: embed: %d token ids for a (%d, %d) batch", len(op.tokens), op.b, op.t)
	}
	we := gop.Data[T](vs[0])
	var wpos, wsink []T
	if op.mode != PosNone {
		wpos = gop.Data[T](vs[1])
	}
	if op.sink {
		wsink = gop.Data[T](vs[len(vs)-1])
	}
	d, tp, off := op.d, op.tp(), btoi(op.sink)
	for b := 0; b < op.b; b++ {
		if op.sink {
			copy(op.xbuf[b*tp*d:(b*tp+1)*d], wsink)
		}
		for t := 0; t < op.t; t++ {
			id := int(op.tokens[b*op.t+t])
			if id < 0 || id >= op.vocab {
				return nil, fmt.Errorf("transformer: token id %d outside the vocabulary [0, %d)", id, op.vocab)
			}
			row := op.xbuf[(b*tp+t+off)*d : (b*tp+t+off+1)*d]
			e := we[id*op.de : (id+1)*op.de]
			switch op.mode {
			case PosLearnedAdd:
				p := wpos[t*op.dp : (t+1)*op.dp]
				for j := range row {
					row[j] = e[j] + p[j]
				}
			case PosConcat:
				copy(row, e)
				copy(row[op.de:], wpos[t*op.dp:(t+1)*op.dp])
			default:
				copy(row, e)
			}
		}
	}
	return op.x, nil
}

func (op *embedOp[T]) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

func (op *embedOp[T]) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	bw := &embedBackOp[T]{Base: gop.Base{Name: "embed-backward"}, f: op}
	shapes := [][]int{{op.vocab, op.de}}
	size := op.vocab * op.de
	if op.mode != PosNone {
		shapes = append(shapes, []int{op.p, op.dp})
		size += op.p * op.dp
	}
	if op.sink {
		shapes = append(shapes, []int{op.d})
		size += op.d
	}
	bw.packed, bw.buf = gop.NewDense[T](size)
	packed, err := G.ApplyOp(bw, grad)
	if err != nil {
		return nil, err
	}
	return gop.Picks[T](packed, shapes...)
}

// embedBackOp scatters dX into dW_E | dW_pos | dw_sink.
type embedBackOp[T gop.Float] struct {
	gop.Base
	f      *embedOp[T]
	packed *tensor.Dense
	buf    []T
}

func (op *embedBackOp[T]) Arity() int    { return 1 }
func (op *embedBackOp[T]) Type() hm.Type { return gop.FnType(1, 2) }
func (op *embedBackOp[T]) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{len(op.buf)}, nil
}

func (op *embedBackOp[T]) Do(vs ...G.Value) (G.Value, error) {
	f := op.f
	dx := gop.Data[T](vs[0])
	clear(op.buf)
	dwe := op.buf[:f.vocab*f.de]
	var dpos, dsink []T
	off := f.vocab * f.de
	if f.mode != PosNone {
		dpos = op.buf[off : off+f.p*f.dp]
		off += f.p * f.dp
	}
	if f.sink {
		dsink = op.buf[off : off+f.d]
	}
	d, tp, so := f.d, f.tp(), btoi(f.sink)
	for b := 0; b < f.b; b++ {
		if f.sink {
			for j, v := range dx[b*tp*d : (b*tp+1)*d] {
				dsink[j] += v
			}
		}
		for t := 0; t < f.t; t++ {
			id := int(f.tokens[b*f.t+t])
			row := dx[(b*tp+t+so)*d : (b*tp+t+so+1)*d]
			e := dwe[id*f.de : (id+1)*f.de]
			for j := range e {
				e[j] += row[j]
			}
			switch f.mode {
			case PosLearnedAdd:
				p := dpos[t*f.dp : (t+1)*f.dp]
				for j := range p {
					p[j] += row[j]
				}
			case PosConcat:
				p := dpos[t*f.dp : (t+1)*f.dp]
				for j := range p {
					p[j] += row[f.de+j]
				}
			}
		}
	}
	return op.packed, nil
}
